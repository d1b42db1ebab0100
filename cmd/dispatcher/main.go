// Command dispatcher consumes jetrun job submissions from NATS JetStream and
// runs each job on the configured runtime, publishing lifecycle events.
//
//	dispatcher [flags]          connect to NATS_URL and run jobs on RUNTIME_BACKEND
//	dispatcher --dev [flags]    zero setup: embedded NATS (JetStream), the embedded
//	                            Qdrant-compatible server and the local runtime
//
// Run `dispatcher --help` for every flag; each takes its default from the
// environment variable named in its usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jetrun/jetrun/pkg/dispatch"
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsauth"
	"github.com/jetrun/jetrun/pkg/natsconn"
	"github.com/jetrun/jetrun/pkg/natsserver"
	"github.com/jetrun/jetrun/pkg/qdrantlite"
	"github.com/jetrun/jetrun/pkg/qdrantstore"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"golang.org/x/term"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "dispatcher:", err)
		}
		os.Exit(1)
	}
}

type config struct {
	dev          bool
	dataDir      string
	devListen    string
	devQdrant    string
	devWorker    string
	prefix       string
	runtimes     string
	concurrency  int
	ackWait      time.Duration
	maxRetries   int
	jobTimeout   time.Duration
	backoffBase  time.Duration
	backoffMax   time.Duration
	stopGrace    time.Duration
	queueTimeout time.Duration
	httpAddr     string
	logFormat    string
	logLevel     string
	id           string
	workerImage  string
	replicas     int
	maxAckPend   int
	workerNATS   string
	workerSeed   string
	workerAcct   string
	printVersion bool
	nats         natsconn.Options
	qdrant       qdrantstore.Config // where workers write vectors
	allowHosts   string
	allowHTTP    bool
	allowPrivate bool
	allowLocal   bool
	embedJobURLs bool
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("dispatcher", flag.ContinueOnError)
	fs.SetOutput(stderr)
	durEnv := func(key string, def time.Duration) time.Duration {
		if d, err := time.ParseDuration(getenv(key)); err == nil {
			return d
		}
		return def
	}
	intEnv := func(key string, def int) int {
		if n, err := strconv.Atoi(getenv(key)); err == nil {
			return n
		}
		return def
	}
	fs.BoolVar(&c.dev, "dev", getenv("JETRUN_DEV") == "1", "zero-setup mode: embedded NATS with JetStream, the embedded Qdrant-compatible server and the local runtime (env JETRUN_DEV=1)")
	fs.StringVar(&c.dataDir, "data-dir", envOr(getenv, "JETRUN_DATA_DIR", ".data"), "data directory: the embedded NATS store and vector data (--dev) and local runtime state (env JETRUN_DATA_DIR)")
	fs.StringVar(&c.devListen, "dev-nats-listen", envOr(getenv, "JETRUN_DEV_NATS_LISTEN", "127.0.0.1:4222"), "address of the embedded NATS server with --dev (env JETRUN_DEV_NATS_LISTEN)")
	fs.StringVar(&c.devQdrant, "dev-qdrant-listen", envOr(getenv, "JETRUN_DEV_QDRANT_LISTEN", "127.0.0.1:"+envOr(getenv, "QDRANT_PORT", "6334")), "address of the embedded Qdrant-compatible server with --dev; empty disables (env JETRUN_DEV_QDRANT_LISTEN; port default QDRANT_PORT or 6334)")
	fs.StringVar(&c.devWorker, "dev-worker-host", getenv("JETRUN_DEV_WORKER_HOST"), "with --dev, the address workers reach the embedded servers at; for container runtimes the Docker bridge gateway (e.g. 172.17.0.1) with the servers listening on it (env JETRUN_DEV_WORKER_HOST; default 127.0.0.1)")
	fs.StringVar(&c.prefix, "prefix", envOr(getenv, "JETRUN_PREFIX", messages.DefaultPrefix), "subject prefix; streams are <PREFIX>_JOBS etc. (env JETRUN_PREFIX)")
	fs.StringVar(&c.runtimes, "runtime", envOr(getenv, "RUNTIME_BACKEND", "local"), "runtime(s) to run jobs on, comma-separated; the first is the default (env RUNTIME_BACKEND)")
	fs.IntVar(&c.concurrency, "concurrency", intEnv("JETRUN_CONCURRENCY", dispatch.DefaultConcurrency), "jobs this dispatcher runs at once (env JETRUN_CONCURRENCY)")
	fs.DurationVar(&c.ackWait, "ack-wait", durEnv("JETRUN_ACK_WAIT", dispatch.DefaultAckWait), "redeliver a job to another dispatcher after this long without a heartbeat (env JETRUN_ACK_WAIT)")
	fs.IntVar(&c.maxRetries, "max-retries", intEnv("MAX_RETRIES", dispatch.DefaultMaxRetries), "default retries of a failed job, 0-20 (env MAX_RETRIES)")
	fs.DurationVar(&c.jobTimeout, "job-timeout", durEnv("JOB_TIMEOUT", 0), "replace every kind's default timeout; a job's own timeout still wins (env JOB_TIMEOUT)")
	fs.DurationVar(&c.backoffBase, "backoff-base", durEnv("JETRUN_BACKOFF_BASE", dispatch.DefaultBackoffBase), "first retry delay, doubled each attempt (env JETRUN_BACKOFF_BASE)")
	fs.DurationVar(&c.backoffMax, "backoff-max", durEnv("JETRUN_BACKOFF_MAX", dispatch.DefaultBackoffMax), "longest retry delay (env JETRUN_BACKOFF_MAX)")
	fs.DurationVar(&c.stopGrace, "stop-grace", durEnv("JETRUN_STOP_GRACE", dispatch.DefaultStopGrace), "time between SIGTERM and SIGKILL when a job is cancelled (env JETRUN_STOP_GRACE)")
	fs.DurationVar(&c.queueTimeout, "queue-timeout", durEnv("JETRUN_QUEUE_TIMEOUT", dispatch.DefaultQueueTimeout), "how long past its timeout a job may wait queued in its runtime (pending) before the watchdog stops it (env JETRUN_QUEUE_TIMEOUT)")
	fs.StringVar(&c.httpAddr, "http-addr", envOr(getenv, "JETRUN_HTTP_ADDR", "127.0.0.1:8080"), "address of /healthz, /readyz and /metrics; empty disables (env JETRUN_HTTP_ADDR)")
	fs.StringVar(&c.logFormat, "log-format", envOr(getenv, "JETRUN_LOG_FORMAT", "auto"), "auto (console on a terminal, else JSON), json or console (env JETRUN_LOG_FORMAT)")
	fs.StringVar(&c.logLevel, "log-level", envOr(getenv, "JETRUN_LOG_LEVEL", "info"), "debug, info, warn or error (env JETRUN_LOG_LEVEL)")
	fs.StringVar(&c.id, "id", getenv("JETRUN_DISPATCHER_ID"), "this dispatcher's id in job records (env JETRUN_DISPATCHER_ID; default host-random)")
	fs.StringVar(&c.workerImage, "worker-image", envOr(getenv, "WORKER_IMAGE", "jetrun/worker:latest"), "worker image for container runtimes (env WORKER_IMAGE)")
	fs.IntVar(&c.maxAckPend, "max-ack-pending", intEnv("JETRUN_MAX_ACK_PENDING", dispatch.DefaultMaxAckPending), "submissions held by all dispatchers together, running or waiting to retry (env JETRUN_MAX_ACK_PENDING)")
	fs.StringVar(&c.workerNATS, "worker-nats-url", getenv("JETRUN_WORKER_NATS_URL"), "NATS URL handed to workers when they reach NATS by another address, e.g. from containers (env JETRUN_WORKER_NATS_URL; default: the dispatcher's)")
	fs.StringVar(&c.workerSeed, "worker-auth-seed", getenv("JETRUN_WORKER_AUTH_SEED"), "file holding the account nkey seed (SA...) that signs workers' own narrow NATS identities through the server's auth callout; see docs/security.md (env JETRUN_WORKER_AUTH_SEED; with --dev, generated in the data directory)")
	fs.StringVar(&c.workerAcct, "worker-auth-account", envOr(getenv, "JETRUN_WORKER_AUTH_ACCOUNT", "JETRUN"), "the NATS account workers are placed in by the auth callout (env JETRUN_WORKER_AUTH_ACCOUNT)")
	fs.IntVar(&c.replicas, "replicas", intEnv("JETRUN_REPLICAS", 1), "replicas of the streams and bucket (3 on a NATS cluster) (env JETRUN_REPLICAS)")
	fs.BoolVar(&c.printVersion, "version", false, "print the version and exit")
	fs.StringVar(&c.allowHosts, "source-allow-hosts", getenv(jobs.EnvAllowHosts), "hosts workers may fetch repositories and files from, comma-separated, *.suffix allowed; empty: any public host (env "+jobs.EnvAllowHosts+")")
	fs.BoolVar(&c.allowHTTP, "source-allow-http", getenv(jobs.EnvAllowHTTP) == "1", "let workers fetch plain http URLs (env "+jobs.EnvAllowHTTP+"=1; on with --dev unless set to false)")
	fs.BoolVar(&c.allowPrivate, "source-allow-private", getenv(jobs.EnvAllowPrivate) == "1", "let workers reach loopback, private and link-local addresses (env "+jobs.EnvAllowPrivate+"=1; on with --dev unless set to false)")
	fs.BoolVar(&c.embedJobURLs, "embed-allow-job-urls", getenv("JETRUN_EMBED_ALLOW_JOB_URLS") == "1", "accept jobs that name their own embedding base_url (dialled under the source policy) besides the configured endpoints JETRUN_EMBEDDER_<NAME>_URL/_MODEL/_KEY (env JETRUN_EMBED_ALLOW_JOB_URLS=1; on with --dev unless set to false)")
	fs.BoolVar(&c.allowLocal, "source-allow-local", getenv(jobs.EnvAllowLocal) == "1", "let jobs index file:// URLs and local paths on the worker's machine (env "+jobs.EnvAllowLocal+"=1; on with --dev unless set to false)")
	c.nats.RegisterFlags(fs, getenv)
	qcfg, err := qdrantstore.FromEnv(getenv)
	if err != nil {
		return nil, err
	}
	c.qdrant = qcfg
	c.qdrant.RegisterFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: dispatcher [--dev] [flags]\n\nRuns jetrun jobs from NATS JetStream on a runtime (%s).\n\nflags:\n", strings.Join(builtinRuntimes().Names(), ", "))
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), "\nNamed credentials for jobs come from JETRUN_CREDENTIAL_<NAME> variables.\n")
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.dev {
		// --dev trusts the developer's machine: plain http, private
		// addresses, local paths and job-supplied embedding URLs are on
		// unless a flag or its variable says otherwise (--dev
		// --source-allow-private=false tries the production policy).
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		for _, o := range []struct {
			flag, env string
			v         *bool
		}{
			{"source-allow-http", jobs.EnvAllowHTTP, &c.allowHTTP},
			{"source-allow-private", jobs.EnvAllowPrivate, &c.allowPrivate},
			{"source-allow-local", jobs.EnvAllowLocal, &c.allowLocal},
			{"embed-allow-job-urls", "JETRUN_EMBED_ALLOW_JOB_URLS", &c.embedJobURLs},
		} {
			if !set[o.flag] && getenv(o.env) == "" {
				*o.v = true
			}
		}
	}
	if err := c.qdrant.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func newLogger(format, level string, w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("--log-level %q: %w", level, err)
	}
	console := false
	switch format {
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			console = true
		}
	case "console":
		console = true
	case "json":
	default:
		return zerolog.Nop(), fmt.Errorf("--log-format %q: want auto, json or console", format)
	}
	// zerolog keeps its time format in a package variable; main owns it.
	zerolog.TimeFieldFormat = time.RFC3339Nano
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "health" {
		return health(ctx, args[1:], getenv, stdout)
	}
	c, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	if c.printVersion {
		fmt.Fprintln(stdout, "dispatcher", version)
		return nil
	}
	log, err := newLogger(c.logFormat, c.logLevel, stderr)
	if err != nil {
		return err
	}
	names, err := messages.NewNames(c.prefix)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	dataDir, err := filepath.Abs(c.dataDir)
	if err != nil {
		return err
	}

	// Runtime configuration is read through getenv; --dev and the data
	// directory supply the local runtime's defaults.
	rtEnv := func(key string) string {
		if v := getenv(key); v != "" {
			return v
		}
		if key == "JETRUN_LOCAL_DIR" {
			return filepath.Join(dataDir, "local")
		}
		return ""
	}

	var devQdrantAddr string // the embedded vector server's address, with --dev
	var workerAuth *natsauth.Issuer
	if c.workerSeed != "" {
		if workerAuth, err = issuerFromFile(c.workerSeed, c.workerAcct, names); err != nil {
			return err
		}
	}
	if c.dev {
		host, portStr, err := net.SplitHostPort(c.devListen)
		if err != nil {
			return fmt.Errorf("--dev-nats-listen %q: %w", c.devListen, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return fmt.Errorf("--dev-nats-listen %q: bad port", c.devListen)
		}
		if port == 0 {
			port = -1
		}
		// The embedded server gives workers identities of their own (auth
		// callout), clients without credentials a producer's rights, and
		// this dispatcher the whole account.
		serverCfg, iss, err := devNATSAuth(dataDir, c.workerAcct, names)
		if err != nil {
			return err
		}
		workerAuth = iss
		srv, err := natsserver.Start(natsserver.Options{Host: host, Port: port, StoreDir: filepath.Join(dataDir, "nats"), Config: serverCfg.String()})
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		c.nats.URLs = []string{srv.ClientURL()}
		c.nats.User, c.nats.Password, c.nats.Token = serverCfg.DispatcherUser, serverCfg.DispatcherPassword, ""
		log.Info().Str("nats_url", srv.ClientURL()).Str("store", filepath.Join(dataDir, "nats")).Msg("embedded NATS with JetStream started")

		qdrantLine := "off (--dev-qdrant-listen is empty)"
		if c.devQdrant != "" {
			qdir := filepath.Join(dataDir, "qdrant")
			qs, err := qdrantlite.Start(c.devQdrant, qdrantlite.Options{Dir: qdir, APIKey: c.qdrant.APIKey, Log: log.With().Str("component", "qdrantlite").Logger()})
			if err != nil {
				return fmt.Errorf("embedded Qdrant-compatible server (--dev-qdrant-listen %s): %w", c.devQdrant, err)
			}
			defer qs.Close()
			devQdrantAddr = qs.Addr()
			qdrantLine = fmt.Sprintf("%s   data: %s", qs.Addr(), qdir)
		}
		fmt.Fprintf(stdout, `jetrun dev mode
  NATS (embedded, JetStream):  %[1]s   store: %[2]s
  Qdrant (embedded, gRPC):     %[7]s
  runtime:                     %[3]s   state: %[4]s
  health and metrics:          http://%[5]s/metrics

In another terminal:
  NATS_URL=%[1]s submit smoke --wait
  NATS_URL=%[1]s submit watch --all
  nats --server %[1]s sub --new '%[6]s'

`, srv.ClientURL(), filepath.Join(dataDir, "nats"), c.runtimes, rtEnv("JETRUN_LOCAL_DIR"), c.httpAddr, names.EventsWildcard(), qdrantLine)
	}

	reg := builtinRuntimes()
	rts := map[string]runtimes.Runtime{}
	var defaultRT string
	for _, name := range strings.Split(c.runtimes, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		rt, err := reg.Open(ctx, name, rtEnv, log.With().Str("runtime", name).Logger())
		if err != nil {
			return err
		}
		rts[name] = rt
		defer func() {
			if err := rt.Close(); err != nil {
				log.Warn().Err(err).Str("runtime", name).Msg("close runtime")
			}
		}()
		if defaultRT == "" {
			defaultRT = name
		}
	}

	c.nats.Name = "jetrun-dispatcher"
	nc, err := c.nats.Connect(log)
	if err != nil {
		return fmt.Errorf("connect to NATS (%s): %w", c.nats.String(), err)
	}
	defer nc.Close()
	workerEnv, workerSecrets, err := c.nats.WorkerEnv()
	if err != nil {
		return err
	}
	// workerHost is where workers reach a --dev server listening on host.
	workerHost := func(host string) string {
		switch {
		case c.devWorker != "":
			return c.devWorker
		case host == "0.0.0.0" || host == "::" || host == "":
			return "127.0.0.1" // workers cannot dial a wildcard address
		}
		return host
	}
	if c.workerNATS != "" {
		workerEnv[natsconn.EnvURL] = c.workerNATS
	} else if c.dev {
		if u, err := url.Parse(workerEnv[natsconn.EnvURL]); err == nil {
			u.Host = net.JoinHostPort(workerHost(u.Hostname()), u.Port())
			workerEnv[natsconn.EnvURL] = u.String()
		}
	}
	if devQdrantAddr != "" {
		// Workers write to the embedded server.
		host, port, _ := net.SplitHostPort(devQdrantAddr)
		host = workerHost(host)
		if getenv("QDRANT_HOST") != "" || getenv("QDRANT_URL") != "" {
			log.Warn().Str("configured", c.qdrant.String()).Msg("--dev: workers use the embedded vector server, not the configured Qdrant (--dev-qdrant-listen='' keeps the configured one)")
		}
		c.qdrant = qdrantstore.Config{Host: host, APIKey: c.qdrant.APIKey, Timeout: c.qdrant.Timeout}
		c.qdrant.Port, _ = strconv.Atoi(port)
	}
	qEnv, qSecrets, err := c.qdrant.WorkerEnv()
	if err != nil {
		return err
	}
	maps.Copy(workerEnv, qEnv)
	maps.Copy(workerSecrets, qSecrets)
	// The source policy workers apply.
	flag1 := func(on bool) string {
		if on {
			return "1"
		}
		return ""
	}
	workerEnv[jobs.EnvAllowHosts] = c.allowHosts
	// Credential host bindings are policy, not secrets: workers enforce them.
	for _, kv := range environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "JETRUN_CREDENTIAL_") && strings.HasSuffix(k, "_HOSTS") {
			workerEnv[k] = v
		}
	}
	workerEnv[jobs.EnvAllowHTTP] = flag1(c.allowHTTP)
	workerEnv[jobs.EnvAllowPrivate] = flag1(c.allowPrivate)
	workerEnv[jobs.EnvAllowLocal] = flag1(c.allowLocal)
	for k, v := range workerEnv {
		if v == "" {
			delete(workerEnv, k)
		}
	}

	promReg := prometheus.NewRegistry()
	promReg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := dispatch.NewMetrics(promReg)

	d, err := dispatch.New(nc, dispatch.Config{
		Names:                 names,
		ID:                    c.id,
		Runtimes:              rts,
		DefaultRuntime:        defaultRT,
		Kinds:                 jobs.Builtin(),
		Concurrency:           c.concurrency,
		MaxAckPending:         c.maxAckPend,
		AckWait:               c.ackWait,
		MaxRetries:            retriesFlag(c.maxRetries),
		JobTimeout:            c.jobTimeout,
		BackoffBase:           c.backoffBase,
		BackoffMax:            c.backoffMax,
		StopGrace:             c.stopGrace,
		QueueTimeout:          c.queueTimeout,
		WorkerImage:           c.workerImage,
		WorkerEnv:             workerEnv,
		WorkerSecrets:         workerSecrets,
		WorkerAuth:            workerAuth,
		Grant:                 func(ref jobs.SecretRef) error { return jobs.CredentialMayReach(getenv, ref.Credential, ref.URL) },
		Endpoints:             jobs.EndpointsFromEnv(getenv),
		AllowJobEmbeddingURLs: c.embedJobURLs,
		Credentials:           credentialsFrom(getenv),
		Streams:               dispatch.StreamConfig{Replicas: c.replicas},
		Log:                   log,
		Metrics:               metrics,
		Failpoint:             failpoint(getenv("JETRUN_FAILPOINT"), log),
		Version:               version,
	})
	if err != nil {
		return err
	}

	if c.httpAddr != "" {
		ln, err := net.Listen("tcp", c.httpAddr)
		if err != nil {
			return fmt.Errorf("--http-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !d.Ready() {
				http.Error(w, "not ready: not connected to NATS or not consuming", http.StatusServiceUnavailable)
				return
			}
			io.WriteString(w, "ready\n")
		})
		mux.Handle("/metrics", promhttp.HandlerFor(promReg, promhttp.HandlerOpts{Registry: promReg}))
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go hs.Serve(ln)
		defer hs.Close()
		log.Info().Str("addr", ln.Addr().String()).Msg("serving /healthz, /readyz, /metrics")
	}
	if workerAuth == nil {
		log.Warn().Msg("workers get this dispatcher's NATS identity: give them their own with --worker-auth-seed (docs/security.md)")
	}
	log.Info().Str("version", version).Str("id", d.ID()).Str("nats", c.nats.String()).Str("workers_qdrant", c.qdrant.String()).Msg("dispatcher starting")
	err = d.Run(ctx)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Stopped (SIGTERM, Ctrl-C) while still starting up: not a failure.
		return nil
	}
	return err
}

