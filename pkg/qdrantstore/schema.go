package qdrantstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Default vector names: a collection's dense vector and its sparse (BM25)
// vector, when a [Schema] leaves the names empty.
const (
	DefaultDenseName  = "dense"
	DefaultSparseName = "bm25"
)

// Distance is a dense vector's similarity function.
type Distance string

// Distances Qdrant supports. The empty Distance means Cosine.
const (
	Cosine    Distance = "Cosine"
	Dot       Distance = "Dot"
	Euclid    Distance = "Euclid"
	Manhattan Distance = "Manhattan"
)

var distances = map[Distance]qdrant.Distance{
	Cosine:    qdrant.Distance_Cosine,
	Dot:       qdrant.Distance_Dot,
	Euclid:    qdrant.Distance_Euclid,
	Manhattan: qdrant.Distance_Manhattan,
}

func distanceOf(d qdrant.Distance) Distance {
	for k, v := range distances {
		if v == d {
			return k
		}
	}
	return Distance(d.String())
}

// Schema is what a job needs of a collection: its vectors and the
// metadata that must match (model, dimensions, chunker version...). At
// least one of Dense and Sparse is set.
type Schema struct {
	Dense  *Dense  `json:"dense,omitempty"`
	Sparse *Sparse `json:"sparse,omitempty"`
	// Metadata is stored with a new collection; on an existing one each
	// key given here must have the same value, or is recorded when the
	// collection lacks it. Keys the collection has and the schema does
	// not are ignored.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Dense describes the dense vector of a collection.
type Dense struct {
	Name     string   `json:"name"` // empty means DefaultDenseName
	Size     uint64   `json:"size"` // dimensions, > 0
	Distance Distance `json:"distance"`
}

// Sparse describes the sparse vector of a collection.
type Sparse struct {
	Name string `json:"name"` // empty means DefaultSparseName
	// IDF makes Qdrant weigh each term by its inverse document frequency
	// across the collection: what BM25 term-frequency vectors need.
	IDF bool `json:"idf"`
}

// normalize fills default names and distance and checks the schema.
func (sc Schema) normalize() (Schema, error) {
	if sc.Dense == nil && sc.Sparse == nil {
		return sc, fmt.Errorf("%w: schema has neither a dense nor a sparse vector", ErrInvalid)
	}
	if sc.Dense != nil {
		d := *sc.Dense
		if d.Name == "" {
			d.Name = DefaultDenseName
		}
		if d.Distance == "" {
			d.Distance = Cosine
		}
		if _, ok := distances[d.Distance]; !ok {
			return sc, fmt.Errorf("%w: distance %q (use Cosine, Dot, Euclid or Manhattan)", ErrInvalid, d.Distance)
		}
		if d.Size == 0 {
			return sc, fmt.Errorf("%w: dense vector %q has size 0", ErrInvalid, d.Name)
		}
		sc.Dense = &d
	}
	if sc.Sparse != nil {
		sp := *sc.Sparse
		if sp.Name == "" {
			sp.Name = DefaultSparseName
		}
		sc.Sparse = &sp
	}
	if sc.Dense != nil && sc.Sparse != nil && sc.Dense.Name == sc.Sparse.Name {
		return sc, fmt.Errorf("%w: dense and sparse vectors are both named %q", ErrInvalid, sc.Dense.Name)
	}
	return sc, nil
}

// indexedKeys get a keyword payload index in every collection: the keys
// the pipeline and searches filter on.
var indexedKeys = []string{KeySource, KeyPath, KeyLanguage}

// EnsureCollection makes sure the collection exists and fits the job.
//
// A missing collection is created with the schema's vectors and metadata
// (created is true). An existing one must have exactly the schema's
// vectors, with the same size, distance and IDF modifier, and the
// schema's metadata values; otherwise the error wraps [ErrSchemaMismatch]
// and names every difference. Metadata keys the collection lacks are
// recorded on it (Qdrant merges collection metadata), so a collection
// made empty by a collection job takes the first indexing job's model and
// chunker, and later jobs are held to them. A collection created concurrently by
// another worker counts as existing. Either way the keyword payload
// indexes on source, path and language are created if missing.
func (s *Store) EnsureCollection(ctx context.Context, name string, schema Schema) (created bool, err error) {
	sc, err := schema.normalize()
	if err != nil {
		return false, fmt.Errorf("collection %s: %w", name, err)
	}
	info, err := s.client.GetCollectionInfo(ctx, name)
	switch {
	case err == nil:
	case status.Code(err) == codes.NotFound:
		if cerr := s.client.CreateCollection(ctx, createRequest(name, sc)); cerr != nil {
			// Lost a race with another worker? Then check what it made.
			info, err = s.client.GetCollectionInfo(ctx, name)
			if err != nil {
				return false, s.fail(cerr, "create collection %s", name)
			}
		} else {
			created = true
		}
	default:
		return false, s.fail(err, "collection %s", name)
	}
	if !created {
		diffs, unset := compareSchema(sc, info)
		if len(diffs) > 0 {
			return false, fmt.Errorf("%w: collection %s: %s", ErrSchemaMismatch, name, strings.Join(diffs, "; "))
		}
		if len(unset) > 0 {
			// The vectors fit and nothing contradicts the job: record what
			// the collection does not say yet (made by a collection job or
			// another tool), so later jobs are checked against it.
			md := make(map[string]*qdrant.Value, len(unset))
			for k, v := range unset {
				md[k] = qdrant.NewValueString(v)
			}
			if err := s.client.UpdateCollection(ctx, &qdrant.UpdateCollection{CollectionName: name, Metadata: md}); err != nil {
				return false, s.fail(err, "record metadata of collection %s", name)
			}
		}
	}
	for _, key := range indexedKeys {
		if _, ok := info.GetPayloadSchema()[key]; ok {
			continue
		}
		_, err := s.client.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{
			CollectionName: name,
			Wait:           wait(),
			FieldName:      key,
			FieldType:      qdrant.FieldType_FieldTypeKeyword.Enum(),
		})
		if err != nil {
			return created, s.fail(err, "create payload index %s on %s", key, name)
		}
	}
	s.remember(name, namesOf(sc))
	return created, nil
}

