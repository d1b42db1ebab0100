package kubernetes_test

// The manifests are tested twice: built with kustomize and checked for
// what they promise (names, references, least privilege, no secrets in
// plain values, hardened pods), then sent to a real kube-apiserver as a
// server-side dry run, with the RBAC checked by SubjectAccessReviews.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

const (
	namespace     = "jetrun"
	dispatcherSA  = "jetrun-dispatcher"
	workerSA      = "jetrun-worker"
	dispatcherApp = "jetrun-dispatcher"
)

// manifests is one kustomization, built.
type manifests struct {
	dir  string
	objs []*unstructured.Unstructured
}

// build runs kustomize on dir as `kubectl kustomize dir` would.
func build(t *testing.T, dir string) manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := manifests{dir: dir}
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		j, err := yaml.YAMLToJSON(y)
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		out.objs = append(out.objs, u)
	}
	return out
}

// get returns the one object of kind whose name is name or, for generated
// objects, name-<hash>.
func (m manifests) get(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range m.objs {
		if o.GetKind() == kind && (o.GetName() == name || generated(o.GetName(), name)) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d objects %s %s, want 1", m.dir, len(found), kind, name)
	}
	return found[0]
}

var hashSuffix = regexp.MustCompile(`^-[a-z0-9]{10}$`)

func generated(got, name string) bool {
	rest, ok := strings.CutPrefix(got, name)
	return ok && hashSuffix.MatchString(rest)
}

// decode converts an object to its typed form, refusing unknown fields
// (a misspelt field would otherwise be dropped silently by a client).
func decode[T any](t *testing.T, o *unstructured.Unstructured) *T {
	t.Helper()
	j, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	v := new(T)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return v
}

type objKey struct{ kind, name string }

func (m manifests) keys() []objKey {
	var ks []objKey
	for _, o := range m.objs {
		ks = append(ks, objKey{o.GetKind(), o.GetName()})
	}
	return ks
}

// wantRules is the dispatcher's whole Role, rule by rule: group/resource →
// verbs. See base/dispatcher-rbac.yaml for why each is needed.
var wantRules = map[string][]string{
	"batch/jobs": {"create", "delete", "get", "list", "patch", "watch"},
	"/pods":      {"delete", "list", "watch"},
	"/pods/log":  {"get"},
	"/secrets":   {"create", "delete", "get", "patch"},
}

// secretName matches environment variable names that hold secrets.
var secretName = regexp.MustCompile(`PASSWORD|TOKEN|SECRET|API_KEY|NKEY|CREDS|CREDENTIAL_[A-Z0-9_]+$`)

