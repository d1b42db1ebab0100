package dispatch_test

// Benchmarks for the release note. Run them together, in one process, so
// the figures are comparable (not under -race, which slows every process):
//
//	go test -run XXX -bench . -benchtime 1x ./pkg/dispatch/
//
// Each iteration of b.N runs a whole batch and the figures are reported with
// b.ReportMetric (ns/op is suppressed: an "op" is a batch), averaged over the
// batches. -benchtime 1x runs every batch once, which is what the release
// figures use; with the default benchtime a batch that ends in under a
// second is run again with a larger b.N.
//
// From the bottom up:
//
//   - BenchmarkExecFloor: os/exec of "worker smoke" (no NATS), the floor.
//   - BenchmarkLocalRuntimeFloor: the local runtime's Start+Wait alone
//     (the worker under the runtime's one supervisor, state files), no
//     NATS, no dispatcher.
//   - BenchmarkThroughput: end to end through NATS and the dispatcher;
//     ...TwoDispatchers: two dispatchers sharing the queue.
//   - BenchmarkEngineCeiling: the same with workloads that end at once,
//     the dispatcher's and NATS's own cost.
//   - BenchmarkLatency: latencies at a steady rate below saturation.
//
// Environment:
//
//	JETRUN_BENCH_JOBS          batch size of the throughput figures (default 1000)
//	JETRUN_BENCH_FLOOR_JOBS    launches of the floor measured before and after each
//	                           local-runtime figure, for its x-floor ratio (default 300)
//	JETRUN_BENCH_LATENCY_JOBS  jobs of BenchmarkLatency (default 200)
//	JETRUN_BENCH_RATE          submissions per second of BenchmarkLatency (default 10)
//
// Timings never fail a benchmark; a job that does not succeed does.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/dispatch"
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/local"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// benchConcurrency is the dispatcher's Concurrency and the floors' number
// of launching goroutines.
const benchConcurrency = 8

// BenchmarkExecFloor launches "worker smoke" (no NATS in its environment, so
// it publishes nothing) with os/exec from benchConcurrency goroutines. It is
// the floor the dispatcher's throughput is compared to.
func BenchmarkExecFloor(b *testing.B) {
	n := benchEnvInt(b, "JETRUN_BENCH_JOBS", 1000)
	var total time.Duration
	cpu := benchCPUStart()
	b.ResetTimer()
	for range b.N {
		d, err := benchExecBatch(n)
		total += d
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "launches/s")
	b.ReportMetric(total.Seconds()/float64(b.N), "total-s")
	cpu.report(b, n*b.N)
}

// benchExecBatch launches n "worker smoke" processes from
// benchConcurrency goroutines and returns the time it took.
func benchExecBatch(n int) (time.Duration, error) {
	begin := time.Now()
	err := benchFanOut(n, func(int) error {
		cmd := exec.Command(workerBin, "smoke")
		cmd.Env = []string{} // empty, not nil: nothing inherited
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("worker smoke: %w", err)
		}
		return nil
	})
	return time.Since(begin), err
}

// benchFloorAround reports x-floor: rate (jobs/s) over the os/exec floor
// measured right before and right after the benchmark's batches (with
// JETRUN_BENCH_FLOOR_JOBS launches each, default 300), so that the ratio is
// of one run and a host that speeds up or slows down over minutes does not
// skew it. It is the figure the dispatch goal is set in.
func benchFloorAround(b *testing.B, before time.Duration, rate float64) {
	b.Helper()
	n := benchEnvInt(b, "JETRUN_BENCH_FLOOR_JOBS", 300)
	after, err := benchExecBatch(n)
	if err != nil {
		b.Fatal(err)
	}
	floor := float64(2*n) / (before + after).Seconds()
	b.ReportMetric(floor, "floor-launches/s")
	b.ReportMetric(rate/floor, "x-floor")
}

