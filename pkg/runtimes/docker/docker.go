package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/rs/zerolog"

	"github.com/jetrun/jetrun/internal/ctxsleep"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

// Name is the runtime's registry name.
const Name = "docker"

// Labels this runtime puts on its containers, besides runtimes.LabelJobID,
// runtimes.LabelAttempt and runtimes.LabelKind.
const (
	// LabelManagedBy marks every container of this runtime; Prune removes
	// only containers that carry it (with the value ManagedBy).
	LabelManagedBy = "jetrun.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "jetrun"
	// LabelTimeout records the attempt's timeout (a Go duration), from
	// which any runtime instance derives the container's deadline
	// (State.StartedAt + timeout) and whether it timed out.
	LabelTimeout = "jetrun.io/timeout"
)

// Defaults of Config.
const (
	DefaultImage        = "jetrun/worker:latest"
	DefaultStartTimeout = 2 * time.Minute
	DefaultGrace        = 10 * time.Second
)

// Config configures the Docker runtime. ConfigFromEnv fills it from the
// environment.
type Config struct {
	// Host is the daemon's address (DOCKER_HOST), e.g.
	// "unix:///var/run/docker.sock" or "tcp://docker:2376"; empty: the
	// platform's default socket.
	Host string
	// APIVersion pins the Engine API version (DOCKER_API_VERSION); empty:
	// negotiated with the daemon (API 1.40 or newer).
	APIVersion string
	// CertPath is a directory holding ca.pem, cert.pem and key.pem for a
	// TLS connection to the daemon (DOCKER_CERT_PATH); empty: no TLS.
	CertPath string
	// TLSVerify verifies the daemon's certificate against ca.pem
	// (DOCKER_TLS_VERIFY).
	TLSVerify bool
	// ConfigDir holds config.json, the registry credentials used to pull
	// missing images (DOCKER_CONFIG, default ~/.docker).
	ConfigDir string

	// Image is the worker image used when a spec names none (WORKER_IMAGE).
	Image string
	// Network is the network containers are attached to (DOCKER_NETWORK);
	// empty: the daemon's default bridge.
	Network string
	// StartTimeout bounds the pull of a missing image, and the time a
	// container may stay created without running before it is reported
	// failed (JETRUN_DOCKER_START_TIMEOUT).
	StartTimeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL when a container
	// reaches its deadline (JETRUN_DOCKER_GRACE).
	Grace time.Duration
	// Node names the Docker daemon in handles (JETRUN_DOCKER_NODE);
	// empty: the daemon's own ID (docker info).
	Node string
	// Keep, if set, removes finished containers once they are older than
	// Keep, even when the dispatcher's retention is longer
	// (JETRUN_DOCKER_KEEP).
	Keep time.Duration
	// Labels are put on every container, and select the containers Prune
	// may remove (JETRUN_DOCKER_LABELS, "k=v,k2=v2"): installations
	// sharing one daemon use different values.
	Labels map[string]string
}

// Runtime runs each workload as a Docker container named after its handle.
// See the package doc.
type Runtime struct {
	cfg  Config
	cli  *client.Client
	log  zerolog.Logger
	node string

	mu       sync.Mutex
	starting map[string]chan struct{} // per handle name: one Start at a time in this process
	pulls    map[string]*pull         // per image: the pull in progress
}

var (
	_ runtimes.Runtime   = (*Runtime)(nil)
	_ runtimes.NodeLocal = (*Runtime)(nil)
	_ runtimes.Pruner    = (*Runtime)(nil)
)

