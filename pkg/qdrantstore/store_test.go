package qdrantstore_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/qdrantstore"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestOpen(t *testing.T) {
	e := setup(t)
	if e.store.ServerVersion() == "" {
		t.Error("no server version")
	}
	if got, want := e.store.Addr(), fmt.Sprintf("127.0.0.1:%d", e.srv.Port()); got != want {
		t.Errorf("Addr() = %q, want %q", got, want)
	}

	t.Run("wrong key", func(t *testing.T) {
		wrong := "wrong-" + testKey
		cfg := e.cfg
		cfg.APIKey = wrong
		_, err := qdrantstore.Open(e.ctx, cfg)
		if err == nil {
			t.Fatal("Open with a wrong key succeeded")
		}
		want := fmt.Sprintf("qdrant at 127.0.0.1:%d: Unauthenticated", e.srv.Port())
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("err = %q, want it to start with %q", err, want)
		}
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), testKey) {
			t.Errorf("err = %q shows the key", err)
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Errorf("status.Code = %v, want Unauthenticated", status.Code(err))
		}
	})

	t.Run("no key", func(t *testing.T) {
		cfg := e.cfg
		cfg.APIKey = ""
		if _, err := qdrantstore.Open(e.ctx, cfg); status.Code(err) != codes.Unauthenticated {
			t.Errorf("err = %v, want Unauthenticated", err)
		}
	})

	t.Run("nothing listening", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := lis.Addr().(*net.TCPAddr).Port
		lis.Close()
		_, err = qdrantstore.Open(e.ctx, qdrantstore.Config{Host: "127.0.0.1", Port: port})
		want := fmt.Sprintf("qdrant at 127.0.0.1:%d: Unavailable", port)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("err = %v, want it to start with %q", err, want)
		}
	})

	t.Run("silent server times out", func(t *testing.T) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lis.Close() })
		go func() {
			for {
				c, err := lis.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { c.Close() }) // accept, never answer
			}
		}()
		start := time.Now()
		_, err = qdrantstore.Open(e.ctx, qdrantstore.Config{Host: "127.0.0.1", Port: lis.Addr().(*net.TCPAddr).Port, Timeout: 300 * time.Millisecond})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Open took %s with a 300ms timeout", d)
		}
	})

	t.Run("invalid config", func(t *testing.T) {
		if _, err := qdrantstore.Open(e.ctx, qdrantstore.Config{Port: 99999}); !errors.Is(err, qdrantstore.ErrInvalid) {
			t.Errorf("err = %v, want ErrInvalid", err)
		}
	})
}

