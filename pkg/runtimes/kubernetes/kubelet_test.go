package kubernetes_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/jetrun/jetrun/pkg/runtimes/kubernetes"
)

// Images the fake kubelet treats specially; any other image runs the
// worker binary.
const (
	imageNope = "jetrun/worker:nope" // the pull fails: ErrImagePull, then ImagePullBackOff
	imageOOM  = "jetrun/worker:oom"  // the container is OOMKilled at once (exit code 137)
)

// kubelet plays the kubelet of one node for the pods of one namespace,
// against the real API server: it binds new pods to its node (there is no
// scheduler), runs the worker binary for each with the container's args
// and environment (resolving envFrom Secrets through the API, as the
// kubelet does), reports the pod Running and then Succeeded or Failed with
// the container's terminated state and exit code, honours graceful
// deletion (SIGTERM, SIGKILL after the deletion grace period, then the
// final delete with grace 0), and keeps each container's output for
// PodLogs, which stands in for pods/log (the API server would proxy it to
// a kubelet that does not exist).
type kubelet struct {
	client kclient.Interface
	ns     string
	node   string
	worker string // the worker binary
	tmp    string // HOME and TMPDIR of the workers

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	pods map[types.UID]*podRun
	logs map[string]*logBuffer // by pod name
}

type podRun struct {
	name      string
	uid       types.UID
	terminate chan struct{} // closed when the pod is being deleted
	once      sync.Once
	grace     chan time.Duration // the deletion grace period, each time it is set or shortened
}

func startKubelet(client kclient.Interface, ns, node, worker, tmp string) (*kubelet, error) {
	ctx, cancel := context.WithCancel(context.Background())
	k := &kubelet{client: client, ns: ns, node: node, worker: worker, tmp: tmp,
		ctx: ctx, cancel: cancel, pods: map[types.UID]*podRun{}, logs: map[string]*logBuffer{}}
	_, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: node},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		cancel()
		return nil, fmt.Errorf("create node: %w", err)
	}
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	inf := f.Core().V1().Pods().Informer()
	inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.sync(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { k.sync(obj.(*corev1.Pod)) },
	})
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		cancel()
		return nil, errors.New("kubelet: pod cache never synced")
	}
	k.wg.Add(1)
	go func() { defer k.wg.Done(); <-ctx.Done(); f.Shutdown() }()
	return k, nil
}

// close kills every worker still running and waits for the goroutines.
func (k *kubelet) close() {
	k.cancel()
	k.wg.Wait()
}

func (k *kubelet) sync(pod *corev1.Pod) {
	if pod.Spec.NodeName == "" {
		if pod.DeletionTimestamp == nil {
			k.bind(pod)
		}
		return
	}
	if pod.Spec.NodeName != k.node {
		return
	}
	k.mu.Lock()
	run, ok := k.pods[pod.UID]
	if !ok {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			k.mu.Unlock()
			return
		}
		run = &podRun{name: pod.Name, uid: pod.UID, terminate: make(chan struct{}), grace: make(chan time.Duration, 16)}
		k.pods[pod.UID] = run
		k.wg.Add(1)
		go func() { defer k.wg.Done(); k.run(pod.DeepCopy(), run) }()
	}
	k.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		if pod.DeletionGracePeriodSeconds != nil {
			select {
			case run.grace <- time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second:
			default:
			}
		}
		run.once.Do(func() { close(run.terminate) })
	}
}

// bind plays the scheduler: every pod goes to the fake node.
func (k *kubelet) bind(pod *corev1.Pod) {
	err := k.client.CoreV1().Pods(pod.Namespace).Bind(k.ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: k.node},
	}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && k.ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "fake kubelet: bind %s: %v\n", pod.Name, err)
	}
}

