// A delivered message from decoding to the job's first step: validation,
// the record's creation, rejection, and the take-over of a job already
// recorded (duplicates, finished jobs, adoption) as lifecycle.OnRedelivery
// decides.

package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetrun/jetrun/pkg/lifecycle"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/nats-io/nats.go/jetstream"
)

func (j *job) run() settlement {
	d := j.d
	seq := j.meta.Sequence.Stream
	sub, err := messages.DecodeSubmission(j.msg.Data())
	j.sub = sub
	if err == nil {
		if k := d.names.KindFromSubject(j.msg.Subject()); k != sub.Kind {
			err = fmt.Errorf("%w: kind %q does not match the subject's kind %q", messages.ErrInvalid, sub.Kind, k)
		}
	}
	j.id = sub.JobID
	if j.id == "" {
		j.id = j.msg.Headers().Get(messages.HeaderMsgID)
	}
	if !messages.ValidSubmittedJobID(j.id) {
		// No id, or one a producer may not use (malformed, or of the
		// reserved derived form): the job, or its rejection, goes by an id
		// no other submission can have.
		j.id = messages.DerivedJobID(seq)
	}
	if err == nil {
		_, err = d.prepare(&j.sub)
	}
	j.log = d.log.With().Str("job_id", j.id).Str("kind", sub.Kind).Uint64("stream_seq", seq).Logger()
	if err != nil {
		return j.reject(err)
	}
	if j.rt, j.rec.Runtime, err = d.runtimeFor(sub.Runtime); err != nil {
		return j.notServed(err)
	}

	maxRetries := j.maxRetries()
	now := time.Now().UTC()
	rec := messages.Record{V: messages.Version, JobID: j.id, Kind: sub.Kind, Name: sub.Name,
		State: messages.StateQueued, MaxRetries: maxRetries, Owner: d.cfg.ID, MsgSeq: seq, Delivery: j.meta.NumDelivered, Seq: 1,
		Runtime: j.rec.Runtime, Labels: sub.Labels, Created: j.meta.Timestamp.UTC(), Updated: now}
	ctx, cancel := opCtx()
	defer cancel()
	rev, err := d.kv.Create(ctx, j.id, encode(&rec))
	switch {
	case err == nil:
		j.rec, j.rev = rec, rev
		j.register()
		j.failpoint("recorded")
		ev := j.event(messages.EventAccepted)
		ev.Message = fmt.Sprintf("accepted by %s for runtime %s", d.cfg.ID, rec.Runtime)
		if err := d.publishEvent(ctx, &ev); err != nil {
			return transient(err)
		}
		j.log.Info().Msg("job accepted")
		j.failpoint("accepted")
		return j.launch()
	case errors.Is(err, jetstream.ErrKeyExists):
		return j.takeOver()
	default:
		return transient(fmt.Errorf("create job record: %w", err))
	}
}

// notServed handles a submission for a runtime this dispatcher does not
// run: another live dispatcher that runs it gets it (the message is
// redelivered); a job already under way waits for one to come back; a new
// job that no live dispatcher can run is rejected at once, naming the
// runtimes that are served.
func (j *job) notServed(cause error) settlement {
	d := j.d
	ctx, cancel := opCtx()
	defer cancel()
	if peers := d.peersServing(ctx, j.rec.Runtime); len(peers) > 0 {
		j.log.Debug().Strs("peers", peers).Msg("runtime served by another dispatcher: passing the job on")
		// Back off with each delivery, so a busy peer is waited for instead
		// of the message bouncing towards MaxDeliver.
		return nak(min(100*time.Millisecond<<min(j.meta.NumDelivered, 20), d.cfg.AckWait))
	}
	if rec, _, err := d.getRecord(ctx, j.id); err == nil && !rec.State.Terminal() && rec.MsgSeq == j.meta.Sequence.Stream {
		j.log.Warn().Str("runtime", j.rec.Runtime).Msg("no live dispatcher runs this job's runtime: waiting for one")
		return nak(d.cfg.AckWait)
	}
	return j.reject(fmt.Errorf("%w; no live dispatcher runs it", cause))
}