func createRequest(name string, sc Schema) *qdrant.CreateCollection {
	req := &qdrant.CreateCollection{CollectionName: name}
	if sc.Dense != nil {
		req.VectorsConfig = qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{
			sc.Dense.Name: {Size: sc.Dense.Size, Distance: distances[sc.Dense.Distance]},
		})
	}
	if sc.Sparse != nil {
		p := &qdrant.SparseVectorParams{}
		if sc.Sparse.IDF {
			p.Modifier = qdrant.Modifier_Idf.Enum()
		}
		req.SparseVectorsConfig = qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{sc.Sparse.Name: p})
	}
	if len(sc.Metadata) > 0 {
		req.Metadata = make(map[string]*qdrant.Value, len(sc.Metadata))
		for k, v := range sc.Metadata {
			req.Metadata[k] = qdrant.NewValueString(v)
		}
	}
	return req
}

// denseOf returns a collection's dense vectors by name; a single unnamed
// vector has the name "".
func denseOf(info *qdrant.CollectionInfo) map[string]*qdrant.VectorParams {
	vc := info.GetConfig().GetParams().GetVectorsConfig()
	if p := vc.GetParams(); p != nil {
		return map[string]*qdrant.VectorParams{"": p}
	}
	return vc.GetParamsMap().GetMap()
}

func sparseOf(info *qdrant.CollectionInfo) map[string]*qdrant.SparseVectorParams {
	return info.GetConfig().GetParams().GetSparseVectorsConfig().GetMap()
}

func metadataOf(info *qdrant.CollectionInfo) map[string]string {
	md := info.GetConfig().GetMetadata()
	if len(md) == 0 {
		return nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[k] = metaString(v)
	}
	return out
}

