package dispatch

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"os"
	"regexp"
	"time"

	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsauth"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/rs/zerolog"
)

// Config configures a Dispatcher. Zero fields get the defaults documented
// on each.
type Config struct {
	// Names of subjects, streams and buckets (default prefix "jetrun").
	Names messages.Names
	// ID names this dispatcher in job records and logs; default
	// "<hostname>-<random>". Letters, digits, '-' and '_'.
	ID string
	// Runtimes this dispatcher can launch on, by name; DefaultRuntime is
	// used when a job names none. A job naming a runtime not listed here
	// is passed on (Nak) while another live dispatcher runs it, waits for
	// one if it is already under way, and is otherwise rejected, naming the
	// runtimes that are served.
	Runtimes map[string]runtimes.Runtime
	// DefaultRuntime is RUNTIME_BACKEND; default: the only runtime.
	DefaultRuntime string
	// Kinds are the job kinds served; default jobs.Builtin().
	Kinds *jobs.Registry
	// Concurrency caps the jobs this dispatcher runs at once: it fetches a
	// submission only when it has a free slot. Default DefaultConcurrency.
	Concurrency int
	// MaxAckPending bounds the submissions held by all dispatchers of the
	// consumer together, running or waiting out a retry backoff (the
	// consumer's MaxAckPending). Default DefaultMaxAckPending.
	MaxAckPending int
	// AckWait is how long a message may go without a heartbeat before
	// JetStream redelivers it to another dispatcher. Default DefaultAckWait; the
	// heartbeat runs every AckWait/3.
	AckWait time.Duration
	// MaxDeliver is the consumer's poison-message guard (not the retry
	// count: attempts are counted in the job record). Default DefaultMaxDeliver.
	MaxDeliver int
	// MaxRetries is the default of a job's max_retries (MAX_RETRIES).
	// Default DefaultMaxRetries; -1 means 0.
	MaxRetries int
	// JobTimeout replaces the kinds' default timeouts when set (JOB_TIMEOUT).
	JobTimeout time.Duration
	// BackoffBase and BackoffMax shape the retry delay:
	// base·2^(attempt-1), capped at max, ±20% jitter. Defaults DefaultBackoffBase and
	// DefaultBackoffMax.
	BackoffBase, BackoffMax time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL on cancel. Default
	// DefaultStopGrace.
	StopGrace time.Duration
	// WatchdogSlack is added to a job's timeout before the dispatcher
	// stops a workload its runtime failed to stop. Default DefaultWatchdogSlack.
	WatchdogSlack time.Duration
	// QueueTimeout is how long past its timeout (and the slack) the
	// watchdog lets a workload that its runtime still reports pending
	// wait: a job's timeout counts from when it starts running, and
	// queueing runtimes (Batch, a cluster short of nodes) may hold it
	// first. Default DefaultQueueTimeout.
	QueueTimeout time.Duration
	// WorkerImage is the default worker image (WORKER_IMAGE).
	WorkerImage string
	// WorkerEnv and WorkerSecrets are given to every worker (the NATS
	// connection, see natsconn.Options.WorkerEnv).
	WorkerEnv, WorkerSecrets map[string]string
	// WorkerAuth, if set, gives every worker a narrow NATS identity of its
	// own instead of WorkerEnv's and WorkerSecrets' NATS credentials: a
	// token for its attempt (NATS_TOKEN), which the server's auth callout
	// turns into the permissions of natsauth.WorkerPermissions. The
	// dispatcher serves that callout. See package natsauth.
	WorkerAuth *natsauth.Issuer
	// Endpoints resolves the operator's named embedding endpoints, and
	// AllowJobEmbeddingURLs accepts job-supplied ones (see jobs.Options).
	Endpoints             func(name string) (jobs.Endpoint, bool)
	AllowJobEmbeddingURLs bool
	// Grant decides whether a job may have a secret its plan asks for
	// (jobs.CredentialMayReach under the dispatcher's host lists); a job
	// refused one is rejected. Nil grants every credential that resolves.
	Grant func(jobs.SecretRef) error
	// Credentials resolves a named credential for a job's SecretRef; nil
	// resolves none.
	Credentials func(name string) (string, bool)
	// Streams holds retention settings.
	Streams StreamConfig
	// Log is the dispatcher's logger.
	Log zerolog.Logger
	// Metrics, if set, receives the dispatcher's metrics.
	Metrics *Metrics
	// Version is announced in the dispatchers bucket.
	Version string
	// Failpoint, if set, is called at each step of the lifecycle protocol
	// with the step's name (see docs/protocol.md, Failpoints). Crash tests use
	// it to kill a dispatcher at an exact step; it is nil in production.
	Failpoint func(point string)
}

