package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/testbin"
	"github.com/jetrun/jetrun/pkg/messages"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// devDispatcher runs the real `dispatcher --dev` binary, as the README's
// first terminal does, and returns the NATS URL it prints.
func devDispatcher(t *testing.T) string {
	t.Helper()
	return startDev(t).nats
}

// devAddrs are the addresses a --dev dispatcher prints.
type devAddrs struct {
	nats   string // nats://127.0.0.1:PORT
	qdrant string // 127.0.0.1:PORT
	proc   *os.Process
}

func startDev(t testing.TB, extraEnv ...string) devAddrs {
	t.Helper()
	return startDevArgs(t, nil, extraEnv...)
}

// startDevArgs is startDev with extra dispatcher flags (they override the
// defaults) and environment.
func startDevArgs(t testing.TB, extraArgs []string, extraEnv ...string) devAddrs {
	t.Helper()
	bin, err := testbin.Path("dispatcher")
	if err != nil {
		t.Fatal(err)
	}
	worker, err := testbin.Path("worker")
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--dev", "--data-dir", t.TempDir(), "--dev-nats-listen", "127.0.0.1:0", "--dev-qdrant-listen", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, extraArgs...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(append(os.Environ(), "WORKER_BIN="+worker), extraEnv...)
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("dispatcher stderr:\n%s", stderr.String())
		}
	})
	reN := regexp.MustCompile(`NATS \(embedded, JetStream\):\s+(nats://\S+)`)
	reQ := regexp.MustCompile(`Qdrant \(embedded, gRPC\):\s+(\S+)`)
	addrs := devAddrs{proc: cmd.Process}
	sc := bufio.NewScanner(stdout)
	for addrs.qdrant == "" && sc.Scan() {
		if m := reN.FindStringSubmatch(sc.Text()); m != nil {
			addrs.nats = m[1]
		} else if m := reQ.FindStringSubmatch(sc.Text()); m != nil {
			addrs.qdrant = m[1]
		}
	}
	if addrs.nats == "" || addrs.qdrant == "" {
		t.Fatalf("dispatcher --dev printed no NATS URL or Qdrant address; stderr:\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	// Ready once it has announced itself.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r := submit(t, context.Background(), addrs.nats, "dispatchers", "--output", "json"); r.code == exitOK && r.stdout != "[]\n" {
			return addrs
		}
	}
	t.Fatalf("dispatcher --dev never became ready; stderr:\n%s", stderr.String())
	return addrs
}

type result struct {
	code           int
	stdout, stderr string
}

