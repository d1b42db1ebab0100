package docker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/rs/zerolog"

	"github.com/jetrun/jetrun/internal/testimage"
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/docker"
	"github.com/jetrun/jetrun/pkg/runtimes/runtimetest"
)

// The image every test runs: built once per test binary, FROM scratch, by
// deployments/docker/Dockerfile (target worker) from a static worker.
const testImage = "jetrun/worker:test"

// labelTestRun marks the containers of one test binary's run, so that the
// tests (and their clean-up) never touch anything else on the daemon.
const labelTestRun = "jetrun.io/test-run"

var (
	runID = func() string { b := make([]byte, 6); rand.Read(b); return hex.EncodeToString(b) }()

	setupOnce sync.Once
	setupErr  error
	daemon    *client.Client // the tests' own client, for looking behind the runtime's back
	usedOnce  bool
)

func TestMain(m *testing.M) {
	code := m.Run()
	if usedOnce {
		if err := cleanupRun(); err != nil {
			fmt.Fprintln(os.Stderr, "docker tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// needDocker skips the test if no Docker daemon answers, and builds the
// test image once.
func needDocker(t *testing.T) {
	t.Helper()
	setupOnce.Do(func() {
		cli, err := client.New(client.FromEnv)
		if err != nil {
			setupErr = fmt.Errorf("skip: docker client: %w", err)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
			setupErr = fmt.Errorf("skip: no Docker daemon answers at %s (%v): the Docker runtime's tests need one", cli.DaemonHost(), err)
			return
		}
		daemon = cli
		usedOnce = true
		begin := time.Now()
		bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer bcancel()
		if setupErr = testimage.Worker(bctx, cli, testImage); setupErr == nil {
			fmt.Fprintf(os.Stderr, "docker tests: built %s in %s (run %s)\n", testImage, time.Since(begin).Round(time.Millisecond), runID)
		}
	})
	if setupErr != nil {
		if msg, ok := strings.CutPrefix(setupErr.Error(), "skip: "); ok {
			t.Skip(msg)
		}
		t.Fatal(setupErr)
	}
}

// runFilter selects the containers of this test run.
func runFilter() client.Filters {
	return make(client.Filters).Add("label", labelTestRun+"="+runID)
}

// cleanupRun prunes the finished containers of this run with the
// runtime's own Prune; anything left (running, or created and never
// started) was leaked by a test: it is reported and removed.
func cleanupRun() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rt, err := docker.New(ctx, docker.Config{Labels: map[string]string{labelTestRun: runID}}, zerolog.Nop())
	if err != nil {
		return err
	}
	defer rt.Close()
	n, err := rt.Prune(time.Now().Add(time.Second))
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "docker tests: pruned %d finished containers of run %s\n", n, runID)
	list, err := daemon.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: runFilter()})
	if err != nil {
		return err
	}
	var left []string
	for _, c := range list.Items {
		left = append(left, fmt.Sprintf("%v (%s)", c.Names, c.State))
		daemon.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
	if len(left) > 0 {
		return fmt.Errorf("containers left behind by the tests: %v", left)
	}
	return nil
}

// newRuntime opens a runtime whose containers carry this run's label
// (and extra labels, if any).
func newRuntime(t *testing.T, mod func(*docker.Config)) *docker.Runtime {
	t.Helper()
	return newRuntimeLog(t, zerolog.Nop(), mod)
}

func newRuntimeLog(t *testing.T, log zerolog.Logger, mod func(*docker.Config)) *docker.Runtime {
	t.Helper()
	needDocker(t)
	cfg, err := docker.ConfigFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Image = testImage
	cfg.Grace = time.Second
	cfg.Labels = map[string]string{labelTestRun: runID}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := docker.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func TestConformance(t *testing.T) {
	needDocker(t)
	runtimetest.Run(t, func(t *testing.T) runtimetest.Harness {
		rt := newRuntime(t, nil)
		return runtimetest.Harness{
			Runtime:   rt,
			Reopen:    func(t *testing.T) runtimes.Runtime { return newRuntime(t, nil) },
			Image:     testImage,
			Timeout:   90 * time.Second,
			CheckGone: checkGone,
		}
	})
}

// checkGone fails if the handle's container still runs. After Stop it is
// removed; after the runtime's own timeout it stays, exited, holding the
// result and the logs until Prune.
func checkGone(t *testing.T, h runtimes.Handle) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		c, err := daemon.ContainerInspect(ctx, h.Name, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return
		}
		if err != nil {
			t.Fatalf("inspect %s: %v", h.Name, err)
		}
		s := c.Container.State
		if !s.Running && (s.Status == container.StateExited || s.Status == container.StateDead) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("container %s is still %s", h.Name, s.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func inspect(t *testing.T, name string) container.InspectResponse {
	t.Helper()
	c, err := daemon.ContainerInspect(context.Background(), name, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect %s: %v", name, err)
	}
	return c.Container
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func smokeSpec(rt runtimes.Runtime, p jobs.SmokeParams, res runtimes.Resources) runtimes.Spec {
	h := runtimetest.Harness{Runtime: rt, Image: testImage}
	spec := h.Spec(p, res.Timeout)
	spec.Resources = res
	return spec
}

func stopLater(t *testing.T, rt runtimes.Runtime, h runtimes.Handle) {
	t.Cleanup(func() { rt.Stop(context.Background(), h, 0) })
}

// The container carries the spec: name, command, labels, resources,
// environment, network; the handle names the daemon.
func TestContainerSpec(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	spec := smokeSpec(rt, jobs.SmokeParams{Sleep: "30s", Message: "ready"},
		runtimes.Resources{CPUMilli: 500, MemoryBytes: 96 << 20, Timeout: time.Minute})
	spec.Kind = "smoke"
	spec.Labels["team"] = "search"
	spec.Env["PLAIN_VAR"] = "plain"
	spec.Secrets = map[string]string{"SECRET_VAR": "s3cret"}
	h, err := rt.Start(ctxT(t, time.Minute), spec)
	if err != nil {
		t.Fatal(err)
	}
	stopLater(t, rt, h)
	c := inspect(t, spec.Handle.Name)
	if h.Name != spec.Handle.Name || h.ID != c.ID || h.Node == "" || h.Node != rt.Node() {
		t.Errorf("handle = %+v; container id %s, node %s", h, c.ID, rt.Node())
	}
	if c.Name != "/"+spec.Handle.Name {
		t.Errorf("container name %q", c.Name)
	}
	if got := c.HostConfig.NanoCPUs; got != 500_000_000 {
		t.Errorf("NanoCPUs = %d, want 5e8", got)
	}
	if got := c.HostConfig.Memory; got != 96<<20 {
		t.Errorf("Memory = %d, want %d", got, 96<<20)
	}
	if c.HostConfig.AutoRemove || c.HostConfig.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("auto-remove %v, restart policy %q", c.HostConfig.AutoRemove, c.HostConfig.RestartPolicy.Name)
	}
	if !slices.Equal(c.Config.Cmd, spec.Command) || !slices.Equal(c.Config.Entrypoint, []string{"/worker"}) {
		t.Errorf("entrypoint %q cmd %q, want [/worker] %q", c.Config.Entrypoint, c.Config.Cmd, spec.Command)
	}
	if c.Config.User != "65532:65532" {
		t.Errorf("user %q, want the image's 65532:65532", c.Config.User)
	}
	want := map[string]string{
		runtimes.LabelJobID:   spec.JobID,
		runtimes.LabelAttempt: "1",
		runtimes.LabelKind:    "smoke",
		docker.LabelManagedBy: docker.ManagedBy,
		docker.LabelTimeout:   "1m0s",
		labelTestRun:          runID,
		"team":                "search",
		"suite":               "runtimetest",
	}
	for k, v := range want {
		if c.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Config.Labels[k], v)
		}
	}
	// Secrets travel as environment: docker inspect shows them to whoever
	// holds the socket (see the package doc).
	for _, kv := range []string{"PLAIN_VAR=plain", "SECRET_VAR=s3cret", jobs.EnvJobID + "=" + spec.JobID} {
		if !slices.Contains(c.Config.Env, kv) {
			t.Errorf("env lacks %s: %q", kv, c.Config.Env)
		}
	}
	if !slices.Contains(c.HostConfig.CapDrop, "ALL") && !slices.Contains(c.HostConfig.CapDrop, "CAP_ALL") {
		t.Errorf("CapDrop = %q", c.HostConfig.CapDrop)
	}
	if nm := string(c.HostConfig.NetworkMode); nm != "default" && nm != "bridge" && nm != "" {
		t.Errorf("network mode %q, want the default bridge", nm)
	}
}

// DOCKER_NETWORK attaches containers to that network.
func TestNetwork(t *testing.T) {
	t.Parallel()
	needDocker(t)
	name := "jetrun-test-" + runID
	ctx := ctxT(t, time.Minute)
	if _, err := daemon.NetworkCreate(ctx, name, client.NetworkCreateOptions{Labels: map[string]string{labelTestRun: runID}}); err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t, func(c *docker.Config) { c.Network = name })
	spec := smokeSpec(rt, jobs.SmokeParams{}, runtimes.Resources{Timeout: time.Minute})
	h, err := rt.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(ctx, h); err != nil {
		t.Fatal(err)
	}
	c := inspect(t, h.Name)
	if string(c.HostConfig.NetworkMode) != name {
		t.Errorf("network mode %q, want %q", c.HostConfig.NetworkMode, name)
	}
	if _, ok := c.NetworkSettings.Networks[name]; !ok {
		t.Errorf("container not attached to %s: %v", name, c.NetworkSettings.Networks)
	}
	daemon.ContainerRemove(ctx, h.Name, client.ContainerRemoveOptions{Force: true})
	if _, err := daemon.NetworkRemove(ctx, name, client.NetworkRemoveOptions{}); err != nil {
		t.Error(err)
	}

	_, err = docker.New(ctx, docker.Config{Network: "jetrun-no-such-network-" + runID}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "DOCKER_NETWORK") {
		t.Errorf("New with a missing network: %v, want an error naming DOCKER_NETWORK", err)
	}
}

