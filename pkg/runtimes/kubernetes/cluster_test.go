package kubernetes_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/jetrun/jetrun/internal/testbin"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/kubernetes"
)

// The namespace of every test object, and the fake node.
const (
	testNS    = "jetrun-test"
	testNode  = "fake-kubelet"
	testImage = "jetrun/worker:test"
)

// cluster is the harness every test shares: a real kube-apiserver and
// etcd (envtest), a real kube-controller-manager running the Job, TTL and
// garbage collector controllers, and the fake kubelet.
type cluster struct {
	admin      *rest.Config      // system:masters, for the tests' own checks
	dispatcher *rest.Config      // the runtime's identity: only the Role below
	client     kclient.Interface // admin
	kubelet    *kubelet          // plays the node
	env        *envtest.Environment
	kcm        *exec.Cmd
	kcmLog     *bytes.Buffer
	kcmExited  chan struct{}
	tmp        string
	stopOnce   sync.Once
}

var (
	setupOnce sync.Once
	setupErr  error
	shared    *cluster
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	testbin.Cleanup()
	os.Exit(code)
}

// needCluster skips the test unless KUBEBUILDER_ASSETS names the
// harness's binaries, and starts the harness once.
func needCluster(tb testing.TB) *cluster {
	tb.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		tb.Skip("set KUBEBUILDER_ASSETS to a directory holding kube-apiserver, etcd and kube-controller-manager " +
			"(make k8s-test builds them: scripts/k8s-harness.sh prints the directory)")
	}
	setupOnce.Do(func() {
		begin := time.Now()
		shared, setupErr = startCluster(assets)
		if setupErr == nil {
			fmt.Fprintf(os.Stderr, "kubernetes tests: harness up in %s (%s)\n", time.Since(begin).Round(time.Millisecond), assets)
		}
	})
	if setupErr != nil {
		tb.Fatal(setupErr)
	}
	return shared
}

func startCluster(assets string) (c *cluster, err error) {
	for _, bin := range []string{"kube-apiserver", "etcd", "kube-controller-manager"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("KUBEBUILDER_ASSETS=%s: %w", assets, err)
		}
	}
	worker, err := testbin.Path("worker")
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "jetrun-k8s-test-")
	if err != nil {
		return nil, err
	}
	c = &cluster{tmp: tmp, env: &envtest.Environment{BinaryAssetsDirectory: assets}}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	if c.admin, err = c.env.Start(); err != nil {
		return c, fmt.Errorf("envtest: %w", err)
	}
	if c.client, err = kclient.NewForConfig(c.admin); err != nil {
		return c, err
	}
	if err := c.startControllerManager(assets); err != nil {
		return c, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, metav1.CreateOptions{}); err != nil {
		return c, err
	}
	if c.dispatcher, err = c.dispatcherIdentity(ctx); err != nil {
		return c, err
	}
	if c.kubelet, err = startKubelet(c.client, testNS, testNode, worker, tmp); err != nil {
		return c, err
	}
	return c, nil
}

// startControllerManager runs the real kube-controller-manager with the
// controllers jobs need: job (pods of a Job, its conditions, deadlines),
// ttl-after-finished (TTL) and garbage collector (owner references,
// foreground deletion).
func (c *cluster) startControllerManager(assets string) error {
	user, err := c.env.AddUser(envtest.User{Name: "system:kube-controller-manager", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("kube-controller-manager user: %w", err)
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(c.tmp, "kube-controller-manager.kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	c.kcmLog = &bytes.Buffer{}
	c.kcm = exec.Command(filepath.Join(assets, "kube-controller-manager"),
		"--kubeconfig="+kubeconfig,
		"--leader-elect=false",
		"--controllers=job-controller,ttl-after-finished-controller,garbage-collector-controller",
		"--secure-port=0",
		"--concurrent-job-syncs=10",
		"--kube-api-qps=100", "--kube-api-burst=200",
	)
	c.kcm.Stdout, c.kcm.Stderr = &syncWriter{w: c.kcmLog}, &syncWriter{w: c.kcmLog}
	if err := c.kcm.Start(); err != nil {
		return fmt.Errorf("start kube-controller-manager: %w", err)
	}
	c.kcmExited = make(chan struct{})
	go func() { c.kcm.Wait(); close(c.kcmExited) }()
	select {
	case <-c.kcmExited:
		err := fmt.Errorf("kube-controller-manager exited: %v\n%s", c.kcm.ProcessState, c.kcmLog)
		c.kcm = nil
		return err
	case <-time.After(time.Second):
	}
	return nil
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// dispatcherIdentity returns the connection of a user who holds only the
// rights the dispatcher's Role grants in the namespace: the tests prove
// the runtime needs no more.
func (c *cluster) dispatcherIdentity(ctx context.Context) (*rest.Config, error) {
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "jetrun-dispatcher", Namespace: testNS},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "watch", "delete"}},
			{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
			{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "create", "patch", "delete"}},
		},
	}
	if _, err := c.client.RbacV1().Roles(testNS).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "jetrun-dispatcher", Namespace: testNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "jetrun-dispatcher"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "jetrun-dispatcher"}},
	}
	if _, err := c.client.RbacV1().RoleBindings(testNS).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	user, err := c.env.AddUser(envtest.User{Name: "jetrun-dispatcher"}, nil)
	if err != nil {
		return nil, err
	}
	return user.Config(), nil
}

