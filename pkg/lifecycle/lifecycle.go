// Package lifecycle is the dispatcher's lifecycle protocol
// (docs/protocol.md; package dispatch carries it out) as pure functions, free of NATS, runtimes and clocks.
//
// Apply is its core: a job's record, what happened (an Input) and the
// time in; the next record and the Effects that carry it out, in order
// (publish an event, write the record by compare-and-swap, copy to the
// dead letters, settle the message, reply to a cancel). The caller carries
// them out and, on a write conflict, applies the input again to the record
// it reads (an owner first asks Merge whether it still holds the job).
//
// Around it: the one sequence rule (NextSeq) and event builder (Event,
// Advance), what a redelivered message means (OnRedelivery), what an
// adopted workload needs (OnAdopt) and what follows a failed attempt
// (AfterFailure). The tests are tables: every input in every state
// (TestApply) and every crash point of the protocol, with what the next
// owner does (TestCrashMatrix), besides dispatch's SIGKILL tests on real
// processes.
package lifecycle

import (
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

// NextSeq is the seq of the event that transition t adds after rec. Every
// event of a job has its own seq, and an event repeated after a crash has
// the seq it had, so <job_id>:<seq> is the events stream's duplicate key.
// The rule: rec.Seq + 1, except when a job leaves a state by any
// transition but the one that normally follows it ("started" after
// "queued" or "retrying", "running" after "starting"): rec.Seq + 1 is
// then kept for that event, which may have been published without its
// record being written (a crash in between, or a write that a cancel
// request made conflict), and another event under its seq would be
// dropped by the stream as its duplicate.
func NextSeq(rec messages.Record, t messages.EventType) uint64 {
	if next, ok := follows[rec.State]; ok && t != next {
		return rec.Seq + 2
	}
	return rec.Seq + 1
}

// follows is the event that normally follows a state.
var follows = map[messages.State]messages.EventType{
	messages.StateQueued:   messages.EventStarted,
	messages.StateRetrying: messages.EventStarted,
	messages.StateStarting: messages.EventRunning,
}

// Event is the event of type t describing rec (seq, state, attempt, handle,
// error and exit code as recorded). Callers add a message and, for
// retrying, the retry.
func Event(rec messages.Record, t messages.EventType) messages.Event {
	ev := messages.Event{V: messages.Version, JobID: rec.JobID, Seq: rec.Seq, Type: t, State: rec.State,
		Kind: rec.Kind, Attempt: rec.Attempt, Runtime: rec.Runtime, Labels: rec.Labels,
		Error: rec.Error, ExitCode: rec.ExitCode}
	if rec.Handle != nil {
		ev.Handle = rec.Handle.Name
	}
	return ev
}

// Advance returns the record after transition t, with mutate applied to a
// copy of rec, its seq numbered by NextSeq and Updated set to now, and the
// event announcing it. rec itself is not changed.
func Advance(rec messages.Record, t messages.EventType, now time.Time, mutate func(*messages.Record)) (messages.Record, messages.Event) {
	next := Clone(rec)
	if mutate != nil {
		mutate(&next)
	}
	next.Seq = NextSeq(rec, t)
	next.Updated = now.UTC()
	return next, Event(next, t)
}

// Clone copies a record deeply enough that changing the copy's handle or
// exit code leaves the original alone.
func Clone(r messages.Record) messages.Record {
	c := r
	if r.Handle != nil {
		h := *r.Handle
		c.Handle = &h
	}
	if r.ExitCode != nil {
		e := *r.ExitCode
		c.ExitCode = &e
	}
	return c
}

// TerminalEvent is the event type that announces a terminal state ("" for
// a state that is not terminal).
func TerminalEvent(s messages.State) messages.EventType { return terminalEvents[s] }

var terminalEvents = map[messages.State]messages.EventType{
	messages.StateSucceeded: messages.EventSucceeded, messages.StateCancelled: messages.EventCancelled,
	messages.StateDead: messages.EventDead, messages.StateRejected: messages.EventRejected,
}

// Delivery is what a delivered submission brings to a job that already
// has a record.
type Delivery struct {
	// Dispatcher is this dispatcher's id.
	Dispatcher string
	// StreamSeq and NumDelivered are the message's stream sequence and
	// delivery count.
	StreamSeq, NumDelivered uint64
	// The submission's fields, for a record that only a cancel created
	// (msg_seq 0).
	Kind, Name string
	Labels     map[string]string
	MaxRetries int
	// Runtime is the runtime the submission asks for (resolved).
	Runtime string
	// Serves reports whether this dispatcher runs a runtime, and for a
	// node-local one, its node ("" otherwise).
	Serves func(runtime string) (node string, ok bool)
	Now    time.Time
}

// Step is what a dispatcher does with a job it holds a message of.
type Step string

// Steps of OnRedelivery.
const (
	// Drop: the message is another submission of a recorded job id; ack it,
	// publish nothing.
	Drop Step = "drop"
	// Announce: the job is finished; publish its terminal event if the
	// events stream lacks it, and ack.
	Announce Step = "announce"
	// Adopt: inspect the recorded workload (OnAdopt).
	Adopt Step = "adopt"
	// Launch: launch the next attempt (or cancel, if one is recorded).
	Launch Step = "launch"
	// WaitRetry: wait until the record's NextRetry, or a cancel, then launch.
	WaitRetry Step = "wait-retry"
	// LeaveRuntime: Nak with AckWait for a dispatcher that runs the
	// record's runtime.
	LeaveRuntime Step = "leave-runtime"
	// LeaveNode: Nak with AckWait for a dispatcher on the workload's node.
	LeaveNode Step = "leave-node"
)

// Redelivery is OnRedelivery's answer.
type Redelivery struct {
	Step Step
	// Take is the record with this dispatcher as its owner, to write by
	// compare-and-swap before anything else (not for Drop and Announce).
	Take messages.Record
	// Reannounce: publish "accepted" (seq 1) again before going on; the
	// previous owner may have died between recording the job and
	// announcing it (the stream's duplicate window drops a copy).
	Reannounce bool
	// Adoption: another dispatcher owned the job.
	Adoption bool
}

// OnRedelivery decides what to do with a message whose job id already has
// record rec (docs/protocol.md, step 4).
func OnRedelivery(rec messages.Record, d Delivery) Redelivery {
	if rec.MsgSeq != 0 && rec.MsgSeq != d.StreamSeq {
		return Redelivery{Step: Drop}
	}
	if rec.State.Terminal() {
		return Redelivery{Step: Announce}
	}
	take := Clone(rec)
	take.Owner, take.MsgSeq, take.Delivery, take.Updated = d.Dispatcher, d.StreamSeq, d.NumDelivered, d.Now.UTC()
	if take.Kind == "" { // recorded by a cancel before the job was seen
		take.Kind, take.Name, take.Labels, take.MaxRetries = d.Kind, d.Name, d.Labels, d.MaxRetries
	}
	if take.Runtime == "" {
		take.Runtime = d.Runtime
	}
	r := Redelivery{Take: take, Adoption: rec.Owner != "" && rec.Owner != d.Dispatcher,
		Reannounce: rec.State == messages.StateQueued && rec.Seq == 1}
	node, ok := "", true
	if d.Serves != nil {
		node, ok = d.Serves(take.Runtime)
	}
	switch {
	case !ok:
		r.Step = LeaveRuntime
	case rec.State == messages.StateStarting || rec.State == messages.StateRunning:
		r.Step = Adopt
		if node != "" && rec.Handle != nil && rec.Handle.Node != "" && rec.Handle.Node != node {
			r.Step = LeaveNode
		}
	case rec.State == messages.StateRetrying && rec.NextRetry.Sub(d.Now) > time.Second:
		r.Step = WaitRetry
	default:
		r.Step = Launch
	}
	return r
}

// AdoptStep is what OnAdopt decides.
type AdoptStep string

// Steps of OnAdopt.
const (
	// StartAgain: the previous owner recorded "starting" and died before
	// the runtime launched anything; Start the recorded handle (idempotent).
	StartAgain AdoptStep = "start"
	// Watch: the workload runs; watch it.
	Watch AdoptStep = "watch"
	// Complete: the workload finished; record its result.
	Complete AdoptStep = "complete"
	// Disappeared: a "running" workload the runtime no longer knows; a
	// failed attempt.
	Disappeared AdoptStep = "disappeared"
	// CancelUnlaunched: a cancel is recorded and nothing runs; cancelled.
	CancelUnlaunched AdoptStep = "cancel-unlaunched"
	// CancelFinished: a cancel is recorded and the workload has ended; the
	// cancel holds (cancelled, with the workload's exit code).
	CancelFinished AdoptStep = "cancel-finished"
	// StopThenCancel: a cancel is recorded and the workload runs; stop it,
	// then cancelled.
	StopThenCancel AdoptStep = "stop"
)

// OnAdopt decides what an adopting dispatcher does with the workload of a
// "starting" or "running" record, given what the runtime's Inspect found
// (docs/protocol.md, step 6). A record without a handle is launched (Launch is the
// caller's business: it has no AdoptStep).
func OnAdopt(rec messages.Record, phase runtimes.Phase) AdoptStep {
	if rec.Desired == messages.DesiredCancel {
		switch {
		case phase == runtimes.PhaseNotFound:
			return CancelUnlaunched
		case phase.Done():
			return CancelFinished
		}
		return StopThenCancel
	}
	switch {
	case phase == runtimes.PhaseNotFound && rec.State == messages.StateStarting:
		return StartAgain
	case phase == runtimes.PhaseNotFound:
		return Disappeared
	case phase.Done():
		return Complete
	}
	return Watch
}

// Failure is what AfterFailure decides once a failed attempt is recorded.
type Failure string

// Outcomes of AfterFailure.
const (
	Retry          Failure = "retry"
	Dead           Failure = "dead"
	CancelAtFailed Failure = "cancel"
)

// AfterFailure decides what follows a failed attempt that rec records
// (FailedAttempt = Attempt): a recorded cancel wins; a permanent failure,
// or one past MaxRetries retries, is dead; anything else is retried.
func AfterFailure(rec messages.Record) Failure {
	switch {
	case rec.Desired == messages.DesiredCancel:
		return CancelAtFailed
	case rec.FailPermanent || rec.Attempt > rec.MaxRetries:
		return Dead
	}
	return Retry
}
