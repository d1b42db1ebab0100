// Carrying out the lifecycle's effects: the owner's interpreter (apply,
// with the compare-and-swap that merges cancel requests), the one for
// requests any dispatcher serves (applyRequest), and the one
// read-modify-write of a record (casRecord).

package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jetrun/jetrun/pkg/lifecycle"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/nats-io/nats.go/jetstream"
)

// event returns an event of type t describing the current record.
func (j *job) event(t messages.EventType) messages.Event { return lifecycle.Event(j.rec, t) }

// apply is the owner's interpreter of the lifecycle: it applies in to the
// record it holds (lifecycle.Apply) and carries out the effects in order.
// A write that conflicts with a recorded cancel merges it and applies the
// input again (lifecycle.Merge); the events already published are not
// published twice (a core subscriber would see a copy). Any other conflict
// means another dispatcher owns the job. done reports that the effects, or
// an error, decided what becomes of the message (s); otherwise the owner
// goes on (after Launching and Running).
func (j *job) apply(in lifecycle.Input) (s settlement, done bool) {
	ctx, cancel := opCtx()
	defer cancel()
	published := map[string]bool{}
	for range casTries {
		j.cancelRequested() // merge the newest cancel request first
		_, fx := lifecycle.Apply(j.rec, in, time.Now())
		s, done, err := j.carry(ctx, fx, published)
		if errors.Is(err, errMerged) {
			continue
		}
		if err != nil {
			return lostOrTransient(err), true
		}
		return s, done
	}
	return transient(errors.New("job record keeps changing")), true
}

// input is an input of type t with the retry backoff that would follow
// the current attempt.
func (j *job) input(t lifecycle.InputType) lifecycle.Input {
	return lifecycle.Input{Type: t, RetryDelay: j.d.cfg.backoff(j.rec.Attempt), DLQ: j.d.names.DLQStream()}
}

func (j *job) carry(ctx context.Context, fx []lifecycle.Effect, published map[string]bool) (settlement, bool, error) {
	for _, e := range fx {
		switch e.Type {
		case lifecycle.Publish:
			if id := e.Event.MsgID(); !published[id] {
				ev := e.Event
				if err := j.d.publishEvent(ctx, &ev); err != nil {
					return settlement{}, false, err
				}
				published[id] = true
				j.logEvent(ev)
				j.failpoint("event:" + string(e.Transition))
			}
		case lifecycle.Write:
			if err := j.write(ctx, e.Record); err != nil {
				return settlement{}, false, err
			}
			j.failpoint("record:" + string(e.Transition))
		case lifecycle.DeadLetter:
			if err := j.deadLetter(ctx, e.Reason); err != nil {
				return settlement{}, false, err
			}
		case lifecycle.Settle:
			return settlement{kind: settleKinds[e.Settle], delay: e.Delay, reason: e.Reason}, true, nil
		default:
			panic("dispatch: effect " + string(e.Type) + " for an owner")
		}
	}
	return settlement{}, false, nil
}

var settleKinds = map[lifecycle.SettleKind]settleKind{lifecycle.Ack: settleAck, lifecycle.Term: settleTerm, lifecycle.Nak: settleNak}

// logEvent logs the job's way to its end.
func (j *job) logEvent(ev messages.Event) {
	switch ev.Type {
	case messages.EventSucceeded:
		j.log.Info().Int("attempt", ev.Attempt).Msg("job succeeded")
	case messages.EventFailed:
		j.log.Warn().Int("attempt", ev.Attempt).Str("reason", ev.Error).Msg("attempt failed")
	case messages.EventRetrying:
		j.log.Info().Int("attempt", ev.Attempt).Str("message", ev.Message).Msg("job will be retried")
	case messages.EventDead:
		j.log.Error().Int("attempts", ev.Attempt).Str("reason", ev.Error).Msg("job is dead")
	case messages.EventCancelled:
		j.log.Info().Msg("job cancelled")
	}
}

