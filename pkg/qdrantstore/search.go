package qdrantstore

import (
	"context"
	"fmt"

	"github.com/qdrant/go-client/qdrant"
)

// DefaultLimit is the number of hits of a Query without a Limit.
const DefaultLimit = 10

// Query is a search. With Dense alone it is a nearest-neighbour search on
// the dense vector, with Sparse alone one on the sparse vector; with both
// it is hybrid: each vector finds Candidates points and the two lists are
// fused by Reciprocal Rank Fusion.
type Query struct {
	Dense  []float32
	Sparse *SparseVector
	// Limit is the number of hits; zero means DefaultLimit.
	Limit int
	// Filter restricts the hits (and, in a hybrid search, the candidates).
	Filter Filter
	// Candidates is how many points each vector of a hybrid search
	// contributes to the fusion; zero means max(4×Limit, 20).
	Candidates int
}

// Hit is one search result.
type Hit struct {
	ID string
	// Score is Qdrant's: for a single-vector search, the similarity
	// (Cosine, Dot, sparse: higher is closer) or the distance (Euclid,
	// Manhattan: lower is closer); for a hybrid search, the fused RRF
	// score (higher is better).
	Score float32
	// Payload holds strings, int64, float64, bool, nil, map[string]any
	// and []any.
	Payload map[string]any
}

// Search runs q on the collection and returns the hits, best first.
// Every hit carries its whole payload.
func (s *Store) Search(ctx context.Context, collection string, q Query) ([]Hit, error) {
	fail := func(err error) error { return fmt.Errorf("search %s: %w", collection, err) }
	if q.Dense == nil && q.Sparse == nil {
		return nil, fail(fmt.Errorf("%w: query has no vector", ErrInvalid))
	}
	if q.Limit < 0 || q.Candidates < 0 {
		return nil, fail(fmt.Errorf("%w: negative limit or candidates", ErrInvalid))
	}
	if q.Sparse != nil {
		if err := q.Sparse.check(); err != nil {
			return nil, fail(err)
		}
	}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	candidates := q.Candidates
	if candidates == 0 {
		candidates = max(4*limit, 20)
	}
	filter, err := q.Filter.proto()
	if err != nil {
		return nil, fail(err)
	}
	n, err := s.names(ctx, collection)
	if err != nil {
		return nil, s.fail(err, "search %s", collection)
	}
	if q.Dense != nil && !n.hasDense {
		return nil, fail(fmt.Errorf("%w: query has a dense vector, the collection has none", ErrInvalid))
	}
	if q.Sparse != nil && !n.hasSparse {
		return nil, fail(fmt.Errorf("%w: query has a sparse vector, the collection has none", ErrInvalid))
	}

	var dense, sparse *qdrant.Query
	if q.Dense != nil {
		dense = qdrant.NewQueryDense(q.Dense)
	}
	if q.Sparse != nil {
		sparse = qdrant.NewQuerySparse(q.Sparse.Indices, q.Sparse.Values)
	}
	req := &qdrant.QueryPoints{
		CollectionName: collection,
		Filter:         filter,
		Limit:          qdrant.PtrOf(uint64(limit)),
		WithPayload:    qdrant.NewWithPayload(true),
	}
	switch {
	case dense != nil && sparse != nil:
		req.Prefetch = []*qdrant.PrefetchQuery{
			{Query: dense, Using: using(n.dense), Filter: filter, Limit: qdrant.PtrOf(uint64(candidates))},
			{Query: sparse, Using: using(n.sparse), Filter: filter, Limit: qdrant.PtrOf(uint64(candidates))},
		}
		req.Query = qdrant.NewQueryFusion(qdrant.Fusion_RRF)
	case dense != nil:
		req.Query, req.Using = dense, using(n.dense)
	default:
		req.Query, req.Using = sparse, using(n.sparse)
	}

	pts, err := s.client.Query(ctx, req)
	if err != nil {
		return nil, s.fail(err, "search %s", collection)
	}
	hits := make([]Hit, len(pts))
	for i, p := range pts {
		hits[i] = Hit{ID: pointIDString(p.GetId()), Score: p.GetScore(), Payload: fromValueMap(p.GetPayload())}
	}
	return hits, nil
}

// using names the vector a query addresses; the unnamed one is nil.
func using(name string) *string {
	if name == "" {
		return nil
	}
	return &name
}