// New connects to the Docker daemon and returns the runtime. Unless
// cfg.Node is set it asks the daemon for its ID, so the daemon must be
// reachable; it also checks that cfg.Network exists.
func New(ctx context.Context, cfg Config, log zerolog.Logger) (*Runtime, error) {
	if cfg.Image == "" {
		cfg.Image = DefaultImage
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	opts, err := clientOptions(cfg)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: %w", err)
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: %w", err)
	}
	r := &Runtime{cfg: cfg, cli: cli, log: log, node: cfg.Node,
		starting: map[string]chan struct{}{}, pulls: map[string]*pull{}}
	if r.node == "" {
		info, err := cli.Info(ctx, client.InfoOptions{})
		if err != nil {
			cli.Close()
			return nil, fmt.Errorf("docker runtime: daemon at %s (set DOCKER_HOST): %w", cli.DaemonHost(), err)
		}
		r.node = info.Info.ID
		if r.node == "" {
			r.node = info.Info.Name
		}
	}
	if cfg.Network != "" {
		if _, err := cli.NetworkInspect(ctx, cfg.Network, client.NetworkInspectOptions{}); err != nil {
			cli.Close()
			return nil, fmt.Errorf("docker runtime: DOCKER_NETWORK %q: %w", cfg.Network, err)
		}
	}
	return r, nil
}

// Factory opens the Docker runtime from the environment (see
// ConfigFromEnv). It gives the daemon 30 s to answer.
func Factory(ctx context.Context, getenv func(string) string, log zerolog.Logger) (runtimes.Runtime, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg, log)
}

// Close closes the connection to the daemon. Workloads keep running.
func (r *Runtime) Close() error { return r.cli.Close() }

// Name implements runtimes.Runtime.
func (r *Runtime) Name() string { return Name }

// Node implements runtimes.NodeLocal: containers live on one Docker daemon,
// and only dispatchers talking to that daemon can see them.
func (r *Runtime) Node() string { return r.node }

// Docker's rule for container names.
var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

func containerName(h runtimes.Handle) (string, error) {
	if !nameRE.MatchString(h.Name) {
		return "", fmt.Errorf("%w: handle name %q is not a valid container name", runtimes.ErrInvalidSpec, h.Name)
	}
	return h.Name, nil
}

// Start implements runtimes.Runtime: it pulls the image if it is missing,
// creates the container and starts it. A container of that name that
// exists already is adopted: started if it was created and never started,
// left alone otherwise.
func (r *Runtime) Start(ctx context.Context, spec runtimes.Spec) (runtimes.Handle, error) {
	if err := spec.Validate(); err != nil {
		return spec.Handle, err
	}
	h := spec.Handle
	h.Node = r.node
	name, err := containerName(h)
	if err != nil {
		return h, err
	}
	unlock, err := r.lockStart(ctx, name)
	if err != nil {
		return h, fmt.Errorf("start %s: %w", name, err)
	}
	defer unlock()

	c, err := r.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	switch {
	case err == nil:
		h.ID = c.Container.ID
		return h, r.adopt(ctx, c.Container)
	case !cerrdefs.IsNotFound(err):
		return h, fmt.Errorf("start %s: inspect: %w", name, err)
	}

	create, err := r.createOptions(name, spec)
	if err != nil {
		return h, err
	}
	if err := r.ensureImage(ctx, create.Config.Image); err != nil {
		return h, fmt.Errorf("start %s: %w", name, err)
	}
	res, err := r.cli.ContainerCreate(ctx, create)
	switch {
	case cerrdefs.IsConflict(err):
		// Created meanwhile by another dispatcher: adopt it.
		c, err := r.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if err != nil {
			return h, fmt.Errorf("start %s: inspect after conflict: %w", name, err)
		}
		h.ID = c.Container.ID
		return h, r.adopt(ctx, c.Container)
	case cerrdefs.IsInvalidArgument(err):
		return h, fmt.Errorf("%w: create container %s: %w", runtimes.ErrInvalidSpec, name, err)
	case err != nil:
		return h, fmt.Errorf("create container %s: %w", name, err)
	}
	h.ID = res.ID
	for _, w := range res.Warnings {
		r.log.Warn().Str("handle", name).Str("warning", w).Msg("docker: create container")
	}
	if _, err := r.cli.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
		// The container stays, created, with the daemon's reason in
		// State.Error: Inspect reports it failed. Prune removes it.
		return h, fmt.Errorf("start container %s: %w", name, err)
	}
	r.log.Debug().Str("handle", name).Str("image", create.Config.Image).Msg("container started")
	return h, nil
}

