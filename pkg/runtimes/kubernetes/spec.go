package kubernetes

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/jetrun/jetrun/pkg/runtimes"
)

// buildJob turns a spec into the Job of one attempt, and its Secret when
// the spec has secrets (nil otherwise). Everything the runtime can check
// before the API server does is checked here; errors wrap
// runtimes.ErrInvalidSpec. The Secret has no owner yet: Start sets it
// once the Job exists.
func (r *Runtime) buildJob(name string, spec runtimes.Spec) (*batchv1.Job, *corev1.Secret, error) {
	if len(spec.Command) == 0 {
		return nil, nil, fmt.Errorf("%w: empty command", runtimes.ErrInvalidSpec)
	}
	res := spec.Resources
	if res.CPUMilli < 0 || res.MemoryBytes < 0 || res.Timeout < 0 {
		return nil, nil, fmt.Errorf("%w: negative resources %s", runtimes.ErrInvalidSpec, res)
	}
	image := strings.TrimSpace(spec.Image)
	if image == "" {
		image = r.cfg.Image
	}

	labels := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(spec.Labels)) {
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			r.log.Warn().Str("handle", spec.Handle.Name).Str("label", k).
				Msg("kubernetes: label key is not a valid Kubernetes label key; not put on the Job")
			continue
		}
		labels[k] = labelValue(spec.Labels[k])
	}
	labels[LabelManagedBy] = ManagedBy
	labels[runtimes.LabelJobID] = labelValue(spec.JobID)
	labels[runtimes.LabelAttempt] = strconv.Itoa(spec.Attempt)
	if spec.Kind != "" {
		labels[runtimes.LabelKind] = labelValue(spec.Kind)
	} else {
		delete(labels, runtimes.LabelKind)
	}
	annotations := map[string]string{
		AnnotationJobID:  spec.JobID,
		AnnotationHandle: spec.Handle.Name,
	}

	var env []corev1.EnvVar
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		if err := envName(k); err != nil {
			return nil, nil, err
		}
		if _, secret := spec.Secrets[k]; secret {
			continue // the secret wins, as in Spec.AllEnv
		}
		env = append(env, corev1.EnvVar{Name: k, Value: spec.Env[k]})
	}
	var envFrom []corev1.EnvFromSource
	var secret *corev1.Secret
	if len(spec.Secrets) > 0 {
		data := make(map[string][]byte, len(spec.Secrets))
		for k, v := range spec.Secrets {
			if err := envName(k); err != nil {
				return nil, nil, err
			}
			data[k] = []byte(v)
		}
		secret = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: name, Namespace: r.cfg.Namespace,
				Labels: maps.Clone(labels), Annotations: maps.Clone(annotations),
			},
			Type: corev1.SecretTypeOpaque,
			Data: data,
		}
		envFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: name},
			Optional:             ptr.To(false),
		}}}
	}

	resources := corev1.ResourceRequirements{}
	if res.CPUMilli > 0 || res.MemoryBytes > 0 {
		list := corev1.ResourceList{}
		if res.CPUMilli > 0 {
			list[corev1.ResourceCPU] = *resource.NewMilliQuantity(res.CPUMilli, resource.DecimalSI)
		}
		if res.MemoryBytes > 0 {
			list[corev1.ResourceMemory] = *resource.NewQuantity(res.MemoryBytes, resource.BinarySI)
		}
		// Requests = limits: the Guaranteed QoS class, as the job asked.
		resources.Requests = list
		resources.Limits = list.DeepCopy()
	}

	var pullSecrets []corev1.LocalObjectReference
	for _, s := range r.cfg.ImagePullSecrets {
		pullSecrets = append(pullSecrets, corev1.LocalObjectReference{Name: s})
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: r.cfg.Namespace,
			Labels: labels, Annotations: annotations,
		},
		Spec: batchv1.JobSpec{
			Parallelism:  ptr.To[int32](1),
			Completions:  ptr.To[int32](1),
			BackoffLimit: ptr.To[int32](0), // the dispatcher owns retries
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels), Annotations: maps.Clone(annotations)},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					ServiceAccountName:            r.cfg.ServiceAccount,
					AutomountServiceAccountToken:  ptr.To(false),
					ImagePullSecrets:              pullSecrets,
					TerminationGracePeriodSeconds: ptr.To(seconds(r.cfg.Grace)),
					EnableServiceLinks:            ptr.To(false),
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:  ContainerName,
						Image: image,
						// The image's entrypoint is the worker.
						Args:      slices.Clone(spec.Command),
						Env:       env,
						EnvFrom:   envFrom,
						Resources: resources,
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
	if res.Timeout > 0 {
		job.Spec.ActiveDeadlineSeconds = ptr.To(seconds(res.Timeout))
	}
	if r.cfg.TTL > 0 {
		job.Spec.TTLSecondsAfterFinished = ptr.To(int32(min(seconds(r.cfg.TTL), 1<<31-1)))
	}
	return job, secret, nil
}

// envName refuses environment variable names no container runtime can
// set. The API server checks the rest (its rules depend on its version and
// feature gates).
func envName(k string) error {
	if k == "" || strings.ContainsAny(k, "=\x00") {
		return fmt.Errorf("%w: environment variable name %q", runtimes.ErrInvalidSpec, k)
	}
	return nil
}

// seconds rounds d up to whole seconds, the API's unit: never shorter
// than asked, and at least 1.
func seconds(d time.Duration) int64 {
	return max(int64((d+time.Second-1)/time.Second), 1)
}
