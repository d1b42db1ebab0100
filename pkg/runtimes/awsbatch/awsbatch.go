package awsbatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/rs/zerolog"

	"github.com/jetrun/jetrun/pkg/awssecrets"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

// Name is the runtime's registry name (RUNTIME_BACKEND=aws_batch).
const Name = "aws_batch"

// Tags this runtime puts on its jobs besides runtimes.LabelJobID,
// runtimes.LabelAttempt and runtimes.LabelKind.
const (
	// TagManagedBy marks every job of this runtime.
	TagManagedBy = "jetrun.io/managed-by"
	// TagTimeout holds the job's own timeout (a Go duration), which the
	// runtime enforces when it is shorter than Batch's 60 s minimum and
	// reads back after a restart.
	TagTimeout = "jetrun.io/timeout"
)

// Status reasons the runtime gives when it ends a job itself; Batch shows
// them as the job's statusReason.
const (
	reasonTimeout  = "jetrun: timeout after "
	reasonRunnable = "jetrun: not started within "
	reasonStop     = "jetrun: stopped by the dispatcher"
)

// batchTimeoutReason is Batch's statusReason for a job ended at its
// attemptDurationSeconds.
const batchTimeoutReason = "Job attempt duration exceeded timeout"

// Runtime runs each workload as one AWS Batch job. See the package doc.
type Runtime struct {
	cfg   Config
	batch *batch.Client
	logs  *cloudwatchlogs.Client
	log   zerolog.Logger

	// From the job definition, read once by New.
	platform   string
	defSecrets map[string]bool // secrets the definition injects itself
	logGroup   string

	mu  sync.Mutex
	ids map[string]string // Batch job name → job id, learnt by Start and lookups

	track *tracker
}

var (
	_ runtimes.Runtime       = (*Runtime)(nil)
	_ runtimes.SecretChecker = (*Runtime)(nil)
)

// New returns the runtime. It reads the job definition (platform, the
// secrets it declares, its log group) and checks that the job queue
// exists and is enabled, so wrong names or credentials fail here, within
// ctx.
func New(ctx context.Context, cfg Config, log zerolog.Logger) (*Runtime, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &Runtime{
		cfg:        cfg,
		batch:      batch.NewFromConfig(cfg.AWS),
		logs:       cloudwatchlogs.NewFromConfig(cfg.AWS),
		log:        log,
		defSecrets: map[string]bool{},
		ids:        map[string]string{},
	}
	if err := r.readDefinition(ctx); err != nil {
		return nil, err
	}
	if err := r.checkQueue(ctx); err != nil {
		return nil, err
	}
	r.track = newTracker(r)
	return r, nil
}

// Factory opens the AWS Batch runtime from the environment (see
// ConfigFromEnv); ctx bounds the calls to AWS.
func Factory(ctx context.Context, getenv func(string) string, log zerolog.Logger) (runtimes.Runtime, error) {
	cfg, err := ConfigFromEnv(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg, log)
}

// Close stops the runtime's polling. Jobs keep running.
func (r *Runtime) Close() error {
	r.track.close()
	return nil
}

// Name implements runtimes.Runtime.
func (r *Runtime) Name() string { return Name }

// Platform is the job definition's platform, PlatformFargate or PlatformEC2.
func (r *Runtime) Platform() string { return r.platform }

func (r *Runtime) readDefinition(ctx context.Context) error {
	in := &batch.DescribeJobDefinitionsInput{}
	name := r.cfg.JobDefinition
	if strings.HasPrefix(name, "arn:") || strings.Contains(name, ":") {
		in.JobDefinitions = []string{name}
	} else {
		in.JobDefinitionName = aws.String(name)
		in.Status = aws.String("ACTIVE")
	}
	out, err := r.batch.DescribeJobDefinitions(ctx, in)
	if err != nil {
		return fmt.Errorf("awsbatch runtime: job definition %s: %w", name, err)
	}
	var def *types.JobDefinition
	for i := range out.JobDefinitions {
		d := &out.JobDefinitions[i]
		if d.Status != nil && *d.Status != "ACTIVE" {
			continue
		}
		if def == nil || aws.ToInt32(d.Revision) > aws.ToInt32(def.Revision) {
			def = d // the latest active revision, which SubmitJob uses
		}
	}
	if def == nil {
		return fmt.Errorf("awsbatch runtime: job definition %s: no active revision found (AWS_BATCH_JOB_DEFINITION)", name)
	}
	if def.ContainerProperties == nil {
		return fmt.Errorf("awsbatch runtime: job definition %s: not a single-container definition (type %s)", name, aws.ToString(def.Type))
	}
	r.platform = PlatformEC2
	if slices.Contains(def.PlatformCapabilities, types.PlatformCapabilityFargate) {
		r.platform = PlatformFargate
	}
	cp := def.ContainerProperties
	for _, s := range cp.Secrets {
		r.defSecrets[aws.ToString(s.Name)] = true
	}
	r.logGroup = r.cfg.LogGroup
	if r.logGroup == "" && cp.LogConfiguration != nil {
		r.logGroup = cp.LogConfiguration.Options["awslogs-group"]
	}
	if r.logGroup == "" {
		r.logGroup = DefaultLogGroup
	}
	r.log.Info().Str("job_definition", aws.ToString(def.JobDefinitionArn)).Str("platform", r.platform).
		Str("image", aws.ToString(cp.Image)).Str("log_group", r.logGroup).Msg("awsbatch runtime: job definition")
	return nil
}

