package awsbatch

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/jetrun/jetrun/pkg/awssecrets"
)

// Defaults of Config.
const (
	DefaultLogGroup        = "/aws/batch/job"
	DefaultPollInterval    = 5 * time.Second
	DefaultRunnableTimeout = 30 * time.Minute
	// DefaultMaxAttempts bounds the SDK's attempts of one API call
	// (throttling and 5xx are retried with jittered exponential backoff).
	DefaultMaxAttempts = 8
)

// Config configures the AWS Batch runtime. ConfigFromEnv fills it from the
// environment.
type Config struct {
	// AWS is the SDK configuration: region, credentials and retryer.
	// ConfigFromEnv loads it with the SDK's standard chain (environment,
	// shared config and credentials files, web identity, ECS and EC2
	// roles) and AWS_REGION.
	AWS aws.Config
	// JobQueue is the queue jobs are submitted to, by name or ARN
	// (AWS_BATCH_JOB_QUEUE, required).
	JobQueue string
	// JobDefinition is the worker's job definition: name (its latest
	// active revision), name:revision or ARN (AWS_BATCH_JOB_DEFINITION,
	// required). The worker image is the definition's: Batch cannot
	// override an image at submission.
	JobDefinition string
	// LogGroup holds the jobs' CloudWatch log streams
	// (JETRUN_BATCH_LOG_GROUP). Empty: the job definition's awslogs-group
	// option, else DefaultLogGroup, where Batch writes by default.
	LogGroup string
	// PollInterval is how often one shared DescribeJobs round (up to 100
	// jobs per call) refreshes every job being waited on
	// (JETRUN_BATCH_POLL). Zero: DefaultPollInterval.
	PollInterval time.Duration
	// RunnableTimeout fails a job that has not started this long after its
	// submission (stuck RUNNABLE: no compute environment of the queue can
	// place it, or none has capacity): the runtime cancels it with a
	// reason that says so (JETRUN_BATCH_RUNNABLE_TIMEOUT). Zero:
	// DefaultRunnableTimeout; negative: no limit.
	RunnableTimeout time.Duration
	// SecretRefs maps a secret's environment variable name to the ARN of
	// a Secrets Manager secret or SSM parameter holding its value
	// (JETRUN_BATCH_SECRETS, "NAME=arn,NAME2=arn"). The worker resolves
	// them at start with its job role. Secrets the job definition declares
	// itself (containerProperties.secrets) need no entry: Batch injects
	// them. A job whose secret is in neither place is refused: secret
	// values never go into container overrides, which DescribeJobs shows.
	SecretRefs map[string]string
	// Tags are added to every job (JETRUN_BATCH_TAGS, "k=v,k2=v2"), for
	// cost allocation with propagateTags.
	Tags map[string]string
}

// ConfigFromEnv reads the runtime's configuration through getenv. The SDK
// configuration comes from its standard chain, which reads the process
// environment itself (AWS_PROFILE, AWS_ACCESS_KEY_ID, AWS_ROLE_ARN and
// AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ENDPOINT_URL, ...); AWS_REGION is read
// through getenv too so that it can be set like the other variables.
func ConfigFromEnv(ctx context.Context, getenv func(string) string) (Config, error) {
	cfg := Config{
		JobQueue:      getenv("AWS_BATCH_JOB_QUEUE"),
		JobDefinition: getenv("AWS_BATCH_JOB_DEFINITION"),
		LogGroup:      getenv("JETRUN_BATCH_LOG_GROUP"),
	}
	for _, d := range []struct {
		env string
		to  *time.Duration
	}{
		{"JETRUN_BATCH_POLL", &cfg.PollInterval},
		{"JETRUN_BATCH_RUNNABLE_TIMEOUT", &cfg.RunnableTimeout},
	} {
		v := getenv(d.env)
		if v == "" {
			continue
		}
		x, err := time.ParseDuration(v)
		if err != nil {
			return cfg, fmt.Errorf("awsbatch runtime: %s=%q: want a Go duration such as 30m", d.env, v)
		}
		*d.to = x
	}
	var err error
	if cfg.SecretRefs, err = parsePairs("JETRUN_BATCH_SECRETS", getenv("JETRUN_BATCH_SECRETS")); err != nil {
		return cfg, err
	}
	if cfg.Tags, err = parsePairs("JETRUN_BATCH_TAGS", getenv("JETRUN_BATCH_TAGS")); err != nil {
		return cfg, err
	}
	var opts []func(*config.LoadOptions) error
	if r := getenv("AWS_REGION"); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	opts = append(opts, config.WithRetryer(NewRetryer))
	if cfg.AWS, err = config.LoadDefaultConfig(ctx, opts...); err != nil {
		return cfg, fmt.Errorf("awsbatch runtime: AWS configuration: %w", err)
	}
	return cfg, nil
}

// NewRetryer is the retryer the runtime's clients use: the SDK's standard
// retryer (throttling errors, 5xx and transport errors, jittered
// exponential backoff) with DefaultMaxAttempts attempts and a backoff of
// up to 20 s, and without the client-side retry quota, which would turn a
// burst of throttling across a thousand jobs into errors the runtime
// cannot do anything about.
func NewRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = DefaultMaxAttempts
		o.MaxBackoff = 20 * time.Second
		o.RateLimiter = ratelimit.None
	})
}

// parsePairs reads "k=v,k2=v2".
func parsePairs(env, v string) (map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	m := map[string]string{}
	for kv := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("awsbatch runtime: %s: %q is not NAME=value (want NAME=value,NAME2=value2)", env, kv)
		}
		m[k] = val
	}
	return m, nil
}

func (c *Config) defaults() {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.RunnableTimeout == 0 {
		c.RunnableTimeout = DefaultRunnableTimeout
	}
}

func (c *Config) validate() error {
	switch {
	case c.JobQueue == "":
		return fmt.Errorf("awsbatch runtime: no job queue (AWS_BATCH_JOB_QUEUE)")
	case c.JobDefinition == "":
		return fmt.Errorf("awsbatch runtime: no job definition (AWS_BATCH_JOB_DEFINITION)")
	case c.AWS.Region == "":
		return fmt.Errorf("awsbatch runtime: no AWS region (AWS_REGION, or region in the shared config)")
	}
	for name, ref := range c.SecretRefs {
		if err := validEnvName(name); err != nil {
			return fmt.Errorf("awsbatch runtime: JETRUN_BATCH_SECRETS: %w", err)
		}
		if _, err := awssecrets.ParseRef(ref); err != nil {
			return fmt.Errorf("awsbatch runtime: JETRUN_BATCH_SECRETS %s: %w", name, err)
		}
	}
	if err := validTags(c.Tags); err != nil {
		return fmt.Errorf("awsbatch runtime: JETRUN_BATCH_TAGS: %w", err)
	}
	return nil
}
