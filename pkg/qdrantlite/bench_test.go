package qdrantlite_test

// Benchmarks for the release note (not under -race):
//
//	go test -run XXX -bench . -benchtime 1x -timeout 30m ./pkg/qdrantlite/
//
// The server runs in a child process (this test binary re-executed), so
// the RSS reported is the server's alone; the official client drives it
// over loopback gRPC, as a worker would. Each size loads a collection with
// a 1024-d Cosine dense vector and a BM25-like sparse vector (IDF modifier)
// per point, upserting in batches of 256, then times dense, sparse and
// hybrid (RRF over a dense and a sparse prefetch) queries one at a time,
// and hybrid restricted to one file (10 points) by a filter on the indexed
// path field.
//
// Environment:
//
//	JETRUN_BENCH_QDRANT_SIZES    point counts (default "10000,100000")
//	JETRUN_BENCH_QDRANT_QUERIES  queries per kind and size (default 200)
//
// Timings never fail a benchmark.

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/qdrantlite"
	"github.com/qdrant/go-client/qdrant"
)

const (
	benchDim   = 1024
	benchBatch = 256
	benchVocab = 50_000
	benchTerms = 40 // distinct terms per chunk
)

func TestMain(m *testing.M) {
	if dir := os.Getenv("JETRUN_QDRANTLITE_CHILD"); dir != "" {
		serveChild(dir)
		return
	}
	os.Exit(m.Run())
}

// serveChild is the benchmark's server process: it prints its port and
// serves until SIGTERM.
func serveChild(dir string) {
	srv, err := qdrantlite.Start("127.0.0.1:0", qdrantlite.Options{Dir: dir})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("port", srv.Port())
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, os.Interrupt)
	<-ch
	srv.Close()
	os.Exit(0)
}

type child struct {
	cmd  *exec.Cmd
	port int
}

func startChild(b *testing.B, dir string) *child {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "JETRUN_QDRANTLITE_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "port ")))
	if err != nil {
		b.Fatalf("child said %q", line)
	}
	c := &child{cmd: cmd, port: port}
	b.Cleanup(c.stop)
	return c
}

func (c *child) stop() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(syscall.SIGTERM)
		c.cmd.Wait()
	}
}

// memory returns the child's current and peak RSS in MiB.
func (c *child) memory() (rss, hwm float64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

// corpus generates points deterministically: random unit-ish dense
// vectors and Zipf-distributed sparse term weights, like BM25 on code.
type corpus struct {
	rng  *rand.Rand
	zipf *rand.Zipf
}

func newCorpus(seed uint64) *corpus {
	r := rand.New(rand.NewPCG(seed, seed))
	return &corpus{rng: r, zipf: rand.NewZipf(r, 1.1, 1, benchVocab-1)}
}

func (c *corpus) dense() []float32 {
	v := make([]float32, benchDim)
	for i := range v {
		v[i] = float32(c.rng.NormFloat64())
	}
	return v
}

func (c *corpus) sparse(terms int) ([]uint32, []float32) {
	seen := map[uint32]bool{}
	var idx []uint32
	for len(idx) < terms {
		t := uint32(c.zipf.Uint64())
		if !seen[t] {
			seen[t] = true
			idx = append(idx, t)
		}
	}
	val := make([]float32, len(idx))
	for i := range val {
		val[i] = 0.5 + float32(c.rng.Float64())*1.5
	}
	return idx, val
}

func (c *corpus) batch(start, n int) []*qdrant.PointStruct {
	pts := make([]*qdrant.PointStruct, n)
	for i := range pts {
		idx, val := c.sparse(benchTerms)
		pts[i] = &qdrant.PointStruct{
			Id: qdrant.NewIDNum(uint64(start + i + 1)),
			Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{
				"dense": qdrant.NewVectorDense(c.dense()),
				"bm25":  qdrant.NewVectorSparse(idx, val),
			}),
			Payload: qdrant.NewValueMap(map[string]any{"source": "bench", "path": fmt.Sprintf("f%d.go", (start+i)/10), "start_line": start + i}),
		}
	}
	return pts
}

