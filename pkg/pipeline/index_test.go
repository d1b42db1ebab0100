package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/embed"
	"github.com/jetrun/jetrun/pkg/embed/embedtest"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/pipeline"
	"github.com/jetrun/jetrun/pkg/pipeline/source"
	"github.com/jetrun/jetrun/pkg/qdrantlite"
	"github.com/jetrun/jetrun/pkg/qdrantstore"
)

// memSource is a source held in memory, yielded in path order.
type memSource map[string]string

func (m memSource) Walk(ctx context.Context, fn func(source.File) error) error {
	for _, p := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		if err := fn(source.File{Path: p, Data: []byte(m[p])}); err != nil {
			return err
		}
	}
	return nil
}

type env struct {
	ctx   context.Context
	store *qdrantstore.Store
	dense *embedtest.Server
}

func setup(t *testing.T) *env {
	t.Helper()
	srv, err := qdrantlite.Start("127.0.0.1:0", qdrantlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	st, err := qdrantstore.Open(ctx, qdrantstore.Config{Host: "127.0.0.1", Port: srv.Port()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	dense := embedtest.New(embedtest.Options{Dim: 32})
	t.Cleanup(dense.Close)
	return &env{ctx: ctx, store: st, dense: dense}
}

func (e *env) denseEmbedder(t *testing.T) embed.Dense {
	d, err := embed.NewOpenAI(embed.OpenAIConfig{BaseURL: e.dense.URL(), Model: "test-model"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type progressLog struct {
	mu sync.Mutex
	ps []messages.Progress
}

func (l *progressLog) Report(_ context.Context, p messages.Progress) {
	l.mu.Lock()
	l.ps = append(l.ps, p)
	l.mu.Unlock()
}

func (e *env) index(t *testing.T, src source.Source, dense embed.Dense) pipeline.Summary {
	t.Helper()
	sel, err := source.NewSelector(source.SelectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pl progressLog
	sum, err := pipeline.Index(e.ctx, pipeline.Options{Collection: "code", SourceID: "repo-1", Source: src, Selector: sel,
		Sparse: embed.NewBM25(), Dense: dense, Store: e.store, Progress: &pl})
	if err != nil {
		t.Fatal(err)
	}
	if len(pl.ps) == 0 || pl.ps[len(pl.ps)-1].Message != "done" || pl.ps[len(pl.ps)-1].Upserted != sum.Upserted {
		t.Errorf("progress reports %v do not end with the final counts of %+v", pl.ps, sum)
	}
	return sum
}

func (e *env) count(t *testing.T, conds ...qdrantstore.Cond) uint64 {
	t.Helper()
	n, err := e.store.Count(e.ctx, "code", qdrantstore.Filter{Must: conds})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

const (
	goFile = `package retry

// Backoff returns the delay before attempt n: base doubled each attempt,
// capped at max.
func Backoff(n int, base, max time.Duration) time.Duration {
	d := base << (n - 1)
	if d > max || d <= 0 {
		return max
	}
	return d
}

// Jitter spreads d by up to a fifth either way.
func Jitter(d time.Duration) time.Duration { return d }
`
	pyFile = `import json


def parse_config(path):
    """Read the configuration file at path."""
    with open(path) as f:
        return json.load(f)


class Loader:
    def load(self, name):
        return parse_config(name + ".json")
`
	mdFile = "# Retries\n\nFailed jobs are retried with exponential backoff.\n\n## Limits\n\nAt most MAX_RETRIES attempts.\n"
)

func TestIndexIsIncremental(t *testing.T) {
	e := setup(t)
	dense := e.denseEmbedder(t)
	src := memSource{"retry/backoff.go": goFile, "loader.py": pyFile, "docs/retries.md": mdFile, "go.sum": "x v1 h1:abc=\n", "blob.bin": "\x00\x01\x02"}

	first := e.index(t, src, dense)
	if !first.Created || first.Indexed != 3 || first.Unchanged != 0 || first.Chunks == 0 || first.Upserted != first.Chunks {
		t.Fatalf("first run: %+v", first)
	}
	if first.Skipped[source.SkipLockfile] != 1 || first.Skipped[source.SkipBinary] != 1 {
		t.Fatalf("skips: %v", first.Skipped)
	}
	points := e.count(t)
	if points != uint64(first.Chunks) {
		t.Fatalf("%d points for %d chunks", points, first.Chunks)
	}
	// The dense endpoint was asked once for the size, then for every chunk.
	if got := e.dense.Inputs(); got != int(first.Chunks)+1 {
		t.Fatalf("dense inputs %d, want %d chunks + 1 probe", got, first.Chunks)
	}

	// Nothing changed: no embedding call at all, same points.
	before := e.dense.Requests()
	again := e.index(t, src, e.denseEmbedder(t))
	if again.Indexed != 0 || again.Unchanged != 3 || again.Chunks != 0 || e.dense.Requests() != before || e.count(t) != points {
		t.Fatalf("unchanged re-run: %+v, %d dense requests (was %d), %d points (was %d)", again, e.dense.Requests(), before, e.count(t), points)
	}

	// One file changes: only it is re-embedded; its old chunks are gone.
	pyOld := e.count(t, qdrantstore.Eq(qdrantstore.KeyPath, "loader.py"))
	src["loader.py"] = strings.Replace(pyFile, "class Loader:", "class Loader:\n    \"\"\"Loads configurations.\"\"\"\n", 1)
	inputs := e.dense.Inputs()
	changed := e.index(t, src, e.denseEmbedder(t))
	if changed.Indexed != 1 || changed.Unchanged != 2 || e.dense.Inputs()-inputs != int(changed.Chunks) {
		t.Fatalf("one changed file: %+v; dense inputs %d", changed, e.dense.Inputs()-inputs)
	}
	pyNew := e.count(t, qdrantstore.Eq(qdrantstore.KeyPath, "loader.py"))
	if pyNew != uint64(changed.Chunks) {
		t.Fatalf("loader.py has %d points after the change, want its %d new chunks (had %d)", pyNew, changed.Chunks, pyOld)
	}
	state, err := e.store.SourceState(e.ctx, "code", "repo-1")
	if err != nil || len(state) != 3 || state["loader.py"] == "" {
		t.Fatalf("source state = %v, %v", state, err)
	}

	// A file is deleted: its points go.
	delete(src, "docs/retries.md")
	gone := e.index(t, src, e.denseEmbedder(t))
	if gone.Removed != 1 || e.count(t, qdrantstore.Eq(qdrantstore.KeyPath, "docs/retries.md")) != 0 {
		t.Fatalf("deleted file: %+v, %d points left", gone, e.count(t, qdrantstore.Eq(qdrantstore.KeyPath, "docs/retries.md")))
	}
	if e.count(t) != uint64(e.count(t, qdrantstore.Eq(qdrantstore.KeyPath, "loader.py"))+e.count(t, qdrantstore.Eq(qdrantstore.KeyPath, "retry/backoff.go"))) {
		t.Fatal("points of other paths remain")
	}

	// Search finds the function by name, with its place in the file.
	hits, err := pipeline.Search(e.ctx, e.store, pipeline.SearchOptions{Collection: "code", Query: "parse_config", Sparse: embed.NewBM25(), Dense: e.denseEmbedder(t), Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].Path != "loader.py" || !strings.Contains(hits[0].Text, "def parse_config") || hits[0].StartLine < 1 {
		t.Fatalf("search parse_config: %+v", hits)
	}
	hits, err = pipeline.Search(e.ctx, e.store, pipeline.SearchOptions{Collection: "code", Query: "Backoff delay", Sparse: embed.NewBM25(), Limit: 3, Language: "go"})
	if err != nil || len(hits) == 0 || hits[0].Path != "retry/backoff.go" || hits[0].Symbol != "Backoff" {
		t.Fatalf("search Backoff: %+v %v", hits, err)
	}
}

func TestIndexRefusesAMismatchedCollection(t *testing.T) {
	e := setup(t)
	src := memSource{"a.go": goFile}
	e.index(t, src, nil) // bm25 only
	sel, _ := source.NewSelector(source.SelectOptions{})
	_, err := pipeline.Index(e.ctx, pipeline.Options{Collection: "code", SourceID: "repo-1", Source: src, Selector: sel,
		Sparse: embed.NewBM25(), Dense: e.denseEmbedder(t), Store: e.store})
	if !errors.Is(err, qdrantstore.ErrSchemaMismatch) {
		t.Fatalf("a hybrid job on a sparse-only collection: %v", err)
	}
}

// failingSource fails after its first file.
type failingSource struct{}

func (failingSource) Walk(ctx context.Context, fn func(source.File) error) error {
	if err := fn(source.File{Path: "a.go", Data: []byte(goFile)}); err != nil {
		return err
	}
	return errors.New("disk on fire")
}

func TestIndexFailureDeletesNothing(t *testing.T) {
	e := setup(t)
	e.index(t, memSource{"a.go": goFile, "b.py": pyFile}, nil)
	n := e.count(t)
	sel, _ := source.NewSelector(source.SelectOptions{})
	_, err := pipeline.Index(e.ctx, pipeline.Options{Collection: "code", SourceID: "repo-1", Source: failingSource{}, Selector: sel, Sparse: embed.NewBM25(), Store: e.store})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v", err)
	}
	// b.py was not seen, but the walk did not finish: nothing is removed.
	if e.count(t) != n {
		t.Fatalf("a failed run changed the point count: %d, was %d", e.count(t), n)
	}
}

// flakyStore fails its second Upsert.
type flakyStore struct {
	*qdrantstore.Store
	upserts int
}

func (f *flakyStore) Upsert(ctx context.Context, c string, pts []qdrantstore.Point) error {
	f.upserts++
	if f.upserts == 2 {
		return errors.New("connection reset")
	}
	return f.Store.Upsert(ctx, c, pts)
}

// TestIndexRepairsAFileCutOffMidway: a run that stored only some of a
// file's chunks must not leave the file looking indexed.
func TestIndexRepairsAFileCutOffMidway(t *testing.T) {
	e := setup(t)
	var long strings.Builder
	for i := range 40 {
		fmt.Fprintf(&long, "// F%d does step %d of the work.\nfunc F%d() int { return %d }\n\n", i, i, i, i)
	}
	src := memSource{"steps.go": "package steps\n\n" + long.String()}
	sel, _ := source.NewSelector(source.SelectOptions{})
	opts := pipeline.Options{Collection: "code", SourceID: "repo-1", Source: src, Selector: sel, Sparse: embed.NewBM25(),
		Store: &flakyStore{Store: e.store}, ChunkTokens: 40, EmbedBatch: 4}
	if _, err := pipeline.Index(e.ctx, opts); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("first run: %v", err)
	}
	partial := e.count(t)
	state, err := e.store.SourceState(e.ctx, "code", "repo-1")
	if err != nil || partial == 0 || state["steps.go"] != "" {
		t.Fatalf("after a cut-off run: %d points, state %q, %v", partial, state["steps.go"], err)
	}
	opts.Store = e.store
	sum, err := pipeline.Index(e.ctx, opts)
	if err != nil || sum.Indexed != 1 || e.count(t) != uint64(sum.Chunks) || sum.Chunks <= int64(partial) {
		t.Fatalf("repair run: %+v %v; %d points (partial run left %d)", sum, err, e.count(t), partial)
	}
}
