package dispatch

import (
	"strings"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/nats-io/nats.go"
)

// A worker never publishes events: it reports on its attempt's worker
// subjects (package progress), and the owner relays. The relay is where
// the dispatcher checks what a worker says. A report can only
//   - hint that the workload runs: the runtime is asked, and only its
//     answer moves the record to running;
//   - become a "progress" event, built from the dispatcher's own record
//     (job id, attempt, sequence, state), with the worker's counters and a
//     bounded one-line message, at most relayBurst at once and
//     relayPerSecond on average, so a flooding worker cannot fill the
//     events stream.
//
// Nothing a worker says can end a job, change its record or speak for
// another job or attempt; with a narrow worker identity the NATS server
// also refuses a worker any other subject.
const (
	relayBuffer    = 256
	relayBurst     = 100
	relayPerSecond = 20
)

// relay follows the reports of one attempt's worker.
type relay struct {
	sub    *nats.Subscription
	ch     chan *nats.Msg
	tokens float64
	last   time.Time
	drops  int
}

// startRelay subscribes to the current attempt's report subjects. A
// failure to subscribe is logged and leaves the job without progress
// events, never without a result.
func (j *job) startRelay() *relay {
	r := &relay{ch: make(chan *nats.Msg, relayBuffer), tokens: relayBurst, last: time.Now()}
	sub, err := j.d.nc.ChanSubscribe(j.d.names.WorkerReports(j.id, j.rec.Attempt), r.ch)
	if err != nil {
		j.log.Warn().Err(err).Msg("subscribe to the worker's reports: no progress events for this attempt")
		return r
	}
	sub.SetPendingLimits(relayBuffer, messages.MaxWorkerReportBytes*relayBuffer)
	r.sub = sub
	return r
}

func (r *relay) stop() {
	if r.sub != nil {
		r.sub.Unsubscribe()
	}
}

// drain relays what reached this dispatcher before now: a round trip to
// the server first, so that every report the worker flushed before it
// exited is in the channel before the attempt's result is recorded.
func (j *job) drainRelay(r *relay, h runtimes.Handle) {
	if r.sub == nil {
		return
	}
	j.d.nc.FlushTimeout(time.Second)
	for {
		select {
		case m := <-r.ch:
			j.relayReport(r, h, m)
		default:
			return
		}
	}
}

// relayReport handles one report on the watch goroutine (which owns j.rec).
func (j *job) relayReport(r *relay, h runtimes.Handle, m *nats.Msg) {
	what := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	rep, err := messages.DecodeWorkerReport(m.Data)
	if err != nil {
		j.log.Debug().Err(err).Str("subject", m.Subject).Msg("worker report dropped")
		return
	}
	if j.rec.State == messages.StateStarting {
		j.markRunning(h) // the runtime, not the worker, says whether it runs
	}
	if what != messages.WorkerProgress || rep.Progress == nil || rep.Sub == 0 {
		return
	}
	if j.rec.State != messages.StateRunning {
		return // the runtime has not confirmed the workload yet
	}
	now := time.Now()
	r.tokens = min(relayBurst, r.tokens+now.Sub(r.last).Seconds()*relayPerSecond)
	r.last = now
	if r.tokens < 1 {
		if r.drops++; r.drops == 1 {
			j.log.Warn().Msg("the worker reports progress faster than relayed: dropping reports")
		}
		return
	}
	r.tokens--
	ev := j.event(messages.EventProgress)
	ev.Sub, ev.Progress, ev.Error, ev.ExitCode = rep.Sub, rep.Progress, "", nil
	ctx, cancel := opCtx()
	defer cancel()
	if err := j.d.publishEvent(ctx, &ev); err != nil {
		j.log.Debug().Err(err).Msg("relay progress")
	}
}