// adopt finishes the launch of an existing container: one that was created
// but never started (its launcher died in between) is started; anything
// else already ran or runs and is left alone.
func (r *Runtime) adopt(ctx context.Context, c container.InspectResponse) error {
	if c.State == nil || c.State.Status != container.StateCreated || c.State.Error != "" || !parseTime(c.State.StartedAt).IsZero() {
		return nil
	}
	if st := r.status(c, time.Now()); st.Phase.Done() {
		return nil // created too long ago: reported failed, not started late
	}
	if _, err := r.cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("start container %s: %w", strings.TrimPrefix(c.Name, "/"), err)
	}
	return nil
}

// lockStart serializes Starts of one name in this process, so that two
// concurrent Starts cannot both start a created container.
func (r *Runtime) lockStart(ctx context.Context, name string) (func(), error) {
	for {
		r.mu.Lock()
		busy, ok := r.starting[name]
		if !ok {
			done := make(chan struct{})
			r.starting[name] = done
			r.mu.Unlock()
			return func() {
				r.mu.Lock()
				delete(r.starting, name)
				r.mu.Unlock()
				close(done)
			}, nil
		}
		r.mu.Unlock()
		select {
		case <-busy:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// createOptions builds the container of a spec.
func (r *Runtime) createOptions(name string, spec runtimes.Spec) (client.ContainerCreateOptions, error) {
	var none client.ContainerCreateOptions
	if len(spec.Command) == 0 {
		return none, fmt.Errorf("%w: empty command", runtimes.ErrInvalidSpec)
	}
	res := spec.Resources
	if res.CPUMilli < 0 || res.MemoryBytes < 0 || res.Timeout < 0 {
		return none, fmt.Errorf("%w: negative resources %s", runtimes.ErrInvalidSpec, res)
	}
	if res.MemoryBytes > 0 && res.MemoryBytes < 6<<20 {
		return none, fmt.Errorf("%w: memory %s is below Docker's minimum of 6Mi", runtimes.ErrInvalidSpec, messages.FormatMemory(res.MemoryBytes))
	}
	image := spec.Image
	if image == "" {
		image = r.cfg.Image
	}
	all := spec.AllEnv()
	env := make([]string, 0, len(all))
	for _, k := range slices.Sorted(maps.Keys(all)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return none, fmt.Errorf("%w: environment variable name %q", runtimes.ErrInvalidSpec, k)
		}
		env = append(env, k+"="+all[k])
	}
	labels := map[string]string{}
	maps.Copy(labels, spec.Labels)
	maps.Copy(labels, r.cfg.Labels)
	labels[LabelManagedBy] = ManagedBy
	labels[runtimes.LabelJobID] = spec.JobID
	labels[runtimes.LabelAttempt] = strconv.Itoa(spec.Attempt)
	if spec.Kind != "" {
		labels[runtimes.LabelKind] = spec.Kind
	}
	if res.Timeout > 0 {
		labels[LabelTimeout] = res.Timeout.String()
	} else {
		delete(labels, LabelTimeout)
	}
	return client.ContainerCreateOptions{
		Name: name,
		Config: &container.Config{
			Image:  image,
			Cmd:    slices.Clone(spec.Command), // the image's ENTRYPOINT is the worker
			Env:    env,
			Labels: labels,
		},
		HostConfig: &container.HostConfig{
			NetworkMode:   container.NetworkMode(r.cfg.Network),
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
			CapDrop:       []string{"ALL"},
			SecurityOpt:   []string{"no-new-privileges"},
			Resources: container.Resources{
				NanoCPUs: res.CPUMilli * 1_000_000,
				Memory:   res.MemoryBytes,
			},
		},
	}, nil
}

// Inspect implements runtimes.Runtime.
func (r *Runtime) Inspect(ctx context.Context, h runtimes.Handle) (runtimes.Status, error) {
	name, err := containerName(h)
	if err != nil {
		return runtimes.Status{}, err
	}
	c, err := r.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return runtimes.Status{Phase: runtimes.PhaseNotFound, ExitCode: -1}, nil
	}
	if err != nil {
		return runtimes.Status{}, fmt.Errorf("inspect %s: %w", name, err)
	}
	return r.status(c.Container, time.Now()), nil
}

func (r *Runtime) status(c container.InspectResponse, now time.Time) runtimes.Status {
	return containerStatus(c, r.cfg.StartTimeout, now)
}

// Wait implements runtimes.Runtime. While it waits it enforces the
// container's deadline: at State.StartedAt + the timeout recorded in its
// labels it stops the container (SIGTERM, Config.Grace, SIGKILL), which
// is then reported failed and timed out.
func (r *Runtime) Wait(ctx context.Context, h runtimes.Handle) (runtimes.Status, error) {
	name, err := containerName(h)
	if err != nil {
		return runtimes.Status{}, err
	}
	for {
		res, err := r.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return runtimes.Status{Phase: runtimes.PhaseNotFound, ExitCode: -1}, fmt.Errorf("wait %s: %w", name, runtimes.ErrNotFound)
		}
		if err != nil {
			if ctx.Err() != nil {
				return runtimes.Status{}, ctx.Err()
			}
			return runtimes.Status{}, fmt.Errorf("wait %s: inspect: %w", name, err)
		}
		c := res.Container
		st := r.status(c, time.Now())
		if st.Phase.Done() {
			return st, nil
		}
		if st.Phase == runtimes.PhasePending {
			// Created, not started yet: look again shortly; status()
			// reports it failed once it is older than StartTimeout.
			if err := ctxsleep.Sleep(ctx, 200*time.Millisecond); err != nil {
				return st, err
			}
			continue
		}
		if err := r.waitRunning(ctx, c); err != nil {
			return st, err
		}
	}
}

