package dispatch

import (
	"errors"
	"sync/atomic"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
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

func (j *job) failpoint(point string) {
	if j.d.cfg.Failpoint != nil {
		j.d.cfg.Failpoint(point)
	}
}
