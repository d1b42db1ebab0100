package qdrantstore

import (
	"context"
	"fmt"

	"github.com/qdrant/go-client/qdrant"
	"golang.org/x/sync/errgroup"
)

// Payload keys the pipeline writes. Source, path and language are indexed
// (see [Store.EnsureCollection]).
const (
	KeySource    = "source"     // what was indexed: a repository URL, an upload name
	KeyPath      = "path"       // the file's path within the source, slash-separated
	KeyLanguage  = "language"   // the file's language, like "go" or "markdown"
	KeyFileHash  = "file_hash"  // content hash of the whole file
	KeyFileParts = "file_parts" // number of chunks the file was split into
	KeyStartLine = "start_line" // first line of the chunk, from 1
	KeyEndLine   = "end_line"   // last line of the chunk, inclusive
	KeySymbol    = "symbol"     // enclosing function, type or heading
	KeyChunkHash = "chunk_hash" // content hash of the chunk
	KeyChunker   = "chunker"    // chunker name and version
	KeyCommit    = "commit"     // commit indexed, for git sources
	KeyText      = "text"       // the chunk's text
)

// Point is one chunk to store.
type Point struct {
	// ID is a UUID, usually from [PointID].
	ID string
	// Dense and Sparse are the vectors; at least one is set, and the
	// collection must have each one set.
	Dense  []float32
	Sparse *SparseVector
	// Payload holds JSON-like values: see the Key constants for the ones
	// the pipeline writes. Values may be nil, bool, any integer up to
	// math.MaxInt64, finite floats, UTF-8 strings, []byte (stored as
	// base64), time.Time (stored as RFC 3339), and slices, arrays,
	// string-keyed maps and pointers of these.
	Payload map[string]any
}

// SparseVector is a sparse vector: Values[i] is the weight of the term
// Indices[i]. Indices are distinct; their order does not matter.
type SparseVector struct {
	Indices []uint32
	Values  []float32
}

func (v *SparseVector) check() error {
	if len(v.Indices) != len(v.Values) {
		return fmt.Errorf("%w: sparse vector has %d indices and %d values", ErrInvalid, len(v.Indices), len(v.Values))
	}
	seen := make(map[uint32]struct{}, len(v.Indices))
	for _, i := range v.Indices {
		if _, dup := seen[i]; dup {
			return fmt.Errorf("%w: sparse vector has index %d twice", ErrInvalid, i)
		}
		seen[i] = struct{}{}
	}
	return nil
}

// proto converts p for a collection with the vectors n.
func (p Point) proto(n vectorNames) (*qdrant.PointStruct, error) {
	id, err := canonicalID(p.ID)
	if err != nil {
		return nil, err
	}
	if p.Dense == nil && p.Sparse == nil {
		return nil, fmt.Errorf("%w: point has no vector", ErrInvalid)
	}
	vectors := map[string]*qdrant.Vector{}
	if p.Dense != nil {
		if !n.hasDense {
			return nil, fmt.Errorf("%w: point has a dense vector, the collection has none", ErrInvalid)
		}
		vectors[n.dense] = qdrant.NewVectorDense(p.Dense)
	}
	if p.Sparse != nil {
		if !n.hasSparse {
			return nil, fmt.Errorf("%w: point has a sparse vector, the collection has none", ErrInvalid)
		}
		if err := p.Sparse.check(); err != nil {
			return nil, err
		}
		vectors[n.sparse] = qdrant.NewVectorSparse(p.Sparse.Indices, p.Sparse.Values)
	}
	payload, err := toValueMap(p.Payload)
	if err != nil {
		return nil, err
	}
	ps := &qdrant.PointStruct{Id: qdrant.NewIDUUID(id), Payload: payload}
	if v, ok := vectors[""]; ok && len(vectors) == 1 {
		ps.Vectors = qdrant.NewVectorsDense(v.GetDense().GetData()) // the single unnamed vector
	} else {
		ps.Vectors = qdrant.NewVectorsMap(vectors)
	}
	return ps, nil
}

