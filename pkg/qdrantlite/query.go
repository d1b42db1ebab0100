package qdrantlite

import (
	"container/heap"
	"context"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"

	"github.com/qdrant/go-client/qdrant"
)

// Query limits, as in Qdrant.
const (
	defaultLimit = 10 // query, prefetch and scroll
	defaultRRFK  = 2
)

type hit struct {
	key   pointKey
	score float32
}

// order says which of two scores ranks first.
type order bool

const (
	higherFirst order = false // similarities and fused scores
	lowerFirst  order = true  // distances (Euclid, Manhattan)
)

func (o order) better(a, b hit) bool {
	if a.score != b.score {
		if o == lowerFirst {
			return a.score < b.score
		}
		return a.score > b.score
	}
	return a.key.less(b.key)
}

// passes applies a vector search's score threshold, strictly as Qdrant
// does: a similarity must exceed it, a distance must stay below it.
func (o order) passes(score float32, threshold *float32) bool {
	if threshold == nil {
		return true
	}
	if o == lowerFirst {
		return score < *threshold
	}
	return score > *threshold
}

// query runs a QueryPoints request. The caller holds c.mu for reading.
func (c *collection) query(ctx context.Context, req *qdrant.QueryPoints) ([]hit, error) {
	filter, err := c.compilePlan(req.GetFilter())
	if err != nil {
		return nil, err
	}
	limit, offset := defaultLimit, 0
	if req.Limit != nil {
		limit = int(req.GetLimit())
	}
	if req.Offset != nil {
		offset = int(req.GetOffset())
	}
	hits, err := c.level(ctx, req.GetPrefetch(), req.Query, req.Using, filter, req.ScoreThreshold, limit+offset)
	if err != nil {
		return nil, err
	}
	if offset >= len(hits) {
		return nil, nil
	}
	return hits[offset:], nil
}

