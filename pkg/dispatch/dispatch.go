package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsconn"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Dispatcher consumes submissions and runs them on its runtimes, following
// the lifecycle protocol of docs/protocol.md.
type Dispatcher struct {
	cfg   Config
	nc    *nats.Conn
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	peers jetstream.KeyValue // live dispatchers' announcements
	cons  jetstream.Consumer
	log   zerolog.Logger
	names messages.Names

	ready atomic.Bool

	mu   sync.Mutex
	live map[string]*job // jobs whose message this dispatcher holds, by job id
	wg   sync.WaitGroup
	sem  chan struct{}
	// quit is closed when Run's context ends: handlers stop watching and
	// leave their workloads running for the next owner.
	quit chan struct{}
}

// New returns a dispatcher using nc. Call Run to start it.
func New(nc *nats.Conn, cfg Config) (*Dispatcher, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	secrets := maps.Clone(cfg.WorkerSecrets)
	if cfg.WorkerAuth != nil {
		// Workers get a token of their own, per attempt, not these.
		for _, k := range natsconn.IdentityVars {
			delete(secrets, k)
		}
	}
	names := slices.Sorted(maps.Keys(secrets))
	for _, rt := range cfg.Runtimes {
		if c, ok := rt.(runtimes.SecretChecker); ok && len(names) > 0 {
			if err := c.CheckSecrets(names); err != nil {
				return nil, fmt.Errorf("runtime %s cannot deliver the workers' secrets: %w", rt.Name(), err)
			}
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Dispatcher{
		cfg: cfg, nc: nc, js: js, names: cfg.Names,
		log:  cfg.Log.With().Str("dispatcher", cfg.ID).Logger(),
		live: map[string]*job{},
		sem:  make(chan struct{}, cfg.Concurrency),
		quit: make(chan struct{}),
	}, nil
}

// ID returns the dispatcher's id.
func (d *Dispatcher) ID() string { return d.cfg.ID }

// Ready reports whether the dispatcher is connected and consuming.
func (d *Dispatcher) Ready() bool {
	return d.ready.Load() && d.nc.IsConnected()
}

// Provision creates or updates the streams, the state bucket, the uploads
// object store and the dispatchers' consumer. It is idempotent; every
// dispatcher calls it at start.
func (d *Dispatcher) Provision(ctx context.Context) error {
	s := d.cfg.Streams
	streams := []jetstream.StreamConfig{{
		Name:        d.names.EventsStream(),
		Description: "jetrun job lifecycle and progress events",
		Subjects:    []string{d.names.EventsWildcard()},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      s.EventsMaxAge,
		Duplicates:  s.DuplicateWindow,
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
	}, {
		Name:        d.names.DLQStream(),
		Description: "jetrun dead letters: jobs that exhausted their retries or can never run",
		Subjects:    []string{d.names.DLQWildcard()},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      s.DLQMaxAge,
		Duplicates:  s.DuplicateWindow,
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
	}}
	for _, sc := range streams {
		if _, err := d.js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("create stream %s: %w", sc.Name, err)
		}
	}
	kv, err := d.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      d.names.StateBucket(),
		Description: "jetrun job records",
		History:     1,
		TTL:         s.StateMaxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
	})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", d.names.StateBucket(), err)
	}
	d.kv = kv
	peers, err := d.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      d.names.DispatchersBucket(),
		Description: "jetrun live dispatchers (entries expire when not refreshed)",
		History:     1,
		TTL:         announceTTL,
		Storage:     jetstream.MemoryStorage,
		Replicas:    s.Replicas,
	})
	if err != nil {
		return fmt.Errorf("create bucket %s: %w", d.names.DispatchersBucket(), err)
	}
	d.peers = peers
	if _, err := d.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      d.names.UploadsBucket(),
		Description: "jetrun uploaded job inputs",
		TTL:         s.JobsMaxAge,
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
	}); err != nil {
		return fmt.Errorf("create object store %s: %w", d.names.UploadsBucket(), err)
	}
	// The jobs stream comes last: a producer's first accepted submission
	// then implies that the events stream, the buckets and the object store
	// it will use next already exist.
	jobs := jetstream.StreamConfig{
		Name:        d.names.JobsStream(),
		Description: "jetrun job submissions",
		Subjects:    []string{d.names.SubmitWildcard()},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardNew,
		MaxAge:      s.JobsMaxAge,
		MaxBytes:    s.JobsMaxBytes,
		MaxMsgSize:  1 << 20,
		Duplicates:  s.DuplicateWindow,
		Storage:     jetstream.FileStorage,
		Replicas:    s.Replicas,
	}
	if _, err := d.js.CreateOrUpdateStream(ctx, jobs); err != nil {
		return fmt.Errorf("create stream %s: %w", jobs.Name, err)
	}
	cons, err := d.js.CreateOrUpdateConsumer(ctx, d.names.JobsStream(), jetstream.ConsumerConfig{
		Durable:       d.names.DispatcherConsumer(),
		Description:   "jetrun dispatchers (shared)",
		FilterSubject: d.names.SubmitWildcard(),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       d.cfg.AckWait,
		MaxDeliver:    d.cfg.MaxDeliver,
		MaxAckPending: d.cfg.MaxAckPending,
	})
	if err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}
	d.cons = cons
	return nil
}

