package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/jetrun/jetrun/pkg/natsconn"
	"maps"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

var (
	// errPermanent marks failures that no retry can fix.
	errPermanent = errors.New("permanent failure")
	// errLostOwnership: another dispatcher owns the job now; stop touching it.
	errLostOwnership = errors.New("lost ownership of the job")
	// errMerged: a cancel request changed the record; redo the transition.
	errMerged = errors.New("record changed by a cancel request")
	// errCancelRequested: a cancel was recorded before the attempt's
	// success was: the job is cancelled instead.
	errCancelRequested = errors.New("cancel requested")
)

// settlement is what becomes of a message; settle applies it.
type settlement struct {
	kind   settleKind
	delay  time.Duration
	reason string
}

type settleKind int

const (
	settleAck     settleKind = iota // done (succeeded, cancelled, duplicate)
	settleTerm                      // never redeliver (rejected, dead)
	settleNak                       // redeliver after delay (retry, transient trouble)
	settleRelease                   // shutdown: redeliver now, to the next owner
	settleNone                      // ownership lost: the message is someone else's
)

func ack() settlement                { return settlement{kind: settleAck} }
func term(reason string) settlement  { return settlement{kind: settleTerm, reason: reason} }
func nak(d time.Duration) settlement { return settlement{kind: settleNak, delay: d} }
func release() settlement            { return settlement{kind: settleRelease} }
func transient(err error) settlement {
	return settlement{kind: settleNak, delay: 2 * time.Second, reason: err.Error()}
}
func lostOrTransient(err error) settlement {
	if errors.Is(err, errLostOwnership) {
		return settlement{kind: settleNone, reason: err.Error()}
	}
	return transient(err)
}

// settle maps an outcome to the message acknowledgement, in one place.
func (d *Dispatcher) settle(j *job, s settlement) {
	var err error
	switch s.kind {
	case settleAck:
		err = j.msg.Ack()
	case settleTerm:
		err = j.msg.TermWithReason(truncate(s.reason, 256))
	case settleNak:
		if s.reason != "" {
			j.log.Warn().Str("reason", s.reason).Dur("delay", s.delay).Msg("job will be redelivered")
		}
		err = j.msg.NakWithDelay(s.delay)
	case settleRelease:
		err = j.msg.Nak()
	case settleNone:
		j.log.Warn().Str("reason", s.reason).Msg("stopped handling the job")
	}
	if err != nil {
		j.log.Warn().Err(err).Msg("settle message")
	}
}

// job is the handling of one delivered submission.
type job struct {
	d       *Dispatcher
	msg     jetstream.Msg
	meta    *jetstream.MsgMetadata
	id      string
	sub     messages.Submission
	rec     messages.Record
	rev     uint64
	rt      runtimes.Runtime
	log     zerolog.Logger
	updates chan messages.Record
	// state mirrors rec.State for readers on other goroutines (metrics).
	state atomic.Value
}

// register makes the job receive its record's changes (cancel requests,
// ownership moves). Only the owner of the record registers: a duplicate
// submission never does.
func (j *job) register() {
	j.state.Store(j.rec.State)
	j.d.mu.Lock()
	j.d.live[j.id] = j
	j.d.mu.Unlock()
}

// cancelRequested reports whether a cancel has been recorded, looking at
// the newest record change delivered so far.
func (j *job) cancelRequested() bool {
	select {
	case rec := <-j.updates:
		if rec.Owner == j.d.cfg.ID && rec.Delivery == j.rec.Delivery && rec.MsgSeq == j.rec.MsgSeq && rec.Desired == messages.DesiredCancel {
			j.rec.Desired = rec.Desired
		}
	default:
	}
	return j.rec.Desired == messages.DesiredCancel
}

// notify hands the job a newer version of its record (latest wins).
func (j *job) notify(rec messages.Record) {
	select {
	case j.updates <- rec:
	default:
		select {
		case <-j.updates:
		default:
		}
		select {
		case j.updates <- rec:
		default:
		}
	}
}

