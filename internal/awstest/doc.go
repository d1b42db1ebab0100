// Package awstest is an in-process AWS endpoint for tests: one HTTP server
// on 127.0.0.1 that speaks enough of AWS Batch, CloudWatch Logs, Secrets
// Manager and SSM Parameter Store for the real aws-sdk-go-v2 clients, and
// runs each Batch job as a local process (or a Go function).
//
//	s := awstest.Start(t, awstest.Config{Images: map[string]string{"jetrun/worker:1": workerBinary}})
//	queue := s.CreateJobQueue("jobs")
//	s.RegisterJobDefinition(awstest.JobDefinition{Name: "worker", Image: "jetrun/worker:1", Platform: "FARGATE", VCPU: "1", MemoryMiB: 2048})
//	cfg := aws.Config{Region: s.Region(), BaseEndpoint: aws.String(s.URL()),
//		Credentials: credentials.NewStaticCredentialsProvider(awstest.DefaultAccessKeyID, awstest.DefaultSecretAccessKey, "")}
//	client := batch.NewFromConfig(cfg)
//
// A process that should reach the server (a job's worker does) gets
// Server.Env: static credentials, the region and AWS_ENDPOINT_URL, which
// config.LoadDefaultConfig honours for every service.
//
// # Wire protocols (faithful)
//
// Requests with an X-Amz-Target header are awsJson1_1:
// Logs_20140328.GetLogEvents, secretsmanager.GetSecretValue and
// AmazonSSM.GetParameter. Everything else is Batch restJson1, POST
// /v1/<operation in lower case> as the SDK's serializers build it:
// SubmitJob, DescribeJobs, ListJobs, CancelJob, TerminateJob,
// DescribeJobDefinitions, DescribeJobQueues and RegisterJobDefinition.
// Other operations answer UnknownOperationException.
//
// Every request must carry a valid SigV4 signature for the configured
// access key, region and the operation's service (batch, logs,
// secretsmanager, ssm), dated within 15 minutes: the server rebuilds the
// request from exactly its signed headers and body hash and signs it again
// with the SDK's own v4 signer. A refused request answers
// MissingAuthenticationTokenException, IncompleteSignatureException,
// UnrecognizedClientException or InvalidSignatureException with AWS's
// wording (HTTP 403 for Batch, 400 for the awsJson services) and counts
// in Server.Rejected.
//
// Errors have AWS's shapes, as the SDK's deserializers read them: Batch
// (restJson1) sends the type in the X-Amzn-ErrorType header and
// {"message": ...} in the body, so a ClientException surfaces as
// *types.ClientException; awsJson1_1 services send {"__type": ...,
// "message": ...} ("Message" for Secrets Manager, as its error shapes
// name the member). Server.Fail injects any error for the next calls of an
// operation: Throttling is what Batch answers when throttled (429
// TooManyRequestsException "Too Many Requests.", as seen in SDK reports),
// LogsThrottling CloudWatch's (400 ThrottlingException "Rate exceeded"),
// ServerError Batch's ServerException (500); the SDK retries all three.
// Times are epoch milliseconds in Batch and Logs and epoch seconds in the
// Secrets Manager and SSM answers, as each service's model says.
//
// # Batch (faithful to the documentation)
//
// SubmitJob validates as Batch does: the job name pattern; queue and
// definition by name, name:revision or ARN (latest revision without one);
// timeout.attemptDurationSeconds ≥ 60; retryStrategy.attempts 1–10; at
// most 50 tags, keys 1–128 characters without the aws: prefix, values up
// to 256; VCPU/MEMORY/GPU resource requirements, with the Fargate
// VCPU/MEMORY combinations of the ResourceRequirement documentation for a
// FARGATE definition; override environment names not starting with
// AWS_BATCH; no empty command argument. Texts follow Batch's where known
// ("JobQueue x not found.", "JobDefinition name x does not exist or is not
// in ACTIVE status", "Maximum number of jobs supported is  100 ."), others
// are written in Batch's style.
//
// A job goes SUBMITTED → PENDING → RUNNABLE → STARTING → RUNNING →
// SUCCEEDED or FAILED, staying Config.Timing in each state before RUNNING;
// HoldRunnable keeps jobs RUNNABLE (statusReason CAPACITY:...) until
// released. createdAt is set at submission, startedAt at RUNNING,
// stoppedAt at the end; the ECS task ARN and the log stream name
// (<definition>/default/<task id>) from STARTING. The container runs the
// override command, else the definition's, with the definition's
// environment, the overrides, the definition's secrets resolved from this
// server's Secrets Manager and SSM stores (ARN, ":json-key:stage:id"
// suffixes, or a parameter name), AWS_BATCH_JOB_ID, AWS_BATCH_JQ_NAME,
// AWS_BATCH_JOB_ATTEMPT, AWS_BATCH_CE_NAME and Server.Env. DescribeJobs
// shows the definition and override environment (never the secrets'
// values, which is why secrets must not travel as overrides).
//
// By default the image's executable (Config.Images) runs with the command
// as arguments, in its own process group and working directory, with
// exactly that environment plus PATH, HOME and TMPDIR; stdout and stderr
// go, one event per line, to the stream in group /aws/batch/job, created
// when the container starts. Exit 0 is SUCCEEDED, anything else FAILED;
// both with statusReason "Essential container in task exited" and
// container.exitCode, 128+signal for a process killed by a signal. When
// the main process exits the rest of its group is killed, as a container
// ends with its essential process. An image missing from Images, or a
// secret that cannot be resolved, fails the job with statusReason "Task
// failed to start" and container.reason CannotPullContainerError: … or
// ResourceInitializationError: …, without a log stream. Config.Run
// replaces processes altogether.
//
// TerminateJob of a STARTING or RUNNING job sends SIGTERM to the group,
// SIGKILL Config.StopTimeout later, and fails the job with the given
// reason (isTerminated); of an earlier job, cancels it (FAILED, the
// reason, isCancelled). CancelJob cancels SUBMITTED, PENDING and RUNNABLE
// jobs and answers 200 without effect for STARTING and RUNNING ones, as
// documented. Both are no-ops on finished jobs and answer 200 for an
// unknown job id, as Batch does (aws/aws-cli#2551); both need a reason. A
// timeout (from SubmitJob, else the definition) counts from startedAt and
// ends the job the same way with "Job attempt duration exceeded timeout".
// retryStrategy.attempts > 1 runs a failed attempt again from RUNNABLE
// (timeouts and terminations are not retried); each attempt is listed in
// attempts[].
//
// DescribeJobs takes at most 100 ids. ListJobs lists a queue's jobs newest
// first: with a filter (JOB_NAME, case-insensitive with a trailing * for a
// prefix; JOB_DEFINITION; BEFORE_CREATED_AT; AFTER_CREATED_AT) jobs of any
// status, else those of jobStatus (default RUNNING); pages of maxResults
// (at most and by default 100 with a filter, 1000 without, per the
// ListJobs documentation) with a nextToken that neither repeats nor skips
// jobs submitted between pages.
//
// # CloudWatch Logs, Secrets Manager, SSM
//
// GetLogEvents reads a stream forward (startFromHead, or an "f/…" token)
// or backward (the default, the latest events first, or a "b/…" token),
// at most limit (≤ 10,000) events and 1 MB per page, optionally between
// startTime and endTime; at the end of the stream the nextForwardToken
// returned is the one passed in, which is how CloudWatch says "nothing
// more for now". A missing group or stream is ResourceNotFoundException
// "The specified log group does not exist." / "The specified log stream
// does not exist.".
//
// GetSecretValue finds a secret by name, ARN or partial ARN, AWSCURRENT
// by default (AWSPREVIOUS and VersionId work too); a missing one is
// ResourceNotFoundException "Secrets Manager can't find the specified
// secret.". Secret ARNs end in a random 6-letter suffix, as AWS's do.
// GetParameter finds a SecureString parameter by name or ARN; a missing
// one is ParameterNotFound.
//
// # Not faithful
//
//   - Only the operations above; no array, multi-node, EKS or ECS-properties
//     jobs, dependsOn or fair-share (they are refused, not ignored);
//     retryStrategy.evaluateOnExit is accepted and ignored.
//   - One implicit compute environment with unlimited capacity; every
//     queue is ENABLED and VALID; resource requirements are recorded and
//     validated, never enforced (no cgroups, no OOM kills).
//   - Texts of errors that could not be checked against AWS, and the ECS
//     reasons of tasks that fail to start, are written in AWS's style,
//     not copied.
//   - No real encryption: GetParameter without WithDecryption returns an
//     opaque placeholder instead of a KMS ciphertext.
//   - Timeouts under 60 s are refused as on Batch; Config.TimeoutUnit (an
//     addition) shortens the second of attemptDurationSeconds for tests.
//   - Empty output lines make no log event (CloudWatch has none); lines
//     over 256 KiB are split. Event timestamps are the time a line was
//     read, ingestion time the same.
//   - A job's process is not isolated beyond its process group and
//     working directory, and its environment is not the image's.
//   - Signature checks cover the Authorization header form only
//     (presigned query strings are not accepted); the payload hash is
//     always computed from the body.
package awstest
