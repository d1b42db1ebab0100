package runtimes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/rs/zerolog"
)

// Errors wrapped by runtimes.
var (
	// ErrNotFound: the runtime has no workload for the handle.
	ErrNotFound = errors.New("workload not found")
	// ErrInvalidSpec: the spec can never run on this runtime (bad name,
	// resources out of range); the dispatcher treats it as permanent.
	ErrInvalidSpec = errors.New("invalid spec for runtime")
	// ErrUnknownRuntime: no runtime of that name is registered.
	ErrUnknownRuntime = errors.New("unknown runtime")
)

// Label keys put on every runtime object that can carry labels or tags.
const (
	LabelJobID   = "jetrun.io/job-id"
	LabelAttempt = "jetrun.io/attempt"
	LabelKind    = "jetrun.io/kind"
)

// Handle names one attempt's workload; it is stored in the job record before
// launch so a restarted or different dispatcher can find the workload.
type Handle = messages.Handle

// HandleName is the deterministic workload name of one attempt:
// "jetrun-<job_id>-a<attempt>". Runtimes with stricter naming rules
// (Kubernetes) derive their object names from it.
func HandleName(jobID string, attempt int) string {
	return "jetrun-" + jobID + "-a" + strconv.Itoa(attempt)
}

// Spec is everything a runtime needs to launch one attempt.
type Spec struct {
	Handle  Handle
	JobID   string
	Kind    string
	Attempt int
	// Image is the worker image (container runtimes); the local runtime
	// runs its configured worker binary instead.
	Image string
	// Command is the worker's argument list, e.g. ["smoke", "--sleep=1s"].
	Command []string
	// Env is plain environment.
	Env map[string]string
	// Secrets are environment variables whose values are secret: each
	// runtime delivers them through its secret mechanism and never logs them.
	Secrets map[string]string
	// AttemptSecrets names the Secrets minted for this attempt alone (the
	// worker's NATS token: bound to the attempt's subjects, expiring with
	// it). A runtime whose secrets must exist before the workload (AWS
	// Batch: references to Secrets Manager or SSM) passes these as
	// environment instead; the others treat them like every secret.
	AttemptSecrets []string
	Resources      Resources
	Labels         map[string]string
}

// Validate checks what every runtime requires of a spec: a handle name of
// letters, digits, '-' and '_' (what HandleName makes of a valid job id),
// a command, and resources that are not negative. A runtime calls it
// before it asks its backend for anything; the error wraps
// ErrInvalidSpec.
func (s *Spec) Validate() error {
	n := s.Handle.Name
	if n == "" || len(n) > maxHandleName || strings.TrimFunc(n, handleChar) != "" {
		return fmt.Errorf("%w: handle name %q: want 1-%d of A-Z a-z 0-9 - _", ErrInvalidSpec, n, maxHandleName)
	}
	if len(s.Command) == 0 {
		return fmt.Errorf("%w: handle %s: empty command", ErrInvalidSpec, n)
	}
	if r := s.Resources; r.CPUMilli < 0 || r.MemoryBytes < 0 || r.Timeout < 0 {
		return fmt.Errorf("%w: handle %s: negative resources %s", ErrInvalidSpec, n, r)
	}
	return nil
}

// maxHandleName bounds handle names: "jetrun-" + the longest job id +
// "-a" + an attempt number.
const maxHandleName = len("jetrun-") + messages.MaxJobIDLen + len("-a") + 10

func handleChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}

// AllEnv returns Env and Secrets merged, for runtimes whose secret mechanism
// is the child's environment.
func (s *Spec) AllEnv() map[string]string {
	m := make(map[string]string, len(s.Env)+len(s.Secrets))
	maps.Copy(m, s.Env)
	maps.Copy(m, s.Secrets)
	return m
}

// Phase is a workload's coarse state.
type Phase string

// Phases.
const (
	PhaseNotFound  Phase = "not_found"
	PhasePending   Phase = "pending"
	PhaseRunning   Phase = "running"
	PhaseSucceeded Phase = "succeeded"
	PhaseFailed    Phase = "failed"
)

// Done reports whether p is final.
func (p Phase) Done() bool { return p == PhaseSucceeded || p == PhaseFailed }

