package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/gittest"
	"github.com/jetrun/jetrun/pkg/embed/embedtest"
	"github.com/jetrun/jetrun/pkg/qdrantstore"
)

const (
	e2eGo = `package server

// ParseListenAddress splits host:port and checks the port.
func ParseListenAddress(s string) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(port)
	return host, n, err
}
`
	e2ePy = "def shutdown_gracefully(server, timeout):\n    \"\"\"Stop accepting, drain, close.\"\"\"\n    server.stop(timeout)\n"
	e2eMd = "# Operations\n\nRestart the server with `kill -HUP`.\n"
)

// store connects to the --dev dispatcher's embedded vector server.
func devStore(t testing.TB, addr string) *qdrantstore.Store {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	st, err := qdrantstore.Open(context.Background(), qdrantstore.Config{Host: host, Port: p})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func countPoints(t testing.TB, st *qdrantstore.Store, collection string, conds ...qdrantstore.Cond) uint64 {
	t.Helper()
	n, err := st.Count(context.Background(), collection, qdrantstore.Filter{Must: conds})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// submitDev runs submit against a --dev dispatcher (NATS and Qdrant).
func submitDev(t testing.TB, ctx context.Context, d devAddrs, args ...string) result {
	t.Helper()
	host, port, _ := net.SplitHostPort(d.qdrant)
	var out, errb bytes.Buffer
	env := map[string]string{"NATS_URL": d.nats, "QDRANT_HOST": host, "QDRANT_PORT": port}
	code := run(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// TestIndexingEndToEnd drives the indexing jobs through the real
// dispatcher and worker processes, NATS, the embedded vector server, a
// git repository served by git http-backend, and an OpenAI-compatible
// embedding server that counts its calls.
func TestIndexingEndToEnd(t *testing.T) {
	repo := gittest.New(t, map[string]string{"server/listen.go": e2eGo, "ops/shutdown.py": e2ePy, "README.md": e2eMd, "go.sum": "x v1 h1:y=\n"})
	emb := embedtest.New(embedtest.Options{Dim: 16})
	t.Cleanup(emb.Close)
	d := startDev(t)
	st := devStore(t, d.qdrant)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	index := func(t *testing.T) {
		t.Helper()
		r := submitDev(t, ctx, d, "upload-repo", repo.URL, "--collection", "code", "--dense-url", emb.URL(), "--dense-model", "test-embed", "--wait")
		if r.code != exitOK || !strings.Contains(r.stdout, "succeeded") {
			t.Fatalf("upload-repo: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	}

	var points uint64
	t.Run("index a repository", func(t *testing.T) {
		index(t)
		points = countPoints(t, st, "code")
		if points == 0 || countPoints(t, st, "code", qdrantstore.Eq(qdrantstore.KeyPath, "go.sum")) != 0 {
			t.Fatalf("%d points; go.sum indexed: %d", points, countPoints(t, st, "code", qdrantstore.Eq(qdrantstore.KeyPath, "go.sum")))
		}
		if emb.Inputs() != int(points)+1 { // every chunk, and one probe for the size
			t.Fatalf("%d inputs embedded for %d points", emb.Inputs(), points)
		}
	})
	t.Run("re-index unchanged: no embedding call", func(t *testing.T) {
		before := emb.Requests()
		index(t)
		if emb.Requests() != before || countPoints(t, st, "code") != points {
			t.Fatalf("requests %d → %d, points %d → %d", before, emb.Requests(), points, countPoints(t, st, "code"))
		}
	})
	t.Run("one file changes", func(t *testing.T) {
		repo.Commit("edit", map[string]string{"ops/shutdown.py": e2ePy + "\n\ndef restart(server):\n    server.restart()\n"})
		inputs := emb.Inputs()
		index(t)
		py := countPoints(t, st, "code", qdrantstore.Eq(qdrantstore.KeyPath, "ops/shutdown.py"))
		if got := emb.Inputs() - inputs; got != int(py) {
			t.Fatalf("%d inputs embedded; the changed file has %d chunks", got, py)
		}
		state, err := st.SourceState(ctx, "code", repo.URL)
		if err != nil || len(state) != 3 || state["ops/shutdown.py"] == "" {
			t.Fatalf("source state %v %v (a stale chunk would leave the path's hash empty)", state, err)
		}
	})
	t.Run("a file is deleted", func(t *testing.T) {
		repo.Commit("rm", map[string]string{"README.md": gittest.Delete})
		index(t)
		if n := countPoints(t, st, "code", qdrantstore.Eq(qdrantstore.KeyPath, "README.md")); n != 0 {
			t.Fatalf("README.md still has %d points", n)
		}
	})
	t.Run("search finds a function by name", func(t *testing.T) {
		r := submitDev(t, ctx, d, "search", "--collection", "code", "--dense-url", emb.URL(), "ParseListenAddress")
		if r.code != exitOK || !strings.Contains(r.stdout, "server/listen.go:") || !strings.Contains(r.stdout, "ParseListenAddress") {
			t.Fatalf("search: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		r = submitDev(t, ctx, d, "search", "--collection", "code", "--output", "json", "shutdown gracefully")
		var hits []struct {
			Path      string `json:"path"`
			StartLine int    `json:"start_line"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &hits); err != nil || len(hits) == 0 || hits[0].Path != "ops/shutdown.py" || hits[0].StartLine != 1 {
			t.Fatalf("search json: %v %s %s", err, r.stdout, r.stderr)
		}
	})
	t.Run("archives", func(t *testing.T) {
		dir := t.TempDir()
		files := map[string]string{"pkg/listen.go": e2eGo, "scripts/shutdown.py": e2ePy}
		zipPath := filepath.Join(dir, "src.zip")
		writeZip(t, zipPath, files)
		tgzPath := filepath.Join(dir, "src.tar.gz")
		writeTarGz(t, tgzPath, files)
		for _, p := range []string{zipPath, tgzPath} {
			// Uploaded to the object store, fetched and checked by the worker.
			r := submitDev(t, ctx, d, "upload-file", p, "--collection", "archives", "--source", filepath.Base(p), "--wait")
			if r.code != exitOK || !strings.Contains(r.stderr, "uploaded ") {
				t.Fatalf("upload-file %s: exit %d\n%s\n%s", filepath.Base(p), r.code, r.stdout, r.stderr)
			}
			state, err := st.SourceState(ctx, "archives", filepath.Base(p))
			if err != nil || len(state) != 2 || state["pkg/listen.go"] == "" || state["scripts/shutdown.py"] == "" {
				t.Fatalf("%s indexed as %v, %v", filepath.Base(p), state, err)
			}
		}
	})
	t.Run("a hostile archive fails the job without retries", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "evil.zip")
		writeZip(t, p, map[string]string{"../../escape.go": e2eGo})
		r := submitDev(t, ctx, d, "upload-file", p, "--collection", "archives", "--wait")
		if r.code != exitFailed || !strings.Contains(r.stdout, "dead") || !strings.Contains(r.stdout, "exit 65") || !strings.Contains(r.stdout, "attempt 1") || strings.Contains(r.stdout, "attempt 2") {
			t.Fatalf("evil.zip: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("collection jobs", func(t *testing.T) {
		r := submitDev(t, ctx, d, "collection", "list")
		if r.code != exitOK || !strings.Contains(r.stdout, `"name": "code"`) || !strings.Contains(r.stdout, `"name": "archives"`) {
			t.Fatalf("collection list: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		r = submitDev(t, ctx, d, "collection", "create", "fresh", "--dense", "8", "--sparse")
		if r.code != exitOK || !strings.Contains(r.stdout, `"size": 8`) {
			t.Fatalf("collection create: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		r = submitDev(t, ctx, d, "collection", "delete", "fresh")
		if r.code != exitOK {
			t.Fatalf("collection delete: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		if ok, err := st.Exists(ctx, "fresh"); err != nil || ok {
			t.Fatalf("fresh exists after delete: %v %v", ok, err)
		}
	})
	t.Run("credentials in a URL are refused and never shown", func(t *testing.T) {
		r := submitDev(t, ctx, d, "job", "upload_repo", "--params", `{"repo_url":"https://bob:hunter2-s3cret@example.com/x.git","collection":"c"}`, "--wait")
		if r.code == exitOK || strings.Contains(r.stdout+r.stderr, "hunter2") {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
}

func writeZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for name, content := range files {
		f, err := w.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(content))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeTarGz(t *testing.T, path string, files map[string]string) {
	t.Helper()
	var b bytes.Buffer
	gz := gzip.NewWriter(&b)
	tw := tar.NewWriter(gz)
	for name, content := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg})
		tw.Write([]byte(content))
	}
	tw.Close()
	gz.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestIndexingWithAnOperatorEndpoint: a job names the operator's
// embedding endpoint (--dense-endpoint); the URL, model and key are the
// dispatcher's, the key reaches the endpoint and nothing else, and search
// resolves the same name from its own environment.
func TestIndexingWithAnOperatorEndpoint(t *testing.T) {
	const key = "sk-operator-endpoint-key"
	repo := gittest.New(t, map[string]string{"server/listen.go": e2eGo})
	emb := embedtest.New(embedtest.Options{Dim: 8, Model: "ops-model", APIKey: key})
	t.Cleanup(emb.Close)
	d := startDev(t, "JETRUN_EMBEDDER_OPS_URL="+emb.URL(), "JETRUN_EMBEDDER_OPS_MODEL=ops-model", "JETRUN_EMBEDDER_OPS_KEY="+key)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	r := submitDev(t, ctx, d, "upload-repo", repo.URL, "--collection", "ops", "--dense-endpoint", "ops", "--wait")
	if r.code != exitOK || !strings.Contains(r.stdout, "succeeded") || emb.Requests() == 0 {
		t.Fatalf("upload-repo --dense-endpoint: exit %d, %d embedding requests\n%s\n%s", r.code, emb.Requests(), r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, key) {
		t.Fatalf("the endpoint's key reached the CLI's output:\n%s\n%s", r.stdout, r.stderr)
	}
	r = submitDev(t, ctx, d, "upload-repo", repo.URL, "--collection", "ops", "--dense-endpoint", "ops", "--dense-model", "other", "--wait")
	if r.code == exitOK || !strings.Contains(r.stdout+r.stderr, "set endpoint alone") {
		t.Fatalf("--dense-endpoint with --dense-model: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = submitDev(t, ctx, d, "search", "--collection", "ops", "--dense-endpoint", "ops", "ParseListenAddress")
	if r.code == exitOK || !strings.Contains(r.stderr, "JETRUN_EMBEDDER_OPS_URL") {
		t.Fatalf("search with an endpoint this process does not know: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	host, port, _ := net.SplitHostPort(d.qdrant)
	env := map[string]string{"QDRANT_HOST": host, "QDRANT_PORT": port,
		"JETRUN_EMBEDDER_OPS_URL": emb.URL(), "JETRUN_EMBEDDER_OPS_MODEL": "ops-model", "JETRUN_EMBEDDER_OPS_KEY": key}
	var out, errb bytes.Buffer
	before := emb.Requests()
	code := run(ctx, []string{"search", "--collection", "ops", "--dense-endpoint", "ops", "--sparse", "none", "ParseListenAddress"},
		func(k string) string { return env[k] }, &out, &errb)
	if code != exitOK || !strings.Contains(out.String(), "server/listen.go:") || emb.Requests() != before+1 {
		t.Fatalf("search --dense-endpoint: exit %d, %d query embeddings\n%s\n%s", code, emb.Requests()-before, out.String(), errb.String())
	}
}