// level evaluates one level of a query: its prefetches (each with the
// parent's filter ANDed into its own), then its query over their results,
// or over the whole collection when there are no prefetches.
func (c *collection) level(ctx context.Context, prefetch []*qdrant.PrefetchQuery, q *qdrant.Query, using *string, filter plan, threshold *float32, limit int) ([]hit, error) {
	if len(prefetch) == 0 {
		switch v := q.GetVariant().(type) {
		case nil:
			// No query: points in id order, as Scroll gives them.
			var out []hit
			for _, k := range c.sorted() {
				if len(out) == limit {
					break
				}
				if filter.pred.match(c.points[k]) {
					out = append(out, hit{key: k})
				}
			}
			return out, nil
		case *qdrant.Query_Nearest:
			return c.nearest(ctx, v.Nearest, using, filter, false, threshold, limit)
		case *qdrant.Query_Fusion, *qdrant.Query_Rrf:
			return nil, invalid("Wrong input: fusion queries need prefetches to fuse")
		default:
			return nil, unimplemented(fmt.Sprintf("qdrantlite does not support %T queries", v))
		}
	}

	lists := make([][]hit, len(prefetch))
	for i, pf := range prefetch {
		own, err := c.compilePlan(pf.GetFilter())
		if err != nil {
			return nil, err
		}
		if pf.GetLookupFrom() != nil {
			return nil, unimplemented("qdrantlite does not support lookup_from")
		}
		pl := defaultLimit
		if pf.Limit != nil {
			pl = int(pf.GetLimit())
		}
		if lists[i], err = c.level(ctx, pf.GetPrefetch(), pf.Query, pf.Using, filter.and(own), pf.ScoreThreshold, pl); err != nil {
			return nil, err
		}
	}

	var fused []hit
	switch v := q.GetVariant().(type) {
	case *qdrant.Query_Fusion:
		switch v.Fusion {
		case qdrant.Fusion_RRF:
			fused = rrf(lists, defaultRRFK, nil)
		case qdrant.Fusion_DBSF:
			fused = dbsf(lists)
		default:
			return nil, unimplemented(fmt.Sprintf("qdrantlite does not support fusion %v", v.Fusion))
		}
	case *qdrant.Query_Rrf:
		k := defaultRRFK
		if v.Rrf.K != nil {
			k = int(v.Rrf.GetK())
		}
		if w := v.Rrf.GetWeights(); len(w) > 0 && len(w) != len(lists) {
			return nil, invalid(fmt.Sprintf("Wrong input: %d RRF weights for %d prefetches", len(w), len(lists)))
		}
		fused = rrf(lists, k, v.Rrf.GetWeights())
	case *qdrant.Query_Nearest:
		// Re-score the prefetched candidates with this query.
		seen := map[pointKey]bool{}
		var cand []*point
		for _, l := range lists {
			for _, h := range l {
				if !seen[h.key] {
					seen[h.key] = true
					cand = append(cand, c.points[h.key])
				}
			}
		}
		return c.nearest(ctx, v.Nearest, using, plan{pred: filter.pred, cand: cand}, true, threshold, limit)
	case nil:
		return nil, invalid("Bad request: A query is needed to merge the prefetches. Can't have prefetches without defining a query.")
	default:
		return nil, unimplemented(fmt.Sprintf("qdrantlite does not support %T queries", v))
	}
	// A fused score passes a threshold it reaches (>=, unlike vector search).
	out := fused[:0]
	for _, h := range fused {
		if threshold == nil || h.score >= *threshold {
			out = append(out, h)
		}
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// rrf is reciprocal rank fusion as Qdrant computes it: each list adds
// 1 / ((rank+1)/weight + k - 1) to a point's score, rank counted from 0;
// with weight 1 that is 1 / (rank + k).
func rrf(lists [][]hit, k int, weights []float32) []hit {
	score := map[pointKey]float64{}
	for i, l := range lists {
		w := 1.0
		if len(weights) > 0 {
			w = float64(weights[i])
		}
		for rank, h := range l {
			score[h.key] += 1 / (float64(rank+1)/w + float64(k) - 1)
		}
	}
	return ranked(score)
}

// dbsf is distribution-based score fusion: each list's scores are mapped
// from [mean - 3σ, mean + 3σ] onto [0, 1] and summed.
func dbsf(lists [][]hit) []hit {
	score := map[pointKey]float64{}
	for _, l := range lists {
		if len(l) == 0 {
			continue
		}
		var mean, sq float64
		for _, h := range l {
			mean += float64(h.score)
		}
		mean /= float64(len(l))
		for _, h := range l {
			d := float64(h.score) - mean
			sq += d * d
		}
		sd := math.Sqrt(sq / float64(len(l)))
		lo, hi := mean-3*sd, mean+3*sd
		for _, h := range l {
			n := 0.5
			if hi > lo {
				n = math.Min(1, math.Max(0, (float64(h.score)-lo)/(hi-lo)))
			}
			score[h.key] += n
		}
	}
	return ranked(score)
}

func ranked(score map[pointKey]float64) []hit {
	out := make([]hit, 0, len(score))
	for k, s := range score {
		out = append(out, hit{key: k, score: float32(s)})
	}
	sort.Slice(out, func(i, j int) bool { return higherFirst.better(out[i], out[j]) })
	return out
}

// nearest scores points against a dense or sparse query vector: the
// filter's candidates when it has few (or always, with only), else the
// whole collection.
func (c *collection) nearest(ctx context.Context, in *qdrant.VectorInput, using *string, filter plan, only bool, threshold *float32, limit int) ([]hit, error) {
	name := ""
	if using != nil {
		name = *using
	}
	var dense []float32
	var sparse *sparseVec
	var exclude *pointKey
	switch v := in.GetVariant().(type) {
	case *qdrant.VectorInput_Dense:
		dense = v.Dense.GetData()
	case *qdrant.VectorInput_Sparse:
		sparse = &sparseVec{indices: v.Sparse.GetIndices(), values: v.Sparse.GetValues()}
	case *qdrant.VectorInput_Id:
		k, err := keyOf(v.Id)
		if err != nil {
			return nil, err
		}
		p := c.points[k]
		if p == nil {
			return nil, status404Point(k)
		}
		if sv, ok := p.sparse[name]; ok {
			sparse = &sv
		} else if ds := c.dense[name]; ds != nil {
			vec, ok := ds.vector(k)
			if !ok {
				return nil, invalid(fmt.Sprintf("Wrong input: point %s has no vector %q", k, name))
			}
			dense = vec
		}
		exclude = &k
	default:
		return nil, unimplemented(fmt.Sprintf("qdrantlite does not support %T query vectors", v))
	}
	if exclude != nil {
		filter.pred = and(filter.pred, func(p *point) bool { return p.key != *exclude })
	}
	var cand []*point // nil: scan
	if only || filter.selective(len(c.points)) {
		cand = filter.matching()
	}

	if sparse != nil {
		sp := c.sparse[name]
		if sp == nil {
			if c.dense[name] != nil {
				return nil, errWrongKind(name, "sparse")
			}
			return nil, c.errUnknownVector(name)
		}
		if err := validateSparse(*sparse); err != nil {
			return nil, err
		}
		if cand != nil {
			return c.rescoreSparse(name, sp, *sparse, cand, threshold, limit), nil
		}
		return c.searchSparse(sp, *sparse, filter.pred, threshold, limit), nil
	}
	ds := c.dense[name]
	if ds == nil {
		if c.sparse[name] != nil {
			return nil, errWrongKind(name, "dense")
		}
		return nil, c.errUnknownVector(name)
	}
	if len(dense) != ds.size {
		return nil, errDim(ds.size, len(dense))
	}
	if cand != nil {
		return c.rescoreDense(ds, dense, cand, threshold, limit), nil
	}
	return c.searchDense(ctx, ds, dense, filter.pred, threshold, limit)
}

func status404Point(k pointKey) error {
	return statusNotFound(fmt.Sprintf("Not found: No point with id %s found", k))
}

func (c *collection) searchSparse(sp *sparseSpace, q sparseVec, filter predicate, threshold *float32, limit int) []hit {
	acc := make([]float64, len(c.byOrd))
	seen := make([]bool, len(c.byOrd))
	var touched []int32
	for i, idx := range q.indices {
		post := sp.postings[idx]
		if post == nil || post.live == 0 {
			continue
		}
		w := float64(q.values[i])
		if sp.idf {
			w *= idf(sp.count, post.live)
		}
		for j, ord := range post.ords {
			if c.byOrd[ord] == nil {
				continue // removed
			}
			if !seen[ord] {
				seen[ord] = true
				touched = append(touched, ord)
			}
			acc[ord] += w * float64(post.vals[j])
		}
	}
	top := newTopK(higherFirst, limit)
	for _, ord := range touched {
		s := float32(acc[ord])
		// Qdrant skips points whose sum is exactly zero.
		if s == 0 || !higherFirst.passes(s, threshold) {
			continue
		}
		p := c.byOrd[ord]
		h := hit{key: p.key, score: s}
		if top.wants(h) && filter.match(p) {
			top.offer(h)
		}
	}
	return top.sorted()
}

// distance returns the scoring function for a dense space and the query
// prepared for it (normalised for Cosine).
func distance(ds *denseSpace, q []float32) (func([]float32) float32, []float32, order) {
	switch ds.distance {
	case qdrant.Distance_Euclid:
		return func(v []float32) float32 {
			var s float32
			for i, x := range v {
				d := x - q[i]
				s += d * d
			}
			return float32(math.Sqrt(float64(s)))
		}, q, lowerFirst
	case qdrant.Distance_Manhattan:
		return func(v []float32) float32 {
			var s float32
			for i, x := range v {
				s += float32(math.Abs(float64(x - q[i])))
			}
			return s
		}, q, lowerFirst
	case qdrant.Distance_Cosine:
		n := append([]float32(nil), q...)
		normalize(n)
		q = n
	}
	return func(v []float32) float32 { return dot(v, q) }, q, higherFirst
}

func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return s0 + s1 + s2 + s3
}

// rescoreDense scores the given points (already filtered).
func (c *collection) rescoreDense(ds *denseSpace, q []float32, cand []*point, threshold *float32, limit int) []hit {
	score, _, ord := distance(ds, q)
	top := newTopK(ord, limit)
	for _, p := range cand {
		v, ok := ds.vector(p.key)
		if !ok {
			continue
		}
		if s := score(v); ord.passes(s, threshold) {
			top.offer(hit{key: p.key, score: s})
		}
	}
	return top.sorted()
}

// rescoreSparse scores the given points (already filtered) from their own
// sparse vectors, with the collection-wide IDF statistics.
func (c *collection) rescoreSparse(name string, sp *sparseSpace, q sparseVec, cand []*point, threshold *float32, limit int) []hit {
	w := make(map[uint32]float64, len(q.indices))
	for i, idx := range q.indices {
		x := float64(q.values[i])
		if sp.idf {
			df := 0
			if post := sp.postings[idx]; post != nil {
				df = post.live
			}
			x *= idf(sp.count, df)
		}
		w[idx] = x
	}
	top := newTopK(higherFirst, limit)
	for _, p := range cand {
		v, ok := p.sparse[name]
		if !ok {
			continue
		}
		var s float64
		overlap := false
		for i, idx := range v.indices {
			if x, ok := w[idx]; ok {
				overlap = true
				s += x * float64(v.values[i])
			}
		}
		if overlap && s != 0 && higherFirst.passes(float32(s), threshold) {
			top.offer(hit{key: p.key, score: float32(s)})
		}
	}
	return top.sorted()
}

// searchDense is an exact scan over the space's slab, split across the
// machine's cores when the slab is large.
func (c *collection) searchDense(ctx context.Context, ds *denseSpace, q []float32, filter predicate, threshold *float32, limit int) ([]hit, error) {
	if filter != nil {
		// A selective filter is applied first and only its matches are
		// scored (Qdrant plans the same way from its payload indexes).
		var match []*point
		selective := true
		for _, p := range c.byOrd {
			if p != nil && filter(p) {
				match = append(match, p)
				if len(match) > len(ds.pts)/8 {
					selective = false
					break
				}
			}
		}
		if selective {
			return c.rescoreDense(ds, q, match, threshold, limit), nil
		}
	}
	score, _, ord := distance(ds, q)
	n := len(ds.pts)
	parts := 1
	if n*ds.size >= 1<<20 {
		parts = min(runtime.GOMAXPROCS(0), 8)
	}
	tops := make([]*topK, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for w := 0; w < parts; w++ {
		lo, hi := n*w/parts, n*(w+1)/parts
		tops[w] = newTopK(ord, limit)
		wg.Add(1)
		go func(top *topK, lo, hi int, errp *error) {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				if (i-lo)&4095 == 4095 && ctx.Err() != nil {
					*errp = statusFromContext(ctx.Err())
					return
				}
				s := score(ds.at(i))
				if !ord.passes(s, threshold) {
					continue
				}
				h := hit{key: ds.pts[i].key, score: s}
				if !top.wants(h) || !filter.match(ds.pts[i]) {
					continue
				}
				top.offer(h)
			}
		}(tops[w], lo, hi, &errs[w])
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	top := tops[0]
	for _, t := range tops[1:] {
		for _, h := range t.h.items {
			top.offer(h)
		}
	}
	return top.sorted(), nil
}

// topK keeps the best k hits; its heap's root is the worst one kept.
type topK struct {
	k int
	h hitHeap
}

func newTopK(o order, k int) *topK { return &topK{k: k, h: hitHeap{ord: o}} }

func (t *topK) wants(h hit) bool {
	return t.k > 0 && (len(t.h.items) < t.k || t.h.ord.better(h, t.h.items[0]))
}

func (t *topK) offer(h hit) {
	if !t.wants(h) {
		return
	}
	if len(t.h.items) < t.k {
		heap.Push(&t.h, h)
		return
	}
	t.h.items[0] = h
	heap.Fix(&t.h, 0)
}

func (t *topK) sorted() []hit {
	out := append([]hit(nil), t.h.items...)
	sort.Slice(out, func(i, j int) bool { return t.h.ord.better(out[i], out[j]) })
	return out
}

type hitHeap struct {
	ord   order
	items []hit
}

func (h hitHeap) Len() int           { return len(h.items) }
func (h hitHeap) Less(i, j int) bool { return h.ord.better(h.items[j], h.items[i]) } // worst at the root
func (h hitHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *hitHeap) Push(x any)        { h.items = append(h.items, x.(hit)) }
func (h *hitHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