func TestManifests(t *testing.T) {
	configMaps := map[string]bool{} // generated names seen
	for _, tc := range []struct {
		dir        string
		replicas   int32
		image      string
		allowHosts string
		secret     bool // the credentials Secret is generated
	}{
		{dir: "base", replicas: 2, image: "jetrun/dispatcher:latest"},
		{dir: "overlays/example", replicas: 3, image: "registry.example.com/jetrun/dispatcher:v0.1.0", allowHosts: "github.com", secret: true},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			m := build(t, tc.dir)

			// Every object we promise, and nothing cluster-wide but the
			// namespace.
			want := []objKey{
				{"Namespace", namespace},
				{"ServiceAccount", dispatcherSA}, {"ServiceAccount", workerSA},
				{"Role", dispatcherApp}, {"RoleBinding", dispatcherApp},
				{"Deployment", dispatcherApp}, {"Service", dispatcherApp}, {"PodDisruptionBudget", dispatcherApp},
				{"StatefulSet", "nats"}, {"Service", "nats"}, {"Service", "nats-headless"},
				{"StatefulSet", "qdrant"}, {"Service", "qdrant"}, {"Service", "qdrant-headless"},
			}
			cm := m.get(t, "ConfigMap", dispatcherApp)
			// A change of configuration renames the ConfigMap, which rolls
			// the dispatchers (they read their environment at start).
			if configMaps[cm.GetName()] {
				t.Errorf("ConfigMap %s: same name as another build's with other data", cm.GetName())
			}
			configMaps[cm.GetName()] = true
			want = append(want, objKey{"ConfigMap", cm.GetName()})
			var sec *unstructured.Unstructured
			if tc.secret {
				sec = m.get(t, "Secret", "jetrun-credentials")
				want = append(want, objKey{"Secret", sec.GetName()})
			}
			if got := m.keys(); !sameSet(got, want) {
				t.Errorf("objects:\n got %v\nwant %v", got, want)
			}
			for _, o := range m.objs {
				switch {
				case o.GetKind() == "Namespace":
				case o.GetNamespace() != namespace:
					t.Errorf("%s %s in namespace %q, want %q", o.GetKind(), o.GetName(), o.GetNamespace(), namespace)
				}
				if o.GetLabels()["app.kubernetes.io/part-of"] != "jetrun" {
					t.Errorf("%s %s: no app.kubernetes.io/part-of=jetrun label", o.GetKind(), o.GetName())
				}
			}

			checkRBAC(t, m)

			// The configuration: the kubernetes runtime, pointing at objects
			// that exist.
			cfg := decode[corev1.ConfigMap](t, cm).Data
			for k, v := range map[string]string{
				"RUNTIME_BACKEND":           "kubernetes",
				"K8S_NAMESPACE":             namespace,
				"K8S_SERVICE_ACCOUNT":       workerSA,
				"NATS_URL":                  "nats://nats." + namespace + ".svc:4222",
				"QDRANT_HOST":               "qdrant." + namespace + ".svc",
				"QDRANT_PORT":               "6334",
				"JETRUN_HTTP_ADDR":          "0.0.0.0:8080",
				"JETRUN_SOURCE_ALLOW_HOSTS": tc.allowHosts,
			} {
				if got, ok := cfg[k]; !ok || got != v {
					t.Errorf("ConfigMap %s = %q (set: %v), want %q", k, got, ok, v)
				}
			}
			if n, err := strconv.Atoi(cfg["JETRUN_CONCURRENCY"]); err != nil || n < 1 {
				t.Errorf("JETRUN_CONCURRENCY = %q, want a positive number", cfg["JETRUN_CONCURRENCY"])
			}
			if img := cfg["WORKER_IMAGE"]; tc.secret && !strings.HasPrefix(img, "registry.example.com/jetrun/worker:") {
				t.Errorf("WORKER_IMAGE = %q: the overlay's registry not applied", img)
			}
			checkServiceRef(t, m, cfg["NATS_URL"][len("nats://"):])
			checkServiceRef(t, m, cfg["QDRANT_HOST"]+":"+cfg["QDRANT_PORT"])
			for k, v := range cfg {
				if secretName.MatchString(k) && !strings.HasSuffix(k, "_HOSTS") && k != "K8S_IMAGE_PULL_SECRETS" {
					t.Errorf("ConfigMap holds %s=%q: secrets belong in the Secret jetrun-credentials", k, v)
				}
			}

			// The dispatcher.
			dep := decode[appsv1.Deployment](t, m.get(t, "Deployment", dispatcherApp))
			if dep.Spec.Replicas == nil || *dep.Spec.Replicas != tc.replicas {
				t.Errorf("dispatcher replicas = %v, want %d", dep.Spec.Replicas, tc.replicas)
			}
			ps := dep.Spec.Template.Spec
			if ps.ServiceAccountName != dispatcherSA {
				t.Errorf("dispatcher serviceAccountName = %q, want %q", ps.ServiceAccountName, dispatcherSA)
			}
			c := ps.Containers[0]
			if c.Image != tc.image {
				t.Errorf("dispatcher image = %q, want %q", c.Image, tc.image)
			}
			wantSecret := "jetrun-credentials"
			if sec != nil {
				wantSecret = sec.GetName()
			}
			var fromCM, fromSecret bool
			for _, e := range c.EnvFrom {
				switch {
				case e.ConfigMapRef != nil && e.ConfigMapRef.Name == cm.GetName():
					fromCM = true
				case e.SecretRef != nil && e.SecretRef.Name == wantSecret:
					fromSecret = e.SecretRef.Optional != nil && *e.SecretRef.Optional
				}
			}
			if !fromCM || !fromSecret {
				t.Errorf("dispatcher envFrom %+v: want ConfigMap %s and optional Secret %s", c.EnvFrom, cm.GetName(), wantSecret)
			}
			if sec != nil {
				s := decode[corev1.Secret](t, sec)
				if len(s.Data) == 0 || s.Type != corev1.SecretTypeOpaque {
					t.Errorf("Secret %s: type %q, %d keys", sec.GetName(), s.Type, len(s.Data))
				}
				for k := range s.Data {
					if !secretName.MatchString(k) && !strings.HasPrefix(k, "NATS_USER") {
						t.Errorf("Secret key %s: not a variable the dispatcher reads as a secret", k)
					}
				}
			}
			checkProbe(t, "dispatcher liveness", c.LivenessProbe, "/healthz", c)
			checkProbe(t, "dispatcher readiness", c.ReadinessProbe, "/readyz", c)
			if sc := ps.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
				t.Errorf("dispatcher pod runAsUser: want 65532 (the image's user)")
			}
			if ps.TerminationGracePeriodSeconds == nil || *ps.TerminationGracePeriodSeconds < 70 {
				t.Errorf("dispatcher terminationGracePeriodSeconds = %v, want > --stop-grace + 60s", ps.TerminationGracePeriodSeconds)
			}
			if len(ps.TopologySpreadConstraints) == 0 {
				t.Error("dispatcher: no topology spread")
			}
			for _, tsc := range ps.TopologySpreadConstraints {
				if tsc.WhenUnsatisfiable != corev1.ScheduleAnyway {
					t.Errorf("topology spread on %s is %s, want ScheduleAnyway (soft)", tsc.TopologyKey, tsc.WhenUnsatisfiable)
				}
			}
			pdb := decode[policyv1.PodDisruptionBudget](t, m.get(t, "PodDisruptionBudget", dispatcherApp))
			if !selects(pdb.Spec.Selector.MatchLabels, dep.Spec.Template.Labels) || pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 {
				t.Errorf("PodDisruptionBudget %+v does not keep a dispatcher", pdb.Spec)
			}

			// Every pod: hardened, no secrets in plain values, and every
			// Service selecting it by labels and port names that exist.
			pods := map[string]corev1.PodTemplateSpec{dep.Name: dep.Spec.Template}
			for _, name := range []string{"nats", "qdrant"} {
				ss := decode[appsv1.StatefulSet](t, m.get(t, "StatefulSet", name))
				pods[name] = ss.Spec.Template
				if ss.Spec.ServiceName != name+"-headless" {
					t.Errorf("StatefulSet %s serviceName = %q", name, ss.Spec.ServiceName)
				}
				if len(ss.Spec.VolumeClaimTemplates) != 1 {
					t.Errorf("StatefulSet %s: %d volume claim templates, want 1", name, len(ss.Spec.VolumeClaimTemplates))
				}
			}
			for name, tmpl := range pods {
				checkPod(t, name, tmpl.Spec)
			}
			for _, o := range m.objs {
				if o.GetKind() != "Service" {
					continue
				}
				svc := decode[corev1.Service](t, o)
				var matched []string
				for name, tmpl := range pods {
					if selects(svc.Spec.Selector, tmpl.Labels) {
						matched = append(matched, name)
						for _, p := range svc.Spec.Ports {
							if !hasPort(tmpl.Spec, p.TargetPort) {
								t.Errorf("Service %s port %s: target %s is not a port of %s", svc.Name, p.Name, p.TargetPort.String(), name)
							}
						}
					}
				}
				if len(matched) != 1 {
					t.Errorf("Service %s selects %v, want one workload", svc.Name, matched)
				}
			}
		})
	}
}

