package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Defaults of Config.
const (
	DefaultImage        = "jetrun/worker:latest"
	DefaultNamespace    = "default"
	DefaultStartTimeout = 5 * time.Minute
	DefaultTTL          = time.Hour
	DefaultGrace        = 30 * time.Second
)

// Config configures the Kubernetes runtime. ConfigFromEnv fills it from
// the environment.
type Config struct {
	// REST connects to the API server (required): in a pod, the in-cluster
	// configuration; elsewhere a kubeconfig. ConfigFromEnv loads it.
	REST *rest.Config
	// Namespace holds the Jobs, their pods and Secrets (K8S_NAMESPACE);
	// empty: DefaultNamespace.
	Namespace string
	// ServiceAccount is the worker pods' service account
	// (K8S_SERVICE_ACCOUNT); empty: the namespace's "default". The pods
	// do not mount its API token: the worker never calls the API server.
	ServiceAccount string
	// ImagePullSecrets name Secrets in Namespace holding registry
	// credentials for the worker image (K8S_IMAGE_PULL_SECRETS).
	ImagePullSecrets []string
	// Image is the worker image used when a spec names none (WORKER_IMAGE).
	Image string
	// StartTimeout is how long a pod may be stuck before its container
	// starts (image pull errors, a missing Secret or ConfigMap) before the
	// attempt is reported failed and its Job deleted
	// (JETRUN_K8S_START_TIMEOUT).
	StartTimeout time.Duration
	// TTL becomes the Jobs' ttlSecondsAfterFinished: the TTL controller
	// deletes a finished Job, its pods (and logs) and its Secret this long
	// after it finished (JETRUN_K8S_TTL). Zero: DefaultTTL; negative: no
	// TTL, finished Jobs stay until someone deletes them.
	TTL time.Duration
	// Grace is the pods' terminationGracePeriodSeconds: the time between
	// SIGTERM and SIGKILL when the Job controller ends a pod at the Job's
	// deadline (JETRUN_K8S_GRACE). Stop uses its own grace.
	Grace time.Duration
	// Logs opens a pod's log; nil: the API server's pods/log (see
	// LogSource). Tests without a kubelet supply their own.
	Logs LogSource
}

// LogSource opens the output of one container of a pod. The default,
// used when Config.Logs is nil, reads pods/log through the API server,
// which proxies the request to the kubelet of the pod's node.
type LogSource interface {
	PodLogs(ctx context.Context, namespace, pod, container string, follow bool) (io.ReadCloser, error)
}

// The service account mount of a pod, read for the in-cluster
// configuration as rest.InClusterConfig does.
var serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// ConfigFromEnv reads the runtime's configuration through getenv.
//
// The connection to the API server: the kubeconfig files listed in
// KUBECONFIG (merged as kubectl merges them) when it is set; else, in a
// pod (KUBERNETES_SERVICE_HOST set), the in-cluster configuration (the
// pod's service account token, refreshed as it rotates); else
// $HOME/.kube/config. This is controller-runtime's order: an explicit
// KUBECONFIG lets a dispatcher in one cluster drive another.
//
// Then K8S_NAMESPACE (default: the kubeconfig context's namespace, or
// the pod's own namespace in a cluster, or "default"),
// K8S_SERVICE_ACCOUNT, K8S_IMAGE_PULL_SECRETS (comma-separated),
// WORKER_IMAGE, JETRUN_K8S_START_TIMEOUT, JETRUN_K8S_TTL ("0" for no TTL)
// and JETRUN_K8S_GRACE.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Namespace:      strings.TrimSpace(getenv("K8S_NAMESPACE")),
		ServiceAccount: strings.TrimSpace(getenv("K8S_SERVICE_ACCOUNT")),
		Image:          strings.TrimSpace(getenv("WORKER_IMAGE")),
	}
	for s := range strings.SplitSeq(getenv("K8S_IMAGE_PULL_SECRETS"), ",") {
		if s = strings.TrimSpace(s); s != "" {
			cfg.ImagePullSecrets = append(cfg.ImagePullSecrets, s)
		}
	}
	for _, d := range []struct {
		env  string
		to   *time.Duration
		zero time.Duration // what "0" means
	}{
		{"JETRUN_K8S_START_TIMEOUT", &cfg.StartTimeout, 0},
		{"JETRUN_K8S_TTL", &cfg.TTL, -1}, // no TTL
		{"JETRUN_K8S_GRACE", &cfg.Grace, 0},
	} {
		v := strings.TrimSpace(getenv(d.env))
		if v == "" {
			continue
		}
		x, err := time.ParseDuration(v)
		if err != nil || x < 0 {
			return cfg, fmt.Errorf("kubernetes runtime: %s=%q: want a Go duration such as 5m", d.env, v)
		}
		if x == 0 {
			x = d.zero
		}
		*d.to = x
	}
	rc, ns, err := restConfig(getenv)
	if err != nil {
		return cfg, fmt.Errorf("kubernetes runtime: %w", err)
	}
	cfg.REST = rc
	if cfg.Namespace == "" {
		cfg.Namespace = ns
	}
	if err := cfg.validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// validate checks the names a Config puts into every Job, so that a