// Stop removes a running container; the daemon no longer knows it.
func TestStopRemoves(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	spec := smokeSpec(rt, jobs.SmokeParams{Sleep: "5m"}, runtimes.Resources{Timeout: time.Hour})
	ctx := ctxT(t, time.Minute)
	h, err := rt.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	stopLater(t, rt, h)
	if err := rt.Stop(ctx, h, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.ContainerInspect(ctx, h.Name, client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("container still there after Stop: %v", err)
	}
	if st, err := rt.Inspect(ctx, h); err != nil || st.Phase != runtimes.PhaseNotFound {
		t.Fatalf("Inspect after Stop = %+v, %v", st, err)
	}
	if _, err := rt.Logs(ctx, h, runtimes.LogOptions{}); !errors.Is(err, runtimes.ErrNotFound) {
		t.Fatalf("Logs after Stop: %v, want ErrNotFound", err)
	}
}

// A missing image that cannot be pulled fails Start clearly, within the
// start timeout, and creates nothing.
func TestMissingImage(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, func(c *docker.Config) { c.StartTimeout = 5 * time.Second })
	spec := smokeSpec(rt, jobs.SmokeParams{}, runtimes.Resources{Timeout: time.Minute})
	spec.Image = "jetrun/worker:nope"
	begin := time.Now()
	_, err := rt.Start(ctxT(t, time.Minute), spec)
	if err == nil {
		t.Fatal("Start with a missing image succeeded")
	}
	t.Logf("Start: %v (after %s)", err, time.Since(begin).Round(time.Millisecond))
	if !strings.Contains(err.Error(), "image jetrun/worker:nope not found and cannot be pulled") {
		t.Errorf("error %q does not say the image is missing", err)
	}
	if errors.Is(err, runtimes.ErrInvalidSpec) {
		t.Errorf("a pull failure must be retried, not permanent: %v", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("Start took %s, start timeout 5s", d)
	}
	if st, err := rt.Inspect(ctxT(t, time.Minute), spec.Handle); err != nil || st.Phase != runtimes.PhaseNotFound {
		t.Errorf("Inspect after a failed pull = %+v, %v; want not_found", st, err)
	}
}

// A registry that never answers: the pull is abandoned at the start
// timeout.
func TestPullTimeout(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // accept, never answer
		}
	}()
	rt := newRuntime(t, func(c *docker.Config) { c.StartTimeout = 2 * time.Second })
	spec := smokeSpec(rt, jobs.SmokeParams{}, runtimes.Resources{Timeout: time.Minute})
	spec.Image = ln.Addr().String() + "/jetrun/worker:hang"
	begin := time.Now()
	_, err = rt.Start(ctxT(t, time.Minute), spec)
	took := time.Since(begin)
	t.Logf("Start: %v (after %s)", err, took.Round(time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "not found and cannot be pulled") || !strings.Contains(err.Error(), "timed out after 2s") {
		t.Fatalf("Start = %v, want a pull timeout", err)
	}
	if took > 8*time.Second {
		t.Errorf("Start took %s with a start timeout of 2s", took)
	}
}

