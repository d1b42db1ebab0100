package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/testimage"
	"github.com/jetrun/jetrun/pkg/client"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsconn"
	dockerclient "github.com/moby/moby/client"
	"github.com/rs/zerolog"
)

// dockerBridge returns the Docker bridge's gateway address (where
// containers reach the host), or skips when no Docker engine answers.
func dockerBridge(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("docker", "network", "inspect", "bridge", "-f", "{{range .IPAM.Config}}{{.Gateway}} {{.Subnet}}{{end}}").Output()
	if err != nil {
		t.Skipf("no Docker engine: %v", err)
	}
	f := strings.Fields(string(out))
	if len(f) == 2 {
		return f[0]
	}
	// No gateway recorded: the bridge's address is the subnet's first one.
	if len(f) == 1 {
		if p, err := netip.ParsePrefix(f[0]); err == nil {
			return p.Masked().Addr().Next().String()
		}
	}
	t.Fatalf("cannot find the Docker bridge's address in %q", out)
	return ""
}

// workerImage builds the worker image (internal/testimage: the
// Dockerfile's worker target around a static worker) under a tag of its
// own, and removes it and its containers at the end.
func workerImage(t testing.TB) string {
	t.Helper()
	cli, err := dockerclient.New(dockerclient.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	tag := fmt.Sprintf("jetrun/worker:test-%08x", rand.Uint32())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := testimage.Worker(ctx, cli, tag); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The job containers of this image first, then the image.
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "ancestor="+tag).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
		exec.Command("docker", "rmi", "-f", tag).Run()
	})
	return tag
}

// dockerDev starts a --dev dispatcher whose default runtime is docker (and
// local as a second one), its servers on the bridge so containers reach them.
func dockerDev(t testing.TB, image string, runtimes string) devAddrs {
	gw := dockerBridge(t)
	return startDevArgs(t, []string{"--runtime", runtimes, "--dev-nats-listen", gw + ":0", "--dev-qdrant-listen", gw + ":0", "--dev-worker-host", gw},
		"WORKER_IMAGE="+image)
}

