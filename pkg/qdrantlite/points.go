package qdrantlite

import (
	"context"
	"sort"
	"time"

	"github.com/qdrant/go-client/qdrant"
)

type pointsService struct {
	qdrant.UnimplementedPointsServer
	s *Server
}

// writable returns the collection locked for writing, or NotFound.
func (ps *pointsService) writable(name string) (*collection, error) {
	c, err := ps.s.collection(name)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.dropped {
		c.mu.Unlock()
		return nil, errCollectionNotFound(name)
	}
	return c, nil
}

// readable returns the collection locked for reading, or NotFound.
func (ps *pointsService) readable(name string) (*collection, error) {
	c, err := ps.s.collection(name)
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	if c.dropped {
		c.mu.RUnlock()
		return nil, errCollectionNotFound(name)
	}
	return c, nil
}

// updated builds the response for a write. Writes are applied and
// durable before the reply either way; like Qdrant, a call that did not
// ask to wait is answered Acknowledged, one that did, Completed.
func updated(c *collection, wait *bool, start time.Time) *qdrant.PointsOperationResponse {
	c.opID++
	op := c.opID
	st := qdrant.UpdateStatus_Acknowledged
	if wait != nil && *wait {
		st = qdrant.UpdateStatus_Completed
	}
	return &qdrant.PointsOperationResponse{Result: &qdrant.UpdateResult{OperationId: &op, Status: st}, Time: since(start)}
}

func (ps *pointsService) Upsert(ctx context.Context, req *qdrant.UpsertPoints) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	if req.GetShardKeySelector() != nil {
		return nil, unimplemented("qdrantlite has a single shard: shard keys are not supported")
	}
	c, err := ps.writable(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	cond, err := compileFilter(req.GetUpdateFilter())
	if err != nil {
		return nil, err
	}
	// Validate the whole batch before changing anything; later points
	// with the same id win, as in Qdrant.
	puts := make([]*point, 0, len(req.GetPoints()))
	index := map[pointKey]int{}
	for _, in := range req.GetPoints() {
		p, err := c.decodeInput(in)
		if err != nil {
			return nil, err
		}
		old := c.points[p.key]
		switch {
		case old == nil && req.GetUpdateMode() == qdrant.UpdateMode_UpdateOnly:
			continue
		case old != nil && req.GetUpdateMode() == qdrant.UpdateMode_InsertOnly:
			continue
		case old != nil && !cond.match(old):
			continue
		}
		if j, dup := index[p.key]; dup {
			puts[j] = p
			continue
		}
		index[p.key] = len(puts)
		puts = append(puts, p)
	}
	if err := ps.s.db.write(c.name, puts, nil); err != nil {
		return nil, errInternal("upsert", err)
	}
	for _, p := range puts {
		c.put(p)
	}
	return updated(c, req.Wait, start), nil
}

// each calls fn for every point that passes the plan, using its
// candidates when it has a selective one. The caller holds mu.
func (c *collection) each(pl plan, fn func(*point)) {
	if pl.selective(len(c.points)) {
		for _, p := range pl.matching() {
			fn(p)
		}
		return
	}
	for _, p := range c.byOrd {
		if p != nil && pl.pred.match(p) {
			fn(p)
		}
	}
}

func (ps *pointsService) Delete(ctx context.Context, req *qdrant.DeletePoints) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	c, err := ps.writable(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	var dels []pointKey
	switch sel := req.GetPoints().GetPointsSelectorOneOf().(type) {
	case *qdrant.PointsSelector_Points:
		for _, id := range sel.Points.GetIds() {
			k, err := keyOf(id)
			if err != nil {
				return nil, err
			}
			if c.points[k] != nil {
				dels = append(dels, k)
			}
		}
	case *qdrant.PointsSelector_Filter:
		pl, err := c.compilePlan(sel.Filter)
		if err != nil {
			return nil, err
		}
		c.each(pl, func(p *point) { dels = append(dels, p.key) })
	default:
		return nil, invalid("Wrong input: no points selector given")
	}
	if err := ps.s.db.write(c.name, nil, dels); err != nil {
		return nil, errInternal("delete", err)
	}
	for _, k := range dels {
		c.remove(k)
	}
	return updated(c, req.Wait, start), nil
}