// Pulls carry the registry credentials of config.json, and no error or
// log line repeats them.
func TestPullUsesRegistryAuth(t *testing.T) {
	t.Parallel()
	const user, password = "puller", "pa55-s3cret-word"
	var mu sync.Mutex
	var seen []string
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		u, p, ok := r.BasicAuth()
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s auth=%v", r.Method, r.URL.Path, ok))
		mu.Unlock()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="jetrun-test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
	}))
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`{"auths":{"http://%s":{"auth":%q}}}`, host, b64(user+":"+password))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	rt := newRuntimeLog(t, zerolog.New(&logs).Level(zerolog.DebugLevel), func(c *docker.Config) {
		c.ConfigDir = dir
		c.StartTimeout = 20 * time.Second
	})
	spec := smokeSpec(rt, jobs.SmokeParams{}, runtimes.Resources{Timeout: time.Minute})
	spec.Image = host + "/jetrun/worker:private"
	_, err := rt.Start(ctxT(t, time.Minute), spec)
	if err == nil || !strings.Contains(err.Error(), "not found and cannot be pulled") {
		t.Fatalf("Start = %v, want the registry's manifest unknown", err)
	}
	t.Logf("Start: %v", err)
	mu.Lock()
	defer mu.Unlock()
	if !slices.ContainsFunc(seen, func(s string) bool { return strings.Contains(s, "/manifests/private auth=true") }) {
		t.Errorf("the registry never got the credentials: %q", seen)
	}
	for _, s := range []string{err.Error(), logs.String()} {
		if strings.Contains(s, password) || strings.Contains(s, b64(user+":"+password)) {
			t.Errorf("the registry password leaked: %s", s)
		}
	}
}

