package awsbatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/rs/zerolog"

	"github.com/jetrun/jetrun/internal/awstest"
	"github.com/jetrun/jetrun/internal/testbin"
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/awsbatch"
	"github.com/jetrun/jetrun/pkg/runtimes/runtimetest"
)

const (
	image    = "123456789012.dkr.ecr.us-east-1.amazonaws.com/jetrun/worker:test"
	queue    = "jetrun"
	jobDef   = "jetrun-worker"
	declared = "DECLARED_SECRET"
)

var workerBin string

func TestMain(m *testing.M) {
	workerBin = testbin.MustPath("worker")
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

// fixture is one in-process AWS with a queue, a job definition and the
// secrets of the conformance suite.
type fixture struct {
	srv *awstest.Server
	cfg awsbatch.Config
}

func newFixture(t testing.TB, mod func(*awstest.Config)) *fixture {
	t.Helper()
	c := awstest.Config{
		Images:      map[string]string{image: workerBin},
		Timing:      awstest.Timing{Submitted: 20 * time.Millisecond, Pending: 20 * time.Millisecond, Runnable: 50 * time.Millisecond, Starting: 50 * time.Millisecond},
		StopTimeout: 2 * time.Second,
	}
	if mod != nil {
		mod(&c)
	}
	srv := awstest.Start(t, c)
	srv.CreateJobQueue(queue)
	srv.RegisterJobDefinition(awstest.JobDefinition{Name: jobDef, Image: image, Platform: awsbatch.PlatformFargate,
		VCPU: "1", MemoryMiB: 2048, AttemptDurationSeconds: 3600,
		Secrets: map[string]string{declared: srv.PutSecret("jetrun/declared", "declared-value")}})
	return &fixture{srv: srv, cfg: awsbatch.Config{
		AWS:           awsConfig(srv, 20*time.Millisecond),
		JobQueue:      queue,
		JobDefinition: jobDef,
		PollInterval:  100 * time.Millisecond,
		SecretRefs:    map[string]string{"SECRET_VAR": srv.PutSecret("runtimetest/secret-var", "s3cret-value")},
	}}
}

// awsConfig points the SDK at srv with its credentials; backoff bounds the
// retryer's waits so that tests of retries stay quick.
func awsConfig(srv *awstest.Server, backoff time.Duration) aws.Config {
	env := srv.Env()
	return aws.Config{
		Region:       srv.Region(),
		Credentials:  credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], ""),
		BaseEndpoint: aws.String(srv.URL()),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = awsbatch.DefaultMaxAttempts
				o.MaxBackoff = backoff
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

func (f *fixture) open(t testing.TB) *awsbatch.Runtime {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := awsbatch.New(ctx, f.cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) runtimetest.Harness {
		f := newFixture(t, nil)
		return runtimetest.Harness{
			Runtime: f.open(t),
			Reopen:  func(t *testing.T) runtimes.Runtime { return f.open(t) },
			Timeout: 90 * time.Second,
			CheckGone: func(t *testing.T, h runtimes.Handle) {
				if n := f.srv.Live(); n != 0 {
					t.Errorf("%d job containers still running after the job ended", n)
				}
			},
		}
	})
}

func spec(id string, p jobs.SmokeParams, r runtimes.Resources) runtimes.Spec {
	return runtimes.Spec{
		Handle:    runtimes.Handle{Runtime: awsbatch.Name, Name: runtimes.HandleName(id, 1)},
		JobID:     id,
		Kind:      "smoke",
		Attempt:   1,
		Command:   p.Args(),
		Env:       map[string]string{jobs.EnvJobID: id, "PLAIN": "plain-value"},
		Resources: r,
		Labels:    map[string]string{"team": "search"},
	}
}