// health is `dispatcher health [ADDR]`: the probe of images without a
// shell (FROM scratch). It asks the running dispatcher's /readyz (at ADDR,
// default JETRUN_HTTP_ADDR or 127.0.0.1:8080) and fails unless it is ready.
func health(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	addr := envOr(getenv, "JETRUN_HTTP_ADDR", "127.0.0.1:8080")
	if len(args) > 0 {
		addr = args[0]
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("health: address %q: %w", addr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: not ready: %s", strings.TrimSpace(string(body)))
	}
	fmt.Fprint(stdout, string(body))
	return nil
}

// failpoint returns the crash hook used by the crash tests: with
// JETRUN_FAILPOINT=<step> the process kills itself with SIGKILL when it
// reaches that step of the lifecycle protocol.
func failpoint(at string, log zerolog.Logger) func(string) {
	if at == "" {
		return nil
	}
	log.Warn().Str("failpoint", at).Msg("JETRUN_FAILPOINT set: this dispatcher will kill itself at that step")
	return func(point string) {
		if point == at {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}

// retriesFlag maps the flag's 0 ("no retries") to the config's -1.
func retriesFlag(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// environ lists the process environment (a variable so tests can stub it).
var environ = os.Environ

// credentialsFrom resolves named credentials from JETRUN_CREDENTIAL_<NAME>
// (upper case, '-' as '_').
func credentialsFrom(getenv func(string) string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		if ep, ok := strings.CutPrefix(name, jobs.EndpointCredential("")); ok {
			v := getenv(jobs.EndpointEnv(ep, "KEY"))
			return v, v != ""
		}
		key := "JETRUN_CREDENTIAL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		v := getenv(key)
		return v, v != ""
	}
}