func (r *Runtime) checkQueue(ctx context.Context) error {
	out, err := r.batch.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{JobQueues: []string{r.cfg.JobQueue}})
	if err != nil {
		return fmt.Errorf("awsbatch runtime: job queue %s: %w", r.cfg.JobQueue, err)
	}
	if len(out.JobQueues) == 0 {
		return fmt.Errorf("awsbatch runtime: job queue %s not found (AWS_BATCH_JOB_QUEUE)", r.cfg.JobQueue)
	}
	q := out.JobQueues[0]
	if q.State != types.JQStateEnabled {
		r.log.Warn().Str("job_queue", r.cfg.JobQueue).Str("state", string(q.State)).
			Msg("awsbatch runtime: the job queue is not enabled: Batch refuses new jobs until it is (launches fail and are retried)")
	}
	return nil
}

// CheckSecrets implements runtimes.SecretChecker: every name must be
// declared by the job definition or mapped by JETRUN_BATCH_SECRETS.
func (r *Runtime) CheckSecrets(names []string) error {
	var missing []string
	for _, n := range names {
		if !r.defSecrets[n] && r.cfg.SecretRefs[n] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("secrets %s have no reference: declare them in the job definition's secrets or map them to Secrets Manager/SSM ARNs in JETRUN_BATCH_SECRETS (values are never sent to Batch)",
			strings.Join(missing, ", "))
	}
	return nil
}

