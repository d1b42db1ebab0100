// Package messages is jetrun's wire contract, version 1: the subjects,
// streams and buckets a jetrun installation uses on NATS JetStream, and the
// JSON documents that travel on them. Producers and subscribers in other
// languages need only SCHEMA.md next to this file, which restates the
// contract with JSON Schemas and examples for the plain nats CLI.
//
// This package uses only the standard library: anything that speaks NATS
// can depend on it without pulling in the dispatcher.
//
// # Subjects and streams
//
// Every name derives from a prefix, "jetrun" unless configured (see Names).
// Several installations share one NATS account by using different
// prefixes, each fenced by NATS permissions on "<prefix>.>". Stream and
// bucket names are the upper-cased prefix plus a suffix.
//
//	subject or name                         where                     what
//	<prefix>.jobs.submit.<kind>             stream JETRUN_JOBS        submissions; header Nats-Msg-Id: <job_id>
//	<prefix>.jobs.events.<job_id>.<type>    stream JETRUN_EVENTS      lifecycle and progress events
//	<prefix>.jobs.cancel.<job_id>           request/reply             cancel a job; reply is a CancelReply
//	<prefix>.jobs.logs.<job_id>             request/reply (streamed)  a job's logs; request is a LogsRequest
//	<prefix>.dispatchers.<id>.logs.<job_id> request/reply             logs request forwarded to the job's owner
//	<prefix>.jobs.dlq.<kind>                stream JETRUN_DLQ         jobs that exhausted retries or can never run, with reason
//	JETRUN_STATE                            KV bucket                 one Record per job, key <job_id>
//	JETRUN_UPLOADS                          object store              large inputs, referenced by name + sha256
//
// Useful wildcards: JobEvents ("<prefix>.jobs.events.<job_id>.>") is one
// job's whole history; EventsOfType ("<prefix>.jobs.events.*.failed") is one
// event type of every job.
//
// # Submissions
//
// A Submission asks for one job. Only "v", "kind" and "params" are
// required; "params" is a JSON object whose meaning belongs to the kind
// (package jobs validates it). DecodeSubmission rejects anything larger
// than MaxSubmissionBytes: large inputs go to the uploads object store.
//
// Publish a submission with header "Nats-Msg-Id: <job_id>": JetStream drops
// a re-publish inside the stream's duplicate window, and the dispatcher's
// job record makes the deduplication permanent. A submission without a
// job_id gets "_s<stream sequence>", a reserved form producers cannot
// submit; a producer that wants to follow its job sets the id itself (a
// ULID is ideal).
//
// Validation errors wrap ErrInvalid, or ErrUnsupportedVersion for an
// unknown "v", and name the bad value; the dispatcher copies the text into
// a "rejected" event, so it is written for the operator who sent the job.
//
// # Events
//
// An Event is published to "<prefix>.jobs.events.<job_id>.<type>" on the
// events stream, which keeps a job's history replayable: a subscriber that
// starts late (even after a one-second job ended) reads the history with an
// ordered consumer delivering all messages of JobEvents(id).
//
// Ordering. Every event is published by a dispatcher (normally the job's
// owner), numbered by a per-job Seq kept in the job record; a worker never
// publishes events. A worker reports on its attempt's worker subject
// (Names.WorkerSubject, a WorkerReport); the owner relays each progress
// report as a "progress" event carrying the Seq of the attempt's "running"
// event and the report's Sub counter from 1. (Seq, Sub) orders a job's
// history totally, and the events stream stores a job's events in that
// order, so a JetStream consumer receives them in order.
//
// Deduplication. Each event is published with header Nats-Msg-Id equal to
// Event.MsgID: "<job_id>:<seq>" or "<job_id>:<seq>.<sub>". A dispatcher
// that adopts a job after a crash and re-emits an event it cannot prove
// was published produces the same id: JetStream drops the copy if it
// arrives inside the events stream's duplicate window. The stream
// deduplicates, core NATS delivery does not: a plain core subscription
// receives every publish, so after a take-over it may see a re-emitted
// event twice. Read events through a JetStream consumer, or treat
// Nats-Msg-Id as an event's identity.
//
// Terminal events. EventType.Terminal reports the four types that end a
// job: rejected, succeeded, cancelled and dead. Exactly one terminal event
// is published per job, and no lifecycle event follows it. "failed"
// is not terminal: it reports one failed attempt and is followed by
// "retrying" (another attempt comes) or "dead" (none will). A "failed"
// event's State is the state the attempt was in ("running", or "starting"
// when the launch failed): recording a failure does not change the job's
// state. A subscriber waiting for a job stops at the first terminal event.
//
// # Job records
//
// A Record is the durable state of one job, the value of key <job_id> in
// the state bucket (history 1). Every change is a compare-and-swap on the
// entry's revision; a dispatcher whose CAS fails has lost ownership and
// stops touching the job. The record holds the state, the attempt counter
// (attempts are counted here, not by message redeliveries), the owner, the
// Seq of the last lifecycle event, the desired state (DesiredCancel makes
// cancellation durable across restarts), the runtime Handle, which is
// written before the runtime is asked to launch so the next owner can find
// the workload again (Handle.Node names the host of a node-local workload,
// which only a dispatcher on that node adopts), and FailedAttempt and
// FailPermanent, which let a new owner finish a failure its predecessor
// recorded without recording it twice. A cancel for a job id not seen yet
// creates a record in state "queued" with DesiredCancel, msg_seq 0 and no
// kind, so the job never runs if it is submitted later.
//
// # Versioning rules
//
//   - Every document carries "v". This package reads and writes Version 1;
//     decoders reject any other "v" with ErrUnsupportedVersion.
//   - Decoders ignore unknown fields, so a newer producer can add fields an
//     older subscriber has never heard of.
//   - Adding an optional field keeps "v". Removing a field, making an
//     optional field required or changing a field's meaning or type bumps
//     it; the history is kept in the comment on Version.
//   - Golden files in testdata/ pin the bytes of every document type. A
//     change that alters them is a wire change: regenerate them with
//     "go test -run Golden ./pkg/messages -update" only when the change
//     follows these rules, and update SCHEMA.md and schema/ with it.
package messages
