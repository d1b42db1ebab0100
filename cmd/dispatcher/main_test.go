package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
)

func TestUsageNamesEnvAndHidesSecrets(t *testing.T) {
	env := map[string]string{"NATS_PASSWORD": "hunter2-s3cret", "NATS_TOKEN": "tok-s3cret", "QDRANT_API_KEY": "qd-s3cret"}
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--help"}, func(k string) string { return env[k] }, &out, &errb)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	usage := errb.String()
	for _, want := range []string{"(env RUNTIME_BACKEND)", "(env MAX_RETRIES)", "(env JOB_TIMEOUT)", "(env WORKER_IMAGE)",
		"(env NATS_URL)", "(env NATS_PASSWORD)", "(env JETRUN_CONCURRENCY)", "--dev", "(env QDRANT_HOST)", "(env QDRANT_API_KEY)", "-dev-qdrant-listen"} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
	for _, secret := range []string{"hunter2-s3cret", "tok-s3cret", "qd-s3cret"} {
		if strings.Contains(usage, secret) {
			t.Errorf("usage shows the secret %q", secret)
		}
	}
}

func TestBadConfigurationFailsClearly(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown runtime", []string{"--runtime", "mainframe", "--data-dir", "DIR", "--http-addr", ""}, "unknown runtime"},
		{"bad prefix", []string{"--prefix", "Bad.Prefix", "--data-dir", "DIR"}, "prefix"},
		{"bad log level", []string{"--log-level", "loud", "--data-dir", "DIR"}, "--log-level"},
		{"stray argument", []string{"extra"}, "unexpected argument"},
		{"bad Qdrant port", []string{"--qdrant-port", "99999", "--data-dir", "DIR", "--http-addr", ""}, "port"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, a := range tc.args {
				if a == "DIR" {
					tc.args[i] = dir
				}
			}
			var out, errb bytes.Buffer
			err := run(context.Background(), tc.args, func(string) string { return "" }, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the dispatcher goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devRun runs `dispatcher --dev` in-process on free ports and returns the
// embedded Qdrant-compatible server's address from the banner.
func devRun(t *testing.T, dataDir string, env map[string]string) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan error, 1)
	args := []string{"--dev", "--data-dir", dataDir, "--dev-nats-listen", "127.0.0.1:0", "--dev-qdrant-listen", "127.0.0.1:0", "--http-addr", "", "--log-format", "json"}
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, &out, &errb) }()
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dispatcher: %v\n%s", err, errb.String())
		}
	}
	re := regexp.MustCompile(`Qdrant \(embedded, gRPC\):\s+(127\.0\.0\.1:\d+)`)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], stop
		}
		select {
		case err := <-done:
			t.Fatalf("dispatcher exited: %v\n%s", err, errb.String())
		default:
		}
	}
	stop()
	t.Fatalf("no Qdrant address in the banner:\n%s\n%s", out.String(), errb.String())
	return "", nil
}

func TestHealthProbe(t *testing.T) {
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		io.WriteString(w, "ready\n")
	}))
	defer ready.Close()
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not ready: not consuming", http.StatusServiceUnavailable)
	}))
	defer notReady.Close()
	var out bytes.Buffer
	none := func(string) string { return "" }
	if err := run(context.Background(), []string{"health", strings.TrimPrefix(ready.URL, "http://")}, none, &out, &out); err != nil || out.String() != "ready\n" {
		t.Fatalf("ready: %v %q", err, out.String())
	}
	if err := run(context.Background(), []string{"health", strings.TrimPrefix(notReady.URL, "http://")}, none, &out, &out); err == nil || !strings.Contains(err.Error(), "not consuming") {
		t.Fatalf("not ready: %v", err)
	}
	if err := run(context.Background(), []string{"health", "127.0.0.1:1"}, none, &out, &out); err == nil {
		t.Fatal("nothing listening: no error")
	}
}

func TestDevServesTheEmbeddedVectorServer(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"WORKER_BIN": "/bin/true", "QDRANT_API_KEY": "dev-key-123"}
	connect := func(addr, key string) *qdrant.Client {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		c, err := qdrant.NewClient(&qdrant.Config{Host: host, Port: p, APIKey: key, SkipCompatibilityCheck: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ctx := context.Background()

	addr, stop := devRun(t, dir, env)
	c := connect(addr, "dev-key-123")
	if h, err := c.HealthCheck(ctx); err != nil || !strings.HasPrefix(h.GetVersion(), "1.17.") {
		t.Fatalf("health check: %v %v", h, err)
	}
	if err := c.CreateCollection(ctx, &qdrant.CreateCollection{CollectionName: "kept", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Cosine})}); err != nil {
		t.Fatal(err)
	}
	// QDRANT_API_KEY is enforced by the embedded server too.
	if _, err := connect(addr, "").ListCollections(ctx); err == nil || !strings.Contains(err.Error(), "code = Unauthenticated") {
		t.Fatalf("no key: %v", err)
	}
	stop()

	// The data lives under --data-dir and survives a restart.
	if _, err := os.Stat(filepath.Join(dir, "qdrant", "qdrantlite.db")); err != nil {
		t.Fatal(err)
	}
	addr, stop = devRun(t, dir, env)
	defer stop()
	names, err := connect(addr, "dev-key-123").ListCollections(ctx)
	if err != nil || strings.Join(names, ",") != "kept" {
		t.Fatalf("after restart: %v %v", names, err)
	}
}
