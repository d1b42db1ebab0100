package lifecycle_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/lifecycle"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// history is a model of what one owner leaves behind: the record as last
// written and the events as published, in order. It is built by applying
// inputs (Apply) and carrying out their effects, all of them (do) or up to
// a failpoint (crash), so a crash there is the record and events a real
// crash leaves.
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

func (h *history) do(in lifecycle.Input) *history { return h.crash(in, "") }

// crash carries out in's effects up to and including the one at
// failpoint ("event:<t>" after a publish, "record:<t>" after a write).
func (h *history) crash(in lifecycle.Input, failpoint string) *history {
	_, fx := lifecycle.Apply(h.rec, in, t0)
	for _, e := range fx {
		point := ""
		switch e.Type {
		case lifecycle.Publish:
			h.events = append(h.events, e.Event)
			point = "event:" + string(e.Transition)
		case lifecycle.Write:
			h.rec = e.Record
			point = "record:" + string(e.Transition)
		}
		if failpoint != "" && point == failpoint {
			return h
		}
	}
	if failpoint != "" {
		panic("no failpoint " + failpoint + " for input " + string(in.Type))
	}
	return h
}

func (h *history) set(mutate func(*messages.Record)) *history { mutate(&h.rec); return h }

// The inputs of the scenarios: attempts of handle j1-<n> on node n1.
func launching(rec messages.Record) lifecycle.Input {
	return lifecycle.Input{Type: lifecycle.Launching,
		Handle: runtimes.Handle{Runtime: "local", Name: runtimes.HandleName(rec.JobID, rec.Attempt+1), Node: "n1"}}
}

var running = lifecycle.Input{Type: lifecycle.Running}

func exited(phase runtimes.Phase, code int, retryIn time.Duration) lifecycle.Input {
	return lifecycle.Input{Type: lifecycle.Exited, Status: &runtimes.Status{Phase: phase, ExitCode: code}, RetryDelay: retryIn}
}

var (
	exitedOK     = exited(runtimes.PhaseSucceeded, 0, 0)
	exitedFailed = exited(runtimes.PhaseFailed, 1, 0)
	cancelReq    = lifecycle.Input{Type: lifecycle.CancelRequested, JobID: "j1"}
)

func stopped(st *runtimes.Status) lifecycle.Input {
	return lifecycle.Input{Type: lifecycle.Stopped, Status: st, Reason: "cancelled"}
}

func (h *history) launch() *history { return h.do(launching(h.rec)) }

func through(points ...string) string { return fmt.Sprint(points) }

// delivery is the message coming back to dispatcher d2 on node n1.
func delivery() lifecycle.Delivery {
	return lifecycle.Delivery{Dispatcher: "d2", StreamSeq: 7, NumDelivered: 2, Kind: "smoke", MaxRetries: 1,
		Runtime: "local", Now: t0,
		Serves: func(rt string) (string, bool) { return "n1", rt == "local" }}
}