// Status is what a runtime knows about a workload.
type Status struct {
	Phase Phase
	// ExitCode is the worker's exit code when Done (-1 if unknown).
	ExitCode int
	// Reason explains a failure in words: "exit code 3", "timeout after 1s",
	// "killed by SIGKILL", "OOMKilled".
	Reason string
	// TimedOut is set when the runtime ended the workload at its deadline.
	TimedOut   bool
	StartedAt  time.Time
	FinishedAt time.Time
}

// LogOptions select what Logs returns.
type LogOptions struct {
	// Follow keeps the stream open until the workload ends.
	Follow bool
}

// Runtime runs workloads. Implementations are thin and honest: they talk to
// their backend and report what it says; retries, ownership and events
// belong to the dispatcher.
type Runtime interface {
	// Name is the runtime's registry name, e.g. "local".
	Name() string
	// Start launches the workload named by spec.Handle. It is idempotent
	// for one handle name: starting a name that already exists (running
	// or finished) launches nothing and returns its handle.
	Start(ctx context.Context, spec Spec) (Handle, error)
	// Inspect reports the workload's status; PhaseNotFound (nil error)
	// when it does not exist.
	Inspect(ctx context.Context, h Handle) (Status, error)
	// Wait blocks until the workload is done and returns its final status.
	// It returns ErrNotFound if the workload does not exist.
	Wait(ctx context.Context, h Handle) (Status, error)
	// Logs returns the workload's combined output.
	Logs(ctx context.Context, h Handle, opts LogOptions) (io.ReadCloser, error)
	// Stop asks the workload to stop (SIGTERM or equivalent), waits up to
	// grace, then kills it, and returns once it is confirmed gone. Stopping
	// a finished or missing workload is not an error.
	Stop(ctx context.Context, h Handle, grace time.Duration) error
	// Close releases what the instance holds (connections, informers,
	// pollers, the local supervisor's pipe). Workloads run on, for the
	// next instance to adopt; calls after the first do nothing. The
	// dispatcher closes its runtimes when it shuts down.
	Close() error
}

// Pruner is implemented by runtimes that keep state of finished workloads
// on their own (the local runtime's state directories, the docker
// runtime's exited containers); the dispatcher calls
// Prune periodically with its retention.
type Pruner interface {
	Prune(finishedBefore time.Time) (int, error)
}

// NodeLocal is implemented by runtimes whose workloads live on one host
// (the local runtime; the docker runtime, one daemon). Their handles carry
// the node's name, and only a
// dispatcher on that node can inspect, adopt or stop them.
type NodeLocal interface {
	Node() string
}

// SecretChecker is implemented by runtimes that cannot deliver every
// secret (the AWS Batch runtime delivers only those it has a reference
// for). The dispatcher calls CheckSecrets at start with the names of the
// secrets every worker gets, so that a configuration that would fail every
// job fails once, at start, instead.
type SecretChecker interface {
	CheckSecrets(names []string) error
}

// Factory opens a runtime from configuration read through getenv (the
// seed's environment variables: WORKER_IMAGE, DOCKER_NETWORK, ...).
// ctx bounds what opening asks of the backend (a daemon's ID, the API
// server's version, the Batch queue); Registry.Open gives it
// DefaultOpenTimeout.
type Factory func(ctx context.Context, getenv func(string) string, log zerolog.Logger) (Runtime, error)

// DefaultOpenTimeout bounds Registry.Open when its context has no
// deadline of its own.
const DefaultOpenTimeout = 30 * time.Second

// Registry maps runtime names (RUNTIME_BACKEND values) to factories. There
// are no globals: the dispatcher lists its runtimes in one place.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{factories: map[string]Factory{}} }

// Register adds a runtime; a duplicate name panics, like database/sql.Register.
func (r *Registry) Register(name string, f Factory) {
	if _, dup := r.factories[name]; dup {
		panic(fmt.Sprintf("runtimes: Register called twice for %q", name))
	}
	r.factories[name] = f
}

// Names lists registered runtimes, sorted.
func (r *Registry) Names() []string {
	n := make([]string, 0, len(r.factories))
	for k := range r.factories {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Open builds the runtime called name, within DefaultOpenTimeout unless
// ctx has a deadline.
func (r *Registry) Open(ctx context.Context, name string, getenv func(string) string, log zerolog.Logger) (Runtime, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q (available: %v)", ErrUnknownRuntime, name, r.Names())
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultOpenTimeout)
		defer cancel()
	}
	rt, err := f(ctx, getenv, log)
	if err != nil {
		return nil, fmt.Errorf("open runtime %s: %w", name, err)
	}
	return rt, nil
}