// run is the life of one pod on the node.
func (k *kubelet) run(pod *corev1.Pod, run *podRun) {
	c := pod.Spec.Containers[0]
	logs := newLogBuffer()
	k.mu.Lock()
	k.logs[pod.Name] = logs
	k.mu.Unlock()
	defer logs.close()
	defer k.finalDelete(pod)
	// The pod stays on the node until it is deleted; the delete of a
	// running pod waits for this kubelet (a finished one's does not).
	defer func() {
		select {
		case <-run.terminate:
		case <-k.ctx.Done():
		}
	}()

	waiting := func(reason, msg string) {
		k.setStatus(pod, func(s *corev1.PodStatus) {
			s.Phase = corev1.PodPending
			s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}
		})
	}
	switch {
	case c.Image == imageNope:
		waiting("ErrImagePull", fmt.Sprintf("failed to pull and unpack image %q: pull access denied, repository does not exist or may require authorization", c.Image))
		select {
		case <-time.After(300 * time.Millisecond):
			waiting("ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q", c.Image))
		case <-run.terminate:
		case <-k.ctx.Done():
		}
		return
	case c.Image == imageOOM:
		now := metav1.Now()
		k.running(pod, now)
		k.terminated(pod, &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled", StartedAt: now, FinishedAt: metav1.Now()})
		return
	}

	// The container's environment: envFrom first, then env, as the
	// kubelet builds it. A missing Secret is CreateContainerConfigError,
	// retried.
	var env []string
	for {
		var err error
		env, err = k.environment(pod, c)
		if err == nil {
			break
		}
		waiting("CreateContainerConfigError", err.Error())
		select {
		case <-time.After(200 * time.Millisecond):
			continue
		case <-run.terminate:
			return
		case <-k.ctx.Done():
			return
		}
	}
	cmd := exec.Command(k.worker, c.Args...)
	cmd.Env = append(env, "HOME="+k.tmp, "TMPDIR="+k.tmp)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		k.terminated(pod, &corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(), FinishedAt: metav1.Now()})
		return
	}
	started := metav1.Now()
	k.running(pod, started)
	exited := make(chan struct{})
	go func() { cmd.Wait(); logs.close(); close(exited) }()
	select {
	case <-exited:
	case <-run.terminate:
		// Graceful deletion: SIGTERM, then SIGKILL after the pod's
		// deletion grace period, which a later delete may shorten.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		kill := time.NewTimer(30 * time.Second)
		deadline := time.Now().Add(30 * time.Second)
	grace:
		for {
			select {
			case <-exited:
				break grace
			case g := <-run.grace:
				if d := time.Now().Add(g); d.Before(deadline) {
					deadline = d
					kill.Reset(time.Until(d))
				}
			case <-kill.C:
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
				break grace
			}
		}
		kill.Stop()
	case <-k.ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		return
	}
	code := int32(cmd.ProcessState.ExitCode())
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int32(ws.Signal())
	}
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	k.terminated(pod, &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: started, FinishedAt: metav1.Now(),
		ContainerID: "fake://" + string(pod.UID)})
}

// environment resolves the container's envFrom Secrets and env.
func (k *kubelet) environment(pod *corev1.Pod, c corev1.Container) ([]string, error) {
	var env []string
	for _, from := range c.EnvFrom {
		if from.SecretRef == nil {
			return nil, errors.New("fake kubelet: only envFrom secretRef is supported")
		}
		s, err := k.client.CoreV1().Secrets(pod.Namespace).Get(k.ctx, from.SecretRef.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
		}
		for key, v := range s.Data {
			env = append(env, from.Prefix+key+"="+string(v))
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			return nil, errors.New("fake kubelet: env valueFrom is not supported")
		}
		env = append(env, e.Name+"="+e.Value)
	}
	return env, nil
}

func (k *kubelet) running(pod *corev1.Pod, started metav1.Time) {
	c := pod.Spec.Containers[0]
	k.setStatus(pod, func(s *corev1.PodStatus) {
		s.Phase = corev1.PodRunning
		s.StartTime = &started
		s.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: started},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: started},
			{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: started},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started},
		}
		s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, ImageID: "fake://" + c.Image,
			ContainerID: "fake://" + string(pod.UID), Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}}
	})
}

