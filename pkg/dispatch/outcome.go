// How an attempt ends: success, failure and retry or dead-letter
// (lifecycle.AfterFailure), cancellation.

package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/lifecycle"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/nats-io/nats.go"
)

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
	j.cancelRequested() // merge the newest cancel request into j.rec
	next := lifecycle.AfterFailure(j.rec)
	if next == lifecycle.CancelAtFailed {
		return j.cancelled(nil, "cancelled; the last attempt had failed: "+reason)
	}
	retry := next == lifecycle.Retry
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
