package kubernetes

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://k8s.example:6443
    insecure-skip-tls-verify: true
users:
- name: u
  user:
    token: abc
contexts:
- name: ctx
  context:
    cluster: c
    user: u
    namespace: from-context
current-context: ctx
`

func TestConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "config")
	if err := os.WriteFile(kc, []byte(testKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}

	cfg, err := ConfigFromEnv(env("KUBECONFIG", kc, "K8S_SERVICE_ACCOUNT", "jetrun-worker",
		"K8S_IMAGE_PULL_SECRETS", " regcred, ,mirror ", "WORKER_IMAGE", "reg.example/jetrun/worker:1.4",
		"JETRUN_K8S_START_TIMEOUT", "90s", "JETRUN_K8S_TTL", "24h", "JETRUN_K8S_GRACE", "10s"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.REST == nil || cfg.REST.Host != "https://k8s.example:6443" || cfg.REST.BearerToken != "abc" {
		t.Errorf("REST = %+v", cfg.REST)
	}
	if cfg.Namespace != "from-context" || cfg.ServiceAccount != "jetrun-worker" || cfg.Image != "reg.example/jetrun/worker:1.4" ||
		!slices.Equal(cfg.ImagePullSecrets, []string{"regcred", "mirror"}) ||
		cfg.StartTimeout != 90*time.Second || cfg.TTL != 24*time.Hour || cfg.Grace != 10*time.Second {
		t.Errorf("cfg = %+v", cfg)
	}

	// K8S_NAMESPACE wins over the context; "0" TTL means none.
	cfg, err = ConfigFromEnv(env("KUBECONFIG", kc, "K8S_NAMESPACE", "jobs", "JETRUN_K8S_TTL", "0"))
	if err != nil || cfg.Namespace != "jobs" || cfg.TTL >= 0 {
		t.Errorf("cfg = %+v, %v", cfg, err)
	}

	// $HOME/.kube/config when KUBECONFIG is unset and not in a pod.
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".kube"), 0o700)
	os.WriteFile(filepath.Join(home, ".kube", "config"), []byte(testKubeconfig), 0o600)
	if cfg, err = ConfigFromEnv(env("HOME", home)); err != nil || cfg.REST.Host != "https://k8s.example:6443" {
		t.Errorf("home kubeconfig: %+v, %v", cfg.REST, err)
	}

	// In a pod: the service account's token, CA and namespace.
	sa := t.TempDir()
	os.WriteFile(filepath.Join(sa, "token"), []byte("tok"), 0o600)
	os.WriteFile(filepath.Join(sa, "namespace"), []byte("jetrun\n"), 0o600)
	old := serviceAccountDir
	serviceAccountDir = sa
	t.Cleanup(func() { serviceAccountDir = old })
	cfg, err = ConfigFromEnv(env("KUBERNETES_SERVICE_HOST", "10.0.0.1", "KUBERNETES_SERVICE_PORT", "443", "HOME", home))
	if err != nil || cfg.REST.Host != "https://10.0.0.1:443" || cfg.REST.BearerTokenFile != filepath.Join(sa, "token") || cfg.Namespace != "jetrun" {
		t.Errorf("in-cluster: %+v, %v", cfg, err)
	}
	// KUBECONFIG wins in a pod too.
	cfg, err = ConfigFromEnv(env("KUBERNETES_SERVICE_HOST", "10.0.0.1", "KUBERNETES_SERVICE_PORT", "443", "KUBECONFIG", kc))
	if err != nil || cfg.REST.Host != "https://k8s.example:6443" {
		t.Errorf("KUBECONFIG in a pod: %+v, %v", cfg.REST, err)
	}

	for _, tc := range []struct {
		env  func(string) string
		want string
	}{
		{env("HOME", t.TempDir()), "no Kubernetes configuration"},
		{env("KUBECONFIG", filepath.Join(dir, "missing")), "KUBECONFIG="},
		{env("KUBECONFIG", kc, "JETRUN_K8S_TTL", "1 hour"), "JETRUN_K8S_TTL"},
		{env("KUBECONFIG", kc, "JETRUN_K8S_START_TIMEOUT", "-1s"), "JETRUN_K8S_START_TIMEOUT"},
		{env("KUBECONFIG", kc, "K8S_NAMESPACE", "Bad_NS"), "K8S_NAMESPACE"},
		{env("KUBECONFIG", kc, "K8S_SERVICE_ACCOUNT", "no spaces"), "K8S_SERVICE_ACCOUNT"},
		{env("KUBECONFIG", kc, "K8S_IMAGE_PULL_SECRETS", "ok,Not_OK"), "K8S_IMAGE_PULL_SECRETS"},
	} {
		if _, err := ConfigFromEnv(tc.env); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one mentioning %q", err, tc.want)
		}
	}
}