func submit(t testing.TB, ctx context.Context, url string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	env := map[string]string{"NATS_URL": url}
	code := run(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func TestSubmitAgainstDevDispatcher(t *testing.T) {
	url := devDispatcher(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	t.Run("smoke --wait succeeds", func(t *testing.T) {
		r := submit(t, ctx, url, "smoke", "--wait", "--progress", "3", "--sleep", "300ms", "--message", "hello", "--id", "ok-1")
		if r.code != exitOK {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{"accepted", "started", "running", "3/3 steps", "succeeded"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("output lacks %q:\n%s", want, r.stdout)
			}
		}
	})
	t.Run("smoke --wait fails", func(t *testing.T) {
		r := submit(t, ctx, url, "smoke", "--wait", "--exit-code", "3", "--max-retries", "0", "--id", "bad-1")
		if r.code != exitFailed || !strings.Contains(r.stdout, "dead") || !strings.Contains(r.stdout, "exit code 3") {
			t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("json output", func(t *testing.T) {
		r := submit(t, ctx, url, "smoke", "--wait", "--output", "json", "--id", "json-1")
		if r.code != exitOK {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		var last messages.Event
		for _, l := range lines {
			if err := json.Unmarshal([]byte(l), &last); err != nil {
				t.Fatalf("not JSON lines: %q", l)
			}
		}
		if last.Type != messages.EventSucceeded || last.JobID != "json-1" {
			t.Fatalf("last event = %+v", last)
		}
	})
	t.Run("status", func(t *testing.T) {
		r := submit(t, ctx, url, "status", "bad-1", "--output", "json")
		var rec messages.Record
		if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &rec) != nil || rec.State != messages.StateDead {
			t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		if r := submit(t, ctx, url, "status", "no-such-job"); r.code != exitError || !strings.Contains(r.stderr, "not found") {
			t.Fatalf("unknown job: exit %d: %s", r.code, r.stderr)
		}
	})
	t.Run("list", func(t *testing.T) {
		r := submit(t, ctx, url, "list", "--state", "dead")
		if r.code != exitOK || !strings.Contains(r.stdout, "bad-1") || strings.Contains(r.stdout, "ok-1") {
			t.Fatalf("exit %d:\n%s", r.code, r.stdout)
		}
	})
	t.Run("logs", func(t *testing.T) {
		r := submit(t, ctx, url, "logs", "ok-1")
		if r.code != exitOK || !strings.Contains(r.stdout, "hello") || !strings.Contains(r.stdout, "progress 3/3") {
			t.Fatalf("exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("cancel --wait", func(t *testing.T) {
		if r := submit(t, ctx, url, "smoke", "--sleep", "5m", "--id", "long-1"); r.code != exitOK {
			t.Fatalf("submit: %d %s", r.code, r.stderr)
		}
		r := submit(t, ctx, url, "cancel", "long-1", "--wait")
		if r.code != exitCancelled || !strings.Contains(r.stdout, "cancelled") {
			t.Fatalf("exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
		}
	})
	t.Run("watch --all --webhook", func(t *testing.T) {
		var mu sync.Mutex
		var got []messages.Event
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var ev messages.Event
			json.NewDecoder(r.Body).Decode(&ev)
			mu.Lock()
			got = append(got, ev)
			mu.Unlock()
		}))
		defer hook.Close()
		wctx, stop := context.WithCancel(ctx)
		done := make(chan result, 1)
		go func() {
			done <- submit(t, wctx, url, "watch", "--all", "--type", "failed,dead", "--webhook", hook.URL+"/alerts?token=s3cret")
		}()
		time.Sleep(500 * time.Millisecond) // the watcher follows new events only
		submit(t, ctx, url, "smoke", "--exit-code", "1", "--max-retries", "0", "--id", "alert-1")
		submit(t, ctx, url, "smoke", "--id", "fine-1", "--wait")
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := len(got)
			mu.Unlock()
			if n >= 2 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop()
		r := <-done
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 2 || got[0].Type != messages.EventFailed || got[1].Type != messages.EventDead || got[1].JobID != "alert-1" {
			t.Fatalf("webhook got %+v", got)
		}
		if r.code != exitOK || strings.Contains(r.stderr, "s3cret") {
			t.Fatalf("watch exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("dispatchers", func(t *testing.T) {
		r := submit(t, ctx, url, "dispatchers", "--output", "json")
		var ds []messages.Dispatcher
		if r.code != exitOK || json.Unmarshal([]byte(r.stdout), &ds) != nil || len(ds) != 1 || ds[0].Default != "local" {
			t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		if r := submit(t, ctx, url, "dispatchers"); r.code != exitOK || !strings.Contains(r.stdout, "local (local)") {
			t.Fatalf("exit %d:\n%s", r.code, r.stdout)
		}
	})
	t.Run("usage", func(t *testing.T) {
		if r := submit(t, ctx, url, "frobnicate"); r.code != exitUsage {
			t.Fatalf("exit %d", r.code)
		}
		if r := submit(t, ctx, url, "smoke", "--exit-code", "999"); r.code != exitUsage {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})
}

func TestUnreachableNATS(t *testing.T) {
	r := submit(t, context.Background(), "nats://127.0.0.1:1", "smoke")
	if r.code != exitError || !strings.Contains(r.stderr, "connect to NATS") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
}