// The request bodies the SDK sends, as Batch receives them.
func TestSubmitJobRequestBody(t *testing.T) {
	f := newFixture(t, nil)
	rt := f.open(t)
	s := spec("pinned", jobs.SmokeParams{Message: "hi"}, runtimes.Resources{CPUMilli: 2000, MemoryBytes: 4 << 30, Timeout: 90 * time.Second})
	s.Secrets = map[string]string{"SECRET_VAR": "s3cret-value", declared: "declared-value"}
	h, err := rt.Start(ctx(t), s)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID == "" {
		t.Fatal("Start returned no Batch job id")
	}
	bodies := f.srv.Requests("SubmitJob")
	if len(bodies) != 1 {
		t.Fatalf("%d SubmitJob requests, want 1", len(bodies))
	}
	if strings.Contains(string(bodies[0]), "s3cret-value") || strings.Contains(string(bodies[0]), "declared-value") {
		t.Fatalf("a secret value was sent to Batch: %s", bodies[0])
	}
	var got map[string]any
	if err := json.Unmarshal(bodies[0], &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"jobName":       "jetrun-pinned-a1",
		"jobQueue":      queue,
		"jobDefinition": jobDef,
		"containerOverrides": map[string]any{
			"command": []any{"smoke", "--message=hi"},
			"environment": []any{
				map[string]any{"name": jobs.EnvJobID, "value": "pinned"},
				map[string]any{"name": "PLAIN", "value": "plain-value"},
				map[string]any{"name": "JETRUN_SECRET_REFS", "value": "SECRET_VAR=" + f.cfg.SecretRefs["SECRET_VAR"]},
			},
			"resourceRequirements": []any{
				map[string]any{"type": "VCPU", "value": "2"},
				map[string]any{"type": "MEMORY", "value": "4096"},
			},
		},
		"timeout":       map[string]any{"attemptDurationSeconds": float64(90)},
		"retryStrategy": map[string]any{"attempts": float64(1)},
		"propagateTags": true,
		"tags": map[string]any{
			"jetrun.io/job-id": "pinned", "jetrun.io/attempt": "1", "jetrun.io/kind": "smoke",
			"jetrun.io/managed-by": "jetrun", "jetrun.io/timeout": "1m30s", "team": "search",
		},
	}
	a, _ := json.MarshalIndent(got, "", "  ")
	b, _ := json.MarshalIndent(want, "", "  ")
	if string(a) != string(b) {
		t.Fatalf("SubmitJob body:\n%s\nwant:\n%s", a, b)
	}
	if c := got["containerOverrides"].(map[string]any)["command"].([]any); len(c) == 0 || c[0] != "smoke" {
		t.Fatal("unexpected command")
	}
}

// A job's labels never replace an operator's tag (JETRUN_BATCH_TAGS) or a
// jetrun.io/* tag of the runtime, as with the docker runtime's labels.
func TestLabelsDoNotOverrideTags(t *testing.T) {
	hostile := map[string]string{
		"team":                 "search", // an operator's tag
		"jetrun.io/job-id":     "someone-else",
		"jetrun.io/attempt":    "9",
		"jetrun.io/kind":       "other",
		"jetrun.io/managed-by": "not-jetrun",
		"jetrun.io/timeout":    "1ns", // would end the job as soon as it runs
		"extra":                "kept",
	}
	tests := []struct {
		name    string
		timeout time.Duration
		want    map[string]string
	}{
		{name: "with timeout", timeout: 90 * time.Second, want: map[string]string{
			"team": "platform", "cost-center": "42", "extra": "kept",
			"jetrun.io/job-id": "tags", "jetrun.io/attempt": "1", "jetrun.io/kind": "smoke",
			"jetrun.io/managed-by": "jetrun", "jetrun.io/timeout": "1m30s",
		}},
		{name: "without timeout", want: map[string]string{
			"team": "platform", "cost-center": "42", "extra": "kept",
			"jetrun.io/job-id": "tags", "jetrun.io/attempt": "1", "jetrun.io/kind": "smoke",
			"jetrun.io/managed-by": "jetrun",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.cfg.Tags = map[string]string{"team": "platform", "cost-center": "42"}
			rt := f.open(t)
			s := spec("tags", jobs.SmokeParams{Message: "hi"}, runtimes.Resources{Timeout: tt.timeout})
			s.Labels = hostile
			if _, err := rt.Start(ctx(t), s); err != nil {
				t.Fatal(err)
			}
			bodies := f.srv.Requests("SubmitJob")
			if len(bodies) != 1 {
				t.Fatalf("%d SubmitJob requests, want 1", len(bodies))
			}
			var got struct {
				Tags map[string]string `json:"tags"`
			}
			if err := json.Unmarshal(bodies[0], &got); err != nil {
				t.Fatal(err)
			}
			a, _ := json.MarshalIndent(got.Tags, "", "  ")
			b, _ := json.MarshalIndent(tt.want, "", "  ")
			if string(a) != string(b) {
				t.Fatalf("SubmitJob tags:\n%s\nwant:\n%s", a, b)
			}
		})
	}
}

