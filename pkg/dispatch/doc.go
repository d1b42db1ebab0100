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
// dispatchers bucket (live dispatchers' announcements, 15 s TTL), the
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
// tests are the transitions (TestApply) and the crash matrix of docs/protocol.md
// (TestCrashMatrix). This package is the loop around it: it provisions,
// fetches, heartbeats, talks to the runtimes, turns what they report into
// inputs and carries out the effects, one file per concern (steps as in docs/protocol.md):
//
//	dispatch.go    Dispatcher, Provision, Run: the fetch loop and its slots
//	job.go         one delivered message's handler: heartbeat, record changes
//	intake.go      validate, record, reject, take over (steps 2–4)
//	launch.go      the "starting" record and Runtime.Start (step 5)
//	watch.go       adopt, Wait, cancels, the watchdog, "running" (steps 6–7)
//	outcome.go     exits, failures and carried-out cancels as inputs (step 8)
//	record.go      the effects carried out: apply (owner), applyRequest, casRecord
//	settle.go      settlements and the one place they become Ack, Term or Nak
//	requests.go    cancel and logs requests; max-deliveries advisories
//	relay.go       workers' reports relayed as events
//	workerauth.go  per-attempt worker NATS identities (auth callout)
//
// # Lifecycle
//
// A submission becomes a job record in the state bucket (key: the job id)
// and events on "<prefix>.jobs.events.<job_id>.<type>"; the states are queued,
// starting, running, retrying and the terminal succeeded, cancelled, dead
// and rejected. Each delivered message is handled in a goroutine of its
// own, which heartbeats the message (InProgress every AckWait/3) for as
// long as it holds it. What the guarantees come to:
//
//   - A job runs at most one attempt at a time: the handle
//     "jetrun-<job_id>-a<attempt>" is recorded before Start, and Start is
//     idempotent for it.
//   - Every event has a seq of its own, and an event repeated after a
//     crash has the seq it had: the events stream drops the copy
//     (Nats-Msg-Id "<job_id>:<seq>"). An owner's transitions publish
//     before they write the record; a success, a cancel of a job waiting
//     to retry, a max-deliveries dead and a rejection are written first,
//     and announced by the next delivery if the writer dies in between.
//   - A cancel answered accepted is in the record and holds: the job never
//     succeeds after it.
//   - A dispatcher that dies leaves its jobs to the others: the message is
//     redelivered after AckWait, and the new owner adopts the workload
//     (Inspect on the recorded handle) instead of launching it again.
//   - Attempts are counted in the record, so a dispatcher crash is never a
//     failed attempt; retries back off exponentially; a job out of retries
//     is copied to the dead-letter stream.
//
// The protocol step by step (validation, duplicates, take-over, launch,
// adoption, watchdog, retries, dead letters, rejections, cancellation,
// failpoints and the crash matrix, high availability, shutdown) is
// docs/protocol.md, with a state diagram.
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
// # Housekeeping
//
// Every hour (and once at start) the dispatcher calls Prune on each of its
// runtimes that implements runtimes.Pruner (the local and docker runtimes), with cutoff
// now − StreamConfig.JobsMaxAge (7 days): the runtime removes the state it
// keeps of workloads that finished before then.
package dispatch
