// Package jobs defines jetrun's job kinds: what a job does, independent of
// where it runs. A kind validates a submission's params and turns them into
// a Plan: the worker's command line, its plain environment, the named
// secrets it needs, its resources and, optionally, its image. Runtimes
// (package runtimes) decide where the plan runs; the dispatcher (package
// dispatch) decides when.
//
// # Kinds
//
// A Kind is a stateless value with three methods:
//
//   - Name is the stable wire name, the <kind> token of
//     "jetrun.jobs.submit.<kind>" and the "kind" field of a submission:
//     lowercase letters, digits and '_', starting with a letter
//     (messages.ValidKind). Never a Go type name: renaming the type must not
//     change the wire.
//   - Defaults are the resources a job of the kind gets unless it asks for
//     others.
//   - Plan validates the params (a JSON object) and returns the Plan; its
//     errors wrap ErrInvalidParams. Params are decoded strictly: an unknown
//     field is an error, because a misspelt parameter silently ignored is a
//     job that does the wrong thing.
//
// Plan.Command is the worker's argument list starting with its operation,
// e.g. ["smoke", "--sleep=2s"]; the runtime supplies the executable (the
// local runtime's WORKER_BIN, a container runtime's image). Plan.Image, when
// set, replaces the dispatcher's WORKER_IMAGE for this kind.
//
// The kinds that ship today:
//
//	smoke   the diagnostic job: sleeps, prints, reports progress and exits
//	        with a chosen code (SmokeParams). It exercises the queue, the
//	        dispatcher, the runtime, the worker and the events without
//	        touching any data store, so "submit smoke --runtime R --wait"
//	        tells an operator whether runtime R is set up right.
//
// The indexing kinds (collection, upload_file, upload_repo) are not
// implemented yet; their resource defaults are fixed below.
//
// # The registry
//
// A Registry is an explicit set of kinds; there are no globals and no init
// functions. Builtin returns a new registry holding every kind that ships
// with jetrun, listed in one place, builtin.go. Tests and embedders build
// their own with NewRegistry(kinds...). Register refuses an invalid or
// duplicate name; Lookup wraps ErrUnknownKind and lists the known kinds;
// Names lists them sorted.
//
// Registry.Prepare is what the dispatcher calls for every submission, when
// it arrives and again for each launch: it looks the kind up, calls Plan
// and resolves the resources. Any error from Prepare on arrival makes the
// submission "rejected", with the error text as the reason, so write
// errors for the operator who sent the job: name the field and the bad
// value.
//
// # Resources
//
// Resources are CPU (millicores), memory (bytes) and the timeout of one
// attempt. Prepare resolves each field in this order:
//
//  1. the submission's own "resources" ({"cpu":"2","memory":"4Gi",
//     "timeout":"1h"}; Kubernetes notation for cpu and memory, a Go
//     duration for timeout), field by field;
//  2. for the timeout only, the dispatcher's JOB_TIMEOUT (--job-timeout,
//     Options.Timeout), which replaces every kind's default timeout;
//  3. the kind's Defaults.
//
// Defaults per kind:
//
//	kind         cpu    memory   timeout
//	smoke        0.1    64Mi     5m
//	collection   0.25   256Mi    5m
//	upload_file  1      2Gi      30m
//	upload_repo  2      4Gi      1h
//
// How a runtime applies them is the runtime's business: the local runtime
// enforces only the timeout; the container runtimes map cpu and memory to
// their limits (Docker: NanoCPUs and Memory; Kubernetes: requests and
// limits; AWS Batch: VCPU and MEMORY, rounded up to a valid Fargate
// size). Resources.String renders them in the wire notation, e.g.
// "cpu=2 memory=4Gi timeout=1h0m0s".
//
// # Secrets
//
// Secret values never travel in submissions, events, records or logs. A
// kind that needs one returns a SecretRef in its Plan: the name of a
// credential in the dispatcher's configuration and the environment
// variable the worker reads it from. The dispatcher resolves the name
// through its Credentials function (cmd/dispatcher reads
// JETRUN_CREDENTIAL_<NAME>, the name upper-cased with '-' as '_') and
// hands the value to the runtime in Spec.Secrets, which each runtime
// delivers through its own secret mechanism (the local runtime: the
// child's environment; its spec.json keeps only the variable names). A
// credential that is not configured fails the job permanently: it is dead
// after its first attempt, with the reason "credential ... is not
// configured on dispatcher ...".
//
// Besides the plan's environment every worker receives:
//
//	JETRUN_JOB_ID     the job id
//	JETRUN_KIND       the kind
//	JETRUN_ATTEMPT    the attempt, from 1
//	JETRUN_PREFIX     the subject prefix
//	JETRUN_RUNTIME    the runtime's name
//
// and the NATS connection variables of natsconn.Options.WorkerEnv
// (NATS_URL, and NATS_PASSWORD, NATS_CREDS_DATA, ... as secrets). NATS_URL
// is the dispatcher's own unless cmd/dispatcher's --worker-nats-url
// (JETRUN_WORKER_NATS_URL) names another address for workers. With narrow
// worker identities (package natsauth, on with dispatcher --dev) the
// worker gets a token of its own (NATS_TOKEN) instead of the dispatcher's
// credentials. A worker that reaches NATS reports its progress on its
// attempt's worker subject; the dispatcher publishes the events (package
// progress).
//
// # Adding a job kind
//
//  1. Implement Kind in pkg/jobs/<kind>.go. Name the type without stutter
//     (jobs.UploadRepo) and assert it: var _ Kind = UploadRepo{}. Give it
//     a params struct with documented, explicitly named JSON fields and a
//     Validate method; decode with decodeParams (strict) in Plan; return
//     the defaults of the table above from Defaults; return the worker
//     operation and its flags as Command, plain settings as Env (e.g.
//     QDRANT_HOST) and credentials as Secrets (e.g. the embedding
//     credential named in the params), never a secret value.
//  2. List the kind in Builtin in builtin.go, the one place built-in kinds
//     are registered.
//  3. Add the worker operation in cmd/worker: a case in run's switch and a
//     line in the usage text, flags that parse into the same params struct
//     (validate them again: the worker may be started by hand), progress
//     through progress.FromEnv (nil-safe), and the exit code as the result
//     (0 success, anything else a failed attempt).
//  4. Test: a table test of Plan (valid params, an unknown field, each
//     range, the rendered Command), a test of the worker operation (cmd/worker's
//     run takes args, getenv, stdout and stderr, so it runs in process), and
//     an end-to-end run through the dispatcher on the local runtime. Document
//     the params for producers in other languages next to the wire
//     contract (pkg/messages/SCHEMA.md).
//
// No dispatcher or runtime code changes: the dispatcher runs whatever
// Builtin lists, and "submit job KIND --params JSON" submits any kind.
package jobs