// submitInput builds and checks the SubmitJob request of spec; every
// check happens here, before any API call.
func (r *Runtime) submitInput(spec runtimes.Spec) (*batch.SubmitJobInput, error) {
	name, err := JobName(spec.Handle.Name)
	if err != nil {
		return nil, err
	}
	// The job's labels first, so that they never replace an operator's
	// tag (JETRUN_BATCH_TAGS) nor one of this runtime's jetrun.io/* tags,
	// as the docker runtime does with its labels. TagTimeout is removed
	// when the job has no timeout: a label must not give it one.
	tags := map[string]string{}
	maps.Copy(tags, spec.Labels)
	maps.Copy(tags, r.cfg.Tags)
	tags[TagManagedBy] = "jetrun"
	tags[runtimes.LabelJobID] = spec.JobID
	tags[runtimes.LabelAttempt] = strconv.Itoa(spec.Attempt)
	if spec.Kind != "" {
		tags[runtimes.LabelKind] = spec.Kind
	}
	if spec.Resources.Timeout > 0 {
		tags[TagTimeout] = spec.Resources.Timeout.String()
	} else {
		delete(tags, TagTimeout)
	}
	if err := validTags(tags); err != nil {
		return nil, err
	}
	// Secrets: declared by the job definition (Batch injects them), or
	// a reference the worker resolves. Never a value.
	refs := map[string]string{}
	plain := map[string]bool{}
	for k := range spec.Secrets {
		switch {
		case r.defSecrets[k]:
		case r.cfg.SecretRefs[k] != "":
			refs[k] = r.cfg.SecretRefs[k]
		case slices.Contains(spec.AttemptSecrets, k):
			// Minted for this attempt, it cannot be stored ahead: it goes
			// as an override, visible to batch:DescribeJobs readers for
			// the attempt's life (docs/security.md).
			plain[k] = true
		default:
			return nil, fmt.Errorf("%w: secret %s has no reference: declare it in the job definition's secrets or map it to a Secrets Manager/SSM ARN in JETRUN_BATCH_SECRETS (values are never sent to Batch)",
				runtimes.ErrInvalidSpec, k)
		}
	}
	env := make([]types.KeyValuePair, 0, len(spec.Env)+1)
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		if err := validEnvName(k); err != nil {
			return nil, err
		}
		if _, secret := spec.Secrets[k]; secret {
			continue
		}
		env = append(env, types.KeyValuePair{Name: aws.String(k), Value: aws.String(spec.Env[k])})
	}
	for _, k := range slices.Sorted(maps.Keys(plain)) {
		env = append(env, types.KeyValuePair{Name: aws.String(k), Value: aws.String(spec.Secrets[k])})
	}
	if len(refs) > 0 {
		env = append(env, types.KeyValuePair{Name: aws.String(awssecrets.EnvRefs), Value: aws.String(awssecrets.FormatRefs(refs))})
	}
	size, err := sizeFor(r.platform, spec.Resources)
	if err != nil {
		return nil, err
	}
	var rr []types.ResourceRequirement
	if size.VCPU != "" {
		rr = append(rr, types.ResourceRequirement{Type: types.ResourceTypeVcpu, Value: aws.String(size.VCPU)})
	}
	if size.MemoryMiB > 0 {
		rr = append(rr, types.ResourceRequirement{Type: types.ResourceTypeMemory, Value: aws.String(strconv.FormatInt(size.MemoryMiB, 10))})
	}
	overrides := &types.ContainerOverrides{Command: spec.Command, Environment: env, ResourceRequirements: rr}
	if n := overridesLen(spec.Command, env, rr); n > MaxOverridesLen {
		return nil, fmt.Errorf("%w: container overrides of %d characters (command and environment), more than %d (ECS allows 8192, with Batch's own variables)",
			runtimes.ErrInvalidSpec, n, MaxOverridesLen)
	}
	in := &batch.SubmitJobInput{
		JobName:            aws.String(name),
		JobQueue:           aws.String(r.cfg.JobQueue),
		JobDefinition:      aws.String(r.cfg.JobDefinition),
		ContainerOverrides: overrides,
		RetryStrategy:      &types.RetryStrategy{Attempts: aws.Int32(1)}, // the dispatcher owns retries
		PropagateTags:      aws.Bool(true),
		Tags:               tags,
	}
	if s := attemptDuration(spec.Resources.Timeout); s > 0 {
		in.Timeout = &types.JobTimeout{AttemptDurationSeconds: aws.Int32(s)}
	}
	return in, nil
}

// overridesLen is the length of the containerOverrides JSON.
func overridesLen(cmd []string, env []types.KeyValuePair, rr []types.ResourceRequirement) int {
	type kv struct {
		Name  string `json:"name,omitempty"`
		Type  string `json:"type,omitempty"`
		Value string `json:"value"`
	}
	var o struct {
		Command     []string `json:"command,omitempty"`
		Environment []kv     `json:"environment,omitempty"`
		Resources   []kv     `json:"resourceRequirements,omitempty"`
	}
	o.Command = cmd
	for _, e := range env {
		o.Environment = append(o.Environment, kv{Name: *e.Name, Value: *e.Value})
	}
	for _, x := range rr {
		o.Resources = append(o.Resources, kv{Type: string(x.Type), Value: *x.Value})
	}
	b, _ := json.Marshal(o)
	return len(b)
}

// Start implements runtimes.Runtime: it submits the attempt's job, unless
// a job of that name exists already in the queue (a dispatcher that died
// between SubmitJob and recording the handle), which it adopts.
func (r *Runtime) Start(ctx context.Context, spec runtimes.Spec) (runtimes.Handle, error) {
	if err := spec.Validate(); err != nil {
		return spec.Handle, err
	}
	h := spec.Handle
	h.Runtime = Name
	in, err := r.submitInput(spec)
	if err != nil {
		return h, err
	}
	id, err := r.jobID(ctx, h)
	if err != nil && !errors.Is(err, runtimes.ErrNotFound) {
		return h, fmt.Errorf("start %s: %w", h.Name, err)
	}
	if id != "" {
		h.ID = id
		return h, nil
	}
	out, err := r.batch.SubmitJob(ctx, in)
	if err != nil {
		// Not ErrInvalidSpec, even for a ClientException: Batch uses it
		// for missing permissions, a disabled queue or a deregistered
		// definition too, which an operator can fix; the dispatcher
		// retries the attempt with backoff. What the spec alone decides
		// was checked above.
		return h, fmt.Errorf("start %s: %w", h.Name, err)
	}
	h.ID = aws.ToString(out.JobId)
	r.remember(h.Name, h.ID)
	r.log.Debug().Str("handle", h.Name).Str("batch_job_id", h.ID).Msg("awsbatch: submitted")
	return h, nil
}

