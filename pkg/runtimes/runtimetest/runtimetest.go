// Package runtimetest is the conformance suite every jetrun runtime passes.
//
// A runtime's test calls Run with a function that builds a fresh Harness;
// the suite launches real workloads of the real worker (the smoke operation)
// and checks the contract of runtimes.Runtime: idempotent Start, exit codes,
// timeouts, logs, Stop with a grace period, adoption by a second instance
// of the runtime, as a restarted dispatcher would do, a refused spec that
// launches nothing, a Wait that its context ends, and a Close that leaves
// workloads to the next instance.
package runtimetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

// Harness is one runtime under test.
type Harness struct {
	// Runtime is the instance under test.
	Runtime runtimes.Runtime
	// Reopen returns a second instance over the same backend, as a
	// dispatcher restarted after a crash would build.
	Reopen func(t *testing.T) runtimes.Runtime
	// Image is the worker image for container runtimes.
	Image string
	// Env is added to every spec.
	Env map[string]string
	// Timeout bounds each workload's wait (default 60s). Container
	// runtimes start slower than processes.
	Timeout time.Duration
	// CheckGone, if set, is called after a workload was stopped and must
	// fail the test if anything of it remains (processes, containers).
	CheckGone func(t *testing.T, h runtimes.Handle)
}

// Run runs the suite.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"Succeeds", testSucceeds},
		{"ExitCode", testExitCode},
		{"StartIsIdempotent", testStartIdempotent},
		{"NotFound", testNotFound},
		{"EnvAndSecrets", testEnv},
		{"Logs", testLogs},
		{"LogsFollow", testLogsFollow},
		{"Timeout", testTimeout},
		{"Stop", testStop},
		{"StopIgnoringSIGTERM", testStopIgnoringSIGTERM},
		{"StopFinishedIsNoop", testStopFinished},
		{"Adopt", testAdopt},
		{"AdoptFinished", testAdoptFinished},
		{"InvalidSpecLaunchesNothing", testInvalidSpec},
		{"WaitReturnsOnCancel", testWaitCancel},
		{"CloseLeavesWorkloads", testClose},
		{"NodeLocalHandle", testNodeLocal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newHarness(t))
		})
	}
}

func (h Harness) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return 60 * time.Second
}

func (h Harness) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	t.Cleanup(cancel)
	return ctx
}

// NewJobID returns a fresh, valid job id.
func NewJobID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "rt" + hex.EncodeToString(b)
}

// Spec builds a spec for a smoke workload.
func (h Harness) Spec(p jobs.SmokeParams, timeout time.Duration) runtimes.Spec {
	id := NewJobID()
	env := map[string]string{jobs.EnvJobID: id, jobs.EnvAttempt: "1", jobs.EnvKind: "smoke"}
	for k, v := range h.Env {
		env[k] = v
	}
	return runtimes.Spec{
		Handle:    runtimes.Handle{Runtime: h.Runtime.Name(), Name: runtimes.HandleName(id, 1)},
		JobID:     id,
		Kind:      "smoke",
		Attempt:   1,
		Image:     h.Image,
		Command:   p.Args(),
		Env:       env,
		Resources: runtimes.Resources{CPUMilli: 250, MemoryBytes: 128 << 20, Timeout: timeout},
		Labels:    map[string]string{"suite": "runtimetest"},
	}
}

func (h Harness) start(t *testing.T, spec runtimes.Spec) runtimes.Handle {
	t.Helper()
	hd, err := h.Runtime.Start(h.ctx(t), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if hd.Name != spec.Handle.Name {
		t.Fatalf("Start returned handle %q, want %q", hd.Name, spec.Handle.Name)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h.Runtime.Stop(ctx, hd, 0)
	})
	return hd
}

func (h Harness) wait(t *testing.T, rt runtimes.Runtime, hd runtimes.Handle) runtimes.Status {
	t.Helper()
	st, err := rt.Wait(h.ctx(t), hd)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if !st.Phase.Done() {
		t.Fatalf("Wait returned phase %s", st.Phase)
	}
	return st
}

func (h Harness) logs(t *testing.T, rt runtimes.Runtime, hd runtimes.Handle) string {
	t.Helper()
	rc, err := rt.Logs(h.ctx(t), hd, runtimes.LogOptions{})
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read logs: %v", err)
	}
	return string(b)
}