// TestCrashMatrix is the crash matrix of docs/protocol.md: for every failpoint of the
// success path and the failure path, the record and events a SIGKILL
// there leaves behind, the runtime's view of the workload, what the next
// owner decides, and the event it publishes next, whose <job_id>:<seq>
// must equal that of an event of the same type already published (the
// stream drops the copy) or be new, never another type's.
func TestCrashMatrix(t *testing.T) {
	var (
		afterStarted = func() *history { return queued().accepted().launch() }
		afterRunning = func() *history { return afterStarted().do(running) }
		afterFailed  = func() *history { return afterRunning().crash(exitedFailed, "record:failed") }
		killed       = &runtimes.Status{Phase: runtimes.PhaseFailed, ExitCode: 143}
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
		{point: "event:started", h: queued().accepted().crash(launching(queued().rec), "event:started"), step: lifecycle.Launch,
			next: messages.EventStarted, nextSeq: 2},
		{point: "record:started", h: afterStarted(), phase: runtimes.PhaseNotFound, step: lifecycle.Adopt,
			adopt: lifecycle.StartAgain, next: messages.EventRunning, nextSeq: 3},
		{point: "launched", h: afterStarted(), phase: runtimes.PhaseRunning, step: lifecycle.Adopt,
			adopt: lifecycle.Watch, next: messages.EventRunning, nextSeq: 3},
		{point: "event:running", h: afterStarted().crash(running, "event:running"), phase: runtimes.PhaseRunning,
			step: lifecycle.Adopt, adopt: lifecycle.Watch, next: messages.EventRunning, nextSeq: 3},
		{point: "record:running", h: afterRunning(), phase: runtimes.PhaseRunning, step: lifecycle.Adopt,
			adopt: lifecycle.Watch},
		{point: "exited", h: afterRunning(), phase: runtimes.PhaseSucceeded, step: lifecycle.Adopt,
			adopt: lifecycle.Complete, next: messages.EventSucceeded, nextSeq: 4},
		{point: "exited while starting", h: afterStarted(), phase: runtimes.PhaseSucceeded, step: lifecycle.Adopt,
			adopt: lifecycle.Complete, next: messages.EventRunning, nextSeq: 3},
		{point: "record:succeeded", h: afterRunning().crash(exitedOK, "record:succeeded"),
			step: lifecycle.Announce, next: messages.EventSucceeded, nextSeq: 4},
		{point: "event:succeeded", h: afterRunning().do(exitedOK),
			step: lifecycle.Announce, next: messages.EventSucceeded, nextSeq: 4},
		// The failure path (attempt 1 of 2 fails).
		{point: "event:failed", h: afterRunning().crash(exitedFailed, "event:failed"), phase: runtimes.PhaseFailed,
			step: lifecycle.Adopt, adopt: lifecycle.Complete, next: messages.EventFailed, nextSeq: 4},
		{point: "record:failed", h: afterFailed(), phase: runtimes.PhaseFailed, step: lifecycle.Adopt,
			adopt: lifecycle.Complete, after: lifecycle.Retry, next: messages.EventRetrying, nextSeq: 5},
		{point: "event:retrying", h: afterRunning().crash(exitedFailed, "event:retrying"), phase: runtimes.PhaseFailed,
			step: lifecycle.Adopt, adopt: lifecycle.Complete, after: lifecycle.Retry, next: messages.EventRetrying, nextSeq: 5},
		{point: "record:retrying (due)", h: afterRunning().do(exitedFailed),
			step: lifecycle.Launch, next: messages.EventStarted, nextSeq: 6},
		{point: "record:retrying (early)", h: afterRunning().do(exited(runtimes.PhaseFailed, 1, time.Minute)),
			step: lifecycle.WaitRetry, next: messages.EventStarted, nextSeq: 6},
		// Attempt 2 of 2 fails: dead.
		{point: "record:failed (last)", h: afterRunning().do(exitedFailed).launch().do(running).crash(exitedFailed, "record:failed"),
			phase: runtimes.PhaseFailed, step: lifecycle.Adopt, adopt: lifecycle.Complete, after: lifecycle.Dead,
			next: messages.EventDead, nextSeq: 9},
		// The worker refused its input (exit 65): dead at once.
		{point: "event:dead", h: afterRunning().crash(exited(runtimes.PhaseFailed, 65, 0), "event:dead"), phase: runtimes.PhaseFailed,
			step: lifecycle.Adopt, adopt: lifecycle.Complete, after: lifecycle.Dead, next: messages.EventDead, nextSeq: 5},
		{point: "record:dead", h: afterRunning().do(exited(runtimes.PhaseFailed, 65, 0)),
			step: lifecycle.Announce, next: messages.EventDead, nextSeq: 5},
		// A cancel carried out mid-run: the workload was stopped, then
		// "cancelled" published (event:cancelled) or also recorded.
		{point: "event:cancelled", h: afterRunning().do(cancelReq).crash(stopped(killed), "event:cancelled"),
			phase: runtimes.PhaseFailed, step: lifecycle.Adopt, adopt: lifecycle.CancelFinished,
			next: messages.EventCancelled, nextSeq: 4},
		{point: "record:cancelled", h: afterRunning().do(cancelReq).do(stopped(killed)),
			step: lifecycle.Announce, next: messages.EventCancelled, nextSeq: 4},
		// A launch that failed before the workload ran: "running" (seq 3)
		// stays reserved for the attempt.
		{point: "record:started, Start failed",
			h:     afterStarted().crash(lifecycle.Input{Type: lifecycle.Failed, Reason: "launch: no"}, "event:failed"),
			phase: runtimes.PhaseNotFound, step: lifecycle.Adopt, adopt: lifecycle.StartAgain,
			next: messages.EventFailed, nextSeq: 4},
		// Cancels.
		{point: "cancel while running", h: afterRunning().do(cancelReq), phase: runtimes.PhaseRunning,
			step: lifecycle.Adopt, adopt: lifecycle.StopThenCancel, next: messages.EventCancelled, nextSeq: 4},
		{point: "cancel, then exit 0", h: afterRunning().do(cancelReq), phase: runtimes.PhaseSucceeded,
			step: lifecycle.Adopt, adopt: lifecycle.CancelFinished, next: messages.EventCancelled, nextSeq: 4},
		{point: "cancel before launch", h: afterStarted().do(cancelReq), phase: runtimes.PhaseNotFound,
			step: lifecycle.Adopt, adopt: lifecycle.CancelUnlaunched, next: messages.EventCancelled, nextSeq: 4},
		{point: "cancel at record:failed", h: afterFailed().do(cancelReq), phase: runtimes.PhaseFailed,
			step: lifecycle.Adopt, adopt: lifecycle.CancelFinished, after: lifecycle.CancelAtFailed,
			next: messages.EventCancelled, nextSeq: 5},
		{point: "cancel while queued", h: queued().accepted().do(cancelReq), step: lifecycle.Launch,
			next: messages.EventCancelled, nextSeq: 3},
		// "started" published, its record not written, then a cancel: the
		// cancelled event must not take the seq of the published started.
		{point: "event:started, then a cancel", h: queued().accepted().crash(launching(queued().rec), "event:started").do(cancelReq),
			step: lifecycle.Launch, next: messages.EventCancelled, nextSeq: 3},
		{point: "event:started of attempt 2, then a cancel",
			h:    afterRunning().do(exitedFailed).set(func(r *messages.Record) { r.Owner = "d1" }).crash(launching(afterRunning().do(exitedFailed).rec), "event:started").do(cancelReq),
			step: lifecycle.Launch, next: messages.EventCancelled, nextSeq: 7},
		{point: "cancelled while retrying", h: afterRunning().do(exited(runtimes.PhaseFailed, 1, time.Minute)).do(cancelReq),
			step: lifecycle.Announce, next: messages.EventCancelled, nextSeq: 7},
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
			var in lifecycle.Input
			switch r.Step {
			case lifecycle.Launch, lifecycle.WaitRetry:
				in = launching(rec)
			case lifecycle.Adopt:
				a := lifecycle.OnAdopt(rec, c.phase)
				if a != c.adopt {
					t.Fatalf("adopt %s, want %s", a, c.adopt)
				}
				st := &runtimes.Status{Phase: c.phase, ExitCode: map[runtimes.Phase]int{runtimes.PhaseFailed: 1}[c.phase]}
				switch a {
				case lifecycle.StartAgain, lifecycle.Watch:
					in = running
					if c.next == messages.EventFailed { // the relaunch failed again
						in = lifecycle.Input{Type: lifecycle.Failed, Reason: "launch: no"}
					}
				case lifecycle.Complete:
					in = exited(c.phase, st.ExitCode, 0)
				case lifecycle.CancelFinished:
					in = stopped(st)
					if c.after != "" {
						in = exited(c.phase, st.ExitCode, 0)
					}
				case lifecycle.CancelUnlaunched, lifecycle.StopThenCancel:
					in = stopped(nil)
				}
				if c.after != "" && rec.FailedAttempt == rec.Attempt {
					if got := lifecycle.AfterFailure(rec); got != c.after {
						t.Fatalf("after the failure: %s, want %s", got, c.after)
					}
				}
			}
			_, fx := lifecycle.Apply(rec, in, t0)
			var next messages.Event
			for _, e := range fx {
				if e.Type == lifecycle.Publish {
					next = e.Event
					break
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
	rec := queued().accepted().launch().rec
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
			switch {
			case st == messages.StateStarting && typ != messages.EventRunning,
				(st == messages.StateQueued || st == messages.StateRetrying) && typ != messages.EventStarted:
				want = 7
			}
			if got != want {
				t.Errorf("%s → %s: seq %d, want %d", st, typ, got, want)
			}
		}
	}
	rec := messages.Record{JobID: "j", State: messages.StateRunning, Seq: 3, Handle: &runtimes.Handle{Name: "h"}}
	next, ev := lifecycle.Advance(rec, messages.EventSucceeded, t0, func(r *messages.Record) {
		code := 0
		r.State, r.ExitCode = messages.StateSucceeded, &code
	})
	if rec.State != messages.StateRunning || rec.ExitCode != nil {
		t.Fatal("Advance changed its input")
	}
	if ev.Seq != next.Seq || ev.State != messages.StateSucceeded || ev.Handle != "h" || *ev.ExitCode != 0 || !next.Updated.Equal(t0) {
		t.Fatalf("event %+v for record %+v", ev, next)
	}
}

// TestApply: every input in every state it can meet, as the effects it
// asks for (in order) and the state it leaves.
func TestApply(t *testing.T) {
	var (
		fresh        = func() messages.Record { return queued().rec }
		started      = func() messages.Record { return queued().launch().rec }
		run          = func() messages.Record { return queued().launch().do(running).rec }
		failedRec    = func() messages.Record { return queued().launch().do(running).crash(exitedFailed, "record:failed").rec }
		retryingRec  = func() messages.Record { return queued().launch().do(running).do(exitedFailed).rec }
		lastAttempt  = func() messages.Record { return queued().launch().do(running).do(exitedFailed).launch().do(running).rec }
		withCancel   = func(r messages.Record) messages.Record { r.Desired = messages.DesiredCancel; return r }
		terminal     = func() messages.Record { return queued().launch().do(running).do(exitedOK).rec }
		killed       = &runtimes.Status{Phase: runtimes.PhaseFailed, ExitCode: 143}
		failedLaunch = lifecycle.Input{Type: lifecycle.Failed, Reason: "launch: refused", Permanent: true}
		maxDeliv     = lifecycle.Input{Type: lifecycle.MaxDeliveries, JobID: "j1", StreamSeq: 7, Reason: "gave up"}
		reject       = lifecycle.Input{Type: lifecycle.Rejected, JobID: "j1", StreamSeq: 7, Reason: "bad", Dispatcher: "d2"}
		rejectOther  = lifecycle.Input{Type: lifecycle.Rejected, JobID: "j1", StreamSeq: 8, Reason: "bad", Dispatcher: "d2"}
		rejectedRec  = func() messages.Record { r, _ := lifecycle.Apply(messages.Record{}, reject, t0); return r }
		cancelOnly   = func() messages.Record { r, _ := lifecycle.Apply(messages.Record{}, cancelReq, t0); return r }
	)
	cases := []struct {
		name    string
		rec     messages.Record
		in      lifecycle.Input
		effects string
		state   messages.State
	}{
		{"launch", fresh(), launching(fresh()), "publish:started write:started", messages.StateStarting},
		{"launch, cancel recorded", withCancel(fresh()), launching(fresh()), "publish:cancelled write:cancelled settle:ack", messages.StateCancelled},
		{"running", started(), running, "publish:running write:running", messages.StateRunning},
		{"running again", run(), running, "", messages.StateRunning},
		{"exit 0", run(), exitedOK, "write:succeeded publish:succeeded settle:ack", messages.StateSucceeded},
		{"exit 0 while starting", started(), exitedOK, "publish:running write:running write:succeeded publish:succeeded settle:ack", messages.StateSucceeded},
		{"exit 0 after a cancel", withCancel(run()), exitedOK, "publish:cancelled write:cancelled settle:ack", messages.StateCancelled},
		{"exit 1, retries left", run(), exitedFailed, "publish:failed write:failed publish:retrying write:retrying settle:nak", messages.StateRetrying},
		{"exit 1, failure recorded", failedRec(), exitedFailed, "publish:retrying write:retrying settle:nak", messages.StateRetrying},
		{"exit 1, last attempt", lastAttempt(), exitedFailed, "publish:failed write:failed dead-letter publish:dead write:dead settle:term", messages.StateDead},
		{"exit 65", run(), exited(runtimes.PhaseFailed, 65, 0), "publish:failed write:failed dead-letter publish:dead write:dead settle:term", messages.StateDead},
		{"exit 1 after a cancel", withCancel(run()), exitedFailed, "publish:failed write:failed publish:cancelled write:cancelled settle:ack", messages.StateCancelled},
		{"launch failed", started(), failedLaunch, "publish:failed write:failed dead-letter publish:dead write:dead settle:term", messages.StateDead},
		{"stopped", withCancel(run()), stopped(killed), "publish:cancelled write:cancelled settle:ack", messages.StateCancelled},
		{"cancel, unknown job", messages.Record{}, cancelReq, "write: reply", messages.StateQueued},
		{"cancel, unknown derived id", messages.Record{}, lifecycle.Input{Type: lifecycle.CancelRequested, JobID: messages.DerivedJobID(9)}, "reply", ""},
		{"cancel, running", run(), cancelReq, "write: reply", messages.StateRunning},
		{"cancel, already asked", withCancel(run()), cancelReq, "reply", messages.StateRunning},
		{"cancel, retrying", retryingRec(), cancelReq, "write:cancelled publish:cancelled reply", messages.StateCancelled},
		{"cancel, finished", terminal(), cancelReq, "reply", messages.StateSucceeded},
		{"max deliveries, unknown", messages.Record{}, maxDeliv, "dead-letter write:dead publish:dead", messages.StateDead},
		{"max deliveries, running", run(), maxDeliv, "dead-letter write:dead publish:dead", messages.StateDead},
		{"max deliveries, finished", terminal(), maxDeliv, "", messages.StateSucceeded},
		{"rejected", messages.Record{}, reject, "write:rejected publish:rejected settle:term", messages.StateRejected},
		{"rejected again", rejectedRec(), reject, "publish:rejected settle:term", messages.StateRejected},
		{"rejected, only a cancel recorded", cancelOnly(), reject, "write:rejected publish:rejected settle:term", messages.StateRejected},
		{"rejected, under way elsewhere", run(), reject, "settle:nak", messages.StateRunning},
		{"rejected, finished", terminal(), reject, "settle:ack", messages.StateSucceeded},
		{"rejected, the id is another's", run(), rejectOther, "rename", messages.StateRunning},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := lifecycle.Clone(c.rec)
			next, fx := lifecycle.Apply(c.rec, c.in, t0)
			var got []string
			for _, e := range fx {
				s := string(e.Type)
				switch e.Type {
				case lifecycle.Publish, lifecycle.Write:
					s += ":" + string(e.Transition)
				case lifecycle.Settle:
					s += ":" + string(e.Settle)
				}
				got = append(got, s)
			}
			if g := strings.Join(got, " "); g != c.effects {
				t.Errorf("effects %q, want %q", g, c.effects)
			}
			if next.State != c.state {
				t.Errorf("state %s, want %s", next.State, c.state)
			}
			if !reflect.DeepEqual(before, c.rec) {
				t.Error("Apply changed its input")
			}
			// The record last written is the one returned, and every event
			// describes the record of its transition.
			var written messages.Record
			for _, e := range fx {
				if e.Type == lifecycle.Write {
					written = e.Record
				}
				if e.Type == lifecycle.Publish && (e.Event.JobID != "j1" || e.Event.Seq == 0) {
					t.Errorf("event %+v", e.Event)
				}
			}
			if written.V != 0 && !reflect.DeepEqual(written, next) {
				t.Errorf("returns %+v, last write %+v", next, written)
			}
			// A request applied again to what it wrote (a second
			// advisory, a repeated cancel) writes nothing.
			if c.in.Type == lifecycle.MaxDeliveries || c.in.Type == lifecycle.CancelRequested {
				for _, e := range second(next, c.in) {
					if e.Type == lifecycle.Write || e.Type == lifecycle.DeadLetter {
						t.Errorf("applied twice: %s again", e.Type)
					}
				}
			}
		})
	}
}

func second(rec messages.Record, in lifecycle.Input) []lifecycle.Effect {
	_, fx := lifecycle.Apply(rec, in, t0.Add(time.Second))
	return fx
}

func TestMerge(t *testing.T) {
	held := queued().launch().do(running).rec
	cur := held
	cur.Desired = messages.DesiredCancel
	if m, ok := lifecycle.Merge(held, cur); !ok || m.Desired != messages.DesiredCancel {
		t.Errorf("a recorded cancel is merged: %v %+v", ok, m)
	}
	for name, change := range map[string]func(*messages.Record){
		"owner":    func(r *messages.Record) { r.Owner = "d2" },
		"delivery": func(r *messages.Record) { r.Delivery++ },
		"message":  func(r *messages.Record) { r.MsgSeq++ },
		"seq":      func(r *messages.Record) { r.Seq++ },
		"finished": func(r *messages.Record) { r.State = messages.StateDead },
	} {
		c := held
		change(&c)
		if _, ok := lifecycle.Merge(held, c); ok {
			t.Errorf("a change of %s is merged", name)
		}
	}
}
