// Following a launched workload: adoption (lifecycle.OnAdopt), Wait,
// cancels, the watchdog and the "running" transition.

package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetrun/jetrun/pkg/lifecycle"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

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
	switch lifecycle.OnAdopt(j.rec, st.Phase) {
	case lifecycle.CancelUnlaunched:
		return j.cancelled(nil, "cancelled before launch")
	case lifecycle.CancelFinished:
		// The cancel was recorded before the exit was: it holds (the
		// previous owner may have stopped the workload itself).
		return j.cancelled(&st, "cancelled; workload stopped")
	case lifecycle.StopThenCancel:
		return j.cancelRunning(h)
	case lifecycle.StartAgain:
		return j.startAndWatch()
	case lifecycle.Disappeared:
		return j.attemptFailed("workload disappeared from runtime "+j.rt.Name(), nil, false)
	case lifecycle.Complete:
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
	if s, done := j.apply(lifecycle.Input{Type: lifecycle.Running}); done {
		j.log.Warn().Str("reason", s.reason).Msg("record running")
	}
}