// takeOver handles a message whose job already has a record: a duplicate,
// a finished job, or a redelivery to adopt.
func (j *job) takeOver() settlement {
	d := j.d
	ctx, cancel := opCtx()
	defer cancel()
	var r lifecycle.Redelivery
	var prev messages.Record
	take, rev, err := d.casRecord(ctx, j.id, func(cur messages.Record, found bool) (messages.Record, error) {
		if !found {
			return cur, fmt.Errorf("read job record: %w", jetstream.ErrKeyNotFound)
		}
		prev, r = cur, lifecycle.OnRedelivery(cur, j.delivery())
		if r.Step == lifecycle.Drop || r.Step == lifecycle.Announce {
			return cur, errKeep
		}
		return r.Take, nil
	})
	switch {
	case errors.Is(err, errKeep) && r.Step == lifecycle.Drop:
		j.log.Info().Uint64("first_seq", prev.MsgSeq).Str("state", string(prev.State)).
			Msg("duplicate submission dropped: the job id is already recorded")
		if d.cfg.Metrics != nil {
			d.cfg.Metrics.Duplicates.Inc()
		}
		return ack()
	case errors.Is(err, errKeep):
		j.rec = prev
		j.publishTerminal(ctx)
		return ack()
	case err != nil:
		return transient(fmt.Errorf("take ownership: %w", err))
	}
	j.rec, j.rev = take, rev
	j.register()
	if r.Adoption {
		j.log.Info().Str("previous_owner", prev.Owner).Str("state", string(prev.State)).Msg("adopting job")
		if d.cfg.Metrics != nil {
			d.cfg.Metrics.Adoptions.Inc()
		}
	}
	if r.Reannounce {
		ev := j.event(messages.EventAccepted)
		ev.Message = "accepted (re-announced by " + d.cfg.ID + ")"
		if err := d.publishEvent(ctx, &ev); err != nil {
			return transient(err)
		}
	}
	return j.resume(r.Step)
}

// publishTerminal publishes a finished job's terminal event if the events
// stream lacks it: the previous owner may have died between recording the
// end and announcing it (successes are recorded first, see finish; a
// cancel of a job waiting to retry too). The stream is asked for the
// subject's last event, so this holds however late the message comes
// back; if it cannot be asked, the event is published anyway and the
// stream's duplicate window drops a copy.
func (j *job) publishTerminal(ctx context.Context) {
	typ := lifecycle.TerminalEvent(j.rec.State)
	if st, err := j.d.js.Stream(ctx, j.d.names.EventsStream()); err == nil {
		m, err := st.GetLastMsgForSubject(ctx, j.d.names.EventSubject(j.id, typ))
		if err == nil {
			if ev, err := messages.DecodeEvent(m.Data); err == nil && ev.Seq == j.rec.Seq {
				return // announced
			}
		} else if !errors.Is(err, jetstream.ErrMsgNotFound) {
			j.log.Debug().Err(err).Msg("look up the terminal event")
		}
	}
	ev := j.event(typ)
	ev.Time = j.rec.Updated
	if j.rec.State == messages.StateCancelled && j.rec.Owner == "" {
		ev.Message = "cancelled while waiting to retry"
	}
	if err := j.d.publishEvent(ctx, &ev); err != nil {
		j.log.Warn().Err(err).Msg("publish the terminal event")
	}
}

// maxRetries is the submission's max_retries, else the dispatcher's.
func (j *job) maxRetries() int {
	if j.sub.MaxRetries != nil {
		return *j.sub.MaxRetries
	}
	return j.d.cfg.MaxRetries
}