// misconfiguration fails at start, naming its variable.
func (cfg Config) validate() error {
	if cfg.Namespace != "" {
		if errs := validation.IsDNS1123Label(cfg.Namespace); len(errs) > 0 {
			return fmt.Errorf("kubernetes runtime: K8S_NAMESPACE %q: %s", cfg.Namespace, strings.Join(errs, "; "))
		}
	}
	if cfg.ServiceAccount != "" {
		if errs := validation.IsDNS1123Subdomain(cfg.ServiceAccount); len(errs) > 0 {
			return fmt.Errorf("kubernetes runtime: K8S_SERVICE_ACCOUNT %q: %s", cfg.ServiceAccount, strings.Join(errs, "; "))
		}
	}
	for _, s := range cfg.ImagePullSecrets {
		if errs := validation.IsDNS1123Subdomain(s); len(errs) > 0 {
			return fmt.Errorf("kubernetes runtime: K8S_IMAGE_PULL_SECRETS: %q: %s", s, strings.Join(errs, "; "))
		}
	}
	return nil
}

// restConfig finds the API server: KUBECONFIG, else in-cluster, else
// $HOME/.kube/config. It also returns the namespace that configuration
// implies ("" if none).
func restConfig(getenv func(string) string) (*rest.Config, string, error) {
	if kc := getenv("KUBECONFIG"); kc != "" {
		return kubeconfig(filepath.SplitList(kc), "KUBECONFIG="+kc)
	}
	if host := getenv("KUBERNETES_SERVICE_HOST"); host != "" {
		return inCluster(host, getenv("KUBERNETES_SERVICE_PORT"))
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	path := filepath.Join(home, clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)
	if home == "" {
		path = ""
	}
	if _, err := os.Stat(path); path == "" || err != nil {
		return nil, "", fmt.Errorf("no Kubernetes configuration: not in a pod (KUBERNETES_SERVICE_HOST unset), KUBECONFIG unset, and no %s", path)
	}
	return kubeconfig([]string{path}, path)
}

func kubeconfig(paths []string, what string) (*rest.Config, string, error) {
	rules := &clientcmd.ClientConfigLoadingRules{Precedence: paths}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s: %w", what, err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig %s: %w", what, err)
	}
	return rc, ns, nil
}

// inCluster is rest.InClusterConfig, reading the service's address
// through getenv: the pod's service account token (re-read as the
// kubelet rotates it) and the cluster's CA.
func inCluster(host, port string) (*rest.Config, string, error) {
	if port == "" {
		return nil, "", errors.New("in a pod (KUBERNETES_SERVICE_HOST set) but KUBERNETES_SERVICE_PORT is unset")
	}
	token := filepath.Join(serviceAccountDir, corev1.ServiceAccountTokenKey)
	if _, err := os.Stat(token); err != nil {
		return nil, "", fmt.Errorf("in-cluster configuration: %w (is the dispatcher's service account token mounted?)", err)
	}
	ca := filepath.Join(serviceAccountDir, corev1.ServiceAccountRootCAKey)
	rc := &rest.Config{
		Host:            "https://" + net.JoinHostPort(host, port),
		TLSClientConfig: rest.TLSClientConfig{CAFile: ca},
		BearerTokenFile: token,
	}
	ns := ""
	if b, err := os.ReadFile(filepath.Join(serviceAccountDir, corev1.ServiceAccountNamespaceKey)); err == nil {
		ns = strings.TrimSpace(string(b))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("in-cluster configuration: %w", err)
	}
	return rc, ns, nil
}