// handle runs the lifecycle protocol for one delivered message.
func (d *Dispatcher) handle(m jetstream.Msg) {
	stop := d.heartbeat(m)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	j := &job{d: d, msg: m, log: d.log, updates: make(chan messages.Record, 1)}
	meta, err := m.Metadata()
	if err != nil {
		d.log.Error().Err(err).Msg("message without metadata")
		m.Term()
		return
	}
	j.meta = meta
	s := j.run()
	// No heartbeat may reach the server after the settlement: a late
	// InProgress would turn a short retry backoff into a whole AckWait.
	stop()
	stopped = true
	d.settle(j, s)
	if j.id != "" {
		d.mu.Lock()
		if d.live[j.id] == j {
			delete(d.live, j.id)
		}
		d.mu.Unlock()
		d.setActive()
	}
}

// heartbeat tells JetStream the message is in progress every AckWait/3,
// for as long as the job lives, so a job of any length is never redelivered
// while its dispatcher lives.
func (d *Dispatcher) heartbeat(m jetstream.Msg) (stop func()) {
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		t := time.NewTicker(d.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if err := m.InProgress(); err != nil {
					d.log.Warn().Err(err).Msg("heartbeat")
				}
			}
		}
	}()
	return func() { close(done); <-exited }
}

func (d *Dispatcher) setActive() {
	if d.cfg.Metrics == nil {
		return
	}
	counts := map[messages.State]int{}
	d.mu.Lock()
	for _, j := range d.live {
		if st, ok := j.state.Load().(messages.State); ok {
			counts[st]++
		}
	}
	d.mu.Unlock()
	for _, s := range []messages.State{messages.StateQueued, messages.StateStarting, messages.StateRunning} {
		d.cfg.Metrics.Active.WithLabelValues(string(s)).Set(float64(counts[s]))
	}
}

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

	maxRetries := d.cfg.MaxRetries
	if sub.MaxRetries != nil {
		maxRetries = *sub.MaxRetries
	}
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
	seq := j.meta.Sequence.Stream
	ctx, cancel := opCtx()
	defer cancel()
	for range 20 {
		rec, rev, err := d.getRecord(ctx, j.id)
		if err != nil {
			return transient(fmt.Errorf("read job record: %w", err))
		}
		if rec.MsgSeq != 0 && rec.MsgSeq != seq {
			j.log.Info().Uint64("first_seq", rec.MsgSeq).Str("state", string(rec.State)).
				Msg("duplicate submission dropped: the job id is already recorded")
			if d.cfg.Metrics != nil {
				d.cfg.Metrics.Duplicates.Inc()
			}
			return ack()
		}
		if rec.State.Terminal() {
			j.rec = rec
			j.publishTerminal(ctx)
			return ack()
		}
		prev := rec.Owner
		rec.Owner = d.cfg.ID
		rec.MsgSeq = seq
		rec.Delivery = j.meta.NumDelivered
		rec.Updated = time.Now().UTC()
		if rec.Kind == "" {
			rec.Kind, rec.Name, rec.Labels = j.sub.Kind, j.sub.Name, j.sub.Labels
			rec.MaxRetries = d.cfg.MaxRetries
			if j.sub.MaxRetries != nil {
				rec.MaxRetries = *j.sub.MaxRetries
			}
		}
		if rec.Runtime == "" {
			rec.Runtime = j.rec.Runtime
		}
		rev, err = d.kv.Update(ctx, j.id, encode(&rec), rev)
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return transient(fmt.Errorf("take ownership: %w", err))
		}
		j.rec, j.rev = rec, rev
		j.register()
		if prev != "" && prev != d.cfg.ID {
			j.log.Info().Str("previous_owner", prev).Str("state", string(rec.State)).Msg("adopting job")
			if d.cfg.Metrics != nil {
				d.cfg.Metrics.Adoptions.Inc()
			}
		}
		if rec.State == messages.StateQueued && rec.Seq == 1 {
			// The previous owner may have died between recording the job
			// and announcing it; inside the duplicate window this is free.
			ev := j.event(messages.EventAccepted)
			ev.Message = "accepted (re-announced by " + d.cfg.ID + ")"
			if err := d.publishEvent(ctx, &ev); err != nil {
				return transient(err)
			}
		}
		return j.resume()
	}
	return transient(errors.New("job record keeps changing"))
}

