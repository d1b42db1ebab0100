// Package runtimes is the contract between jetrun's dispatcher and the
// environments that run its workers: HOW a job runs, where package jobs
// says WHAT it does. It holds the Runtime interface, the Spec a runtime
// launches, the Handle that names a launched workload, and the Registry
// that maps RUNTIME_BACKEND names to factories. Each runtime lives in its
// own package below this one (local, docker, kubernetes and awsbatch,
// registered as "local", "docker", "kubernetes" and "aws_batch"), so that
// a heavy SDK is compiled only by the runtime that needs it. The conformance suite every runtime passes is
// package runtimetest.
//
// # The contract
//
// A runtime is thin and honest: it talks to its backend and reports what
// the backend says. Retries, ownership, events and timeouts-as-policy belong
// to the dispatcher. The methods:
//
//   - Start launches the workload named by Spec.Handle and returns its
//     handle. It is idempotent for one handle name: starting a name that
//     already exists, running or finished, launches nothing and returns the
//     handle. The dispatcher relies on this to repeat a launch after a crash
//     without running an attempt twice. Start should return once the
//     workload is launched or submitted, not when it ends; the dispatcher
//     gives it 30 s. An error wrapping ErrInvalidSpec (bad name, resources
//     out of range) tells the dispatcher the job can never run here: it is
//     dead at once. Any other error is a failed attempt, retried.
//   - Inspect reports the workload's Status: its Phase (pending, running,
//     succeeded, failed, or not_found with a nil error when the workload does
//     not exist), the exit code when done (-1 if unknown), a Reason in words
//     ("exit code 3", "timeout after 1s", "killed by SIGKILL"), TimedOut when
//     the runtime ended it at its deadline, and start and finish times.
//     Succeeded means exit code 0; anything else that ended is failed.
//   - Wait blocks until the workload is done and returns its final status,
//     or an error wrapping ErrNotFound if it does not exist. It must return
//     when its context is cancelled: the dispatcher cancels it when it stops
//     watching (cancel, shutdown, lost ownership).
//   - Logs returns the workload's combined stdout and stderr; with
//     LogOptions.Follow the reader stays open until the workload ends.
//   - Stop asks the workload to stop (SIGTERM or the backend's equivalent),
//     waits up to grace, then kills it, and returns only once it is
//     confirmed gone. Stopping a finished or missing workload is not an
//     error and does not change a finished workload's result.
//
// The Spec carries everything one attempt needs: the Handle, job id, kind
// and attempt; the worker Image (container runtimes; the local runtime runs
// its configured binary); the worker's argument list (Command, starting with
// the operation); plain Env; Secrets, which a runtime must deliver through
// its secret mechanism and never log (Spec.AllEnv merges both for runtimes
// whose mechanism is the child's environment); the resolved
// Resources, whose Timeout the runtime enforces itself; and Labels.
//
// The job's timeout is enforced twice: by the runtime (its own deadline,
// reported as TimedOut), and by the dispatcher's watchdog, which calls Stop
// if the workload outlives started + timeout + 30 s.
//
// Three optional interfaces, which the dispatcher detects with a type
// assertion:
//
//   - NodeLocal (Node() string): the runtime's workloads live on one host
//     and only a runtime instance on that host can inspect, adopt or stop
//     them (the local runtime, whose node is JETRUN_NODE, else the
//     hostname; the docker runtime, whose node is the daemon's ID, or
//     JETRUN_DOCKER_NODE).
//     The dispatcher writes the node into the handle (Handle.Node) before
//     Start, and a dispatcher on another node that takes over a "starting"
//     or "running" job of the runtime leaves it alone: it Naks the message
//     with a delay of AckWait, for a dispatcher on that node. Instances
//     sharing one backend state (the local runtime's state directory) must
//     report the same node. Runtimes whose workloads every dispatcher
//     reaches through the backend (Kubernetes, AWS Batch) do not implement
//     it.
//   - Pruner (Prune(finishedBefore) (int, error)): the runtime keeps state of
//     finished workloads on its own (the local runtime's state directories,
//     the docker runtime's exited containers).
//     Every hour, and once at start, the dispatcher calls Prune with
//     now − StreamConfig.JobsMaxAge (7 days); the runtime removes the state
//     of workloads that finished before then and returns how many it
//     removed.
//   - SecretChecker (CheckSecrets(names) error): the runtime cannot deliver
//     every secret (AWS Batch delivers only those it has a reference for).
//     The dispatcher calls it at start with the names every worker gets, so
//     that a configuration that would fail every job fails once, at start.
//
// # Handles
//
// A Handle (= messages.Handle) names one attempt's workload: the runtime's
// name, the deterministic name HandleName(jobID, attempt) =
// "jetrun-<job_id>-a<attempt>", optionally the backend's own id, and, for a
// NodeLocal runtime, the node. The dispatcher writes the handle into the
// job record before it calls Start, so a restarted or different dispatcher
// finds the workload again with Inspect and re-attaches (adoption); a
// runtime must therefore find a workload by name alone, from a fresh
// instance, across process restarts. Runtimes with
// stricter naming rules derive their object names from the handle name
// (Kubernetes: DNS-1123, at most 63 characters; AWS Batch:
// [A-Za-z0-9_-]{1,128}).
//
// Objects that carry labels or tags get LabelJobID ("jetrun.io/job-id"),
// LabelAttempt ("jetrun.io/attempt") and LabelKind ("jetrun.io/kind"); the
// dispatcher puts them in Spec.Labels, next to the job's own labels.
//
// # Registry
//
// A Registry maps names (the values of RUNTIME_BACKEND and of a
// submission's "runtime") to a Factory:
//
//	type Factory func(ctx context.Context, getenv func(string) string, log zerolog.Logger) (Runtime, error)
//
// A factory reads its configuration through getenv, never os.Getenv, so
// the dispatcher can supply defaults and tests can pass a map; ctx bounds
// what opening asks of the backend (Open gives it DefaultOpenTimeout, 30 s,
// unless the caller's context has a deadline), so no factory needs a
// timeout of its own. There are no
// globals and no init-time registration: cmd/dispatcher/runtimes.go builds
// the registry and lists every built-in runtime in one place. Register
// panics on a duplicate name, like database/sql.Register; Open builds a
// runtime and wraps ErrUnknownRuntime for a name that is not registered;
// Names lists them sorted. The dispatcher's --runtime flag
// (RUNTIME_BACKEND) takes a comma-separated list; the first is the default
// for jobs that name none.
//
// # Conformance suite
//
// Package runtimetest runs the same tests against every runtime, with real
// workloads of the real worker binary (its smoke operation):
//
//	func TestConformance(t *testing.T) {
//		runtimetest.Run(t, func(t *testing.T) runtimetest.Harness {
//			dir := t.TempDir()
//			rt := newRuntime(t, dir)
//			return runtimetest.Harness{
//				Runtime: rt,
//				Reopen:  func(t *testing.T) runtimes.Runtime { return newRuntime(t, dir) },
//			}
//		})
//	}
//
// (package local's, without its CheckGone).
// The Harness supplies the Runtime under test; Reopen, a second instance
// over the same backend (as a restarted dispatcher would build; without it
// the adoption tests are skipped); Image and Env for container runtimes;
// Timeout per workload (default 60 s); and CheckGone, which fails the test
// if anything of a stopped workload remains. The cases, run in parallel:
//
//	Succeeds             exit 0 → succeeded; Inspect agrees after Wait
//	ExitCode             exit 3 → failed, exit code 3, reason mentions 3
//	StartIsIdempotent    a second Start, running and after the end, runs nothing
//	NotFound             Inspect → not_found, Wait → ErrNotFound, Stop → nil
//	EnvAndSecrets        env and secrets reach the worker; no secret value in the logs
//	Logs                 the whole output, 500 lines
//	LogsFollow           a followed log ends when the workload ends, complete
//	Timeout              the runtime's own deadline: failed, TimedOut, "timeout"
//	Stop                 a worker that honours SIGTERM stops well within the grace
//	StopIgnoringSIGTERM  a worker that ignores SIGTERM is killed after the grace
//	StopFinishedIsNoop   Stop leaves a finished result unchanged
//	Adopt                a second instance sees the running workload and its result
//	AdoptFinished        a second instance sees a finished workload's result
//	InvalidSpecLaunchesNothing  a refused spec is ErrInvalidSpec and leaves nothing
//	WaitReturnsOnCancel  Wait returns when its context ends; the workload runs on
//	CloseLeavesWorkloads Close twice is fine; the next instance adopts the workload
//	NodeLocalHandle      a NodeLocal runtime's handles carry its node (others skip)
//
// # Adding a runtime
//
//  1. Create the package pkg/runtimes/<name> (no stutter: docker.Runtime,
//     not docker.DockerRuntime). Export const Name, the registry name; a
//     Config struct; New(cfg, log); and assert the interface:
//     var _ runtimes.Runtime = (*Runtime)(nil). Import the backend's SDK
//     only here. Start begins with spec.Validate(), before any call to
//     the backend; Close releases connections and background work but
//     never the workloads, and may be called twice.
//  2. Write a Factory that reads the configuration through getenv, using
//     the seed's variable names where they apply (WORKER_IMAGE,
//     DOCKER_NETWORK, K8S_NAMESPACE, K8S_SERVICE_ACCOUNT,
//     K8S_IMAGE_PULL_SECRETS, AWS_REGION, AWS_BATCH_JOB_QUEUE,
//     AWS_BATCH_JOB_DEFINITION), and fails with a message naming the
//     variable to set.
//  3. Register it in cmd/dispatcher/runtimes.go:
//     r.Register(docker.Name, docker.Factory). Implement NodeLocal only if
//     a workload can be seen from one host alone, and Pruner only if the
//     runtime keeps state of finished workloads that nothing else removes.
//  4. Run runtimetest.Run from the package's tests, with Reopen and
//     CheckGone, against a real backend (or an in-process server speaking
//     its protocol); add runtime-specific tests (naming, labels, secrets
//     mechanism) beside it.
//  5. Write doc.go with the shared template of runtime packages (see
//     package local): # Configuration (a table of the environment
//     variables, defaults and meanings), # Cancellation (what Stop does on
//     this backend), # Handle state (where the workload's state lives and
//     how Inspect decides its phase) and # Testing (what the tests need and
//     the command that runs them). Add the runtime's column to
//     docs/runtimes.md and its section to docs/troubleshooting.md.
package runtimes
