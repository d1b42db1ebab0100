package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/local/shim"
	"github.com/rs/zerolog"
)

// Name is the runtime's registry name.
const Name = "local"

// SuperviseCommand is the worker's operation that runs the supervisor,
// shim.Serve: one process per Runtime, which starts and outlives its
// workers.
const SuperviseCommand = "supervise"

// Config configures the local runtime.
type Config struct {
	// Dir holds one state directory per workload.
	Dir string
	// WorkerBin is the worker executable.
	WorkerBin string
	// TimeoutGrace is the time between SIGTERM and SIGKILL when a
	// workload reaches its deadline.
	TimeoutGrace time.Duration
	// Node names this host in handles (default: the hostname). Dispatchers
	// sharing one state directory must use the same node name.
	Node string
	// PassEnv names variables of the dispatcher's own environment that
	// every worker inherits (PATH, HOME, ...). Everything else a worker
	// sees comes from its spec.
	PassEnv []string
}

// Runtime runs each workload as a process group on this host, under a
// supervisor that records its exit status on disk. See the package doc.
type Runtime struct {
	cfg Config
	log zerolog.Logger

	mu       sync.Mutex
	sup      *supervisor              // nil until the first Start, or after it died
	children map[string]chan struct{} // workloads launched through sup, closed when their exit is recorded
	closed   bool
}

var (
	_ runtimes.Runtime   = (*Runtime)(nil)
	_ runtimes.NodeLocal = (*Runtime)(nil)
	_ runtimes.Pruner    = (*Runtime)(nil)
)

// DefaultPassEnv are the variables a worker inherits by default.
var DefaultPassEnv = []string{"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "TZ", "USER", "SSL_CERT_FILE", "SSL_CERT_DIR"}

// New returns a local runtime; it creates cfg.Dir.
func New(cfg Config, log zerolog.Logger) (*Runtime, error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("local runtime: no state directory")
	}
	if cfg.WorkerBin == "" {
		return nil, fmt.Errorf("local runtime: no worker binary (set WORKER_BIN)")
	}
	bin, err := exec.LookPath(cfg.WorkerBin)
	if err != nil {
		return nil, fmt.Errorf("local runtime: worker binary: %w", err)
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return nil, fmt.Errorf("local runtime: worker binary: %w", err)
	}
	cfg.WorkerBin = bin
	if cfg.TimeoutGrace <= 0 {
		cfg.TimeoutGrace = 10 * time.Second
	}
	if cfg.PassEnv == nil {
		cfg.PassEnv = DefaultPassEnv
	}
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("local runtime: %w", err)
	}
	return &Runtime{cfg: cfg, log: log, children: map[string]chan struct{}{}}, nil
}

// Factory opens the local runtime from WORKER_BIN (default: "worker" beside
// the running executable, else on PATH), JETRUN_LOCAL_DIR (default
// $XDG_STATE_HOME or ~/.local/state, then jetrun/local), JETRUN_LOCAL_GRACE
// and JETRUN_NODE (default: the hostname).
func Factory(_ context.Context, getenv func(string) string, log zerolog.Logger) (runtimes.Runtime, error) {
	cfg := Config{Dir: getenv("JETRUN_LOCAL_DIR"), WorkerBin: getenv("WORKER_BIN"), Node: getenv("JETRUN_NODE")}
	if cfg.WorkerBin == "" {
		cfg.WorkerBin = DefaultWorkerBin()
	}
	if cfg.Dir == "" {
		base := getenv("XDG_STATE_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("local runtime: set JETRUN_LOCAL_DIR: %w", err)
			}
			base = filepath.Join(home, ".local", "state")
		}
		cfg.Dir = filepath.Join(base, "jetrun", "local")
	}
	if g := getenv("JETRUN_LOCAL_GRACE"); g != "" {
		d, err := time.ParseDuration(g)
		if err != nil {
			return nil, fmt.Errorf("local runtime: JETRUN_LOCAL_GRACE %q: %w", g, err)
		}
		cfg.TimeoutGrace = d
	}
	return New(cfg, log)
}