// waitRunning returns when the running container c stops (or may have),
// or when it reached its deadline and was stopped.
func (r *Runtime) waitRunning(ctx context.Context, c container.InspectResponse) error {
	name := strings.TrimPrefix(c.Name, "/")
	var deadline <-chan time.Time
	if d, ok := containerDeadline(c); ok {
		t := time.NewTimer(time.Until(d))
		defer t.Stop()
		deadline = t.C
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wait := r.cli.ContainerWait(wctx, c.ID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	exited := make(chan error, 1)
	go func() {
		// Always drain one of the two channels, so the client's goroutine
		// never blocks on an abandoned wait.
		select {
		case <-wait.Result:
			exited <- nil
		case err := <-wait.Error:
			exited <- err
		}
	}()
	select {
	case err := <-exited:
		if err != nil && ctx.Err() == nil {
			// The wait connection broke (or the container went away):
			// inspect again after a moment.
			return ctxsleep.Sleep(ctx, 250*time.Millisecond)
		}
		return ctx.Err()
	case <-deadline:
		r.log.Info().Str("handle", name).Str("timeout", c.Config.Labels[LabelTimeout]).
			Dur("grace", r.cfg.Grace).Msg("deadline reached: stopping container")
		// Not cancelled with ctx: a stop half-done would leave the
		// container running past its deadline.
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.Grace+30*time.Second)
		defer scancel()
		if _, err := r.cli.ContainerStop(sctx, c.ID, client.ContainerStopOptions{Timeout: graceSeconds(r.cfg.Grace)}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("stop %s at its deadline: %w", name, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// graceSeconds rounds a grace period up to whole seconds, the unit of the
// Engine API's stop timeout: never shorter than asked.
func graceSeconds(d time.Duration) *int {
	s := int((max(d, 0) + time.Second - 1) / time.Second)
	return &s
}

// Logs implements runtimes.Runtime: the container's stdout and stderr,
// demultiplexed into one stream in the order they were written. With
// Follow the reader ends when the container has stopped.
func (r *Runtime) Logs(ctx context.Context, h runtimes.Handle, opts runtimes.LogOptions) (io.ReadCloser, error) {
	name, err := containerName(h)
	if err != nil {
		return nil, err
	}
	if opts.Follow {
		// A container created but not started yet has no stream to
		// follow: wait until it has started (or is reported failed).
		if err := r.waitStarted(ctx, name); err != nil {
			return nil, err
		}
	}
	rc, err := r.cli.ContainerLogs(ctx, name, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: opts.Follow})
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("logs %s: %w", name, runtimes.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("logs %s: %w", name, err)
	}
	return runtimes.PipeLogs(ctx, rc, func(ctx context.Context, w io.Writer) error {
		_, err := stdcopy.StdCopy(w, w, rc)
		if err == nil && opts.Follow {
			// The daemon ends a followed stream when the container
			// stops; make sure its state says so before the reader
			// sees the end.
			err = r.waitDone(ctx, name)
			if errors.Is(err, runtimes.ErrNotFound) {
				err = nil // stopped and removed meanwhile: ended too
			}
		}
		return err
	}), nil
}

// waitStarted waits while the container is pending (created, not started).
func (r *Runtime) waitStarted(ctx context.Context, name string) error {
	return r.waitPhase(ctx, name, 200*time.Millisecond, func(p runtimes.Phase) bool { return p != runtimes.PhasePending })
}

// waitDone waits until the container is done (or gone).
func (r *Runtime) waitDone(ctx context.Context, name string) error {
	return r.waitPhase(ctx, name, 20*time.Millisecond, runtimes.Phase.Done)
}

func (r *Runtime) waitPhase(ctx context.Context, name string, tick time.Duration, ok func(runtimes.Phase) bool) error {
	for {
		c, err := r.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("logs %s: %w", name, runtimes.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("logs %s: inspect: %w", name, err)
		}
		if ok(r.status(c.Container, time.Now()).Phase) {
			return nil
		}
		if err := ctxsleep.Sleep(ctx, tick); err != nil {
			return err
		}
	}
}

// Stop implements runtimes.Runtime: a live container is stopped (SIGTERM,
// up to grace rounded up to whole seconds, SIGKILL) and removed, and Stop
// returns once the daemon no longer knows it. A finished container is left
// as it is, with its result and logs.
func (r *Runtime) Stop(ctx context.Context, h runtimes.Handle, grace time.Duration) error {
	name, err := containerName(h)
	if err != nil {
		return err
	}
	res, err := r.cli.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop %s: inspect: %w", name, err)
	}
	if r.status(res.Container, time.Now()).Phase.Done() {
		return nil
	}
	id := res.Container.ID
	_, err = r.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: graceSeconds(grace)})
	if err != nil && !cerrdefs.IsNotFound(err) {
		// Removal with force kills it anyway.
		r.log.Warn().Err(err).Str("handle", name).Msg("stop container; removing it by force")
	}
	_, err = r.cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) { // conflict: removal already in progress
		return fmt.Errorf("stop %s: remove: %w", name, err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := r.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stop %s: %w", name, ctx.Err())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("stop %s: container still present 30s after its removal", name)
		}
		if err := ctxsleep.Sleep(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("stop %s: %w", name, err)
		}
	}
}

