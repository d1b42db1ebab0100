package lifecycle

import (
	"fmt"
	"strconv"
	"time"

	"github.com/jetrun/jetrun/internal/textutil"
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

// InputType names what happened to a job.
type InputType string

// The inputs of Apply. The owner of a job's message (the dispatcher that
// holds it) applies Launching, Running, Exited, Failed and Stopped to the
// record it holds; any dispatcher applies CancelRequested, MaxDeliveries
// and Rejected to the record as read (a zero Record when there is none).
const (
	// Launching: the owner is about to start the next attempt on Handle.
	Launching InputType = "launch"
	// Running: the runtime reports the workload running.
	Running InputType = "running"
	// Exited: the workload ended with Status.
	Exited InputType = "exit"
	// Failed: the attempt failed without an exit of its own (the launch
	// failed, the workload disappeared, the watchdog stopped it): Reason,
	// ExitCode, Permanent.
	Failed InputType = "fail"
	// Stopped: a recorded cancel was carried out: the workload was stopped
	// (Status, when it had run) or never launched.
	Stopped InputType = "stopped"
	// CancelRequested: a producer asked for the job to be cancelled.
	CancelRequested InputType = "cancel-request"
	// MaxDeliveries: JetStream gave up delivering the job's submission.
	MaxDeliveries InputType = "max-deliveries"
	// Rejected: a dispatcher found the submission at StreamSeq unfit to
	// run, for Reason.
	Rejected InputType = "rejected"
)

// Input is what happened, with what Apply needs to know about it.
type Input struct {
	Type InputType
	// Handle is the workload of the attempt to launch (Launching).
	Handle runtimes.Handle
	// Status is how the workload ended (Exited; Stopped when it had run).
	Status *runtimes.Status
	// Reason, ExitCode and Permanent describe a Failed; Reason also names
	// why for MaxDeliveries and is the message of Stopped.
	Reason    string
	ExitCode  *int
	Permanent bool
	// RetryDelay is the backoff before the next attempt, should this
	// input end one that is to be retried (Exited, Failed).
	RetryDelay time.Duration
	// JobID and StreamSeq name the job of a CancelRequested, MaxDeliveries
	// or Rejected whose record may not exist; Submission is what is known
	// of it (kind, labels), Submitted when it was published and
	// Dispatcher who rejects it.
	JobID      string
	StreamSeq  uint64
	Submission messages.Submission
	Submitted  time.Time
	Dispatcher string
	// LeaveDelay is how long a rejecting dispatcher leaves a job that
	// another accepted for a dispatcher that can run it (Rejected).
	LeaveDelay time.Duration
	// DLQ names the dead-letter stream, for the dead event's message.
	DLQ string
}

// EffectType names something the caller of Apply carries out.
type EffectType string

// The effects of Apply, carried out in the order given.
const (
	// Publish the effect's Event (its <job_id>:<seq> is the duplicate key).
	Publish EffectType = "publish"
	// Write the effect's Record by compare-and-swap on the revision the
	// input was applied to (a create when there was no record). On a
	// conflict the caller reads the record again and applies the input
	// anew (an owner first asks Merge whether it still holds the job);
	// a dead-letter copy is repeated under the same key, and an event
	// already published is repeated under the same seq (an owner skips
	// the ones it published itself).
	Write EffectType = "write"
	// DeadLetter copies the submission to the dead-letter stream with
	// Reason (under the job id as duplicate key).
	DeadLetter EffectType = "dead-letter"
	// Settle the message: Settle.
	Settle EffectType = "settle"
	// Reply to a cancel request: Reply.
	Reply EffectType = "reply"
	// Rename: the job id belongs to another submission; apply the input
	// again to the record of JobID (the submission's derived id).
	Rename EffectType = "rename"
)

// SettleKind is what becomes of the job's message.
type SettleKind string

// Settlements an Apply can decide.
const (
	Ack  SettleKind = "ack"  // done
	Term SettleKind = "term" // never redeliver (dead)
	Nak  SettleKind = "nak"  // redeliver after Delay (the next attempt)
)

// Effect is one step for the caller of Apply.
type Effect struct {
	Type EffectType
	// Transition is the event type a Publish or Write belongs to (the
	// dispatcher's failpoints are "event:<t>" and "record:<t>").
	Transition messages.EventType
	Event      messages.Event
	Record     messages.Record
	Settle     SettleKind
	Delay      time.Duration
	Reason     string
	Reply      messages.CancelReply
	JobID      string
}

// Apply is the lifecycle protocol: given a job's record, what happened and
// the time, it returns the record after it and the effects that carry it
// out, in order. An owner's transitions publish their event before writing
// the record, so that a crash in between makes the next owner repeat the
// event under the same seq. A success is written first, so that a cancel
// recorded before it holds; so are the transitions no owner makes (a
// cancel of a job waiting to retry, max deliveries, a rejection), so that
// an owner still at work loses its next write. The next delivery announces
// a terminal record whose event is missing. Apply is pure: rec is not changed, and
// the same arguments give the same answer, which is what lets a caller
// apply an input again after a conflict or a crash.
//
// Apply does not talk to the runtime: the owner starts, watches and stops
// workloads, and turns what it sees into inputs.
func Apply(rec messages.Record, in Input, now time.Time) (messages.Record, []Effect) {
	a := applier{rec: Clone(rec), now: now.UTC()}
	switch in.Type {
	case Launching:
		a.launch(in)
	case Running:
		if a.rec.State == messages.StateStarting {
			a.transition(messages.EventRunning, "", func(r *messages.Record) { r.State = messages.StateRunning })
		}
	case Exited:
		a.exit(in)
	case Failed:
		a.failure(in.Reason, in.ExitCode, in.Permanent, in)
	case Stopped:
		a.cancelled(in.Status, in.Reason)
	case CancelRequested:
		a.cancelRequest(in)
	case MaxDeliveries:
		a.maxDeliveries(in)
	case Rejected:
		a.rejected(in)
	default:
		panic("lifecycle: unknown input " + string(in.Type))
	}
	return a.rec, a.fx
}

// Merge decides whether an owner still holds its job after a write of
// held conflicted with the record now stored, cur: it does when the only
// change is a recorded cancel, which it merges (the record to apply the
// input to again). Any other change means another dispatcher, or a newer
// delivery, owns the job.
func Merge(held, cur messages.Record) (messages.Record, bool) {
	if cur.Owner != held.Owner || cur.Delivery != held.Delivery || cur.MsgSeq != held.MsgSeq ||
		cur.State.Terminal() || cur.Seq != held.Seq {
		return cur, false
	}
	return cur, true
}

type applier struct {
	rec messages.Record
	now time.Time
	fx  []Effect
}

func (a *applier) add(e Effect) { a.fx = append(a.fx, e) }

// transition advances the record by t: its event, then its record.
func (a *applier) transition(t messages.EventType, msg string, mutate func(*messages.Record)) {
	a.advance(t, msg, mutate, false)
}

// recordFirst advances the record by t writing the record before its
// event: a success, and the transitions no owner makes.
func (a *applier) recordFirst(t messages.EventType, msg string, mutate func(*messages.Record)) {
	a.advance(t, msg, mutate, true)
}

func (a *applier) advance(t messages.EventType, msg string, mutate func(*messages.Record), recordFirst bool) {
	next, ev := Advance(a.rec, t, a.now, mutate)
	ev.Message, ev.Time = msg, a.now
	pub, write := Effect{Type: Publish, Transition: t, Event: ev}, Effect{Type: Write, Transition: t, Record: next}
	if recordFirst {
		pub, write = write, pub
	}
	a.add(pub)
	a.add(write)
	a.rec = next
}

// lastEvent is the event of the last Publish effect, to add to.
func (a *applier) lastEvent() *messages.Event {
	for i := len(a.fx) - 1; i >= 0; i-- {
		if a.fx[i].Type == Publish {
			return &a.fx[i].Event
		}
	}
	panic("lifecycle: no event to add to")
}

func (a *applier) settle(k SettleKind, delay time.Duration, reason string) {
	a.add(Effect{Type: Settle, Settle: k, Delay: delay, Reason: reason})
}

func (a *applier) launch(in Input) {
	if a.rec.Desired == messages.DesiredCancel {
		a.cancelled(nil, "cancelled before launch")
		return
	}
	attempt, h := a.rec.Attempt+1, in.Handle
	a.transition(messages.EventStarted,
		fmt.Sprintf("launching %s on %s (attempt %d of %d)", h.Name, h.Runtime, attempt, a.rec.MaxRetries+1),
		func(r *messages.Record) {
			r.State, r.Attempt, r.Handle = messages.StateStarting, attempt, &h
			r.Started, r.NextRetry = a.now, time.Time{}
			r.Error, r.ExitCode = "", nil // the failed events keep the history
		})
}

func (a *applier) exit(in Input) {
	if in.Status == nil {
		panic("lifecycle: Exited without a status")
	}
	st := *in.Status
	if a.rec.State == messages.StateStarting {
		// It ran, however briefly: keep the sequence whole.
		a.transition(messages.EventRunning, "", func(r *messages.Record) { r.State = messages.StateRunning })
	}
	code := st.ExitCode
	if st.Phase == runtimes.PhaseSucceeded {
		if a.rec.Desired == messages.DesiredCancel {
			// The cancel was recorded first: it holds.
			a.cancelled(&st, "cancelled; the workload had exited 0 before the cancel was carried out")
			return
		}
		a.recordFirst(messages.EventSucceeded, "", func(r *messages.Record) {
			r.State, r.ExitCode, r.Error, r.Finished = messages.StateSucceeded, &code, "", a.now
		})
		a.settle(Ack, 0, "")
		return
	}
	reason := st.Reason
	if reason == "" {
		reason = "failed with exit code " + strconv.Itoa(code)
	}
	// The worker's way of saying "the input itself is bad": retrying
	// cannot help, so the job goes to the dead letters at once.
	permanent := code == jobs.ExitPermanent && st.Phase == runtimes.PhaseFailed
	if permanent {
		reason += " (the job's input was refused; not retried)"
	}
	a.failure(reason, &code, permanent, in)
}

// failure records a failed attempt, then retries it, dead-letters the job
// or, when a cancel is recorded, cancels it (AfterFailure). A failure the
// record already holds (a previous owner recorded it and died) is decided
// as that owner would have.
func (a *applier) failure(reason string, code *int, permanent bool, in Input) {
	reason = textutil.Truncate(reason, 1024)
	if a.rec.FailedAttempt == a.rec.Attempt && a.rec.Attempt > 0 {
		reason, permanent = a.rec.Error, a.rec.FailPermanent
	} else {
		a.transition(messages.EventFailed, "attempt "+strconv.Itoa(a.rec.Attempt)+" failed", func(r *messages.Record) {
			r.Error, r.ExitCode, r.FailedAttempt, r.FailPermanent = reason, code, r.Attempt, permanent
		})
	}
	switch AfterFailure(a.rec) {
	case CancelAtFailed:
		a.cancelled(nil, "cancelled; the last attempt had failed: "+reason)
	case Retry:
		delay, at := in.RetryDelay, a.now.Add(in.RetryDelay)
		n := a.rec.Attempt
		a.transition(messages.EventRetrying,
			fmt.Sprintf("retrying in %s (attempt %d of %d)", delay.Round(time.Millisecond), n+1, a.rec.MaxRetries+1),
			func(r *messages.Record) {
				r.State, r.NextRetry = messages.StateRetrying, at
				r.Owner = "" // nobody holds the message during the backoff
			})
		a.lastEvent().Retry = &messages.Retry{NextAttempt: n + 1, Delay: delay, At: at}
		a.settle(Nak, delay, "")
	default:
		a.add(Effect{Type: DeadLetter, Reason: reason})
		a.transition(messages.EventDead, fmt.Sprintf("dead after %d attempt(s); copied to %s", a.rec.Attempt, dlq(in)),
			func(r *messages.Record) { r.State, r.Finished = messages.StateDead, a.now })
		a.settle(Term, 0, "dead: "+reason)
	}
}

func (a *applier) cancelled(st *runtimes.Status, msg string) {
	a.transition(messages.EventCancelled, msg, func(r *messages.Record) {
		r.State, r.Finished = messages.StateCancelled, a.now
		if st != nil && st.Phase.Done() {
			code := st.ExitCode
			r.ExitCode = &code
		}
	})
	a.settle(Ack, 0, "")
}

// cancelRequest records the wish in the record; the owner watches it. A
// job nobody holds (waiting out a retry backoff) is finished here, the
// record first so that no owner can publish the same seq; a job not yet
// seen gets a record that cancels it on arrival.
func (a *applier) cancelRequest(in Input) {
	reply := messages.CancelReply{V: messages.Version, JobID: in.JobID}
	switch {
	case a.rec.V == 0 && messages.IsDerivedJobID(in.JobID):
		// A derived id names a submission already seen: cancelling one
		// that does not exist yet would let a producer squat on the next
		// id-less submission.
		reply.Error = "no such job (a derived id is known only once its submission was read)"
	case a.rec.V == 0:
		a.rec = messages.Record{V: messages.Version, JobID: in.JobID, State: messages.StateQueued,
			Desired: messages.DesiredCancel, Created: a.now, Updated: a.now}
		a.add(Effect{Type: Write, Record: a.rec})
		reply.Accepted, reply.State = true, a.rec.State
	case a.rec.State.Terminal():
		reply.State, reply.Accepted = a.rec.State, a.rec.State == messages.StateCancelled
		if !reply.Accepted {
			reply.Error = "job already finished: " + string(a.rec.State)
		}
	case a.rec.Desired == messages.DesiredCancel:
		reply.State, reply.Accepted = a.rec.State, true
	case a.rec.Owner == "" && a.rec.State == messages.StateRetrying:
		a.recordFirst(messages.EventCancelled, "cancelled while waiting to retry", func(r *messages.Record) {
			r.Desired, r.State, r.Finished = messages.DesiredCancel, messages.StateCancelled, a.now
		})
		reply.Accepted, reply.State = true, a.rec.State
	default:
		a.rec.Desired, a.rec.Updated = messages.DesiredCancel, a.now
		a.add(Effect{Type: Write, Record: a.rec})
		reply.Accepted, reply.State = true, a.rec.State
	}
	a.add(Effect{Type: Reply, Reply: reply})
}

// maxDeliveries dead-letters a submission JetStream gave up on: the copy,
// the record (written first: nobody holds the message, and the owner that
// may still be at work must lose its next write), then the event. A job
// never recorded is recorded dead, so status and watchers see why.
func (a *applier) maxDeliveries(in Input) {
	if a.rec.V != 0 && (a.rec.State.Terminal() || (a.rec.MsgSeq != 0 && a.rec.MsgSeq != in.StreamSeq)) {
		return // finished meanwhile, or the id is another submission's
	}
	if a.rec.V == 0 {
		a.rec = messages.Record{V: messages.Version, JobID: in.JobID, Kind: in.Submission.Kind, State: messages.StateQueued,
			MsgSeq: in.StreamSeq, Created: a.now, Labels: in.Submission.Labels}
	}
	a.add(Effect{Type: DeadLetter, Reason: in.Reason})
	a.recordFirst(messages.EventDead, "copied to "+dlq(in), func(r *messages.Record) {
		r.State, r.Error, r.Owner, r.Finished = messages.StateDead, in.Reason, "", a.now
	})
}

// rejected records and announces a submission that can never run. Its
// record is the job id's first (or replaces a record only a cancel made);
// an id that names another submission is given up for the submission's
// derived id, which nothing else can hold.
func (a *applier) rejected(in Input) {
	reason := textutil.Truncate(in.Reason, 1024)
	cur := a.rec
	kind := ""
	if messages.ValidKind(in.Submission.Kind) {
		kind = in.Submission.Kind
	}
	rec := messages.Record{V: messages.Version, JobID: in.JobID, Kind: kind, State: messages.StateRejected,
		Owner: in.Dispatcher, MsgSeq: in.StreamSeq, Seq: 1, Error: reason, Created: in.Submitted.UTC(), Updated: a.now, Finished: a.now}
	switch {
	case cur.V == 0, cur.MsgSeq == 0 && !cur.State.Terminal():
		a.rec = rec
		a.add(Effect{Type: Write, Transition: messages.EventRejected, Record: rec})
	case cur.MsgSeq == in.StreamSeq && cur.State == messages.StateRejected:
		// Recorded by an earlier delivery of this message: announce again.
	case cur.MsgSeq == in.StreamSeq && !cur.State.Terminal():
		// Accepted earlier by a dispatcher that understood it (a newer
		// version, or one running its runtime): leave it to such a one.
		a.settle(Nak, in.LeaveDelay, "this dispatcher cannot handle a job already under way: "+reason)
		return
	case cur.MsgSeq == in.StreamSeq:
		a.settle(Ack, 0, "") // finished meanwhile
		return
	default:
		a.add(Effect{Type: Rename, JobID: messages.DerivedJobID(in.StreamSeq)})
		return
	}
	ev := Event(a.rec, messages.EventRejected)
	ev.Error, ev.Time = a.rec.Error, a.now
	ev.Message = fmt.Sprintf("submission (stream sequence %d) rejected", in.StreamSeq)
	a.add(Effect{Type: Publish, Transition: messages.EventRejected, Event: ev})
	a.settle(Term, 0, "rejected: "+a.rec.Error)
}

func dlq(in Input) string {
	if in.DLQ == "" {
		return "the dead-letter stream"
	}
	return in.DLQ
}
