package lifecycle_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/lifecycle"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// history is a model of what one owner leaves behind: the record as last
// written and the events as published, in order. Its steps are the
// dispatcher's, built with the package's own functions, so a crash after
// any of them is the record and events a real crash leaves.
type history struct {
	rec    messages.Record
	events []messages.Event
}

func queued() *history {
	return &history{rec: messages.Record{V: messages.Version, JobID: "j1", Kind: "smoke", State: messages.StateQueued,
		MaxRetries: 1, Owner: "d1", MsgSeq: 7, Delivery: 1, Seq: 1, Runtime: "local", Created: t0, Updated: t0}}
}

// accepted publishes the accepted event of a queued record.
func (h *history) accepted() *history {
	h.events = append(h.events, lifecycle.Event(h.rec, messages.EventAccepted))
	return h
}

// event publishes transition t's event without recording it (a crash at
// "event:<t>"); record also writes the record ("record:<t>").
func (h *history) event(t messages.EventType, mutate func(*messages.Record)) *history {
	_, ev := lifecycle.Advance(h.rec, t, t0, mutate)
	h.events = append(h.events, ev)
	return h
}

func (h *history) record(t messages.EventType, mutate func(*messages.Record)) *history {
	next, ev := lifecycle.Advance(h.rec, t, t0, mutate)
	if len(h.events) == 0 || h.events[len(h.events)-1].MsgID() != ev.MsgID() {
		h.events = append(h.events, ev)
	}
	h.rec = next
	return h
}

// recordOnly writes transition t's record without its event (a success
// is recorded first; a crash at "record:succeeded").
func (h *history) recordOnly(t messages.EventType, mutate func(*messages.Record)) *history {
	h.rec, _ = lifecycle.Advance(h.rec, t, t0, mutate)
	return h
}

func (h *history) set(mutate func(*messages.Record)) *history { mutate(&h.rec); return h }

func started(r *messages.Record) {
	r.State, r.Attempt = messages.StateStarting, r.Attempt+1
	r.Handle = &runtimes.Handle{Runtime: "local", Name: runtimes.HandleName(r.JobID, r.Attempt), Node: "n1"}
}
func running(r *messages.Record) { r.State = messages.StateRunning }
func succeeded(r *messages.Record) {
	code := 0
	r.State, r.ExitCode = messages.StateSucceeded, &code
}
func failed(r *messages.Record) {
	code := 1
	r.Error, r.ExitCode, r.FailedAttempt = "exit code 1", &code, r.Attempt
}
func retrying(at time.Time) func(*messages.Record) {
	return func(r *messages.Record) { r.State, r.NextRetry, r.Owner = messages.StateRetrying, at, "" }
}
func dead(r *messages.Record)      { r.State = messages.StateDead }
func cancelled(r *messages.Record) { r.State = messages.StateCancelled }
func wantCancel(r *messages.Record) {
	r.Desired = messages.DesiredCancel
}

func through(points ...string) string { return fmt.Sprint(points) }

// delivery is the message coming back to dispatcher d2 on node n1.
func delivery() lifecycle.Delivery {
	return lifecycle.Delivery{Dispatcher: "d2", StreamSeq: 7, NumDelivered: 2, Kind: "smoke", MaxRetries: 1,
		Runtime: "local", Now: t0,
		Serves: func(rt string) (string, bool) { return "n1", rt == "local" }}
}