// Prune implements runtimes.Pruner: it removes this runtime's finished
// containers (LabelManagedBy and Config.Labels) that finished before cutoff,
// or before now − Config.Keep when that is later, and returns how many it
// removed. A container created but never started counts as finished at its
// creation.
func (r *Runtime) Prune(cutoff time.Time) (int, error) {
	now := time.Now()
	if r.cfg.Keep > 0 && now.Add(-r.cfg.Keep).After(cutoff) {
		cutoff = now.Add(-r.cfg.Keep)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	f := make(client.Filters).Add("label", LabelManagedBy+"="+ManagedBy)
	for k, v := range r.cfg.Labels {
		f.Add("label", k+"="+v)
	}
	f.Add("status", string(container.StateCreated), string(container.StateExited), string(container.StateDead))
	list, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, fmt.Errorf("prune: list containers: %w", err)
	}
	n := 0
	var errs []error
	for _, s := range list.Items {
		res, err := r.cli.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c := res.Container
		st := r.status(c, now)
		if !st.Phase.Done() {
			continue
		}
		finished := st.FinishedAt
		if finished.IsZero() {
			finished = parseTime(c.Created)
		}
		if finished.IsZero() || !finished.Before(cutoff) {
			continue
		}
		_, err = r.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{RemoveVolumes: true, Force: c.State != nil && c.State.Dead})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove %s: %w", strings.TrimPrefix(c.Name, "/"), err))
			continue
		}
		n++
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("prune: %w", errors.Join(errs...))
	}
	return n, nil
}