// metaString shows a metadata value: a string as itself, anything else
// as JSON.
func metaString(v *qdrant.Value) string {
	g := fromValue(v)
	if s, ok := g.(string); ok {
		return s
	}
	b, err := json.Marshal(g)
	if err != nil {
		return fmt.Sprint(g)
	}
	return string(b)
}

// compareSchema lists how the collection differs from the schema, and the
// schema's metadata keys the collection does not have at all.
func compareSchema(sc Schema, info *qdrant.CollectionInfo) (diffs []string, unset map[string]string) {
	dense, sparse := denseOf(info), sparseOf(info)

	if d := sc.Dense; d != nil {
		if p, ok := dense[d.Name]; !ok {
			diffs = append(diffs, fmt.Sprintf("no dense vector %q%s", d.Name, others(dense)))
		} else {
			if p.GetSize() != d.Size {
				diffs = append(diffs, fmt.Sprintf("dense vector %q has size %d, job wants %d", d.Name, p.GetSize(), d.Size))
			}
			if got := distanceOf(p.GetDistance()); got != d.Distance {
				diffs = append(diffs, fmt.Sprintf("dense vector %q has distance %s, job wants %s", d.Name, got, d.Distance))
			}
		}
	}
	for _, n := range sortedKeys(dense) {
		if sc.Dense == nil || n != sc.Dense.Name {
			diffs = append(diffs, fmt.Sprintf("dense vector %s is not in the job's schema", quoteName(n)))
		}
	}

	if sp := sc.Sparse; sp != nil {
		if p, ok := sparse[sp.Name]; !ok {
			diffs = append(diffs, fmt.Sprintf("no sparse vector %q%s", sp.Name, others(sparse)))
		} else if idf := p.GetModifier() == qdrant.Modifier_Idf; idf != sp.IDF {
			diffs = append(diffs, fmt.Sprintf("sparse vector %q has IDF %s, job wants %s", sp.Name, onOff(idf), onOff(sp.IDF)))
		}
	}
	for _, n := range sortedKeys(sparse) {
		if sc.Sparse == nil || n != sc.Sparse.Name {
			diffs = append(diffs, fmt.Sprintf("sparse vector %q is not in the job's schema", n))
		}
	}

	md := metadataOf(info)
	for _, k := range sortedKeys(sc.Metadata) {
		want := sc.Metadata[k]
		got, ok := md[k]
		switch {
		case !ok:
			if unset == nil {
				unset = map[string]string{}
			}
			unset[k] = want
		case got != want:
			diffs = append(diffs, fmt.Sprintf("metadata %s is %q, job wants %q", k, got, want))
		}
	}
	return diffs, unset
}

func others[V any](m map[string]V) string {
	if len(m) == 0 {
		return ""
	}
	names := sortedKeys(m)
	for i, n := range names {
		names[i] = quoteName(n)
	}
	return " (it has " + strings.Join(names, ", ") + ")"
}

