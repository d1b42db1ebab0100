// Writing the job record and publishing its events: transition (event
// first, then the record), finish (the record first, for a success), and
// the compare-and-swap that merges cancel requests.

package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jetrun/jetrun/pkg/lifecycle"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/nats-io/nats.go/jetstream"
)

// event returns an event of type t describing the current record.
func (j *job) event(t messages.EventType) messages.Event { return lifecycle.Event(j.rec, t) }

// transition publishes an event and records the state change with a
// compare-and-swap. The event goes first: if the process dies before the
// record is written, the next owner repeats the transition with the same
// sequence number, and the events stream drops the duplicate. A conflict
// caused by a cancel request is merged and retried; any other conflict means
// another dispatcher owns the job, and errLostOwnership is returned.
func (j *job) transition(t messages.EventType, mutate func(*messages.Record), decorate func(*messages.Event)) error {
	ctx, cancel := opCtx()
	defer cancel()
	published := ""
	for range 10 {
		next, ev := j.next(t, mutate, decorate)
		// A merged cancel request leaves seq, and so the event, as they
		// were: publish it once (a core subscriber would see a copy).
		if id := ev.MsgID(); id != published {
			if err := j.d.publishEvent(ctx, &ev); err != nil {
				return err
			}
			published = id
			j.failpoint("event:" + string(t))
		}
		err := j.write(ctx, next)
		if errors.Is(err, errMerged) {
			continue
		}
		if err != nil {
			return err
		}
		j.failpoint("record:" + string(t))
		return nil
	}
	return errors.New("job record keeps changing")
}

// finish records a successful attempt: the record first, by CAS, then the
// event. This order makes an accepted cancel hold: a cancel recorded
// before the CAS makes it conflict, and the job is cancelled instead
// (errCancelRequested); once the record says succeeded, a cancel request is
// answered "job already finished". If the process dies between the two,
// the next delivery of the message finds a terminal record and publishes
// its event when the stream lacks it (publishTerminal).
func (j *job) finish(t messages.EventType, mutate func(*messages.Record)) error {
	ctx, cancel := opCtx()
	defer cancel()
	for range 10 {
		next, ev := j.next(t, mutate, nil)
		err := j.write(ctx, next)
		if errors.Is(err, errMerged) {
			if j.rec.Desired == messages.DesiredCancel {
				return errCancelRequested
			}
			continue
		}
		if err != nil {
			return err
		}
		j.failpoint("record:" + string(t))
		if err := j.d.publishEvent(ctx, &ev); err != nil {
			return err
		}
		j.failpoint("event:" + string(t))
		return nil
	}
	return errors.New("job record keeps changing")
}

// next returns the record after transition t and the event announcing it
// (lifecycle.Advance: the one sequence rule).
func (j *job) next(t messages.EventType, mutate func(*messages.Record), decorate func(*messages.Event)) (messages.Record, messages.Event) {
	next, ev := lifecycle.Advance(j.rec, t, time.Now(), mutate)
	if decorate != nil {
		decorate(&ev)
	}
	return next, ev
}

// write stores next by CAS on the record's revision. On a conflict it
// re-reads the record: a change only of Desired (a cancel request) is
// merged into j.rec and errMerged returned, for the caller to redo its
// transition; any other change is errLostOwnership.
func (j *job) write(ctx context.Context, next messages.Record) error {
	d := j.d
	prev := j.rec
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
	if cur.Owner != d.cfg.ID || cur.Delivery != prev.Delivery || cur.MsgSeq != prev.MsgSeq || cur.State.Terminal() || cur.Seq != prev.Seq {
		return errLostOwnership
	}
	j.rec, j.rev = cur, rev
	return errMerged
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
