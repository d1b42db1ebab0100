package kubernetes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/jetrun/jetrun/internal/ctxsleep"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

// Name is the runtime's registry name.
const Name = "kubernetes"

// Labels and annotations this runtime puts on its Jobs, pods and Secrets,
// besides runtimes.LabelJobID (the job id made a valid label value),
// runtimes.LabelAttempt and runtimes.LabelKind.
const (
	// LabelManagedBy marks every object of this runtime; the runtime
	// watches only objects that carry it (with the value ManagedBy).
	LabelManagedBy = "jetrun.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "jetrun"
	// AnnotationJobID holds the job id as it is, which a label value may
	// not be able to hold.
	AnnotationJobID = "jetrun.io/job-id"
	// AnnotationHandle holds the handle name the Job's name derives from.
	AnnotationHandle = "jetrun.io/handle"
	// AnnotationFailure records why the runtime gave up on a Job whose
	// worker never started, while the Job is being deleted.
	AnnotationFailure = "jetrun.io/failure"
	// AnnotationFailedAt is when the runtime gave up (RFC 3339).
	AnnotationFailedAt = "jetrun.io/failed-at"
	// AnnotationLaunching marks a Job that Start created suspended and has
	// not resumed yet (its Secret comes first).
	AnnotationLaunching = "jetrun.io/launching"
	// ContainerName is the name of the worker's container in the pod.
	ContainerName = "worker"
)

// poll is how often a waiting call re-reads its Job even without events:
// the start timeout is a matter of time, not of events.
const poll = time.Second

// Runtime runs each workload as a batch/v1 Job. See the package doc.
type Runtime struct {
	cfg    Config
	client kclient.Interface
	logs   LogSource
	log    zerolog.Logger

	watchOnce sync.Once
	stop      chan struct{} // closed by Close: stops the informers
	closeOnce sync.Once
	factory   informers.SharedInformerFactory
	jobInf    cache.SharedIndexInformer
	podInf    cache.SharedIndexInformer

	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{} // Job name → waiters to wake on a change
}

var _ runtimes.Runtime = (*Runtime)(nil)

// New returns the runtime. It asks the API server for its version, so a
// wrong address or credentials fail here, within ctx.
func New(ctx context.Context, cfg Config, log zerolog.Logger) (*Runtime, error) {
	if cfg.REST == nil {
		return nil, errors.New("kubernetes runtime: no API server configuration (Config.REST)")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Image == "" {
		cfg.Image = DefaultImage
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rc := rest.CopyConfig(cfg.REST)
	if rc.UserAgent == "" {
		rc.UserAgent = "jetrun-dispatcher"
	}
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 20, 50 // client-go's 5/10 is tight for a dispatcher of many jobs
	}
	cs, err := kclient.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes runtime: %w", err)
	}
	if _, err := serverVersion(ctx, cs); err != nil {
		return nil, fmt.Errorf("kubernetes runtime: API server at %s: %w", rc.Host, err)
	}
	r := &Runtime{cfg: cfg, client: cs, logs: cfg.Logs, log: log,
		stop: make(chan struct{}), subs: map[string]map[chan struct{}]struct{}{}}
	if r.logs == nil {
		r.logs = apiLogs{cs}
	}
	return r, nil
}

func serverVersion(ctx context.Context, cs kclient.Interface) (string, error) {
	b, err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Raw()
	if err != nil {
		return "", err
	}
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return "", fmt.Errorf("/version: %w", err)
	}
	return v.GitVersion, nil
}

// Factory opens the Kubernetes runtime from the environment (see
// ConfigFromEnv). It gives the API server 30 s to answer.
func Factory(ctx context.Context, getenv func(string) string, log zerolog.Logger) (runtimes.Runtime, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg, log)
}

// Close stops the runtime's watches. Workloads keep running.
func (r *Runtime) Close() error {
	r.closeOnce.Do(func() {
		close(r.stop)
		r.mu.Lock()
		f := r.factory
		r.mu.Unlock()
		if f != nil {
			f.Shutdown()
		}
	})
	return nil
}

