// Package kubernetes is the runtime that runs each workload as a
// Kubernetes Job: the runtime of a dispatcher deployed in a cluster (see
// deployments/kubernetes), or of one that drives a cluster from outside
// through a kubeconfig.
//
// It talks to the API server with client-go (k8s.io/client-go v0.37),
// and needs Kubernetes 1.27 or newer (it finds a Job's pods by their
// batch.kubernetes.io/job-name label); the tests run against 1.37.2.
//
//	rt, err := kubernetes.New(ctx, kubernetes.Config{REST: restConfig, Namespace: "jetrun", Image: "reg.example/jetrun/worker:1.4"}, log)
//
// or, from the environment, kubernetes.Factory (registered as
// "kubernetes" in cmd/dispatcher/runtimes.go: RUNTIME_BACKEND=kubernetes). New asks the API server
// for its version, so a wrong address or credentials fail at once.
//
// Each attempt is one batch/v1 Job in K8S_NAMESPACE, named after its
// handle (see JobName: the handle name "jetrun-<job_id>-a<attempt>" when
// it is a DNS-1123 label of at most 63 characters, else lowercased,
// cut, and suffixed with a hash of the handle name, so distinct handles
// never share a Job), with:
//
//   - backoffLimit 0 (the dispatcher owns retries), parallelism and
//     completions 1, restartPolicy Never;
//   - activeDeadlineSeconds = the attempt's timeout, rounded up to whole
//     seconds; ttlSecondsAfterFinished = JETRUN_K8S_TTL;
//   - one container, "worker", of Spec.Image (else WORKER_IMAGE), with
//     Args = Spec.Command (the image's entrypoint is the worker, /worker),
//     Env = Spec.Env as plain values, and Spec.Secrets through the Job's
//     Secret (see Secrets);
//   - requests = limits = the job's CPU (millicores) and memory (bytes)
//     (with both, the Guaranteed QoS class);
//   - serviceAccountName = K8S_SERVICE_ACCOUNT, with no API token mounted
//     (automountServiceAccountToken false: the worker never calls the API
//     server), imagePullSecrets = K8S_IMAGE_PULL_SECRETS,
//     terminationGracePeriodSeconds = JETRUN_K8S_GRACE, no service
//     links;
//   - the "restricted" Pod Security profile: runAsNonRoot (the worker
//     image runs as 65532), no privilege escalation, all capabilities
//     dropped, the RuntimeDefault seccomp profile;
//   - on the Job, its pod template and the Secret: the labels
//     jetrun.io/managed-by=jetrun, jetrun.io/job-id (the job id, made a
//     valid label value the way JobName makes names), jetrun.io/attempt,
//     jetrun.io/kind and Spec.Labels (a key that is no valid label key is
//     dropped, with a warning; a value made valid), and the annotations
//     jetrun.io/job-id (the job id as it is) and jetrun.io/handle.
//
// A spec the runtime can tell will never run (an empty command, negative
// resources, an environment variable name holding '=') is refused before
// anything is created, wrapping runtimes.ErrInvalidSpec. So is a Job or
// Secret the API server refuses as invalid (HTTP 422), with the server's
// own message, e.g. "the API server refused secret jetrun-x-a1: Secret
// "jetrun-x-a1" is invalid: data[bad key]: Invalid value: "bad key": a
// valid config key must consist of ..." (it names keys, never values).
// Anything else that fails (the API server unreachable, a quota
// exceeded, RBAC) is a failed attempt, which the dispatcher retries.
//
// # Configuration
//
// Factory reads (see ConfigFromEnv):
//
//	variable                   default                 meaning
//	KUBECONFIG                 unset                   kubeconfig file(s), ':'-separated, merged as kubectl does; when set
//	                                                   it wins over the in-cluster configuration
//	KUBERNETES_SERVICE_HOST,   set by Kubernetes       in a pod: the in-cluster configuration (the pod's service account
//	KUBERNETES_SERVICE_PORT    in every pod            token, re-read as it rotates, and the cluster's CA)
//	HOME                       the user's home         neither of the above: $HOME/.kube/config
//	K8S_NAMESPACE              the kubeconfig          namespace of the Jobs, their pods and Secrets
//	                           context's, the pod's
//	                           own, or "default"
//	K8S_SERVICE_ACCOUNT        the namespace's         the worker pods' service account (give it no API rights)
//	                           "default"
//	K8S_IMAGE_PULL_SECRETS     none                    comma-separated Secrets (in K8S_NAMESPACE) with registry credentials
//	WORKER_IMAGE               jetrun/worker:latest    the worker image when a spec names none (Spec.Image overrides); the
//	                                                   image pull policy is Kubernetes' default: pin tags
//	JETRUN_K8S_START_TIMEOUT   5m                      how long a pod may be stuck before its worker starts (image pull
//	                                                   errors, a missing Secret) before the attempt fails (see below)
//	JETRUN_K8S_TTL             1h                      ttlSecondsAfterFinished: finished Jobs, their pods, logs and
//	                                                   Secrets are deleted this long after they finish; "0": never
//	JETRUN_K8S_GRACE           30s                     the pods' terminationGracePeriodSeconds: SIGTERM to SIGKILL when
//	                                                   the Job controller ends a pod at the Job's deadline
//
// The variables are read through the factory's getenv, never from the
// process environment.
//
// The dispatcher needs, in K8S_NAMESPACE only: jobs (batch) get, list,
// watch, create, patch, delete; pods list, watch, delete; pods/log get;
// secrets get, create, patch, delete. Nothing cluster-wide: /version,
// which New reads, is open to every authenticated user. The tests run
// the runtime as a user holding exactly this Role.
//
// Workers reach NATS and Qdrant through the cluster's network: put
// cluster DNS names (nats.jetrun.svc) in NATS_URL and QDRANT_HOST, not
// 127.0.0.1.
//
// # Cancellation
//
// Stop(ctx, h, grace) on a Job that is not finished deletes it with
// foreground propagation (the Job controller creates no pod for a Job
// that is being deleted), then deletes its pods with grace rounded up to
// whole seconds (at least 1): the kubelet sends SIGTERM to the worker,
// and SIGKILL after the grace. The garbage collector removes the Job once
// its pods are gone; Stop polls until the API server no longer knows the
// Job (giving up with an error after grace + 2 minutes, naming the Job's
// finalizers), then deletes its Secret, which the garbage collector would
// delete a moment later anyway. A cancelled attempt therefore has no
// logs left. Stop returns nil at once for a missing Job, and leaves a
// finished one as it is, with its result and logs, until its TTL.
//
// The job's timeout is Kubernetes' own: the Job controller fails the Job
// at status.startTime + activeDeadlineSeconds (condition Failed, reason
// DeadlineExceeded) and deletes its pod with the pod's
// terminationGracePeriodSeconds; this goes on while no dispatcher runs.
// The Job stays, reported failed and timed out, until its TTL. Note that
// the deadline counts from the Job's start, so time spent pulling the
// image counts too.
//
// # Handle state
//
// The API server holds all the state; the runtime keeps none but its
// watch's cache. Any runtime instance finds a workload by its handle name
// alone (the Job's name derives from it), across dispatcher restarts;
// Start fills in Handle.ID with the Job's UID, for information. Jobs are
// cluster-wide (every dispatcher reaches them through the API server), so
// the runtime implements neither runtimes.NodeLocal nor runtimes.Pruner:
// the TTL controller removes finished Jobs.
//
// Start is idempotent for one name: if the Job exists it is adopted and
// nothing is launched, and an AlreadyExists on create (another dispatcher
// created it meanwhile) is adopted the same way. A spec with secrets is
// launched in three steps: the Job is created suspended (annotation
// jetrun.io/launching), its Secret is created with the Job as its
// controlling owner, then the Job is resumed; a Start that finds a Job
// still launching (its launcher died in between) creates or brings up to
// date the Secret and resumes the Job. So no pod ever starts without its
// Secret, and no Secret exists without an owner.
//
// Wait follows the Job and its pods through one watch per runtime
// instance: a SharedInformerFactory of Jobs and pods in K8S_NAMESPACE
// labelled jetrun.io/managed-by=jetrun, started by the first Wait or
// followed log. Informers re-list and re-watch on their own when a watch
// drops or expires; a Job the cache does not hold yet is read from the
// API server, and Wait re-evaluates its Job at least every second (the
// start timeout needs no event). The two caches fill independently (after
// a re-list the Job's may be ahead of its pods'), so Wait settles a final
// status on the pods as the API server lists them. Inspect reads the Job and its pods from the
// API server itself, never from the cache. Both map them with the same
// rules (see jobStatus):
//
//	annotation jetrun.io/failure                   failed: the runtime gave up on the pod (below)
//	condition Complete                             succeeded, exit code 0
//	condition Failed, reason DeadlineExceeded      failed, TimedOut, "timeout after 2s (DeadlineExceeded: ...)"
//	condition Failed, reason BackoffLimitExceeded  failed with the worker container's terminated state: "exit code 3",
//	                                               "exit code 143 = 128+SIGTERM", "OOMKilled: the container exceeded
//	                                               its memory limit of 128Mi (exit code 137 = 128+SIGKILL)", or the
//	                                               pod's own reason (Evicted, ...) when the container has none
//	condition Failed, another reason               failed, "job failed: <reason>: <message>"
//	suspended                                      pending, "suspended"
//	no pod yet, pod Pending                        pending, with the container's waiting reason or Unschedulable
//	container waiting in ErrImagePull,             pending; once the pod is older than JETRUN_K8S_START_TIMEOUT:
//	ImagePullBackOff, InvalidImageName,            failed, "the worker never started: image cannot be pulled
//	ErrImageNeverPull, CreateContainerConfigError, (ImagePullBackOff: ...; image ...), pod ... pending for 5m0s
//	CreateContainerError                           (start timeout 5m0s)"
//	pod Running, or finished before its Job        running
//	no Job                                         not_found
//
// Only Wait acts on a start timeout: it records the reason on the Job
// (annotations jetrun.io/failure and jetrun.io/failed-at, so every
// instance reports the same failure while the Job goes) and deletes the
// Job with foreground propagation, with its pod and Secret; Inspect only
// reports it. Once the Job is gone the failure lives only in the
// dispatcher's job record. An unschedulable pod is no start failure: a
// cluster autoscaler may be adding a node; the job's deadline bounds it.
//
// Logs reads the worker container's output of the Job's pod (the newest
// one whose container started) through LogSource, by default pods/log of
// the API server, which proxies the kubelet. With Follow it first waits
// for the container to start (or the Job to end without it), and the
// reader ends once the Job is finished. Logs live as long as the pod:
// until the TTL deletes the Job (JETRUN_K8S_TTL, 1 hour by default), or
// until Stop. `submit logs` after that finds nothing; set the TTL to
// cover the time operators need, or collect pod logs cluster-wide (a log
// agent on the nodes), which Kubernetes leaves to the cluster.
//
// # Secrets
//
// Spec.Secrets go into a per-attempt Secret named like the Job, in
// K8S_NAMESPACE, whose controlling owner is the Job: the garbage
// collector deletes it with the Job (Stop, TTL, or anyone deleting the
// Job). The container reads it with envFrom (secretRef, not optional), so
// the values never appear in the Job or pod spec, only in the Secret; a
// key in both Spec.Env and Spec.Secrets is delivered as the secret. The
// runtime never logs a value nor puts one in an error. Whoever may read
// Secrets in K8S_NAMESPACE (the dispatcher's Role, cluster admins) may
// read them; encrypt Secrets at rest in etcd if that matters in your
// cluster.
//
// # Testing
//
// The tests need the Kubernetes harness binaries: kube-apiserver,
// kube-controller-manager (v1.37.2) and etcd, built on the machine by
// scripts/k8s-harness.sh, which prints their directory. With
// KUBEBUILDER_ASSETS set to it, the first test starts the harness (about
// 7 s): kube-apiserver and etcd through controller-runtime's envtest,
// and kube-controller-manager with the job-controller,
// ttl-after-finished-controller and garbage-collector-controller. Without
// KUBEBUILDER_ASSETS the tests that need it are skipped, saying why.
//
//	make k8s-test
//	KUBEBUILDER_ASSETS=$(scripts/k8s-harness.sh) go test -race ./pkg/runtimes/kubernetes/
//
// What is real: the API server (validation, admission, RBAC: the runtime
// runs as a user holding only the Role above), etcd, the Job controller
// (pods, conditions, deadlines), the TTL controller and the garbage
// collector (foreground deletion, owner references), client-go and its
// informers.
//
// What is played: there is no scheduler and no kubelet. A fake kubelet in
// the tests (kubelet_test.go) binds each new pod to a fake node, runs the
// real worker binary as a local process with the container's args and
// environment (resolving envFrom Secrets through the API, and reporting
// CreateContainerConfigError while a Secret is missing), writes the pod's
// status as the kubelet does (Running with a running container, then
// Succeeded or Failed with a terminated container state and the exit
// code), honours graceful deletion (SIGTERM, SIGKILL after the deletion
// grace period, then the final delete with grace 0), reports
// ErrImagePull then ImagePullBackOff for the image jetrun/worker:nope,
// and an OOMKilled container (exit code 137) for jetrun/worker:oom. Pod
// logs are played too: pods/log is the API server proxying the kubelet,
// which does not exist, so the tests give the runtime a LogSource that
// reads the output the fake kubelet captured (the one seam in the
// runtime for tests); the default source, the API's GetLogs, is not
// exercised.
//
// The tests: the conformance suite (package runtimetest) with Reopen (a
// second runtime with its own client and watch) and CheckGone (no Job,
// pod or Secret of a stopped workload remains; a Job that timed out may
// stay, finished, with no live pod); the Job and Secret read back field
// by field; names from uppercase, '_' and 64-character job ids accepted
// by the API server; invalid specs refused before create and by the API
// server, leaving nothing; an image pull failure reported after the
// start timeout and its Job deleted; a deadline enforced by the Job
// controller; OOMKilled; the TTL controller removing a finished Job, and
// the garbage collector its pod and Secret; a launch interrupted between
// the Job and its Secret finished by the next Start; Stop confirming the
// Job gone; Wait surviving its connections to the API server being cut
// for 3 s (through a TCP proxy) while the Job finishes. BenchmarkLatency
// measures Start → pod Running → Job Complete in the harness (no image
// pull and no container runtime: the control plane's share). Name,
// status and configuration rules have unit tests that need no cluster.
package kubernetes