// quoteName quotes a vector name; the single unnamed vector is "(unnamed)".
func quoteName(name string) string {
	if name == "" {
		return "(unnamed)"
	}
	return fmt.Sprintf("%q", name)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// CollectionInfo describes a collection.
type CollectionInfo struct {
	Name string
	// Status is Qdrant's: "green" (ready), "yellow" (optimizing), "grey"
	// (optimizations pending) or "red" (failed).
	Status string
	// Points is Qdrant's approximate point count; [Store.Count] is exact.
	Points uint64
	// Schema holds the collection's dense and sparse vectors (the default
	// name when there are several, else the only one) and all its
	// metadata. A single unnamed dense vector has the Name "".
	Schema Schema
	// Indexes maps each indexed payload key to its index type, like
	// "keyword".
	Indexes map[string]string
}

// Info describes the collection; a missing one is [ErrNotFound].
func (s *Store) Info(ctx context.Context, name string) (CollectionInfo, error) {
	info, err := s.client.GetCollectionInfo(ctx, name)
	if err != nil {
		return CollectionInfo{}, s.fail(err, "collection %s", name)
	}
	ci := CollectionInfo{
		Name:    name,
		Status:  strings.ToLower(info.GetStatus().String()),
		Points:  info.GetPointsCount(),
		Schema:  schemaOf(info),
		Indexes: map[string]string{},
	}
	for k, p := range info.GetPayloadSchema() {
		ci.Indexes[k] = strings.ToLower(p.GetDataType().String())
	}
	s.remember(name, namesOf(ci.Schema))
	return ci, nil
}

// schemaOf reads the schema a collection was made with.
func schemaOf(info *qdrant.CollectionInfo) Schema {
	var sc Schema
	if dense := denseOf(info); len(dense) > 0 {
		name := pick(dense, DefaultDenseName)
		p := dense[name]
		sc.Dense = &Dense{Name: name, Size: p.GetSize(), Distance: distanceOf(p.GetDistance())}
	}
	if sparse := sparseOf(info); len(sparse) > 0 {
		name := pick(sparse, DefaultSparseName)
		sc.Sparse = &Sparse{Name: name, IDF: sparse[name].GetModifier() == qdrant.Modifier_Idf}
	}
	sc.Metadata = metadataOf(info)
	return sc
}

// pick returns def when m has it, else m's first name in order.
func pick[V any](m map[string]V, def string) string {
	if _, ok := m[def]; ok {
		return def
	}
	return sortedKeys(m)[0]
}

// Exists reports whether the collection exists.
func (s *Store) Exists(ctx context.Context, name string) (bool, error) {
	ok, err := s.client.CollectionExists(ctx, name)
	if err != nil {
		return false, s.fail(err, "collection %s", name)
	}
	return ok, nil
}

// List returns the names of all collections, sorted.
func (s *Store) List(ctx context.Context) ([]string, error) {
	names, err := s.client.ListCollections(ctx)
	if err != nil {
		return nil, s.fail(err, "list collections")
	}
	slices.Sort(names)
	return names, nil
}

// DropCollection deletes the collection and its points. A missing
// collection is [ErrNotFound]; callers that want a retried drop to
// succeed test for it.
func (s *Store) DropCollection(ctx context.Context, name string) error {
	s.forget(name)
	res, err := s.client.GetCollectionsClient().Delete(ctx, &qdrant.DeleteCollection{CollectionName: name})
	if err != nil {
		return s.fail(err, "drop collection %s", name)
	}
	if !res.GetResult() {
		return fmt.Errorf("drop collection %s: %w", name, ErrNotFound)
	}
	return nil
}

// vectorNames are the vectors points and queries address in a collection.
type vectorNames struct {
	dense, sparse       string
	hasDense, hasSparse bool
}

func namesOf(sc Schema) vectorNames {
	var n vectorNames
	if sc.Dense != nil {
		n.dense, n.hasDense = sc.Dense.Name, true
	}
	if sc.Sparse != nil {
		n.sparse, n.hasSparse = sc.Sparse.Name, true
	}
	return n
}

// names returns the collection's vector names, from EnsureCollection or
// Info earlier, or asked of Qdrant once. A collection dropped and
// re-created with other names by another process keeps its old names
// here until DropCollection or Info on this Store.
func (s *Store) names(ctx context.Context, collection string) (vectorNames, error) {
	s.mu.Lock()
	n, ok := s.vectors[collection]
	s.mu.Unlock()
	if ok {
		return n, nil
	}
	info, err := s.client.GetCollectionInfo(ctx, collection)
	if err != nil {
		return vectorNames{}, err
	}
	n = namesOf(schemaOf(info))
	s.remember(collection, n)
	return n, nil
}

func (s *Store) remember(collection string, n vectorNames) {
	s.mu.Lock()
	s.vectors[collection] = n
	s.mu.Unlock()
}

func (s *Store) forget(collection string) {
	s.mu.Lock()
	delete(s.vectors, collection)
	s.mu.Unlock()
}