// Name implements runtimes.Runtime.
func (r *Runtime) Name() string { return Name }

// Namespace is the namespace of the runtime's Jobs.
func (r *Runtime) Namespace() string { return r.cfg.Namespace }

// Start implements runtimes.Runtime: it creates the attempt's Job, and its
// Secret when the spec has secrets. A Job of that name that exists already
// is adopted: nothing new runs.
func (r *Runtime) Start(ctx context.Context, spec runtimes.Spec) (runtimes.Handle, error) {
	if err := spec.Validate(); err != nil {
		return spec.Handle, err
	}
	h := spec.Handle
	name, err := JobName(h.Name)
	if err != nil {
		return h, err
	}
	job, secret, err := r.buildJob(name, spec)
	if err != nil {
		return h, fmt.Errorf("job %s: %w", name, err)
	}
	jobs := r.client.BatchV1().Jobs(r.cfg.Namespace)
	existing, err := jobs.Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		h.ID = string(existing.UID)
		return h, r.finishLaunch(ctx, existing, secret)
	case !apierrors.IsNotFound(err):
		return h, fmt.Errorf("start %s: get job: %w", name, err)
	}
	if secret != nil {
		// Suspended until its Secret exists, owned by the Job: the pod
		// must not start without it, and the Secret must never outlive
		// the Job.
		job.Spec.Suspend = ptr.To(true)
		job.Annotations[AnnotationLaunching] = "true"
	}
	created, err := jobs.Create(ctx, job, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Created meanwhile by another dispatcher: adopt it.
		existing, err := jobs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return h, fmt.Errorf("start %s: get job after AlreadyExists: %w", name, err)
		}
		h.ID = string(existing.UID)
		return h, r.finishLaunch(ctx, existing, secret)
	case apierrors.IsInvalid(err):
		return h, fmt.Errorf("%w: the API server refused job %s: %s", runtimes.ErrInvalidSpec, name, apiMessage(err))
	case err != nil:
		return h, fmt.Errorf("create job %s: %w", name, err)
	}
	h.ID = string(created.UID)
	if err := r.finishLaunch(ctx, created, secret); err != nil {
		return h, err
	}
	r.log.Debug().Str("handle", h.Name).Str("job", name).Str("namespace", r.cfg.Namespace).Msg("job created")
	return h, nil
}

// finishLaunch completes the launch of a Job that Start created suspended
// (AnnotationLaunching): it creates the Job's Secret, owned by the Job,
// then resumes the Job. A Job in any other state is left alone.
func (r *Runtime) finishLaunch(ctx context.Context, job *batchv1.Job, secret *corev1.Secret) error {
	if job.Annotations[AnnotationLaunching] == "" || job.Spec.Suspend == nil || !*job.Spec.Suspend {
		return nil
	}
	name := job.Name
	if secret != nil {
		secret.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "Job",
			Name: job.Name, UID: job.UID, Controller: ptr.To(true),
		}}
		if err := r.createSecret(ctx, secret); err != nil {
			if errors.Is(err, runtimes.ErrInvalidSpec) {
				// The Job can never start: remove it with the attempt.
				bg := metav1.DeletePropagationBackground
				if derr := r.client.BatchV1().Jobs(r.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{
					PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &job.UID},
				}); derr != nil && !apierrors.IsNotFound(derr) {
					r.log.Warn().Err(derr).Str("job", name).Msg("kubernetes: delete job whose secret was refused")
				}
			}
			return err
		}
	}
	// The uid makes the patch conditional: never resume another Job of
	// the name.
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"uid": job.UID, "annotations": map[string]any{AnnotationLaunching: nil}},
		"spec":     map[string]any{"suspend": false},
	})
	_, err := r.client.BatchV1().Jobs(r.cfg.Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return fmt.Errorf("start %s: resume job: %w", name, err)
	}
	return nil
}