// TestDockerRuntimeEndToEnd runs jobs as containers of the worker image
// against the host's NATS and embedded vector server, through the real
// dispatcher.
func TestDockerRuntimeEndToEnd(t *testing.T) {
	dockerBridge(t)
	image := workerImage(t)
	d := dockerDev(t, image, "docker")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	r := submitDev(t, ctx, d, "smoke", "--wait", "--progress", "2", "--message", "hello from a container")
	if r.code != exitOK || !strings.Contains(r.stdout, "succeeded") || !strings.Contains(r.stdout, "on docker") {
		t.Fatalf("smoke on docker: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// upload_file: the container fetches the archive from the object store
	// over NATS and writes to the vector server, both on the host.
	p := filepath.Join(t.TempDir(), "src.tar.gz")
	writeTarGz(t, p, map[string]string{"pkg/listen.go": e2eGo, "ops/shutdown.py": e2ePy})
	r = submitDev(t, ctx, d, "upload-file", p, "--collection", "docker", "--source", "src", "--wait")
	if r.code != exitOK {
		t.Fatalf("upload-file on docker: exit %d\n%s\n%s\nworker output:\n%s", r.code, r.stdout, r.stderr, jobLogs(t, ctx, d, r.stderr))
	}
	st := devStore(t, d.qdrant)
	state, err := st.SourceState(ctx, "docker", "src")
	if err != nil || len(state) != 2 {
		t.Fatalf("indexed from a container: %v %v", state, err)
	}
	r = submitDev(t, ctx, d, "search", "--collection", "docker", "ParseListenAddress")
	if r.code != exitOK || !strings.Contains(r.stdout, "pkg/listen.go:") {
		t.Fatalf("search: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Finished job containers stay (for logs and adoption) until the
	// dispatcher's janitor prunes them; none may still be running.
	out, _ := exec.Command("docker", "ps", "-q", "--filter", "ancestor="+image).Output()
	if ids := strings.TrimSpace(string(out)); ids != "" {
		t.Errorf("containers still running: %s", ids)
	}
}

// TestDockerJobSurvivesADispatcherSIGKILL: a dispatcher killed while its
// container runs is replaced by another on the same data (queue, records);
// the new one adopts the container by name and records its result.
func TestDockerJobSurvivesADispatcherSIGKILL(t *testing.T) {
	gw := dockerBridge(t)
	image := workerImage(t)
	data := t.TempDir()
	// A short ack wait: the new dispatcher gets the job once the old one
	// has not heartbeaten for that long.
	args := []string{"--runtime", "docker", "--ack-wait", "5s", "--data-dir", data, "--dev-nats-listen", gw + ":0", "--dev-qdrant-listen", gw + ":0", "--dev-worker-host", gw}
	d := startDevArgs(t, args, "WORKER_IMAGE="+image)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := submitDev(t, ctx, d, "smoke", "--sleep", "6s", "--id", "adopt-me")
	if r.code != exitOK {
		t.Fatalf("submit: %d %s", r.code, r.stderr)
	}
	// Kill the dispatcher (and its embedded NATS) once the container runs.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _ := exec.Command("docker", "ps", "-q", "--filter", "name=jetrun-adopt-me-a1").Output()
		if strings.TrimSpace(string(out)) != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job's container never started")
		}
	}
	d.proc.Signal(syscall.SIGKILL)
	d.proc.Wait()

	d2 := startDevArgs(t, args, "WORKER_IMAGE="+image)
	r = submitDev(t, ctx, d2, "watch", "adopt-me")
	if r.code != exitOK || !strings.Contains(r.stdout, "succeeded") {
		t.Fatalf("after the SIGKILL: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	st := submitDev(t, ctx, d2, "status", "adopt-me", "--output", "json")
	var rec messages.Record
	if err := json.Unmarshal([]byte(st.stdout), &rec); err != nil || rec.Attempt != 1 || rec.Handle == nil || rec.Handle.Name != "jetrun-adopt-me-a1" {
		t.Fatalf("record after adoption: %+v %v (one attempt, the same container)", rec, err)
	}
}

// BenchmarkRuntimeLatency: publish → running, and publish → succeeded, of
// smoke jobs on the docker and the local runtime of one dispatcher, in the
// same run, one job at a time.
//
//	go test -run XXX -bench RuntimeLatency -benchtime 1x ./cmd/submit/
func BenchmarkRuntimeLatency(b *testing.B) {
	image := workerImage(b)
	d := dockerDev(b, image, "local,docker")
	opts := natsconn.Options{URLs: []string{d.nats}}
	nc, err := opts.Connect(zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	c, err := client.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	const jobs = 30
	type lat struct{ running, done []time.Duration }
	results := map[string]*lat{"local": {}, "docker": {}}
	for i := range 2 * jobs {
		rt := []string{"local", "docker"}[i%2]
		t0 := time.Now()
		id, err := c.Submit(ctx, messages.Submission{Kind: "smoke", Runtime: rt, Params: []byte(`{}`)})
		if err != nil {
			b.Fatal(err)
		}
		var running time.Duration
		last, err := c.Watch(ctx, id, func(ev messages.Event) error {
			if ev.Type == messages.EventRunning && running == 0 {
				running = time.Since(t0)
			}
			return nil
		})
		if err != nil || last.Type != messages.EventSucceeded {
			b.Fatalf("%s job %s: %v %v", rt, id, last.Type, err)
		}
		results[rt].running = append(results[rt].running, running)
		results[rt].done = append(results[rt].done, time.Since(t0))
	}
	pct := func(ds []time.Duration, p float64) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[int(p*float64(len(s)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(results["docker"].running, 0.5), "docker-running-p50-ms")
	b.ReportMetric(pct(results["local"].running, 0.5), "local-running-p50-ms")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("\nsmoke jobs, one at a time, %d per runtime, same dispatcher and run:\n\n| runtime | publish → running p50 / p99 | publish → succeeded p50 / p99 |\n|---|---|---|\n", jobs)
	for _, rt := range []string{"local", "docker"} {
		r := results[rt]
		fmt.Printf("| %s | %.0f / %.0f ms | %.0f / %.0f ms |\n", rt, pct(r.running, 0.5), pct(r.running, 0.99), pct(r.done, 0.5), pct(r.done, 0.99))
	}
}

// jobLogs fetches the output of the job submit announced on stderr.
func jobLogs(t testing.TB, ctx context.Context, d devAddrs, stderr string) string {
	_, rest, ok := strings.Cut(stderr, " job ")
	if !ok {
		return "(no job id)"
	}
	id := strings.Fields(rest)[0]
	r := submitDev(t, ctx, d, "logs", id)
	return r.stdout + r.stderr
}
