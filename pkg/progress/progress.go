// Package progress publishes a worker's progress events.
//
// A worker learns its job from the environment its runtime gives it
// (JETRUN_JOB_ID, JETRUN_ATTEMPT, JETRUN_EVENT_SEQ, JETRUN_PREFIX, and the
// NATS connection variables of package natsconn). When NATS is reachable the
// worker publishes "progress" events straight to the events stream, so
// subscribers see them without a hop through the dispatcher; when it is not,
// the worker still does its work and only logs that progress is not
// published. Progress is best effort: a failed publish never fails a job.
//
// # Ordering and deduplication
//
// JETRUN_EVENT_SEQ is the Seq of the attempt's "running" event (the one
// after "started"). On connecting, FromEnv publishes that "running" event
// itself, with Nats-Msg-Id "<job_id>:<seq>"; the dispatcher publishes the
// same event under the same id when its runtime reports the workload
// running, and the events stream keeps whichever arrives first. The worker
// publishes it before any progress, so the stream holds "running" before
// the attempt's progress events. A progress event carries the same Seq and
// its own Sub counter from 1, and is published with Nats-Msg-Id
// "<job_id>:<seq>.<sub>", so (Seq, Sub) orders a job's history, in the
// stream's order, and a retried publish is not duplicated. A core NATS
// subscriber, which the stream's deduplication does not filter, may see
// "running" twice.
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
	kind    string
	runtime string
	attempt int
	seq     uint64
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
	opts := natsconn.FromEnv(getenv)
	opts.Name = "jetrun-worker " + jobID
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
	attempt, _ := strconv.Atoi(getenv(jobs.EnvAttempt))
	seq, _ := strconv.ParseUint(getenv(jobs.EnvEventSeq), 10, 64)
	p := &Publisher{nc: nc, js: js, names: names, jobID: jobID, kind: getenv(jobs.EnvKind),
		runtime: getenv(jobs.EnvRuntime), attempt: attempt, seq: seq, log: log}
	p.running()
	return p
}

// running publishes the attempt's "running" event. The dispatcher publishes
// the same event (same sequence, same Nats-Msg-Id) when its runtime reports
// the workload running; the events stream keeps whichever arrives first, so
// this one, when it wins, precedes every progress event of the attempt.
func (p *Publisher) running() {
	if p.seq == 0 {
		return
	}
	ev := messages.Event{V: messages.Version, JobID: p.jobID, Seq: p.seq, Type: messages.EventRunning,
		State: messages.StateRunning, Kind: p.kind, Attempt: p.attempt, Time: time.Now().UTC(),
		Runtime: p.runtime, Message: "worker started"}
	p.publish(context.Background(), &ev)
}

// Report publishes one progress event. Errors are logged; after several
// consecutive failures the publisher stops trying.
func (p *Publisher) Report(ctx context.Context, pr messages.Progress) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures >= 5 {
		return
	}
	p.sub++
	ev := messages.Event{V: messages.Version, JobID: p.jobID, Seq: p.seq, Sub: p.sub,
		Type: messages.EventProgress, State: messages.StateRunning, Kind: p.kind,
		Attempt: p.attempt, Time: time.Now().UTC(), Runtime: p.runtime, Progress: &pr}
	p.publish(ctx, &ev)
}

func (p *Publisher) publish(ctx context.Context, ev *messages.Event) {
	if p.failures >= 5 {
		return
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = p.js.Publish(ctx, p.names.EventSubject(p.jobID, ev.Type), data, jetstream.WithMsgID(ev.MsgID()))
	if err != nil {
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

// Close flushes and closes the connection.
func (p *Publisher) Close() {
	if p == nil {
		return
	}
	p.nc.Close()
}