// StreamConfig holds the JetStream settings of the streams and bucket the
// dispatcher creates.
type StreamConfig struct {
	// Replicas of every stream and the bucket; default 1 (3 on a cluster).
	Replicas int
	// JobsMaxAge keeps submissions readable (for dead-letter copies and
	// audits); default DefaultJobsMaxAge.
	JobsMaxAge time.Duration
	// JobsMaxBytes bounds the submissions stream; when full, new
	// submissions are refused rather than queued ones dropped. Default
	// DefaultJobsMaxBytes.
	JobsMaxBytes int64
	// EventsMaxAge keeps event history; default DefaultEventsMaxAge.
	EventsMaxAge time.Duration
	// DLQMaxAge keeps dead letters; default DefaultDLQMaxAge.
	DLQMaxAge time.Duration
	// StateMaxAge keeps job records (and with them permanent dedup);
	// default DefaultStateMaxAge. Must exceed JobsMaxAge.
	StateMaxAge time.Duration
	// DuplicateWindow is the streams' Nats-Msg-Id dedup window; default
	// DefaultDuplicateWindow.
	DuplicateWindow time.Duration
}

// Defaults of Config's zero values. cmd/dispatcher's flags default to the
// same constants, so the docs, the flags and the engine cannot disagree.
const (
	DefaultConcurrency   = 8
	DefaultMaxAckPending = 1000
	DefaultAckWait       = time.Minute
	DefaultMaxDeliver    = 100
	DefaultMaxRetries    = 3
	DefaultBackoffBase   = 5 * time.Second
	DefaultBackoffMax    = 5 * time.Minute
	DefaultStopGrace     = 10 * time.Second
	DefaultWatchdogSlack = 30 * time.Second
	DefaultQueueTimeout  = time.Hour
)

// Defaults of StreamConfig's zero values.
const (
	DefaultJobsMaxAge      = 7 * 24 * time.Hour
	DefaultJobsMaxBytes    = 1 << 30
	DefaultEventsMaxAge    = 14 * 24 * time.Hour
	DefaultDLQMaxAge       = 30 * 24 * time.Hour
	DefaultStateMaxAge     = 30 * 24 * time.Hour
	DefaultDuplicateWindow = 20 * time.Minute
)

var idRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (c *Config) setDefaults() error {
	if c.ID == "" {
		host, _ := os.Hostname()
		host = regexp.MustCompile(`[^A-Za-z0-9_-]`).ReplaceAllString(host, "-")
		if len(host) > 40 {
			host = host[:40]
		}
		b := make([]byte, 4)
		rand.Read(b)
		c.ID = host + "-" + hex.EncodeToString(b)
	}
	if !idRE.MatchString(c.ID) {
		return fmt.Errorf("dispatcher id %q: want 1-64 of A-Z a-z 0-9 - _", c.ID)
	}
	if len(c.Runtimes) == 0 {
		return fmt.Errorf("dispatcher: no runtime configured")
	}
	if c.DefaultRuntime == "" {
		if len(c.Runtimes) != 1 {
			return fmt.Errorf("dispatcher: several runtimes and no default")
		}
		for n := range c.Runtimes {
			c.DefaultRuntime = n
		}
	}
	if _, ok := c.Runtimes[c.DefaultRuntime]; !ok {
		return fmt.Errorf("dispatcher: default runtime %q is not configured", c.DefaultRuntime)
	}
	if c.Kinds == nil {
		c.Kinds = jobs.Builtin()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxAckPending <= 0 {
		c.MaxAckPending = DefaultMaxAckPending
	}
	c.MaxAckPending = max(c.MaxAckPending, c.Concurrency)
	def(&c.AckWait, DefaultAckWait)
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	switch {
	case c.MaxRetries == 0:
		c.MaxRetries = DefaultMaxRetries
	case c.MaxRetries < 0:
		c.MaxRetries = 0
	}
	c.MaxRetries = min(c.MaxRetries, messages.MaxRetriesLimit)
	def(&c.BackoffBase, DefaultBackoffBase)
	def(&c.BackoffMax, DefaultBackoffMax)
	def(&c.StopGrace, DefaultStopGrace)
	def(&c.WatchdogSlack, DefaultWatchdogSlack)
	def(&c.QueueTimeout, DefaultQueueTimeout)
	s := &c.Streams
	if s.Replicas <= 0 {
		s.Replicas = 1
	}
	def(&s.JobsMaxAge, DefaultJobsMaxAge)
	if s.JobsMaxBytes == 0 {
		s.JobsMaxBytes = DefaultJobsMaxBytes
	}
	def(&s.EventsMaxAge, DefaultEventsMaxAge)
	def(&s.DLQMaxAge, DefaultDLQMaxAge)
	def(&s.StateMaxAge, DefaultStateMaxAge)
	def(&s.DuplicateWindow, DefaultDuplicateWindow)
	if s.StateMaxAge < s.JobsMaxAge {
		return fmt.Errorf("dispatcher: job records (%s) must outlive submissions (%s)", s.StateMaxAge, s.JobsMaxAge)
	}
	return nil
}

// backoff returns the delay before attempt+1 after attempt failed.
func (c *Config) backoff(attempt int) time.Duration {
	d := float64(c.BackoffBase) * math.Pow(2, float64(max(attempt-1, 0)))
	d = math.Min(d, float64(c.BackoffMax))
	d *= 0.8 + 0.4*mrand.Float64()
	return time.Duration(d)
}