// createSecret creates the Job's Secret; one left by an earlier Start of
// the same attempt is brought up to date with a merge patch (the
// dispatcher's Role has no update on Secrets).
func (r *Runtime) createSecret(ctx context.Context, s *corev1.Secret) error {
	secrets := r.client.CoreV1().Secrets(r.cfg.Namespace)
	_, err := secrets.Create(ctx, s, metav1.CreateOptions{})
	switch {
	case err == nil:
		return nil
	case apierrors.IsInvalid(err):
		// The message names the offending key, never a value.
		return fmt.Errorf("%w: the API server refused secret %s: %s", runtimes.ErrInvalidSpec, s.Name, apiMessage(err))
	case !apierrors.IsAlreadyExists(err):
		return fmt.Errorf("create secret %s: %w", s.Name, err)
	}
	cur, err := secrets.Get(ctx, s.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get secret %s: %w", s.Name, err)
	}
	data := map[string]any{}
	for k := range cur.Data {
		data[k] = nil // a key the spec no longer has
	}
	for k, v := range s.Data {
		data[k] = v // []byte: base64 in JSON, as the API wants it
	}
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"ownerReferences": s.OwnerReferences, "labels": s.Labels, "annotations": s.Annotations},
		"data":     data,
	})
	if err != nil {
		return fmt.Errorf("patch secret %s: %w", s.Name, err)
	}
	if _, err := secrets.Patch(ctx, s.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("patch secret %s: %w", s.Name, err)
	}
	return nil
}

// apiMessage is the API server's own explanation of a refusal.
func apiMessage(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) && se.Status().Message != "" {
		return se.Status().Message
	}
	return err.Error()
}

// Inspect implements runtimes.Runtime. It reads the Job and its pods from
// the API server (not from the watch's cache, which may lag).
func (r *Runtime) Inspect(ctx context.Context, h runtimes.Handle) (runtimes.Status, error) {
	name, err := JobName(h.Name)
	if err != nil {
		return runtimes.Status{}, err
	}
	job, err := r.client.BatchV1().Jobs(r.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return runtimes.Status{Phase: runtimes.PhaseNotFound, ExitCode: -1}, nil
	}
	if err != nil {
		return runtimes.Status{}, fmt.Errorf("inspect %s: %w", name, err)
	}
	pods, err := r.listPods(ctx, job)
	if err != nil {
		return runtimes.Status{}, fmt.Errorf("inspect %s: %w", name, err)
	}
	st, _ := jobStatus(job, pods, r.cfg.StartTimeout, time.Now())
	return st, nil
}