// Run provisions, then consumes submissions until ctx ends. On return it
// has stopped fetching and released every message it held; running
// workloads are left running, for the next owner to adopt.
func (d *Dispatcher) Run(ctx context.Context) error {
	if err := d.Provision(ctx); err != nil {
		return err
	}
	watcher, err := d.kv.WatchAll(ctx, jetstream.UpdatesOnly())
	if err != nil {
		return fmt.Errorf("watch job records: %w", err)
	}
	defer watcher.Stop()
	go d.forwardRecords(watcher)

	cancelSub, err := d.nc.QueueSubscribe(d.names.CancelWildcard(), "jetrun-dispatchers", d.handleCancel)
	if err != nil {
		return fmt.Errorf("subscribe cancel: %w", err)
	}
	defer cancelSub.Unsubscribe()
	logsSub, err := d.nc.QueueSubscribe(d.names.LogsWildcard(), "jetrun-dispatchers", d.handleLogs)
	if err != nil {
		return fmt.Errorf("subscribe logs: %w", err)
	}
	defer logsSub.Unsubscribe()
	directSub, err := d.nc.Subscribe(d.names.DispatcherLogsWildcard(d.cfg.ID), d.handleLogs)
	if err != nil {
		return fmt.Errorf("subscribe logs: %w", err)
	}
	defer directSub.Unsubscribe()

	advisory := "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES." + d.names.JobsStream() + "." + d.names.DispatcherConsumer()
	advSub, err := d.nc.QueueSubscribe(advisory, "jetrun-dispatchers", d.handleMaxDeliveries)
	if err != nil {
		return fmt.Errorf("subscribe advisories: %w", err)
	}
	defer advSub.Unsubscribe()

	// Ready means the request subscriptions are live at the server.
	if err := d.nc.FlushTimeout(10 * time.Second); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}

	if d.cfg.WorkerAuth != nil {
		go d.cfg.WorkerAuth.Serve(ctx, d.nc, d.workerGrant, d.log)
	}
	go d.watchQueue(ctx)
	go d.janitor(ctx)
	announced := make(chan struct{})
	go func() { defer close(announced); d.announce(ctx) }()
	d.ready.Store(true)
	d.log.Info().Int("concurrency", d.cfg.Concurrency).Str("runtime", d.cfg.DefaultRuntime).
		Str("stream", d.names.JobsStream()).Msg("dispatcher consuming")
	d.consume(ctx)
	d.ready.Store(false)
	close(d.quit)
	d.wg.Wait()
	<-announced
	d.log.Info().Msg("dispatcher stopped; running workloads left for the next owner")
	return nil
}

// consume fetches submissions only while this dispatcher has a free slot,
// so a message is never held (its AckWait ticking) by a dispatcher too busy
// to start it, and hands each to its own goroutine, which frees the slot
// when the job's message is settled. A job waiting out a retry backoff has
// been settled (NakWithDelay) and holds no slot.
func (d *Dispatcher) consume(ctx context.Context) {
	for {
		select {
		case d.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < d.cfg.Concurrency {
			select {
			case d.sem <- struct{}{}:
				n++
			default:
				break more
			}
		}
		fctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		batch, err := d.cons.Fetch(n, jetstream.FetchContext(fctx))
		got := 0
		if err == nil {
			for m := range batch.Messages() {
				got++
				d.wg.Add(1)
				go func() {
					defer d.wg.Done()
					defer func() { <-d.sem }()
					d.handle(m)
				}()
			}
			err = batch.Error()
		}
		cancel()
		for range n - got {
			<-d.sem
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			d.log.Warn().Err(err).Msg("fetch submissions")
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return
			}
		}
	}
}