// benchFloorBefore is the first half of benchFloorAround.
func benchFloorBefore(b *testing.B) time.Duration {
	b.Helper()
	d, err := benchExecBatch(benchEnvInt(b, "JETRUN_BENCH_FLOOR_JOBS", 300))
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkLocalRuntimeFloor runs smoke workloads through the local
// runtime's Start and Wait alone: supervisor and worker processes and the
// state files, without NATS or a dispatcher. A failed launch is retried
// once as attempt 2, as the dispatcher would (without its backoff), and
// logged: the figures should say when that happened.
func BenchmarkLocalRuntimeFloor(b *testing.B) {
	n := benchEnvInt(b, "JETRUN_BENCH_JOBS", 1000)
	rt, err := local.New(local.Config{Dir: b.TempDir(), WorkerBin: workerBin, TimeoutGrace: time.Second}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	run := func(id string, attempt int) error {
		spec := runtimes.Spec{Handle: runtimes.Handle{Runtime: local.Name, Name: runtimes.HandleName(id, attempt)},
			JobID: id, Kind: "smoke", Attempt: attempt, Command: []string{"smoke"}, Resources: jobs.Smoke{}.Defaults()}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		h, err := rt.Start(ctx, spec)
		if err != nil {
			return err
		}
		st, err := rt.Wait(ctx, h)
		if err != nil {
			return err
		}
		if st.Phase != runtimes.PhaseSucceeded {
			return fmt.Errorf("%s: phase %s (%s)", h.Name, st.Phase, st.Reason)
		}
		return nil
	}
	var retried atomic.Int64
	var firstRetry atomic.Value
	var total time.Duration
	floorBefore := benchFloorBefore(b)
	cpu := benchCPUStart()
	b.ResetTimer()
	for i := range b.N {
		begin := time.Now()
		err := benchFanOut(n, func(k int) error {
			id := fmt.Sprintf("rt%d-%d", i, k)
			err := run(id, 1)
			if err == nil {
				return nil
			}
			retried.Add(1)
			firstRetry.CompareAndSwap(nil, err.Error())
			return run(id, 2)
		})
		total += time.Since(begin)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(0, "ns/op")
	rate := float64(n*b.N) / total.Seconds()
	b.ReportMetric(rate, "jobs/s")
	b.ReportMetric(total.Seconds()/float64(b.N), "total-s")
	cpu.report(b, n*b.N)
	b.StopTimer()
	benchFloorAround(b, floorBefore, rate)
	if r := retried.Load(); r > 0 {
		b.Logf("%d of %d first attempts failed and were retried; first: %s", r, n*b.N, firstRetry.Load())
	}
}

// BenchmarkThroughput publishes a batch of smoke jobs (params {}: no sleep)
// as raw JSON with Nats-Msg-Id, all at once, and measures until a core
// subscriber has received every job's terminal event. One dispatcher,
// Concurrency 8, default AckWait, local runtime.
//
// total-s runs from the first publish to the last terminal event received;
// publish-s is the part spent publishing (the dispatcher starts on the
// first job meanwhile). The latencies of this saturated run are logged, not
// reported: they measure the queue.
func BenchmarkThroughput(b *testing.B) {
	benchThroughput(b, nil, 1)
}

// BenchmarkThroughputTwoDispatchers is BenchmarkThroughput with two
// dispatchers on the one NATS server, each with Concurrency 8 and a local
// runtime of its own over one state directory (as two dispatchers on one
// host). On this benchmark's one host the workers' CPU is the limit, so it
// shows that a second dispatcher costs nothing, not that it adds capacity:
// that comes from a second host.
func BenchmarkThroughputTwoDispatchers(b *testing.B) {
	benchThroughput(b, nil, 2)
}

// BenchmarkEngineCeiling is BenchmarkThroughput with a runtime whose
// workloads finish the moment they start: what remains is the dispatcher's
// own work per job (the events, the record's create and updates, the ack)
// and the NATS server's. It is the ceiling the local runtime's figures sit
// under.
func BenchmarkEngineCeiling(b *testing.B) {
	benchThroughput(b, &benchInstantRuntime{done: map[string]bool{}}, 1)
}

// BenchmarkEngineCeilingTwoDispatchers is BenchmarkEngineCeiling with two
// dispatchers sharing the queue: how the spine's own work scales when the
// dispatchers, the NATS server and the subscriber share this host's cores.
func BenchmarkEngineCeilingTwoDispatchers(b *testing.B) {
	benchThroughput(b, &benchInstantRuntime{done: map[string]bool{}}, 2)
}

func benchThroughput(b *testing.B, rt runtimes.Runtime, dispatchers int) {
	n := benchEnvInt(b, "JETRUN_BENCH_JOBS", 1000)
	w := setup(b)
	for k := range dispatchers {
		cfg := benchConfig(w)
		cfg.ID = fmt.Sprintf("bench-%d", k+1)
		if rt != nil {
			cfg.Runtimes = map[string]runtimes.Runtime{rt.Name(): rt}
		}
		w.start(cfg)
	}
	rec := benchListen(b, w.url, w.names.EventsWildcard())
	var total, publish time.Duration
	var floorBefore time.Duration
	if rt == nil {
		floorBefore = benchFloorBefore(b)
	}
	cpu := benchCPUStart()
	b.ResetTimer()
	for i := range b.N {
		batch := make([]*benchJob, n)
		for k := range batch {
			batch[k] = rec.expect(fmt.Sprintf("tp%d-%d", i, k))
		}
		begin := time.Now()
		for _, j := range batch {
			benchPublish(b, w, j)
		}
		publish += time.Since(begin)
		end := rec.waitTerminal(b, (i+1)*n, benchTimeout(n))
		total += end.Sub(begin)
	}
	b.StopTimer()
	rec.check(b)
	b.ReportMetric(0, "ns/op")
	rate := float64(n*b.N) / total.Seconds()
	b.ReportMetric(rate, "jobs/s")
	b.ReportMetric(total.Seconds()/float64(b.N), "total-s")
	b.ReportMetric(publish.Seconds()/float64(b.N), "publish-s")
	cpu.report(b, n*b.N)
	if rt == nil {
		benchFloorAround(b, floorBefore, rate)
	}
	rec.logBreakdown(b, "saturated")
}

// BenchmarkLatency submits jobs at a steady rate, JETRUN_BENCH_RATE, which
// must be well below the throughput (BenchmarkThroughput) so that queueing
// does not dominate, and reports:
//
//   - started-p50/p99-ms: from just before js.Publish of the submission to
//     the receipt of its "started" event by a core NATS subscriber (receive
//     time, not the event's Time field);
//   - event-delivery-p50/p99-ms: from an event's Time field (set by the
//     dispatcher just before marshalling) to its receipt by a core
//     subscriber on <prefix>.jobs.events.>; every event of the run counts;
//   - e2e-p50/p99-ms: from just before js.Publish to the receipt of the
//     "succeeded" event.
//
// Publisher, dispatcher, workers and subscriber share one host clock.
func BenchmarkLatency(b *testing.B) {
	n := benchEnvInt(b, "JETRUN_BENCH_LATENCY_JOBS", 200)
	rate := benchEnvInt(b, "JETRUN_BENCH_RATE", 10)
	interval := time.Second / time.Duration(rate)
	w := setup(b)
	w.start(benchConfig(w))
	rec := benchListen(b, w.url, w.names.EventsWildcard())
	b.ResetTimer()
	for i := range b.N {
		batch := make([]*benchJob, n)
		for k := range batch {
			batch[k] = rec.expect(fmt.Sprintf("lat%d-%d", i, k))
		}
		begin := time.Now()
		for k, j := range batch {
			// An absolute schedule, so a slow publish does not shift the rest.
			time.Sleep(time.Until(begin.Add(time.Duration(k) * interval)))
			benchPublish(b, w, j)
		}
		rec.waitTerminal(b, (i+1)*n, benchTimeout(n)+time.Duration(n)*interval)
	}
	b.StopTimer()
	rec.check(b)
	started, e2e, delivery := rec.latencies()
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(benchMS(started, 0.50), "started-p50-ms")
	b.ReportMetric(benchMS(started, 0.99), "started-p99-ms")
	b.ReportMetric(benchMS(delivery, 0.50), "event-delivery-p50-ms")
	b.ReportMetric(benchMS(delivery, 0.99), "event-delivery-p99-ms")
	b.ReportMetric(benchMS(e2e, 0.50), "e2e-p50-ms")
	b.ReportMetric(benchMS(e2e, 0.99), "e2e-p99-ms")
	rec.logBreakdown(b, fmt.Sprintf("%d jobs/s offered", rate))
}

// benchConfig is the production configuration but for Concurrency 8 and a
// quiet log: AckWait, backoff and the rest are the defaults.
func benchConfig(e *env) dispatch.Config {
	cfg := e.config()
	cfg.ID = "bench"
	cfg.Concurrency = benchConcurrency
	cfg.AckWait, cfg.BackoffBase, cfg.BackoffMax, cfg.StopGrace = 0, 0, 0, 0
	cfg.Log = zerolog.Nop()
	return cfg
}

// publish submits j as raw JSON with its Nats-Msg-Id, as a producer in
// another language would, and records the time just before js.Publish.
func benchPublish(tb testing.TB, w *env, j *benchJob) {
	m := nats.NewMsg(w.names.SubmitSubject("smoke"))
	m.Data = fmt.Appendf(nil, `{"v":1,"job_id":%q,"kind":"smoke","params":{}}`, j.id)
	m.Header.Set("Nats-Msg-Id", j.id)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	j.published = time.Now()
	if _, err := w.js.PublishMsg(ctx, m); err != nil {
		tb.Fatalf("publish %s: %v", j.id, err)
	}
}

// benchJob is what the recorder learns of one job. published is written by
// the publishing goroutine only; the rest under benchRecorder.mu.
type benchJob struct {
	id        string
	published time.Time
	// Receipt times at the subscriber.
	startedRecv, doneRecv time.Time
	// Time fields of the first event of each type.
	evTime   map[messages.EventType]time.Time
	terminal messages.EventType
}

// benchRecorder is a core NATS subscriber on every event, started before
// anything is published.
type benchRecorder struct {
	mu       sync.Mutex
	jobs     map[string]*benchJob
	delivery []time.Duration
	terminal int
	last     time.Time // receipt of the latest first terminal event
	failed   []string  // attempts that failed (and were retried)
	bad      []string
	changed  chan struct{}
}

func benchListen(tb testing.TB, url, subject string) *benchRecorder {
	tb.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	r := &benchRecorder{jobs: map[string]*benchJob{}, changed: make(chan struct{}, 1)}
	sub, err := nc.Subscribe(subject, r.receive)
	if err != nil {
		tb.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		tb.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the server knows the interest before the first publish
		tb.Fatal(err)
	}
	return r
}

func (r *benchRecorder) expect(id string) *benchJob {
	j := &benchJob{id: id, evTime: map[messages.EventType]time.Time{}}
	r.mu.Lock()
	r.jobs[id] = j
	r.mu.Unlock()
	return j
}

func (r *benchRecorder) receive(m *nats.Msg) {
	now := time.Now()
	var ev messages.Event
	err := json.Unmarshal(m.Data, &ev)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.bad = append(r.bad, fmt.Sprintf("undecodable event on %s: %v", m.Subject, err))
		return
	}
	// ev.Time has no monotonic reading: this is a wall-clock difference.
	r.delivery = append(r.delivery, now.Sub(ev.Time))
	j := r.jobs[ev.JobID]
	if j == nil {
		return
	}
	if ev.Type == messages.EventFailed {
		r.failed = append(r.failed, fmt.Sprintf("%s attempt %d: %s", ev.JobID, ev.Attempt, ev.Error))
	}
	if _, seen := j.evTime[ev.Type]; !seen {
		j.evTime[ev.Type] = ev.Time
		if ev.Type == messages.EventStarted {
			j.startedRecv = now
		}
	}
	if !ev.Type.Terminal() || j.terminal != "" {
		return
	}
	j.terminal, j.doneRecv = ev.Type, now
	r.terminal++
	r.last = now
	if ev.Type != messages.EventSucceeded {
		r.bad = append(r.bad, fmt.Sprintf("job %s ended %s: %s", ev.JobID, ev.Type, ev.Error))
	}
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// waitTerminal waits until want jobs have had a terminal event and returns
// the receipt time of the last one.
func (r *benchRecorder) waitTerminal(tb testing.TB, want int, timeout time.Duration) time.Time {
	tb.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		got, last := r.terminal, r.last
		r.mu.Unlock()
		if got >= want {
			return last
		}
		select {
		case <-r.changed:
		case <-deadline:
			tb.Fatalf("%d of %d jobs ended after %s", got, want, timeout)
		}
	}
}

// check fails the benchmark if a job did not succeed.
func (r *benchRecorder) check(tb testing.TB) {
	tb.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		tb.Fatalf("%d bad events, first: %s", len(r.bad), r.bad[0])
	}
}

// latencies returns publish→started receipt, publish→succeeded receipt and
// every event's delivery time.
func (r *benchRecorder) latencies() (started, e2e, delivery []time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, j := range r.jobs {
		started = append(started, j.startedRecv.Sub(j.published))
		e2e = append(e2e, j.doneRecv.Sub(j.published))
	}
	return started, e2e, slices.Clone(r.delivery)
}

// logBreakdown logs where a job's time goes, from the events' Time fields:
// pickup (publish → accepted: queue wait, delivery, record create), accept
// (accepted → started), launch (started → first running, by whichever of
// worker and dispatcher published it first) and run (running → succeeded:
// the worker's life, the runtime's Wait and the running transition).
func (r *benchRecorder) logBreakdown(b *testing.B, label string) {
	started, e2e, delivery := r.latencies()
	r.mu.Lock()
	var pickup, accept, launch, run []time.Duration
	for _, j := range r.jobs {
		t := j.evTime
		pickup = append(pickup, t[messages.EventAccepted].Sub(j.published))
		accept = append(accept, t[messages.EventStarted].Sub(t[messages.EventAccepted]))
		launch = append(launch, t[messages.EventRunning].Sub(t[messages.EventStarted]))
		run = append(run, t[messages.EventSucceeded].Sub(t[messages.EventRunning]))
	}
	failed := slices.Clone(r.failed)
	r.mu.Unlock()
	if len(failed) > 0 {
		b.Logf("%s: %d attempts failed and were retried after a backoff (the figures include it); first: %s",
			label, len(failed), failed[0])
	}
	b.Logf("%s: p50/p99 ms: started %.1f/%.1f, e2e %.1f/%.1f, event delivery %.2f/%.2f",
		label, benchMS(started, .5), benchMS(started, .99), benchMS(e2e, .5), benchMS(e2e, .99),
		benchMS(delivery, .5), benchMS(delivery, .99))
	b.Logf("%s: breakdown p50/p99 ms: pickup %.1f/%.1f, accept→started %.1f/%.1f, started→running %.1f/%.1f, running→succeeded %.1f/%.1f",
		label, benchMS(pickup, .5), benchMS(pickup, .99), benchMS(accept, .5), benchMS(accept, .99),
		benchMS(launch, .5), benchMS(launch, .99), benchMS(run, .5), benchMS(run, .99))
}

// benchCPU is the CPU time used so far by this process (the NATS server,
// the dispatcher, publisher and subscriber all run in it) and by its
// descendants: reaped ones (the floor's workers) and the live children's
// own and reaped descendants' time (the local runtime's supervisor, which
// runs until the test process exits, and the workers it reaped).
type benchCPU struct{ self, children time.Duration }

func benchCPUStart() benchCPU {
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	tv := func(u syscall.Rusage) time.Duration {
		return time.Duration(u.Utime.Nano() + u.Stime.Nano())
	}
	return benchCPU{self: tv(self), children: tv(children) + liveChildrenCPU()}
}

// liveChildrenCPU sums utime, stime, cutime and cstime (fields 14-17 of
// /proc/<pid>/stat, in clock ticks of 10 ms) over this process's live
// children.
func liveChildrenCPU() time.Duration {
	self := strconv.Itoa(os.Getpid())
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ticks int64
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:])) // f[0] is field 3
		if len(f) < 15 || f[1] != self {
			continue
		}
		for _, k := range []int{11, 12, 13, 14} {
			v, _ := strconv.ParseInt(f[k], 10, 64)
			ticks += v
		}
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// report reports the CPU milliseconds per job spent since c, in this process
// and in its children.
func (c benchCPU) report(b *testing.B, jobs int) {
	now := benchCPUStart()
	per := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(jobs) }
	b.ReportMetric(per(now.self-c.self), "self-cpu-ms/job")
	b.ReportMetric(per(now.children-c.children), "child-cpu-ms/job")
}

