package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/testbin"
	"github.com/jetrun/jetrun/pkg/dispatch"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsserver"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/local"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

var workerBin string

func TestMain(m *testing.M) {
	workerBin = testbin.MustPath("worker")
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// env is one test's world: a real nats-server, a local runtime state dir,
// and the dispatchers started on them.
type env struct {
	t        testing.TB
	srv      *natsserver.Server
	url      string
	nc       *nats.Conn
	js       jetstream.JetStream
	names    messages.Names
	localDir string
}

func setup(t testing.TB) *env {
	t.Helper()
	srv, err := natsserver.Start(natsserver.Options{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, url: srv.ClientURL(), nc: nc, js: js, names: messages.DefaultNames(), localDir: t.TempDir()}
}

// dispatcher is a running in-process dispatcher.
type dispatcher struct {
	d       *dispatch.Dispatcher
	metrics *dispatch.Metrics
	cancel  context.CancelFunc
	done    chan error
}

func (e *env) config() dispatch.Config {
	rt, err := local.New(local.Config{Dir: e.localDir, WorkerBin: workerBin, TimeoutGrace: time.Second}, zerolog.Nop())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { rt.Close() }) // its supervisor exits after its workers
	return dispatch.Config{
		Names:       e.names,
		Runtimes:    map[string]runtimes.Runtime{local.Name: rt},
		Concurrency: 4,
		AckWait:     3 * time.Second,
		BackoffBase: 50 * time.Millisecond,
		BackoffMax:  400 * time.Millisecond,
		StopGrace:   2 * time.Second,
		WorkerEnv:   map[string]string{"NATS_URL": e.url},
		Log:         testLogger(e.t),
	}
}

var dispatcherN atomic.Int64

func (e *env) start(cfg dispatch.Config) *dispatcher {
	e.t.Helper()
	if cfg.ID == "" {
		cfg.ID = fmt.Sprintf("d%d", dispatcherN.Add(1))
	}
	nc, err := nats.Connect(e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	m := dispatch.NewMetrics(prometheus.NewRegistry())
	cfg.Metrics = m
	d, err := dispatch.New(nc, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	x := &dispatcher{d: d, metrics: m, cancel: cancel, done: make(chan error, 1)}
	go func() { x.done <- d.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for !d.Ready() {
		if time.Now().After(deadline) {
			e.t.Fatal("dispatcher not ready")
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Cleanup(func() { x.stop(e.t); nc.Close() })
	return x
}

func (x *dispatcher) stop(t testing.TB) {
	x.cancel()
	select {
	case err := <-x.done:
		if err != nil {
			t.Errorf("dispatcher Run: %v", err)
		}
		x.done <- nil
	case <-time.After(30 * time.Second):
		t.Error("dispatcher did not stop")
	}
}

// publishRaw publishes a submission with plain nats.go, as a producer in
// another language would.
func (e *env) publishRaw(subject, body, msgID string) *jetstream.PubAck {
	e.t.Helper()
	m := nats.NewMsg(subject)
	m.Data = []byte(body)
	if msgID != "" {
		m.Header.Set("Nats-Msg-Id", msgID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := e.js.PublishMsg(ctx, m)
	if err != nil {
		e.t.Fatalf("publish: %v", err)
	}
	return ack
}

func (e *env) submit(id, kind, params string, extra string) {
	e.t.Helper()
	body := fmt.Sprintf(`{"v":1,"job_id":%q,"kind":%q,"params":%s%s}`, id, kind, params, extra)
	e.publishRaw(e.names.SubmitSubject(kind), body, id)
}

// events replays a job's events and follows them until a terminal event
// (or the timeout), with an ordered consumer as subscribers do.
func (e *env) events(id string, timeout time.Duration) []messages.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []messages.Event
	cons, err := e.js.OrderedConsumer(ctx, e.names.EventsStream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{e.names.JobEvents(id)},
	})
	if err != nil {
		e.t.Fatalf("ordered consumer: %v", err)
	}
	for {
		msgs, err := cons.Fetch(100, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil && ctx.Err() != nil {
			e.t.Fatalf("events of %s: no terminal event after %s; got %s", id, timeout, types(out))
		}
		if err != nil {
			continue
		}
		for m := range msgs.Messages() {
			var ev messages.Event
			if err := json.Unmarshal(m.Data(), &ev); err != nil {
				e.t.Fatalf("bad event %s: %v", m.Data(), err)
			}
			out = append(out, ev)
			if ev.Type.Terminal() {
				return out
			}
		}
		if ctx.Err() != nil {
			e.t.Fatalf("events of %s: no terminal event after %s; got %s", id, timeout, types(out))
		}
	}
}

// allEvents returns every event of a job stored so far (no waiting for more).
func (e *env) allEvents(id string) []messages.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cons, err := e.js.OrderedConsumer(ctx, e.names.EventsStream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{e.names.JobEvents(id)},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []messages.Event
	for {
		msgs, err := cons.Fetch(100, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			return out
		}
		n := 0
		for m := range msgs.Messages() {
			n++
			var ev messages.Event
			json.Unmarshal(m.Data(), &ev)
			out = append(out, ev)
		}
		if n == 0 {
			return out
		}
	}
}

// settled returns a job's record once its state is terminal. A terminal
// event is published before the record is written (publish, then CAS), so
// a test that saw the event may read the record a moment too early.
func (e *env) settled(id string) messages.Record {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := e.record(id)
		if rec.State.Terminal() || time.Now().After(deadline) {
			return rec
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) record(id string) messages.Record {
	e.t.Helper()
	kv, err := e.js.KeyValue(context.Background(), e.names.StateBucket())
	if err != nil {
		e.t.Fatal(err)
	}
	entry, err := kv.Get(context.Background(), id)
	if err != nil {
		e.t.Fatalf("record %s: %v", id, err)
	}
	rec, err := messages.DecodeRecord(entry.Value())
	if err != nil {
		e.t.Fatal(err)
	}
	return rec
}

func types(evs []messages.Event) []string {
	var s []string
	for _, e := range evs {
		s = append(s, string(e.Type))
	}
	return s
}

func count(evs []messages.Event, t messages.EventType) int {
	n := 0
	for _, e := range evs {
		if e.Type == t {
			n++
		}
	}
	return n
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

func testLogger(t testing.TB) zerolog.Logger {
	if os.Getenv("JETRUN_TEST_LOG") == "" {
		return zerolog.Nop()
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: testWriter{t}, NoColor: true}).With().Timestamp().Logger()
}

// logs returns the local runtime's output of one attempt.
func (e *env) logs(id string, attempt int) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.localDir, runtimes.HandleName(id, attempt), "output.log"))
	if err != nil {
		e.t.Fatalf("logs of %s attempt %d: %v", id, attempt, err)
	}
	return string(b)
}

func (e *env) consumerInfo() (*jetstream.ConsumerInfo, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := e.js.Consumer(ctx, e.names.JobsStream(), e.names.DispatcherConsumer())
	if err != nil {
		return nil, err
	}
	return c.Info(ctx)
}

func testutilValue(c prometheus.Collector) float64 { return testutil.ToFloat64(c) }

// state returns a job's recorded state, or "" before it has a record.
func (e *env) state(id string) messages.State {
	kv, err := e.js.KeyValue(context.Background(), e.names.StateBucket())
	if err != nil {
		return ""
	}
	entry, err := kv.Get(context.Background(), id)
	if err != nil {
		return ""
	}
	rec, _ := messages.DecodeRecord(entry.Value())
	return rec.State
}

// syncWriter serialises writes of several goroutines into w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