func envInts(name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func BenchmarkServer(b *testing.B) {
	queries := envInts("JETRUN_BENCH_QDRANT_QUERIES", []int{200})[0]
	type row struct {
		size                          int
		upsert                        float64
		dense, sparse, hybrid, filter [2]float64
		rss, hwm                      float64
		restart                       time.Duration
	}
	var rows []row
	for _, size := range envInts("JETRUN_BENCH_QDRANT_SIZES", []int{10_000, 100_000}) {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			for range b.N {
				dir := b.TempDir()
				srv := startChild(b, dir)
				client, err := qdrant.NewClient(&qdrant.Config{Host: "127.0.0.1", Port: srv.port, PoolSize: 1, SkipCompatibilityCheck: true})
				if err != nil {
					b.Fatal(err)
				}
				defer client.Close()
				ctx := context.Background()
				err = client.CreateCollection(ctx, &qdrant.CreateCollection{
					CollectionName:      "bench",
					VectorsConfig:       qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{"dense": {Size: benchDim, Distance: qdrant.Distance_Cosine}}),
					SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{"bm25": {Modifier: qdrant.Modifier_Idf.Enum()}}),
				})
				if err != nil {
					b.Fatal(err)
				}
				// Keyword indexes as qdrantstore.EnsureCollection makes them.
				for _, f := range []string{"source", "path", "language"} {
					if _, err := client.CreateFieldIndex(ctx, &qdrant.CreateFieldIndexCollection{CollectionName: "bench", FieldName: f, FieldType: qdrant.FieldType_FieldTypeKeyword.Enum(), Wait: qdrant.PtrOf(true)}); err != nil {
						b.Fatal(err)
					}
				}

				// Generate the batches ahead so that only the upserts are timed.
				c := newCorpus(1)
				var batches [][]*qdrant.PointStruct
				for start := 0; start < size; start += benchBatch {
					batches = append(batches, c.batch(start, min(benchBatch, size-start)))
				}
				t0 := time.Now()
				for _, pts := range batches {
					if _, err := client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: "bench", Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
						b.Fatal(err)
					}
				}
				r := row{size: size, upsert: float64(size) / time.Since(t0).Seconds()}
				batches = nil

				q := newCorpus(2)
				latency := func(req func() *qdrant.QueryPoints) [2]float64 {
					var ds []time.Duration
					for range queries {
						qr := req()
						t := time.Now()
						if _, err := client.Query(ctx, qr); err != nil {
							b.Fatal(err)
						}
						ds = append(ds, time.Since(t))
					}
					slices.Sort(ds)
					ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
					return [2]float64{ms(ds[len(ds)/2]), ms(ds[len(ds)*99/100])}
				}
				denseQ := func() *qdrant.Query { return qdrant.NewQueryDense(q.dense()) }
				sparseQ := func() *qdrant.Query { idx, val := q.sparse(8); return qdrant.NewQuerySparse(idx, val) }
				limit := qdrant.PtrOf(uint64(10))
				r.dense = latency(func() *qdrant.QueryPoints {
					return &qdrant.QueryPoints{CollectionName: "bench", Query: denseQ(), Using: qdrant.PtrOf("dense"), Limit: limit, WithPayload: qdrant.NewWithPayload(true)}
				})
				r.sparse = latency(func() *qdrant.QueryPoints {
					return &qdrant.QueryPoints{CollectionName: "bench", Query: sparseQ(), Using: qdrant.PtrOf("bm25"), Limit: limit, WithPayload: qdrant.NewWithPayload(true)}
				})
				pf := qdrant.PtrOf(uint64(40))
				r.hybrid = latency(func() *qdrant.QueryPoints {
					return &qdrant.QueryPoints{CollectionName: "bench", Prefetch: []*qdrant.PrefetchQuery{
						{Query: denseQ(), Using: qdrant.PtrOf("dense"), Limit: pf},
						{Query: sparseQ(), Using: qdrant.PtrOf("bm25"), Limit: pf},
					}, Query: qdrant.NewQueryFusion(qdrant.Fusion_RRF), Limit: limit, WithPayload: qdrant.NewWithPayload(true)}
				})
				// Hybrid restricted to one file's chunks by a payload filter.
				r.filter = latency(func() *qdrant.QueryPoints {
					f := &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("path", fmt.Sprintf("f%d.go", q.rng.IntN(size/10)))}}
					return &qdrant.QueryPoints{CollectionName: "bench", Filter: f, Prefetch: []*qdrant.PrefetchQuery{
						{Query: denseQ(), Using: qdrant.PtrOf("dense"), Limit: pf},
						{Query: sparseQ(), Using: qdrant.PtrOf("bm25"), Limit: pf},
					}, Query: qdrant.NewQueryFusion(qdrant.Fusion_RRF), Limit: limit}
				})
				r.rss, r.hwm = srv.memory()

				// Reopen: load time from disk.
				client.Close()
				srv.stop()
				t0 = time.Now()
				srv = startChild(b, dir)
				r.restart = time.Since(t0)
				b.ReportMetric(r.upsert, "points/s")
				b.ReportMetric(r.dense[0], "dense-p50-ms")
				b.ReportMetric(r.hybrid[0], "hybrid-p50-ms")
				b.ReportMetric(r.rss, "rss-MiB")
				b.ReportMetric(0, "ns/op")
				rows = append(rows, r)
			}
		})
	}
	if len(rows) == 0 {
		return
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%d-d Cosine dense + sparse (%d terms/point, IDF), upsert batches of %d, %d queries per kind, limit 10:\n\n", benchDim, benchTerms, benchBatch, queries)
	fmt.Fprintf(&sb, "| points | upsert points/s | dense p50/p99 ms | sparse p50/p99 ms | hybrid p50/p99 ms | hybrid, one file p50/p99 ms | server RSS (peak) MiB | reopen s |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&sb, "| %d | %.0f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.0f (%.0f) | %.1f |\n",
			r.size, r.upsert, r.dense[0], r.dense[1], r.sparse[0], r.sparse[1], r.hybrid[0], r.hybrid[1], r.filter[0], r.filter[1], r.rss, r.hwm, r.restart.Seconds())
	}
	benchOnce.Do(func() { fmt.Print(sb.String()) })
}

var benchOnce sync.Once
