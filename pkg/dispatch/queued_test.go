package dispatch_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/dispatch"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

// queued is a runtime that holds each workload pending for a while before
// the real runtime starts it, as a Batch queue without free capacity does.
type queued struct {
	runtimes.Runtime
	hold time.Duration

	mu      sync.Mutex
	started map[string]chan struct{} // handle → closed once really started
	errs    map[string]error
	timers  map[string]*time.Timer
	stopped map[string]bool
}

func newQueued(rt runtimes.Runtime, hold time.Duration) *queued {
	return &queued{Runtime: rt, hold: hold, started: map[string]chan struct{}{}, errs: map[string]error{},
		timers: map[string]*time.Timer{}, stopped: map[string]bool{}}
}

func (q *queued) Stop(ctx context.Context, h runtimes.Handle, grace time.Duration) error {
	q.mu.Lock()
	if t := q.timers[h.Name]; t != nil && t.Stop() {
		q.stopped[h.Name] = true // never started: nothing to stop
		q.mu.Unlock()
		return nil
	}
	q.mu.Unlock()
	return q.Runtime.Stop(ctx, h, grace)
}

func (q *queued) Start(ctx context.Context, spec runtimes.Spec) (runtimes.Handle, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.started[spec.Handle.Name]; !ok {
		ch := make(chan struct{})
		q.started[spec.Handle.Name] = ch
		q.timers[spec.Handle.Name] = time.AfterFunc(q.hold, func() {
			_, err := q.Runtime.Start(context.Background(), spec)
			q.mu.Lock()
			q.errs[spec.Handle.Name] = err
			q.mu.Unlock()
			close(ch)
		})
	}
	return spec.Handle, nil
}

func (q *queued) gate(h runtimes.Handle) (chan struct{}, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	ch, ok := q.started[h.Name]
	return ch, ok
}

func (q *queued) Inspect(ctx context.Context, h runtimes.Handle) (runtimes.Status, error) {
	if ch, ok := q.gate(h); ok {
		select {
		case <-ch:
		default:
			return runtimes.Status{Phase: runtimes.PhasePending, ExitCode: -1}, nil
		}
	}
	return q.Runtime.Inspect(ctx, h)
}

func (q *queued) Wait(ctx context.Context, h runtimes.Handle) (runtimes.Status, error) {
	if ch, ok := q.gate(h); ok {
		select {
		case <-ch:
		case <-ctx.Done():
			return runtimes.Status{}, ctx.Err()
		}
	}
	return q.Runtime.Wait(ctx, h)
}

// The job timeout counts from when the workload starts running, not from
// its launch: a job queued longer than its timeout (plus the watchdog's
// slack) still gets its whole timeout once it runs, while one that does
// overrun is still stopped.
func TestWatchdogCountsFromTheWorkloadsStart(t *testing.T) {
	e := setup(t)
	cfg := e.config()
	rt := cfg.Runtimes["local"]
	cfg.Runtimes["local"] = newQueued(rt, 4*time.Second)
	cfg.WatchdogSlack = 100 * time.Millisecond
	e.start(cfg)
	// Queued 4 s, runs 1 s, timeout 3 s: the old watchdog (launch + 3.1 s) killed it.
	e.submit("queued-ok", "smoke", `{"sleep":"1s"}`, `,"max_retries":0,"resources":{"timeout":"3s"}`)
	evs := e.events("queued-ok", 60*time.Second)
	if last := evs[len(evs)-1]; last.Type != messages.EventSucceeded {
		t.Fatalf("a job queued past its timeout was killed: events = %v, last = %+v", types(evs), last)
	}
}

// A workload its runtime keeps pending is stopped once it has waited
// QueueTimeout past its usual deadline, and the attempt says why.
func TestWatchdogStopsAWorkloadQueuedTooLong(t *testing.T) {
	e := setup(t)
	cfg := e.config()
	q := newQueued(cfg.Runtimes["local"], time.Hour)
	cfg.Runtimes["local"] = q
	cfg.WatchdogSlack = 100 * time.Millisecond
	cfg.QueueTimeout = time.Second
	e.start(cfg)
	e.submit("never-placed", "smoke", `{}`, `,"max_retries":0,"resources":{"timeout":"1s"}`)
	evs := e.events("never-placed", 60*time.Second)
	last := evs[len(evs)-1]
	if last.Type != messages.EventDead || !strings.Contains(last.Error, "not started by runtime local within 2s") {
		t.Fatalf("events = %v, last = %+v", types(evs), last)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.stopped["jetrun-never-placed-a1"] {
		t.Fatal("the queued workload was not stopped")
	}
}

type pickySecrets struct{ runtimes.Runtime }

func (pickySecrets) CheckSecrets(names []string) error {
	return fmt.Errorf("no reference for %v", names)
}

// A runtime that cannot deliver the workers' secrets stops the dispatcher
// at start, instead of failing every job.
func TestNewChecksTheWorkersSecrets(t *testing.T) {
	e := setup(t)
	cfg := e.config()
	cfg.Runtimes["local"] = pickySecrets{cfg.Runtimes["local"]}
	cfg.WorkerSecrets = map[string]string{"NATS_PASSWORD": "pw"}
	_, err := dispatch.New(e.nc, cfg)
	if err == nil || !strings.Contains(err.Error(), "cannot deliver the workers' secrets: no reference for [NATS_PASSWORD]") || strings.Contains(err.Error(), "pw]") {
		t.Fatalf("New = %v", err)
	}
	cfg.WorkerSecrets = nil
	if _, err := dispatch.New(e.nc, cfg); err != nil {
		t.Fatalf("no secrets to check: %v", err)
	}
}
