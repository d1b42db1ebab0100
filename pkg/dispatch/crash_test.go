package dispatch_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/testbin"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

// startProcess runs the real dispatcher binary against the test's NATS and
// local state directory; with failpoint set it kills itself (SIGKILL) at
// that step of the lifecycle.
func (e *env) startProcess(failpoint string) *exec.Cmd {
	e.t.Helper()
	bin, err := testbin.Path("dispatcher")
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(bin, "--nats-url", e.url, "--data-dir", e.t.TempDir(), "--ack-wait", "2s",
		"--http-addr", "", "--backoff-base", "50ms", "--log-format", "json", "--id", "crashy")
	cmd.Env = append(os.Environ(), "JETRUN_LOCAL_DIR="+e.localDir, "WORKER_BIN="+workerBin, "JETRUN_FAILPOINT="+failpoint)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if e.t.Failed() {
			e.t.Logf("crashed dispatcher output:\n%s", out.String())
		}
	})
	// Submit only once it consumes: before, the streams may not exist and
	// a publish gets no answer.
	waitFor(e.t, 30*time.Second, func() bool { _, err := e.consumerInfo(); return err == nil })
	return cmd
}

// (f) A dispatcher killed with SIGKILL at each step of the lifecycle: a
// second dispatcher adopts the job without launching it twice, and exactly
// one terminal event is published.
func TestCrashAtEachStepIsAdopted(t *testing.T) {
	steps := []string{
		"recorded",         // record created, "accepted" not yet published
		"accepted",         // accepted, nothing launched
		"event:started",    // "started" published, the handle not yet recorded
		"record:started",   // handle recorded, runtime not yet asked
		"launched",         // workload started, not yet watched
		"running",          // (killed by the test while the job runs)
		"exited",           // workload finished, result not yet recorded
		"record:succeeded", // record final, terminal event not yet published
		"event:succeeded",  // terminal event published, message not yet acknowledged
	}
	for _, step := range steps {
		t.Run(strings.ReplaceAll(step, ":", "-"), func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			fp := step
			if step == "running" {
				fp = ""
			}
			cmd := e.startProcess(fp)
			id := "crash-" + strings.NewReplacer(":", "-").Replace(step)
			e.submit(id, "smoke", `{"sleep":"1500ms","message":"ran-once-marker","progress":2}`, "")

			if step == "running" {
				waitFor(t, 30*time.Second, func() bool {
					return slices.Contains(types(e.allEvents(id)), "progress")
				})
				cmd.Process.Signal(syscall.SIGKILL)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			var err error
			select {
			case err = <-exited:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("dispatcher never reached step %s", step)
			}
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("dispatcher did not die by SIGKILL at %s: %v", step, err)
			}
			// The workload survives its dispatcher; the next owner adopts.
			cfg := e.config()
			cfg.AckWait = 2 * time.Second
			d2 := e.start(cfg)
			e.events(id, 60*time.Second)
			// Killed after the success was recorded, the job stays the
			// crashed owner's: the adopter only announces it (if needed)
			// and settles the message. Otherwise wait until the adopter
			// has settled the job.
			finished := step == "record:succeeded" || step == "event:succeeded"
			waitFor(t, 30*time.Second, func() bool {
				return e.record(id).State.Terminal() && e.record(id).Owner != "crashy" || finished
			})
			time.Sleep(500 * time.Millisecond) // let a stray duplicate arrive, if any
			evs := e.allEvents(id)

			terminal := 0
			for _, ev := range evs {
				if ev.Type.Terminal() {
					terminal++
				}
			}
			if terminal != 1 || evs[len(evs)-1].Type != messages.EventSucceeded {
				t.Fatalf("events = %v, want exactly one terminal event, succeeded", types(evs))
			}
			if n := count(evs, messages.EventStarted); n != 1 {
				t.Errorf("%d started events, want 1: %v", n, types(evs))
			}
			seqs := map[string]bool{}
			for _, ev := range evs {
				k := ev.MsgID()
				if seqs[k] {
					t.Errorf("event id %s published twice: %v", k, types(evs))
				}
				seqs[k] = true
			}
			if out := e.logs(id, 1); strings.Count(out, "ran-once-marker") != 1 {
				t.Fatalf("worker output %q: want the marker exactly once", out)
			}
			if _, err := os.Stat(filepath.Join(e.localDir, runtimes.HandleName(id, 2))); !os.IsNotExist(err) {
				t.Fatalf("a second attempt was launched")
			}
			// The message is settled: nothing pending, nothing unacknowledged.
			waitFor(t, 30*time.Second, func() bool {
				info, err := e.consumerInfo()
				return err == nil && info.NumPending == 0 && info.NumAckPending == 0
			})
			rec := e.record(id)
			if rec.State != messages.StateSucceeded || rec.Attempt != 1 {
				t.Fatalf("record = %+v", rec)
			}
			if !finished && rec.Owner != cfgID(d2) {
				t.Errorf("record owner = %q, want the adopter %q", rec.Owner, cfgID(d2))
			}
		})
	}
}