// janitor removes the local state of long-finished workloads, for runtimes
// that keep some (Pruner).
func (d *Dispatcher) janitor(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		for name, rt := range d.cfg.Runtimes {
			p, ok := rt.(runtimes.Pruner)
			if !ok {
				continue
			}
			if n, err := p.Prune(time.Now().Add(-d.cfg.Streams.JobsMaxAge)); err != nil {
				d.log.Warn().Err(err).Str("runtime", name).Msg("prune finished workloads")
			} else if n > 0 {
				d.log.Info().Int("removed", n).Str("runtime", name).Msg("pruned finished workloads")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// announceTTL is how long a dispatcher's announcement outlives its last
// refresh (every announceTTL/3).
const announceTTL = 15 * time.Second

// announce keeps this dispatcher's entry in the dispatchers bucket fresh
// until ctx ends, then deletes it.
func (d *Dispatcher) announce(ctx context.Context) {
	started := time.Now().UTC()
	var rts []string
	for name := range d.cfg.Runtimes {
		rts = append(rts, name)
	}
	sort.Strings(rts)
	host, _ := os.Hostname()
	t := time.NewTicker(announceTTL / 3)
	defer t.Stop()
	for {
		d.mu.Lock()
		running := len(d.live)
		d.mu.Unlock()
		info := messages.Dispatcher{V: messages.Version, ID: d.cfg.ID, Host: host, Version: d.cfg.Version,
			Runtimes: rts, Default: d.cfg.DefaultRuntime, Kinds: d.cfg.Kinds.Names(),
			Concurrency: d.cfg.Concurrency, Running: running, Started: started, Updated: time.Now().UTC()}
		b, _ := json.Marshal(info)
		pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := d.peers.Put(pctx, d.cfg.ID, b); err != nil && ctx.Err() == nil {
			d.log.Warn().Err(err).Msg("announce")
		}
		cancel()
		select {
		case <-ctx.Done():
			pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			d.peers.Delete(pctx, d.cfg.ID)
			cancel()
			return
		case <-t.C:
		}
	}
}

// peersServing lists the other live dispatchers that run runtime name.
func (d *Dispatcher) peersServing(ctx context.Context, name string) []string {
	lister, err := d.peers.ListKeys(ctx)
	if err != nil {
		return nil
	}
	var ids []string
	for key := range lister.Keys() {
		if key == d.cfg.ID {
			continue
		}
		e, err := d.peers.Get(ctx, key)
		if err != nil {
			continue
		}
		var info messages.Dispatcher
		if json.Unmarshal(e.Value(), &info) == nil && slices.Contains(info.Runtimes, name) {
			ids = append(ids, key)
		}
	}
	return ids
}

// watchQueue refreshes the queue-depth gauges.
func (d *Dispatcher) watchQueue(ctx context.Context) {
	if d.cfg.Metrics == nil {
		return
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if info, err := d.cons.Info(ctx); err == nil {
			d.cfg.Metrics.QueueDepth.Set(float64(info.NumPending))
			d.cfg.Metrics.AckPending.Set(float64(info.NumAckPending))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// forwardRecords passes every change of a live job's record to its handler.
func (d *Dispatcher) forwardRecords(w jetstream.KeyWatcher) {
	for e := range w.Updates() {
		if e == nil {
			continue
		}
		d.mu.Lock()
		j := d.live[e.Key()]
		d.mu.Unlock()
		if j == nil || e.Operation() != jetstream.KeyValuePut {
			continue
		}
		rec, err := messages.DecodeRecord(e.Value())
		if err != nil {
			continue
		}
		j.notify(rec)
	}
	if !d.quitting() {
		d.log.Error().Msg("job record watcher stopped: cancels reach running jobs only through their periodic record check now")
	}
}

func (d *Dispatcher) quitting() bool {
	select {
	case <-d.quit:
		return true
	default:
		return false
	}
}

// getRecord reads a job record.
func (d *Dispatcher) getRecord(ctx context.Context, id string) (messages.Record, uint64, error) {
	e, err := d.kv.Get(ctx, id)
	if err != nil {
		return messages.Record{}, 0, err
	}
	rec, err := messages.DecodeRecord(e.Value())
	return rec, e.Revision(), err
}

// publishEvent publishes one lifecycle event under its dedup id.
func (d *Dispatcher) publishEvent(ctx context.Context, ev *messages.Event) error {
	ev.V = messages.Version
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if _, err := d.js.Publish(ctx, d.names.EventSubject(ev.JobID, ev.Type), data, jetstream.WithMsgID(ev.MsgID())); err != nil {
		return fmt.Errorf("publish %s event: %w", ev.Type, err)
	}
	if d.cfg.Metrics != nil {
		d.cfg.Metrics.Events.WithLabelValues(string(ev.Type)).Inc()
	}
	return nil
}

// runtimeFor returns the runtime called name ("" = the default).
func (d *Dispatcher) runtimeFor(name string) (runtimes.Runtime, string, error) {
	if name == "" {
		name = d.cfg.DefaultRuntime
	}
	rt, ok := d.cfg.Runtimes[name]
	if !ok {
		names := make([]string, 0, len(d.cfg.Runtimes))
		for n := range d.cfg.Runtimes {
			names = append(names, n)
		}
		return nil, name, fmt.Errorf("%w: runtime %q is not served by this dispatcher (it runs %v)", errPermanent, name, names)
	}
	return rt, name, nil
}

// opCtx bounds one NATS or runtime operation. It is not derived from Run's
// context: a transition that began is finished even during shutdown.
func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}