// checkRBAC: the dispatcher's Role is exactly wantRules, bound to the
// dispatcher only; the worker has no token and no binding.
func checkRBAC(t *testing.T, m manifests) {
	t.Helper()
	for _, o := range m.objs {
		if k := o.GetKind(); k == "ClusterRole" || k == "ClusterRoleBinding" {
			t.Errorf("%s %s: nothing cluster-wide", k, o.GetName())
		}
	}
	role := decode[rbacv1.Role](t, m.get(t, "Role", dispatcherApp))
	got := map[string][]string{}
	for _, r := range role.Rules {
		if len(r.ResourceNames) > 0 || len(r.NonResourceURLs) > 0 {
			t.Errorf("unexpected rule %+v", r)
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				got[g+"/"+res] = append(got[g+"/"+res], r.Verbs...)
			}
		}
	}
	for k, v := range got {
		slices.Sort(v)
		got[k] = slices.Compact(v)
		if strings.Contains(k, "*") || slices.Contains(v, "*") {
			t.Errorf("Role rule %s %v: wildcards", k, v)
		}
	}
	if !maps.EqualFunc(got, wantRules, slices.Equal) {
		t.Errorf("Role rules:\n got %v\nwant %v", got, wantRules)
	}
	var bindings int
	for _, o := range m.objs {
		if o.GetKind() != "RoleBinding" {
			continue
		}
		bindings++
		rb := decode[rbacv1.RoleBinding](t, o)
		if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name {
			t.Errorf("RoleBinding %s binds %s %s, want Role %s", rb.Name, rb.RoleRef.Kind, rb.RoleRef.Name, role.Name)
		}
		want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: dispatcherSA, Namespace: namespace}}
		if !slices.Equal(rb.Subjects, want) {
			t.Errorf("RoleBinding %s subjects %+v, want %+v", rb.Name, rb.Subjects, want)
		}
	}
	if bindings != 1 {
		t.Errorf("%d RoleBindings, want 1 (the dispatcher's; the worker has none)", bindings)
	}
	w := decode[corev1.ServiceAccount](t, m.get(t, "ServiceAccount", workerSA))
	if w.AutomountServiceAccountToken == nil || *w.AutomountServiceAccountToken {
		t.Errorf("ServiceAccount %s: automountServiceAccountToken must be false", workerSA)
	}
}

