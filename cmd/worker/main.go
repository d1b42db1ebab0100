// Command worker runs one jetrun job inside its runtime: a local process, a
// container, a Kubernetes pod or an AWS Batch job. Its exit code is the
// job's result.
//
//	worker <operation> [flags]
//
// Operations:
//
//	upload_repo  index one ref of a git repository into a Qdrant collection
//	upload_file  index an uploaded or downloaded file or archive
//	collection   create, delete, list or inspect collections
//	smoke        the diagnostic job: sleep, print, report progress, exit with a code
//	supervise   (internal) the local runtime's per-workload supervisor
//	version     print the version
//
// The runtime supplies the job's identity and the NATS connection in the
// environment (JETRUN_JOB_ID, JETRUN_ATTEMPT, NATS_URL, ...); with NATS
// reachable the worker publishes its progress events itself, without it the
// worker still runs.
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/jetrun/jetrun/internal/ctxsleep"
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/progress"
	"github.com/jetrun/jetrun/pkg/runtimes/local"
	"github.com/jetrun/jetrun/pkg/runtimes/local/shim"
	"github.com/rs/zerolog"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `usage: worker <operation> [flags]

operations:
  upload_repo   --params JSON   index one ref of a git repository into a collection
  upload_file   --params JSON   index an uploaded or downloaded file or archive
  collection    --params JSON   create, delete, list or inspect collections
  smoke                         the diagnostic job (sleep, print, report progress, exit with a code)
  version                       print the version

Exit codes: 0 success, 1 failure (retried), 65 input refused (not retried).
`

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case local.SuperviseCommand:
		// No signal handling here: the supervisor installs its own.
		return shim.Serve(stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "worker", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	log := zerolog.New(stderr).With().Timestamp().Str("job_id", getenv(jobs.EnvJobID)).
		Str("attempt", getenv(jobs.EnvAttempt)).Logger().Level(zerolog.InfoLevel)
	getenv, err := withSecretRefs(context.Background(), getenv)
	if err != nil {
		log.Error().Err(err).Msg("resolve secret references")
		return 1
	}
	switch args[0] {
	case "smoke":
		return smoke(args[1:], getenv, stdout, stderr, log)
	case "upload_repo", "upload_file", "collection":
		return indexOp(args[0], args[1:], getenv, stdout, stderr, log)
	}
	fmt.Fprintf(stderr, "worker: unknown operation %q\n%s", args[0], usage)
	return 2
}

type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint(*l) }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func smoke(args []string, getenv func(string) string, stdout, stderr io.Writer, log zerolog.Logger) int {
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var p jobs.SmokeParams
	var echo, digest listFlag
	p.RegisterFlags(fs)
	fs.Var(&echo, "echo-env", "print NAME=value of an environment variable (diagnostics; repeatable)")
	fs.Var(&digest, "digest-env", "print a sha256 prefix of a variable's value, never the value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := p.Validate(); err != nil {
		fmt.Fprintln(stderr, "worker smoke:", err)
		return 2
	}
	sleep, _ := time.ParseDuration(p.Sleep)

	ctx := context.Background()
	if p.IgnoreSigterm {
		signal.Ignore(syscall.SIGTERM)
	} else {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
		defer stop()
	}
	pub := progress.FromEnv(getenv, log)
	defer pub.Close()

	if p.Message != "" {
		fmt.Fprintln(stdout, p.Message)
	}
	for _, name := range echo {
		fmt.Fprintf(stdout, "%s=%s\n", name, getenv(name))
	}
	for _, name := range digest {
		sum := sha256.Sum256([]byte(getenv(name)))
		fmt.Fprintf(stdout, "%s sha256:%s\n", name, hex.EncodeToString(sum[:])[:16])
	}
	for i := 1; i <= p.OutputLines; i++ {
		fmt.Fprintf(stdout, "line %d\n", i)
	}

	steps := max(p.Progress, 1)
	begin := time.Now()
	for i := 1; i <= steps; i++ {
		if err := ctxsleep.Sleep(ctx, sleep/time.Duration(steps)); err != nil {
			fmt.Fprintln(stderr, "worker smoke: terminated")
			return 128 + int(syscall.SIGTERM)
		}
		if p.Progress > 0 {
			fmt.Fprintf(stdout, "progress %d/%d\n", i, p.Progress)
			rate := float64(i) / max(time.Since(begin).Seconds(), 1e-9)
			pub.Report(ctx, messages.Progress{Done: int64(i), Total: int64(p.Progress), Unit: "steps", Rate: rate})
		}
	}
	if attempt, _ := strconv.Atoi(getenv(jobs.EnvAttempt)); attempt > 0 && attempt <= p.FailAttempts {
		fmt.Fprintf(stderr, "worker smoke: failing attempt %d of the first %d on purpose\n", attempt, p.FailAttempts)
		return 1
	}
	return p.ExitCode
}