// Secrets reach the worker but no log line of the runtime, no error and
// not the worker's output.
func TestSecretsNotLogged(t *testing.T) {
	t.Parallel()
	const secret = "very-s3cret-value-42"
	var logs syncBuffer
	rt := newRuntimeLog(t, zerolog.New(&logs).Level(zerolog.DebugLevel), nil)
	ctx := ctxT(t, time.Minute)
	spec := smokeSpec(rt, jobs.SmokeParams{}, runtimes.Resources{Timeout: time.Minute})
	spec.Command = append(spec.Command, "--digest-env=API_KEY")
	spec.Secrets = map[string]string{"API_KEY": secret}
	h, err := rt.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	st, err := rt.Wait(ctx, h)
	if err != nil || st.Phase != runtimes.PhaseSucceeded {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	out := readLogs(t, rt, h)
	if !strings.Contains(out, "API_KEY sha256:") {
		t.Errorf("the worker did not see the secret:\n%s", out)
	}
	// A failing start with the same secrets.
	bad := smokeSpec(rt, jobs.SmokeParams{}, runtimes.Resources{Timeout: time.Minute})
	bad.Image = "jetrun/worker:missing"
	bad.Secrets = spec.Secrets
	_, err = rt.Start(ctx, bad)
	if err == nil {
		t.Fatal("Start with a missing image succeeded")
	}
	for what, s := range map[string]string{"worker output": out, "runtime log": logs.String(), "error": err.Error(), "status": fmt.Sprint(st)} {
		if strings.Contains(s, secret) {
			t.Errorf("secret leaked into the %s: %s", what, s)
		}
	}
}

// A container created but never started (its dispatcher died in between)
// is started by the next Start; one left created beyond the start timeout
// is reported failed and never started late.
func TestCreatedNeverStarted(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, time.Minute)
	create := func(spec runtimes.Spec) {
		t.Helper()
		_, err := daemon.ContainerCreate(ctx, client.ContainerCreateOptions{Name: spec.Handle.Name, Config: &container.Config{
			Image: testImage, Cmd: spec.Command,
			Labels: map[string]string{docker.LabelManagedBy: docker.ManagedBy, labelTestRun: runID},
		}})
		if err != nil {
			t.Fatal(err)
		}
	}

	spec := smokeSpec(rt, jobs.SmokeParams{Message: "started-late"}, runtimes.Resources{Timeout: time.Minute})
	create(spec)
	if st, err := rt.Inspect(ctx, spec.Handle); err != nil || st.Phase != runtimes.PhasePending {
		t.Fatalf("Inspect(created) = %+v, %v; want pending", st, err)
	}
	followed := make(chan string, 1)
	go func() {
		// Following a pending container waits for it to start.
		rc, err := rt.Logs(ctx, spec.Handle, runtimes.LogOptions{Follow: true})
		if err != nil {
			followed <- err.Error()
			return
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		followed <- fmt.Sprintf("%s(err %v)", b, err)
	}()
	time.Sleep(300 * time.Millisecond)
	h, err := rt.Start(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := rt.Wait(ctx, h); err != nil || st.Phase != runtimes.PhaseSucceeded {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	if out := readLogs(t, rt, h); strings.Count(out, "started-late") != 1 {
		t.Fatalf("logs: %q", out)
	}
	if out := <-followed; out != "started-late\n(err <nil>)" {
		t.Fatalf("followed logs: %q", out)
	}

	short := newRuntime(t, func(c *docker.Config) { c.StartTimeout = time.Second })
	stale := smokeSpec(short, jobs.SmokeParams{Message: "never"}, runtimes.Resources{Timeout: time.Minute})
	create(stale)
	t.Cleanup(func() {
		daemon.ContainerRemove(context.Background(), stale.Handle.Name, client.ContainerRemoveOptions{Force: true})
	})
	time.Sleep(1500 * time.Millisecond)
	st, err := short.Wait(ctx, stale.Handle)
	if err != nil || st.Phase != runtimes.PhaseFailed || !strings.Contains(st.Reason, "never started") {
		t.Fatalf("Wait(stale created) = %+v, %v; want failed, never started", st, err)
	}
	if _, err := short.Start(ctx, stale); err != nil {
		t.Fatal(err)
	}
	if c := inspect(t, stale.Handle.Name); c.State.Status != container.StateCreated {
		t.Fatalf("a stale created container was started: %s", c.State.Status)
	}
}

// A container the daemon cannot start: Start says why, Inspect reports it
// failed with the daemon's reason, Prune removes it.
func TestStartFailure(t *testing.T) {
	t.Parallel()
	needDocker(t)
	const badImage = "jetrun/test-no-entrypoint:test"
	bctx, err := testimage.Context(testimage.File{Name: "Dockerfile", Mode: 0o644, Data: []byte("FROM scratch\nENTRYPOINT [\"/nope\"]\n")})
	if err != nil {
		t.Fatal(err)
	}
	if err := testimage.Build(ctxT(t, 5*time.Minute), daemon, bctx, "", badImage); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		daemon.ImageRemove(context.Background(), badImage, client.ImageRemoveOptions{PruneChildren: true})
	})
	rt := newRuntime(t, func(c *docker.Config) { c.Labels["jetrun.io/test-case"] = "start-failure" })
	ctx := ctxT(t, time.Minute)
	spec := smokeSpec(rt, jobs.SmokeParams{}, runtimes.Resources{Timeout: time.Minute})
	spec.Image = badImage
	_, err = rt.Start(ctx, spec)
	if err == nil || !strings.Contains(err.Error(), "start container") {
		t.Fatalf("Start = %v, want a start failure", err)
	}
	t.Logf("Start: %v", err)
	st, err := rt.Inspect(ctx, spec.Handle)
	if err != nil || st.Phase != runtimes.PhaseFailed || !strings.Contains(st.Reason, "could not start") {
		t.Fatalf("Inspect = %+v, %v; want failed, could not start", st, err)
	}
	t.Logf("Inspect: exit code %d, %s", st.ExitCode, st.Reason)
	if st2, err := rt.Wait(ctx, spec.Handle); err != nil || st2.Phase != runtimes.PhaseFailed {
		t.Fatalf("Wait = %+v, %v", st2, err)
	}
	if _, err := rt.Start(ctx, spec); err != nil {
		t.Fatalf("second Start (adopts the failed container): %v", err)
	}
	if n, err := rt.Prune(time.Now().Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1", n, err)
	}
	if st, _ := rt.Inspect(ctx, spec.Handle); st.Phase != runtimes.PhaseNotFound {
		t.Fatalf("after Prune: %+v", st)
	}
}

// Prune removes finished containers older than the cutoff, and only
// those: never a running one, never another installation's.
func TestPrune(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, func(c *docker.Config) { c.Labels["jetrun.io/test-case"] = "prune" })
	other := newRuntime(t, func(c *docker.Config) { c.Labels["jetrun.io/test-case"] = "prune-other" })
	ctx := ctxT(t, time.Minute)
	start := func(rt runtimes.Runtime, p jobs.SmokeParams) runtimes.Handle {
		t.Helper()
		h, err := rt.Start(ctx, smokeSpec(rt, p, runtimes.Resources{Timeout: time.Minute}))
		if err != nil {
			t.Fatal(err)
		}
		stopLater(t, rt, h)
		return h
	}
	done := start(rt, jobs.SmokeParams{ExitCode: 2})
	running := start(rt, jobs.SmokeParams{Sleep: "1m"})
	foreign := start(other, jobs.SmokeParams{})
	for _, h := range []runtimes.Handle{done, foreign} {
		if _, err := rt.Wait(ctx, h); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := rt.Prune(time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("Prune(an hour ago) = %d, %v; want 0", n, err)
	}
	if n, err := rt.Prune(time.Now().Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("Prune(now) = %d, %v; want 1", n, err)
	}
	for h, want := range map[runtimes.Handle]runtimes.Phase{done: runtimes.PhaseNotFound, running: runtimes.PhaseRunning, foreign: runtimes.PhaseSucceeded} {
		if st, err := rt.Inspect(ctx, h); err != nil || st.Phase != want {
			t.Errorf("%s after Prune: %+v, %v; want %s", h.Name, st, err, want)
		}
	}
	keep := newRuntime(t, func(c *docker.Config) {
		c.Labels["jetrun.io/test-case"] = "prune-other"
		c.Keep = time.Millisecond
	})
	if n, err := keep.Prune(time.Now().Add(-time.Hour)); err != nil || n != 1 {
		t.Fatalf("Prune with Keep = %d, %v; want 1 (Keep overrides a longer retention)", n, err)
	}
}

// Wait returns when its context ends.
func TestWaitCancelled(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	h, err := rt.Start(ctxT(t, time.Minute), smokeSpec(rt, jobs.SmokeParams{Sleep: "1m"}, runtimes.Resources{Timeout: time.Hour}))
	if err != nil {
		t.Fatal(err)
	}
	stopLater(t, rt, h)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if _, err := rt.Wait(ctx, h); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the context's error", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("Wait returned %s after its context ended", d)
	}
}