func (c *cluster) stop() {
	c.stopOnce.Do(func() {
		if c.kubelet != nil {
			c.kubelet.close()
		}
		if c.kcm != nil && c.kcm.Process != nil {
			c.kcm.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.kcmExited:
			case <-time.After(5 * time.Second):
				c.kcm.Process.Kill()
				<-c.kcmExited
			}
		}
		if c.env != nil {
			if err := c.env.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "kubernetes tests: stop envtest:", err)
			}
		}
		os.RemoveAll(c.tmp)
	})
}

// config is the runtime's configuration in the harness.
func (c *cluster) config() kubernetes.Config {
	return kubernetes.Config{
		REST:             c.dispatcher,
		Namespace:        testNS,
		ServiceAccount:   "jetrun-worker",
		ImagePullSecrets: []string{"regcred", "mirror-cred"},
		Image:            testImage,
		StartTimeout:     time.Minute,
		TTL:              time.Hour,
		Grace:            5 * time.Second,
		Logs:             c.kubelet,
	}
}

// runtime opens a runtime over the harness, closed at the end of the test.
func (c *cluster) runtime(tb testing.TB, cfg kubernetes.Config) *kubernetes.Runtime {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := kubernetes.New(ctx, cfg, zerolog.New(zerolog.NewTestWriter(tb)).Level(zerolog.InfoLevel))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close() })
	return rt
}

// gone reports what remains of a workload: nothing of a Job that is gone
// (no pod, no Secret), and no live pod of a Job that is finished (a Job
// that timed out keeps its result until its TTL).
func (c *cluster) gone(ctx context.Context, h runtimes.Handle) []string {
	name, err := kubernetes.JobName(h.Name)
	if err != nil {
		return []string{err.Error()}
	}
	var left []string
	job, err := c.client.BatchV1().Jobs(testNS).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		job = nil
	case err != nil:
		return []string{err.Error()}
	case !jobFinished(job):
		left = append(left, fmt.Sprintf("job %s (deleting: %v, finalizers %v)", name, job.DeletionTimestamp != nil, job.Finalizers))
	}
	pods, err := c.client.CoreV1().Pods(testNS).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{batchv1.JobNameLabel: name}.String()})
	if err != nil {
		return []string{err.Error()}
	}
	for _, p := range pods.Items {
		if job == nil || p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodPending {
			left = append(left, fmt.Sprintf("pod %s (%s, finalizers %v)", p.Name, p.Status.Phase, p.Finalizers))
		}
	}
	if job == nil {
		if _, err := c.client.CoreV1().Secrets(testNS).Get(ctx, name, metav1.GetOptions{}); err == nil {
			left = append(left, "secret "+name)
		}
	}
	return left
}

func jobFinished(job *batchv1.Job) bool {
	for _, cond := range job.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// checkGone waits up to a minute for gone to report nothing: the
// garbage collector deletes dependents asynchronously.
func (c *cluster) checkGone(t *testing.T, h runtimes.Handle) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var left []string
	for {
		if left = c.gone(ctx, h); len(left) == 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("left behind by %s: %s", h.Name, strings.Join(left, ", "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
