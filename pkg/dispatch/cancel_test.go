package dispatch_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

func (e *env) cancel(id string) messages.CancelReply {
	e.t.Helper()
	m, err := e.nc.Request(e.names.CancelSubject(id), []byte(`{"reason":"test"}`), 5*time.Second)
	if err != nil {
		e.t.Fatalf("cancel %s: %v", id, err)
	}
	var r messages.CancelReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// workerGroup returns the process group of a local workload.
func (e *env) workerGroup(id string, attempt int) int {
	e.t.Helper()
	var w struct {
		PID int `json:"pid"`
	}
	b, err := os.ReadFile(filepath.Join(e.localDir, runtimes.HandleName(id, attempt), "worker.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	json.Unmarshal(b, &w)
	return w.PID
}

func groupGone(pgid int) bool {
	return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
}

// (e) Cancel works on a running job (the process group is gone afterwards)
// and on a queued one (it never starts).
func TestCancelRunningAndQueued(t *testing.T) {
	e := setup(t)
	cfg := e.config()
	cfg.Concurrency = 1
	e.start(cfg)
	e.submit("long", "smoke", `{"sleep":"5m","ignore_sigterm":true}`, "")
	e.submit("queued", "smoke", `{"message":"must-not-run"}`, "")

	waitFor(t, 20*time.Second, func() bool { return e.state("long") == messages.StateRunning })
	pgid := e.workerGroup("long", 1)
	if groupGone(pgid) {
		t.Fatal("worker group not running")
	}
	// The queued job has no record yet (concurrency 1): cancel records the
	// wish so it never runs.
	if r := e.cancel("queued"); !r.Accepted {
		t.Fatalf("cancel queued: %+v", r)
	}
	if r := e.cancel("long"); !r.Accepted || r.State != messages.StateRunning {
		t.Fatalf("cancel running: %+v", r)
	}
	evs := e.events("long", 30*time.Second)
	if last := evs[len(evs)-1]; last.Type != messages.EventCancelled {
		t.Fatalf("long: events = %v", types(evs))
	}
	if !groupGone(pgid) {
		t.Fatalf("process group %d still exists after cancel", pgid)
	}
	evs = e.events("queued", 30*time.Second)
	if got := types(evs); !slices.Equal(got, []string{"cancelled"}) {
		t.Fatalf("queued: events = %v, want [cancelled]", got)
	}
	if _, err := os.Stat(filepath.Join(e.localDir, runtimes.HandleName("queued", 1))); !os.IsNotExist(err) {
		t.Fatalf("the cancelled queued job was launched (%v)", err)
	}
	// Cancelling a finished job is refused with its state.
	if r := e.cancel("long"); !r.Accepted || r.State != messages.StateCancelled {
		t.Errorf("second cancel = %+v", r)
	}
}

// A job waiting out its retry backoff is cancelled at once by whichever
// dispatcher answers, since nobody holds its message.
func TestCancelRetrying(t *testing.T) {
	e := setup(t)
	cfg := e.config()
	cfg.BackoffBase = 30 * time.Second
	cfg.BackoffMax = time.Minute
	e.start(cfg)
	e.submit("backoff", "smoke", `{"exit_code":1}`, `,"max_retries":5`)
	waitFor(t, 20*time.Second, func() bool { return e.state("backoff") == messages.StateRetrying })
	if r := e.cancel("backoff"); !r.Accepted || r.State != messages.StateCancelled {
		t.Fatalf("cancel = %+v", r)
	}
	evs := e.events("backoff", 10*time.Second)
	if got := types(evs); !slices.Equal(got, []string{"accepted", "started", "running", "failed", "retrying", "cancelled"}) {
		t.Fatalf("events = %v", got)
	}
}

// (g) A job that runs longer than AckWait is not redelivered while its
// dispatcher lives.
func TestLongJobNotRedelivered(t *testing.T) {
	e := setup(t)
	cfg := e.config()
	cfg.AckWait = time.Second
	d1 := e.start(cfg)
	d2 := e.start(cfg) // a second dispatcher that would take a redelivery
	e.submit("longer-than-ackwait", "smoke", `{"sleep":"4s"}`, "")
	evs := e.events("longer-than-ackwait", 60*time.Second)
	if got := types(evs); !slices.Equal(got, []string{"accepted", "started", "running", "succeeded"}) {
		t.Fatalf("events = %v", got)
	}
	for _, d := range []*dispatcher{d1, d2} {
		if n := testutilValue(d.metrics.Adoptions); n != 0 {
			t.Fatalf("job was redelivered and adopted (%v adoptions)", n)
		}
	}
	info, err := e.consumerInfo()
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 {
		t.Fatalf("consumer reports %d redelivered messages", info.NumRedelivered)
	}
}

// (h) With concurrency N, never more than N jobs run at once.
func TestConcurrencyCap(t *testing.T) {
	e := setup(t)
	cfg := e.config()
	cfg.Concurrency = 3
	e.start(cfg)
	ids := make([]string, 12)
	for i := range ids {
		ids[i] = "cap-" + string(rune('a'+i))
		e.submit(ids[i], "smoke", `{"sleep":"400ms"}`, "")
	}
	type span struct{ from, to time.Time }
	var spans []span
	for _, id := range ids {
		evs := e.events(id, 60*time.Second)
		var s span
		for _, ev := range evs {
			switch ev.Type {
			case messages.EventStarted:
				s.from = ev.Time
			case messages.EventSucceeded:
				s.to = ev.Time
			}
		}
		if s.from.IsZero() || s.to.IsZero() {
			t.Fatalf("%s: events = %v", id, types(evs))
		}
		spans = append(spans, s)
	}
	// Each span (launch to recorded end) contains the worker's run, so the
	// spans' maximum overlap bounds the number of workers at once.
	peak := 0
	for _, a := range spans {
		n := 0
		for _, b := range spans {
			if !b.from.After(a.from) && b.to.After(a.from) {
				n++
			}
		}
		peak = max(peak, n)
	}
	if peak > 3 {
		t.Fatalf("%d jobs ran at once, cap is 3", peak)
	}
	if peak < 2 {
		t.Fatalf("peak concurrency %d: jobs did not run in parallel at all", peak)
	}
	t.Logf("peak concurrency %d (cap 3)", peak)
}

// A duplicate of a running job (same job id, no Nats-Msg-Id) is dropped
// without disturbing the original, which can still be cancelled.
func TestDuplicateOfRunningJobKeepsItCancellable(t *testing.T) {
	e := setup(t)
	e.start(e.config())
	body := `{"v":1,"job_id":"dup-running","kind":"smoke","params":{"sleep":"5m"}}`
	e.publishRaw(e.names.SubmitSubject("smoke"), body, "")
	waitFor(t, 20*time.Second, func() bool { return e.state("dup-running") == messages.StateRunning })
	e.publishRaw(e.names.SubmitSubject("smoke"), body, "")
	waitFor(t, 20*time.Second, func() bool {
		info, err := e.consumerInfo()
		return err == nil && info.NumPending == 0 && info.NumAckPending == 1
	})
	if r := e.cancel("dup-running"); !r.Accepted {
		t.Fatalf("cancel = %+v", r)
	}
	evs := e.events("dup-running", 30*time.Second)
	if last := evs[len(evs)-1]; last.Type != messages.EventCancelled {
		t.Fatalf("events = %v", types(evs))
	}
}

// Graceful shutdown stops fetching and leaves running workloads running;
// the next dispatcher adopts them at once (the message is released, not
// left to time out).
func TestGracefulShutdownLeavesWorkloadForNextOwner(t *testing.T) {
	e := setup(t)
	cfg := e.config()
	cfg.AckWait = time.Minute // adoption must not wait for a redelivery timeout
	d1 := e.start(cfg)
	e.submit("handover", "smoke", `{"sleep":"3s","message":"handover-marker"}`, "")
	waitFor(t, 20*time.Second, func() bool { return e.state("handover") == messages.StateRunning })
	pgid := e.workerGroup("handover", 1)
	d1.stop(t)
	if groupGone(pgid) {
		t.Fatal("shutdown killed the workload")
	}
	begin := time.Now()
	d2 := e.start(cfg)
	evs := e.events("handover", 30*time.Second)
	if got := types(evs); !slices.Equal(got, []string{"accepted", "started", "running", "succeeded"}) {
		t.Fatalf("events = %v", got)
	}
	if time.Since(begin) > 20*time.Second {
		t.Errorf("adoption took %s: the message was not released at shutdown", time.Since(begin))
	}
	if testutilValue(d2.metrics.Adoptions) != 1 {
		t.Errorf("the second dispatcher did not adopt the job")
	}
	if out := e.logs("handover", 1); strings.Count(out, "handover-marker") != 1 {
		t.Fatalf("worker ran %d times", strings.Count(out, "handover-marker"))
	}
}

// An accepted cancel holds: one recorded after the workload exited 0 but
// before its success was recorded cancels the job (the reply said
// accepted), and one sent after the success was recorded is refused with
// the job's state (the reply says so).
func TestAcceptedCancelHolds(t *testing.T) {
	e := setup(t)
	cfg := e.config()
	replies := make(chan messages.CancelReply, 2)
	var mu sync.Mutex
	once := map[string]bool{}
	cfg.Failpoint = func(point string) {
		switch point {
		case "exited", "record:succeeded":
			mu.Lock()
			first := !once[point]
			once[point] = true
			mu.Unlock()
			if !first {
				return
			}
			id := map[string]string{"exited": "race-exit", "record:succeeded": "race-done"}[point]
			replies <- e.cancel(id)
		}
	}
	e.start(cfg)
	e.submit("race-exit", "smoke", `{}`, "")
	evs := e.events("race-exit", 30*time.Second)
	if r := <-replies; !r.Accepted {
		t.Fatalf("cancel before the success was recorded: %+v, want accepted", r)
	}
	if last := evs[len(evs)-1]; last.Type != messages.EventCancelled || slices.Contains(types(evs), "succeeded") {
		t.Fatalf("events %v: an accepted cancel must hold", types(evs))
	}
	// Events go out before the record is written: wait for the record.
	waitFor(t, 10*time.Second, func() bool { return e.state("race-exit").Terminal() })
	if rec := e.record("race-exit"); rec.State != messages.StateCancelled || rec.ExitCode == nil || *rec.ExitCode != 0 {
		t.Fatalf("record %+v: want cancelled, with the workload's exit code 0", rec)
	}

	e.submit("race-done", "smoke", `{}`, "")
	evs = e.events("race-done", 30*time.Second)
	r := <-replies
	if r.Accepted || r.State != messages.StateSucceeded || !strings.Contains(r.Error, "already finished") {
		t.Fatalf("cancel after the success was recorded: %+v, want refused, naming the state", r)
	}
	if last := evs[len(evs)-1]; last.Type != messages.EventSucceeded {
		t.Fatalf("events %v", types(evs))
	}
}

// A cancel recorded between the "started" event and its record makes the
// launch's write conflict: the job is cancelled, and its "cancelled"
// event is announced under a seq of its own, not the published started's
// (which the stream would drop as a duplicate, leaving watchers waiting).
func TestCancelBetweenStartedEventAndRecord(t *testing.T) {
	e := setup(t)
	cfg := e.config()
	replies := make(chan messages.CancelReply, 1)
	var once sync.Once
	cfg.Failpoint = func(point string) {
		if point == "event:started" {
			once.Do(func() { replies <- e.cancel("cut-in") })
		}
	}
	e.start(cfg)
	e.submit("cut-in", "smoke", `{"sleep":"30s"}`, "")
	evs := e.events("cut-in", 30*time.Second)
	if r := <-replies; !r.Accepted {
		t.Fatalf("cancel: %+v", r)
	}
	seqs := map[uint64]messages.EventType{}
	for _, ev := range evs {
		if prev, dup := seqs[ev.Seq]; dup && ev.Sub == 0 {
			t.Fatalf("seq %d used by %s and %s", ev.Seq, prev, ev.Type)
		}
		seqs[ev.Seq] = ev.Type
	}
	if got := types(evs); got[len(got)-1] != "cancelled" || slices.Contains(got, "running") {
		t.Fatalf("events %v: want the job cancelled before it ran", got)
	}
}
