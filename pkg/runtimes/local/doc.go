// Package local is the runtime that runs each workload as a process group on
// the dispatcher's own host: the zero-setup runtime of "dispatcher --dev",
// and the one for a single machine.
//
// One process per job: each Runtime starts one supervisor (a "shim", as
// containerd calls it; package shim, run as the worker binary's internal
// "supervise" operation) in a session of its own, at its first Start, and
// sends it a launch request per workload over a pipe. The supervisor is the
// parent of every worker: it starts each in a process group of its own,
// enforces the deadline, and writes the exit status to the workload's state
// directory when the worker ends. It outlives the dispatcher that started
// it (and its terminal's signals) until its last worker has ended, so an
// exit is recorded even when no dispatcher is alive at that moment. A
// restarted dispatcher, or another dispatcher on the same host sharing the
// directory, starts a supervisor of its own for new workloads and finds the
// old ones from their state directories alone.
//
// Earlier versions ran one supervisor per workload, a second start of the
// worker binary per job (about 40 ms of CPU, as much as a no-op job
// itself); the state directory's files and their meaning are unchanged, so
// workloads launched by either are inspected, stopped and adopted alike.
//
//	rt, err := local.New(local.Config{Dir: dir, WorkerBin: "/usr/local/bin/worker"}, log)
//
// or, from the environment, local.Factory (registered as "local" in
// cmd/dispatcher/runtimes.go).
//
// # Configuration
//
// Factory reads:
//
//	variable            default                                   meaning
//	WORKER_BIN          "worker" beside the running executable,   the worker executable; it also runs
//	                    else "worker" on PATH                     the supervisor ("worker supervise")
//	JETRUN_LOCAL_DIR    $XDG_STATE_HOME/jetrun/local, else        the state directory, one subdirectory
//	                    ~/.local/state/jetrun/local;              per workload (created 0700)
//	                    cmd/dispatcher: <--data-dir>/local
//	JETRUN_LOCAL_GRACE  10s                                       at the job's timeout: time between SIGTERM
//	                                                              and SIGKILL (a Go duration)
//	JETRUN_NODE         the hostname                              this host's node name, written into every
//	                                                              handle (Config.Node); the same for all
//	                                                              dispatchers sharing the state directory,
//	                                                              different on every host
//
// New resolves WORKER_BIN with exec.LookPath to an absolute path and fails
// if it cannot be found. cmd/dispatcher sets JETRUN_LOCAL_DIR to
// <data-dir>/local (default .data/local) unless the variable is set.
//
// A worker sees only the variables of its spec (the job's environment, the
// NATS connection and its secrets) plus these from the dispatcher's own
// environment (Config.PassEnv, default DefaultPassEnv): PATH, HOME, TMPDIR,
// LANG, LC_ALL, TZ, USER, SSL_CERT_FILE, SSL_CERT_DIR. Secrets are
// delivered in the child's environment (readable in /proc by the same
// user); spec.json records their names only.
//
// Resources: only the timeout is enforced. CPU and memory are recorded in
// spec.json and not limited (no rlimits, no cgroups). The deadline is
// absolute, computed by Start as launch time + timeout and passed to the
// supervisor, so it holds across dispatcher restarts: at the deadline the
// supervisor sends SIGTERM to the worker's group, waits
// JETRUN_LOCAL_GRACE, then sends SIGKILL, and records the attempt failed
// with timed_out and the reason "timeout after <timeout> (...)".
//
// # Cancellation
//
// Stop(ctx, h, grace) reads the worker's pid from worker.json and sends
// SIGTERM to its process group (the worker leads it, so the pid is the group
// id). It then waits until the supervisor has released shim.lock (the exit
// is recorded) and no process of the group remains. After grace it sends
// SIGKILL to the group and waits up to 10 s more; a group still present
// then is an error. Stop returns nil at once for a workload that is
// finished or was never launched, and for an unsupervised worker that is
// already gone. The grace is the dispatcher's --stop-grace
// (JETRUN_STOP_GRACE, default 10 s); the worker's own SIGTERM handling
// decides its exit code (the smoke worker exits 143; a killed worker is
// recorded as 128+signal, "killed by SIGKILL").
//
// The supervisor forwards SIGTERM and SIGINT it receives to every worker's
// group and ignores SIGHUP and SIGPIPE. When a worker exits, the supervisor
// kills whatever is left of its group before it records the exit, so no
// grandchild outlives a workload. The supervisor gets only the
// pass-through variables; each launch request carries its worker's whole
// environment. Its own messages go to <JETRUN_LOCAL_DIR>/supervisor.log,
// those about one workload to its output.log.
//
// # Handle state
//
// Each workload has a directory <JETRUN_LOCAL_DIR>/<handle name>, e.g.
// .data/local/jetrun-job-123-a1. Its files:
//
//	launch.lock  flock held by Start while it checks and launches: one launcher per workload, across processes
//	shim.lock    flock held by the supervisor from before the worker starts until its exit is recorded: held = running
//	shim.json    the supervising process's pid, start time in clock ticks (/proc/<pid>/stat) and start time
//	worker.json  the worker's pid (= its process group id), start ticks and start time
//	exit.json    the result, written atomically (temporary file + rename) by the supervisor:
//	             exit_code, signal, reason, timed_out, cancelled (the supervisor itself got
//	             SIGTERM or SIGINT; Stop signals the group directly), started_at, finished_at
//	output.log   the worker's stdout and stderr, appended, plus the supervisor's own messages
//	spec.json    the launch spec for operators: command, env, secret names, resources, labels
//
// Start takes launch.lock and launches only if the directory has neither
// shim.json nor exit.json and nobody holds shim.lock (a supervisor may
// still be carrying out the request of a launcher that died); the
// supervisor, holding shim.lock, checks the files again. So a name is launched at most once,
// and a directory is never reused: a new attempt has a new handle name.
// Start returns when the supervisor answers, on its reply pipe, that the
// worker has started (or that it could not start it; a worker that cannot
// be executed is recorded as exit code 127). A supervisor that died is
// replaced at the next Start; Close lets it exit after its last worker.
//
// Inspect decides, in this order:
//
//  1. exit.json exists: succeeded if the exit code is 0 and it did not
//     time out, else failed, with its code and reason;
//  2. shim.lock is held (a non-blocking flock fails): running;
//  3. exit.json is read again (the supervisor may just have finished);
//  4. no shim.json: not_found (never launched, or launched elsewhere);
//  5. the supervisor is gone without an exit status, but the worker is
//     alive (its pid exists with the recorded start time, or its group
//     exists where /proc gave no start time): running, reason "supervisor
//     gone; worker still running";
//  6. otherwise failed, exit code -1, "supervisor died; exit status
//     unknown".
//
// The flock, not a pid, is what tells running from gone, so pid reuse
// cannot fool it; the start time in clock ticks guards the pid checks of
// step 5. The local runtime never reports pending. Wait first waits for
// the supervisor's word that the exit is recorded, if this Runtime
// launched the workload, then polls Inspect (every 20 ms, growing to
// 250 ms) until the workload is done. Logs reads output.log; Follow polls
// it every 100 ms until Inspect reports the workload done.
//
// State is local to the host: another host's dispatcher would see
// not_found. The runtime therefore implements runtimes.NodeLocal: Node
// returns JETRUN_NODE (else the hostname), and Start writes it into the
// handle (Handle.Node), as the dispatcher does when it records the handle.
// A dispatcher on another node that takes over a "starting" or "running"
// job of this runtime does not inspect it; it Naks the message with a delay
// of AckWait, for a dispatcher on the job's node. Adoption therefore works
// across restarts on one node (or between dispatchers sharing the host, the
// directory and the node name), not across hosts; dispatchers sharing one
// state directory must use the same node name. Queued and retrying jobs
// have no workload yet and launch on any node.
//
// The runtime also implements runtimes.Pruner: Prune(cutoff) removes the
// directories of workloads whose exit.json records a finish before cutoff
// (directories without exit.json are kept) and returns how many it removed.
// The dispatcher calls it every hour, and once at start, with cutoff
// now − 7 days (dispatch.StreamConfig.JobsMaxAge), so state directories
// are kept as long as the submissions.
//
// # Testing
//
// local_test.go runs the conformance suite (package runtimetest) against
// real processes of the real worker binary, which internal/testbin builds
// once per test process with "go build" (with -race when the tests run with
// it), or takes from JETRUN_TEST_BIN_DIR when set. Each case gets its own
// state directory; Reopen builds a second Runtime over the same directory,
// as a restarted dispatcher would; CheckGone fails if any process of the
// worker's group remains after a timeout or a Stop. The dispatcher's tests
// (package dispatch) run the same runtime, including crash tests that kill
// the dispatcher with SIGKILL at each step and check the workload is
// adopted, never launched twice.
//
//	go test -race ./pkg/runtimes/local/
package local