// checkPod: the "restricted" Pod Security profile and then some.
func checkPod(t *testing.T, name string, ps corev1.PodSpec) {
	t.Helper()
	sc := ps.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("%s: pod must run as a non-root uid", name)
	}
	if sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: seccomp profile must be RuntimeDefault", name)
	}
	if ps.EnableServiceLinks == nil || *ps.EnableServiceLinks {
		t.Errorf("%s: enableServiceLinks must be false (the qdrant Service would inject QDRANT_PORT=tcp://…)", name)
	}
	if name != dispatcherApp && (ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken) {
		t.Errorf("%s: no API access needed, automountServiceAccountToken must be false", name)
	}
	for _, c := range append(slices.Clone(ps.InitContainers), ps.Containers...) {
		where := name + "/" + c.Name
		cs := c.SecurityContext
		switch {
		case cs == nil:
			t.Errorf("%s: no securityContext", where)
			continue
		case cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation:
			t.Errorf("%s: allowPrivilegeEscalation must be false", where)
		case cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem:
			t.Errorf("%s: readOnlyRootFilesystem must be true", where)
		case cs.Capabilities == nil || !slices.Equal(cs.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(cs.Capabilities.Add) > 0:
			t.Errorf("%s: capabilities must drop ALL and add none", where)
		case cs.Privileged != nil && *cs.Privileged:
			t.Errorf("%s: privileged", where)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: want cpu and memory requests and a memory limit, got %+v", where, c.Resources)
		}
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Errorf("%s: want liveness and readiness probes", where)
		}
		if strings.HasSuffix(c.Image, ":latest") && name != dispatcherApp || !strings.Contains(c.Image, ":") {
			t.Errorf("%s: image %q: pin a version", where, c.Image)
		}
		for _, e := range c.Env {
			if e.Value != "" && secretName.MatchString(e.Name) {
				t.Errorf("%s: env %s has a plain value: use a secretKeyRef or the credentials Secret", where, e.Name)
			}
		}
	}
}