// publishTerminal publishes a finished job's terminal event if the events
// stream lacks it: the previous owner may have died between recording the
// end and announcing it (successes are recorded first, see finish; a
// cancel of a job waiting to retry too). The stream is asked for the
// subject's last event, so this holds however late the message comes
// back; if it cannot be asked, the event is published anyway and the
// stream's duplicate window drops a copy.
func (j *job) publishTerminal(ctx context.Context) {
	typ := map[messages.State]messages.EventType{
		messages.StateSucceeded: messages.EventSucceeded, messages.StateCancelled: messages.EventCancelled,
		messages.StateDead: messages.EventDead, messages.StateRejected: messages.EventRejected,
	}[j.rec.State]
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

// resume continues a job from its recorded state after taking ownership.
func (j *job) resume() settlement {
	if j.rec.Runtime != "" {
		rt, _, err := j.d.runtimeFor(j.rec.Runtime)
		if err != nil {
			j.log.Warn().Err(err).Msg("leaving the job for a dispatcher that runs its runtime")
			return nak(j.d.cfg.AckWait)
		}
		j.rt = rt
	}
	switch j.rec.State {
	case messages.StateStarting, messages.StateRunning:
		if nl, ok := j.rt.(runtimes.NodeLocal); ok && j.rec.Handle != nil && j.rec.Handle.Node != "" && j.rec.Handle.Node != nl.Node() {
			// Only a dispatcher on the workload's node can see it.
			j.log.Warn().Str("node", j.rec.Handle.Node).Msg("the workload lives on another node: leaving the job for a dispatcher there")
			return nak(j.d.cfg.AckWait)
		}
		return j.adopt()
	case messages.StateRetrying:
		if wait := time.Until(j.rec.NextRetry); wait > time.Second && !j.cancelRequested() {
			// Redelivered early (e.g. after a restart): wait out the
			// backoff, unless a cancel arrives meanwhile.
			timer := time.NewTimer(wait)
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

// launch starts the next attempt: the handle goes into the record before
// the runtime is asked for anything.
func (j *job) launch() settlement {
	if j.cancelRequested() {
		return j.cancelled(nil, "cancelled before launch")
	}
	attempt := j.rec.Attempt + 1
	h := runtimes.Handle{Runtime: j.rec.Runtime, Name: runtimes.HandleName(j.id, attempt)}
	if nl, ok := j.rt.(runtimes.NodeLocal); ok {
		h.Node = nl.Node()
	}
	err := j.transition(messages.EventStarted, func(r *messages.Record) {
		r.State = messages.StateStarting
		r.Attempt = attempt
		r.Handle = &h
		r.Started = time.Now().UTC()
		r.NextRetry = time.Time{}
		r.Error, r.ExitCode = "", nil // the failed events keep the history
	}, func(e *messages.Event) {
		e.Message = fmt.Sprintf("launching %s on %s (attempt %d of %d)", h.Name, h.Runtime, attempt, j.rec.MaxRetries+1)
	})
	if err != nil {
		return lostOrTransient(err)
	}
	return j.startAndWatch()
}

// spec builds the runtime spec of the current attempt.
func (j *job) spec() (runtimes.Spec, error) {
	d := j.d
	plan, err := d.prepare(&j.sub)
	if err != nil {
		return runtimes.Spec{}, fmt.Errorf("%w: %w", errPermanent, err)
	}
	env := map[string]string{}
	maps.Copy(env, d.cfg.WorkerEnv)
	maps.Copy(env, plan.Env)
	maps.Copy(env, map[string]string{
		jobs.EnvJobID:   j.id,
		jobs.EnvKind:    j.rec.Kind,
		jobs.EnvAttempt: strconv.Itoa(j.rec.Attempt),
		jobs.EnvPrefix:  d.names.Prefix(),
		jobs.EnvRuntime: j.rec.Runtime,
	})
	secrets := map[string]string{}
	maps.Copy(secrets, d.cfg.WorkerSecrets)
	var attemptSecrets []string
	if iss := d.cfg.WorkerAuth; iss != nil {
		// The worker's own identity replaces the dispatcher's.
		for _, k := range natsconn.IdentityVars {
			delete(env, k)
			delete(secrets, k)
		}
		secrets[natsconn.EnvToken] = iss.Token(j.id, j.rec.Attempt, time.Now().Add(j.workerIdentityTTL(plan.Resources.Timeout)))
		attemptSecrets = []string{natsconn.EnvToken}
	}
	for _, ref := range plan.Secrets {
		v, ok := "", false
		if d.cfg.Credentials != nil {
			v, ok = d.cfg.Credentials(ref.Credential)
		}
		if !ok {
			return runtimes.Spec{}, fmt.Errorf("%w: credential %q is not configured on dispatcher %s", errPermanent, ref.Credential, d.cfg.ID)
		}
		secrets[ref.Env] = v
	}
	image := plan.Image
	if image == "" {
		image = d.cfg.WorkerImage
	}
	labels := map[string]string{}
	maps.Copy(labels, j.sub.Labels)
	labels[runtimes.LabelJobID] = j.id
	labels[runtimes.LabelAttempt] = strconv.Itoa(j.rec.Attempt)
	labels[runtimes.LabelKind] = j.rec.Kind
	return runtimes.Spec{Handle: *j.rec.Handle, JobID: j.id, Kind: j.rec.Kind, Attempt: j.rec.Attempt,
		Image: image, Command: plan.Command, Env: env, Secrets: secrets, AttemptSecrets: attemptSecrets, Resources: plan.Resources, Labels: labels}, nil
}

func (j *job) startAndWatch() settlement {
	if j.cancelRequested() {
		return j.cancelled(nil, "cancelled before launch")
	}
	spec, err := j.spec()
	if err != nil {
		return j.attemptFailed(err.Error(), nil, true)
	}
	ctx, cancel := opCtx()
	defer cancel()
	h, err := j.rt.Start(ctx, spec)
	if err != nil {
		j.log.Warn().Err(err).Str("handle", spec.Handle.Name).Msg("launch failed")
		// A launch that failed half-way (a timeout, say) may still bring
		// the workload up; make sure it does not run beside the retry.
		sctx, scancel := context.WithTimeout(context.Background(), j.d.cfg.StopGrace+30*time.Second)
		serr := j.rt.Stop(sctx, spec.Handle, 0)
		scancel()
		if serr != nil {
			// Not sure it is gone: retry this attempt later rather than
			// start the next one beside it.
			return transient(fmt.Errorf("launch %s failed (%v) and clean-up failed: %w", spec.Handle.Name, err, serr))
		}
		return j.attemptFailed("launch: "+err.Error(), nil, errors.Is(err, runtimes.ErrInvalidSpec))
	}
	if m := j.d.cfg.Metrics; m != nil && j.rec.Attempt == 1 {
		m.LaunchLatency.WithLabelValues(j.rt.Name()).Observe(time.Since(j.meta.Timestamp).Seconds())
	}
	j.log.Info().Int("attempt", j.rec.Attempt).Str("handle", h.Name).Msg("launched")
	j.saveHandle(h)
	j.failpoint("launched")
	return j.watch(h, spec.Resources.Timeout)
}

// saveHandle records the handle Start returned when it carries more than
// the record's (the runtime's own id: a Batch job id, a container id), so
// that a dispatcher adopting the job finds the workload by id rather than
// by name. It is no transition and publishes no event; if the record
// changed meanwhile it is left alone, the name still finds the workload.
func (j *job) saveHandle(h runtimes.Handle) {
	if j.rec.Handle == nil || *j.rec.Handle == h {
		return
	}
	next := cloneRecord(j.rec)
	next.Handle = &h
	next.Updated = time.Now().UTC()
	ctx, cancel := opCtx()
	defer cancel()
	rev, err := j.d.kv.Update(ctx, j.id, encode(&next), j.rev)
	if err != nil {
		j.log.Debug().Err(err).Msg("record the runtime's id of the workload")
		return
	}
	j.rec, j.rev = next, rev
}

// adopt re-attaches to the workload of a job that was starting or running
// under a previous owner: running → watch it; finished → record the result;
// absent → launch it (Start is idempotent for the handle name).
func (j *job) adopt() settlement {
	if j.rec.Handle == nil {
		return j.launch()
	}
	h := *j.rec.Handle
	ctx, cancel := opCtx()
	defer cancel()
	st, err := j.rt.Inspect(ctx, h)
	if err != nil {
		return transient(fmt.Errorf("inspect %s: %w", h.Name, err))
	}
	j.log.Info().Str("handle", h.Name).Str("phase", string(st.Phase)).Msg("adopted workload")
	if j.rec.Desired == messages.DesiredCancel {
		switch {
		case st.Phase == runtimes.PhaseNotFound:
			return j.cancelled(nil, "cancelled before launch")
		case st.Phase.Done():
			// The cancel was recorded before the exit was: it holds
			// (the previous owner may have stopped the workload itself).
			return j.cancelled(&st, "cancelled; workload stopped")
		}
		return j.cancelRunning(h)
	}
	switch {
	case st.Phase == runtimes.PhaseNotFound && j.rec.State == messages.StateStarting:
		return j.startAndWatch()
	case st.Phase == runtimes.PhaseNotFound:
		return j.attemptFailed("workload disappeared from runtime "+j.rt.Name(), nil, false)
	case st.Phase.Done():
		return j.complete(st)
	}
	plan, err := j.d.prepare(&j.sub)
	if err != nil {
		return j.attemptFailed(err.Error(), nil, true)
	}
	return j.watch(h, plan.Resources.Timeout)
}

type waitResult struct {
	st  runtimes.Status
	err error
}

// watch follows a launched workload until it ends, is cancelled, outlives
// its watchdog, ownership is lost, or the dispatcher shuts down.
func (j *job) watch(h runtimes.Handle, timeout time.Duration) settlement {
	waitCtx, stopWait := context.WithCancel(context.Background())
	defer stopWait()
	results := make(chan waitResult, 1)
	go func() {
		st, err := j.rt.Wait(waitCtx, h)
		results <- waitResult{st, err}
	}()
	var watchdog <-chan time.Time
	var dog *time.Timer
	if timeout > 0 {
		deadline := j.rec.Started.Add(timeout + j.d.cfg.WatchdogSlack)
		dog = time.NewTimer(time.Until(deadline))
		defer dog.Stop()
		watchdog = dog.C
	}
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	polls, dogErrs := 0, 0
	rel := j.startRelay()
	defer rel.stop()
	j.markRunning(h)
	if j.rec.Desired == messages.DesiredCancel {
		return j.cancelRunning(h)
	}
	for {
		select {
		case r := <-results:
			if r.err != nil {
				if errors.Is(r.err, runtimes.ErrNotFound) {
					return j.attemptFailed("workload disappeared from runtime "+j.rt.Name(), nil, false)
				}
				return transient(fmt.Errorf("wait %s: %w", h.Name, r.err))
			}
			j.failpoint("exited")
			j.drainRelay(rel, h)
			return j.complete(r.st)
		case m := <-rel.ch:
			j.relayReport(rel, h, m)
		case rec := <-j.updates:
			if rec.Owner != j.d.cfg.ID || rec.Delivery != j.rec.Delivery || rec.MsgSeq != j.rec.MsgSeq {
				return settlement{kind: settleNone, reason: "another dispatcher (or a newer delivery) took the job over"}
			}
			if rec.Desired == messages.DesiredCancel {
				return j.cancelRunning(h)
			}
		case <-poll.C:
			if j.rec.State != messages.StateRunning {
				j.markRunning(h)
			}
			if polls++; polls%10 == 0 {
				// The record watcher is the fast path; this read is the
				// safety net should an update have been missed.
				ctx, cancel := opCtx()
				rec, _, err := j.d.getRecord(ctx, j.id)
				cancel()
				if err == nil {
					j.notify(rec)
				}
			}
		case <-watchdog:
			later, st, err := j.watchdogDeadline(h, timeout)
			switch {
			case err != nil && dogErrs < 3:
				dogErrs++
				j.log.Warn().Err(err).Msg("watchdog: cannot inspect the workload; looking again in a minute")
				dog.Reset(time.Minute)
				continue
			case err == nil && st.Phase.Done():
				return j.complete(st) // it ended just now, by itself
			case err == nil && !later.IsZero():
				dogErrs = 0
				dog.Reset(time.Until(later))
				continue
			}
			j.log.Warn().Dur("timeout", timeout).Msg("watchdog: the runtime did not end the workload at its deadline")
			// Batch waits 30 s between SIGTERM and SIGKILL, then reports.
			ctx, cancel := context.WithTimeout(context.Background(), j.d.cfg.StopGrace+90*time.Second)
			err = j.rt.Stop(ctx, h, j.d.cfg.StopGrace)
			cancel()
			if err != nil {
				return transient(fmt.Errorf("watchdog stop %s: %w", h.Name, err))
			}
			reason := fmt.Sprintf("timeout after %s (stopped by the dispatcher's watchdog)", timeout)
			if st.Phase == runtimes.PhasePending {
				reason = fmt.Sprintf("not started by runtime %s within %s of its launch (stopped by the dispatcher's watchdog)",
					j.rt.Name(), (timeout + j.d.cfg.WatchdogSlack + j.d.cfg.QueueTimeout).Round(time.Second))
			}
			return j.attemptFailed(reason, nil, false)
		case <-j.d.quit:
			j.log.Info().Str("handle", h.Name).Msg("shutting down: leaving the workload running for the next owner")
			return release()
		}
	}
}

// watchdogDeadline decides whether the watchdog may stop the workload now.
// The job's timeout counts from when the workload started running, which
// a queueing runtime (a Batch job RUNNABLE for want of capacity, a pod
// waiting for a node) reaches long after launch: while the runtime says
// pending, for up to Config.QueueTimeout past the usual deadline, or
// running with a start time that puts the deadline ahead, it returns the
// time to look again. A zero time means stop now, unless the status it
// returns is final: the workload has just ended by itself.
func (j *job) watchdogDeadline(h runtimes.Handle, timeout time.Duration) (time.Time, runtimes.Status, error) {
	ctx, cancel := opCtx()
	defer cancel()
	st, err := j.rt.Inspect(ctx, h)
	if err != nil {
		return time.Time{}, st, err
	}
	now := time.Now()
	switch {
	case st.Phase == runtimes.PhasePending:
		limit := j.rec.Started.Add(timeout + j.d.cfg.WatchdogSlack + j.d.cfg.QueueTimeout)
		if now.Before(limit) {
			return minTime(now.Add(min(timeout, time.Minute)), limit), st, nil
		}
	case st.Phase == runtimes.PhaseRunning && !st.StartedAt.IsZero():
		if d := st.StartedAt.Add(timeout + j.d.cfg.WatchdogSlack); d.After(now) {
			return d, st, nil
		}
	}
	return time.Time{}, st, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// markRunning records the running state once the runtime reports it.
//
// The "running" event has the sequence right after "started", and a worker
// that reaches NATS publishes the same event itself, under the same
// Nats-Msg-Id, before its first progress event. Whichever comes first is
// kept and the other dropped as a duplicate, so a job's events are in order
// in the stream whatever the race between worker and dispatcher.
func (j *job) markRunning(h runtimes.Handle) {
	if j.rec.State != messages.StateStarting {
		return
	}
	ctx, cancel := opCtx()
	defer cancel()
	st, err := j.rt.Inspect(ctx, h)
	if err != nil || (st.Phase != runtimes.PhaseRunning && !st.Phase.Done()) {
		return
	}
	j.recordRunning()
}

func (j *job) recordRunning() {
	if err := j.transition(messages.EventRunning, func(r *messages.Record) {
		r.State = messages.StateRunning
	}, nil); err != nil {
		j.log.Warn().Err(err).Msg("record running")
	}
}

// complete records a finished attempt.
func (j *job) complete(st runtimes.Status) settlement {
	if j.rec.State == messages.StateStarting {
		j.recordRunning() // it ran, however briefly: keep the sequence whole
	}
	if st.Phase == runtimes.PhaseSucceeded {
		code := st.ExitCode
		err := j.finish(messages.EventSucceeded, func(r *messages.Record) {
			r.State = messages.StateSucceeded
			r.ExitCode = &code
			r.Error = ""
			r.Finished = time.Now().UTC()
		})
		if errors.Is(err, errCancelRequested) {
			return j.cancelled(&st, "cancelled; the workload had exited 0 before the cancel was carried out")
		}
		if err != nil {
			return lostOrTransient(err)
		}
		j.log.Info().Int("attempt", j.rec.Attempt).Msg("job succeeded")
		return ack()
	}
	code := st.ExitCode
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
	return j.attemptFailed(reason, &code, permanent)
}

// attemptFailed records a failed attempt and either schedules the next one
// or, when retries are exhausted or the failure is permanent, dead-letters
// the job.
func (j *job) attemptFailed(reason string, exitCode *int, permanent bool) settlement {
	reason = truncate(reason, 1024)
	if j.rec.FailedAttempt == j.rec.Attempt {
		// A previous owner recorded this failure and died before acting
		// on it: decide as it would have.
		reason, permanent = j.rec.Error, j.rec.FailPermanent
	} else {
		err := j.transition(messages.EventFailed, func(r *messages.Record) {
			r.Error = reason
			r.ExitCode = exitCode
			r.FailedAttempt = r.Attempt
			r.FailPermanent = permanent
		}, func(e *messages.Event) { e.Message = "attempt " + strconv.Itoa(j.rec.Attempt) + " failed" })
		if err != nil {
			return lostOrTransient(err)
		}
	}
	if j.cancelRequested() {
		return j.cancelled(nil, "cancelled; the last attempt had failed: "+reason)
	}
	retry := !permanent && j.rec.Attempt <= j.rec.MaxRetries
	j.log.Warn().Int("attempt", j.rec.Attempt).Str("reason", reason).Bool("retry", retry).Msg("attempt failed")
	if retry {
		delay := j.d.cfg.backoff(j.rec.Attempt)
		at := time.Now().Add(delay).UTC()
		err := j.transition(messages.EventRetrying, func(r *messages.Record) {
			r.State = messages.StateRetrying
			r.NextRetry = at
			r.Owner = "" // nobody holds the message during the backoff
		}, func(e *messages.Event) {
			e.Retry = &messages.Retry{NextAttempt: j.rec.Attempt + 1, Delay: delay, At: at}
			e.Message = fmt.Sprintf("retrying in %s (attempt %d of %d)", delay.Round(time.Millisecond), j.rec.Attempt+1, j.rec.MaxRetries+1)
		})
		if err != nil {
			return lostOrTransient(err)
		}
		return nak(delay)
	}
	return j.dead(reason)
}

// dead copies the submission to the dead-letter stream, records the job
// dead and terminates its message.
func (j *job) dead(reason string) settlement {
	ctx, cancel := opCtx()
	defer cancel()
	m := nats.NewMsg(j.d.names.DLQSubject(j.rec.Kind))
	m.Data = j.msg.Data()
	m.Header.Set(messages.HeaderReason, truncate(reason, 1024))
	m.Header.Set(messages.HeaderJobID, j.id)
	m.Header.Set("Jetrun-Attempts", strconv.Itoa(j.rec.Attempt))
	m.Header.Set("Jetrun-Stream-Seq", strconv.FormatUint(j.meta.Sequence.Stream, 10))
	m.Header.Set(messages.HeaderMsgID, j.id)
	if _, err := j.d.js.PublishMsg(ctx, m); err != nil {
		return transient(fmt.Errorf("dead-letter copy: %w", err))
	}
	err := j.transition(messages.EventDead, func(r *messages.Record) {
		r.State = messages.StateDead
		r.Finished = time.Now().UTC()
	}, func(e *messages.Event) {
		e.Message = fmt.Sprintf("dead after %d attempt(s); copied to %s", j.rec.Attempt, j.d.names.DLQStream())
	})
	if err != nil {
		return lostOrTransient(err)
	}
	j.log.Error().Int("attempts", j.rec.Attempt).Str("reason", reason).Msg("job is dead")
	return term("dead: " + reason)
}

// cancelRunning stops a live workload (SIGTERM, grace, kill), waits until it
// is gone, then records the job cancelled.
func (j *job) cancelRunning(h runtimes.Handle) settlement {
	j.log.Info().Str("handle", h.Name).Dur("grace", j.d.cfg.StopGrace).Msg("cancelling: stopping workload")
	ctx, cancel := context.WithTimeout(context.Background(), j.d.cfg.StopGrace+60*time.Second)
	defer cancel()
	if err := j.rt.Stop(ctx, h, j.d.cfg.StopGrace); err != nil {
		return transient(fmt.Errorf("stop %s: %w", h.Name, err))
	}
	st, err := j.rt.Inspect(ctx, h)
	if err != nil {
		return transient(fmt.Errorf("inspect %s after stop: %w", h.Name, err))
	}
	return j.cancelled(&st, "cancelled; workload stopped")
}

func (j *job) cancelled(st *runtimes.Status, msg string) settlement {
	err := j.transition(messages.EventCancelled, func(r *messages.Record) {
		r.State = messages.StateCancelled
		r.Finished = time.Now().UTC()
		if st != nil && st.Phase.Done() {
			code := st.ExitCode
			r.ExitCode = &code
		}
	}, func(e *messages.Event) { e.Message = msg })
	if err != nil {
		return lostOrTransient(err)
	}
	j.log.Info().Msg("job cancelled")
	return ack()
}

// reject records and announces a submission that can never run.
func (j *job) reject(cause error) settlement {
	d := j.d
	reason := truncate(cause.Error(), 1024)
	seq := j.meta.Sequence.Stream
	ctx, cancel := opCtx()
	defer cancel()
	now := time.Now().UTC()
	kind := ""
	if messages.ValidKind(j.sub.Kind) {
		kind = j.sub.Kind
	}
	rec := messages.Record{V: messages.Version, JobID: j.id, Kind: kind, State: messages.StateRejected,
		Owner: d.cfg.ID, MsgSeq: seq, Seq: 1, Error: reason, Created: j.meta.Timestamp.UTC(), Updated: now, Finished: now}
	for range 4 {
		_, err := d.kv.Create(ctx, j.id, encode(&rec))
		if err == nil {
			break
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return transient(fmt.Errorf("record rejection: %w", err))
		}
		cur, rev, gerr := d.getRecord(ctx, j.id)
		switch {
		case gerr != nil:
			return transient(fmt.Errorf("read job record: %w", gerr))
		case cur.MsgSeq == seq && cur.State == messages.StateRejected:
			rec = cur // recorded by an earlier delivery of this message
		case cur.MsgSeq == seq && !cur.State.Terminal():
			// Accepted earlier by a dispatcher that understood it (a newer
			// version, or one running its runtime): leave it to such a one.
			j.log.Warn().Str("reason", reason).Str("state", string(cur.State)).
				Msg("this dispatcher cannot handle a job already under way: leaving it for another")
			return nak(d.cfg.AckWait)
		case cur.MsgSeq == seq:
			return ack() // finished meanwhile
		case cur.MsgSeq == 0 && !cur.State.Terminal():
			// Only a cancel was recorded for this id: the rejection takes
			// its place.
			if _, err := d.kv.Update(ctx, j.id, encode(&rec), rev); err != nil {
				continue
			}
		default:
			// The id belongs to another job: announce under the stream sequence.
			j.id = messages.DerivedJobID(seq)
			rec.JobID = j.id
			continue
		}
		break
	}
	j.rec = rec
	ev := j.event(messages.EventRejected)
	ev.Error = reason
	ev.Message = fmt.Sprintf("submission on %s (stream sequence %d) rejected", j.msg.Subject(), seq)
	if err := d.publishEvent(ctx, &ev); err != nil {
		return transient(err)
	}
	j.log.Warn().Str("reason", reason).Msg("submission rejected")
	return term("rejected: " + reason)
}

func (j *job) failpoint(point string) {
	if j.d.cfg.Failpoint != nil {
		j.d.cfg.Failpoint(point)
	}
}

// event returns an event of type t describing the current record.
func (j *job) event(t messages.EventType) messages.Event {
	ev := messages.Event{V: messages.Version, JobID: j.id, Seq: j.rec.Seq, Type: t, State: j.rec.State,
		Kind: j.rec.Kind, Attempt: j.rec.Attempt, Runtime: j.rec.Runtime, Labels: j.rec.Labels,
		Error: j.rec.Error, ExitCode: j.rec.ExitCode}
	if j.rec.Handle != nil {
		ev.Handle = j.rec.Handle.Name
	}
	return ev
}

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

// next returns the record after transition t and the event announcing it.
func (j *job) next(t messages.EventType, mutate func(*messages.Record), decorate func(*messages.Event)) (messages.Record, messages.Event) {
	prev := j.rec
	next := cloneRecord(j.rec)
	mutate(&next)
	next.Seq = prev.Seq + 1
	if prev.State == messages.StateStarting && t != messages.EventRunning {
		// Seq+1 is the attempt's "running" event, which a previous owner
		// may have published before it died; never reuse it for another
		// event.
		next.Seq = prev.Seq + 2
	}
	next.Updated = time.Now().UTC()
	j.rec = next
	ev := j.event(t)
	j.rec = prev
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

func cloneRecord(r messages.Record) messages.Record {
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

func encode(r *messages.Record) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // a Record always marshals
	}
	return b
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
