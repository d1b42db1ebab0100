package kubernetes

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

// stuckReasons are the waiting reasons of a container that will not start
// without someone's help: a missing or private image, a missing Secret or
// ConfigMap, a configuration the container runtime refuses. The kubelet
// keeps retrying them for ever; the runtime gives up after the start
// timeout.
var stuckReasons = map[string]string{
	"ErrImagePull":               "image cannot be pulled",
	"ImagePullBackOff":           "image cannot be pulled",
	"InvalidImageName":           "invalid image name",
	"ErrImageNeverPull":          "image not present and pull policy Never",
	"CreateContainerConfigError": "container configuration error",
	"CreateContainerError":       "container cannot be created",
}

// jobStatus maps a Job and its pods (those it controls) to a Status:
//
//	annotation jetrun.io/failure                 failed, with the annotation's reason (a start timeout)
//	condition Complete                           succeeded, exit code 0
//	condition Failed, DeadlineExceeded           failed, TimedOut, "timeout after 2s ..."
//	condition Failed, BackoffLimitExceeded       failed, the container's exit code: "exit code 3",
//	                                             "OOMKilled: ..." or the pod's reason
//	condition Failed, other reason               failed, "job failed: <reason>: <message>"
//	suspended, or no pod yet                     pending
//	pod Pending, container stuck (ErrImagePull,  pending; failed (stuck) once the pod is older
//	ImagePullBackOff, CreateContainerConfigError, than startTimeout
//	...)
//	pod Pending                                  pending
//	pod Running, or finished before the Job      running
//
// stuck reports that the attempt failed to start and its Job should be
// deleted (it is not deleted yet).
func jobStatus(job *batchv1.Job, pods []*corev1.Pod, startTimeout time.Duration, now time.Time) (st runtimes.Status, stuck bool) {
	st = runtimes.Status{ExitCode: -1}
	pod := newestPod(pods)
	var ctr *corev1.ContainerStatus
	if pod != nil {
		ctr = workerStatus(pod)
	}
	st.StartedAt = startedAt(job, pod, ctr)

	if reason := job.Annotations[AnnotationFailure]; reason != "" {
		st.Phase = runtimes.PhaseFailed
		st.Reason = reason
		st.FinishedAt, _ = time.Parse(time.RFC3339, job.Annotations[AnnotationFailedAt])
		if st.FinishedAt.IsZero() {
			st.FinishedAt = now
		}
		return st, job.DeletionTimestamp == nil
	}
	if c := condition(job, batchv1.JobComplete); c != nil {
		st.Phase = runtimes.PhaseSucceeded
		st.ExitCode = 0
		st.FinishedAt = c.LastTransitionTime.Time
		if job.Status.CompletionTime != nil {
			st.FinishedAt = job.Status.CompletionTime.Time
		}
		return st, false
	}
	if c := condition(job, batchv1.JobFailed); c != nil {
		st.Phase = runtimes.PhaseFailed
		st.FinishedAt = c.LastTransitionTime.Time
		var term *corev1.ContainerStateTerminated
		if ctr != nil {
			term = ctr.State.Terminated
			if term == nil {
				term = ctr.LastTerminationState.Terminated
			}
		}
		if term != nil {
			st.ExitCode = int(term.ExitCode)
			if !term.FinishedAt.IsZero() {
				st.FinishedAt = term.FinishedAt.Time
			}
		}
		switch c.Reason {
		case batchv1.JobReasonDeadlineExceeded:
			st.TimedOut = true
			st.Reason = fmt.Sprintf("timeout after %s (DeadlineExceeded: %s)", deadline(job), c.Message)
			if term != nil {
				st.Reason += "; " + runtimes.ExitReason(int(term.ExitCode))
			}
		case batchv1.JobReasonBackoffLimitExceeded:
			switch {
			case term != nil && term.Reason == "OOMKilled":
				st.Reason = fmt.Sprintf("OOMKilled: the container exceeded its memory limit%s (%s)", memoryLimit(job), runtimes.ExitReason(int(term.ExitCode)))
			case term != nil:
				st.Reason = runtimes.ExitReason(int(term.ExitCode))
				if term.Reason != "" && term.Reason != "Error" && term.Reason != "Completed" {
					st.Reason += " (" + term.Reason + ")"
				}
			case pod != nil && pod.Status.Reason != "":
				// Evicted, NodeLost, a pod-level deadline: no container result.
				st.Reason = fmt.Sprintf("pod %s: %s: %s", pod.Name, pod.Status.Reason, pod.Status.Message)
			default:
				st.Reason = fmt.Sprintf("BackoffLimitExceeded: %s (the pod is gone: exit code unknown)", c.Message)
			}
		default:
			st.Reason = fmt.Sprintf("job failed: %s: %s", c.Reason, c.Message)
		}
		return st, false
	}

	st.Phase = runtimes.PhasePending
	if job.Spec.Suspend != nil && *job.Spec.Suspend {
		st.Reason = "suspended"
		return st, false
	}
	if pod == nil {
		if job.DeletionTimestamp != nil {
			st.Reason = "being deleted"
		}
		return st, false
	}
	switch pod.Status.Phase {
	case corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed:
		// A finished pod's Job is finished a moment later, by the Job
		// controller: until then the attempt still runs.
		st.Phase = runtimes.PhaseRunning
		if pod.DeletionTimestamp != nil {
			st.Reason = "stopping"
		}
		return st, false
	}
	if ctr != nil && ctr.State.Running != nil {
		st.Phase = runtimes.PhaseRunning
		return st, false
	}
	if ctr != nil && ctr.State.Waiting != nil {
		w := ctr.State.Waiting
		st.Reason = w.Reason
		if w.Message != "" {
			st.Reason += ": " + w.Message
		}
		if what, ok := stuckReasons[w.Reason]; ok && startTimeout > 0 && pod.DeletionTimestamp == nil {
			// Creation timestamps have whole seconds: count from the
			// latest moment the pod may have been created.
			pending := now.Sub(pod.CreationTimestamp.Add(time.Second))
			if pending > startTimeout {
				st.Phase = runtimes.PhaseFailed
				st.FinishedAt = now
				st.Reason = fmt.Sprintf("the worker never started: %s (%s; image %s), pod %s pending for %s (start timeout %s)",
					what, st.Reason, ctr.Image, pod.Name, pending.Round(time.Second), startTimeout)
				return st, true
			}
		}
		return st, false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			st.Reason = c.Reason + ": " + c.Message // Unschedulable: 0/3 nodes are available...
		}
	}
	return st, false
}