// A reopened runtime enforces the deadline of a container it did not
// start, and reports the timeout.
func TestTimeoutAfterReopen(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, time.Minute)
	h, err := rt.Start(ctx, smokeSpec(rt, jobs.SmokeParams{Sleep: "5m"}, runtimes.Resources{Timeout: 2 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	stopLater(t, rt, h)
	time.Sleep(3 * time.Second) // past the deadline, nobody waiting
	rt2 := newRuntime(t, nil)
	if st, err := rt2.Inspect(ctx, h); err != nil || st.Phase != runtimes.PhaseRunning {
		t.Fatalf("Inspect = %+v, %v; want still running (nobody enforced the deadline yet)", st, err)
	}
	st, err := rt2.Wait(ctx, h)
	if err != nil || st.Phase != runtimes.PhaseFailed || !st.TimedOut || !strings.Contains(st.Reason, "timeout after 2s") {
		t.Fatalf("Wait = %+v, %v; want failed, timed out", st, err)
	}
	if st2, err := newRuntime(t, nil).Inspect(ctx, h); err != nil || !st2.TimedOut {
		t.Fatalf("a third instance sees %+v, %v; want timed out", st2, err)
	}
}

// The Factory reads the environment through getenv and names the
// variable to fix.
func TestFactory(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DOCKER_HOST": "unix:///nonexistent/docker.sock"}
	_, err := docker.Factory(context.Background(), func(k string) string { return env[k] }, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "DOCKER_HOST") {
		t.Fatalf("Factory with a dead DOCKER_HOST: %v", err)
	}
	env = map[string]string{"JETRUN_DOCKER_GRACE": "soon"}
	if _, err := docker.Factory(context.Background(), func(k string) string { return env[k] }, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "JETRUN_DOCKER_GRACE") {
		t.Fatalf("Factory with a bad grace: %v", err)
	}
	if os.Getenv("DOCKER_HOST") == "" {
		needDocker(t)
		rt, err := docker.Factory(context.Background(), func(k string) string { return map[string]string{"HOME": t.TempDir()}[k] }, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if rt.Name() != docker.Name || rt.(runtimes.NodeLocal).Node() == "" {
			t.Fatalf("runtime %s, node %q", rt.Name(), rt.(runtimes.NodeLocal).Node())
		}
		rt.(*docker.Runtime).Close()
	}
}

func readLogs(t *testing.T, rt runtimes.Runtime, h runtimes.Handle) string {
	t.Helper()
	rc, err := rt.Logs(context.Background(), h, runtimes.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Specs that can never run on this daemon are ErrInvalidSpec, and leave
// nothing behind.
func TestInvalidSpec(t *testing.T) {
	t.Parallel()
	rt := newRuntime(t, nil)
	ctx := ctxT(t, time.Minute)
	for name, mod := range map[string]func(*runtimes.Spec){
		"more CPUs than the host": func(s *runtimes.Spec) { s.Resources.CPUMilli = 1024 * 1000 },
		"memory below 6Mi":        func(s *runtimes.Spec) { s.Resources.MemoryBytes = 1 << 20 },
		"empty command":           func(s *runtimes.Spec) { s.Command = nil },
		"bad name":                func(s *runtimes.Spec) { s.Handle.Name = "jetrun/../x" },
		"bad env name":            func(s *runtimes.Spec) { s.Env["A=B"] = "c" },
	} {
		spec := smokeSpec(rt, jobs.SmokeParams{}, runtimes.Resources{Timeout: time.Minute})
		mod(&spec)
		_, err := rt.Start(ctx, spec)
		if !errors.Is(err, runtimes.ErrInvalidSpec) {
			t.Errorf("%s: Start = %v, want ErrInvalidSpec", name, err)
			continue
		}
		t.Logf("%s: %v", name, err)
		if _, err := daemon.ContainerInspect(ctx, spec.Handle.Name, client.ContainerInspectOptions{}); err == nil {
			t.Errorf("%s: a container was left behind", name)
		}
	}
}
