package dispatch_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/testbin"
	"github.com/jetrun/jetrun/pkg/client"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsserver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestChaos: two dispatcher processes on one NATS server (file store, in
// this test process, not in the dispatchers), jobs of every outcome, a
// dispatcher SIGKILLed every 2–4 s and the NATS server restarted once.
// For every job: exactly one terminal event, the expected outcome (an
// accepted cancel included), never two workers of one job at once (sampled
// from the process table), no worker left behind; and a core-NATS
// subscriber that saw no event twice outside the crash windows.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos: kills and restarts processes for about a minute")
	}
	const (
		perKind = 8
		chaos   = 24 * time.Second
		window  = 10 * time.Second // after a kill, a repeated event is allowed
	)
	names := messages.DefaultNames()
	storeDir, localDir := t.TempDir(), t.TempDir()
	port := freePort(t)
	startNATS := func() *natsserver.Server {
		srv, err := natsserver.Start(natsserver.Options{Port: port, StoreDir: storeDir})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	var srvMu sync.Mutex
	srv := startNATS()
	t.Cleanup(func() { srvMu.Lock(); srv.Shutdown(); srvMu.Unlock() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	c, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	// Crash windows: a repeated event is allowed within window of one.
	var crashMu sync.Mutex
	var crashes []time.Time
	crashed := func() { crashMu.Lock(); crashes = append(crashes, time.Now()); crashMu.Unlock() }
	inWindow := func(at time.Time) bool {
		crashMu.Lock()
		defer crashMu.Unlock()
		for _, c := range crashes {
			if !at.Before(c) && at.Sub(c) < window {
				return true
			}
		}
		return false
	}

	// The core subscriber: every event as it is published.
	var coreMu sync.Mutex
	seen := map[string]time.Time{}
	var twice []string
	if _, err := nc.Subscribe(names.EventsWildcard(), func(m *nats.Msg) {
		ev, err := messages.DecodeEvent(m.Data)
		if err != nil {
			return
		}
		coreMu.Lock()
		defer coreMu.Unlock()
		now := time.Now()
		if _, ok := seen[ev.MsgID()]; ok && !inWindow(now) {
			twice = append(twice, fmt.Sprintf("%s (%s) at %s", ev.MsgID(), ev.Type, now.Format("15:04:05.000")))
		}
		seen[ev.MsgID()] = now
	}); err != nil {
		t.Fatal(err)
	}

	// Two dispatchers sharing the node's local state.
	procs := [2]*chaosDispatcher{}
	for i := range procs {
		procs[i] = startChaosDispatcher(t, url, localDir, fmt.Sprintf("chaos-d%d", i))
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.kill()
		}
	})
	observer := &env{t: t, nc: nc, js: js, names: names}
	waitFor(t, 30*time.Second, func() bool { _, err := observer.consumerInfo(); return err == nil })

	// The process table: never two workers of one job at once.
	sampler := startWorkerSampler("chaos-")
	defer sampler.stop()

	// Jobs of every outcome.
	want := map[string]messages.EventType{}
	submit := func(id, params string, retries int) {
		m := nats.NewMsg(names.SubmitSubject("smoke"))
		m.Data = fmt.Appendf(nil, `{"v":1,"job_id":%q,"kind":"smoke","params":%s,"max_retries":%d}`, id, params, retries)
		m.Header.Set(messages.HeaderMsgID, id)
		for try := 0; ; try++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := js.PublishMsg(ctx, m)
			cancel()
			if err == nil {
				return
			}
			if try == 20 {
				t.Fatalf("submit %s: %v", id, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	stopChaos := make(chan struct{})
	chaosDone := make(chan struct{})
	go func() {
		defer close(chaosDone)
		natsRestarted := false
		begin := time.Now()
		for time.Since(begin) < chaos {
			select {
			case <-stopChaos:
				return
			case <-time.After(2*time.Second + rand.N(2*time.Second)):
			}
			if !natsRestarted && time.Since(begin) > chaos/2 {
				natsRestarted = true
				crashed()
				srvMu.Lock()
				srv.Shutdown()
				time.Sleep(500 * time.Millisecond)
				srv = startNATS()
				srvMu.Unlock()
				continue
			}
			p := procs[rand.N(len(procs))]
			crashed()
			p.kill()
			time.Sleep(200 * time.Millisecond)
			p.restart()
		}
	}()

	var cancels sync.WaitGroup
	cancelReplies := map[string]messages.CancelReply{}
	var cancelMu sync.Mutex
	for i := range perKind {
		ok, retry, dead, cancelled := fmt.Sprintf("chaos-ok-%d", i), fmt.Sprintf("chaos-retry-%d", i),
			fmt.Sprintf("chaos-dead-%d", i), fmt.Sprintf("chaos-cancel-%d", i)
		submit(ok, fmt.Sprintf(`{"sleep":"%dms","progress":2}`, 300+rand.N(1500)), 5)
		submit(retry, `{"sleep":"300ms","fail_attempts":1}`, 5)
		submit(dead, `{"sleep":"200ms","exit_code":3}`, 1)
		submit(cancelled, `{"sleep":"5m"}`, 5)
		want[ok], want[retry], want[dead], want[cancelled] = messages.EventSucceeded, messages.EventSucceeded, messages.EventDead, messages.EventCancelled
		cancels.Add(1)
		go func() {
			defer cancels.Done()
			// Cancel once it runs (a few seconds in), as a user would.
			for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				st, err := c.Status(context.Background(), cancelled)
				if err == nil && st.State == messages.StateRunning {
					time.Sleep(time.Second) // mid-run
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("%s never ran (last: %+v, %v)", cancelled, st, err)
					return
				}
			}
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				r, err := c.Cancel(ctx, cancelled, "chaos")
				cancel()
				if err == nil {
					cancelMu.Lock()
					cancelReplies[cancelled] = r
					cancelMu.Unlock()
					return
				}
				t.Logf("cancel %s not recorded (%v): sending again", cancelled, err)
			}
		}()
		time.Sleep(time.Second)
	}
	cancels.Wait()
	<-chaosDone
	close(stopChaos)
	for _, p := range procs {
		p.ensureRunning()
	}

	// Every job ends, with the expected outcome and one terminal event.
	terminal := map[string][]messages.Event{}
	var missing []string
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		terminal = terminalEvents(t, js, names)
		missing = missing[:0]
		for id := range want {
			if len(terminal[id]) == 0 {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, id := range missing {
				st, err := c.Status(context.Background(), id)
				t.Errorf("%s: no terminal event after 3m; record %+v (%v)", id, st, err)
			}
			for _, p := range procs {
				t.Logf("%s output (tail):\n%s", p.id, tail(p.output(), 6000))
			}
			t.FailNow()
		}
	}
	time.Sleep(2 * time.Second) // a stray duplicate would arrive now
	terminal = terminalEvents(t, js, names)
	for id, typ := range want {
		evs := terminal[id]
		if len(evs) != 1 || evs[0].Type != typ {
			t.Errorf("%s: terminal events %v, want exactly one %s", id, types(evs), typ)
		}
	}
	for id, r := range cancelReplies {
		if !r.Accepted {
			t.Errorf("cancel of %s (running) was not accepted: %+v", id, r)
		}
	}
	waitFor(t, 30*time.Second, func() bool { return len(sampler.live()) == 0 })
	if left := sampler.live(); len(left) > 0 {
		t.Errorf("workers left behind: %v", left)
	}
	sampler.stop()
	for id, typ := range want {
		if typ == messages.EventCancelled && !sampler.saw(id) {
			t.Errorf("the sampler never saw %s's worker, which ran for seconds: it looks in the wrong place", id)
		}
	}
	if v := sampler.violations(); len(v) > 0 {
		t.Errorf("two workers of one job at once: %v", v)
	}
	coreMu.Lock()
	if len(twice) > 0 {
		t.Errorf("the core subscriber saw events twice outside the crash windows: %v", twice)
	}
	coreMu.Unlock()
	crashMu.Lock()
	t.Logf("%d jobs, %d crashes (one NATS restart), %d samples of the process table", len(want), len(crashes), sampler.samples())
	crashMu.Unlock()
	if t.Failed() {
		for _, p := range procs {
			t.Logf("%s output (tail):\n%s", p.id, tail(p.output(), 4000))
		}
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// terminalEvents reads the events stream and returns every job's terminal
// events.
func terminalEvents(t *testing.T, js jetstream.JetStream, names messages.Names) map[string][]messages.Event {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := map[string][]messages.Event{}
	cons, err := js.OrderedConsumer(ctx, names.EventsStream(), jetstream.OrderedConsumerConfig{FilterSubjects: []string{names.EventsWildcard()}})
	if err != nil {
		return out // NATS restarting: look again
	}
	for {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			return out
		}
		n := 0
		for m := range batch.Messages() {
			n++
			if ev, err := messages.DecodeEvent(m.Data()); err == nil && ev.Type.Terminal() {
				out[ev.JobID] = append(out[ev.JobID], ev)
			}
		}
		if n == 0 {
			return out
		}
	}
}

// chaosDispatcher is a dispatcher process that can be killed and restarted.
type chaosDispatcher struct {
	t                 *testing.T
	url, localDir, id string
	dataDir           string
	mu                sync.Mutex
	cmd               *exec.Cmd
	exited            chan struct{} // closed once cmd has been waited for
	out               *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func startChaosDispatcher(t *testing.T, url, localDir, id string) *chaosDispatcher {
	p := &chaosDispatcher{t: t, url: url, localDir: localDir, id: id, dataDir: t.TempDir(), out: &syncBuf{}}
	p.restart()
	return p
}

func (p *chaosDispatcher) restart() {
	bin, err := testbin.Path("dispatcher")
	if err != nil {
		p.t.Error(err)
		return
	}
	cmd := exec.Command(bin, "--nats-url", p.url, "--data-dir", p.dataDir, "--ack-wait", "2s",
		"--http-addr", "", "--backoff-base", "100ms", "--log-format", "json", "--id", p.id)
	cmd.Env = append(os.Environ(), "JETRUN_LOCAL_DIR="+p.localDir, "WORKER_BIN="+workerBin, "JETRUN_NODE=chaos-node")
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		p.t.Error(err)
		return
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
}

func (p *chaosDispatcher) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.exited
		p.cmd = nil
	}
}

func (p *chaosDispatcher) ensureRunning() {
	p.mu.Lock()
	running := p.cmd != nil
	p.mu.Unlock()
	if !running {
		p.restart()
	}
}

func (p *chaosDispatcher) output() string { return p.out.String() }

// workerSampler reads the process table every 50 ms and notes any job
// with two worker processes alive at once (the local runtime's supervisor
// is not a worker).
type workerSampler struct {
	prefix string
	done   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	n      int
	last   map[string][]int // job id → worker pids, at the last sample
	ever   map[string]bool  // jobs whose worker was seen
	bad    []string
}

func startWorkerSampler(prefix string) *workerSampler {
	s := &workerSampler{prefix: prefix, done: make(chan struct{}), ever: map[string]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			s.sample()
			select {
			case <-s.done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *workerSampler) sample() {
	workers := map[string][]int{}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range procs {
		env, err := os.ReadFile(dir + "/environ")
		if err != nil {
			continue
		}
		i := bytes.Index(env, []byte("\x00JETRUN_JOB_ID="+s.prefix))
		if i < 0 {
			continue
		}
		id, _, _ := bytes.Cut(env[i+len("\x00JETRUN_JOB_ID="):], []byte{0})
		cmdline, _ := os.ReadFile(dir + "/cmdline")
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 1 && args[1] == "supervise" {
			continue
		}
		if st, err := os.ReadFile(dir + "/stat"); err == nil {
			if f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+1:])); len(f) > 0 && f[0] == "Z" {
				continue // exited, not yet reaped
			}
		}
		pid, _ := strconv.Atoi(filepath.Base(dir))
		workers[string(id)] = append(workers[string(id)], pid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	for id, pids := range workers {
		s.ever[id] = true
		if len(pids) > 1 {
			s.bad = append(s.bad, fmt.Sprintf("%s: pids %v", id, pids))
		}
	}
	s.last = workers
}

func (s *workerSampler) stop() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
}

func (s *workerSampler) live() map[string][]int {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *workerSampler) saw(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ever[id]
}

func (s *workerSampler) violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bad
}

func (s *workerSampler) samples() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
