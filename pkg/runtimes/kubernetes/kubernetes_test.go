package kubernetes_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/kubernetes"
	"github.com/jetrun/jetrun/pkg/runtimes/runtimetest"
)

func TestConformance(t *testing.T) {
	c := needCluster(t)
	rt := c.runtime(t, c.config())
	runtimetest.Run(t, func(t *testing.T) runtimetest.Harness {
		return runtimetest.Harness{
			Runtime: rt,
			Reopen: func(t *testing.T) runtimes.Runtime {
				return c.runtime(t, c.config())
			},
			Image:     testImage,
			Timeout:   2 * time.Minute,
			CheckGone: c.checkGone,
		}
	})
}

// harness is a runtimetest.Harness for the Kubernetes-specific tests,
// whose Spec builds smoke specs.
func harness(rt runtimes.Runtime) runtimetest.Harness {
	return runtimetest.Harness{Runtime: rt, Image: testImage}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// start starts spec and stops it at the end of the test.
func start(t *testing.T, rt runtimes.Runtime, spec runtimes.Spec) runtimes.Handle {
	t.Helper()
	h, err := rt.Start(ctxFor(t, time.Minute), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rt.Stop(ctx, h, 0)
	})
	return h
}

func wait(t *testing.T, rt runtimes.Runtime, h runtimes.Handle) runtimes.Status {
	t.Helper()
	st, err := rt.Wait(ctxFor(t, 2*time.Minute), h)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

func getJob(t *testing.T, c *cluster, h runtimes.Handle) *batchv1.Job {
	t.Helper()
	name, err := kubernetes.JobName(h.Name)
	if err != nil {
		t.Fatal(err)
	}
	job, err := c.client.BatchV1().Jobs(testNS).Get(ctxFor(t, 10*time.Second), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get job %s: %v", name, err)
	}
	return job
}

// TestJobSpec reads back what Start created and checks it field by field.
func TestJobSpec(t *testing.T) {
	c := needCluster(t)
	rt := c.runtime(t, c.config())
	spec := harness(rt).Spec(jobs.SmokeParams{Message: "spec", Sleep: "200ms"}, 90*time.Second)
	spec.Resources.CPUMilli, spec.Resources.MemoryBytes = 1500, 192<<20
	spec.Env["PLAIN_VAR"] = "plain-value"
	spec.Secrets = map[string]string{"QDRANT_API_KEY": "k8s-s3cret", "EMBED_TOKEN": "t0ken"}
	spec.Labels["team"] = "search"
	spec.Labels["bad label key!"] = "dropped"
	spec.Command = append(spec.Command, "--digest-env=QDRANT_API_KEY")
	h := start(t, rt, spec)
	if h.ID == "" {
		t.Errorf("Start returned no Handle.ID (the Job's UID)")
	}
	job := getJob(t, c, h)
	if string(job.UID) != h.ID {
		t.Errorf("Handle.ID = %s, job UID %s", h.ID, job.UID)
	}

	js := job.Spec
	if js.BackoffLimit == nil || *js.BackoffLimit != 0 {
		t.Errorf("backoffLimit = %v, want 0", js.BackoffLimit)
	}
	if js.ActiveDeadlineSeconds == nil || *js.ActiveDeadlineSeconds != 90 {
		t.Errorf("activeDeadlineSeconds = %v, want 90", js.ActiveDeadlineSeconds)
	}
	if js.TTLSecondsAfterFinished == nil || *js.TTLSecondsAfterFinished != 3600 {
		t.Errorf("ttlSecondsAfterFinished = %v, want 3600", js.TTLSecondsAfterFinished)
	}
	if js.Suspend != nil && *js.Suspend {
		t.Errorf("job still suspended after Start")
	}
	if _, ok := job.Annotations[kubernetes.AnnotationLaunching]; ok {
		t.Errorf("launching annotation left on the job")
	}
	ps := js.Template.Spec
	if ps.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restartPolicy = %s", ps.RestartPolicy)
	}
	if ps.ServiceAccountName != "jetrun-worker" {
		t.Errorf("serviceAccountName = %q", ps.ServiceAccountName)
	}
	if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken = %v, want false", ps.AutomountServiceAccountToken)
	}
	var pull []string
	for _, s := range ps.ImagePullSecrets {
		pull = append(pull, s.Name)
	}
	if !slices.Equal(pull, []string{"regcred", "mirror-cred"}) {
		t.Errorf("imagePullSecrets = %v", pull)
	}
	if ps.TerminationGracePeriodSeconds == nil || *ps.TerminationGracePeriodSeconds != 5 {
		t.Errorf("terminationGracePeriodSeconds = %v, want 5", ps.TerminationGracePeriodSeconds)
	}
	if len(ps.Containers) != 1 {
		t.Fatalf("%d containers", len(ps.Containers))
	}
	ctr := ps.Containers[0]
	if ctr.Name != kubernetes.ContainerName || ctr.Image != testImage || len(ctr.Command) != 0 || !slices.Equal(ctr.Args, spec.Command) {
		t.Errorf("container %s image %s command %v args %v; want worker, %s, no command, args %v",
			ctr.Name, ctr.Image, ctr.Command, ctr.Args, testImage, spec.Command)
	}
	for _, rl := range []corev1.ResourceList{ctr.Resources.Requests, ctr.Resources.Limits} {
		if cpu := rl[corev1.ResourceCPU]; cpu.MilliValue() != 1500 {
			t.Errorf("cpu = %s, want 1500m", cpu.String())
		}
		if mem := rl[corev1.ResourceMemory]; mem.Value() != 192<<20 || mem.String() != "192Mi" {
			t.Errorf("memory = %s, want 192Mi", mem.String())
		}
	}
	if sc := ctr.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation not false: %+v", sc)
	}
	env := map[string]string{}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil {
			t.Errorf("env %s has valueFrom", e.Name)
		}
	}
	if env["PLAIN_VAR"] != "plain-value" || env[jobs.EnvJobID] != spec.JobID {
		t.Errorf("plain env = %v", env)
	}
	for k, v := range spec.Secrets {
		if _, ok := env[k]; ok {
			t.Errorf("secret %s is plain env", k)
		}
		for _, e := range ctr.Env {
			if strings.Contains(e.Value, v) {
				t.Errorf("secret value in plain env %s", e.Name)
			}
		}
	}
	if len(ctr.EnvFrom) != 1 || ctr.EnvFrom[0].SecretRef == nil || ctr.EnvFrom[0].SecretRef.Name != job.Name {
		t.Errorf("envFrom = %+v, want the secret %s", ctr.EnvFrom, job.Name)
	}

	// Labels and annotations, on the Job and its pods.
	want := map[string]string{
		kubernetes.LabelManagedBy: kubernetes.ManagedBy,
		runtimes.LabelJobID:       spec.JobID,
		runtimes.LabelAttempt:     "1",
		runtimes.LabelKind:        "smoke",
		"team":                    "search",
		"suite":                   "runtimetest",
	}
	for _, m := range []map[string]string{job.Labels, js.Template.Labels} {
		for k, v := range want {
			if m[k] != v {
				t.Errorf("label %s = %q, want %q", k, m[k], v)
			}
		}
		if _, ok := m["bad label key!"]; ok {
			t.Errorf("invalid label key made it")
		}
	}
	if job.Annotations[kubernetes.AnnotationJobID] != spec.JobID || job.Annotations[kubernetes.AnnotationHandle] != h.Name {
		t.Errorf("annotations = %v", job.Annotations)
	}

	// The Secret: same name, owned by the Job, holding the values.
	sec, err := c.client.CoreV1().Secrets(testNS).Get(ctxFor(t, 10*time.Second), job.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get secret: %v", err)
	}
	if ref := metav1.GetControllerOf(sec); ref == nil || ref.UID != job.UID || ref.Kind != "Job" {
		t.Errorf("secret owner = %+v, want the job %s", sec.OwnerReferences, job.UID)
	}
	if string(sec.Data["QDRANT_API_KEY"]) != "k8s-s3cret" || string(sec.Data["EMBED_TOKEN"]) != "t0ken" {
		t.Errorf("secret keys = %v", slices.Collect(mapsKeys(sec.Data)))
	}

	st := wait(t, rt, h)
	if st.Phase != runtimes.PhaseSucceeded || st.ExitCode != 0 {
		t.Fatalf("status %+v", st)
	}
	if st.StartedAt.IsZero() || st.FinishedAt.IsZero() {
		t.Errorf("times missing: %+v", st)
	}
	rc, err := rt.Logs(ctxFor(t, 30*time.Second), h, runtimes.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(rc)
	rc.Close()
	if !strings.Contains(string(out), "QDRANT_API_KEY sha256:") || strings.Contains(string(out), "k8s-s3cret") {
		t.Errorf("worker output (secret reached it by envFrom, never printed):\n%s", out)
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestNames: handle names that are no DNS-1123 label (uppercase, '_', too
// long) get a valid, deterministic name that the API server accepts, and
// job ids that are no label value a valid label.
func TestNames(t *testing.T) {
	c := needCluster(t)
	rt := c.runtime(t, c.config())
	for _, id := range []string{
		"01JDQ4ZK9B6V7W8X9Y0Z1A2B3C",    // a ULID: uppercase
		strings.Repeat("Ab_", 21) + "z", // 64 characters, the longest id: the handle is 74
		"trailing_",
	} {
		t.Run(id[:min(len(id), 12)], func(t *testing.T) {
			spec := harness(rt).Spec(jobs.SmokeParams{}, time.Minute)
			spec.JobID = id
			spec.Handle.Name = runtimes.HandleName(id, 1)
			h := start(t, rt, spec)
			job := getJob(t, c, h)
			if len(job.Name) > 63 || len(validation.IsDNS1123Label(job.Name)) > 0 {
				t.Errorf("job name %q is no DNS-1123 label", job.Name)
			}
			if v := job.Labels[runtimes.LabelJobID]; len(validation.IsValidLabelValue(v)) > 0 {
				t.Errorf("job-id label %q invalid", v)
			}
			if job.Annotations[kubernetes.AnnotationJobID] != id {
				t.Errorf("job-id annotation = %q, want %q", job.Annotations[kubernetes.AnnotationJobID], id)
			}
			if st := wait(t, rt, h); st.Phase != runtimes.PhaseSucceeded {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// TestInvalidSpec: what the runtime refuses before create, and what the
// API server refuses at create, are both ErrInvalidSpec with a clear
// message, and leave nothing behind.
func TestInvalidSpec(t *testing.T) {
	c := needCluster(t)
	rt := c.runtime(t, c.config())
	for _, tc := range []struct {
		name  string
		edit  func(*runtimes.Spec)
		wants []string
	}{
		{"negative memory", func(s *runtimes.Spec) { s.Resources.MemoryBytes = -1 }, []string{"negative resources", "memory"}},
		{"empty command", func(s *runtimes.Spec) { s.Command = nil }, []string{"empty command"}},
		{"env name with =", func(s *runtimes.Spec) { s.Env["A=B"] = "x" }, []string{`"A=B"`}},
		// The API server's own validation: a control character in an
		// environment variable name, and a Secret key that is no valid
		// config key.
		{"env name refused by the API server", func(s *runtimes.Spec) { s.Env["BAD\tNAME"] = "x" },
			[]string{"API server refused job", "env"}},
		{"secret key refused by the API server", func(s *runtimes.Spec) { s.Secrets = map[string]string{"bad key": "v"} },
			[]string{"API server refused secret", "bad key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := harness(rt).Spec(jobs.SmokeParams{}, time.Minute)
			tc.edit(&spec)
			_, err := rt.Start(ctxFor(t, time.Minute), spec)
			if !errors.Is(err, runtimes.ErrInvalidSpec) {
				t.Fatalf("Start error = %v, want ErrInvalidSpec", err)
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "\"v\"") {
				t.Errorf("error shows a secret value: %v", err)
			}
			t.Logf("%s: %v", tc.name, err)
			c.checkGone(t, spec.Handle)
		})
	}
}

// TestImagePullFailure: a pod whose image cannot be pulled is reported
// failed after the start timeout, with the kubelet's reason, and its Job
// is deleted.
func TestImagePullFailure(t *testing.T) {
	c := needCluster(t)
	cfg := c.config()
	cfg.StartTimeout = 3 * time.Second
	rt := c.runtime(t, cfg)
	spec := harness(rt).Spec(jobs.SmokeParams{}, time.Minute)
	spec.Image = imageNope
	spec.Secrets = map[string]string{"TOKEN": "x"}
	begin := time.Now()
	h := start(t, rt, spec)
	st := wait(t, rt, h)
	took := time.Since(begin)
	if st.Phase != runtimes.PhaseFailed || st.TimedOut {
		t.Fatalf("status %+v, want failed", st)
	}
	for _, w := range []string{"never started", "image cannot be pulled", "ImagePullBackOff", imageNope, "start timeout 3s"} {
		if !strings.Contains(st.Reason, w) {
			t.Errorf("reason %q lacks %q", st.Reason, w)
		}
	}
	if took < 3*time.Second {
		t.Errorf("reported after %s, before the start timeout", took)
	}
	t.Logf("reason after %s: %s", took.Round(time.Millisecond), st.Reason)
	c.checkGone(t, h) // the Job is deleted, with its pod and Secret
	if st2, err := rt.Inspect(ctxFor(t, 10*time.Second), h); err != nil || st2.Phase != runtimes.PhaseNotFound {
		t.Errorf("Inspect after = %+v, %v", st2, err)
	}
}

// TestDeadlineExceeded: the real Job controller ends the Job at
// activeDeadlineSeconds; the runtime reports it as a timeout.
func TestDeadlineExceeded(t *testing.T) {
	c := needCluster(t)
	rt := c.runtime(t, c.config())
	h := start(t, rt, harness(rt).Spec(jobs.SmokeParams{Sleep: "10m", Message: "ready"}, time.Second))
	st := wait(t, rt, h)
	if st.Phase != runtimes.PhaseFailed || !st.TimedOut || !strings.Contains(st.Reason, "timeout after 1s") || !strings.Contains(st.Reason, "DeadlineExceeded") {
		t.Fatalf("status %+v", st)
	}
	job := getJob(t, c, h)
	var reasons []string
	for _, cond := range job.Status.Conditions {
		reasons = append(reasons, string(cond.Type)+"="+cond.Reason)
	}
	if !slices.Contains(reasons, "Failed=DeadlineExceeded") {
		t.Errorf("job conditions %v", reasons)
	}
	t.Logf("status: %+v; conditions %v", st, reasons)
	c.checkGone(t, h) // its pod deleted by the Job controller
}

// TestOOMKilled: a container killed for memory is reported as such.
func TestOOMKilled(t *testing.T) {
	c := needCluster(t)
	rt := c.runtime(t, c.config())
	spec := harness(rt).Spec(jobs.SmokeParams{}, time.Minute)
	spec.Image = imageOOM
	h := start(t, rt, spec)
	st := wait(t, rt, h)
	if st.Phase != runtimes.PhaseFailed || st.ExitCode != 137 || !strings.HasPrefix(st.Reason, "OOMKilled") || !strings.Contains(st.Reason, "128Mi") {
		t.Fatalf("status %+v", st)
	}
	t.Logf("reason: %s", st.Reason)
}

// TestTTL: the TTL controller deletes a finished Job; the garbage
// collector its pod and Secret.
func TestTTL(t *testing.T) {
	c := needCluster(t)
	cfg := c.config()
	cfg.TTL = time.Second
	rt := c.runtime(t, cfg)
	spec := harness(rt).Spec(jobs.SmokeParams{}, time.Minute)
	spec.Secrets = map[string]string{"TOKEN": "x"}
	h := start(t, rt, spec)
	if st := wait(t, rt, h); st.Phase != runtimes.PhaseSucceeded {
		t.Fatalf("status %+v", st)
	}
	ok, why := waitFor(time.Minute, func() (bool, string) {
		left := c.gone(context.Background(), h)
		_, err := c.client.BatchV1().Jobs(testNS).Get(context.Background(), getName(t, h), metav1.GetOptions{})
		return len(left) == 0 && apierrors.IsNotFound(err), strings.Join(left, ", ")
	})
	if !ok {
		t.Fatalf("TTL did not remove the job: %s", why)
	}
}

func getName(t *testing.T, h runtimes.Handle) string {
	n, err := kubernetes.JobName(h.Name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStartFinishesInterruptedLaunch: a dispatcher that died between
// creating the (suspended) Job and its Secret leaves a Job that the next
// Start completes: Secret created, Job resumed, the worker sees the
// secret.
func TestStartFinishesInterruptedLaunch(t *testing.T) {
	c := needCluster(t)
	rt := c.runtime(t, c.config())
	spec := harness(rt).Spec(jobs.SmokeParams{Sleep: "300ms"}, time.Minute)
	spec.Command = append(spec.Command, "--digest-env=TOKEN")
	spec.Secrets = map[string]string{"TOKEN": "t"}
	h := start(t, rt, spec)
	name := getName(t, h)
	ctx := ctxFor(t, time.Minute)
	// Make it look interrupted: a new suspended Job with the launching
	// mark and no Secret.
	job := getJob(t, c, h)
	if err := rt.Stop(ctx, h, 0); err != nil {
		t.Fatal(err)
	}
	job.ObjectMeta = metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: job.Labels,
		Annotations: map[string]string{kubernetes.AnnotationLaunching: "true"}}
	job.Spec.Suspend = new(true)
	for _, k := range []string{"batch.kubernetes.io/controller-uid", "controller-uid", "batch.kubernetes.io/job-name", "job-name"} {
		delete(job.Spec.Template.Labels, k)
	}
	job.Spec.Selector = nil
	job.Status = batchv1.JobStatus{}
	if _, err := c.client.BatchV1().Jobs(testNS).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// And a stale Secret of that name, as a crash after its create
	// would leave one (with other data and no owner).
	stale := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: map[string]string{kubernetes.LabelManagedBy: kubernetes.ManagedBy}},
		Data: map[string][]byte{"TOKEN": []byte("old"), "STALE": []byte("x")}}
	if _, err := c.client.CoreV1().Secrets(testNS).Create(ctx, stale, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if st, err := rt.Inspect(ctx, h); err != nil || st.Phase != runtimes.PhasePending || st.Reason != "suspended" {
		t.Fatalf("interrupted launch: %+v %v", st, err)
	}
	if _, err := rt.Start(ctx, spec); err != nil {
		t.Fatal(err)
	}
	st := wait(t, rt, h)
	if st.Phase != runtimes.PhaseSucceeded {
		t.Fatalf("status %+v", st)
	}
	rc, err := rt.Logs(ctx, h, runtimes.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(rc)
	rc.Close()
	sum := sha256.Sum256([]byte("t"))
	if want := "TOKEN sha256:" + hex.EncodeToString(sum[:])[:16]; !strings.Contains(string(out), want) {
		t.Errorf("the worker lacks the secret's current value (%s):\n%s", want, out)
	}
	sec, err := c.client.CoreV1().Secrets(testNS).Get(ctx, name, metav1.GetOptions{})
	if err != nil || metav1.GetControllerOf(sec) == nil || metav1.GetControllerOf(sec).UID != getJob(t, c, h).UID {
		t.Errorf("secret %v, %v: want owned by the new job", sec.OwnerReferences, err)
	}
	if _, ok := sec.Data["STALE"]; ok || string(sec.Data["TOKEN"]) != "t" {
		t.Errorf("secret keys after the patch: %v", slices.Collect(mapsKeys(sec.Data)))
	}
}

// TestStopConfirmsGone: Stop returns only once the Job is gone, and
// leaves no pod or Secret; its grace, not the pods'
// terminationGracePeriodSeconds (5s here), separates SIGTERM from
// SIGKILL.
func TestStopConfirmsGone(t *testing.T) {
	c := needCluster(t)
	rt := c.runtime(t, c.config())
	spec := harness(rt).Spec(jobs.SmokeParams{Sleep: "10m", Message: "ready", IgnoreSigterm: true}, time.Hour)
	spec.Secrets = map[string]string{"TOKEN": "x"}
	h := start(t, rt, spec)
	ctx := ctxFor(t, time.Minute)
	rc, err := rt.Logs(ctx, h, runtimes.LogOptions{Follow: true}) // returns once the worker runs
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	// "ready" is printed once the worker ignores SIGTERM; a SIGTERM sent
	// before that (the process runs, the Go runtime is still starting)
	// would end it at once.
	if sc := bufio.NewScanner(rc); !scanFor(sc, "ready") {
		t.Fatalf("the worker never printed ready: %v", sc.Err())
	}
	begin := time.Now()
	if err := rt.Stop(ctx, h, time.Second); err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	t.Logf("Stop of a worker ignoring SIGTERM, grace 1s: %s", took.Round(time.Millisecond))
	if took < time.Second || took > 4500*time.Millisecond {
		t.Errorf("Stop took %s: the grace of 1s was not what ended the worker", took)
	}
	name := getName(t, h)
	if _, err := c.client.BatchV1().Jobs(testNS).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("job after Stop: %v", err)
	}
	if _, err := c.client.CoreV1().Secrets(testNS).Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("secret after Stop: %v", err)
	}
	c.checkGone(t, h)
	if _, err := rt.Wait(ctx, h); !errors.Is(err, runtimes.ErrNotFound) {
		t.Errorf("Wait after Stop: %v", err)
	}
}

// BenchmarkLatency measures, in the harness, Start → pod Running (seen by
// Inspect) → Job Complete (returned by Wait) for a smoke job that exits at
// once. The fake kubelet starts the worker as soon as the pod is bound,
// so the figure is the API server and the Job controller's share, not a
// real node's (no image pull, no container runtime).
func BenchmarkLatency(b *testing.B) {
	c := needCluster(b)
	rt := c.runtime(b, c.config())
	var running, complete time.Duration
	for b.Loop() {
		spec := harness(rt).Spec(jobs.SmokeParams{Message: "bench"}, time.Minute)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		begin := time.Now()
		h, err := rt.Start(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		for {
			st, err := rt.Inspect(ctx, h)
			if err != nil {
				b.Fatal(err)
			}
			if st.Phase == runtimes.PhaseRunning || st.Phase.Done() {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		running += time.Since(begin)
		st, err := rt.Wait(ctx, h)
		if err != nil || st.Phase != runtimes.PhaseSucceeded {
			b.Fatalf("Wait: %+v %v", st, err)
		}
		complete += time.Since(begin)
		cancel()
	}
	b.ReportMetric(float64(running.Milliseconds())/float64(b.N), "ms-to-running")
	b.ReportMetric(float64(complete.Milliseconds())/float64(b.N), "ms-to-complete")
}

// TestWatchSurvivesDroppedConnections: the runtime's connections to the
// API server are cut, and refused for a while, while Wait watches a Job
// that finishes meanwhile; the informers re-list and re-watch, and Wait
// returns the result.
func TestWatchSurvivesDroppedConnections(t *testing.T) {
	c := needCluster(t)
	u, err := url.Parse(c.dispatcher.Host)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, u.Host)
	cfg := c.config()
	cfg.REST = rest.CopyConfig(c.dispatcher)
	cfg.REST.Host = "https://" + p.addr()
	rt := c.runtime(t, cfg)
	h := start(t, rt, harness(rt).Spec(jobs.SmokeParams{Sleep: "2s", ExitCode: 5}, time.Minute))
	result := make(chan runtimes.Status, 1)
	go func() {
		st, err := rt.Wait(context.Background(), h)
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		result <- st
	}()
	time.Sleep(500 * time.Millisecond) // the watch is established
	p.cut(3 * time.Second)             // the job finishes while the runtime cannot see it
	select {
	case st := <-result:
		if st.Phase != runtimes.PhaseFailed || st.ExitCode != 5 {
			t.Fatalf("status %+v, want failed with exit code 5", st)
		}
		t.Logf("Wait after a 3s outage: %+v; %d connections cut", st, p.cuts.Load())
	case <-time.After(time.Minute):
		t.Fatal("Wait did not return after the connections came back")
	}
	if p.cuts.Load() == 0 {
		t.Errorf("no connection was cut: the test proved nothing")
	}
}

// proxy forwards TCP connections to the API server (TLS passes through)
// and can cut them all and refuse new ones for a while.
type proxy struct {
	ln       net.Listener
	upstream string
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	refuse   time.Time
	cuts     atomic.Int64
}

func startProxy(t *testing.T, upstream string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.cut(0) })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(conn)
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve(conn net.Conn) {
	p.mu.Lock()
	if time.Now().Before(p.refuse) {
		p.mu.Unlock()
		conn.Close()
		return
	}
	p.mu.Unlock()
	up, err := net.Dial("tcp", p.upstream)
	if err != nil {
		conn.Close()
		return
	}
	p.mu.Lock()
	p.conns[conn], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	go func() { io.Copy(up, conn); up.Close() }()
	io.Copy(conn, up)
	conn.Close()
	p.mu.Lock()
	delete(p.conns, conn)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut closes every connection and refuses new ones for d.
func (p *proxy) cut(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = time.Now().Add(d)
	for c := range p.conns {
		c.Close()
		p.cuts.Add(1)
	}
}

// scanFor reads lines until one contains want.
func scanFor(sc *bufio.Scanner, want string) bool {
	for sc.Scan() {
		if strings.Contains(sc.Text(), want) {
			return true
		}
	}
	return false
}