// write stores next by CAS on the record's revision. On a conflict it
// re-reads the record: a change only of Desired (a cancel request) is
// merged into j.rec and errMerged returned, for the caller to apply its
// input again; any other change is errLostOwnership.
func (j *job) write(ctx context.Context, next messages.Record) error {
	d := j.d
	rev, err := d.kv.Update(ctx, j.id, encode(&next), j.rev)
	if err == nil {
		j.rec, j.rev = next, rev
		j.state.Store(next.State)
		d.setActive()
		return nil
	}
	if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		return fmt.Errorf("update job record: %w", err)
	}
	cur, rev, err := d.getRecord(ctx, j.id)
	if err != nil {
		return fmt.Errorf("re-read job record: %w", err)
	}
	merged, ok := lifecycle.Merge(j.rec, cur)
	if !ok {
		return errLostOwnership
	}
	j.rec, j.rev = merged, rev
	return errMerged
}

// applyRequest applies an input that any dispatcher may receive
// (CancelRequested, MaxDeliveries, Rejected) to the record of job id as stored, by the
// one read-modify-write (casRecord): the effects up to the record's write
// are carried out for each try, the rest once it is written. It returns
// the record as last read or written.
func (d *Dispatcher) applyRequest(ctx context.Context, id string, in lifecycle.Input, carry func(lifecycle.Effect) error) (messages.Record, error) {
	var after []lifecycle.Effect
	rec, _, err := d.casRecord(ctx, id, func(cur messages.Record, found bool) (messages.Record, error) {
		if !found {
			cur = messages.Record{}
		}
		_, fx := lifecycle.Apply(cur, in, time.Now())
		w := slices.IndexFunc(fx, func(e lifecycle.Effect) bool { return e.Type == lifecycle.Write })
		before := fx
		if w >= 0 {
			before, after = fx[:w], fx[w+1:]
		}
		for _, e := range before {
			if err := carry(e); err != nil {
				return cur, err
			}
		}
		if w < 0 {
			return cur, errKeep
		}
		return fx[w].Record, nil
	})
	if errors.Is(err, errKeep) {
		return rec, nil
	}
	if err != nil {
		return rec, err
	}
	for _, e := range after {
		if err := carry(e); err != nil {
			return rec, err
		}
	}
	return rec, nil
}

func encode(r *messages.Record) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // a Record always marshals
	}
	return b
}

// casTries bounds every read-modify-write of a job record.
const casTries = 20

// errKeep, returned by a casRecord change, ends it without a write.
var errKeep = errors.New("record kept as it is")

// casRecord is the one read-modify-write of a job record outside a
// handler's own transitions (take-over, cancel requests, max deliveries):
// it reads the record (found false: there is none), asks change for the
// next one and writes it by compare-and-swap on the revision read (a
// Create when there was none), reading and asking again on a conflict, up
// to casTries times. change may be called more than once; it returns
// errKeep to write nothing, and any other error ends casRecord with it.
// casRecord returns the record written, or the last one read with errKeep.
func (d *Dispatcher) casRecord(ctx context.Context, id string, change func(cur messages.Record, found bool) (messages.Record, error)) (messages.Record, uint64, error) {
	for range casTries {
		cur, rev, err := d.getRecord(ctx, id)
		found := err == nil
		if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return cur, 0, fmt.Errorf("read job record: %w", err)
		}
		next, err := change(cur, found)
		if err != nil {
			return cur, rev, err
		}
		if found {
			rev, err = d.kv.Update(ctx, id, encode(&next), rev)
		} else {
			rev, err = d.kv.Create(ctx, id, encode(&next))
		}
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			continue
		}
		if err != nil {
			return next, 0, fmt.Errorf("write job record: %w", err)
		}
		return next, rev, nil
	}
	return messages.Record{}, 0, errors.New("job record keeps changing")
}
