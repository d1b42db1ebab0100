package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jetrun/jetrun/pkg/embed"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/pipeline/chunk"
	"github.com/jetrun/jetrun/pkg/pipeline/source"
	"github.com/jetrun/jetrun/pkg/qdrantstore"
)

// Store is what the pipeline needs of the vector store;
// *qdrantstore.Store is the implementation.
type Store interface {
	EnsureCollection(ctx context.Context, name string, sc qdrantstore.Schema) (bool, error)
	Info(ctx context.Context, name string) (qdrantstore.CollectionInfo, error)
	SourceState(ctx context.Context, collection, source string) (map[string]string, error)
	Upsert(ctx context.Context, collection string, points []qdrantstore.Point) error
	Delete(ctx context.Context, collection string, f qdrantstore.Filter) error
}

var _ Store = (*qdrantstore.Store)(nil)

// Collection metadata keys the pipeline records and checks: a job whose
// embedders or chunker differ from the collection's is refused
// (qdrantstore.ErrSchemaMismatch) instead of mixing incomparable vectors.
const (
	MetaChunker    = "chunker"
	MetaSparse     = "sparse_model"
	MetaDense      = "dense_model"
	MetaDenseDims  = "dense_dimensions"
	defaultTokens  = 512
	defaultBatch   = 128
	reportInterval = time.Second
)

// Options configure one indexing run.
type Options struct {
	// Collection receives the points; created when missing.
	Collection string
	// SourceID names the input in every point's payload ("source"): the
	// repository URL, "upload:<name>", ... A re-run with the same SourceID
	// updates the same points.
	SourceID string
	// Commit is recorded in the payload (git sources).
	Commit string
	// Source yields the files; Selector decides which are indexed (nil:
	// all that the source yields).
	Source   source.Source
	Selector *source.Selector
	// Embedders: at least one. Both = hybrid.
	Sparse embed.Sparse
	Dense  embed.Dense
	// Store is the vector store.
	Store Store
	// ChunkTokens is the chunk budget (≈ chars/3); 0 means 512.
	ChunkTokens int
	// Workers chunk files in parallel; 0 means GOMAXPROCS.
	Workers int
	// EmbedBatch is the number of chunks per embedding call (the dense
	// embedder splits it further); 0 means 128.
	EmbedBatch int
	// Progress receives a report about every second; may be nil.
	Progress ProgressReporter
	// Total is the number of files when known in advance (for done/total).
	Total int64
}

// Summary is what a run did.
type Summary struct {
	Collection string         `json:"collection"`
	Source     string         `json:"source"`
	Commit     string         `json:"commit,omitempty"`
	Created    bool           `json:"created"`   // the collection was created
	Files      int64          `json:"files"`     // entries the source yielded
	Indexed    int64          `json:"indexed"`   // files (re-)embedded
	Unchanged  int64          `json:"unchanged"` // files skipped: same content hash as indexed
	Removed    int64          `json:"removed"`   // files gone from the source: their points deleted
	Skipped    map[string]int `json:"skipped"`   // files not indexed, by reason
	Chunks     int64          `json:"chunks"`
	Embedded   int64          `json:"embedded"`
	Upserted   int64          `json:"upserted"`
	Bytes      int64          `json:"bytes"` // bytes of the files indexed
	Duration   time.Duration  `json:"duration_ns"`
}

// SkipChunkError counts files the chunker failed on (a recovered panic):
// they are left out, the job goes on.
const SkipChunkError = "chunk-error"

// ErrNoEmbedder: neither a sparse nor a dense embedder is configured.
var ErrNoEmbedder = errors.New("pipeline: no embedder configured")

// work is one file on its way through the stages.
type work struct {
	path, lang, hash string
	data             []byte
}

// piece is one chunk ready to embed.
type piece struct {
	point qdrantstore.Point
	text  string
}

type counters struct {
	files, indexed, unchanged, chunks, embedded, upserted, bytes atomic.Int64
}