func (r *Runtime) remember(name, id string) {
	r.mu.Lock()
	r.ids[name] = id
	r.mu.Unlock()
}

func (r *Runtime) forget(name string) {
	r.mu.Lock()
	delete(r.ids, name)
	r.mu.Unlock()
}

// jobID returns the Batch job id of h: its ID when set, one learnt
// before, else the newest job of that name in the queue (ListJobs with a
// JOB_NAME filter, which returns jobs in every status). ErrNotFound when
// there is none.
func (r *Runtime) jobID(ctx context.Context, h runtimes.Handle) (string, error) {
	if h.ID != "" {
		return h.ID, nil
	}
	name, err := JobName(h.Name)
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	id := r.ids[name]
	r.mu.Unlock()
	if id != "" {
		return id, nil
	}
	// The filter matches names case-insensitively: compare exactly.
	pages := batch.NewListJobsPaginator(r.batch, &batch.ListJobsInput{
		JobQueue: aws.String(r.cfg.JobQueue),
		Filters:  []types.KeyValuesPair{{Name: aws.String("JOB_NAME"), Values: []string{name}}},
	})
	var newest *types.JobSummary
	for n := 0; pages.HasMorePages() && n < 10; n++ {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return "", fmt.Errorf("list jobs named %s: %w", name, err)
		}
		for i := range out.JobSummaryList {
			s := &out.JobSummaryList[i]
			if aws.ToString(s.JobName) != name {
				continue
			}
			if newest == nil || aws.ToInt64(s.CreatedAt) > aws.ToInt64(newest.CreatedAt) {
				newest = s
			}
		}
	}
	if newest == nil {
		return "", fmt.Errorf("job %s: %w", name, runtimes.ErrNotFound)
	}
	id = aws.ToString(newest.JobId)
	r.remember(name, id)
	return id, nil
}

// describe reads one job; nil, nil when Batch does not know it.
func (r *Runtime) describe(ctx context.Context, id string) (*types.JobDetail, error) {
	out, err := r.batch.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: []string{id}})
	if err != nil {
		return nil, fmt.Errorf("describe job %s: %w", id, err)
	}
	for i := range out.Jobs {
		if aws.ToString(out.Jobs[i].JobId) == id {
			return &out.Jobs[i], nil
		}
	}
	return nil, nil
}

// Inspect implements runtimes.Runtime. A job being waited on is answered
// from the shared poll when its last reading is fresher than the poll
// interval: the dispatcher inspects often, and Batch is not asked more.
func (r *Runtime) Inspect(ctx context.Context, h runtimes.Handle) (runtimes.Status, error) {
	id, err := r.jobID(ctx, h)
	if errors.Is(err, runtimes.ErrNotFound) {
		return runtimes.Status{Phase: runtimes.PhaseNotFound, ExitCode: -1}, nil
	}
	if err != nil {
		return runtimes.Status{}, fmt.Errorf("inspect %s: %w", h.Name, err)
	}
	if d, ok := r.track.fresh(id); ok {
		return statusOf(d), nil
	}
	d, err := r.describe(ctx, id)
	if err != nil {
		return runtimes.Status{}, fmt.Errorf("inspect %s: %w", h.Name, err)
	}
	if d == nil {
		return runtimes.Status{Phase: runtimes.PhaseNotFound, ExitCode: -1}, nil
	}
	r.track.observe(d)
	return statusOf(d), nil
}

// Wait implements runtimes.Runtime. Every waiting job shares one poll:
// one DescribeJobs call per 100 jobs per PollInterval, whatever the number
// of waiters. The poll also ends jobs the runtime must end itself: past
// their own timeout (when shorter than Batch's minimum of 60 s, or when
// Batch is late), or stuck before starting longer than RunnableTimeout.
func (r *Runtime) Wait(ctx context.Context, h runtimes.Handle) (runtimes.Status, error) {
	id, err := r.jobID(ctx, h)
	if err != nil {
		return runtimes.Status{}, fmt.Errorf("wait %s: %w", h.Name, err)
	}
	d, err := r.track.await(ctx, id, func(d *types.JobDetail) bool { return statusOf(d).Phase.Done() })
	if err != nil {
		return runtimes.Status{}, fmt.Errorf("wait %s: %w", h.Name, err)
	}
	r.forget(h.Name) // the handle's ID finds it from now on
	return statusOf(d), nil
}

