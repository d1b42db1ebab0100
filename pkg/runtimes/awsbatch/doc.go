// Package awsbatch is the runtime that runs each workload as an AWS Batch
// job: a container on the Fargate or EC2 compute environments behind one
// job queue (see deployments/aws for the CloudFormation that creates
// them).
//
// It talks to Batch and CloudWatch Logs with the AWS SDK for Go v2
// (github.com/aws/aws-sdk-go-v2).
//
//	rt, err := awsbatch.New(ctx, awsbatch.Config{AWS: awsCfg, JobQueue: "jetrun", JobDefinition: "jetrun-worker"}, log)
//
// or, from the environment, awsbatch.Factory (registered as "aws_batch" in
// cmd/dispatcher/runtimes.go: RUNTIME_BACKEND=aws_batch). New reads the job
// definition and the job queue, so wrong names or credentials fail at once.
//
// Each attempt is one SubmitJob of the configured job definition to the
// configured queue:
//
//   - jobName = the handle name, "jetrun-<job_id>-a<attempt>" (job ids are
//     [A-Za-z0-9][A-Za-z0-9_-]{0,63}, so it always fits Batch's rule: up to
//     128 letters, digits, '-' and '_', starting with a letter or digit);
//   - containerOverrides: command = Spec.Command (the image's entrypoint is
//     the worker, /worker), environment = Spec.Env without the secrets
//     but for Spec.AttemptSecrets (see Secrets), resourceRequirements VCPU and MEMORY (MiB) from the job's
//     resources: on Fargate the smallest valid vCPU/memory combination that
//     holds them (the collection job's 0.25 CPU / 256 MiB becomes 0.25 vCPU
//     / 512 MiB), on EC2 whole vCPUs and MiB;
//   - timeout.attemptDurationSeconds = the job's timeout in whole seconds,
//     at least Batch's minimum of 60; retryStrategy.attempts = 1 (the
//     dispatcher owns retries); propagateTags = true (the tags reach the
//     ECS task, for cost allocation);
//   - tags: jetrun.io/job-id, jetrun.io/attempt, jetrun.io/kind,
//     jetrun.io/managed-by=jetrun, jetrun.io/timeout (the exact timeout),
//     JETRUN_BATCH_TAGS and the job's labels; a label never overrides
//     an operator's tag or a jetrun.io tag (as with docker).
//
// Everything Batch would refuse is refused before any API call, as
// runtimes.ErrInvalidSpec (a permanent failure: the job is dead-lettered,
// not retried): a name, tags beyond Batch's limits (50 tags, keys of
// 1-128 and values of up to 256 letters, digits, spaces and + - = . _ : /
// @, no aws: prefix), environment names starting with AWS_BATCH, more
// resources than the largest Fargate size (16 vCPU, 120 GiB), container
// overrides longer than 7168 characters (ECS allows 8192, which Batch's
// own variables share), a secret with no reference. Errors from SubmitJob
// itself, ClientException included, are not permanent: Batch answers
// ClientException for missing permissions, a disabled queue or a
// deregistered definition too, which an operator can fix, so the
// dispatcher retries the attempt with backoff. The image is the job
// definition's: Batch cannot override it at submission, so WORKER_IMAGE
// and Spec.Image are not used.
//
// # Status
//
// DescribeJobs reports the job's status: SUBMITTED, PENDING, RUNNABLE and
// STARTING are pending, RUNNING is running, SUCCEEDED succeeded and FAILED
// failed, with the container's exit code, Batch's statusReason and the
// container's reason in the reason ("exit code 137 = 128+SIGKILL;
// OOMKilled: OutOfMemoryError: Container killed due to memory usage").
//
// One poll serves every job being waited on: every PollInterval
// (JETRUN_BATCH_POLL, 5 s) it describes them all, 100 job ids per
// DescribeJobs call (Batch's maximum), and a job seen for the first time
// is described at once with the other new ones. Inspect answers from that
// poll while it is fresh. So the DescribeJobs calls of N running jobs are
// ceil(N/100) per interval, whatever N: 1,000 jobs cost 10 calls per 5 s.
// API calls per job over its life, at the defaults: ListJobs 1 (Start's
// look for a job of that name, which makes Start idempotent), SubmitJob 1,
// DescribeJobs 1 (the dispatcher's first Inspect) plus its share of the
// poll, 1/100 of a call per 5 s it lives (see BenchmarkAPICalls).
//
// The same poll ends the jobs the runtime must end itself:
//
//   - a job RUNNING past its own timeout (tag jetrun.io/timeout) is
//     terminated with the reason "jetrun: timeout after <d>" and reported
//     as timed out: Batch's own timeout cannot be shorter than 60 s and
//     fires "on a best-effort basis"; Batch's "Job attempt duration
//     exceeded timeout" is reported as a timeout too;
//   - a job not started RunnableTimeout after its submission
//     (JETRUN_BATCH_RUNNABLE_TIMEOUT, 30 m; SUBMITTED, PENDING or RUNNABLE:
//     no compute environment can place it, or none has capacity; or
//     STARTING: a task that never gets its container running) is
//     cancelled (or terminated, once STARTING) with a reason that says so
//     and names its resources.
//
// Throttling (ThrottlingException, TooManyRequestsException) and 5xx
// answers are retried by the SDK's standard retryer with jittered
// exponential backoff, up to 8 attempts and 20 s between them, without
// the client-side retry quota (NewRetryer). Other errors are returned as
// they are, wrapped with the operation.
//
// # Configuration
//
//	variable                        default          meaning
//	AWS_REGION                      (shared config)  the region of the queue
//	AWS_BATCH_JOB_QUEUE             (required)       job queue, name or ARN
//	AWS_BATCH_JOB_DEFINITION        (required)       job definition: name (latest active revision), name:revision or ARN
//	JETRUN_BATCH_LOG_GROUP          see below        CloudWatch log group of the jobs' streams
//	JETRUN_BATCH_POLL               5s               interval of the shared DescribeJobs poll
//	JETRUN_BATCH_RUNNABLE_TIMEOUT   30m              fail a job not started this long after submission (negative: never)
//	JETRUN_BATCH_SECRETS                             NAME=arn,... references of secrets the worker resolves (see Secrets)
//	JETRUN_BATCH_TAGS                                k=v,... tags added to every job
//
// Credentials come from the SDK's standard chain: environment, shared
// config and credentials files (AWS_PROFILE), web identity (EKS IRSA, or
// AWS_ROLE_ARN with AWS_WEB_IDENTITY_TOKEN_FILE), the ECS container role,
// the EC2 instance role; AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_BATCH are
// honoured. The log group is JETRUN_BATCH_LOG_GROUP, else the job
// definition's awslogs-group option, else /aws/batch/job, where Batch
// writes when the definition says nothing. The dispatcher's IAM
// permissions are in deployments/aws (the dispatcher policy).
//
// # Cancellation
//
// Stop calls CancelJob while the job has not started (SUBMITTED, PENDING,
// RUNNABLE) and TerminateJob once it is STARTING or RUNNING (CancelJob
// leaves those running), with the reason "jetrun: stopped by the
// dispatcher", then polls DescribeJobs until the job is FAILED. Batch sends
// SIGTERM and, 30 s later, SIGKILL; it takes no grace period per call, so
// Stop's grace is not used. Stopping a finished or unknown job does
// nothing. Batch keeps finished jobs (and CloudWatch their logs) on its
// own; there is nothing to remove.
//
// # Handle state
//
// Handle.Name is the job name and Handle.ID the Batch job id, set by
// Start. A handle without an ID (the dispatcher recorded the handle before
// Start, then died) is found by ListJobs on the queue with a JOB_NAME
// filter, which returns jobs in every status; the newest of that name
// wins. So Start is idempotent for a handle name: a job of that name in
// the queue is adopted, not submitted again. ListJobs is eventually
// consistent: a job submitted a moment before a dispatcher crash may not
// be listed yet; the dispatcher writes the handle before Start and only one
// dispatcher owns a job, which keeps that window to a crash between
// SubmitJob and the record of its answer. Batch lists jobs for about 7
// days after they finish.
//
// # Logs
//
// Logs reads the job's CloudWatch Logs stream (container.logStreamName,
// set once the job is STARTING) with GetLogEvents from its head, one line
// per event. Follow waits for the stream, then reads until the job has
// ended and the stream stays drained for 2 s (events arrive in CloudWatch
// shortly after they are written).
//
// # Secrets
//
// A secret's value never goes into the container overrides, which
// DescribeJobs shows to anyone allowed to call it, with one exception:
// Spec.AttemptSecrets, the attempt's own NATS token (with worker
// identities). It cannot exist in Secrets Manager before the job,
// so it is passed as override environment, readable by DescribeJobs
// callers for the attempt's life, and it grants only that attempt's
// subjects until it expires. A secret of the spec is either
// declared by the job definition itself (containerProperties.secrets,
// valueFrom a Secrets Manager or SSM ARN: Batch injects it, with the
// execution role), or mapped to an ARN by JETRUN_BATCH_SECRETS: the
// runtime passes the references in JETRUN_SECRET_REFS and the worker
// resolves them at start with its job role (package awssecrets). A secret
// in neither place fails the job before submission, naming the secret;
// the secrets every worker gets (the NATS password, the Qdrant API key)
// are checked when the dispatcher starts (CheckSecrets), which refuses to
// start without them. The values the dispatcher holds are not compared
// with the stored ones.
//
// # Testing
//
// The tests run the real SDK against internal/awstest, an in-process server that
// speaks the Batch (REST-JSON) and CloudWatch Logs, Secrets Manager and
// SSM (JSON 1.1) protocols, checks each request's SigV4 signature, answers
// errors in AWS's shapes, moves jobs through Batch's states over time and
// runs their containers as real worker processes: the runtimetest
// conformance suite passes against it, and tests pin the request bodies
// the SDK sends. No real AWS account is used; the figures of the package
// doc come from that server's call counts.
package awsbatch