func condition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

// finished reports whether the Job has its final condition.
func finished(job *batchv1.Job) bool {
	return condition(job, batchv1.JobComplete) != nil || condition(job, batchv1.JobFailed) != nil
}

// newestPod is the pod created last: a Job with backoffLimit 0 has one,
// unless its pod was deleted and replaced.
func newestPod(pods []*corev1.Pod) *corev1.Pod {
	var p *corev1.Pod
	for _, q := range pods {
		if p == nil || p.CreationTimestamp.Before(&q.CreationTimestamp) ||
			p.CreationTimestamp.Equal(&q.CreationTimestamp) && q.Name > p.Name {
			p = q
		}
	}
	return p
}

func workerStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if c := &pod.Status.ContainerStatuses[i]; c.Name == ContainerName {
			return c
		}
	}
	return nil
}

// containerStarted reports whether the worker container of pod runs or ran.
func containerStarted(pod *corev1.Pod) bool {
	c := workerStatus(pod)
	return c != nil && (c.State.Running != nil || c.State.Terminated != nil || c.LastTerminationState.Terminated != nil) ||
		pod.Status.Phase == corev1.PodRunning || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// startedAt is when the worker started: its container's start, else the
// pod's, else the Job's.
func startedAt(job *batchv1.Job, pod *corev1.Pod, ctr *corev1.ContainerStatus) time.Time {
	if ctr != nil {
		switch {
		case ctr.State.Running != nil:
			return ctr.State.Running.StartedAt.Time
		case ctr.State.Terminated != nil && !ctr.State.Terminated.StartedAt.IsZero():
			return ctr.State.Terminated.StartedAt.Time
		}
	}
	if pod != nil && pod.Status.StartTime != nil {
		return pod.Status.StartTime.Time
	}
	if job.Status.StartTime != nil {
		return job.Status.StartTime.Time
	}
	return time.Time{}
}

func deadline(job *batchv1.Job) string {
	if job.Spec.ActiveDeadlineSeconds == nil {
		return "the deadline"
	}
	return (time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second).String()
}

func memoryLimit(job *batchv1.Job) string {
	for _, c := range job.Spec.Template.Spec.Containers {
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && c.Name == ContainerName {
			return " of " + messages.FormatMemory(q.Value())
		}
	}
	return ""
}

// controlledBy filters pods to those the Job controls.
func controlledBy(job *batchv1.Job, pods []*corev1.Pod) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range pods {
		if metav1.IsControlledBy(p, job) {
			out = append(out, p)
		}
	}
	return out
}
