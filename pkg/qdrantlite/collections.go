package qdrantlite

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/protobuf/proto"
)

type collectionsService struct {
	qdrant.UnimplementedCollectionsServer
	s *Server
}

// Qdrant's collection-name rule: 1 to 255 characters, none of these.
const forbiddenNameChars = "<>:\"/\\|?*\x00\x1f"

func validateCollectionName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > 255 {
		return invalid(fmt.Sprintf("Validation error in body: [collection_name: length must be between 1 and 255, got %d]", utf8.RuneCountInString(name)))
	}
	if i := strings.IndexAny(name, forbiddenNameChars); i >= 0 {
		return invalid(fmt.Sprintf(`Validation error in body: [collection_name: collection name cannot contain "%c" char]`, name[i]))
	}
	if name == "." || name == ".." {
		return invalid(fmt.Sprintf("Validation error in body: [collection_name: collection name cannot be %q]", name))
	}
	return nil
}

func validateVectorParams(name string, p *qdrant.VectorParams) error {
	label := "vector"
	if name != "" {
		label = fmt.Sprintf("vector %q", name)
	}
	if p.GetSize() < 1 || p.GetSize() > 65536 {
		return invalid(fmt.Sprintf("Validation error in body: [vectors_config.%s.size: value %d invalid, must be from 1 to 65536]", label, p.GetSize()))
	}
	switch p.GetDistance() {
	case qdrant.Distance_Cosine, qdrant.Distance_Dot, qdrant.Distance_Euclid, qdrant.Distance_Manhattan:
	default:
		return invalid(fmt.Sprintf("Wrong input: %s: unknown distance %v", label, p.GetDistance()))
	}
	if p.MultivectorConfig != nil {
		return unimplemented("qdrantlite does not support multivector collections")
	}
	return nil
}

func (cs *collectionsService) Create(ctx context.Context, req *qdrant.CreateCollection) (*qdrant.CollectionOperationResponse, error) {
	start := time.Now()
	name := req.GetCollectionName()
	if err := validateCollectionName(name); err != nil {
		return nil, err
	}
	switch v := req.GetVectorsConfig().GetConfig().(type) {
	case *qdrant.VectorsConfig_Params:
		if err := validateVectorParams("", v.Params); err != nil {
			return nil, err
		}
	case *qdrant.VectorsConfig_ParamsMap:
		for n, p := range v.ParamsMap.GetMap() {
			if err := validateVectorParams(n, p); err != nil {
				return nil, err
			}
		}
	}
	for n, p := range req.GetSparseVectorsConfig().GetMap() {
		if _, clash := req.GetVectorsConfig().GetParamsMap().GetMap()[n]; clash {
			return nil, invalid(fmt.Sprintf("Wrong input: vector name %q is used for both a dense and a sparse vector", n))
		}
		if m := p.GetModifier(); m != qdrant.Modifier_None && m != qdrant.Modifier_Idf {
			return nil, invalid(fmt.Sprintf("Wrong input: sparse vector %q: unknown modifier %v", n, m))
		}
	}
	cfg := &qdrant.CreateCollection{
		CollectionName:      name,
		VectorsConfig:       req.GetVectorsConfig(),
		SparseVectorsConfig: req.GetSparseVectorsConfig(),
		Metadata:            req.GetMetadata(),
	}
	c, err := newCollection(name, cfg)
	if err != nil {
		return nil, err
	}

	s := cs.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.collections[name]; ok {
		return nil, errCollectionExists(name)
	}
	if err := s.db.createCollection(name, cfg); err != nil {
		return nil, errInternal("create collection", err)
	}
	s.collections[name] = c
	s.opts.Log.Info().Str("collection", name).Msg("qdrantlite: collection created")
	return &qdrant.CollectionOperationResponse{Result: true, Time: since(start)}, nil
}