func (h Harness) waitRunning(t *testing.T, rt runtimes.Runtime, hd runtimes.Handle) {
	t.Helper()
	deadline := time.Now().Add(h.timeout())
	for time.Now().Before(deadline) {
		st, err := rt.Inspect(h.ctx(t), hd)
		if err != nil {
			t.Fatalf("Inspect: %v", err)
		}
		switch st.Phase {
		case runtimes.PhaseRunning:
			return
		case runtimes.PhaseSucceeded, runtimes.PhaseFailed:
			t.Fatalf("workload ended before it was seen running: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("workload not running after %s", h.timeout())
}

// waitLog waits until the workload's log contains s (the worker got far
// enough, e.g. installed its signal handlers).
func (h Harness) waitLog(t *testing.T, hd runtimes.Handle, s string) {
	t.Helper()
	deadline := time.Now().Add(h.timeout())
	for time.Now().Before(deadline) {
		rc, err := h.Runtime.Logs(h.ctx(t), hd, runtimes.LogOptions{})
		if err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			if strings.Contains(string(b), s) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("log never contained %q", s)
}

func testSucceeds(t *testing.T, h Harness) {
	spec := h.Spec(jobs.SmokeParams{Message: "hello from runtimetest"}, time.Minute)
	hd := h.start(t, spec)
	st := h.wait(t, h.Runtime, hd)
	if st.Phase != runtimes.PhaseSucceeded || st.ExitCode != 0 {
		t.Fatalf("status = %+v, want succeeded with exit code 0", st)
	}
	if st2, err := h.Runtime.Inspect(h.ctx(t), hd); err != nil || st2.Phase != runtimes.PhaseSucceeded {
		t.Fatalf("Inspect after Wait = %+v, %v", st2, err)
	}
}

func testExitCode(t *testing.T, h Harness) {
	hd := h.start(t, h.Spec(jobs.SmokeParams{ExitCode: 3}, time.Minute))
	st := h.wait(t, h.Runtime, hd)
	if st.Phase != runtimes.PhaseFailed || st.ExitCode != 3 {
		t.Fatalf("status = %+v, want failed with exit code 3", st)
	}
	if !strings.Contains(st.Reason, "3") {
		t.Errorf("reason %q does not mention the exit code", st.Reason)
	}
}

func testStartIdempotent(t *testing.T, h Harness) {
	spec := h.Spec(jobs.SmokeParams{Message: "only-once", Sleep: "300ms"}, time.Minute)
	hd := h.start(t, spec)
	if _, err := h.Runtime.Start(h.ctx(t), spec); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	h.wait(t, h.Runtime, hd)
	if _, err := h.Runtime.Start(h.ctx(t), spec); err != nil {
		t.Fatalf("Start after finish: %v", err)
	}
	h.wait(t, h.Runtime, hd)
	if n := strings.Count(h.logs(t, h.Runtime, hd), "only-once"); n != 1 {
		t.Fatalf("worker ran %d times, want 1", n)
	}
}

func testNotFound(t *testing.T, h Harness) {
	hd := runtimes.Handle{Runtime: h.Runtime.Name(), Name: runtimes.HandleName(NewJobID(), 1)}
	st, err := h.Runtime.Inspect(h.ctx(t), hd)
	if err != nil || st.Phase != runtimes.PhaseNotFound {
		t.Fatalf("Inspect(unknown) = %+v, %v; want not_found", st, err)
	}
	if _, err := h.Runtime.Wait(h.ctx(t), hd); !errors.Is(err, runtimes.ErrNotFound) {
		t.Fatalf("Wait(unknown) error = %v, want ErrNotFound", err)
	}
	if err := h.Runtime.Stop(h.ctx(t), hd, time.Second); err != nil {
		t.Fatalf("Stop(unknown) = %v, want nil", err)
	}
}

func testEnv(t *testing.T, h Harness) {
	spec := h.Spec(jobs.SmokeParams{}, time.Minute)
	spec.Command = append(spec.Command, "--echo-env=PLAIN_VAR", "--echo-env="+jobs.EnvJobID, "--digest-env=SECRET_VAR")
	spec.Env["PLAIN_VAR"] = "plain-value"
	spec.Secrets = map[string]string{"SECRET_VAR": "s3cret-value"}
	hd := h.start(t, spec)
	h.wait(t, h.Runtime, hd)
	out := h.logs(t, h.Runtime, hd)
	for _, want := range []string{"PLAIN_VAR=plain-value", jobs.EnvJobID + "=" + spec.JobID,
		"SECRET_VAR sha256:" + sha256Hex("s3cret-value")[:16]} {
		if !strings.Contains(out, want) {
			t.Errorf("worker output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cret-value") {
		t.Errorf("secret value leaked into the logs")
	}
}

func testLogs(t *testing.T, h Harness) {
	hd := h.start(t, h.Spec(jobs.SmokeParams{Message: "log-marker-42", OutputLines: 500}, time.Minute))
	h.wait(t, h.Runtime, hd)
	out := h.logs(t, h.Runtime, hd)
	if !strings.Contains(out, "log-marker-42") || !strings.Contains(out, "line 500") {
		t.Fatalf("logs lack the marker or the last line:\n%.2000s", out)
	}
}

func testLogsFollow(t *testing.T, h Harness) {
	hd := h.start(t, h.Spec(jobs.SmokeParams{Sleep: "1s", Progress: 4, Message: "follow-end"}, time.Minute))
	rc, err := h.Runtime.Logs(h.ctx(t), hd, runtimes.LogOptions{Follow: true})
	if err != nil {
		// Some runtimes have no logs until the workload runs.
		h.waitRunning(t, h.Runtime, hd)
		if rc, err = h.Runtime.Logs(h.ctx(t), hd, runtimes.LogOptions{Follow: true}); err != nil {
			t.Fatalf("Logs(follow): %v", err)
		}
	}
	defer rc.Close()
	b, err := io.ReadAll(rc) // returns only when the workload ends
	if err != nil {
		t.Fatalf("follow: %v", err)
	}
	if !strings.Contains(string(b), "follow-end") || !strings.Contains(string(b), "progress 4/4") {
		t.Fatalf("followed logs incomplete:\n%s", b)
	}
	st, err := h.Runtime.Inspect(h.ctx(t), hd)
	if err != nil || !st.Phase.Done() {
		t.Fatalf("follow returned before the workload ended: %+v %v", st, err)
	}
}

func testTimeout(t *testing.T, h Harness) {
	hd := h.start(t, h.Spec(jobs.SmokeParams{Sleep: "5m"}, 2*time.Second))
	st := h.wait(t, h.Runtime, hd)
	if st.Phase != runtimes.PhaseFailed || !st.TimedOut {
		t.Fatalf("status = %+v, want failed and timed out", st)
	}
	if !strings.Contains(st.Reason, "timeout") {
		t.Errorf("reason %q does not say timeout", st.Reason)
	}
	if h.CheckGone != nil {
		h.CheckGone(t, hd)
	}
}

func testStop(t *testing.T, h Harness) {
	hd := h.start(t, h.Spec(jobs.SmokeParams{Sleep: "5m", Message: "ready"}, time.Hour))
	h.waitRunning(t, h.Runtime, hd)
	h.waitLog(t, hd, "ready")
	begin := time.Now()
	if err := h.Runtime.Stop(h.ctx(t), hd, 20*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(begin); d > 15*time.Second {
		t.Errorf("Stop of a worker that honours SIGTERM took %s", d)
	}
	st, err := h.Runtime.Inspect(h.ctx(t), hd)
	if err != nil || st.Phase == runtimes.PhaseRunning || st.Phase == runtimes.PhasePending {
		t.Fatalf("after Stop: %+v, %v; want not running", st, err)
	}
	if h.CheckGone != nil {
		h.CheckGone(t, hd)
	}
}

func testStopIgnoringSIGTERM(t *testing.T, h Harness) {
	hd := h.start(t, h.Spec(jobs.SmokeParams{Sleep: "5m", IgnoreSigterm: true, Message: "ready"}, time.Hour))
	h.waitRunning(t, h.Runtime, hd)
	h.waitLog(t, hd, "ready")
	if err := h.Runtime.Stop(h.ctx(t), hd, 500*time.Millisecond); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	st, err := h.Runtime.Inspect(h.ctx(t), hd)
	if err != nil || st.Phase == runtimes.PhaseRunning || st.Phase == runtimes.PhasePending {
		t.Fatalf("after Stop: %+v, %v; want not running", st, err)
	}
	if h.CheckGone != nil {
		h.CheckGone(t, hd)
	}
}

func testStopFinished(t *testing.T, h Harness) {
	hd := h.start(t, h.Spec(jobs.SmokeParams{}, time.Minute))
	want := h.wait(t, h.Runtime, hd)
	if err := h.Runtime.Stop(h.ctx(t), hd, time.Second); err != nil {
		t.Fatalf("Stop(finished) = %v", err)
	}
	got, err := h.Runtime.Inspect(h.ctx(t), hd)
	if err != nil || got.Phase != want.Phase || got.ExitCode != want.ExitCode {
		t.Fatalf("Stop changed a finished result: %+v → %+v (%v)", want, got, err)
	}
}

func testAdopt(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("harness has no Reopen")
	}
	hd := h.start(t, h.Spec(jobs.SmokeParams{Sleep: "1500ms", ExitCode: 7}, time.Minute))
	h.waitRunning(t, h.Runtime, hd)
	rt2 := h.Reopen(t)
	st, err := rt2.Inspect(h.ctx(t), hd)
	if err != nil || (st.Phase != runtimes.PhaseRunning && st.Phase != runtimes.PhasePending) {
		t.Fatalf("second instance Inspect = %+v, %v; want running", st, err)
	}
	final := h.wait(t, rt2, hd)
	if final.Phase != runtimes.PhaseFailed || final.ExitCode != 7 {
		t.Fatalf("adopted result = %+v, want failed with exit code 7", final)
	}
}

func testAdoptFinished(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("harness has no Reopen")
	}
	hd := h.start(t, h.Spec(jobs.SmokeParams{ExitCode: 4}, time.Minute))
	h.wait(t, h.Runtime, hd)
	rt2 := h.Reopen(t)
	st, err := rt2.Inspect(h.ctx(t), hd)
	if err != nil || st.Phase != runtimes.PhaseFailed || st.ExitCode != 4 {
		t.Fatalf("second instance sees %+v, %v; want failed with exit code 4", st, err)
	}
}

// testInvalidSpec: a spec the runtime refuses is ErrInvalidSpec (the
// dispatcher dead-letters it rather than retry) and leaves nothing
// behind. A handle name with a path in it is refused by every runtime.
func testInvalidSpec(t *testing.T, h Harness) {
	spec := h.Spec(jobs.SmokeParams{}, time.Minute)
	spec.Handle.Name = "jetrun-../../" + spec.JobID + "-a1"
	_, err := h.Runtime.Start(h.ctx(t), spec)
	if !errors.Is(err, runtimes.ErrInvalidSpec) {
		t.Fatalf("Start(handle %q) = %v, want ErrInvalidSpec", spec.Handle.Name, err)
	}
	if st, err := h.Runtime.Inspect(h.ctx(t), spec.Handle); err == nil && st.Phase != runtimes.PhaseNotFound {
		t.Fatalf("a refused spec left a workload: %+v", st)
	}
	spec = h.Spec(jobs.SmokeParams{}, time.Minute)
	spec.Command = nil
	if _, err := h.Runtime.Start(h.ctx(t), spec); !errors.Is(err, runtimes.ErrInvalidSpec) {
		t.Fatalf("Start(no command) = %v, want ErrInvalidSpec", err)
	}
	if st, err := h.Runtime.Inspect(h.ctx(t), spec.Handle); err != nil || st.Phase != runtimes.PhaseNotFound {
		t.Fatalf("a refused spec left a workload: %+v, %v", st, err)
	}
}

// testWaitCancel: Wait on a running workload returns once its context
// ends, with the context's error, and the workload runs on.
func testWaitCancel(t *testing.T, h Harness) {
	hd := h.start(t, h.Spec(jobs.SmokeParams{Sleep: "2m"}, time.Hour))
	h.waitRunning(t, h.Runtime, hd)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err := h.Runtime.Wait(ctx, hd)
	if err == nil || ctx.Err() == nil {
		t.Fatalf("Wait = %v before its context ended", err)
	}
	if d := time.Since(begin); d > 30*time.Second {
		t.Errorf("Wait returned %s after its context ended", d)
	}
	if st, err := h.Runtime.Inspect(h.ctx(t), hd); err != nil || st.Phase.Done() {
		t.Fatalf("after a cancelled Wait: %+v, %v; want still running", st, err)
	}
	if err := h.Runtime.Stop(h.ctx(t), hd, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// testClose: Close releases the instance, a second Close does nothing,
// and the workloads run on for the next instance to adopt.
func testClose(t *testing.T, h Harness) {
	if h.Reopen == nil {
		t.Skip("harness has no Reopen")
	}
	rt1 := h.Reopen(t) // an instance of its own: h.Runtime may be shared
	spec := h.Spec(jobs.SmokeParams{Sleep: "1500ms", ExitCode: 5}, time.Minute)
	hd, err := rt1.Start(h.ctx(t), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	h.waitRunning(t, rt1, hd)
	if err := rt1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := rt1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	rt2 := h.Reopen(t)
	if final := h.wait(t, rt2, hd); final.Phase != runtimes.PhaseFailed || final.ExitCode != 5 {
		t.Fatalf("after Close, the next instance sees %+v, want failed with exit code 5", final)
	}
}

// testNodeLocal: a node-local runtime (runtimes.NodeLocal) names a node,
// and the handle Start returns carries it, so that a dispatcher on another
// node leaves the workload alone. Other runtimes skip it.
func testNodeLocal(t *testing.T, h Harness) {
	nl, ok := h.Runtime.(runtimes.NodeLocal)
	if !ok {
		t.Skip("not a node-local runtime")
	}
	if nl.Node() == "" {
		t.Fatal("a node-local runtime names no node")
	}
	hd := h.start(t, h.Spec(jobs.SmokeParams{}, time.Minute))
	if hd.Node != nl.Node() {
		t.Fatalf("handle %+v: want node %q", hd, nl.Node())
	}
	h.wait(t, h.Runtime, hd)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