func checkProbe(t *testing.T, what string, p *corev1.Probe, path string, c corev1.Container) {
	t.Helper()
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path {
		t.Errorf("%s: want an httpGet of %s, got %+v", what, path, p)
		return
	}
	var port int32
	for _, cp := range c.Ports {
		if cp.Name == p.HTTPGet.Port.StrVal || cp.ContainerPort == p.HTTPGet.Port.IntVal {
			port = cp.ContainerPort
		}
	}
	if port != 8080 {
		t.Errorf("%s: probes port %s, want the dispatcher's 8080 (JETRUN_HTTP_ADDR)", what, p.HTTPGet.Port.String())
	}
}

// checkServiceRef: hostport (svc.namespace.svc:port) names a Service of
// these manifests and one of its ports.
func checkServiceRef(t *testing.T, m manifests, hostport string) {
	t.Helper()
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Errorf("%q: %v", hostport, err)
		return
	}
	name, ns, ok := strings.Cut(strings.TrimSuffix(host, ".svc"), ".")
	if !ok || ns != namespace {
		t.Errorf("%s: want <service>.%s.svc", host, namespace)
		return
	}
	svc := decode[corev1.Service](t, m.get(t, "Service", name))
	for _, p := range svc.Spec.Ports {
		if strconv.Itoa(int(p.Port)) == port {
			return
		}
	}
	t.Errorf("%s: Service %s has no port %s", hostport, name, port)
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func hasPort(ps corev1.PodSpec, target intstr.IntOrString) bool {
	for _, c := range ps.Containers {
		for _, p := range c.Ports {
			if (target.Type == intstr.String && p.Name == target.StrVal) || (target.Type == intstr.Int && p.ContainerPort == target.IntVal) {
				return true
			}
		}
	}
	return false
}

func sameSet[T comparable](a, b []T) bool {
	count := map[T]int{}
	for _, x := range a {
		count[x]++
	}
	for _, x := range b {
		count[x]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

// warnings collects the API server's warnings (Pod Security's among them).
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := w.msgs
	w.msgs = nil
	return m
}

// apiServer starts kube-apiserver and etcd from KUBEBUILDER_ASSETS.
func apiServer(t *testing.T) (*rest.Config, *warnings) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS is unset: no kube-apiserver and etcd to test against (make k8s-test builds them and sets it)")
	}
	env := &envtest.Environment{ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	start := time.Now()
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd from %s: %v", os.Getenv("KUBEBUILDER_ASSETS"), err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the control plane: %v", err)
		}
	})
	t.Logf("kube-apiserver and etcd up in %s", time.Since(start).Round(time.Millisecond))
	w := &warnings{}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandler = w
	return cfg, w
}