// Update supports what jetrun uses: merging metadata into the
// collection's (as Qdrant merges it). Any other change answers
// Unimplemented.
func (cs *collectionsService) Update(ctx context.Context, req *qdrant.UpdateCollection) (*qdrant.CollectionOperationResponse, error) {
	start := time.Now()
	if req.OptimizersConfig != nil || req.Params != nil || req.HnswConfig != nil || req.VectorsConfig != nil ||
		req.QuantizationConfig != nil || req.SparseVectorsConfig != nil || req.StrictModeConfig != nil {
		return nil, unimplemented("qdrantlite updates collection metadata only")
	}
	c, err := cs.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dropped {
		return nil, errCollectionNotFound(c.name)
	}
	cfg := proto.Clone(c.cfg).(*qdrant.CreateCollection)
	if cfg.Metadata == nil {
		cfg.Metadata = map[string]*qdrant.Value{}
	}
	for k, v := range req.GetMetadata() {
		cfg.Metadata[k] = v
	}
	if err := cs.s.db.putConfig(c.name, cfg); err != nil {
		return nil, errInternal("update collection", err)
	}
	c.cfg = cfg
	return &qdrant.CollectionOperationResponse{Result: true, Time: since(start)}, nil
}

func (cs *collectionsService) Delete(ctx context.Context, req *qdrant.DeleteCollection) (*qdrant.CollectionOperationResponse, error) {
	start := time.Now()
	s := cs.s
	name := req.GetCollectionName()
	s.mu.Lock()
	c := s.collections[name]
	if c == nil {
		s.mu.Unlock()
		return &qdrant.CollectionOperationResponse{Result: false, Time: since(start)}, nil
	}
	delete(s.collections, name)
	s.mu.Unlock()

	// Writers that already hold c finish first; later ones see dropped.
	c.mu.Lock()
	c.dropped = true
	err := s.db.dropCollection(name)
	c.mu.Unlock()
	if err != nil {
		return nil, errInternal("delete collection", err)
	}
	s.opts.Log.Info().Str("collection", name).Msg("qdrantlite: collection deleted")
	return &qdrant.CollectionOperationResponse{Result: true, Time: since(start)}, nil
}

func (cs *collectionsService) List(ctx context.Context, req *qdrant.ListCollectionsRequest) (*qdrant.ListCollectionsResponse, error) {
	start := time.Now()
	resp := &qdrant.ListCollectionsResponse{}
	for _, n := range cs.s.names() {
		resp.Collections = append(resp.Collections, &qdrant.CollectionDescription{Name: n})
	}
	resp.Time = since(start)
	return resp, nil
}

func (cs *collectionsService) CollectionExists(ctx context.Context, req *qdrant.CollectionExistsRequest) (*qdrant.CollectionExistsResponse, error) {
	start := time.Now()
	_, err := cs.s.collection(req.GetCollectionName())
	return &qdrant.CollectionExistsResponse{Result: &qdrant.CollectionExists{Exists: err == nil}, Time: since(start)}, nil
}

func (cs *collectionsService) Get(ctx context.Context, req *qdrant.GetCollectionInfoRequest) (*qdrant.GetCollectionInfoResponse, error) {
	start := time.Now()
	c, err := cs.s.collection(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.dropped {
		return nil, errCollectionNotFound(c.name)
	}
	n := uint64(len(c.points))
	var indexed uint64
	schema := map[string]*qdrant.PayloadSchemaInfo{}
	for f, info := range c.indexes {
		info := proto.Clone(info).(*qdrant.PayloadSchemaInfo)
		info.Points = &n
		schema[f] = info
	}
	m, ef, full := uint64(16), uint64(100), uint64(10000)
	info := &qdrant.CollectionInfo{
		Status:          qdrant.CollectionStatus_Green,
		OptimizerStatus: &qdrant.OptimizerStatus{Ok: true},
		SegmentsCount:   1,
		PointsCount:     &n,
		// Nothing is indexed: dense search is exact (brute force).
		IndexedVectorsCount: &indexed,
		PayloadSchema:       schema,
		Config: &qdrant.CollectionConfig{
			Params: &qdrant.CollectionParams{
				ShardNumber:         1,
				VectorsConfig:       c.cfg.GetVectorsConfig(),
				SparseVectorsConfig: c.cfg.GetSparseVectorsConfig(),
			},
			HnswConfig:      &qdrant.HnswConfigDiff{M: &m, EfConstruct: &ef, FullScanThreshold: &full},
			OptimizerConfig: &qdrant.OptimizersConfigDiff{},
			WalConfig:       &qdrant.WalConfigDiff{},
			Metadata:        c.cfg.GetMetadata(),
		},
	}
	return &qdrant.GetCollectionInfoResponse{Result: info, Time: since(start)}, nil
}

func since(t time.Time) float64 { return time.Since(t).Seconds() }