// DefaultWorkerBin is "worker" beside the running executable when it exists,
// else "worker" (looked up on PATH).
func DefaultWorkerBin() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "worker")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return "worker"
}

// Name implements runtimes.Runtime.
func (r *Runtime) Name() string { return Name }

// Node implements runtimes.NodeLocal: workloads live on this host.
func (r *Runtime) Node() string { return r.cfg.Node }

// Dir returns the state directory of a handle.
func (r *Runtime) Dir(h runtimes.Handle) (string, error) {
	if h.Name == "" || !filepath.IsLocal(h.Name) || filepath.Base(h.Name) != h.Name {
		return "", fmt.Errorf("%w: handle name %q", runtimes.ErrInvalidSpec, h.Name)
	}
	return filepath.Join(r.cfg.Dir, h.Name), nil
}

// specFile is what spec.json holds: the spec without secret values.
type specFile struct {
	JobID     string            `json:"job_id"`
	Kind      string            `json:"kind"`
	Attempt   int               `json:"attempt"`
	Command   []string          `json:"command"`
	Env       map[string]string `json:"env,omitempty"`
	Secrets   []string          `json:"secret_names,omitempty"`
	Resources string            `json:"resources"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// Start implements runtimes.Runtime.
func (r *Runtime) Start(ctx context.Context, spec runtimes.Spec) (runtimes.Handle, error) {
	if err := spec.Validate(); err != nil {
		return spec.Handle, err
	}
	h := spec.Handle
	h.Node = r.cfg.Node
	dir, err := r.Dir(h)
	if err != nil {
		return h, err
	}
	if len(spec.Command) == 0 {
		return h, fmt.Errorf("%w: empty command", runtimes.ErrInvalidSpec)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return h, fmt.Errorf("start %s: %w", h.Name, err)
	}
	// One launcher at a time per workload, across processes.
	lock, err := shim.Lock(filepath.Join(dir, shim.FileLaunchLock), true)
	if err != nil {
		return h, fmt.Errorf("start %s: %w", h.Name, err)
	}
	defer lock.Close()
	// Under launch.lock these say whether the name was ever launched: a
	// supervisor holds shim.lock from before it writes shim.json (one may
	// still be carrying out the request of a launcher that died), and
	// exit.json is its last word.
	if shim.Exists(filepath.Join(dir, shim.FileShim)) || shim.Exists(filepath.Join(dir, shim.FileExit)) ||
		shim.Held(filepath.Join(dir, shim.FileShimLock)) {
		return h, nil // already launched: Start is idempotent
	}
	if err := r.launch(ctx, dir, spec); err != nil {
		return h, fmt.Errorf("start %s: %w", h.Name, err)
	}
	return h, nil
}

func (r *Runtime) launch(ctx context.Context, dir string, spec runtimes.Spec) error {
	sf := specFile{JobID: spec.JobID, Kind: spec.Kind, Attempt: spec.Attempt, Command: spec.Command,
		Env: spec.Env, Resources: spec.Resources.String(), Labels: spec.Labels}
	for k := range spec.Secrets {
		sf.Secrets = append(sf.Secrets, k)
	}
	sort.Strings(sf.Secrets)
	if err := shim.WriteJSON(filepath.Join(dir, shim.FileSpec), sf, false); err != nil {
		return err
	}
	req := shim.Request{Dir: dir, Argv: append([]string{r.cfg.WorkerBin}, spec.Command...), Env: r.env(spec),
		Grace: r.cfg.TimeoutGrace}
	if spec.Resources.Timeout > 0 {
		req.Deadline = time.Now().Add(spec.Resources.Timeout).UnixNano()
	}
	sup, err := r.supervisor()
	if err != nil {
		return err
	}
	name := filepath.Base(dir)
	exited := sup.expect(dir)
	if err := sup.launch(ctx, req); err != nil {
		sup.unexpect(dir)
		return err
	}
	r.mu.Lock()
	r.children[name] = exited
	r.mu.Unlock()
	go func() { <-exited; r.mu.Lock(); delete(r.children, name); r.mu.Unlock() }()
	return nil
}

// supervisor returns the running supervisor, starting one if there is none
// (the first Start, or the last one died).
func (r *Runtime) supervisor() (*supervisor, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("local runtime closed")
	}
	if r.sup != nil && !r.sup.isDead() {
		return r.sup, nil
	}
	sup, err := startSupervisor(r.cfg, r.log)
	if err != nil {
		return nil, err
	}
	r.sup = sup
	return sup, nil
}

// Close lets the supervisor exit once its running workloads have ended;
// it does not stop them. Start fails after Close.
func (r *Runtime) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.sup != nil {
		r.sup.close()
	}
	return nil
}

func (r *Runtime) env(spec runtimes.Spec) []string {
	env := passEnv(r.cfg.PassEnv)
	for k, v := range spec.AllEnv() {
		env = append(env, k+"="+v)
	}
	return env
}

// Inspect implements runtimes.Runtime.
func (r *Runtime) Inspect(_ context.Context, h runtimes.Handle) (runtimes.Status, error) {
	dir, err := r.Dir(h)
	if err != nil {
		return runtimes.Status{}, err
	}
	if st, ok, err := readExit(dir); ok || err != nil {
		return st, err
	}
	var w shim.Proc
	_ = shim.ReadJSON(filepath.Join(dir, shim.FileWorker), &w)
	if shim.Held(filepath.Join(dir, shim.FileShimLock)) {
		return runtimes.Status{Phase: runtimes.PhaseRunning, ExitCode: -1, StartedAt: w.StartedAt}, nil
	}
	// No live supervisor: it finished (exit.json, checked again because it
	// may have been written since), never started, or died.
	if st, ok, err := readExit(dir); ok || err != nil {
		return st, err
	}
	if !shim.Exists(filepath.Join(dir, shim.FileShim)) {
		return runtimes.Status{Phase: runtimes.PhaseNotFound, ExitCode: -1}, nil
	}
	if w.Alive() || w.GroupAlive() && w.StartTick == 0 {
		// The supervisor died but the worker runs on, unsupervised.
		return runtimes.Status{Phase: runtimes.PhaseRunning, ExitCode: -1, StartedAt: w.StartedAt,
			Reason: "supervisor gone; worker still running"}, nil
	}
	return runtimes.Status{Phase: runtimes.PhaseFailed, ExitCode: -1, StartedAt: w.StartedAt,
		Reason: "supervisor died; exit status unknown"}, nil
}

func readExit(dir string) (runtimes.Status, bool, error) {
	var e shim.Exit
	err := shim.ReadJSON(filepath.Join(dir, shim.FileExit), &e)
	if errors.Is(err, os.ErrNotExist) {
		return runtimes.Status{}, false, nil
	}
	if err != nil {
		return runtimes.Status{}, false, fmt.Errorf("read exit status: %w", err)
	}
	st := runtimes.Status{Phase: runtimes.PhaseSucceeded, ExitCode: e.ExitCode, Reason: e.Reason,
		TimedOut: e.TimedOut, StartedAt: e.StartedAt, FinishedAt: e.FinishedAt}
	if e.ExitCode != 0 || e.TimedOut {
		st.Phase = runtimes.PhaseFailed
	}
	return st, true, nil
}

// Wait implements runtimes.Runtime.
func (r *Runtime) Wait(ctx context.Context, h runtimes.Handle) (runtimes.Status, error) {
	r.mu.Lock()
	reaped := r.children[h.Name]
	r.mu.Unlock()
	if reaped != nil {
		select {
		case <-reaped:
		case <-ctx.Done():
			return runtimes.Status{}, ctx.Err()
		}
	}
	tick := 20 * time.Millisecond
	for {
		st, err := r.Inspect(ctx, h)
		if err != nil {
			return st, err
		}
		switch {
		case st.Phase.Done():
			return st, nil
		case st.Phase == runtimes.PhaseNotFound:
			return st, fmt.Errorf("wait %s: %w", h.Name, runtimes.ErrNotFound)
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(tick):
		}
		tick = min(tick*2, 250*time.Millisecond)
	}
}

// Logs implements runtimes.Runtime.
func (r *Runtime) Logs(ctx context.Context, h runtimes.Handle, opts runtimes.LogOptions) (io.ReadCloser, error) {
	dir, err := r.Dir(h)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(dir, shim.FileLog))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("logs %s: %w", h.Name, runtimes.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("logs %s: %w", h.Name, err)
	}
	if !opts.Follow {
		return f, nil
	}
	return &follower{ctx: ctx, f: f, done: func() bool {
		st, err := r.Inspect(ctx, h)
		return err != nil || st.Phase.Done() || st.Phase == runtimes.PhaseNotFound
	}}, nil
}

// follower reads a growing file until the workload is done and the file is
// drained.
type follower struct {
	ctx  context.Context
	f    *os.File
	done func() bool
}

func (fl *follower) Read(p []byte) (int, error) {
	for {
		n, err := fl.f.Read(p)
		if n > 0 || (err != nil && err != io.EOF) {
			return n, err
		}
		if fl.done() {
			// Drain what was written between the read and the check.
			if n, err := fl.f.Read(p); n > 0 {
				return n, nil
			} else if err != nil && err != io.EOF {
				return 0, err
			}
			return 0, io.EOF
		}
		select {
		case <-fl.ctx.Done():
			return 0, fl.ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (fl *follower) Close() error { return fl.f.Close() }

// Stop implements runtimes.Runtime: SIGTERM to the worker's process group,
// up to grace, SIGKILL, then wait until the supervisor has recorded the exit
// and the group is gone.
func (r *Runtime) Stop(ctx context.Context, h runtimes.Handle, grace time.Duration) error {
	dir, err := r.Dir(h)
	if err != nil {
		return err
	}
	st, err := r.Inspect(ctx, h)
	if err != nil {
		return err
	}
	if st.Phase != runtimes.PhaseRunning && st.Phase != runtimes.PhasePending {
		return nil
	}
	var w shim.Proc
	// A supervisor still starting its worker has not written worker.json
	// yet: give it a moment rather than leave the worker to start later.
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := shim.ReadJSON(filepath.Join(dir, shim.FileWorker), &w)
		if err == nil {
			break
		}
		if !shim.Held(filepath.Join(dir, shim.FileShimLock)) || time.Now().After(deadline) {
			if st, _ := r.Inspect(ctx, h); st.Phase.Done() || st.Phase == runtimes.PhaseNotFound {
				return nil
			}
			return fmt.Errorf("stop %s: read worker pid: %w", h.Name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	supervised := shim.Held(filepath.Join(dir, shim.FileShimLock))
	if !supervised && !w.Alive() {
		return nil
	}
	signal := func(s syscall.Signal) {
		if err := syscall.Kill(-w.PID, s); err != nil && !errors.Is(err, syscall.ESRCH) {
			r.log.Warn().Err(err).Str("handle", h.Name).Msg("signal worker group")
		}
	}
	signal(syscall.SIGTERM)
	if r.waitGone(ctx, dir, w, grace) {
		return nil
	}
	signal(syscall.SIGKILL)
	if r.waitGone(ctx, dir, w, 10*time.Second) {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("stop %s: worker group %d still present after SIGKILL", h.Name, w.PID)
}

// waitGone waits until the supervisor released its lock (exit recorded) and
// no process of the worker's group remains.
func (r *Runtime) waitGone(ctx context.Context, dir string, w shim.Proc, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !shim.Held(filepath.Join(dir, shim.FileShimLock)) && !w.GroupAlive() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Prune removes the state of workloads that finished before cutoff and
// returns how many it removed.
func (r *Runtime) Prune(cutoff time.Time) (int, error) {
	entries, err := os.ReadDir(r.cfg.Dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(r.cfg.Dir, e.Name())
		var x shim.Exit
		if shim.ReadJSON(filepath.Join(dir, shim.FileExit), &x) != nil || x.FinishedAt.After(cutoff) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
