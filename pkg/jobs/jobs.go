package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

// Errors wrapped by this package.
var (
	// ErrUnknownKind: no kind of that name is registered.
	ErrUnknownKind = errors.New("unknown job kind")
	// ErrInvalidParams: the kind refused the job's params.
	ErrInvalidParams = errors.New("invalid job params")
)

// Environment variables every worker receives from its runtime.
const (
	EnvJobID   = "JETRUN_JOB_ID"
	EnvKind    = "JETRUN_KIND"
	EnvAttempt = "JETRUN_ATTEMPT"
	EnvPrefix  = "JETRUN_PREFIX"
	EnvRuntime = "JETRUN_RUNTIME"
)

// ExitPermanent is the worker's exit code for a failure that retrying
// cannot fix: the job's input was refused (a URL the policy denies, an
// unsafe archive, a collection whose schema does not match). The
// dispatcher dead-letters such a job without retrying it. (65 is
// EX_DATAERR of sysexits.h.)
const ExitPermanent = 65

// Resources are a job's resolved requests: runtimes.Resources, since what
// a kind requests is what the runtime enforces.
type Resources = runtimes.Resources

// SecretRef asks the dispatcher for one secret value: the named credential
// from its own configuration, delivered to the worker as environment
// variable Env through the runtime's secret mechanism. Secret values never
// travel in messages, events or logs.
type SecretRef struct {
	Credential string // credential name in the dispatcher's configuration
	Env        string // variable name inside the worker
	// URL is where the worker will send the secret; it must be on one of
	// the credential's hosts (see CredentialMayReach).
	URL string
	// Endpoint marks the key of an operator's embedding endpoint
	// (Credential is then EndpointCredential(name)): the operator bound it
	// to the endpoint's URL, so no host list applies.
	Endpoint bool
}

// Plan is what a kind makes of one job: how to run it, independent of where.
type Plan struct {
	// Command is the worker's argument list, starting with the operation:
	// ["smoke", "--sleep=2s"]. The runtime supplies the worker executable.
	Command []string
	// Env is plain (non-secret) environment for the worker.
	Env map[string]string
	// Secrets are resolved by the dispatcher and passed as secrets.
	Secrets []SecretRef
	// Resources are the kind's defaults with the job's overrides applied.
	Resources Resources
	// Image overrides the configured worker image; "" means WORKER_IMAGE.
	Image string
	// Dense is the job's dense embedding request, if any; Prepare resolves
	// a named endpoint into the worker's environment.
	Dense *DenseEmbedding
	// Uploads name the objects of the uploads bucket the worker reads;
	// with narrow worker identities (package natsauth) it may read only
	// these.
	Uploads []string
}

// Kind is one job kind: what a job does. Kinds are stateless values; they
// validate params and describe the work, runtimes decide where it runs.
type Kind interface {
	// Name is the stable wire name, e.g. "upload_repo". Never a Go type name.
	Name() string
	// Defaults are the resources a job of this kind gets unless it asks
	// for others.
	Defaults() Resources
	// Plan validates params and returns the command, environment and
	// secrets of the worker. Errors wrap ErrInvalidParams.
	Plan(params json.RawMessage) (Plan, error)
}

// Registry is an explicit set of kinds. There are no globals: a dispatcher
// and each test build their own (see Builtin).
type Registry struct {
	kinds map[string]Kind
}

// NewRegistry returns a registry holding kinds; a duplicate or invalid name
// is an error.
func NewRegistry(kinds ...Kind) (*Registry, error) {
	r := &Registry{kinds: map[string]Kind{}}
	for _, k := range kinds {
		if err := r.Register(k); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds k.
func (r *Registry) Register(k Kind) error {
	name := k.Name()
	if !messages.ValidKind(name) {
		return fmt.Errorf("register job kind %q: invalid name", name)
	}
	if _, dup := r.kinds[name]; dup {
		return fmt.Errorf("register job kind %q: already registered", name)
	}
	r.kinds[name] = k
	return nil
}

// Lookup returns the kind called name.
func (r *Registry) Lookup(name string) (Kind, error) {
	k, ok := r.kinds[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q (known: %v)", ErrUnknownKind, name, r.Names())
	}
	return k, nil
}

// Names lists the registered kinds, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.kinds))
	for n := range r.kinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Options are the dispatcher-wide defaults applied by Prepare.
type Options struct {
	// Timeout, when non-zero, replaces every kind's default timeout
	// (JOB_TIMEOUT); a job's own resources.timeout still wins.
	Timeout time.Duration
	// Endpoints resolves the dispatcher's named embedding endpoints; nil
	// knows none.
	Endpoints func(name string) (Endpoint, bool)
	// AllowJobEmbeddingURLs lets a job name its own embedding base_url
	// (--embed-allow-job-urls); otherwise such a job is refused.
	AllowJobEmbeddingURLs bool
	// Grant, if set, decides whether the job may have each secret its plan
	// asks for (the dispatcher's CredentialMayReach); a refusal fails
	// Prepare with an error wrapping ErrInvalidParams.
	Grant func(SecretRef) error
}

// Prepare validates a submission against its kind and returns its plan with
// resources resolved: the job's own overrides, else opts, else the kind's
// defaults.
func (r *Registry) Prepare(sub *messages.Submission, opts Options) (Plan, error) {
	k, err := r.Lookup(sub.Kind)
	if err != nil {
		return Plan{}, err
	}
	p, err := k.Plan(sub.Params)
	if err != nil {
		return Plan{}, err
	}
	res := k.Defaults()
	if opts.Timeout > 0 {
		res.Timeout = opts.Timeout
	}
	if res, err = res.Override(sub.Resources); err != nil {
		return Plan{}, err
	}
	p.Resources = res
	p.Command = slices.Clone(p.Command)
	if err := resolveDense(&p, opts); err != nil {
		return Plan{}, fmt.Errorf("%w: %s: %w", ErrInvalidParams, sub.Kind, err)
	}
	if opts.Grant != nil {
		for _, ref := range p.Secrets {
			if ref.Endpoint {
				continue // bound to its URL by the operator's endpoint
			}
			if err := opts.Grant(ref); err != nil {
				return Plan{}, fmt.Errorf("%w: %s: %w", ErrInvalidParams, sub.Kind, err)
			}
		}
	}
	return p, nil
}

// decodeParams decodes params strictly into v: unknown params are errors,
// because a misspelt parameter silently ignored is a job that does the wrong
// thing.
func decodeParams(kind string, params json.RawMessage, v any) error {
	dec := json.NewDecoder(bytesReader(params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %s", ErrInvalidParams, kind, err)
	}
	return nil
}