// benchInstantRuntime is a runtime whose workloads succeed the moment they
// start.
type benchInstantRuntime struct {
	mu   sync.Mutex
	done map[string]bool
}

var _ runtimes.Runtime = (*benchInstantRuntime)(nil)

func (r *benchInstantRuntime) Name() string { return "instant" }

func (r *benchInstantRuntime) Close() error { return nil }

func (r *benchInstantRuntime) Start(_ context.Context, spec runtimes.Spec) (runtimes.Handle, error) {
	r.mu.Lock()
	r.done[spec.Handle.Name] = true
	r.mu.Unlock()
	return spec.Handle, nil
}

func (r *benchInstantRuntime) Inspect(_ context.Context, h runtimes.Handle) (runtimes.Status, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.done[h.Name] {
		return runtimes.Status{Phase: runtimes.PhaseNotFound, ExitCode: -1}, nil
	}
	return runtimes.Status{Phase: runtimes.PhaseSucceeded}, nil
}

func (r *benchInstantRuntime) Wait(ctx context.Context, h runtimes.Handle) (runtimes.Status, error) {
	st, err := r.Inspect(ctx, h)
	if err == nil && st.Phase == runtimes.PhaseNotFound {
		err = runtimes.ErrNotFound
	}
	return st, err
}

func (r *benchInstantRuntime) Logs(context.Context, runtimes.Handle, runtimes.LogOptions) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}

func (r *benchInstantRuntime) Stop(context.Context, runtimes.Handle, time.Duration) error { return nil }

// benchFanOut calls f(0..n-1) from benchConcurrency goroutines and returns
// the first error.
func benchFanOut(n int, f func(k int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for range benchConcurrency {
		wg.Go(func() {
			for k := int(next.Add(1)) - 1; k < n; k = int(next.Add(1)) - 1 {
				if err := f(k); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// benchMS is the q-quantile (nearest rank) of ds in milliseconds.
func benchMS(ds []time.Duration, q float64) float64 {
	if len(ds) == 0 {
		return math.NaN()
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := max(int(math.Ceil(q*float64(len(s))))-1, 0)
	return float64(s[i]) / float64(time.Millisecond)
}

// benchTimeout bounds a batch: generous, it only stops a hung run.
func benchTimeout(n int) time.Duration { return 2*time.Minute + time.Duration(n)*200*time.Millisecond }

func benchEnvInt(tb testing.TB, name string, def int) int {
	tb.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v <= 0 {
		tb.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}