// Specs Batch would refuse fail before any API call.
func TestInvalidSpecMakesNoCall(t *testing.T) {
	f := newFixture(t, nil)
	rt := f.open(t)
	before := total(f.srv.Calls())
	for name, mutate := range map[string]func(*runtimes.Spec){
		"name":      func(s *runtimes.Spec) { s.Handle.Name = "jetrun.bad" },
		"tag":       func(s *runtimes.Spec) { s.Labels["aws:reserved"] = "x" },
		"resources": func(s *runtimes.Spec) { s.Resources.MemoryBytes = 200 << 30 },
		"secret":    func(s *runtimes.Spec) { s.Secrets = map[string]string{"UNMAPPED": "v"} },
		"env":       func(s *runtimes.Spec) { s.Env["AWS_BATCH_JQ_NAME"] = "x" },
	} {
		s := spec("invalid", jobs.SmokeParams{}, runtimes.Resources{CPUMilli: 250, MemoryBytes: 256 << 20, Timeout: time.Minute})
		mutate(&s)
		if _, err := rt.Start(ctx(t), s); !errors.Is(err, runtimes.ErrInvalidSpec) {
			t.Errorf("%s: Start error %v, want ErrInvalidSpec", name, err)
		}
	}
	if after := total(f.srv.Calls()); after != before {
		t.Errorf("invalid specs made %d API calls", after-before)
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Throttling and server errors are retried; the job runs once.
func TestThrottlingAndServerErrorsAreRetried(t *testing.T) {
	f := newFixture(t, nil)
	rt := f.open(t)
	f.srv.Fail("ListJobs", 1, awstest.ServerError)
	f.srv.Fail("SubmitJob", 2, awstest.Throttling)
	f.srv.Fail("DescribeJobs", 2, awstest.Throttling)
	h, err := rt.Start(ctx(t), spec("throttled", jobs.SmokeParams{}, runtimes.Resources{Timeout: time.Minute}))
	if err != nil {
		t.Fatalf("Start through throttling: %v", err)
	}
	st, err := rt.Wait(ctx(t), h)
	if err != nil || st.Phase != runtimes.PhaseSucceeded {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	calls := f.srv.Calls()
	if calls["SubmitJob"] != 3 || calls["ListJobs"] != 2 {
		t.Errorf("calls %v: want SubmitJob 3 (2 throttled), ListJobs 2 (1 failed)", calls)
	}
	if n := len(f.srv.Requests("SubmitJob")); n != 3 {
		t.Errorf("%d SubmitJob bodies", n)
	}
}

// A ClientException is not retried by the SDK and is reported with
// Batch's message; it is no invalid spec (Batch also answers it for
// missing permissions or a disabled queue, which an operator can fix), so
// the dispatcher retries the attempt.
func TestClientExceptionIsReportedNotRetried(t *testing.T) {
	f := newFixture(t, nil)
	rt := f.open(t)
	f.srv.Fail("SubmitJob", 1, awstest.APIError{Status: 400, Type: "ClientException", Message: "Job Queue is in DISABLED state"})
	_, err := rt.Start(ctx(t), spec("refused", jobs.SmokeParams{}, runtimes.Resources{}))
	var ce *batchtypes.ClientException
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "DISABLED") || errors.Is(err, runtimes.ErrInvalidSpec) {
		t.Fatalf("Start error %v, want the ClientException with Batch's message, not ErrInvalidSpec", err)
	}
	if n := f.srv.Calls()["SubmitJob"]; n != 1 {
		t.Errorf("SubmitJob called %d times, want 1 (no retry)", n)
	}
}

// A job no compute environment places fails after RunnableTimeout, and
// says why.
func TestStuckRunnableFails(t *testing.T) {
	f := newFixture(t, nil)
	f.cfg.RunnableTimeout = 700 * time.Millisecond
	rt := f.open(t)
	f.srv.HoldRunnable(true)
	h, err := rt.Start(ctx(t), spec("stuck", jobs.SmokeParams{}, runtimes.Resources{CPUMilli: 4000, MemoryBytes: 8 << 30}))
	if err != nil {
		t.Fatal(err)
	}
	st, err := rt.Wait(ctx(t), h)
	if err != nil || st.Phase != runtimes.PhaseFailed || !strings.Contains(st.Reason, "not started within 700ms") ||
		!strings.Contains(st.Reason, "VCPU=4") {
		t.Fatalf("Wait = %+v, %v; want failed, not started within 700ms, naming its resources", st, err)
	}
	if s := f.srv.Status(h.ID); s != "FAILED" {
		t.Errorf("Batch status %s, want FAILED (cancelled)", s)
	}
	if f.srv.Calls()["CancelJob"] != 1 || f.srv.Calls()["TerminateJob"] != 0 {
		t.Errorf("calls %v: want one CancelJob", f.srv.Calls())
	}
}

// A handle without a Batch job id (a dispatcher died between SubmitJob and
// recording the answer) is found by name; Start does not submit again.
func TestAdoptByName(t *testing.T) {
	f := newFixture(t, nil)
	rt := f.open(t)
	s := spec("byname", jobs.SmokeParams{Sleep: "500ms", ExitCode: 5}, runtimes.Resources{Timeout: time.Minute})
	h, err := rt.Start(ctx(t), s)
	if err != nil {
		t.Fatal(err)
	}
	rt2 := f.open(t)
	bare := runtimes.Handle{Runtime: awsbatch.Name, Name: h.Name}
	h2, err := rt2.Start(ctx(t), s)
	if err != nil || h2.ID != h.ID {
		t.Fatalf("second Start = %+v, %v; want the same job %s", h2, err, h.ID)
	}
	if n := f.srv.Calls()["SubmitJob"]; n != 1 {
		t.Fatalf("SubmitJob called %d times, want 1", n)
	}
	st, err := f.open(t).Wait(ctx(t), bare)
	if err != nil || st.Phase != runtimes.PhaseFailed || st.ExitCode != 5 {
		t.Fatalf("Wait by name = %+v, %v", st, err)
	}
	if f.srv.Calls()["ListJobs"] < 2 {
		t.Errorf("calls %v: the lookups should have used ListJobs", f.srv.Calls())
	}
}

// Stop before the job starts cancels it (CancelJob); after, it terminates
// it (TerminateJob).
func TestStopUsesCancelThenTerminate(t *testing.T) {
	f := newFixture(t, nil)
	rt := f.open(t)
	f.srv.HoldRunnable(true)
	h, err := rt.Start(ctx(t), spec("queued", jobs.SmokeParams{}, runtimes.Resources{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Stop(ctx(t), h, time.Second); err != nil {
		t.Fatal(err)
	}
	st, _ := rt.Inspect(ctx(t), h)
	if st.Phase != runtimes.PhaseFailed || !strings.Contains(st.Reason, "stopped by the dispatcher") {
		t.Fatalf("after Stop: %+v", st)
	}
	if c := f.srv.Calls(); c["CancelJob"] != 1 || c["TerminateJob"] != 0 {
		t.Fatalf("calls %v: want CancelJob only", c)
	}
	f.srv.HoldRunnable(false)
	h, err = rt.Start(ctx(t), spec("running", jobs.SmokeParams{Sleep: "5m"}, runtimes.Resources{}))
	if err != nil {
		t.Fatal(err)
	}
	for {
		st, err := rt.Inspect(ctx(t), h)
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase == runtimes.PhaseRunning {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := rt.Stop(ctx(t), h, time.Second); err != nil {
		t.Fatal(err)
	}
	if c := f.srv.Calls(); c["TerminateJob"] != 1 {
		t.Fatalf("calls %v: want one TerminateJob", c)
	}
	if n := f.srv.Live(); n != 0 {
		t.Fatalf("%d containers left running", n)
	}
}

// New checks the queue and the job definition.
func TestNewRefusesUnknownQueueOrDefinition(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name string
		mod  func(*awsbatch.Config)
		want string
	}{
		{"queue", func(c *awsbatch.Config) { c.JobQueue = "nope" }, "job queue nope"},
		{"definition", func(c *awsbatch.Config) { c.JobDefinition = "nope" }, "job definition nope"},
		{"revision", func(c *awsbatch.Config) { c.JobDefinition = jobDef + ":9" }, "job definition " + jobDef + ":9"},
		{"secret ref", func(c *awsbatch.Config) { c.SecretRefs = map[string]string{"X": "arn:aws:s3:::bucket"} }, "JETRUN_BATCH_SECRETS X"},
	} {
		cfg := f.cfg
		tc.mod(&cfg)
		if _, err := awsbatch.New(ctx(t), cfg, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New error = %v, want one mentioning %q", tc.name, err, tc.want)
		}
	}
	rt := f.open(t)
	if rt.Platform() != awsbatch.PlatformFargate {
		t.Errorf("platform %q", rt.Platform())
	}
}

// Factory reads the seed's variables and the SDK's standard chain.
func TestFactoryFromEnvironment(t *testing.T) {
	f := newFixture(t, nil)
	for k, v := range f.srv.Env() {
		t.Setenv(k, v)
	}
	env := map[string]string{
		"AWS_REGION":                    f.srv.Region(),
		"AWS_BATCH_JOB_QUEUE":           queue,
		"AWS_BATCH_JOB_DEFINITION":      jobDef,
		"JETRUN_BATCH_POLL":             "100ms",
		"JETRUN_BATCH_RUNNABLE_TIMEOUT": "1m",
		"JETRUN_BATCH_SECRETS":          "SECRET_VAR=" + f.cfg.SecretRefs["SECRET_VAR"],
	}
	rt, err := awsbatch.Factory(context.Background(), func(k string) string { return env[k] }, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer rt.(*awsbatch.Runtime).Close()
	s := spec("fromenv", jobs.SmokeParams{}, runtimes.Resources{})
	s.Command = append(s.Command, "--digest-env=SECRET_VAR")
	s.Secrets = map[string]string{"SECRET_VAR": "s3cret-value"}
	h, err := rt.Start(ctx(t), s)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := rt.Wait(ctx(t), h); err != nil || st.Phase != runtimes.PhaseSucceeded {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	env["JETRUN_BATCH_POLL"] = "soon"
	if _, err := awsbatch.Factory(context.Background(), func(k string) string { return env[k] }, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "JETRUN_BATCH_POLL") {
		t.Errorf("bad JETRUN_BATCH_POLL: %v", err)
	}
}

// A secret the job definition declares reaches the worker through Batch
// itself; nothing about it is in the request.
func TestDeclaredSecret(t *testing.T) {
	f := newFixture(t, nil)
	rt := f.open(t)
	s := spec("declared", jobs.SmokeParams{}, runtimes.Resources{})
	s.Command = append(s.Command, "--digest-env="+declared)
	s.Secrets = map[string]string{declared: "declared-value"}
	h, err := rt.Start(ctx(t), s)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := rt.Wait(ctx(t), h); err != nil || st.Phase != runtimes.PhaseSucceeded {
		t.Fatalf("Wait = %+v, %v", st, err)
	}
	rc, err := rt.Logs(ctx(t), h, runtimes.LogOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), declared+" sha256:") {
		t.Fatalf("the worker did not see %s:\n%s", declared, b)
	}
	if body := string(f.srv.Requests("SubmitJob")[0]); strings.Contains(body, "declared-value") || strings.Contains(body, `"name":"`+declared) {
		t.Fatalf("the declared secret appears in the request: %s", body)
	}
}

// The dispatcher checks at start that the runtime can deliver the secrets
// every worker gets.
func TestCheckSecrets(t *testing.T) {
	rt := newFixture(t, nil).open(t)
	if err := rt.CheckSecrets([]string{declared, "SECRET_VAR"}); err != nil {
		t.Fatalf("covered secrets: %v", err)
	}
	err := rt.CheckSecrets([]string{"NATS_PASSWORD", declared, "QDRANT_API_KEY"})
	if err == nil || !strings.Contains(err.Error(), "NATS_PASSWORD, QDRANT_API_KEY") {
		t.Fatalf("uncovered secrets: %v", err)
	}
}
