// Package progress publishes a worker's progress reports.
//
// A worker learns its job from the environment its runtime gives it
// (JETRUN_JOB_ID, JETRUN_ATTEMPT, JETRUN_PREFIX, and the NATS connection
// variables of package natsconn). When NATS is reachable the worker
// publishes [messages.WorkerReport]s on its attempt's worker subject
// (messages.Names.WorkerSubject); when it is not, the worker still does its
// work and only logs that progress is not published. Progress is best
// effort: a failed publish never fails a job.
//
// # Who speaks on the events stream
//
// A worker never publishes events. The dispatcher that owns the attempt
// subscribes to the attempt's worker subjects, checks each report (size,
// counters, one-line text) and publishes the "running" transition (once
// its runtime confirms the workload runs) and the "progress" events itself,
// with the job id, attempt and sequence it holds. A worker, which runs
// untrusted input, can therefore speak only for its own attempt, and only
// in progress reports. With a narrow worker identity (package natsauth)
// the NATS server enforces that: the worker may publish only on its
// attempt's report subjects and subscribe only under its own inbox
// ([messages.Names.WorkerInbox]).
//
// Each progress report carries a counter from 1 that becomes the event's
// Sub, so a re-sent report is deduplicated by the events stream.
package progress

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsconn"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Reporter receives progress. The pipeline declares its own copy of this
// one-method interface; *Publisher satisfies both.
type Reporter interface {
	Report(ctx context.Context, p messages.Progress)
}

// Publisher publishes progress events for one attempt. A nil *Publisher is
// valid and discards everything.
type Publisher struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	names   messages.Names
	jobID   string
	attempt int
	log     zerolog.Logger

	mu       sync.Mutex
	sub      uint64
	failures int
}

var _ Reporter = (*Publisher)(nil)

// FromEnv connects a publisher from the worker's environment. It returns
// nil (a valid, silent publisher) when the worker was not given a job id or
// a NATS URL, or when NATS cannot be reached; the reason is logged.
func FromEnv(getenv func(string) string, log zerolog.Logger) *Publisher {
	jobID := getenv(jobs.EnvJobID)
	if jobID == "" || getenv(natsconn.EnvURL) == "" {
		log.Debug().Msg("no job id or NATS_URL in the environment: progress is not published")
		return nil
	}
	if !messages.ValidJobID(jobID) {
		log.Warn().Str("job_id", jobID).Msg("invalid job id: progress is not published")
		return nil
	}
	names, err := messages.NewNames(getenv(jobs.EnvPrefix))
	if err != nil {
		log.Warn().Err(err).Msg("progress is not published")
		return nil
	}
	attempt, _ := strconv.Atoi(getenv(jobs.EnvAttempt))
	if attempt < 1 {
		log.Warn().Str("attempt", getenv(jobs.EnvAttempt)).Msg("no attempt number: progress is not published")
		return nil
	}
	opts := natsconn.FromEnv(getenv)
	opts.Name = "jetrun-worker " + jobID
	opts.InboxPrefix = names.WorkerInbox(jobID, attempt)
	opts.ConnectTimeout = 3 * time.Second
	opts.MaxReconnects = 10
	opts.ReconnectWait = 500 * time.Millisecond
	nc, err := opts.Connect(log)
	if err != nil {
		log.Warn().Err(err).Msg("cannot reach NATS: working without publishing progress")
		return nil
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		log.Warn().Err(err).Msg("progress is not published")
		return nil
	}
	p := &Publisher{nc: nc, js: js, names: names, jobID: jobID, attempt: attempt, log: log}
	p.publish(messages.WorkerRunning, messages.WorkerReport{V: messages.Version})
	return p
}

// Report publishes one progress report. Errors are logged; after several
// consecutive failures the publisher stops trying.
func (p *Publisher) Report(ctx context.Context, pr messages.Progress) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sub++
	p.publish(messages.WorkerProgress, messages.WorkerReport{V: messages.Version, Sub: p.sub, Progress: &pr})
}

func (p *Publisher) publish(what string, r messages.WorkerReport) {
	if p.failures >= 5 {
		return
	}
	data, err := json.Marshal(r)
	if err != nil {
		return
	}
	if err := p.nc.Publish(p.names.WorkerSubject(p.jobID, p.attempt, what), data); err != nil {
		p.failures++
		p.log.Warn().Err(err).Int("failures", p.failures).Msg("publish progress")
		return
	}
	p.failures = 0
}

// JetStream returns the publisher's JetStream context, for a worker that
// needs NATS for more than progress (nil for a nil publisher).
func (p *Publisher) JetStream() jetstream.JetStream {
	if p == nil {
		return nil
	}
	return p.js
}

// Close flushes what is buffered (for up to 2 s) and closes the connection.
func (p *Publisher) Close() {
	if p == nil {
		return
	}
	p.nc.FlushTimeout(2 * time.Second)
	p.nc.Close()
}