// TestCrashMatrix is doc.go's crash matrix: for every failpoint of the
// success path and the failure path, the record and events a SIGKILL
// there leaves behind, the runtime's view of the workload, what the next
// owner decides, and the event it publishes next, whose <job_id>:<seq>
// must equal that of an event of the same type already published (the
// stream drops the copy) or be new, never another type's.
func TestCrashMatrix(t *testing.T) {
	var (
		afterStarted = func() *history { return queued().accepted().record(messages.EventStarted, started) }
		afterRunning = func() *history { return afterStarted().record(messages.EventRunning, running) }
		afterFailed  = func() *history { return afterRunning().record(messages.EventFailed, failed) }
	)
	cases := []struct {
		point string
		h     *history
		phase runtimes.Phase // what Inspect finds on the recorded handle
		step  lifecycle.Step
		adopt lifecycle.AdoptStep
		after lifecycle.Failure
		// next is the event the new owner publishes next and its seq.
		next    messages.EventType
		nextSeq uint64
	}{
		{point: "recorded", h: queued(), step: lifecycle.Launch, next: messages.EventStarted, nextSeq: 2},
		{point: "accepted", h: queued().accepted(), step: lifecycle.Launch, next: messages.EventStarted, nextSeq: 2},
		{point: "event:started", h: queued().accepted().event(messages.EventStarted, started), step: lifecycle.Launch,
			next: messages.EventStarted, nextSeq: 2},
		{point: "record:started", h: afterStarted(), phase: runtimes.PhaseNotFound, step: lifecycle.Adopt,
			adopt: lifecycle.StartAgain, next: messages.EventRunning, nextSeq: 3},
		{point: "launched", h: afterStarted(), phase: runtimes.PhaseRunning, step: lifecycle.Adopt,
			adopt: lifecycle.Watch, next: messages.EventRunning, nextSeq: 3},
		{point: "event:running", h: afterStarted().event(messages.EventRunning, running), phase: runtimes.PhaseRunning,
			step: lifecycle.Adopt, adopt: lifecycle.Watch, next: messages.EventRunning, nextSeq: 3},
		{point: "record:running", h: afterRunning(), phase: runtimes.PhaseRunning, step: lifecycle.Adopt,
			adopt: lifecycle.Watch},
		{point: "exited", h: afterRunning(), phase: runtimes.PhaseSucceeded, step: lifecycle.Adopt,
			adopt: lifecycle.Complete, next: messages.EventSucceeded, nextSeq: 4},
		{point: "record:succeeded", h: afterRunning().recordOnly(messages.EventSucceeded, succeeded),
			step: lifecycle.Announce, next: messages.EventSucceeded, nextSeq: 4},
		{point: "event:succeeded", h: afterRunning().record(messages.EventSucceeded, succeeded),
			step: lifecycle.Announce, next: messages.EventSucceeded, nextSeq: 4},
		// The failure path (attempt 1 of 2 fails).
		{point: "event:failed", h: afterRunning().event(messages.EventFailed, failed), phase: runtimes.PhaseFailed,
			step: lifecycle.Adopt, adopt: lifecycle.Complete, next: messages.EventFailed, nextSeq: 4},
		{point: "record:failed", h: afterFailed(), phase: runtimes.PhaseFailed, step: lifecycle.Adopt,
			adopt: lifecycle.Complete, after: lifecycle.Retry, next: messages.EventRetrying, nextSeq: 5},
		{point: "event:retrying", h: afterFailed().event(messages.EventRetrying, retrying(t0)), phase: runtimes.PhaseFailed,
			step: lifecycle.Adopt, adopt: lifecycle.Complete, after: lifecycle.Retry, next: messages.EventRetrying, nextSeq: 5},
		{point: "record:retrying (due)", h: afterFailed().record(messages.EventRetrying, retrying(t0)),
			step: lifecycle.Launch, next: messages.EventStarted, nextSeq: 6},
		{point: "record:retrying (early)", h: afterFailed().record(messages.EventRetrying, retrying(t0.Add(time.Minute))),
			step: lifecycle.WaitRetry, next: messages.EventStarted, nextSeq: 6},
		// Attempt 2 of 2 fails: dead.
		{point: "record:failed (last)", h: afterFailed().record(messages.EventRetrying, retrying(t0)).
			record(messages.EventStarted, started).record(messages.EventRunning, running).record(messages.EventFailed, failed),
			phase: runtimes.PhaseFailed, step: lifecycle.Adopt, adopt: lifecycle.Complete, after: lifecycle.Dead,
			next: messages.EventDead, nextSeq: 9},
		{point: "event:dead", h: afterFailed().set(func(r *messages.Record) { r.FailPermanent = true }).
			event(messages.EventDead, dead), phase: runtimes.PhaseFailed, step: lifecycle.Adopt,
			adopt: lifecycle.Complete, after: lifecycle.Dead, next: messages.EventDead, nextSeq: 5},
		{point: "record:dead", h: afterFailed().set(func(r *messages.Record) { r.FailPermanent = true }).
			record(messages.EventDead, dead), step: lifecycle.Announce, next: messages.EventDead, nextSeq: 5},
		// A cancel carried out mid-run: the workload was stopped, then
		// "cancelled" published (event:cancelled) or also recorded.
		{point: "event:cancelled", h: afterRunning().set(wantCancel).event(messages.EventCancelled, cancelled),
			phase: runtimes.PhaseFailed, step: lifecycle.Adopt, adopt: lifecycle.CancelFinished,
			next: messages.EventCancelled, nextSeq: 4},
		{point: "record:cancelled", h: afterRunning().set(wantCancel).record(messages.EventCancelled, cancelled),
			step: lifecycle.Announce, next: messages.EventCancelled, nextSeq: 4},
		// A launch that failed before the workload ran: "running" (seq 3)
		// stays reserved for the attempt.
		{point: "record:started, Start failed", h: afterStarted().event(messages.EventFailed, failed),
			phase: runtimes.PhaseNotFound, step: lifecycle.Adopt, adopt: lifecycle.StartAgain,
			next: messages.EventFailed, nextSeq: 4},
		// Cancels.
		{point: "cancel while running", h: afterRunning().set(wantCancel), phase: runtimes.PhaseRunning,
			step: lifecycle.Adopt, adopt: lifecycle.StopThenCancel, next: messages.EventCancelled, nextSeq: 4},
		{point: "cancel, then exit 0", h: afterRunning().set(wantCancel), phase: runtimes.PhaseSucceeded,
			step: lifecycle.Adopt, adopt: lifecycle.CancelFinished, next: messages.EventCancelled, nextSeq: 4},
		{point: "cancel before launch", h: afterStarted().set(wantCancel), phase: runtimes.PhaseNotFound,
			step: lifecycle.Adopt, adopt: lifecycle.CancelUnlaunched, next: messages.EventCancelled, nextSeq: 4},
		{point: "cancel at record:failed", h: afterFailed().set(wantCancel), phase: runtimes.PhaseFailed,
			step: lifecycle.Adopt, adopt: lifecycle.CancelFinished, after: lifecycle.CancelAtFailed,
			next: messages.EventCancelled, nextSeq: 5},
		{point: "cancelled while retrying", h: afterFailed().record(messages.EventRetrying, retrying(t0.Add(time.Minute))).
			record(messages.EventCancelled, cancelled), step: lifecycle.Announce, next: messages.EventCancelled, nextSeq: 6},
	}
	for _, c := range cases {
		t.Run(c.point, func(t *testing.T) {
			r := lifecycle.OnRedelivery(c.h.rec, delivery())
			if r.Step != c.step {
				t.Fatalf("step %s, want %s", r.Step, c.step)
			}
			if r.Step == lifecycle.Announce {
				if got := lifecycle.TerminalEvent(c.h.rec.State); got != c.next || c.h.rec.Seq != c.nextSeq {
					t.Fatalf("announces %s seq %d, want %s seq %d", got, c.h.rec.Seq, c.next, c.nextSeq)
				}
				checkSeq(t, c.h.events, lifecycle.Event(c.h.rec, c.next))
				return
			}
			if r.Take.Owner != "d2" || r.Take.Delivery != 2 || r.Take.MsgSeq != 7 {
				t.Fatalf("take %+v: ownership not taken", r.Take)
			}
			if !r.Adoption == (c.h.rec.Owner == "d1") {
				t.Errorf("adoption = %v, previous owner %q", r.Adoption, c.h.rec.Owner)
			}
			if r.Reannounce != (c.h.rec.State == messages.StateQueued) {
				t.Errorf("reannounce = %v for %s", r.Reannounce, c.h.rec.State)
			}
			rec := r.Take
			var next messages.Event
			switch r.Step {
			case lifecycle.Launch, lifecycle.WaitRetry:
				if rec.Desired == messages.DesiredCancel {
					break
				}
				rec, next = lifecycle.Advance(rec, messages.EventStarted, t0, started)
				if want := runtimes.HandleName("j1", c.h.rec.Attempt+1); rec.Handle.Name != want {
					t.Fatalf("launches %s, want %s", rec.Handle.Name, want)
				}
			case lifecycle.Adopt:
				a := lifecycle.OnAdopt(rec, c.phase)
				if a != c.adopt {
					t.Fatalf("adopt %s, want %s", a, c.adopt)
				}
				switch a {
				case lifecycle.StartAgain, lifecycle.Watch:
					if c.next == messages.EventFailed { // the relaunch failed again
						_, next = lifecycle.Advance(rec, messages.EventFailed, t0, failed)
					} else if rec.State == messages.StateStarting {
						_, next = lifecycle.Advance(rec, messages.EventRunning, t0, running)
					}
				case lifecycle.Complete:
					if c.phase == runtimes.PhaseSucceeded {
						_, next = lifecycle.Advance(rec, messages.EventSucceeded, t0, succeeded)
						break
					}
					if rec.FailedAttempt != rec.Attempt {
						rec, next = lifecycle.Advance(rec, messages.EventFailed, t0, failed)
						break // the failure is announced first
					}
					next = afterFailure(t, rec, c.after)
				case lifecycle.CancelFinished:
					if c.after != "" {
						next = afterFailure(t, rec, c.after)
						break
					}
					_, next = lifecycle.Advance(rec, messages.EventCancelled, t0, cancelled)
				case lifecycle.CancelUnlaunched, lifecycle.StopThenCancel:
					_, next = lifecycle.Advance(rec, messages.EventCancelled, t0, cancelled)
				}
			}
			if c.next == "" {
				if next.Type != "" {
					t.Fatalf("publishes %s, want nothing yet", next.Type)
				}
				return
			}
			if next.Type != c.next || next.Seq != c.nextSeq {
				t.Fatalf("next event %s seq %d, want %s seq %d", next.Type, next.Seq, c.next, c.nextSeq)
			}
			checkSeq(t, c.h.events, next)
		})
	}
}

