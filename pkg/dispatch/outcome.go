// How an attempt ends, as inputs to the lifecycle (record.go's apply):
// an exit, a failure without one, a cancel carried out; and the
// dead-letter copy.

package dispatch

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jetrun/jetrun/internal/textutil"
	"github.com/jetrun/jetrun/pkg/lifecycle"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/nats-io/nats.go"
)

// complete records a finished attempt (lifecycle: Exited).
func (j *job) complete(st runtimes.Status) settlement {
	in := j.input(lifecycle.Exited)
	in.Status = &st
	s, _ := j.apply(in)
	return s
}

// attemptFailed records an attempt that failed without an exit of its own
// and either schedules the next one or, when retries are exhausted or the
// failure is permanent, dead-letters the job (lifecycle: Failed).
func (j *job) attemptFailed(reason string, exitCode *int, permanent bool) settlement {
	in := j.input(lifecycle.Failed)
	in.Reason, in.ExitCode, in.Permanent = reason, exitCode, permanent
	s, _ := j.apply(in)
	return s
}

// deadLetter copies the submission to the dead-letter stream, under the
// job id as duplicate key.
func (j *job) deadLetter(ctx context.Context, reason string) error {
	m := nats.NewMsg(j.d.names.DLQSubject(j.rec.Kind))
	m.Data = j.msg.Data()
	m.Header.Set(messages.HeaderReason, textutil.Truncate(reason, 1024))
	m.Header.Set(messages.HeaderJobID, j.id)
	m.Header.Set("Jetrun-Attempts", strconv.Itoa(j.rec.Attempt))
	m.Header.Set("Jetrun-Stream-Seq", strconv.FormatUint(j.meta.Sequence.Stream, 10))
	m.Header.Set(messages.HeaderMsgID, j.id)
	if _, err := j.d.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("dead-letter copy: %w", err)
	}
	return nil
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

// cancelled records a carried-out cancel (lifecycle: Stopped); st is the
// workload's status when it had run.
func (j *job) cancelled(st *runtimes.Status, msg string) settlement {
	in := j.input(lifecycle.Stopped)
	in.Status, in.Reason = st, msg
	s, _ := j.apply(in)
	return s
}
