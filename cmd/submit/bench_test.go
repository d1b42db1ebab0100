package main

// Indexing benchmarks for the release note (not under -race, so the
// worker and dispatcher binaries are built without it):
//
//	go test -run XXX -bench Index -benchtime 1x -timeout 30m ./cmd/submit/
//
// BenchmarkIndexGoroot indexes $(go env GOROOT)/src (~11,500 files) with
// bm25 through a --dev dispatcher (embedded NATS and vector server, the
// local runtime, a real worker process) and prints it next to the floor:
// reading and hashing the same files in-process. It then re-indexes the
// unchanged tree. BenchmarkIndexDense indexes GOROOT/src/net with a dense
// embedder against an in-process OpenAI-compatible server that serves K
// inputs/s at most (32-input batches taking 50 ms, 4 in flight) and
// prints the fraction of K achieved. Timings never fail a benchmark.

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/embed/embedtest"
	"github.com/jetrun/jetrun/pkg/pipeline/source"
)

// jobResult is the worker's summary as printed in its logs.
type jobResult struct {
	Files, Indexed, Unchanged, Chunks, Bytes int64
	Skipped                                  map[string]int
	MaxRSSMiB                                float64 `json:"max_rss_mib"`
}

// indexDir submits upload-file --local DIR and returns the wall time and
// the worker's summary.
func indexDir(b *testing.B, ctx context.Context, d devAddrs, dir, collection string, extra ...string) (time.Duration, jobResult) {
	b.Helper()
	args := append([]string{"upload-file", dir, "--local", "--collection", collection, "--output", "json", "--wait"}, extra...)
	t0 := time.Now()
	r := submitDev(b, ctx, d, args...)
	took := time.Since(t0)
	if r.code != exitOK {
		b.Fatalf("index %s: exit %d\n%s\n%s", dir, r.code, tail(r.stdout, 2000), r.stderr)
	}
	// The job id is in the first event line.
	var ev struct {
		JobID string `json:"job_id"`
	}
	json.Unmarshal([]byte(strings.SplitN(r.stdout, "\n", 2)[0]), &ev)
	logs := submitDev(b, ctx, d, "logs", ev.JobID)
	// The summary is the worker's indented JSON document: a line "{".
	var res jobResult
	out := "\n" + logs.stdout
	i := strings.Index(out, "\n{\n")
	if i < 0 || json.NewDecoder(strings.NewReader(out[i+1:])).Decode(&res) != nil || res.Files == 0 {
		b.Fatalf("no summary in the worker's output:\n%s", tail(logs.stdout, 2000))
	}
	return took, res
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func BenchmarkIndexGoroot(b *testing.B) {
	src := filepath.Join(runtime.GOROOT(), "src")
	ctx := context.Background()

	// The floor: walk, read and sha256 every file, in-process.
	t0 := time.Now()
	dirSrc, err := source.OpenDir(src, source.DefaultLimits())
	if err != nil {
		b.Fatal(err)
	}
	var files, bytes int64
	err = dirSrc.Walk(ctx, func(f source.File) error {
		files++
		bytes += int64(len(f.Data))
		sha256.Sum256(f.Data)
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	floor := time.Since(t0)

	d := startDev(b)
	took, res := indexDir(b, ctx, d, src, "goroot")
	again, res2 := indexDir(b, ctx, d, src, "goroot")
	if res2.Unchanged != res.Indexed || res2.Indexed != 0 {
		b.Fatalf("re-index of an unchanged tree: %+v (first: %+v)", res2, res)
	}
	b.ReportMetric(float64(res.Files)/took.Seconds(), "files/s")
	b.ReportMetric(float64(res.Chunks)/took.Seconds(), "chunks/s")
	b.ReportMetric(0, "ns/op")
	fmt.Printf(`
GOROOT/src: %d files (%d indexed, %d skipped: %v), %.0f MB indexed, %d chunks, bm25, through dispatcher --dev (local runtime):

| run | wall | files/s | MB/s | chunks/s | worker peak RSS |
|---|---|---|---|---|---|
| floor: read + sha256 in-process | %.1f s | %.0f | %.0f | | |
| index, empty collection | %.1f s | %.0f | %.1f | %.0f | %.0f MiB |
| re-index, unchanged | %.1f s | %.0f | %.1f | | %.0f MiB |
`, res.Files, res.Indexed, res.Files-res.Indexed, res.Skipped, float64(res.Bytes)/1e6, res.Chunks,
		floor.Seconds(), float64(files)/floor.Seconds(), float64(bytes)/1e6/floor.Seconds(),
		took.Seconds(), float64(res.Files)/took.Seconds(), float64(res.Bytes)/1e6/took.Seconds(), float64(res.Chunks)/took.Seconds(), res.MaxRSSMiB,
		again.Seconds(), float64(res2.Files)/again.Seconds(), float64(bytes)/1e6/again.Seconds(), res2.MaxRSSMiB)
}

func BenchmarkIndexDense(b *testing.B) {
	const batch, inflight, latency = 32, 4, 50 * time.Millisecond
	k := float64(batch*inflight) / latency.Seconds() // inputs/s the server can serve
	emb := embedtest.New(embedtest.Options{Dim: 256, Latency: latency, MaxInFlight: inflight})
	b.Cleanup(emb.Close)
	ctx := context.Background()
	d := startDev(b)
	src := filepath.Join(runtime.GOROOT(), "src", "net")
	took, res := indexDir(b, ctx, d, src, "dense", "--dense-url", emb.URL(), "--dense-model", "bench", "--dense-batch", fmt.Sprint(batch), "--dense-batch-tokens", "65536", "--dense-concurrency", fmt.Sprint(inflight))
	rate := float64(emb.Inputs()) / took.Seconds()
	// The embedding phase: from the first batch served to the last answer
	// (the one-input size probe excluded).
	var first, last time.Time
	inputs := 0
	for _, r := range emb.Log() {
		if len(r.Inputs) <= 1 {
			continue
		}
		inputs += len(r.Inputs)
		if first.IsZero() || r.Served.Before(first) {
			first = r.Served
		}
		if r.Done.After(last) {
			last = r.Done
		}
	}
	phase := last.Sub(first)
	sizes := emb.BatchSizes()
	mean := float64(inputs) / float64(max(len(sizes)-1, 1))
	phaseRate := float64(inputs) / phase.Seconds()
	b.ReportMetric(phaseRate/k, "fraction-of-K")
	b.ReportMetric(0, "ns/op")
	fmt.Printf(`
Dense + bm25 indexing of GOROOT/src/net (%d files, %d chunks) against an embedding server serving at most K = %.0f inputs/s
(%d-input batches, %s each, %d in flight), through dispatcher --dev:

| measured over | time | inputs embedded | inputs/s | fraction of K |
|---|---|---|---|---|
| the embedding phase (first batch served → last answered) | %.2f s | %d | %.0f | %.2f |
| the whole job (submit → succeeded: start, walk, chunking, upserts too) | %.2f s | %d | %.0f | %.2f |

Requests: %d, %.1f inputs on average (the size probe aside); max in flight seen by the server: %d; worker peak RSS %.0f MiB.
`, res.Files, res.Chunks, k, batch, latency, inflight, phase.Seconds(), inputs, phaseRate, phaseRate/k,
		took.Seconds(), emb.Inputs(), rate, rate/k, len(sizes), mean, emb.MaxSeenInFlight(), res.MaxRSSMiB)
}