// listPods reads the pods job controls from the API server.
func (r *Runtime) listPods(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	sel := labels.Set{batchv1.JobNameLabel: job.Name}.String()
	list, err := r.client.CoreV1().Pods(r.cfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	pods := make([]*corev1.Pod, 0, len(list.Items))
	for i := range list.Items {
		pods = append(pods, &list.Items[i])
	}
	return controlledBy(job, pods), nil
}

// Wait implements runtimes.Runtime: it follows the Job and its pods
// through the runtime's watch until the Job is finished. A Job whose
// worker is stuck before it starts (see jobStatus) for longer than the
// start timeout is reported failed and deleted.
func (r *Runtime) Wait(ctx context.Context, h runtimes.Handle) (runtimes.Status, error) {
	name, err := JobName(h.Name)
	if err != nil {
		return runtimes.Status{}, err
	}
	var (
		st    runtimes.Status
		stuck bool
		job   *batchv1.Job
	)
	for {
		err = r.observe(ctx, name, func(j *batchv1.Job, pods []*corev1.Pod) bool {
			job = j
			st, stuck = jobStatus(j, pods, r.cfg.StartTimeout, time.Now())
			return st.Phase.Done()
		})
		if errors.Is(err, runtimes.ErrNotFound) {
			return runtimes.Status{Phase: runtimes.PhaseNotFound, ExitCode: -1}, fmt.Errorf("wait %s: %w", name, err)
		}
		if err != nil {
			return st, err
		}
		// The Job's and the pods' caches are filled independently: after
		// a re-list the Job's may be ahead. Settle the result on the pods
		// as the API server has them (the container's exit code).
		pods, err := r.listPods(ctx, job)
		if err != nil {
			r.log.Debug().Err(err).Str("job", name).Msg("kubernetes: list pods for the final status; using the cache's")
			break
		}
		live, liveStuck := jobStatus(job, pods, r.cfg.StartTimeout, time.Now())
		if live.Phase.Done() {
			st, stuck = live, liveStuck
			break
		}
		// Not stuck after all (the container started meanwhile): the
		// cache will catch up.
		if err := ctxsleep.Sleep(ctx, poll); err != nil {
			return st, err
		}
	}
	if stuck {
		r.abandon(ctx, job, st.Reason, st.FinishedAt)
	}
	return st, nil
}

// abandon gives up on a Job whose worker never started: it records the
// reason on the Job (so every runtime instance reports the same failure
// while the Job is being deleted) and deletes it, with its pod and Secret.
// Errors are logged: the next Wait tries again.
func (r *Runtime) abandon(ctx context.Context, job *batchv1.Job, reason string, at time.Time) {
	log := r.log.With().Str("job", job.Name).Str("namespace", job.Namespace).Logger()
	log.Warn().Str("reason", reason).Msg("kubernetes: the worker never started; deleting its job")
	jobs := r.client.BatchV1().Jobs(r.cfg.Namespace)
	if job.Annotations[AnnotationFailure] == "" {
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"uid": job.UID, "annotations": map[string]string{
			AnnotationFailure: reason, AnnotationFailedAt: at.UTC().Format(time.RFC3339)}}})
		if _, err := jobs.Patch(ctx, job.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			log.Warn().Err(err).Msg("kubernetes: annotate abandoned job")
		}
	}
	fg := metav1.DeletePropagationForeground
	err := jobs.Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &fg, Preconditions: &metav1.Preconditions{UID: &job.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		log.Warn().Err(err).Msg("kubernetes: delete abandoned job")
	}
}

// Logs implements runtimes.Runtime: the output of the worker container of
// the Job's pod (the newest one, should the pod have been replaced). With
// Follow it waits for the container to start, and the reader ends once
// the Job is finished.
func (r *Runtime) Logs(ctx context.Context, h runtimes.Handle, opts runtimes.LogOptions) (io.ReadCloser, error) {
	name, err := JobName(h.Name)
	if err != nil {
		return nil, err
	}
	var pod *corev1.Pod
	if opts.Follow {
		var done bool
		err = r.observe(ctx, name, func(job *batchv1.Job, pods []*corev1.Pod) bool {
			pod = startedPod(pods)
			st, _ := jobStatus(job, pods, r.cfg.StartTimeout, time.Now())
			done = st.Phase.Done()
			return pod != nil || done
		})
		if err != nil {
			return nil, fmt.Errorf("logs %s: %w", name, err)
		}
		if pod == nil {
			return nil, fmt.Errorf("logs %s: the job ended without running its worker: %w", name, runtimes.ErrNotFound)
		}
	} else {
		job, err := r.client.BatchV1().Jobs(r.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("logs %s: %w", name, runtimes.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("logs %s: get job: %w", name, err)
		}
		pods, err := r.listPods(ctx, job)
		if err != nil {
			return nil, fmt.Errorf("logs %s: %w", name, err)
		}
		if pod = startedPod(pods); pod == nil {
			if pod = newestPod(pods); pod == nil {
				return nil, fmt.Errorf("logs %s: no pod yet: %w", name, runtimes.ErrNotFound)
			}
		}
	}
	rc, err := r.logs.PodLogs(ctx, r.cfg.Namespace, pod.Name, ContainerName, opts.Follow)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("logs %s: pod %s: %w", name, pod.Name, runtimes.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("logs %s: pod %s: %w", name, pod.Name, err)
	}
	if !opts.Follow {
		return rc, nil
	}
	return runtimes.PipeLogs(ctx, rc, func(ctx context.Context, w io.Writer) error {
		_, err := io.Copy(w, rc)
		if err == nil {
			// The kubelet ends a followed log when the container exits;
			// the Job is finished a moment later.
			err = r.observe(ctx, name, func(job *batchv1.Job, pods []*corev1.Pod) bool {
				st, _ := jobStatus(job, pods, r.cfg.StartTimeout, time.Now())
				return st.Phase.Done()
			})
			if errors.Is(err, runtimes.ErrNotFound) {
				err = nil // deleted meanwhile: ended too
			}
		}
		return err
	}), nil
}

// startedPod is the newest pod whose worker container runs or ran.
func startedPod(pods []*corev1.Pod) *corev1.Pod {
	var started []*corev1.Pod
	for _, p := range pods {
		if containerStarted(p) {
			started = append(started, p)
		}
	}
	return newestPod(started)
}

// apiLogs reads pods/log through the API server.
type apiLogs struct{ client kclient.Interface }

func (a apiLogs) PodLogs(ctx context.Context, namespace, pod, container string, follow bool) (io.ReadCloser, error) {
	return a.client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: follow}).Stream(ctx)
}