// Stop implements runtimes.Runtime: CancelJob while the job has not
// started (SUBMITTED, PENDING, RUNNABLE), TerminateJob once it is
// STARTING or RUNNING, then it polls until Batch reports the job FAILED.
// Batch, not the caller, decides the time between SIGTERM and SIGKILL (30 s
// on Batch's compute resources), so grace is not used; ctx bounds the wait.
func (r *Runtime) Stop(ctx context.Context, h runtimes.Handle, grace time.Duration) error {
	id, err := r.jobID(ctx, h)
	if errors.Is(err, runtimes.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop %s: %w", h.Name, err)
	}
	tick := min(r.cfg.PollInterval, time.Second)
	var cancelled, terminated bool
	for {
		d, err := r.describe(ctx, id)
		if err != nil {
			return fmt.Errorf("stop %s: %w", h.Name, err)
		}
		if d == nil {
			// Not described (yet: a job submitted a moment ago may not
			// be), though it was named: TerminateJob cancels or ends
			// whatever Batch has, and is a no-op for an unknown id.
			if _, err := r.batch.TerminateJob(ctx, &batch.TerminateJobInput{JobId: aws.String(id), Reason: aws.String(reasonStop)}); err != nil {
				return fmt.Errorf("stop %s: terminate job %s: %w", h.Name, id, err)
			}
			return nil
		}
		r.track.observe(d)
		if final(d.Status) {
			return nil
		}
		switch d.Status {
		case types.JobStatusSubmitted, types.JobStatusPending, types.JobStatusRunnable:
			if !cancelled {
				if _, err := r.batch.CancelJob(ctx, &batch.CancelJobInput{JobId: aws.String(id), Reason: aws.String(reasonStop)}); err != nil {
					return fmt.Errorf("stop %s: cancel job %s: %w", h.Name, id, err)
				}
				cancelled = true
			}
		default: // STARTING, RUNNING: CancelJob would not stop it
			if !terminated {
				if _, err := r.batch.TerminateJob(ctx, &batch.TerminateJobInput{JobId: aws.String(id), Reason: aws.String(reasonStop)}); err != nil {
					return fmt.Errorf("stop %s: terminate job %s: %w", h.Name, id, err)
				}
				terminated = true
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop %s: job %s still %s: %w", h.Name, id, d.Status, ctx.Err())
		case <-time.After(tick):
		}
	}
}

// Logs implements runtimes.Runtime: the job's CloudWatch Logs stream
// (container.logStreamName, which Batch sets once the job is STARTING).
// Without Follow it returns what CloudWatch holds now; with Follow it
// waits for the stream to exist and reads until the job has ended and the
// stream is drained.
func (r *Runtime) Logs(ctx context.Context, h runtimes.Handle, opts runtimes.LogOptions) (io.ReadCloser, error) {
	id, err := r.jobID(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("logs %s: %w", h.Name, err)
	}
	d, err := r.describe(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("logs %s: %w", h.Name, err)
	}
	if d == nil {
		return nil, fmt.Errorf("logs %s: %w", h.Name, runtimes.ErrNotFound)
	}
	stream := logStream(d)
	if stream == "" && !opts.Follow {
		return nil, fmt.Errorf("logs %s: the job has no log stream yet (%s): %w", h.Name, d.Status, runtimes.ErrNotFound)
	}
	if stream == "" {
		d, err := r.track.await(ctx, id, func(d *types.JobDetail) bool { return logStream(d) != "" || statusOf(d).Phase.Done() })
		if err != nil {
			return nil, fmt.Errorf("logs %s: %w", h.Name, err)
		}
		if stream = logStream(d); stream == "" {
			return nil, fmt.Errorf("logs %s: the job ended without starting (%s): %w", h.Name, aws.ToString(d.StatusReason), runtimes.ErrNotFound)
		}
	}
	return runtimes.PipeLogs(ctx, nil, func(ctx context.Context, w io.Writer) error {
		return r.copyLogs(ctx, w, id, stream, opts.Follow)
	}), nil
}

// logStream is the job's log stream: the container's, else the last
// attempt's.
func logStream(d *types.JobDetail) string {
	if d.Container != nil && aws.ToString(d.Container.LogStreamName) != "" {
		return *d.Container.LogStreamName
	}
	for i := len(d.Attempts) - 1; i >= 0; i-- {
		if c := d.Attempts[i].Container; c != nil && aws.ToString(c.LogStreamName) != "" {
			return *c.LogStreamName
		}
	}
	return ""
}