func afterFailure(t *testing.T, rec messages.Record, want lifecycle.Failure) messages.Event {
	t.Helper()
	got := lifecycle.AfterFailure(rec)
	if got != want {
		t.Fatalf("after the failure: %s, want %s", got, want)
	}
	var ev messages.Event
	switch got {
	case lifecycle.Retry:
		_, ev = lifecycle.Advance(rec, messages.EventRetrying, t0, retrying(t0))
	case lifecycle.Dead:
		_, ev = lifecycle.Advance(rec, messages.EventDead, t0, dead)
	case lifecycle.CancelAtFailed:
		_, ev = lifecycle.Advance(rec, messages.EventCancelled, t0, cancelled)
	}
	return ev
}

// checkSeq fails if next shares its seq with a published event of another
// type: the stream would drop it as a duplicate.
func checkSeq(t *testing.T, published []messages.Event, next messages.Event) {
	t.Helper()
	for _, ev := range published {
		if ev.Seq == next.Seq && ev.Type != next.Type {
			t.Fatalf("%s takes seq %d of the published %s", next.Type, next.Seq, ev.Type)
		}
	}
}

func TestRedeliveryLeavesAndDrops(t *testing.T) {
	rec := queued().accepted().record(messages.EventStarted, started).rec
	d := delivery()
	if r := lifecycle.OnRedelivery(rec, lifecycle.Delivery{StreamSeq: 8, Dispatcher: "d2"}); r.Step != lifecycle.Drop {
		t.Errorf("another message with the job's id: %s, want drop", r.Step)
	}
	d.Serves = func(string) (string, bool) { return "n2", true }
	if r := lifecycle.OnRedelivery(rec, d); r.Step != lifecycle.LeaveNode {
		t.Errorf("workload on node n1, dispatcher on n2: %s, want leave-node", r.Step)
	}
	queuedRec := queued().rec
	if r := lifecycle.OnRedelivery(queuedRec, d); r.Step != lifecycle.Launch {
		t.Errorf("a queued job launches on any node: %s", r.Step)
	}
	d.Serves = func(string) (string, bool) { return "", false }
	if r := lifecycle.OnRedelivery(rec, d); r.Step != lifecycle.LeaveRuntime {
		t.Errorf("runtime not served: %s, want leave-runtime", r.Step)
	}
	// A record made by a cancel before the submission was seen.
	pre := messages.Record{V: messages.Version, JobID: "j1", State: messages.StateQueued, Desired: messages.DesiredCancel}
	r := lifecycle.OnRedelivery(pre, delivery())
	if r.Step != lifecycle.Launch || r.Take.Kind != "smoke" || r.Take.Runtime != "local" || r.Take.MsgSeq != 7 || r.Adoption {
		t.Errorf("pre-recorded cancel: %+v", r)
	}
}