// Stop implements runtimes.Runtime. A Job that is not finished is
// deleted with foreground propagation, its pods with grace (rounded up to
// whole seconds, at least one): the kubelet sends SIGTERM, then SIGKILL
// after the grace. Stop returns once the API server no longer has the
// Job, then deletes its Secret (the garbage collector would, a moment
// later). A finished Job is left as it is, with its result and logs,
// until its TTL.
func (r *Runtime) Stop(ctx context.Context, h runtimes.Handle, grace time.Duration) error {
	name, err := JobName(h.Name)
	if err != nil {
		return err
	}
	jobs := r.client.BatchV1().Jobs(r.cfg.Namespace)
	job, err := jobs.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return r.deleteSecret(ctx, name, "")
	}
	if err != nil {
		return fmt.Errorf("stop %s: get job: %w", name, err)
	}
	if finished(job) {
		return nil
	}
	// The Job first: the Job controller creates no pod for a Job that is
	// being deleted.
	fg := metav1.DeletePropagationForeground
	err = jobs.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &fg, Preconditions: &metav1.Preconditions{UID: &job.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("stop %s: delete job: %w", name, err)
	}
	// Then its pods, with our grace: the garbage collector would delete
	// them with their terminationGracePeriodSeconds.
	pods, err := r.listPods(ctx, job)
	if err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	for _, p := range pods {
		err := r.client.CoreV1().Pods(r.cfg.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To(seconds(grace)), Preconditions: &metav1.Preconditions{UID: &p.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("stop %s: delete pod %s: %w", name, p.Name, err)
		}
	}
	begin := time.Now()
	for {
		cur, err := jobs.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || err == nil && cur.UID != job.UID {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stop %s: %w", name, ctx.Err())
		}
		if err == nil && time.Since(begin) > grace+2*time.Minute {
			return fmt.Errorf("stop %s: job still present %s after its deletion (finalizers %v; is the garbage collector running?)",
				name, time.Since(begin).Round(time.Second), cur.Finalizers)
		}
		if err := ctxsleep.Sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("stop %s: %w", name, err)
		}
	}
	return r.deleteSecret(ctx, name, job.UID)
}

// deleteSecret deletes the Secret of Job name (owned by the Job of UID
// owner, or by none when owner is empty); a missing one is no error.
func (r *Runtime) deleteSecret(ctx context.Context, name string, owner types.UID) error {
	secrets := r.client.CoreV1().Secrets(r.cfg.Namespace)
	s, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop %s: get secret: %w", name, err)
	}
	if s.Labels[LabelManagedBy] != ManagedBy {
		return nil // not ours
	}
	if ref := metav1.GetControllerOf(s); ref != nil && owner != "" && ref.UID != owner {
		return nil // belongs to another incarnation of the name
	}
	err = secrets.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("stop %s: delete secret: %w", name, err)
	}
	return nil
}
