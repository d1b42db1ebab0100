// Package docker is the runtime that runs each workload as a container on
// a Docker Engine: the runtime of docker-compose deployments and of a
// single host that keeps workers isolated from the dispatcher.
//
// It talks to the daemon through the Engine API with the Docker Go SDK
// (github.com/moby/moby/client, the maintained home of
// github.com/docker/docker/client), which negotiates the API version with
// the daemon: Engine API 1.40 or newer (Docker 19.03 or newer) is needed.
//
//	rt, err := docker.New(ctx, docker.Config{Image: "jetrun/worker:1.4", Network: "jetrun"}, log)
//
// or, from the environment, docker.Factory (registered as "docker" in
// cmd/dispatcher/runtimes.go). New takes a context, unlike local.New,
// because it asks the daemon for its ID (see Handle state).
//
// Each attempt is one container named after its handle,
// "jetrun-<job_id>-a<attempt>", created from the worker image with
// Cmd = Spec.Command (the image's ENTRYPOINT is the worker, /worker),
// Env = Spec.Env and Spec.Secrets, NanoCPUs = CPU millicores × 10⁶,
// Memory = the memory limit in bytes, restart policy "no", no
// auto-remove, all capabilities dropped and no-new-privileges. Its labels
// are Spec.Labels, Config.Labels, jetrun.io/job-id, jetrun.io/attempt,
// jetrun.io/kind, jetrun.io/managed-by=jetrun and jetrun.io/timeout (the
// attempt's timeout, from which every runtime instance derives the
// deadline). The daemon's log driver keeps the output; it must be one
// that can be read back (json-file, local, journald, or any driver with
// the daemon's dual logging).
//
// Start inspects the image first and pulls it only when it is missing (the
// Kubernetes "IfNotPresent" policy: pin tags, since a present :latest is
// never refreshed). The pull is bounded by JETRUN_DOCKER_START_TIMEOUT, not
// by Start's context: if the dispatcher gives up on Start first (it gives
// it 30 s) the pull goes on in the background, shared by every Start that
// needs the image, so a retry finds it. An image that cannot be pulled
// fails Start with "image <ref> not found and cannot be pulled: <the
// daemon's or the registry's reason>", which the dispatcher records as the
// attempt's failure and retries (a registry may be down for a while, so it
// is not ErrInvalidSpec). Resources the daemon refuses (more CPUs than the
// host has, less than 6 MiB of memory) and malformed specs are
// ErrInvalidSpec: the job can never run on this daemon.
//
// # Configuration
//
// Factory reads (see ConfigFromEnv):
//
//	variable                     default                  meaning
//	DOCKER_HOST                  the platform's socket    the daemon, e.g. unix:///var/run/docker.sock, tcp://docker:2376
//	                             (unix:///var/run/docker.sock)
//	DOCKER_API_VERSION           negotiated               pin the Engine API version (debugging only)
//	DOCKER_CERT_PATH             none; with               directory of ca.pem, cert.pem, key.pem: TLS to the daemon
//	                             DOCKER_TLS_VERIFY: DOCKER_CONFIG
//	DOCKER_TLS_VERIFY            off                      non-empty: verify the daemon's certificate against ca.pem
//	DOCKER_CONFIG                ~/.docker                directory of config.json: registry credentials for pulls
//	WORKER_IMAGE                 jetrun/worker:latest     the worker image when a spec names none (Spec.Image overrides)
//	DOCKER_NETWORK               the default bridge       network every container is attached to; New fails if it does not exist
//	JETRUN_DOCKER_START_TIMEOUT  2m                       bound of a missing image's pull; a container created but not
//	                                                      running for longer is reported failed ("never started")
//	JETRUN_DOCKER_GRACE          10s                      at the job's deadline: time between SIGTERM and SIGKILL
//	JETRUN_DOCKER_NODE           the daemon's ID          node name written into handles (see Handle state)
//	JETRUN_DOCKER_KEEP           the dispatcher's         remove finished containers older than this, even if the
//	                             retention (7 days)       dispatcher keeps jobs longer
//	JETRUN_DOCKER_LABELS         none                     k=v,k2=v2: labels put on every container; Prune removes only
//	                                                      containers that carry them (installations sharing a daemon)
//
// The DOCKER_* variables mean what they mean to the docker CLI, but are
// read through the factory's getenv, not from the process environment.
//
// Workers reach NATS and Qdrant through DOCKER_NETWORK: on a bridge,
// 127.0.0.1 in NATS_URL or QDRANT_HOST is the container itself, not the
// dispatcher's host. Put the services on a user-defined network and use
// their names (docker-compose does), or set DOCKER_NETWORK=host.
//
// Registry credentials come from DOCKER_CONFIG/config.json, as the docker
// CLI writes them (docker login): for the image's registry, the credential
// helper named in "credHelpers", else the one in "credsStore"
// (docker-credential-<name>, run from PATH with the helpers' "get"
// protocol; a helper that has no credentials for the registry means an
// anonymous pull), else the registry's entry in "auths" ("auth" =
// base64 of user:password, "username"/"password", or "identitytoken").
// Docker Hub's key is https://index.docker.io/v1/. The file is read at each
// pull, so rotated credentials are picked up. No credentials: an
// anonymous pull.
//
// # Cancellation
//
// Stop(ctx, h, grace) on a live container (running, paused, or created and
// not started) calls the Engine's stop with grace rounded up to whole
// seconds (the API's unit): SIGTERM to the worker (PID 1 of the
// container), SIGKILL after the grace. It then removes the container and
// its anonymous volumes, and returns once the daemon reports it gone; a
// cancelled attempt therefore has no logs left. Stop returns nil at once
// for a missing container, and leaves a finished one as it is, with its
// result and logs. The worker handles SIGTERM itself (the smoke worker
// exits 143); a worker killed by a signal exits 128+signal, reported as
// "exit code 137 = 128+SIGKILL".
//
// The job's timeout is enforced by Wait: whichever runtime instance waits
// on a container (the dispatcher always does while it owns the job) stops
// it at State.StartedAt + its jetrun.io/timeout label, with SIGTERM,
// JETRUN_DOCKER_GRACE and SIGKILL, but does not remove it, so its result
// and logs stay. Docker itself has no deadline: a container whose
// dispatcher is down runs on past its deadline until a dispatcher adopts
// the job, whose Wait then stops it at once. The dispatcher's own watchdog
// (started + timeout + 30 s) is the second line.
//
// # Handle state
//
// The daemon holds all the state; the runtime keeps none but the pulls in
// progress. The handle's name is the container's name, so any runtime
// instance talking to the same daemon finds the workload by name alone,
// across dispatcher restarts; Start fills in Handle.ID (the container's
// id) for information.
//
// Containers live on one daemon, so the runtime implements
// runtimes.NodeLocal: Node is the daemon's ID (docker info), or
// JETRUN_DOCKER_NODE. Dispatchers that share a daemon (the same socket, or
// the same remote DOCKER_HOST) report the same node and adopt each
// other's jobs; a dispatcher talking to another daemon leaves them to one
// that can see them, rather than finding no container and running the
// attempt again.
//
// Start is idempotent for one name: if the container exists it is adopted
// and nothing is launched; a container that was created but never started
// (its launcher died in between) is started, unless it is older than the
// start timeout. A name conflict on create (another dispatcher created it
// meanwhile) is adopted the same way. Within one process, Starts of one
// name are serialized.
//
// Inspect maps the container's state (see containerStatus):
//
//	created, with the daemon's State.Error   failed, "container could not start: ..." (exit code 126/127/128)
//	created, older than the start timeout    failed, "... never started"
//	created                                  pending
//	running, paused, restarting              running
//	exited (or dead), OOMKilled              failed, "OOMKilled: the container exceeded its memory limit of 96Mi (exit code 137 ...)"
//	exited at or after its deadline          failed, TimedOut, "timeout after 2s (exit code 143 = 128+SIGTERM)"
//	exited 0                                 succeeded
//	exited n                                 failed, "exit code n"
//	dead                                     failed
//	no such container                        not_found
//
// Timed out means FinishedAt − StartedAt ≥ the timeout label, so every
// instance agrees on it without any state of its own. Wait watches the
// container with the Engine's wait (condition not-running) and re-inspects
// when it ends. Logs demultiplexes the container's stdout and stderr
// (stdcopy) into one stream, in the order they were written; Follow waits
// for a created container to start, and ends once the container is done.
//
// Finished containers stay, with their result and logs, for `submit logs`
// and for a dispatcher that adopts the job after a crash. The runtime
// implements runtimes.Pruner: Prune(cutoff) removes this runtime's
// finished containers (jetrun.io/managed-by=jetrun and JETRUN_DOCKER_LABELS)
// that finished before cutoff, or before now − JETRUN_DOCKER_KEEP when that
// is later; a container that never started counts as finished when it was
// created. The dispatcher calls it every hour with cutoff now − 7 days. A
// finished container keeps its writable layer (the worker's clones and
// downloads under /work) until then: set JETRUN_DOCKER_KEEP (e.g. 24h) if
// the disk is small.
//
// # Secrets
//
// Docker has no secret store outside swarm mode, so Spec.Secrets are
// delivered as environment variables, like Spec.Env. The runtime never
// logs a value, nor puts one in an error. But the values are part of the
// container's configuration: `docker inspect` (and the Engine API) shows
// them to whoever can reach the Docker socket, until the container is
// removed. That is the same trust as the socket itself, which is root on
// the daemon's host: give the socket to no one who may not read the
// credentials. Inside the container, the worker runs as the image's
// unprivileged user.
//
// # Testing
//
// The tests need a Docker Engine (API 1.40 or newer) and no registry:
// the first test that needs the daemon builds the worker with
// CGO_ENABLED=0 (a static binary; the tree-sitter chunkers fall back to
// the line packer, which the smoke job does not use) and the worker target
// of deployments/docker/Dockerfile, FROM scratch, from a build context
// assembled in the test (the binary, the host's CA certificates, passwd and
// group files), tagged jetrun/worker:test. Without a daemon the tests that
// need it are skipped, saying why.
//
// docker_test.go runs the conformance suite (package runtimetest) against
// real containers, with Reopen (a second runtime with its own client) and
// CheckGone (the container is gone, or exited: a container that timed out
// stays, holding its result); then Docker-specific tests: the container's
// resources, labels, command, user and environment; DOCKER_NETWORK; Stop
// removes; a missing image fails Start within the start timeout, and a
// registry that never answers is given up at the start timeout; pulls
// carry the credentials of config.json (an in-process registry requiring
// basic auth checks them) and no secret reaches a log line, an error or
// the output; a container created but never started is started by the
// next Start, or reported failed after the start timeout; a container the
// daemon cannot start is reported with the daemon's reason; Prune removes
// only finished containers of its own labels; a reopened runtime enforces
// a deadline it did not set. Every container carries a
// jetrun.io/test-run label unique to the test binary; at the end the run's
// finished containers are pruned with Prune and anything left fails the
// run. The status mapping and the credential lookup have unit tests that
// need no daemon.
//
//	go test -race ./pkg/runtimes/docker/
package docker