// Upsert writes points, replacing those with the same IDs. It checks and
// converts every point first, so a bad one fails the call before anything
// is written. Then it sends batches of BatchSize points, at most
// Parallelism at once, each returning once Qdrant has applied it. On the
// first failure it cancels the batches still running and returns that
// error; batches already written stay written (upserts are idempotent, so
// a retry of the whole call is safe).
func (s *Store) Upsert(ctx context.Context, collection string, points []Point) error {
	if len(points) == 0 {
		return nil
	}
	names, err := s.names(ctx, collection)
	if err != nil {
		return s.fail(err, "upsert into %s", collection)
	}
	structs := make([]*qdrant.PointStruct, len(points))
	for i, p := range points {
		if structs[i], err = p.proto(names); err != nil {
			return fmt.Errorf("upsert into %s: point %d (%s): %w", collection, i, p.ID, err)
		}
	}

	size, par := s.BatchSize, s.Parallelism
	if size <= 0 {
		size = DefaultBatchSize
	}
	if par <= 0 {
		par = DefaultParallelism
	}
	batches := (len(structs) + size - 1) / size
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(par)
	skipped := false
	for b := range batches {
		if gctx.Err() != nil {
			skipped = true // a batch failed or the caller gave up
			break
		}
		lo, hi := b*size, min((b+1)*size, len(structs))
		g.Go(func() error {
			_, err := s.client.Upsert(gctx, &qdrant.UpsertPoints{
				CollectionName: collection,
				Wait:           wait(),
				Points:         structs[lo:hi],
			})
			if err != nil {
				return s.fail(err, "upsert into %s: batch %d of %d (points %d-%d)", collection, b+1, batches, lo, hi-1)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if skipped {
		return fmt.Errorf("upsert into %s: %w", collection, ctx.Err())
	}
	return nil
}

// Delete deletes the points that match f, returning once Qdrant has
// applied it. The zero Filter is refused ([ErrInvalid]): to empty a
// collection, drop it.
func (s *Store) Delete(ctx context.Context, collection string, f Filter) error {
	if f.empty() {
		return fmt.Errorf("delete from %s: %w: empty filter would delete every point", collection, ErrInvalid)
	}
	pf, err := f.proto()
	if err != nil {
		return fmt.Errorf("delete from %s: %w", collection, err)
	}
	_, err = s.client.Delete(ctx, &qdrant.DeletePoints{
		CollectionName: collection,
		Wait:           wait(),
		Points:         qdrant.NewPointsSelectorFilter(pf),
	})
	if err != nil {
		return s.fail(err, "delete from %s", collection)
	}
	return nil
}

// deleteBatch bounds the IDs of one delete request.
const deleteBatch = 1024

// DeletePoints deletes the points with the given IDs; IDs of points that
// do not exist are ignored.
func (s *Store) DeletePoints(ctx context.Context, collection string, ids []string) error {
	pids := make([]*qdrant.PointId, len(ids))
	for i, id := range ids {
		c, err := canonicalID(id)
		if err != nil {
			return fmt.Errorf("delete from %s: %w", collection, err)
		}
		pids[i] = qdrant.NewIDUUID(c)
	}
	for lo := 0; lo < len(pids); lo += deleteBatch {
		hi := min(lo+deleteBatch, len(pids))
		_, err := s.client.Delete(ctx, &qdrant.DeletePoints{
			CollectionName: collection,
			Wait:           wait(),
			Points:         qdrant.NewPointsSelectorIDs(pids[lo:hi]),
		})
		if err != nil {
			return s.fail(err, "delete from %s", collection)
		}
	}
	return nil
}

// scrollPage is the page size of SourceState's scroll.
const scrollPage = 1024

// SourceState returns what the collection holds of one source: each path
// with points whose source payload is source, mapped to their file_hash.
// The pipeline compares it with the files it finds to skip unchanged
// files and to delete the points of files that are gone.
//
// A path whose points disagree on the hash (a re-index interrupted
// between writing the new points and deleting the old ones), or lack one,
// maps to the empty string, which matches no real hash: the pipeline
// re-indexes it and so repairs it. So does a path whose points record a
// file_parts count other than the number of points found (a run that
// stopped between two batches of one file).
func (s *Store) SourceState(ctx context.Context, collection, source string) (map[string]string, error) {
	f, err := Filter{Must: []Cond{Eq(KeySource, source)}}.proto()
	if err != nil {
		return nil, fmt.Errorf("read state of %s: %w", collection, err)
	}
	state := map[string]string{}
	// A file is complete when it has as many points as the chunk count its
	// points record (file_parts): a run that failed between two batches of
	// one file leaves fewer, and the file must be indexed again.
	parts := map[string]int64{}
	points := map[string]int64{}
	var offset *qdrant.PointId
	for {
		pts, next, err := s.client.ScrollAndOffset(ctx, &qdrant.ScrollPoints{
			CollectionName: collection,
			Filter:         f,
			Offset:         offset,
			Limit:          qdrant.PtrOf(uint32(scrollPage)),
			WithPayload:    qdrant.NewWithPayloadInclude(KeyPath, KeyFileHash, KeyFileParts),
			WithVectors:    qdrant.NewWithVectors(false),
		})
		if err != nil {
			return nil, s.fail(err, "read state of %s", collection)
		}
		for _, p := range pts {
			path := p.GetPayload()[KeyPath].GetStringValue()
			if path == "" {
				continue
			}
			hash := p.GetPayload()[KeyFileHash].GetStringValue()
			if old, seen := state[path]; seen && old != hash {
				hash = ""
			}
			state[path] = hash
			points[path]++
			if n, ok := p.GetPayload()[KeyFileParts]; ok {
				if old, seen := parts[path]; seen && old != n.GetIntegerValue() {
					state[path] = ""
				}
				parts[path] = n.GetIntegerValue()
			}
		}
		if next == nil {
			for path, n := range parts {
				if points[path] != n {
					state[path] = ""
				}
			}
			return state, nil
		}
		if offset != nil && samePointID(next, offset) {
			return nil, fmt.Errorf("read state of %s: scroll did not advance past %s", collection, pointIDString(next))
		}
		offset = next
	}
}

func samePointID(a, b *qdrant.PointId) bool {
	return a.GetUuid() == b.GetUuid() && a.GetNum() == b.GetNum()
}

func pointIDString(id *qdrant.PointId) string {
	if u := id.GetUuid(); u != "" {
		return u
	}
	return fmt.Sprint(id.GetNum())
}

// Count returns the exact number of points that match f; the zero Filter
// counts them all.
func (s *Store) Count(ctx context.Context, collection string, f Filter) (uint64, error) {
	pf, err := f.proto()
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", collection, err)
	}
	n, err := s.client.Count(ctx, &qdrant.CountPoints{
		CollectionName: collection,
		Filter:         pf,
		Exact:          qdrant.PtrOf(true),
	})
	if err != nil {
		return 0, s.fail(err, "count %s", collection)
	}
	return n, nil
}
