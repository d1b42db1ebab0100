package kubernetes

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/jetrun/jetrun/pkg/runtimes"
)

func TestJobStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(d)) }
	job := func(conds ...batchv1.JobCondition) *batchv1.Job {
		j := &batchv1.Job{
			ObjectMeta: metav1.ObjectMeta{Name: "j", UID: "job-uid", CreationTimestamp: at(0)},
			Spec: batchv1.JobSpec{ActiveDeadlineSeconds: ptr.To[int64](2), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: ContainerName, Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{corev1.ResourceMemory: *resourceMi(96)}}}}}}},
			Status: batchv1.JobStatus{StartTime: ptr.To(at(0)), Conditions: conds},
		}
		return j
	}
	cond := func(typ batchv1.JobConditionType, reason, msg string) batchv1.JobCondition {
		return batchv1.JobCondition{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastTransitionTime: at(3 * time.Second)}
	}
	pod := func(phase corev1.PodPhase, st corev1.ContainerState) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "j-abcde", CreationTimestamp: at(0)},
			Status: corev1.PodStatus{Phase: phase, StartTime: ptr.To(at(time.Second)),
				ContainerStatuses: []corev1.ContainerStatus{{Name: ContainerName, Image: "img:1", State: st}}},
		}
	}
	terminated := func(code int32, reason string) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: at(time.Second), FinishedAt: at(2 * time.Second)}}
	}
	waiting := func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "details"}}
	}
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(time.Second)}}
	suspended := job()
	suspended.Spec.Suspend = ptr.To(true)
	annotated := job()
	annotated.Annotations = map[string]string{AnnotationFailure: "the worker never started: ...", AnnotationFailedAt: "2026-01-02T03:10:00Z"}
	deleting := job()
	deleting.DeletionTimestamp = ptr.To(at(4 * time.Second))
	evicted := pod(corev1.PodFailed, corev1.ContainerState{})
	evicted.Status.ContainerStatuses = nil
	evicted.Status.Reason, evicted.Status.Message = "Evicted", "The node was low on resource: memory."
	unschedulable := pod(corev1.PodPending, corev1.ContainerState{})
	unschedulable.Status.ContainerStatuses = nil
	unschedulable.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
		Reason: "Unschedulable", Message: "0/3 nodes are available: 3 Insufficient memory."}}

	for _, tc := range []struct {
		name     string
		job      *batchv1.Job
		pod      *corev1.Pod
		now      time.Duration
		phase    runtimes.Phase
		code     int
		timedOut bool
		stuck    bool
		reason   string
	}{
		{"no pod yet", job(), nil, 0, runtimes.PhasePending, -1, false, false, ""},
		{"suspended", suspended, nil, 0, runtimes.PhasePending, -1, false, false, "suspended"},
		{"pod pending", job(), pod(corev1.PodPending, waiting("ContainerCreating")), 0, runtimes.PhasePending, -1, false, false, "ContainerCreating: details"},
		{"unschedulable", job(), unschedulable, time.Hour, runtimes.PhasePending, -1, false, false, "Unschedulable: 0/3 nodes"},
		{"image pull, within the start timeout", job(), pod(corev1.PodPending, waiting("ImagePullBackOff")), 4 * time.Minute,
			runtimes.PhasePending, -1, false, false, "ImagePullBackOff: details"},
		{"image pull, beyond the start timeout", job(), pod(corev1.PodPending, waiting("ImagePullBackOff")), 6 * time.Minute,
			runtimes.PhaseFailed, -1, false, true, "the worker never started: image cannot be pulled (ImagePullBackOff: details; image img:1), pod j-abcde pending for 5m59s (start timeout 5m0s)"},
		{"missing secret, beyond the start timeout", job(), pod(corev1.PodPending, waiting("CreateContainerConfigError")), 6 * time.Minute,
			runtimes.PhaseFailed, -1, false, true, "container configuration error (CreateContainerConfigError: details"},
		{"crash-looping is not stuck", job(), pod(corev1.PodPending, waiting("ContainerCreating")), time.Hour, runtimes.PhasePending, -1, false, false, ""},
		{"annotated failure", annotated, nil, 0, runtimes.PhaseFailed, -1, false, true, "the worker never started"},
		{"running", job(), pod(corev1.PodRunning, running), 0, runtimes.PhaseRunning, -1, false, false, ""},
		{"pod done, job not yet", job(), pod(corev1.PodFailed, terminated(3, "Error")), 0, runtimes.PhaseRunning, -1, false, false, ""},
		{"being deleted, no pod", deleting, nil, 0, runtimes.PhasePending, -1, false, false, "being deleted"},
		{"complete", job(cond(batchv1.JobComplete, "CompletionsReached", "")), pod(corev1.PodSucceeded, terminated(0, "Completed")), 0,
			runtimes.PhaseSucceeded, 0, false, false, ""},
		{"exit 3", job(cond(batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")),
			pod(corev1.PodFailed, terminated(3, "Error")), 0, runtimes.PhaseFailed, 3, false, false, "exit code 3"},
		{"exit 143", job(cond(batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, "")),
			pod(corev1.PodFailed, terminated(143, "Error")), 0, runtimes.PhaseFailed, 143, false, false, "exit code 143 = 128+SIGTERM"},
		{"start error", job(cond(batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, "")),
			pod(corev1.PodFailed, terminated(128, "StartError")), 0, runtimes.PhaseFailed, 128, false, false, "exit code 128 (StartError)"},
		{"oom", job(cond(batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, "")),
			pod(corev1.PodFailed, terminated(137, "OOMKilled")), 0, runtimes.PhaseFailed, 137, false, false,
			"OOMKilled: the container exceeded its memory limit of 96Mi (exit code 137 = 128+SIGKILL)"},
		{"evicted", job(cond(batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, "")), evicted, 0, runtimes.PhaseFailed, -1, false, false,
			"pod j-abcde: Evicted: The node was low on resource: memory."},
		{"failed, pod gone", job(cond(batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit")), nil, 0,
			runtimes.PhaseFailed, -1, false, false, "BackoffLimitExceeded: Job has reached the specified backoff limit (the pod is gone: exit code unknown)"},
		{"deadline, pod gone", job(cond(batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")), nil, 0,
			runtimes.PhaseFailed, -1, true, false, "timeout after 2s (DeadlineExceeded: Job was active longer than specified deadline)"},
		{"deadline, pod terminated", job(cond(batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")),
			pod(corev1.PodFailed, terminated(143, "Error")), 0, runtimes.PhaseFailed, 143, true, false, "timeout after 2s (DeadlineExceeded: Job was active longer than specified deadline); exit code 143 = 128+SIGTERM"},
		{"pod failure policy", job(cond(batchv1.JobFailed, batchv1.JobReasonPodFailurePolicy, "Container worker for pod j-abcde failed")), nil, 0,
			runtimes.PhaseFailed, -1, false, false, "job failed: PodFailurePolicy: Container worker for pod j-abcde failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var pods []*corev1.Pod
			if tc.pod != nil {
				pods = []*corev1.Pod{tc.pod}
			}
			st, stuck := jobStatus(tc.job, pods, DefaultStartTimeout, t0.Add(tc.now))
			if st.Phase != tc.phase || st.ExitCode != tc.code || st.TimedOut != tc.timedOut || stuck != tc.stuck {
				t.Errorf("got %+v stuck=%v; want phase %s code %d timedOut %v stuck %v", st, stuck, tc.phase, tc.code, tc.timedOut, tc.stuck)
			}
			if !strings.Contains(st.Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", st.Reason, tc.reason)
			}
			if st.Phase.Done() && st.FinishedAt.IsZero() {
				t.Errorf("no FinishedAt")
			}
		})
	}
}

func TestNewestPod(t *testing.T) {
	mk := func(name string, sec int) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(int64(sec), 0))}}
	}
	if p := newestPod([]*corev1.Pod{mk("a", 2), mk("b", 5), mk("c", 3)}); p.Name != "b" {
		t.Errorf("newest = %s", p.Name)
	}
	if newestPod(nil) != nil {
		t.Errorf("newest of none")
	}
}

// TestBuildJob checks the Job a spec becomes, without an API server (the
// cluster tests read it back from a real one).
func TestBuildJob(t *testing.T) {
	r := &Runtime{cfg: Config{Namespace: "ns", Image: "img:1", TTL: time.Hour, Grace: 10 * time.Second}, log: zerolog.Nop()}
	spec := runtimes.Spec{
		Handle: runtimes.Handle{Name: "jetrun-x-a1"}, JobID: "x", Kind: "smoke", Attempt: 1,
		Command:   []string{"smoke", "--sleep=1s"},
		Env:       map[string]string{"B": "2", "A": "1", "SHARED": "plain"},
		Secrets:   map[string]string{"TOKEN": "s3cret", "SHARED": "secret-wins"},
		Resources: runtimes.Resources{CPUMilli: 250, MemoryBytes: 64 << 20, Timeout: 1500 * time.Millisecond},
	}
	job, secret, err := r.buildJob("jetrun-x-a1", spec)
	if err != nil {
		t.Fatal(err)
	}
	c := job.Spec.Template.Spec.Containers[0]
	var names []string
	for _, e := range c.Env {
		names = append(names, e.Name)
		if strings.Contains(e.Value, "s3cret") || strings.Contains(e.Value, "secret-wins") {
			t.Errorf("secret value in env %s", e.Name)
		}
	}
	if !slices.Equal(names, []string{"A", "B"}) {
		t.Errorf("env names %v, want sorted A B (SHARED only in the secret)", names)
	}
	if secret == nil || string(secret.Data["SHARED"]) != "secret-wins" || string(secret.Data["TOKEN"]) != "s3cret" || len(secret.OwnerReferences) != 0 {
		t.Errorf("secret %+v", secret)
	}
	if *job.Spec.ActiveDeadlineSeconds != 2 {
		t.Errorf("activeDeadlineSeconds %d, want 2 (1.5s rounded up)", *job.Spec.ActiveDeadlineSeconds)
	}
	if c.Image != "img:1" || c.Resources.Limits.Cpu().String() != "250m" || c.Resources.Requests.Memory().String() != "64Mi" {
		t.Errorf("container %+v", c)
	}
	spec.Secrets = nil
	spec.Resources = runtimes.Resources{}
	r.cfg.TTL = -1
	job, secret, err = r.buildJob("jetrun-x-a1", spec)
	if err != nil || secret != nil || job.Spec.Template.Spec.Containers[0].EnvFrom != nil {
		t.Errorf("no secrets: %v %v", secret, err)
	}
	if job.Spec.ActiveDeadlineSeconds != nil || job.Spec.TTLSecondsAfterFinished != nil || job.Spec.Template.Spec.Containers[0].Resources.Limits != nil {
		t.Errorf("no timeout, TTL or resources: %+v", job.Spec)
	}
	spec.Resources.CPUMilli = -1
	if _, _, err := r.buildJob("jetrun-x-a1", spec); !errors.Is(err, runtimes.ErrInvalidSpec) {
		t.Errorf("negative cpu: %v", err)
	}
}

func TestControlledBy(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", UID: "uid-1"}}
	mine := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", OwnerReferences: []metav1.OwnerReference{{UID: "uid-1", Controller: ptr.To(true)}}}}
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", OwnerReferences: []metav1.OwnerReference{{UID: types.UID("uid-0"), Controller: ptr.To(true)}}}}
	if got := controlledBy(job, []*corev1.Pod{mine, old}); len(got) != 1 || got[0] != mine {
		t.Errorf("controlledBy = %v", got)
	}
}

func resourceMi(n int64) *resource.Quantity { return resource.NewQuantity(n<<20, resource.BinarySI) }
