// Package dispatch is jetrun's engine: it consumes job submissions from
// NATS JetStream, runs each job on a runtime (package runtimes), keeps the
// job's durable record in the state bucket and publishes its lifecycle
// events. It handles retries, cancellation, dead letters, log requests and
// the take-over of jobs whose dispatcher died.
//
//	d, err := dispatch.New(nc, dispatch.Config{
//		Runtimes: map[string]runtimes.Runtime{"local": rt},
//		Metrics:  dispatch.NewMetrics(promRegistry),
//		Log:      log,
//	})
//	if err != nil {
//		log.Fatal().Err(err).Msg("dispatcher")
//	}
//	err = d.Run(ctx) // provisions, consumes until ctx ends
//
// (the whole program is the package's Example).
//
// Run calls Provision, which creates or updates (idempotently, on every
// start) the jobs, events and dead-letter streams, the state bucket, the
// uploads object store and the durable pull consumer "dispatcher" shared by
// every dispatcher of one prefix. Names come from Config.Names (package
// messages); the examples below use the default prefix "jetrun".
//
// # Code map
//
// The protocol is package lifecycle, pure and free of NATS: Apply takes a
// record, what happened (an input: launching, running, exited, failed,
// stopped, cancel requested, max deliveries, rejected) and the time, and
// returns the next record and the effects that carry it out in order
// (publish, write by CAS, dead-letter, settle, reply, rename). Beside it are the one sequence rule
// and event builder (NextSeq, Event), what a redelivered message means
// (OnRedelivery) and what an adopted workload needs (OnAdopt). Its table
// tests are the transitions (TestApply) and this file's crash matrix
// (TestCrashMatrix). This package is the loop around it: it provisions,
// fetches, heartbeats, talks to the runtimes, turns what they report into
// inputs and carries out the effects, one file per concern:
//
//	dispatch.go    Dispatcher, Provision, Run: the fetch loop and its slots
//	job.go         one delivered message's handler: heartbeat, record changes
//	intake.go      validate, record, reject, take over (steps 2–4)
//	launch.go      the "starting" record and Runtime.Start (step 5)
//	watch.go       adopt, Wait, cancels, the watchdog, "running" (steps 6–7)
//	outcome.go     exits, failures and carried-out cancels as inputs (step 8)
//	record.go      the effects carried out: apply (owner), applyRequest, casRecord
//	settle.go      settlements and the one place they become Ack, Term or Nak
//	requests.go    cancel, logs and status requests; max-deliveries advisories
//	relay.go       workers' reports relayed as events
//	workerauth.go  per-attempt worker NATS identities (auth callout)
//
// # Lifecycle protocol
//
// Each delivered submission is handled in its own goroutine by the steps
// below. Every step that changes the job record is a compare-and-swap on
// the record's KV revision. Outcomes map to acknowledgements in one place
// (settle): done → Ack; rejected or dead → Term with the reason; retry or
// transient trouble (a NATS or runtime error: 2 s) → NakWithDelay; shutdown
// → Nak, for the next owner; ownership lost → the message is left alone.
//
//  1. Fetch. The consumer is a durable pull consumer with AckExplicit,
//     AckWait = Config.AckWait (60 s), MaxAckPending =
//     Config.MaxAckPending (1000) and MaxDeliver = Config.MaxDeliver (100,
//     a poison-message guard, not the retry count). A dispatcher fetches
//     only when it has a free slot: it has Config.Concurrency (8) slots,
//     takes every free one, and Fetches that many messages at once (waiting
//     up to 2 s for them), so a message is never held, its AckWait ticking,
//     by a dispatcher too busy to start it. Each message gets a handler
//     goroutine of its own, which frees its slot when the message is
//     settled. The handler starts a heartbeat at once, before anything
//     else: InProgress every AckWait/3 for as long as the handler holds the
//     message, so a job of any length is never redelivered while its
//     dispatcher lives.
//
//  2. Validate. The submission is decoded (messages.DecodeSubmission), its
//     kind compared with the subject's <kind> token, its params and
//     resources checked by the kind (jobs.Registry.Prepare) and its runtime
//     looked up among Config.Runtimes. Any failure is a rejection (below).
//     The job id is the submission's job_id, else a valid Nats-Msg-Id
//     header, else "_s<stream sequence>" (a reserved form no producer can submit).
//
//  3. Record. kv.Create(job_id) writes the record: state "queued", owner =
//     this dispatcher, msg_seq = the message's stream sequence, seq 1. On
//     success the handler registers for the record's changes (step 7), the
//     "accepted" event (seq 1) is published and the job is launched. If the
//     key exists, the job is taken over (step 4).
//
//  4. Duplicate detection and take-over. The existing record is read. A
//     record whose msg_seq is set and differs from this message's stream
//     sequence belongs to another message with the same job id: the message
//     is a duplicate, it is acknowledged and dropped (logged, counted in
//     jetrun_duplicate_submissions_total, no event). A record in a terminal
//     state means the job is finished: its terminal event is published if
//     the events stream lacks it (the owner died between recording the end
//     and announcing it; the subject's last event is looked up), and the
//     message is acknowledged. Otherwise this is a redelivery of the job's own message
//     (or its first delivery after a pre-recorded cancel, msg_seq 0): the
//     dispatcher becomes the owner by CAS (owner, msg_seq and delivery, the
//     message's delivery count, so that a redelivery to the same dispatcher
//     is a new owner too; up to 20 tries),
//     registers for the record's changes, and resumes from the recorded
//     state: "starting"/"running" → adopt; "retrying" → wait until
//     next_retry if the message came back early, then launch; "queued" →
//     launch. A record still "queued" at seq 1 gets its "accepted" event
//     published again first, since the previous owner may have died
//     between recording the job and announcing it (inside the duplicate
//     window the stream drops the copy). Only the owner registers: a
//     duplicate never does, so it never reacts to the real job's record.
//     Two cases leave the job for another dispatcher, with NakWithDelay of
//     AckWait: a record naming a runtime this dispatcher does not serve,
//     and a "starting"/"running" job whose handle names another node
//     (node-local runtimes; see High availability).
//
//  5. Launch. If a cancel has been recorded, the job is cancelled instead.
//     Otherwise the transition to "starting" is recorded first, with
//     attempt+1 and the deterministic handle
//     {runtime, "jetrun-<job_id>-a<attempt>"} (runtimes.HandleName; for a
//     runtimes.NodeLocal runtime the handle also names this node), then the
//     cancel check is repeated, and only then is the runtime asked to Start
//     the workload. Start is idempotent for a handle name, so a launch
//     repeated after a crash never runs an attempt twice. The spec carries
//     the kind's command and environment, the worker's NATS connection (Config.WorkerEnv and
//     WorkerSecrets), the named credentials resolved through
//     Config.Credentials, the labels jetrun.io/job-id, jetrun.io/attempt and
//     jetrun.io/kind, and JETRUN_JOB_ID, JETRUN_KIND, JETRUN_ATTEMPT,
//     JETRUN_PREFIX and JETRUN_RUNTIME; with Config.WorkerAuth the
//     worker's NATS identity is a token of its own (NATS_TOKEN) instead of
//     the dispatcher's. A spec that cannot be built
//     (an unknown credential) or that the runtime refuses with
//     runtimes.ErrInvalidSpec is a permanent failure; any other Start error
//     is a failed attempt. After a failed Start the dispatcher calls Stop
//     on the handle (no grace) first, in case a launch that failed half-way
//     (a timeout) brought the workload up anyway, so that it cannot run
//     beside the retry.
//
//  6. Adopt. A job found "starting" or "running" under a previous owner
//     is looked up with Inspect on its recorded handle: running → watch
//     it; finished → record its result; not found while "starting" → Start
//     it (the previous owner died before launching); not found while
//     "running" → a failed attempt ("workload disappeared"). With a cancel
//     pending, a live workload is stopped and one never launched is
//     cancelled.
//
//  7. Watch. The handler waits on the runtime's Wait and, at the same time,
//     on: changes of the job record (a KV watch of the whole bucket feeds
//     each registered job, one whose handler owns the record, its record:
//     a desired "cancel" stops the workload, a different owner, delivery or
//     msg_seq means the job was taken over and the handler stops without touching
//     it); a watchdog at started + timeout +
//     Config.WatchdogSlack (30 s) that stops a workload the runtime failed
//     to end at its own deadline and records the attempt failed (the
//     timeout counts from when the workload began running: a workload the
//     runtime still reports pending, such as a Batch job waiting RUNNABLE
//     for capacity, for up to Config.QueueTimeout (1 h) more, or one whose
//     start time puts the deadline ahead, is looked at again later
//     instead; an Inspect error is retried a minute later, three times);
//     a 1 s poll
//     that records "running" once the runtime reports it (and every 10 s
//     re-reads the record, in case the watch missed a change); and shutdown,
//     which leaves the workload running and releases the message.
//
//  8. Finish. Every state change after the record's creation is a
//     transition: the event is published first (with Nats-Msg-Id
//     "<job_id>:<seq>", seq = the record's seq + 1, or + 2 when leaving
//     "starting" by any event but "running", whose number the worker may
//     already have used), then the record is
//     written by CAS. If the process dies in between, the next owner
//     repeats the transition with the same seq and the events stream drops
//     the copy. A CAS conflict caused by a cancel request is merged and the
//     transition retried; any other conflict (owner, delivery, msg_seq or seq changed,
//     or the record became terminal) means ownership was lost, and the
//     handler stops: it never launches or kills after that. Once the
//     terminal transition is recorded the message is settled: succeeded or
//     cancelled → Ack, dead → Term.
//
//     Success is the one transition recorded before it is announced: the
//     "succeeded" record is written by CAS first, then the event published.
//     A cancel recorded before that CAS makes it conflict, and the job is
//     recorded "cancelled" instead (with the exit code 0): an accepted
//     cancel holds. A dispatcher that dies between the two leaves a
//     terminal record; the next delivery of the message publishes its event
//     (step 4).
//
// Retries. A failed attempt (non-zero exit, timeout, launch error, workload
// gone, watchdog) is first recorded by the "failed" transition, which does
// not change the record's state: it publishes "failed" with the reason and
// exit code and records error, exit_code, failed_attempt = attempt and
// fail_permanent. A "failed" event's state is therefore the state the
// attempt was in ("running", or "starting" when the launch itself failed).
// The job then either retries or dies, by a second transition. Attempts
// are counted in the record (attempt), not by delivery count, so a
// dispatcher crash is never a job failure. While attempt <= max_retries
// (the submission's, else Config.MaxRetries) and the failure is not
// permanent, the job moves to "retrying": the "retrying" event carries the
// delay, the record gets state "retrying", next_retry and owner ""
// (nobody holds the job during the backoff), and the message is Nak'd with
// that delay. The delay is BackoffBase·2^(attempt-1), capped at
// BackoffMax, with ±20% jitter (defaults 5 s and 5 min). JetStream
// redelivers the message after the delay to any dispatcher, which takes the
// job over (step 4) and launches attempt+1 under a new handle. A message
// Nak'd with a delay stays in the consumer's ack-pending set, so a job in
// backoff counts toward MaxAckPending; its handler has returned, so it
// holds no dispatcher slot.
//
// A dispatcher that takes a job over after its owner died between the two
// transitions finds failed_attempt == attempt: it does not record the
// failure again but decides retry or dead from the recorded error and
// fail_permanent, as the previous owner would have.
//
// Dead letters. When retries are exhausted, or the failure is permanent, the
// original submission bytes are copied to "jetrun.jobs.dlq.<kind>" (stream
// JETRUN_DLQ) with headers Jetrun-Reason, Jetrun-Job-Id, Jetrun-Attempts,
// Jetrun-Stream-Seq and Nats-Msg-Id: <job_id>; only then is the "dead"
// event published and recorded, and the message terminated.
//
// Max deliveries. A message that JetStream has delivered MaxDeliver (100)
// times without it being settled (a poison message, or a job left again
// and again for a node that never comes back) is no longer delivered, and
// JetStream publishes the advisory
// "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.JETRUN_JOBS.dispatcher".
// Every dispatcher subscribes to it in queue group "jetrun-dispatchers"; the
// one that gets it reads the submission from the stream by its sequence,
// copies it to the dead-letter stream (Jetrun-Reason "gave up after N
// deliveries: no dispatcher could settle this submission", Jetrun-Job-Id,
// Jetrun-Stream-Seq, Nats-Msg-Id; no Jetrun-Attempts), then, unless the
// record is terminal or belongs to another message, records the job "dead"
// with that reason (owner "", seq+1) and publishes the "dead" event.
//
// Rejections. A submission that can never run (bad JSON, unknown "v", kind
// mismatch, unknown kind, invalid params or resources, a runtime this
// dispatcher does not serve) gets a record in state "rejected" with the
// reason, a "rejected" event (seq 1) whose error field is the reason, and
// Term. If the job id already belongs to another job the rejection is
// recorded and announced under "_s<stream sequence>" instead. A rejected
// submission is not copied to the dead-letter stream. A rejection never
// stops the dispatcher.
//
// The "running" event. Its seq is the one right after the attempt's
// "started" event. The dispatcher publishes it when the runtime reports the
// workload running (or, at the latest, when the attempt ends). A worker
// never publishes events: it reports on its attempt's worker subject
// (package progress), and the owner relays (relay.go). A worker's
// "running" report only makes the owner ask the runtime sooner; its
// progress reports become "progress" events with the running event's seq
// and the report's sub counter from 1, published by the owner from its own
// record, rate-limited and bounded. In the stream, and so for every
// JetStream consumer, a job's events are therefore stored in order: stream
// order agrees with (seq, sub). Each event is published once, by the
// job's owner (a transition redone after a cancel request changed the
// record is not published again), so a core subscriber (a plain "nats
// sub") sees each event once, except around a take-over: the deduplication
// is the stream's, not core NATS delivery's, and an event a new owner
// re-publishes after a crash reaches core subscribers twice, with the same
// Nats-Msg-Id (TestChaos checks both). Read events through a JetStream consumer (an ordered
// consumer, "nats sub --new" or "--all", "nats stream view"), or treat
// Nats-Msg-Id as an event's identity.
//
// # Cancellation
//
// Cancellation is durable desired state in the job record. A request on
// "jetrun.jobs.cancel.<job_id>" (body empty or {"reason":"..."}; the reason
// is only logged) is served by any dispatcher (queue group
// "jetrun-dispatchers"), which replies with a messages.CancelReply:
//
//   - Unknown job (no record: still queued in the stream, or never
//     submitted): a record {state "queued", desired "cancel"} is created.
//     When the submission arrives, its handler finds the record, takes it
//     over and publishes "cancelled" without launching anything; the message
//     is acknowledged. Reply: accepted, state "queued".
//   - Finished job: reply accepted only if it is "cancelled" already;
//     otherwise not accepted, error "job already finished: <state>".
//   - Cancel already recorded: accepted.
//   - Retrying with no owner (waiting out the backoff, nobody holds the
//     message): the dispatcher that got the request finishes the job itself:
//     it records "cancelled" (seq+1) by CAS, then publishes "cancelled"
//     ("cancelled while waiting to retry"). When the delayed message comes
//     back, the terminal record makes its handler acknowledge it. Reply:
//     accepted, state "cancelled".
//   - Queued, starting or running, or retrying with an owner (a dispatcher
//     holds the message): desired "cancel" is written by CAS; the reply is
//     accepted with the current state. The owner sees the change through
//     its KV watch while it watches the workload: the workload is stopped
//     with Runtime.Stop (SIGTERM or equivalent, Config.StopGrace = 10 s,
//     then kill, returning once it is gone), inspected, and the job recorded
//     "cancelled" (with the exit code if there is one). A cancel recorded
//     before the runtime is asked to Start (between "accepted" and the
//     launch, or while the owner waits out an early-redelivered backoff) is
//     honoured without starting anything: launch checks for it before
//     recording "started" and again before calling Start (a cancel that
//     races the "started" CAS is merged into it), and the job is recorded
//     "cancelled" ("cancelled before launch"). Only a cancel that arrives
//     while Start runs finds a workload, which is stopped as soon as it is
//     watched.
//
// An accepted cancel holds: once the reply says accepted, the job does
// not succeed. A workload that exits 0 after the cancel was recorded, and
// before its success was, ends "cancelled" (its exit code recorded). A
// cancel that arrives after the success was recorded is not accepted; the
// reply's error says "job already finished: succeeded". A request nobody
// answers (the dispatcher serving it died) was maybe not recorded: the
// client (pkg/client, submit cancel) sends it again, and reports an error
// if no dispatcher answered.
//
// The wish survives restarts: whoever owns the job next reads it from the
// record. A dispatcher that takes over a job whose record already says
// "cancel" does not launch it (or stops the adopted workload) and records
// "cancelled".
//
// # Logs
//
// A request on "jetrun.jobs.logs.<job_id>" (queue group
// "jetrun-dispatchers"; body empty or a messages.LogsRequest: follow,
// attempt) streams the workload's combined output to the reply subject in
// chunks of up to 32 KiB, then an empty message with header "Jetrun-Eof: 1",
// or "Jetrun-Error: <text>" on failure. The latest attempt is read unless
// attempt is set. A job without a handle yet gets an error ("has not
// started yet").
//
// The answering dispatcher reads the logs through its own runtime when
// Inspect finds the workload. When it cannot (a local process on another
// host), it forwards the request, with the original reply subject, to the
// job's owner on "jetrun.dispatchers.<owner id>.logs.<job_id>", which every
// dispatcher subscribes to for itself; a forwarded request is never
// forwarded again. With follow, the stream ends when the workload does
// (at most 24 h).
//
// # Failpoints
//
// Config.Failpoint, when set, is called with the name of each step of the
// protocol as it is passed. The crash tests run the real dispatcher binary
// with JETRUN_FAILPOINT=<name>, which makes it kill itself with SIGKILL at
// that step, and check that a second dispatcher adopts the job without
// launching it twice, that exactly one terminal event is published and
// that the history is the expected one. They cover the launch and success
// path and the failure path (event:failed, record:failed, event:retrying,
// record:retrying, event:dead). pkg/lifecycle's TestCrashMatrix models
// every point below (and the cancel and dead variants) without processes:
// the record and events a crash there leaves, the next owner's decision
// and the seq of the event it publishes next. The names:
//
//	recorded        the record was created; "accepted" not yet published
//	accepted        "accepted" published; nothing launched yet
//	event:<type>    a transition's event published; the record not yet written
//	                (for succeeded: the record written, the message not yet settled)
//	record:<type>   a transition's record written (CAS done)
//	                (for succeeded: the event not yet published)
//	launched        Runtime.Start returned; the workload is not yet watched
//	exited          Runtime.Wait returned; the result is not yet recorded
//
// <type> is the event type of a transition: started, running, succeeded,
// failed, retrying, dead or cancelled ("event:started" falls between
// publishing "started" and recording the handle; "record:started" between
// recording the handle and calling the runtime). "accepted" and "rejected"
// are not transitions and have no event:/record: points, nor has the
// cancellation of a retrying job by handleCancel. Failpoint is nil in
// production.
//
// # Metrics
//
// NewMetrics registers these on a registry of the caller's (cmd/dispatcher
// serves them on /metrics):
//
//	jetrun_events_total{type}               counter    lifecycle events this dispatcher published, by type
//	jetrun_jobs_active{state}               gauge      jobs this dispatcher holds: queued, starting, running
//	jetrun_launch_latency_seconds{runtime}  histogram  submission's arrival in the stream → Start returned (first attempts only)
//	jetrun_queue_depth                      gauge      submissions not yet delivered to any dispatcher (consumer NumPending)
//	jetrun_queue_ack_pending                gauge      submissions delivered and not yet settled (consumer NumAckPending)
//	jetrun_duplicate_submissions_total      counter    submissions dropped because their job id was already recorded
//	jetrun_adoptions_total                  counter    jobs taken over from another (or a previous) owner
//
// The two queue gauges are read from the shared consumer every 5 s; every
// dispatcher reports the same cluster-wide values. jetrun_queue_ack_pending
// includes jobs waiting out a retry backoff, and is capped by
// MaxAckPending. jetrun_jobs_active is per dispatcher; summed over its
// states it is about the number of its Concurrency slots in use.
//
// # High availability
//
// Several dispatchers with the same prefix share the one durable consumer:
// JetStream hands each submission to one of them, and the job record decides
// who owns a job. A dispatcher that dies stops heartbeating; after AckWait
// JetStream redelivers its messages, and whichever dispatcher receives one
// takes the job over by CAS and adopts the workload. Cancel and logs
// requests are served by a queue group, so any dispatcher answers.
//
// Concurrency is per dispatcher: each runs at most Config.Concurrency jobs
// at once, so two dispatchers at 8 run up to 16. MaxAckPending
// (Config.MaxAckPending, at least Concurrency) is a property of the shared
// consumer: it bounds the submissions held by all dispatchers together,
// running or waiting out a retry backoff; when it is reached no dispatcher
// gets new submissions, whatever its free slots. Every dispatcher writes
// the consumer and stream configuration when it starts, so the last one
// started sets MaxAckPending, AckWait, MaxDeliver and the replicas for
// all: give every dispatcher the same values of those. Concurrency may
// differ per dispatcher.
//
// Adoption needs the runtime to see the workload. A new owner must serve
// the job's runtime; one that does not Naks the message with delay AckWait,
// so that a dispatcher that does can take it. A runtime whose workloads
// live on one host implements runtimes.NodeLocal (the local runtime: its
// node is JETRUN_NODE, else the hostname), and the handle records the node
// (messages.Handle.Node). A dispatcher on another node that takes over a
// "starting" or "running" job of that runtime Naks it with delay AckWait,
// for a dispatcher on the workload's node; jobs "queued" or "retrying"
// launch anywhere. Dispatchers sharing one local state directory must use
// the same node name. A job whose node never comes back is dead-lettered
// once its message reaches MaxDeliver (Max deliveries, above). Runtimes
// that are not node-local have no such limit. A submission naming a
// runtime that the dispatcher which fetched it does not serve is rejected,
// so dispatchers sharing a prefix should serve the same runtimes.
//
// # Shutdown
//
// When Run's context ends the dispatcher stops fetching and reports not
// ready. Since it fetches only into free slots, every message it holds has
// a handler: handlers watching a workload stop watching and Nak their
// message (no delay), leaving the workload running; handlers waiting out an
// early-redelivered retry backoff release theirs too. A state change
// already begun (publish and CAS) is finished, bounded by 30 s, and a
// cancellation in progress completes. Run returns when every handler has
// returned. The next dispatcher to receive a released message adopts its
// job; the workload is never stopped by a shutdown.
//
// # Housekeeping
//
// Every hour (and once at start) the dispatcher calls Prune on each of its
// runtimes that implements runtimes.Pruner (the local runtime), with cutoff
// now − StreamConfig.JobsMaxAge (7 days): the runtime removes the state it
// keeps of workloads that finished before then.
package dispatch