func cfgID(d *dispatcher) string { return d.d.ID() }

// The failure path, killed at each of its steps: the failure is recorded
// once, the retry or the dead letter happens once, and one terminal event
// is published.
func TestCrashOnFailurePathIsAdopted(t *testing.T) {
	cases := []struct {
		step, params, extra string
		want                []string
	}{
		{"event:failed", `{"exit_code":3}`, `,"max_retries":0`, []string{"accepted", "started", "running", "failed", "dead"}},
		{"record:failed", `{"exit_code":3}`, `,"max_retries":0`, []string{"accepted", "started", "running", "failed", "dead"}},
		{"event:dead", `{"exit_code":3}`, `,"max_retries":0`, []string{"accepted", "started", "running", "failed", "dead"}},
		{"record:failed", `{"fail_attempts":1}`, `,"max_retries":1`, []string{"accepted", "started", "running", "failed", "retrying", "started", "running", "succeeded"}},
		{"record:retrying", `{"fail_attempts":1}`, `,"max_retries":1`, []string{"accepted", "started", "running", "failed", "retrying", "started", "running", "succeeded"}},
	}
	for i, c := range cases {
		t.Run(strings.ReplaceAll(c.step, ":", "-")+"-"+strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			cmd := e.startProcess(c.step)
			id := "crashfail-" + strconv.Itoa(i)
			e.submit(id, "smoke", c.params, c.extra)
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-exited:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("dispatcher never reached step %s", c.step)
			}
			e.start(e.config())
			e.events(id, 60*time.Second)
			waitFor(t, 30*time.Second, func() bool {
				info, err := e.consumerInfo()
				return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && e.state(id).Terminal()
			})
			time.Sleep(300 * time.Millisecond)
			if got := types(e.allEvents(id)); !slices.Equal(got, c.want) {
				t.Fatalf("events = %v\nwant     %v", got, c.want)
			}
			if c.want[len(c.want)-1] == "dead" {
				s, _ := e.js.Stream(context.Background(), e.names.DLQStream())
				info, _ := s.Info(context.Background())
				if info.State.Msgs != 1 {
					t.Fatalf("DLQ holds %d messages, want 1", info.State.Msgs)
				}
			}
		})
	}
}

// A dispatcher killed after launching, before it recorded "running". The
// next owner adopts the workload and records "running" (a worker never
// publishes events itself); a cancel it then handles must be announced
// with a sequence of its own, not the running event's (which the stream
// would drop as a duplicate).
func TestCrashAfterLaunchThenCancelIsAnnounced(t *testing.T) {
	e := setup(t)
	cmd := e.startProcess("launched")
	e.submit("crash-cancel", "smoke", `{"sleep":"5m"}`, "")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-exited:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("dispatcher never reached step launched")
	}
	e.start(e.config()) // adopts once the dead owner's message is redelivered
	waitFor(t, 60*time.Second, func() bool { return slices.Contains(types(e.allEvents("crash-cancel")), "running") })
	if r := e.cancel("crash-cancel"); !r.Accepted {
		t.Fatalf("cancel = %+v", r)
	}
	evs := e.events("crash-cancel", 60*time.Second)
	if got := types(evs); !slices.Equal(got, []string{"accepted", "started", "running", "cancelled"}) {
		t.Fatalf("events = %v", got)
	}
	if !groupGone(e.workerGroup("crash-cancel", 1)) {
		t.Fatal("workload still running after cancel")
	}
}
