package awstest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// workerEnv switches the test binary into the fake worker: a job's
// definition sets it, so a job's process runs worker instead of tests.
const workerEnv = "AWSTEST_WORKER"

// workerImage is the image the tests map to the test binary.
const workerImage = "jetrun/worker:test"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		os.Exit(worker(os.Args[1:]))
	}
	// A variable of the test's environment that must not reach jobs.
	if err := os.Setenv("AWSTEST_LEAK", "must-not-reach-the-job"); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// worker runs a tiny script of verbs, each with a fixed number of
// arguments:
//
//	echo S      print S on stdout
//	err S       print S on stderr
//	exit N      exit with N
//	sleep D     sleep for the duration D
//	ignoreterm  ignore SIGTERM from now on
//	env K       print K=<value> or K=<unset>
//	secret ARN  print the Secrets Manager secret through Server.Env()
//	param ARN   print the SSM parameter through Server.Env()
//	spawn       start a child "sleep 1h" in the process group, print its pid
//	pid         print this process's pid
func worker(args []string) int {
	ctx := context.Background()
	for len(args) > 0 {
		verb := args[0]
		arg := ""
		if len(args) > 1 {
			arg = args[1]
		}
		switch verb {
		case "echo":
			fmt.Println(arg)
		case "err":
			fmt.Fprintln(os.Stderr, arg)
		case "exit":
			n, _ := strconv.Atoi(arg)
			return n
		case "sleep":
			d, _ := time.ParseDuration(arg)
			time.Sleep(d)
		case "env":
			v, ok := os.LookupEnv(arg)
			if !ok {
				v = "<unset>"
			}
			fmt.Printf("%s=%s\n", arg, v)
		case "secret", "param":
			cfg, err := config.LoadDefaultConfig(ctx)
			if err != nil {
				fmt.Println("config:", err)
				return 2
			}
			var v string
			if verb == "secret" {
				out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arg)})
				if err != nil {
					fmt.Println("secret:", err)
					return 2
				}
				v = aws.ToString(out.SecretString)
			} else {
				out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(arg), WithDecryption: aws.Bool(true)})
				if err != nil {
					fmt.Println("param:", err)
					return 2
				}
				v = aws.ToString(out.Parameter.Value)
			}
			fmt.Printf("%s=%s\n", verb, v)
		case "spawn":
			self, _ := os.Executable()
			cmd := exec.Command(self, "sleep", "1h")
			if err := cmd.Start(); err != nil {
				fmt.Println("spawn:", err)
				return 2
			}
			fmt.Printf("child=%d\n", cmd.Process.Pid)
			args = args[1:]
			continue
		case "pid":
			fmt.Printf("pid=%d\n", os.Getpid())
			args = args[1:]
			continue
		case "ignoreterm":
			signal.Ignore(syscall.SIGTERM)
			args = args[1:]
			continue
		default:
			fmt.Fprintln(os.Stderr, "unknown verb", verb)
			return 2
		}
		args = args[2:]
	}
	return 0
}

// clients are SDK clients of a Server.
type clients struct {
	batch   *batch.Client
	logs    *cloudwatchlogs.Client
	secrets *secretsmanager.Client
	ssm     *ssm.Client
}

// sdkConfig is an SDK configuration for s with the given secret key; its
// retryer does not sleep between attempts.
func sdkConfig(s *Server, secret string) aws.Config {
	return aws.Config{
		Region:       s.Region(),
		Credentials:  credentials.NewStaticCredentialsProvider(DefaultAccessKeyID, secret, ""),
		BaseEndpoint: aws.String(s.URL()),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 4
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
			})
		},
	}
}

func newClients(s *Server) clients {
	cfg := sdkConfig(s, DefaultSecretAccessKey)
	return clients{
		batch:   batch.NewFromConfig(cfg),
		logs:    cloudwatchlogs.NewFromConfig(cfg),
		secrets: secretsmanager.NewFromConfig(cfg),
		ssm:     ssm.NewFromConfig(cfg),
	}
}

// fast is a Timing for tests: 5ms per state.
func fast() Timing {
	return Timing{Submitted: 5 * time.Millisecond, Pending: 5 * time.Millisecond, Runnable: 5 * time.Millisecond, Starting: 5 * time.Millisecond}
}

// waitStatus polls until job id has one of want, and fails the test
// after 10 s.
func waitStatus(t *testing.T, s *Server, id string, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := s.Status(id)
		for _, w := range want {
			if st == w {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: status %q, want one of %v", id, st, want)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// asError is errors.As for a pointer type T.
func asError[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}