func (k *kubelet) terminated(pod *corev1.Pod, term *corev1.ContainerStateTerminated) {
	c := pod.Spec.Containers[0]
	k.setStatus(pod, func(s *corev1.PodStatus) {
		s.Phase = corev1.PodSucceeded
		if term.ExitCode != 0 {
			s.Phase = corev1.PodFailed
		}
		if s.StartTime == nil {
			s.StartTime = &term.StartedAt
		}
		for i := range s.Conditions {
			if s.Conditions[i].Type == corev1.PodReady || s.Conditions[i].Type == corev1.ContainersReady {
				s.Conditions[i].Status = corev1.ConditionFalse
				s.Conditions[i].Reason = "PodCompleted"
			}
		}
		s.ContainerStatuses = []corev1.ContainerStatus{{Name: c.Name, Image: c.Image, ImageID: "fake://" + c.Image,
			ContainerID: "fake://" + string(pod.UID), Started: ptr.To(false),
			State: corev1.ContainerState{Terminated: term}}}
	})
}

func (k *kubelet) setStatus(pod *corev1.Pod, set func(*corev1.PodStatus)) {
	pods := k.client.CoreV1().Pods(pod.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := pods.Get(k.ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != pod.UID {
			return apierrors.NewNotFound(corev1.Resource("pods"), pod.Name)
		}
		set(&cur.Status)
		_, err = pods.UpdateStatus(k.ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) && k.ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "fake kubelet: update status of %s: %v\n", pod.Name, err)
	}
}

// finalDelete is the kubelet's last word on a pod being deleted: once its
// containers are gone, the delete with grace 0 that removes it (once its
// finalizers, the Job controller's, are removed).
func (k *kubelet) finalDelete(pod *corev1.Pod) {
	if k.ctx.Err() != nil {
		return
	}
	cur, err := k.client.CoreV1().Pods(pod.Namespace).Get(k.ctx, pod.Name, metav1.GetOptions{})
	if err != nil || cur.UID != pod.UID || cur.DeletionTimestamp == nil {
		return
	}
	err = k.client.CoreV1().Pods(pod.Namespace).Delete(k.ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && k.ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "fake kubelet: delete %s: %v\n", pod.Name, err)
	}
}

// PodLogs implements kubernetes.LogSource with the output the fake kubelet
// captured, as the real kubelet serves pods/log.
func (k *kubelet) PodLogs(ctx context.Context, namespace, pod, container string, follow bool) (io.ReadCloser, error) {
	k.mu.Lock()
	b, ok := k.logs[pod]
	k.mu.Unlock()
	if namespace != k.ns || container != kubernetes.ContainerName {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is not valid", container, pod))
	}
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q is waiting to start: ContainerCreating", container, pod))
	}
	return b.reader(ctx, follow), nil
}

var _ kubernetes.LogSource = (*kubelet)(nil)

// logBuffer holds one container's output; readers may follow it until
// the container exits.
type logBuffer struct {
	mu      sync.Mutex
	buf     []byte
	done    bool
	changed chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{changed: make(chan struct{})} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	close(b.changed)
	b.changed = make(chan struct{})
	return len(p), nil
}

func (b *logBuffer) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.done = true
		close(b.changed)
	}
}

func (b *logBuffer) reader(ctx context.Context, follow bool) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	return &logReader{b: b, ctx: ctx, cancel: cancel, follow: follow}
}

type logReader struct {
	b      *logBuffer
	off    int
	ctx    context.Context
	cancel context.CancelFunc
	follow bool
}

func (r *logReader) Read(p []byte) (int, error) {
	for {
		r.b.mu.Lock()
		if r.off < len(r.b.buf) {
			n := copy(p, r.b.buf[r.off:])
			r.off += n
			r.b.mu.Unlock()
			return n, nil
		}
		if !r.follow || r.b.done {
			r.b.mu.Unlock()
			return 0, io.EOF
		}
		changed := r.b.changed
		r.b.mu.Unlock()
		select {
		case <-changed:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

func (r *logReader) Close() error { r.cancel(); return nil }

// waitFor polls cond every 100ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() (bool, string)) (bool, string) {
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok || time.Now().After(deadline) {
			return ok, why
		}
		time.Sleep(100 * time.Millisecond)
	}
}