func (ps *pointsService) Get(ctx context.Context, req *qdrant.GetPoints) (*qdrant.GetResponse, error) {
	start := time.Now()
	c, err := ps.readable(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	defer c.mu.RUnlock()
	out := &qdrant.GetResponse{}
	seen := map[pointKey]bool{}
	for _, id := range req.GetIds() {
		k, err := keyOf(id)
		if err != nil {
			return nil, err
		}
		p := c.points[k]
		if p == nil || seen[k] {
			continue
		}
		seen[k] = true
		out.Result = append(out.Result, c.retrieved(p, req.GetWithPayload(), req.GetWithVectors(), true))
	}
	out.Time = since(start)
	return out, nil
}

func (ps *pointsService) Scroll(ctx context.Context, req *qdrant.ScrollPoints) (*qdrant.ScrollResponse, error) {
	start := time.Now()
	if req.GetOrderBy() != nil {
		return nil, unimplemented("qdrantlite scrolls in id order only: order_by is not supported")
	}
	c, err := ps.readable(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	defer c.mu.RUnlock()
	pl, err := c.compilePlan(req.GetFilter())
	if err != nil {
		return nil, err
	}
	limit := 10
	if req.Limit != nil {
		limit = int(req.GetLimit())
	}
	if limit < 1 {
		return nil, invalid("Validation error in body: [limit: value 0 invalid, must be 1 or more]")
	}
	// A selective indexed filter pages through its matches; anything
	// else walks the whole collection in id order.
	var order []pointKey
	match := pl.pred
	if pl.selective(len(c.points)) {
		for _, p := range pl.matching() {
			order = append(order, p.key)
		}
		sort.Slice(order, func(i, j int) bool { return order[i].less(order[j]) })
		match = nil
	} else {
		order = c.sorted()
	}
	i := 0
	if req.Offset != nil {
		from, err := keyOf(req.GetOffset())
		if err != nil {
			return nil, err
		}
		// The offset is inclusive: scrolling resumes at that id.
		i = sort.Search(len(order), func(j int) bool { return !order[j].less(from) })
	}
	out := &qdrant.ScrollResponse{}
	for ; i < len(order); i++ {
		p := c.points[order[i]]
		if !match.match(p) {
			continue
		}
		if len(out.Result) == limit {
			out.NextPageOffset = p.key.id()
			break
		}
		out.Result = append(out.Result, c.retrieved(p, req.GetWithPayload(), req.GetWithVectors(), true))
	}
	out.Time = since(start)
	return out, nil
}

func (ps *pointsService) Count(ctx context.Context, req *qdrant.CountPoints) (*qdrant.CountResponse, error) {
	start := time.Now()
	c, err := ps.readable(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	defer c.mu.RUnlock()
	n := uint64(len(c.points))
	if req.GetFilter() != nil {
		pl, err := c.compilePlan(req.GetFilter())
		if err != nil {
			return nil, err
		}
		n = 0
		c.each(pl, func(*point) { n++ })
	}
	return &qdrant.CountResponse{Result: &qdrant.CountResult{Count: n}, Time: since(start)}, nil
}

// CreateFieldIndex records the index (it shows in the collection's payload
// schema). A keyword index on a top-level field is built in memory and
// narrows filters on it; other index types only document the schema, and
// filters on those fields scan.
func (ps *pointsService) CreateFieldIndex(ctx context.Context, req *qdrant.CreateFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	if req.GetFieldName() == "" {
		return nil, invalid("Validation error in body: [field_name: must not be empty]")
	}
	c, err := ps.writable(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	info := &qdrant.PayloadSchemaInfo{DataType: qdrant.PayloadSchemaType(req.GetFieldType() + 1), Params: req.GetFieldIndexParams()}
	if err := ps.s.db.putIndex(c.name, req.GetFieldName(), info); err != nil {
		return nil, errInternal("create field index", err)
	}
	c.indexes[req.GetFieldName()] = info
	c.syncKeywordIndexes()
	return updated(c, req.Wait, start), nil
}

func (ps *pointsService) DeleteFieldIndex(ctx context.Context, req *qdrant.DeleteFieldIndexCollection) (*qdrant.PointsOperationResponse, error) {
	start := time.Now()
	c, err := ps.writable(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	if err := ps.s.db.deleteIndex(c.name, req.GetFieldName()); err != nil {
		return nil, errInternal("delete field index", err)
	}
	delete(c.indexes, req.GetFieldName())
	c.syncKeywordIndexes()
	return updated(c, req.Wait, start), nil
}

func (ps *pointsService) Query(ctx context.Context, req *qdrant.QueryPoints) (*qdrant.QueryResponse, error) {
	start := time.Now()
	if req.GetLookupFrom() != nil || req.GetShardKeySelector() != nil {
		return nil, unimplemented("qdrantlite does not support lookup_from or shard keys")
	}
	c, err := ps.readable(req.GetCollectionName())
	if err != nil {
		return nil, err
	}
	defer c.mu.RUnlock()
	hits, err := c.query(ctx, req)
	if err != nil {
		return nil, err
	}
	out := &qdrant.QueryResponse{Result: make([]*qdrant.ScoredPoint, len(hits))}
	for i, h := range hits {
		p := c.points[h.key]
		rp := c.retrieved(p, req.GetWithPayload(), req.GetWithVectors(), false)
		out.Result[i] = &qdrant.ScoredPoint{Id: rp.Id, Payload: rp.Payload, Vectors: rp.Vectors, Score: h.score}
	}
	out.Time = since(start)
	return out, nil
}

// retrieved renders a point with the payload and vectors selected.
// payloadByDefault is Qdrant's default when no selector is given: true
// for Get and Scroll, false for Query.
func (c *collection) retrieved(p *point, wp *qdrant.WithPayloadSelector, wv *qdrant.WithVectorsSelector, payloadByDefault bool) *qdrant.RetrievedPoint {
	rp := &qdrant.RetrievedPoint{Id: p.key.id()}
	switch sel := wp.GetSelectorOptions().(type) {
	case nil:
		if payloadByDefault {
			rp.Payload = p.payload
		}
	case *qdrant.WithPayloadSelector_Enable:
		if sel.Enable {
			rp.Payload = p.payload
		}
	case *qdrant.WithPayloadSelector_Include:
		rp.Payload = map[string]*qdrant.Value{}
		for _, f := range sel.Include.GetFields() {
			if v, ok := p.payload[f]; ok {
				rp.Payload[f] = v
			}
		}
	case *qdrant.WithPayloadSelector_Exclude:
		rp.Payload = map[string]*qdrant.Value{}
		drop := stringSet(sel.Exclude.GetFields())
		for f, v := range p.payload {
			if !drop[f] {
				rp.Payload[f] = v
			}
		}
	}
	var names map[string]bool // nil: all
	switch sel := wv.GetSelectorOptions().(type) {
	case nil:
		return rp
	case *qdrant.WithVectorsSelector_Enable:
		if !sel.Enable {
			return rp
		}
	case *qdrant.WithVectorsSelector_Include:
		names = stringSet(sel.Include.GetNames())
	}
	out := map[string]*qdrant.VectorOutput{}
	for name, v := range c.denseOf(p) {
		if names == nil || names[name] {
			out[name] = &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_Dense{Dense: &qdrant.DenseVector{Data: append([]float32(nil), v...)}}}
		}
	}
	for name, v := range p.sparse {
		if names == nil || names[name] {
			out[name] = &qdrant.VectorOutput{Vector: &qdrant.VectorOutput_Sparse{Sparse: &qdrant.SparseVector{Indices: v.indices, Values: v.values}}}
		}
	}
	if v, ok := out[""]; ok && len(out) == 1 {
		rp.Vectors = &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vector{Vector: v}}
	} else {
		rp.Vectors = &qdrant.VectorsOutput{VectorsOptions: &qdrant.VectorsOutput_Vectors{Vectors: &qdrant.NamedVectorsOutput{Vectors: out}}}
	}
	return rp
}