// delivery describes the message and this dispatcher to lifecycle.OnRedelivery.
func (j *job) delivery() lifecycle.Delivery {
	d := j.d
	return lifecycle.Delivery{Dispatcher: d.cfg.ID, StreamSeq: j.meta.Sequence.Stream, NumDelivered: j.meta.NumDelivered,
		Kind: j.sub.Kind, Name: j.sub.Name, Labels: j.sub.Labels, MaxRetries: j.maxRetries(), Runtime: j.rec.Runtime,
		Now: time.Now(),
		Serves: func(runtime string) (string, bool) {
			rt, _, err := d.runtimeFor(runtime)
			if err != nil {
				return "", false
			}
			if nl, ok := rt.(runtimes.NodeLocal); ok {
				return nl.Node(), true
			}
			return "", true
		}}
}

// resume continues a job from its recorded state after taking ownership,
// as lifecycle.OnRedelivery decided.
func (j *job) resume(step lifecycle.Step) settlement {
	switch step {
	case lifecycle.LeaveRuntime:
		j.log.Warn().Str("runtime", j.rec.Runtime).Msg("leaving the job for a dispatcher that runs its runtime")
		return nak(j.d.cfg.AckWait)
	case lifecycle.LeaveNode:
		// Only a dispatcher on the workload's node can see it.
		j.log.Warn().Str("node", j.rec.Handle.Node).Msg("the workload lives on another node: leaving the job for a dispatcher there")
		return nak(j.d.cfg.AckWait)
	}
	rt, _, err := j.d.runtimeFor(j.rec.Runtime)
	if err != nil { // OnRedelivery asked Serves: only if the configuration changed meanwhile
		return nak(j.d.cfg.AckWait)
	}
	j.rt = rt
	switch step {
	case lifecycle.Adopt:
		return j.adopt()
	case lifecycle.WaitRetry:
		if !j.cancelRequested() {
			// Redelivered early (e.g. after a restart): wait out the
			// backoff, unless a cancel arrives meanwhile.
			timer := time.NewTimer(time.Until(j.rec.NextRetry))
			defer timer.Stop()
		backoff:
			for {
				select {
				case <-timer.C:
					break backoff
				case rec := <-j.updates:
					j.notify(rec)
					if j.cancelRequested() {
						break backoff
					}
				case <-j.d.quit:
					return release()
				}
			}
		}
	}
	return j.launch()
}

// reject records and announces a submission that can never run
// (lifecycle: Rejected).
func (j *job) reject(cause error) settlement {
	d := j.d
	ctx, cancel := opCtx()
	defer cancel()
	in := lifecycle.Input{Type: lifecycle.Rejected, JobID: j.id, StreamSeq: j.meta.Sequence.Stream, Submission: j.sub,
		Reason: cause.Error(), Submitted: j.meta.Timestamp, Dispatcher: d.cfg.ID, LeaveDelay: d.cfg.AckWait}
	for range 2 {
		var s settlement
		renamed := ""
		rec, err := d.applyRequest(ctx, in.JobID, in, func(e lifecycle.Effect) error {
			switch e.Type {
			case lifecycle.Publish:
				if err := d.publishEvent(ctx, &e.Event); err != nil {
					return err
				}
			case lifecycle.Settle:
				s = settlement{kind: settleKinds[e.Settle], delay: e.Delay, reason: e.Reason}
			case lifecycle.Rename:
				renamed = e.JobID
			}
			return nil
		})
		if err != nil {
			return transient(fmt.Errorf("record rejection: %w", err))
		}
		if renamed != "" {
			// The id belongs to another job: announce under the stream sequence.
			in.JobID, j.id = renamed, renamed
			continue
		}
		j.rec = rec
		switch s.kind {
		case settleTerm:
			j.log.Warn().Str("reason", rec.Error).Msg("submission rejected")
		case settleNak:
			j.log.Warn().Str("reason", s.reason).Str("state", string(rec.State)).Msg("leaving the job for another dispatcher")
		}
		return s
	}
	return transient(errors.New("record rejection: the derived id is taken"))
}