func TestEnsureCollection(t *testing.T) {
	e := setup(t)
	created, err := e.store.EnsureCollection(e.ctx, "docs", hybrid)
	if err != nil || !created {
		t.Fatalf("first EnsureCollection = %t, %v; want true, nil", created, err)
	}
	created, err = e.store.EnsureCollection(e.ctx, "docs", hybrid)
	if err != nil || created {
		t.Fatalf("second EnsureCollection = %t, %v; want false, nil", created, err)
	}
	// A schema naming only some of the metadata keys fits.
	subset := hybrid
	subset.Metadata = map[string]string{"model": "test-embed"}
	if _, err := e.store.EnsureCollection(e.ctx, "docs", subset); err != nil {
		t.Fatalf("schema with a subset of the metadata: %v", err)
	}

	info, err := e.store.Info(e.ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	wantSchema := qdrantstore.Schema{
		Dense:    &qdrantstore.Dense{Name: "dense", Size: 4, Distance: qdrantstore.Cosine},
		Sparse:   &qdrantstore.Sparse{Name: "bm25", IDF: true},
		Metadata: hybrid.Metadata,
	}
	if !reflect.DeepEqual(info.Schema, wantSchema) {
		t.Errorf("Info().Schema = %+v %+v %v, want %+v %+v %v", info.Schema.Dense, info.Schema.Sparse, info.Schema.Metadata,
			wantSchema.Dense, wantSchema.Sparse, wantSchema.Metadata)
	}
	wantIndexes := map[string]string{"source": "keyword", "path": "keyword", "language": "keyword"}
	if !reflect.DeepEqual(info.Indexes, wantIndexes) {
		t.Errorf("Info().Indexes = %v, want %v", info.Indexes, wantIndexes)
	}
	if info.Status != "green" || info.Points != 0 || info.Name != "docs" {
		t.Errorf("Info() = %+v", info)
	}
}

func TestEnsureCollectionMismatch(t *testing.T) {
	e := setup(t)
	e.collection("docs", hybrid)
	e.collection("dense-only", qdrantstore.Schema{Dense: &qdrantstore.Dense{Size: 4}})

	with := func(f func(*qdrantstore.Schema)) qdrantstore.Schema {
		sc := qdrantstore.Schema{
			Dense:    &qdrantstore.Dense{Size: 4, Distance: qdrantstore.Cosine},
			Sparse:   &qdrantstore.Sparse{IDF: true},
			Metadata: map[string]string{"model": "test-embed", "chunker": "v1"},
		}
		f(&sc)
		return sc
	}
	tests := []struct {
		name       string
		collection string
		schema     qdrantstore.Schema
		want       []string
	}{
		{"size", "docs", with(func(s *qdrantstore.Schema) { s.Dense.Size = 8 }),
			[]string{`collection docs: dense vector "dense" has size 4, job wants 8`}},
		{"distance", "docs", with(func(s *qdrantstore.Schema) { s.Dense.Distance = qdrantstore.Dot }),
			[]string{`dense vector "dense" has distance Cosine, job wants Dot`}},
		{"dense name", "docs", with(func(s *qdrantstore.Schema) { s.Dense.Name = "vec" }),
			[]string{`no dense vector "vec" (it has "dense")`, `dense vector "dense" is not in the job's schema`}},
		{"job lacks sparse", "docs", with(func(s *qdrantstore.Schema) { s.Sparse = nil }),
			[]string{`sparse vector "bm25" is not in the job's schema`}},
		{"collection lacks sparse", "dense-only", with(func(s *qdrantstore.Schema) { s.Metadata = nil }),
			[]string{`collection dense-only: no sparse vector "bm25"`}},
		{"idf", "docs", with(func(s *qdrantstore.Schema) { s.Sparse.IDF = false }),
			[]string{`sparse vector "bm25" has IDF on, job wants off`}},
		{"metadata value", "docs", with(func(s *qdrantstore.Schema) { s.Metadata["model"] = "other-embed" }),
			[]string{`metadata model is "test-embed", job wants "other-embed"`}},
		{"everything", "docs", with(func(s *qdrantstore.Schema) {
			s.Dense.Size, s.Sparse.IDF, s.Metadata["chunker"] = 8, false, "v2"
		}), []string{"size 4, job wants 8", "IDF on, job wants off", `metadata chunker is "v1", job wants "v2"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			created, err := e.store.EnsureCollection(e.ctx, tt.collection, tt.schema)
			if !errors.Is(err, qdrantstore.ErrSchemaMismatch) || created {
				t.Fatalf("EnsureCollection = %t, %v; want ErrSchemaMismatch", created, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %q\nwant it to contain %q", err, w)
				}
			}
		})
	}

	_, err := e.store.EnsureCollection(e.ctx, "docs", with(func(s *qdrantstore.Schema) { s.Dense.Size = 8 }))
	if want := `qdrantstore: schema mismatch: collection docs: dense vector "dense" has size 4, job wants 8`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if _, err := e.store.EnsureCollection(e.ctx, "docs", qdrantstore.Schema{}); !errors.Is(err, qdrantstore.ErrInvalid) {
		t.Errorf("empty schema: err = %v, want ErrInvalid", err)
	}
}

// Workers that start together all ensure the same collection: one
// creates it, the others find it.
func TestEnsureCollectionConcurrently(t *testing.T) {
	e := setup(t)
	const n = 4
	var wg sync.WaitGroup
	results := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { results[i], errs[i] = e.store.EnsureCollection(e.ctx, "docs", hybrid) })
	}
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Errorf("worker %d: %v", i, errs[i])
		}
		if results[i] {
			created++
		}
	}
	if created != 1 {
		t.Errorf("%d workers created the collection, want 1", created)
	}
}

// A collection made without jetrun's indexes gets them.
func TestEnsureCollectionAddsMissingIndexes(t *testing.T) {
	e := setup(t)
	err := e.raw().CreateCollection(e.ctx, &qdrant.CreateCollection{
		CollectionName:      "legacy",
		VectorsConfig:       qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{"dense": {Size: 4, Distance: qdrant.Distance_Cosine}}),
		SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{"bm25": {Modifier: qdrant.Modifier_Idf.Enum()}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	sc := hybrid
	sc.Metadata = nil
	if created, err := e.store.EnsureCollection(e.ctx, "legacy", sc); err != nil || created {
		t.Fatalf("EnsureCollection = %t, %v", created, err)
	}
	info, err := e.store.Info(e.ctx, "legacy")
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Indexes) != 3 {
		t.Errorf("Indexes = %v, want source, path and language", info.Indexes)
	}
}

// A collection with Qdrant's single unnamed vector still takes points and
// searches.
func TestUnnamedVector(t *testing.T) {
	e := setup(t)
	err := e.raw().CreateCollection(e.ctx, &qdrant.CreateCollection{
		CollectionName: "plain",
		VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot}),
	})
	if err != nil {
		t.Fatal(err)
	}
	a, b := qdrantstore.PointID("a"), qdrantstore.PointID("b")
	e.upsert("plain", []qdrantstore.Point{{ID: a, Dense: []float32{1, 0}}, {ID: b, Dense: []float32{0, 1}}})
	hits, err := e.store.Search(e.ctx, "plain", qdrantstore.Query{Dense: []float32{0.1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 || hits[0].ID != b {
		t.Errorf("hits = %+v, want b first", hits)
	}
	_, err = e.store.EnsureCollection(e.ctx, "plain", qdrantstore.Schema{Dense: &qdrantstore.Dense{Size: 2, Distance: qdrantstore.Dot}})
	if !errors.Is(err, qdrantstore.ErrSchemaMismatch) || !strings.Contains(err.Error(), `no dense vector "dense" (it has (unnamed))`) {
		t.Errorf("err = %v", err)
	}
}

func TestUpsertCountDelete(t *testing.T) {
	e := setup(t)
	e.collection("docs", hybrid)
	e.store.BatchSize, e.store.Parallelism = 64, 4

	var pts []qdrantstore.Point
	for f := range 20 {
		lang := "go"
		if f%2 == 1 {
			lang = "markdown"
		}
		for i := range 50 {
			pts = append(pts, chunk("repo", fmt.Sprintf("file%02d", f), fmt.Sprintf("hash%02d", f), lang, i))
		}
	}
	e.upsert("docs", pts) // 1000 points, 16 batches
	if n := e.count("docs", qdrantstore.Filter{}); n != 1000 {
		t.Fatalf("Count = %d, want 1000", n)
	}
	e.upsert("docs", pts[:300]) // same IDs: overwritten, not added
	if n := e.count("docs", qdrantstore.Filter{}); n != 1000 {
		t.Errorf("Count after re-upsert = %d, want 1000", n)
	}

	goFiles := qdrantstore.Filter{Must: []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeyLanguage, "go")}}
	if n := e.count("docs", goFiles); n != 500 {
		t.Errorf("Count(go) = %d, want 500", n)
	}
	some := qdrantstore.Filter{Must: []qdrantstore.Cond{qdrantstore.In(qdrantstore.KeyPath, "file00", "file01", "nope")}}
	if n := e.count("docs", some); n != 100 {
		t.Errorf("Count(file00, file01) = %d, want 100", n)
	}
	lines := qdrantstore.Filter{Must: []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeyStartLine, 1)}}
	if n := e.count("docs", lines); n != 20 {
		t.Errorf("Count(start_line 1) = %d, want 20", n)
	}

	// The pipeline's stale-point delete: file00's points whose hash is
	// not the new one.
	stale := qdrantstore.Filter{
		Must:    []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeySource, "repo"), qdrantstore.Eq(qdrantstore.KeyPath, "file00")},
		MustNot: []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeyFileHash, "hash00-new")},
	}
	e.upsert("docs", []qdrantstore.Point{chunk("repo", "file00", "hash00-new", "go", 0)})
	if err := e.store.Delete(e.ctx, "docs", stale); err != nil {
		t.Fatal(err)
	}
	if n := e.count("docs", qdrantstore.Filter{Must: []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeyPath, "file00")}}); n != 1 {
		t.Errorf("file00 has %d points after the stale delete, want 1", n)
	}

	if err := e.store.Delete(e.ctx, "docs", goFiles); err != nil {
		t.Fatal(err)
	}
	if n := e.count("docs", qdrantstore.Filter{}); n != 500 {
		t.Errorf("Count after deleting go = %d, want 500", n)
	}

	var ids []string
	for _, p := range pts[50:60] { // file01, markdown
		ids = append(ids, strings.ToUpper(p.ID)) // any case is accepted
	}
	ids = append(ids, qdrantstore.PointID("never", "stored"))
	if err := e.store.DeletePoints(e.ctx, "docs", ids); err != nil {
		t.Fatal(err)
	}
	if n := e.count("docs", qdrantstore.Filter{}); n != 490 {
		t.Errorf("Count after DeletePoints = %d, want 490", n)
	}

	if err := e.store.Delete(e.ctx, "docs", qdrantstore.Filter{}); !errors.Is(err, qdrantstore.ErrInvalid) {
		t.Errorf("Delete with the zero filter: err = %v, want ErrInvalid", err)
	}
	if err := e.store.DeletePoints(e.ctx, "docs", []string{"42"}); !errors.Is(err, qdrantstore.ErrInvalid) {
		t.Errorf("DeletePoints(42): err = %v, want ErrInvalid", err)
	}
}

func TestUpsertInvalid(t *testing.T) {
	e := setup(t)
	e.collection("docs", hybrid)
	e.collection("dense-only", qdrantstore.Schema{Dense: &qdrantstore.Dense{Size: 4}})
	good := chunk("repo", "a.go", "h", "go", 0)
	tests := []struct {
		name       string
		collection string
		point      func(p *qdrantstore.Point)
		want       string
	}{
		{"bad id", "docs", func(p *qdrantstore.Point) { p.ID = "chunk-1" }, `point ID "chunk-1" is not a UUID`},
		{"no vector", "docs", func(p *qdrantstore.Point) { p.Dense, p.Sparse = nil, nil }, "point has no vector"},
		{"sparse lengths", "docs", func(p *qdrantstore.Point) { p.Sparse.Values = p.Sparse.Values[:1] }, "2 indices and 1 values"},
		{"sparse duplicate", "docs", func(p *qdrantstore.Point) { p.Sparse.Indices = []uint32{7, 7} }, "index 7 twice"},
		{"sparse into dense-only", "dense-only", func(p *qdrantstore.Point) {}, "point has a sparse vector, the collection has none"},
		{"payload", "docs", func(p *qdrantstore.Point) { p.Payload["when"] = make(chan int) }, `payload key "when": qdrantstore: invalid: unsupported payload type chan int`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := chunk("repo", "b.go", "h", "go", 1)
			tt.point(&bad)
			good := good
			if tt.collection == "dense-only" {
				good.Sparse = nil
			}
			err := e.store.Upsert(e.ctx, tt.collection, []qdrantstore.Point{good, bad})
			if !errors.Is(err, qdrantstore.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if want := fmt.Sprintf("upsert into %s: point 1 ", tt.collection); !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q\nwant %q...%q", err, want, tt.want)
			}
			if n := e.count(tt.collection, qdrantstore.Filter{}); n != 0 {
				t.Errorf("%d points written before the check failed", n)
			}
		})
	}
}

// A batch the server refuses fails the call, naming the batch, with the
// server's code.
func TestUpsertServerError(t *testing.T) {
	e := setup(t)
	e.collection("docs", hybrid)
	e.store.BatchSize, e.store.Parallelism = 10, 2
	var pts []qdrantstore.Point
	for i := range 100 {
		pts = append(pts, chunk("repo", "a.go", "h", "go", i))
	}
	pts[55].Dense = []float32{1, 2, 3} // 3 dimensions, the collection has 4
	err := e.store.Upsert(e.ctx, "docs", pts)
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("err = %v, want InvalidArgument", err)
	}
	if want := "upsert into docs: batch 6 of 10 (points 50-59): InvalidArgument: "; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %q, want it to start with %q", err, want)
	}
}

func TestUpsertCancelled(t *testing.T) {
	e := setup(t)
	e.collection("docs", hybrid)
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	err := e.store.Upsert(ctx, "docs", []qdrantstore.Point{chunk("repo", "a.go", "h", "go", 0)})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestSourceState(t *testing.T) {
	e := setup(t)
	e.collection("docs", hybrid)
	e.store.BatchSize = 500

	want := map[string]string{}
	var pts []qdrantstore.Point
	for f := range 100 { // 100 files × 25 chunks: 2500 points, 3 pages
		path, hash := fmt.Sprintf("dir/file%03d.go", f), fmt.Sprintf("sha256:%03d", f)
		want[path] = hash
		for i := range 25 {
			pts = append(pts, chunk("repo-a", path, hash, "go", i))
		}
	}
	// An interrupted re-index left old and new points of one file.
	pts = append(pts, chunk("repo-a", "dir/file007.go", "sha256:new", "go", 99))
	want["dir/file007.go"] = ""
	// A point without a file hash.
	nohash := chunk("repo-a", "nohash.txt", "", "text", 0)
	delete(nohash.Payload, qdrantstore.KeyFileHash)
	pts = append(pts, nohash)
	want["nohash.txt"] = ""
	// Another source's points are not this source's state.
	for i := range 30 {
		pts = append(pts, chunk("repo-b", fmt.Sprintf("other%d.go", i), "x", "go", i))
	}
	e.upsert("docs", pts)

	got, err := e.store.SourceState(e.ctx, "docs", "repo-a")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: got %q, want %q", k, got[k], v)
			}
		}
		t.Fatalf("got %d paths, want %d", len(got), len(want))
	}

	got, err = e.store.SourceState(e.ctx, "docs", "repo-none")
	if err != nil || len(got) != 0 {
		t.Errorf("unknown source: %v, %v; want an empty map", got, err)
	}
}

// searchCorpus is four points whose nearest neighbours are easy to tell:
// a points along x, b along y, c along z, d between x and y.
func searchCorpus(t *testing.T, e *env) map[string]string {
	t.Helper()
	e.collection("docs", hybrid)
	ids := map[string]string{}
	mk := func(name, lang string, dense []float32, sparse map[uint32]float32) qdrantstore.Point {
		ids[name] = qdrantstore.PointID("repo", name)
		sv := &qdrantstore.SparseVector{}
		for i, v := range sparse {
			sv.Indices, sv.Values = append(sv.Indices, i), append(sv.Values, v)
		}
		return qdrantstore.Point{ID: ids[name], Dense: dense, Sparse: sv, Payload: map[string]any{
			qdrantstore.KeySource: "repo", qdrantstore.KeyPath: name, qdrantstore.KeyLanguage: lang,
			qdrantstore.KeyStartLine: 3, "score": 0.5, "tags": []string{"t1"}, "nested": map[string]any{"ok": true},
		}}
	}
	e.upsert("docs", []qdrantstore.Point{
		mk("a", "go", []float32{1, 0, 0, 0}, map[uint32]float32{1: 1, 2: 1}),
		mk("b", "markdown", []float32{0, 1, 0, 0}, map[uint32]float32{3: 1}),
		mk("c", "go", []float32{0, 0, 1, 0}, map[uint32]float32{1: 1, 4: 1}),
		mk("d", "markdown", []float32{0.7, 0.7, 0, 0}, map[uint32]float32{5: 1}),
	})
	return ids
}

func TestSearch(t *testing.T) {
	e := setup(t)
	ids := searchCorpus(t, e)
	notGo := qdrantstore.Filter{MustNot: []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeyLanguage, "go")}}
	tests := []struct {
		name  string
		q     qdrantstore.Query
		top   string
		count int
	}{
		{"dense", qdrantstore.Query{Dense: []float32{1, 0.1, 0, 0}}, "a", 4},
		{"dense limit", qdrantstore.Query{Dense: []float32{1, 0.1, 0, 0}, Limit: 2}, "a", 2},
		{"dense filtered", qdrantstore.Query{Dense: []float32{1, 0.1, 0, 0}, Filter: notGo}, "d", 2},
		{"sparse", qdrantstore.Query{Sparse: &qdrantstore.SparseVector{Indices: []uint32{3}, Values: []float32{1}}}, "b", 1},
		{"sparse rare term wins", qdrantstore.Query{Sparse: &qdrantstore.SparseVector{Indices: []uint32{1, 2}, Values: []float32{1, 1}}}, "a", 2},
		// Dense ranks d, b, a, c; sparse finds only b. Fused, b leads.
		{"hybrid", qdrantstore.Query{
			Dense:  []float32{0.6, 0.8, 0, 0},
			Sparse: &qdrantstore.SparseVector{Indices: []uint32{3}, Values: []float32{1}},
		}, "b", 4},
		{"hybrid filtered", qdrantstore.Query{
			Dense:  []float32{1, 0, 0.1, 0},
			Sparse: &qdrantstore.SparseVector{Indices: []uint32{1}, Values: []float32{1}},
			Filter: qdrantstore.Filter{Must: []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeyLanguage, "go")}},
		}, "a", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits, err := e.store.Search(e.ctx, "docs", tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != tt.count {
				t.Fatalf("%d hits, want %d: %+v", len(hits), tt.count, hits)
			}
			if hits[0].ID != ids[tt.top] {
				t.Errorf("top hit %s (%v), want %s", hits[0].ID, hits[0].Payload[qdrantstore.KeyPath], tt.top)
			}
			for i := 1; i < len(hits); i++ {
				if hits[i].Score > hits[i-1].Score {
					t.Errorf("hits not best first: %v then %v", hits[i-1].Score, hits[i].Score)
				}
			}
		})
	}

	hits, err := e.store.Search(e.ctx, "docs", qdrantstore.Query{Dense: []float32{1, 0, 0, 0}, Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	wantPayload := map[string]any{
		"source": "repo", "path": "a", "language": "go", "start_line": int64(3),
		"score": 0.5, "tags": []any{"t1"}, "nested": map[string]any{"ok": true},
	}
	if !reflect.DeepEqual(hits[0].Payload, wantPayload) {
		t.Errorf("payload = %#v\nwant %#v", hits[0].Payload, wantPayload)
	}
	if hits[0].Score < 0.99 {
		t.Errorf("cosine score of an identical vector = %v", hits[0].Score)
	}
}

func TestSearchInvalid(t *testing.T) {
	e := setup(t)
	searchCorpus(t, e)
	e.collection("dense-only", qdrantstore.Schema{Dense: &qdrantstore.Dense{Size: 4}})
	for name, tc := range map[string]struct {
		collection string
		q          qdrantstore.Query
	}{
		"no vector":               {"docs", qdrantstore.Query{}},
		"negative limit":          {"docs", qdrantstore.Query{Dense: []float32{1, 0, 0, 0}, Limit: -1}},
		"sparse lengths":          {"docs", qdrantstore.Query{Sparse: &qdrantstore.SparseVector{Indices: []uint32{1}}}},
		"sparse without a sparse": {"dense-only", qdrantstore.Query{Sparse: &qdrantstore.SparseVector{Indices: []uint32{1}, Values: []float32{1}}}},
		"bad filter":              {"docs", qdrantstore.Query{Dense: []float32{1, 0, 0, 0}, Filter: qdrantstore.Filter{Must: []qdrantstore.Cond{qdrantstore.Eq("x", 1.5)}}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := e.store.Search(e.ctx, tc.collection, tc.q)
			if !errors.Is(err, qdrantstore.ErrInvalid) || !strings.HasPrefix(err.Error(), "search "+tc.collection+": ") {
				t.Errorf("err = %v, want ErrInvalid after %q", err, "search "+tc.collection)
			}
		})
	}
	_, err := e.store.Search(e.ctx, "docs", qdrantstore.Query{Dense: []float32{1, 0}})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("wrong dimensions: err = %v, want InvalidArgument", err)
	}
}

func TestNotFound(t *testing.T) {
	e := setup(t)
	const c = "missing"
	p := chunk("repo", "a.go", "h", "go", 0)
	f := qdrantstore.Filter{Must: []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeySource, "repo")}}
	ops := map[string]func() error{
		"Info":           func() error { _, err := e.store.Info(e.ctx, c); return err },
		"Upsert":         func() error { return e.store.Upsert(e.ctx, c, []qdrantstore.Point{p}) },
		"Count":          func() error { _, err := e.store.Count(e.ctx, c, qdrantstore.Filter{}); return err },
		"Delete":         func() error { return e.store.Delete(e.ctx, c, f) },
		"DeletePoints":   func() error { return e.store.DeletePoints(e.ctx, c, []string{p.ID}) },
		"SourceState":    func() error { _, err := e.store.SourceState(e.ctx, c, "repo"); return err },
		"Search":         func() error { _, err := e.store.Search(e.ctx, c, qdrantstore.Query{Dense: p.Dense}); return err },
		"DropCollection": func() error { return e.store.DropCollection(e.ctx, c) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			err := op()
			if !errors.Is(err, qdrantstore.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if !strings.Contains(err.Error(), c+":") {
				t.Errorf("err = %q does not name the collection", err)
			}
		})
	}
	if ok, err := e.store.Exists(e.ctx, c); ok || err != nil {
		t.Errorf("Exists = %t, %v; want false, nil", ok, err)
	}
}

func TestListDropExists(t *testing.T) {
	e := setup(t)
	if names, err := e.store.List(e.ctx); err != nil || len(names) != 0 {
		t.Fatalf("List = %v, %v; want none", names, err)
	}
	e.collection("zeta", hybrid)
	e.collection("alpha", qdrantstore.Schema{Sparse: &qdrantstore.Sparse{}})
	names, err := e.store.List(e.ctx)
	if err != nil || !reflect.DeepEqual(names, []string{"alpha", "zeta"}) {
		t.Fatalf("List = %v, %v; want [alpha zeta]", names, err)
	}
	if ok, err := e.store.Exists(e.ctx, "zeta"); !ok || err != nil {
		t.Errorf("Exists(zeta) = %t, %v", ok, err)
	}
	e.upsert("zeta", []qdrantstore.Point{chunk("repo", "a.go", "h", "go", 0)})
	if err := e.store.DropCollection(e.ctx, "zeta"); err != nil {
		t.Fatal(err)
	}
	if ok, err := e.store.Exists(e.ctx, "zeta"); ok || err != nil {
		t.Errorf("Exists(zeta) after drop = %t, %v", ok, err)
	}

	// Re-created with another schema, the collection's new vector names
	// are used, not the dropped one's.
	e.collection("zeta", qdrantstore.Schema{Dense: &qdrantstore.Dense{Name: "v", Size: 2}})
	e.upsert("zeta", []qdrantstore.Point{{ID: qdrantstore.PointID("x"), Dense: []float32{1, 0}}})
	if n := e.count("zeta", qdrantstore.Filter{}); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
}

// Every Store call carries the key: a second store opened with the right
// key works, and a server message never shows it.
func TestErrorsNeverShowTheKey(t *testing.T) {
	e := setup(t)
	e.collection("docs", hybrid)
	errs := []error{
		e.store.Upsert(e.ctx, "docs", []qdrantstore.Point{{ID: qdrantstore.PointID("x"), Dense: []float32{1}}}),
		e.store.Delete(e.ctx, "missing", qdrantstore.Filter{Must: []qdrantstore.Cond{qdrantstore.Eq("k", "v")}}),
	}
	_, err := e.store.EnsureCollection(e.ctx, "docs", qdrantstore.Schema{Dense: &qdrantstore.Dense{Size: 9}})
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Error("expected an error")
			continue
		}
		if strings.Contains(err.Error(), testKey) {
			t.Errorf("err = %q shows the key", err)
		}
	}
}

// A collection without the job's metadata (made by a collection job, say)
// takes it on first use, and holds later jobs to it.
func TestEnsureCollectionRecordsUnsetMetadata(t *testing.T) {
	e := setup(t)
	bare := qdrantstore.Schema{Dense: &qdrantstore.Dense{Size: 4}, Sparse: &qdrantstore.Sparse{IDF: true}}
	if created, err := e.store.EnsureCollection(e.ctx, "bare", bare); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	job := bare
	job.Metadata = map[string]string{"model": "m1", "chunker": "1"}
	if created, err := e.store.EnsureCollection(e.ctx, "bare", job); err != nil || created {
		t.Fatalf("first job: %v %v", created, err)
	}
	info, err := e.store.Info(e.ctx, "bare")
	if err != nil || info.Schema.Metadata["model"] != "m1" || info.Schema.Metadata["chunker"] != "1" {
		t.Fatalf("metadata after the first job = %v, %v", info.Schema.Metadata, err)
	}
	job.Metadata = map[string]string{"model": "m2"}
	if _, err := e.store.EnsureCollection(e.ctx, "bare", job); !errors.Is(err, qdrantstore.ErrSchemaMismatch) || !strings.Contains(err.Error(), `metadata model is "m1", job wants "m2"`) {
		t.Fatalf("a different model = %v", err)
	}
}