// Index runs the pipeline: source → select → chunk → embed → store, stages
// joined by bounded channels so memory stays flat whatever the source's
// size. Files whose content hash matches what the collection holds for the
// same source and path are not re-embedded; points of changed files that
// their new chunks no longer cover, and points of files gone from the
// source, are deleted once everything new is written.
func Index(ctx context.Context, o Options) (Summary, error) {
	start := time.Now()
	if o.Sparse == nil && o.Dense == nil {
		return Summary{}, ErrNoEmbedder
	}
	if o.ChunkTokens <= 0 {
		o.ChunkTokens = defaultTokens
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.EmbedBatch <= 0 {
		o.EmbedBatch = defaultBatch
	}
	sum := Summary{Collection: o.Collection, Source: o.SourceID, Commit: o.Commit, Skipped: map[string]int{}}

	schema, err := schemaFor(ctx, o)
	if err != nil {
		return sum, err
	}
	if sum.Created, err = o.Store.EnsureCollection(ctx, o.Collection, schema); err != nil {
		return sum, err
	}
	indexed, err := o.Store.SourceState(ctx, o.Collection, o.SourceID)
	if err != nil {
		return sum, err
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var c counters
	stopReport := reportLoop(ctx, o, &c, start)
	defer stopReport(false)

	files := make(chan work, 2*o.Workers)
	pieces := make(chan []piece, 2*o.Workers)
	batches := make(chan []piece, 2)
	points := make(chan []qdrantstore.Point, 2)

	var (
		mu      sync.Mutex
		seen    = map[string]bool{} // paths indexed or unchanged
		changed = map[string]string{}
	)
	fail := func(err error) { cancel(err) }

	var wg sync.WaitGroup
	// Stage 1: walk and select (one goroutine: sources are sequential).
	var walkErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(files)
		walkErr = o.Source.Walk(ctx, func(f source.File) error {
			c.files.Add(1)
			reason := f.Skip
			if reason == "" && o.Selector != nil {
				reason = o.Selector.Decide(f)
			}
			// Payloads are protobuf strings: text and paths must be UTF-8.
			if reason == "" && !utf8.ValidString(f.Path) {
				reason = source.SkipUnsupported
			}
			if reason == "" && !utf8.Valid(f.Data) {
				reason = source.SkipBinary
			}
			if reason != "" {
				mu.Lock()
				sum.Skipped[reason]++
				mu.Unlock()
				return nil
			}
			h := sha256.Sum256(f.Data)
			hash := hex.EncodeToString(h[:])
			mu.Lock()
			if seen[f.Path] {
				mu.Unlock()
				return fmt.Errorf("pipeline: %s appears twice in the source", f.Path)
			}
			seen[f.Path] = true
			old, had := indexed[f.Path]
			if had && old == hash {
				mu.Unlock()
				c.unchanged.Add(1)
				return nil
			}
			if had {
				changed[f.Path] = hash
			}
			mu.Unlock()
			select {
			case files <- work{path: f.Path, hash: hash, data: f.Data, lang: chunk.Language(f.Path, f.Data)}:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
		if walkErr != nil {
			fail(walkErr)
		}
	}()

	// Stage 2: chunk, in parallel.
	var chunkers sync.WaitGroup
	for range o.Workers {
		chunkers.Add(1)
		go func() {
			defer chunkers.Done()
			for w := range files {
				ps, err := chunkFile(o, w)
				if err != nil {
					mu.Lock()
					sum.Skipped[SkipChunkError]++
					mu.Unlock()
					continue
				}
				c.indexed.Add(1)
				c.bytes.Add(int64(len(w.data)))
				c.chunks.Add(int64(len(ps)))
				select {
				case pieces <- ps:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { chunkers.Wait(); close(pieces) }()

	// Stage 3a: gather chunks into embedding batches.
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(batches)
		var batch []piece
		flush := func() bool {
			if len(batch) == 0 {
				return true
			}
			select {
			case batches <- batch:
				batch = nil
				return true
			case <-ctx.Done():
				return false
			}
		}
		for ps := range pieces {
			for _, p := range ps {
				batch = append(batch, p)
				if len(batch) == o.EmbedBatch && !flush() {
					return
				}
			}
		}
		flush()
	}()

	// Stage 3b: embed; two batches at once so a dense endpoint stays busy
	// while a batch's stragglers finish.
	var embedders sync.WaitGroup
	for range 2 {
		embedders.Add(1)
		go func() {
			defer embedders.Done()
			for batch := range batches {
				pts, err := embedBatch(ctx, o, batch)
				if err != nil {
					fail(err)
					return
				}
				c.embedded.Add(int64(len(pts)))
				select {
				case points <- pts:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { embedders.Wait(); close(points) }()

	// Stage 4: upsert (the store batches and parallelises further).
	wg.Add(1)
	go func() {
		defer wg.Done()
		for pts := range points {
			if err := o.Store.Upsert(ctx, o.Collection, pts); err != nil {
				fail(err)
				return
			}
			c.upserted.Add(int64(len(pts)))
		}
	}()

	wg.Wait()
	// Drain what a failed stage left behind so every goroutine ends.
	for range points {
	}
	// Stragglers (chunkers past a failure) end once the channels drain.
	chunkers.Wait()
	if err := context.Cause(ctx); err != nil {
		fill(&sum, &c, start)
		return sum, err
	}

	// Everything new is written: delete what it replaces. For a changed
	// file, its points with another file hash; for a file gone from the
	// source (or now skipped), all its points.
	for _, path := range slices.Sorted(maps.Keys(changed)) {
		f := qdrantstore.Filter{
			Must:    []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeySource, o.SourceID), qdrantstore.Eq(qdrantstore.KeyPath, path)},
			MustNot: []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeyFileHash, changed[path])},
		}
		if err := o.Store.Delete(ctx, o.Collection, f); err != nil {
			return sum, fmt.Errorf("delete stale chunks of %s: %w", path, err)
		}
	}
	var gone []string
	for path := range indexed {
		if !seen[path] {
			gone = append(gone, path)
		}
	}
	slices.Sort(gone)
	for i := 0; i < len(gone); i += 256 {
		part := gone[i:min(i+256, len(gone))]
		f := qdrantstore.Filter{Must: []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeySource, o.SourceID), qdrantstore.In(qdrantstore.KeyPath, part...)}}
		if err := o.Store.Delete(ctx, o.Collection, f); err != nil {
			return sum, fmt.Errorf("delete chunks of removed files: %w", err)
		}
	}
	sum.Removed = int64(len(gone))
	fill(&sum, &c, start)
	stopReport(true)
	return sum, nil
}

func fill(sum *Summary, c *counters, start time.Time) {
	sum.Files = c.files.Load()
	sum.Indexed = c.indexed.Load()
	sum.Unchanged = c.unchanged.Load()
	sum.Chunks = c.chunks.Load()
	sum.Embedded = c.embedded.Load()
	sum.Upserted = c.upserted.Load()
	sum.Bytes = c.bytes.Load()
	sum.Duration = time.Since(start)
}

// schemaFor derives the collection's schema from the embedders. A dense
// embedder whose size is not configured takes the existing collection's,
// or is probed once when the collection is new (so re-indexing an
// unchanged source makes no embedding call at all).
func schemaFor(ctx context.Context, o Options) (qdrantstore.Schema, error) {
	sc := qdrantstore.Schema{Metadata: map[string]string{MetaChunker: chunk.Version}}
	if o.Sparse != nil {
		sc.Sparse = &qdrantstore.Sparse{Name: qdrantstore.DefaultSparseName, IDF: true}
		sc.Metadata[MetaSparse] = o.Sparse.Model()
	}
	if o.Dense != nil {
		dims := o.Dense.Dimensions()
		if dims == 0 {
			info, err := o.Store.Info(ctx, o.Collection)
			switch {
			case err == nil && info.Schema.Dense != nil:
				dims = int(info.Schema.Dense.Size)
			case err == nil || errors.Is(err, qdrantstore.ErrNotFound):
				v, err := o.Dense.Documents(ctx, []string{"dimension probe"})
				if err != nil {
					return sc, fmt.Errorf("probe the embedding size: %w", err)
				}
				dims = len(v[0])
			default:
				return sc, err
			}
		}
		sc.Dense = &qdrantstore.Dense{Name: qdrantstore.DefaultDenseName, Size: uint64(dims), Distance: qdrantstore.Cosine}
		sc.Metadata[MetaDense] = o.Dense.Model()
		sc.Metadata[MetaDenseDims] = strconv.Itoa(dims)
	}
	return sc, nil
}

// chunkFile splits one file into points (vectors still empty). A chunker
// that panics on a hostile file costs that file, not the job.
func chunkFile(o Options, w work) (ps []piece, err error) {
	defer func() {
		if r := recover(); r != nil {
			ps, err = nil, fmt.Errorf("chunk %s: %v", w.path, r)
		}
	}()
	chunks := chunk.Split(w.path, w.lang, w.data, chunk.Options{MaxTokens: o.ChunkTokens})
	out := make([]piece, 0, len(chunks))
	for i, ch := range chunks {
		h := sha256.Sum256([]byte(ch.Text))
		chash := hex.EncodeToString(h[:16])
		payload := map[string]any{
			qdrantstore.KeySource:    o.SourceID,
			qdrantstore.KeyPath:      w.path,
			qdrantstore.KeyLanguage:  w.lang,
			qdrantstore.KeyFileHash:  w.hash,
			qdrantstore.KeyFileParts: len(chunks),
			qdrantstore.KeyStartLine: ch.StartLine,
			qdrantstore.KeyEndLine:   ch.EndLine,
			qdrantstore.KeySymbol:    ch.Symbol,
			qdrantstore.KeyChunkHash: chash,
			qdrantstore.KeyChunker:   chunk.Version,
			qdrantstore.KeyText:      ch.Text,
		}
		if o.Commit != "" {
			payload[qdrantstore.KeyCommit] = o.Commit
		}
		id := qdrantstore.PointID(o.SourceID, w.path, chash, strconv.Itoa(i), chunk.Version)
		out = append(out, piece{point: qdrantstore.Point{ID: id, Payload: payload}, text: embedText(w.path, ch)})
	}
	return out, nil
}

// embedText is what gets embedded: the chunk with its path and symbol as
// context, so a search for a file or function name finds it.
func embedText(path string, ch chunk.Chunk) string {
	head := path
	if ch.Symbol != "" {
		head += " " + ch.Symbol
	}
	return head + "\n" + ch.Text
}

func embedBatch(ctx context.Context, o Options, batch []piece) ([]qdrantstore.Point, error) {
	texts := make([]string, len(batch))
	for i, p := range batch {
		texts[i] = p.text
	}
	out := make([]qdrantstore.Point, len(batch))
	for i, p := range batch {
		out[i] = p.point
	}
	if o.Sparse != nil {
		for i, v := range o.Sparse.Documents(texts) {
			out[i].Sparse = &qdrantstore.SparseVector{Indices: v.Indices, Values: v.Values}
		}
	}
	if o.Dense != nil {
		vs, err := o.Dense.Documents(ctx, texts)
		if err != nil {
			return nil, fmt.Errorf("embed: %w", err)
		}
		for i, v := range vs {
			out[i].Dense = v
		}
	}
	return out, nil
}

// reportLoop sends a progress report every second until stopped; stop
// sends a final one when asked.
func reportLoop(ctx context.Context, o Options, c *counters, start time.Time) (stop func(final bool)) {
	if o.Progress == nil {
		return func(bool) {}
	}
	report := func(msg string) {
		files := c.indexed.Load() + c.unchanged.Load()
		el := time.Since(start).Seconds()
		p := messages.Progress{Done: files, Total: o.Total, Unit: "files", Chunks: c.chunks.Load(), Embedded: c.embedded.Load(),
			Upserted: c.upserted.Load(), Bytes: c.bytes.Load(), Message: msg}
		if el > 0 {
			p.Rate = float64(files) / el
		}
		o.Progress.Report(context.WithoutCancel(ctx), p)
	}
	done, exited := make(chan struct{}), make(chan struct{})
	var once sync.Once
	go func() {
		defer close(exited)
		t := time.NewTicker(reportInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				report("indexing")
			case <-done:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func(final bool) {
		once.Do(func() {
			close(done)
			<-exited // no "indexing" report after the final one
			if final {
				report("done")
			}
		})
	}
}