// TestServerDryRun sends every rendered object to a real kube-apiserver:
// the namespace for real, everything else with dryRun=All and strict field
// validation, so the server's defaulting, validation and admission
// (Pod Security at "restricted" as warnings) run and nothing is stored.
// Then it stores the RBAC objects and asks the authorizer what each
// ServiceAccount may do.
func TestServerDryRun(t *testing.T) {
	cfg, warns := apiServer(t)
	ctx := t.Context()
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	if v, err := dc.ServerVersion(); err == nil {
		t.Logf("kube-apiserver %s", v.GitVersion)
	}

	resource := func(o *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
		gvk := o.GroupVersionKind()
		mp, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return nil, fmt.Errorf("the server does not serve %s: %w", gvk, err)
		}
		if mp.Scope.Name() == meta.RESTScopeNameNamespace {
			return dyn.Resource(mp.Resource).Namespace(o.GetNamespace()), nil
		}
		return dyn.Resource(mp.Resource), nil
	}
	create := func(t *testing.T, o *unstructured.Unstructured, dryRun bool) error {
		t.Helper()
		opts := metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict, FieldManager: "jetrun-manifests-test"}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		ri, err := resource(o)
		if err != nil {
			return err
		}
		warns.take()
		_, err = ri.Create(ctx, o, opts)
		if w := warns.take(); len(w) > 0 {
			t.Errorf("%s %s: the API server warns:\n  %s", o.GetKind(), o.GetName(), strings.Join(w, "\n  "))
		}
		return err
	}

	var base manifests
	for _, dir := range []string{"base", "overlays/example"} {
		t.Run(dir, func(t *testing.T) {
			m := build(t, dir)
			if dir == "base" {
				base = m
			}
			// The namespace for real (objects dry-run into a missing
			// namespace are refused), with its Pod Security labels.
			ns := m.get(t, "Namespace", namespace)
			if err := create(t, ns, false); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("create namespace: %v", err)
			}
			accepted := 0
			for _, o := range m.objs {
				if o == ns {
					continue
				}
				if err := create(t, o, true); err != nil {
					t.Errorf("dry run of %s %s refused: %v", o.GetKind(), o.GetName(), err)
					continue
				}
				accepted++
			}
			t.Logf("namespace in place, %d of %d objects accepted in a dry run", accepted, len(m.objs)-1)
		})
	}
	if t.Failed() {
		return
	}

	t.Run("rbac", func(t *testing.T) {
		for _, o := range base.objs {
			switch o.GetKind() {
			case "ServiceAccount", "Role", "RoleBinding":
				if err := create(t, o, false); err != nil {
					t.Fatalf("create %s %s: %v", o.GetKind(), o.GetName(), err)
				}
			}
		}
		type access struct{ verb, group, resource, sub, ns string }
		var allowed []access
		for gr, verbs := range wantRules {
			group, res, _ := strings.Cut(gr, "/")
			res, sub, _ := strings.Cut(res, "/")
			for _, v := range verbs {
				allowed = append(allowed, access{v, group, res, sub, namespace})
			}
		}
		denied := []access{
			{"list", "", "secrets", "", namespace},
			{"watch", "", "secrets", "", namespace},
			{"update", "", "secrets", "", namespace},
			{"update", "batch", "jobs", "", namespace},
			{"update", "batch", "jobs", "status", namespace},
			{"create", "", "pods", "", namespace},
			{"create", "", "pods", "exec", namespace},
			{"get", "", "configmaps", "", namespace},
			{"create", "", "serviceaccounts", "token", namespace},
			{"create", "rbac.authorization.k8s.io", "rolebindings", "", namespace},
			{"create", "batch", "jobs", "", "default"},
			{"get", "", "secrets", "", "kube-system"},
			{"list", "", "pods", "", ""},
			{"list", "", "nodes", "", ""},
			{"list", "", "namespaces", "", ""},
		}
		can := func(sa string, a access) bool {
			t.Helper()
			sar := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "authorization.k8s.io/v1",
				"kind":       "SubjectAccessReview",
				"spec": map[string]any{
					"user":   "system:serviceaccount:" + namespace + ":" + sa,
					"groups": []any{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
					"resourceAttributes": map[string]any{
						"namespace": a.ns, "verb": a.verb, "group": a.group, "resource": a.resource, "subresource": a.sub,
					},
				},
			}}
			gvr := schema.GroupVersionResource{Group: "authorization.k8s.io", Version: "v1", Resource: "subjectaccessreviews"}
			res, err := dyn.Resource(gvr).Create(ctx, sar, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("SubjectAccessReview: %v", err)
			}
			ok, _, _ := unstructured.NestedBool(res.Object, "status", "allowed")
			return ok
		}
		// The authorizer learns of new bindings through an informer.
		first := allowed[0]
		deadline := time.Now().Add(10 * time.Second)
		for !can(dispatcherSA, first) && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		for _, a := range allowed {
			if !can(dispatcherSA, a) {
				t.Errorf("%s may not %+v", dispatcherSA, a)
			}
			if can(workerSA, a) {
				t.Errorf("%s may %+v: workers need no API rights", workerSA, a)
			}
		}
		for _, a := range denied {
			for _, sa := range []string{dispatcherSA, workerSA} {
				if can(sa, a) {
					t.Errorf("%s may %+v: more than it needs", sa, a)
				}
			}
		}
		t.Logf("%d allowed and %d denied accesses checked for %s and %s", len(allowed), len(denied), dispatcherSA, workerSA)
	})
}