// TestNextSeq: every transition gets a seq of its own; leaving "starting"
// by anything but "running" skips the seq the attempt's "running" may
// already have.
func TestNextSeq(t *testing.T) {
	types := []messages.EventType{messages.EventStarted, messages.EventRunning, messages.EventSucceeded,
		messages.EventFailed, messages.EventRetrying, messages.EventDead, messages.EventCancelled}
	for _, st := range []messages.State{messages.StateQueued, messages.StateStarting, messages.StateRunning, messages.StateRetrying} {
		for _, typ := range types {
			rec := messages.Record{State: st, Seq: 5}
			got := lifecycle.NextSeq(rec, typ)
			want := uint64(6)
			if st == messages.StateStarting && typ != messages.EventRunning {
				want = 7
			}
			if got != want {
				t.Errorf("%s → %s: seq %d, want %d", st, typ, got, want)
			}
		}
	}
	rec := messages.Record{JobID: "j", State: messages.StateRunning, Seq: 3, Handle: &runtimes.Handle{Name: "h"}}
	next, ev := lifecycle.Advance(rec, messages.EventSucceeded, t0, succeeded)
	if rec.State != messages.StateRunning || rec.ExitCode != nil {
		t.Fatal("Advance changed its input")
	}
	if ev.Seq != next.Seq || ev.State != messages.StateSucceeded || ev.Handle != "h" || *ev.ExitCode != 0 || !next.Updated.Equal(t0) {
		t.Fatalf("event %+v for record %+v", ev, next)
	}
}
