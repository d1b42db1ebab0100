package awstest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
)

// submit submits a job with the SDK and returns its id.
func submit(t *testing.T, c clients, in *batch.SubmitJobInput) string {
	t.Helper()
	out, err := c.batch.SubmitJob(context.Background(), in)
	if err != nil {
		t.Fatalf("SubmitJob: %v", err)
	}
	if aws.ToString(out.JobName) != aws.ToString(in.JobName) || aws.ToString(out.JobId) == "" ||
		!strings.HasSuffix(aws.ToString(out.JobArn), ":job/"+aws.ToString(out.JobId)) {
		t.Fatalf("SubmitJob answered %+v", out)
	}
	return aws.ToString(out.JobId)
}

// describe describes one job with the SDK.
func describe(t *testing.T, c clients, id string) types.JobDetail {
	t.Helper()
	out, err := c.batch.DescribeJobs(context.Background(), &batch.DescribeJobsInput{Jobs: []string{id}})
	if err != nil {
		t.Fatalf("DescribeJobs: %v", err)
	}
	if len(out.Jobs) != 1 {
		t.Fatalf("DescribeJobs(%s): %d jobs", id, len(out.Jobs))
	}
	return out.Jobs[0]
}

// logLines reads a whole log stream with the SDK.
func logLines(t *testing.T, c clients, stream string) []string {
	t.Helper()
	var lines []string
	in := &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(LogGroup), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)}
	for {
		out, err := c.logs.GetLogEvents(context.Background(), in)
		if err != nil {
			t.Fatalf("GetLogEvents(%s): %v", stream, err)
		}
		for _, e := range out.Events {
			lines = append(lines, aws.ToString(e.Message))
		}
		if aws.ToString(out.NextForwardToken) == aws.ToString(in.NextToken) {
			return lines
		}
		in.NextToken = out.NextForwardToken
	}
}

func TestJobThroughStates(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got Container
	release := make(chan struct{})
	tm := 40 * time.Millisecond
	s := Start(t, Config{
		Timing: Timing{Submitted: tm, Pending: tm, Runnable: tm, Starting: tm},
		Run: func(ctx context.Context, c Container, stop <-chan struct{}, out io.Writer) int {
			mu.Lock()
			got = c
			mu.Unlock()
			fmt.Fprintln(out, "hello from", c.JobName)
			fmt.Fprint(out, "no newline")
			<-release
			return 0
		},
	})
	c := newClients(s)
	q := s.CreateJobQueue("q")
	secretARN := s.PutSecret("jetrun/token", "s3cr3t")
	paramARN := s.PutParameter("/jetrun/param", "p4r4m")
	def := s.RegisterJobDefinition(JobDefinition{
		Name: "worker", Image: "img", Command: []string{"run"}, Platform: "FARGATE", VCPU: "0.5", MemoryMiB: 1024,
		Env:     map[string]string{"DEF": "d", "BOTH": "def"},
		Secrets: map[string]string{"TOKEN": secretARN, "PARAM": paramARN},
	})
	if want := "arn:aws:batch:us-east-1:123456789012:job-definition/worker:1"; def != want {
		t.Fatalf("definition ARN %s, want %s", def, want)
	}
	id := submit(t, c, &batch.SubmitJobInput{
		JobName: aws.String("job-1"), JobQueue: aws.String(q), JobDefinition: aws.String("worker"),
		ContainerOverrides: &types.ContainerOverrides{
			Command:     []string{"work", "--fast"},
			Environment: []types.KeyValuePair{{Name: aws.String("OVR"), Value: aws.String("o")}, {Name: aws.String("BOTH"), Value: aws.String("ovr")}},
		},
		Tags: map[string]string{"team": "jetrun"},
	})

	var seen []string
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(seen, statusRunning) && time.Now().Before(deadline) {
		if st := s.Status(id); len(seen) == 0 || seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
		time.Sleep(time.Millisecond)
	}
	if want := []string{statusSubmitted, statusPending, statusRunnable, statusStarting, statusRunning}; !slices.Equal(seen, want) {
		t.Fatalf("states %v, want %v", seen, want)
	}
	if s.Live() != 1 {
		t.Fatalf("Live() = %d while running, want 1", s.Live())
	}
	d := describe(t, c, id)
	if d.StartedAt == nil || d.StoppedAt != nil || aws.ToString(d.Container.TaskArn) == "" {
		t.Fatalf("running job: startedAt %v stoppedAt %v taskArn %q", d.StartedAt, d.StoppedAt, aws.ToString(d.Container.TaskArn))
	}
	close(release)
	waitStatus(t, s, id, statusSucceeded)
	if s.Live() != 0 {
		t.Fatalf("Live() = %d after the end, want 0", s.Live())
	}

	d = describe(t, c, id)
	if d.Status != types.JobStatusSucceeded || aws.ToString(d.StatusReason) != reasonEssential {
		t.Fatalf("status %s %q", d.Status, aws.ToString(d.StatusReason))
	}
	if d.CreatedAt == nil || d.StartedAt == nil || d.StoppedAt == nil || !(*d.CreatedAt <= *d.StartedAt && *d.StartedAt <= *d.StoppedAt) {
		t.Fatalf("times created %v started %v stopped %v", d.CreatedAt, d.StartedAt, d.StoppedAt)
	}
	if aws.ToString(d.JobQueue) != q || aws.ToString(d.JobDefinition) != def {
		t.Fatalf("queue %s definition %s", aws.ToString(d.JobQueue), aws.ToString(d.JobDefinition))
	}
	ct := d.Container
	if ct == nil || aws.ToInt32(ct.ExitCode) != 0 || ct.ExitCode == nil || aws.ToString(ct.Image) != "img" ||
		!slices.Equal(ct.Command, []string{"work", "--fast"}) {
		t.Fatalf("container %+v", ct)
	}
	stream := aws.ToString(ct.LogStreamName)
	if !strings.HasPrefix(stream, "worker/default/") || len(stream) != len("worker/default/")+32 {
		t.Fatalf("logStreamName %q", stream)
	}
	env := map[string]string{}
	for _, kv := range ct.Environment {
		env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	if want := map[string]string{"DEF": "d", "BOTH": "ovr", "OVR": "o"}; fmt.Sprint(env) != fmt.Sprint(want) {
		t.Fatalf("DescribeJobs environment %v, want %v (no secrets, no AWS_BATCH_*)", env, want)
	}
	if len(ct.Secrets) != 2 || len(d.Attempts) != 1 || aws.ToString(d.Attempts[0].Container.LogStreamName) != stream ||
		aws.ToInt32(d.Attempts[0].Container.ExitCode) != 0 || d.Tags["team"] != "jetrun" ||
		!slices.Equal(d.PlatformCapabilities, []types.PlatformCapability{types.PlatformCapabilityFargate}) {
		t.Fatalf("secrets %v attempts %+v tags %v platform %v", ct.Secrets, d.Attempts, d.Tags, d.PlatformCapabilities)
	}

	mu.Lock()
	defer mu.Unlock()
	if got.JobID != id || got.JobName != "job-1" || got.VCPU != "0.5" || got.MemoryMiB != 1024 || !slices.Equal(got.Command, []string{"work", "--fast"}) {
		t.Fatalf("Run got %+v", got)
	}
	for k, want := range map[string]string{
		"DEF": "d", "BOTH": "ovr", "OVR": "o", "TOKEN": "s3cr3t", "PARAM": "p4r4m",
		"AWS_BATCH_JOB_ID": id, "AWS_BATCH_JQ_NAME": "q", "AWS_BATCH_JOB_ATTEMPT": "1",
		"AWS_ENDPOINT_URL": s.URL(), "AWS_ACCESS_KEY_ID": DefaultAccessKeyID, "AWS_REGION": "us-east-1",
	} {
		if got.Env[k] != want {
			t.Errorf("container env %s=%q, want %q", k, got.Env[k], want)
		}
	}
	if lines := logLines(t, c, stream); !slices.Equal(lines, []string{"hello from job-1", "no newline"}) {
		t.Fatalf("log lines %q", lines)
	}
}

// workerDef registers a definition that runs the test binary as the
// fake worker.
func workerDef(s *Server, name string, secrets map[string]string) string {
	return s.RegisterJobDefinition(JobDefinition{
		Name: name, Image: workerImage, Env: map[string]string{workerEnv: "1"}, Secrets: secrets,
	})
}

func workerServer(t *testing.T, cfg Config) (*Server, clients, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Images = map[string]string{workerImage: self}
	if cfg.Timing == (Timing{}) {
		cfg.Timing = fast()
	}
	s := Start(t, cfg)
	return s, newClients(s), s.CreateJobQueue("q")
}

func TestProcessJob(t *testing.T) {
	t.Parallel()
	s, c, q := workerServer(t, Config{})
	sec := s.PutSecret("db", `{"user":"u","password":"pw"}`)
	param := s.PutParameter("/jetrun/git", "gitpat")
	workerDef(s, "w", map[string]string{"DB_PASSWORD": sec + ":password::", "GIT": param})
	id := submit(t, c, &batch.SubmitJobInput{
		JobName: aws.String("proc"), JobQueue: aws.String("q"), JobDefinition: aws.String("w"),
		ContainerOverrides: &types.ContainerOverrides{Command: []string{
			"echo", "line one", "err", "to stderr", "env", "AWSTEST_LEAK", "env", "DB_PASSWORD", "env", "GIT",
			"env", "AWS_BATCH_JOB_ATTEMPT", "secret", sec, "param", param, "exit", "3",
		}},
	})
	_ = q
	waitStatus(t, s, id, statusFailed)
	d := describe(t, c, id)
	if aws.ToInt32(d.Container.ExitCode) != 3 || aws.ToString(d.StatusReason) != reasonEssential {
		t.Fatalf("exit %v reason %q", d.Container.ExitCode, aws.ToString(d.StatusReason))
	}
	lines := logLines(t, c, aws.ToString(d.Container.LogStreamName))
	want := []string{"line one", "to stderr", "AWSTEST_LEAK=<unset>", "DB_PASSWORD=pw", "GIT=gitpat",
		"AWS_BATCH_JOB_ATTEMPT=1", `secret={"user":"u","password":"pw"}`, "param=gitpat"}
	if !slices.Equal(lines, want) {
		t.Fatalf("log lines\n got %q\nwant %q", lines, want)
	}
}

func TestTerminateAndTimeout(t *testing.T) {
	t.Parallel()
	s, c, _ := workerServer(t, Config{StopTimeout: 150 * time.Millisecond, TimeoutUnit: time.Millisecond})
	workerDef(s, "w", nil)
	run := func(name string, cmd []string, timeout int32) string {
		in := &batch.SubmitJobInput{
			JobName: aws.String(name), JobQueue: aws.String("q"), JobDefinition: aws.String("w:1"),
			ContainerOverrides: &types.ContainerOverrides{Command: cmd},
		}
		if timeout > 0 {
			in.Timeout = &types.JobTimeout{AttemptDurationSeconds: aws.Int32(timeout)}
		}
		return submit(t, c, in)
	}
	sleeper := run("sleeper", []string{"echo", "up", "sleep", "1h"}, 0)
	stubborn := run("stubborn", []string{"ignoreterm", "echo", "up", "sleep", "1h"}, 0)
	timed := run("timed", []string{"echo", "up", "sleep", "1h"}, 60) // 60 "seconds" of 1ms
	for _, id := range []string{sleeper, stubborn} {
		waitStatus(t, s, id, statusRunning)
		// Wait until the worker is up (its signal disposition set).
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
			if d := describe(t, c, id); len(s.Logs(aws.ToString(d.Container.LogStreamName))) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("worker did not start")
			}
		}
		if _, err := c.batch.TerminateJob(context.Background(), &batch.TerminateJobInput{JobId: aws.String(id), Reason: aws.String("stop it")}); err != nil {
			t.Fatalf("TerminateJob: %v", err)
		}
	}
	for id, want := range map[string]int32{sleeper: 128 + int32(syscall.SIGTERM), stubborn: 128 + int32(syscall.SIGKILL)} {
		waitStatus(t, s, id, statusFailed, statusSucceeded)
		d := describe(t, c, id)
		if d.Status != types.JobStatusFailed || aws.ToString(d.StatusReason) != "stop it" || aws.ToInt32(d.Container.ExitCode) != want ||
			!aws.ToBool(d.IsTerminated) || len(d.Attempts) != 1 {
			t.Errorf("%s: status %s reason %q exit %d (want %d) terminated %v attempts %d", aws.ToString(d.JobName), d.Status,
				aws.ToString(d.StatusReason), aws.ToInt32(d.Container.ExitCode), want, aws.ToBool(d.IsTerminated), len(d.Attempts))
		}
	}
	waitStatus(t, s, timed, statusFailed, statusSucceeded)
	d := describe(t, c, timed)
	if aws.ToString(d.StatusReason) != reasonTimeout || aws.ToInt32(d.Container.ExitCode) != 143 ||
		d.Timeout == nil || aws.ToInt32(d.Timeout.AttemptDurationSeconds) != 60 {
		t.Fatalf("timed out job: reason %q exit %d timeout %+v", aws.ToString(d.StatusReason), aws.ToInt32(d.Container.ExitCode), d.Timeout)
	}
	// Terminating a finished job is a no-op.
	if _, err := c.batch.TerminateJob(context.Background(), &batch.TerminateJobInput{JobId: aws.String(timed), Reason: aws.String("again")}); err != nil {
		t.Fatalf("TerminateJob of a finished job: %v", err)
	}
	if d := describe(t, c, timed); aws.ToString(d.StatusReason) != reasonTimeout {
		t.Fatalf("a finished job changed: %q", aws.ToString(d.StatusReason))
	}
	if s.Live() != 0 {
		t.Fatalf("Live() = %d", s.Live())
	}
}

func TestCancelJob(t *testing.T) {
	t.Parallel()
	stopped := make(chan struct{}, 1)
	s := Start(t, Config{
		Timing:      fast(),
		StopTimeout: time.Second,
		Run: func(ctx context.Context, c Container, stop <-chan struct{}, out io.Writer) int {
			if c.JobName == "quick" {
				return 0
			}
			<-stop
			stopped <- struct{}{}
			return 143
		},
	})
	c := newClients(s)
	s.CreateJobQueue("q")
	s.RegisterJobDefinition(JobDefinition{Name: "d", Image: "img"})
	ctx := context.Background()

	s.HoldRunnable(true)
	queued := submit(t, c, &batch.SubmitJobInput{JobName: aws.String("queued"), JobQueue: aws.String("q"), JobDefinition: aws.String("d")})
	waitStatus(t, s, queued, statusRunnable)
	time.Sleep(20 * time.Millisecond) // held beyond its Runnable time
	if d := describe(t, c, queued); d.Status != types.JobStatusRunnable || !strings.HasPrefix(aws.ToString(d.StatusReason), "CAPACITY:") {
		t.Fatalf("held job: %s %q", d.Status, aws.ToString(d.StatusReason))
	}
	if _, err := c.batch.CancelJob(ctx, &batch.CancelJobInput{JobId: aws.String(queued), Reason: aws.String("not needed")}); err != nil {
		t.Fatalf("CancelJob: %v", err)
	}
	d := describe(t, c, queued)
	if d.Status != types.JobStatusFailed || aws.ToString(d.StatusReason) != "not needed" || !aws.ToBool(d.IsCancelled) || d.StartedAt != nil {
		t.Fatalf("cancelled job: %s %q cancelled %v", d.Status, aws.ToString(d.StatusReason), aws.ToBool(d.IsCancelled))
	}
	s.HoldRunnable(false)

	running := submit(t, c, &batch.SubmitJobInput{JobName: aws.String("running"), JobQueue: aws.String("q"), JobDefinition: aws.String("d")})
	waitStatus(t, s, running, statusRunning)
	if _, err := c.batch.CancelJob(ctx, &batch.CancelJobInput{JobId: aws.String(running), Reason: aws.String("cancel")}); err != nil {
		t.Fatalf("CancelJob of a running job: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	if st := s.Status(running); st != statusRunning {
		t.Fatalf("CancelJob changed a running job to %s", st)
	}
	if _, err := c.batch.TerminateJob(ctx, &batch.TerminateJobInput{JobId: aws.String(running), Reason: aws.String("terminate")}); err != nil {
		t.Fatalf("TerminateJob: %v", err)
	}
	<-stopped
	waitStatus(t, s, running, statusFailed)
	if d := describe(t, c, running); aws.ToString(d.StatusReason) != "terminate" || aws.ToInt32(d.Container.ExitCode) != 143 {
		t.Fatalf("terminated job: %q exit %d", aws.ToString(d.StatusReason), aws.ToInt32(d.Container.ExitCode))
	}

	quick := submit(t, c, &batch.SubmitJobInput{JobName: aws.String("quick"), JobQueue: aws.String("q"), JobDefinition: aws.String("d")})
	waitStatus(t, s, quick, statusSucceeded)
	if _, err := c.batch.CancelJob(ctx, &batch.CancelJobInput{JobId: aws.String(quick), Reason: aws.String("late")}); err != nil {
		t.Fatalf("CancelJob of a finished job: %v", err)
	}
	if st := s.Status(quick); st != statusSucceeded {
		t.Fatalf("CancelJob changed a finished job to %s", st)
	}

	// An unknown job is a silent success, as on Batch; a missing reason is
	// a ClientException.
	if _, err := c.batch.CancelJob(ctx, &batch.CancelJobInput{JobId: aws.String("no-such-job"), Reason: aws.String("x")}); err != nil {
		t.Fatalf("CancelJob(unknown): %v", err)
	}
	if _, err := c.batch.TerminateJob(ctx, &batch.TerminateJobInput{JobId: aws.String("no-such-job"), Reason: aws.String("x")}); err != nil {
		t.Fatalf("TerminateJob(unknown): %v", err)
	}
	_, err := c.batch.TerminateJob(ctx, &batch.TerminateJobInput{JobId: aws.String(quick), Reason: aws.String("")})
	if _, ok := asError[*types.ClientException](err); !ok {
		t.Fatalf("TerminateJob(no reason): %v, want a ClientException", err)
	}
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	s, c, _ := workerServer(t, Config{})
	s.RegisterJobDefinition(JobDefinition{Name: "nopull", Image: "no/such:image"})
	workerDef(s, "nosecret", map[string]string{"X": "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"})
	for def, want := range map[string]string{"nopull": "CannotPullContainerError: ", "nosecret": "ResourceInitializationError: "} {
		id := submit(t, c, &batch.SubmitJobInput{JobName: aws.String(def), JobQueue: aws.String("q"), JobDefinition: aws.String(def)})
		waitStatus(t, s, id, statusFailed, statusSucceeded)
		d := describe(t, c, id)
		if d.Status != types.JobStatusFailed || aws.ToString(d.StatusReason) != reasonStartFailed ||
			!strings.HasPrefix(aws.ToString(d.Container.Reason), want) || d.Container.ExitCode != nil || d.StartedAt != nil {
			t.Errorf("%s: %s %q container reason %q exit %v", def, d.Status, aws.ToString(d.StatusReason), aws.ToString(d.Container.Reason), d.Container.ExitCode)
		}
		// The task never started: its log stream does not exist.
		_, err := c.logs.GetLogEvents(context.Background(), &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(LogGroup), LogStreamName: d.Container.LogStreamName})
		if err == nil {
			t.Errorf("%s: the log stream of a task that never started exists", def)
		}
	}
}

func TestRetryStrategy(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var attempts []string
	s := Start(t, Config{Timing: fast(), Run: func(ctx context.Context, c Container, stop <-chan struct{}, out io.Writer) int {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, c.Env["AWS_BATCH_JOB_ATTEMPT"])
		if len(attempts) == 1 {
			return 1
		}
		return 0
	}})
	c := newClients(s)
	s.CreateJobQueue("q")
	s.RegisterJobDefinition(JobDefinition{Name: "d", Image: "img"})
	id := submit(t, c, &batch.SubmitJobInput{JobName: aws.String("retry"), JobQueue: aws.String("q"), JobDefinition: aws.String("d"),
		RetryStrategy: &types.RetryStrategy{Attempts: aws.Int32(2)}})
	waitStatus(t, s, id, statusSucceeded, statusFailed)
	d := describe(t, c, id)
	if d.Status != types.JobStatusSucceeded || len(d.Attempts) != 2 || aws.ToInt32(d.Attempts[0].Container.ExitCode) != 1 ||
		aws.ToString(d.Attempts[0].Container.TaskArn) == aws.ToString(d.Attempts[1].Container.TaskArn) {
		t.Fatalf("retried job: %s, %d attempts", d.Status, len(d.Attempts))
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(attempts, []string{"1", "2"}) {
		t.Fatalf("AWS_BATCH_JOB_ATTEMPT %v", attempts)
	}
}

func TestSubmitValidation(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Timing: fast(), Run: func(context.Context, Container, <-chan struct{}, io.Writer) int { return 0 }})
	c := newClients(s)
	s.CreateJobQueue("q")
	s.RegisterJobDefinition(JobDefinition{Name: "d", Image: "img"})
	s.RegisterJobDefinition(JobDefinition{Name: "f", Image: "img", Platform: "FARGATE", VCPU: "0.25", MemoryMiB: 512})
	ok := func() *batch.SubmitJobInput {
		return &batch.SubmitJobInput{JobName: aws.String("ok"), JobQueue: aws.String("q"), JobDefinition: aws.String("d")}
	}
	tags51 := map[string]string{}
	for i := range 51 {
		tags51[fmt.Sprint("k", i)] = "v"
	}
	cases := map[string]struct {
		edit func(*batch.SubmitJobInput)
		msg  string
	}{
		"bad name":       {func(in *batch.SubmitJobInput) { in.JobName = aws.String("-bad") }, "Job name should match valid pattern"},
		"long name":      {func(in *batch.SubmitJobInput) { in.JobName = aws.String(strings.Repeat("a", 129)) }, "valid pattern"},
		"unknown queue":  {func(in *batch.SubmitJobInput) { in.JobQueue = aws.String("nope") }, "JobQueue nope not found."},
		"unknown def":    {func(in *batch.SubmitJobInput) { in.JobDefinition = aws.String("nope") }, "does not exist or is not in ACTIVE status"},
		"unknown rev":    {func(in *batch.SubmitJobInput) { in.JobDefinition = aws.String("d:7") }, "not found"},
		"short timeout":  {func(in *batch.SubmitJobInput) { in.Timeout = &types.JobTimeout{AttemptDurationSeconds: aws.Int32(59)} }, "at least 60"},
		"attempts":       {func(in *batch.SubmitJobInput) { in.RetryStrategy = &types.RetryStrategy{Attempts: aws.Int32(11)} }, "between 1 and 10"},
		"too many tags":  {func(in *batch.SubmitJobInput) { in.Tags = tags51 }, "limit of 50"},
		"aws: tag":       {func(in *batch.SubmitJobInput) { in.Tags = map[string]string{"aws:x": "y"} }, "reserved"},
		"long tag value": {func(in *batch.SubmitJobInput) { in.Tags = map[string]string{"k": strings.Repeat("v", 257)} }, "256"},
		"AWS_BATCH env":  {overrideEnv("AWS_BATCH_X"), `cannot start with "AWS_BATCH"`},
		"bad vcpu":       {overrideRR(types.ResourceTypeVcpu, "lots"), "VCPU"},
		"bad resource":   {overrideRR("DISK", "1"), "resource requirement type"},
		"fargate combo":  {fargate(overrideRR(types.ResourceTypeMemory, "4096")), "MEMORY 4096 is not supported with VCPU 0.25"},
		"fargate vcpu":   {fargate(overrideRR(types.ResourceTypeVcpu, "3")), "VCPU 3 is not supported"},
		"fargate gpu":    {fargate(overrideRR(types.ResourceTypeGpu, "1")), "GPU"},
		"empty arg": {func(in *batch.SubmitJobInput) {
			in.ContainerOverrides = &types.ContainerOverrides{Command: []string{"a", ""}}
		}, "empty string"},
		"array job": {func(in *batch.SubmitJobInput) { in.ArrayProperties = &types.ArrayProperties{Size: aws.Int32(2)} }, "not supported"},
		"arn of elsewhere": {func(in *batch.SubmitJobInput) {
			in.JobDefinition = aws.String("arn:aws:batch:eu-west-1:123456789012:job-definition/d:1")
		}, "not found"},
	}
	for name, tc := range cases {
		in := ok()
		tc.edit(in)
		_, err := c.batch.SubmitJob(context.Background(), in)
		ce, isCE := asError[*types.ClientException](err)
		if !isCE {
			t.Errorf("%s: %v, want a ClientException", name, err)
			continue
		}
		if !strings.Contains(ce.ErrorMessage(), tc.msg) {
			t.Errorf("%s: message %q, want it to contain %q", name, ce.ErrorMessage(), tc.msg)
		}
	}
	// Valid: a Fargate combination, name:revision and ARN forms.
	for _, in := range []*batch.SubmitJobInput{
		fargateOK(),
		{JobName: aws.String("byrev"), JobQueue: aws.String("q"), JobDefinition: aws.String("d:1")},
		{JobName: aws.String("byarn"), JobQueue: aws.String("arn:aws:batch:us-east-1:123456789012:job-queue/q"),
			JobDefinition: aws.String("arn:aws:batch:us-east-1:123456789012:job-definition/d")},
	} {
		submit(t, c, in)
	}
	if n := s.Calls()["SubmitJob"]; n != len(cases)+3 {
		t.Fatalf("Calls()[SubmitJob] = %d, want %d", n, len(cases)+3)
	}
	if reqs := s.Requests("SubmitJob"); len(reqs) != len(cases)+3 || !json.Valid(reqs[0]) {
		t.Fatalf("Requests(SubmitJob): %d bodies", len(reqs))
	}
}

func overrideEnv(name string) func(*batch.SubmitJobInput) {
	return func(in *batch.SubmitJobInput) {
		in.ContainerOverrides = &types.ContainerOverrides{Environment: []types.KeyValuePair{{Name: aws.String(name), Value: aws.String("v")}}}
	}
}

func overrideRR(typ types.ResourceType, v string) func(*batch.SubmitJobInput) {
	return func(in *batch.SubmitJobInput) {
		in.ContainerOverrides = &types.ContainerOverrides{ResourceRequirements: []types.ResourceRequirement{{Type: typ, Value: aws.String(v)}}}
	}
}

func fargate(edit func(*batch.SubmitJobInput)) func(*batch.SubmitJobInput) {
	return func(in *batch.SubmitJobInput) {
		in.JobDefinition = aws.String("f")
		edit(in)
	}
}

func fargateOK() *batch.SubmitJobInput {
	in := &batch.SubmitJobInput{JobName: aws.String("fargate"), JobQueue: aws.String("q"), JobDefinition: aws.String("f")}
	in.ContainerOverrides = &types.ContainerOverrides{ResourceRequirements: []types.ResourceRequirement{
		{Type: types.ResourceTypeVcpu, Value: aws.String("2")}, {Type: types.ResourceTypeMemory, Value: aws.String("16384")}}}
	return in
}

func TestDescribeJobsLimit(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	c := newClients(s)
	ids := make([]string, 101)
	for i := range ids {
		ids[i] = fmt.Sprint("job-", i)
	}
	_, err := c.batch.DescribeJobs(context.Background(), &batch.DescribeJobsInput{Jobs: ids})
	ce, ok := asError[*types.ClientException](err)
	if !ok || !strings.Contains(ce.ErrorMessage(), "Maximum number of jobs supported is  100") {
		t.Fatalf("DescribeJobs(101 ids): %v, want a ClientException", err)
	}
	out, err := c.batch.DescribeJobs(context.Background(), &batch.DescribeJobsInput{Jobs: ids[:100]})
	if err != nil || len(out.Jobs) != 0 {
		t.Fatalf("DescribeJobs(100 unknown ids): %v, %d jobs", err, len(out.Jobs))
	}
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Timing: fast(), Run: func(context.Context, Container, <-chan struct{}, io.Writer) int { return 0 }})
	c := newClients(s)
	q := s.CreateJobQueue("q")
	s.CreateJobQueue("other")
	s.RegisterJobDefinition(JobDefinition{Name: "d", Image: "img"})
	ctx := context.Background()
	var ids []string
	for _, name := range []string{"alpha-1", "alpha-2", "Alpha-3", "beta"} {
		ids = append(ids, submit(t, c, &batch.SubmitJobInput{JobName: aws.String(name), JobQueue: aws.String("q"), JobDefinition: aws.String("d")}))
		time.Sleep(2 * time.Millisecond)
	}
	submit(t, c, &batch.SubmitJobInput{JobName: aws.String("alpha-9"), JobQueue: aws.String("other"), JobDefinition: aws.String("d")})
	for _, id := range ids {
		waitStatus(t, s, id, statusSucceeded)
	}
	names := func(in *batch.ListJobsInput) []string {
		t.Helper()
		out, err := c.batch.ListJobs(ctx, in)
		if err != nil {
			t.Fatalf("ListJobs: %v", err)
		}
		var n []string
		for _, j := range out.JobSummaryList {
			n = append(n, aws.ToString(j.JobName))
			if j.Status != types.JobStatusSucceeded || j.CreatedAt == nil || j.StoppedAt == nil || j.Container == nil || aws.ToInt32(j.Container.ExitCode) != 0 {
				t.Errorf("summary %+v", j)
			}
		}
		return n
	}
	filter := func(v string) []types.KeyValuesPair {
		return []types.KeyValuesPair{{Name: aws.String("JOB_NAME"), Values: []string{v}}}
	}
	if got := names(&batch.ListJobsInput{JobQueue: aws.String(q), Filters: filter("alpha*")}); !slices.Equal(got, []string{"Alpha-3", "alpha-2", "alpha-1"}) {
		t.Fatalf("JOB_NAME alpha*: %v", got)
	}
	if got := names(&batch.ListJobsInput{JobQueue: aws.String("q"), Filters: filter("ALPHA-2")}); !slices.Equal(got, []string{"alpha-2"}) {
		t.Fatalf("JOB_NAME ALPHA-2: %v", got)
	}
	if got := names(&batch.ListJobsInput{JobQueue: aws.String("q")}); len(got) != 0 {
		t.Fatalf("no filter, default RUNNING: %v", got)
	}
	if got := names(&batch.ListJobsInput{JobQueue: aws.String("q"), JobStatus: types.JobStatusSucceeded}); len(got) != 4 {
		t.Fatalf("SUCCEEDED: %v", got)
	}
	// Pages of one, newest first, with a job submitted between pages.
	var paged []string
	p := batch.NewListJobsPaginator(c.batch, &batch.ListJobsInput{JobQueue: aws.String("q"), Filters: filter("alpha*"), MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListJobs page: %v", err)
		}
		if len(out.JobSummaryList) > 1 {
			t.Fatalf("page of %d", len(out.JobSummaryList))
		}
		for _, j := range out.JobSummaryList {
			paged = append(paged, aws.ToString(j.JobName))
		}
		if len(paged) == 1 {
			submit(t, c, &batch.SubmitJobInput{JobName: aws.String("alpha-new"), JobQueue: aws.String("q"), JobDefinition: aws.String("d")})
		}
	}
	if !slices.Equal(paged, []string{"Alpha-3", "alpha-2", "alpha-1"}) {
		t.Fatalf("paged: %v", paged)
	}
	_, err := c.batch.ListJobs(ctx, &batch.ListJobsInput{JobQueue: aws.String("nope")})
	if _, ok := asError[*types.ClientException](err); !ok {
		t.Fatalf("ListJobs(unknown queue): %v", err)
	}
}

func TestDefinitionsAndQueues(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	c := newClients(s)
	ctx := context.Background()
	q := s.CreateJobQueue("jobs")
	s.RegisterJobDefinition(JobDefinition{Name: "w", Image: "img:1", Command: []string{"a"}, Env: map[string]string{"K": "V"}})
	arn2 := s.RegisterJobDefinition(JobDefinition{Name: "w", Image: "img:2", Platform: "FARGATE", VCPU: "1", MemoryMiB: 2048,
		Secrets: map[string]string{"S": "arn:aws:ssm:us-east-1:123456789012:parameter/x"}, AttemptDurationSeconds: 600})
	if !strings.HasSuffix(arn2, "job-definition/w:2") {
		t.Fatalf("second revision ARN %s", arn2)
	}
	out, err := c.batch.DescribeJobDefinitions(ctx, &batch.DescribeJobDefinitionsInput{JobDefinitionName: aws.String("w"), Status: aws.String("ACTIVE")})
	if err != nil || len(out.JobDefinitions) != 2 {
		t.Fatalf("by name: %v, %d", err, len(out.JobDefinitions))
	}
	out, err = c.batch.DescribeJobDefinitions(ctx, &batch.DescribeJobDefinitionsInput{JobDefinitions: []string{arn2}})
	if err != nil || len(out.JobDefinitions) != 1 {
		t.Fatalf("by ARN: %v, %d", err, len(out.JobDefinitions))
	}
	d := out.JobDefinitions[0]
	cp := d.ContainerProperties
	if aws.ToInt32(d.Revision) != 2 || aws.ToString(d.Status) != "ACTIVE" || aws.ToString(d.Type) != "container" ||
		!slices.Equal(d.PlatformCapabilities, []types.PlatformCapability{types.PlatformCapabilityFargate}) ||
		aws.ToString(cp.Image) != "img:2" || len(cp.Secrets) != 1 || aws.ToString(cp.Secrets[0].ValueFrom) == "" ||
		cp.LogConfiguration == nil || cp.LogConfiguration.LogDriver != types.LogDriverAwslogs ||
		d.Timeout == nil || aws.ToInt32(d.Timeout.AttemptDurationSeconds) != 600 || len(cp.ResourceRequirements) != 2 {
		t.Fatalf("definition %+v", d)
	}
	out, err = c.batch.DescribeJobDefinitions(ctx, &batch.DescribeJobDefinitionsInput{JobDefinitions: []string{"w:1"}})
	if err != nil || len(out.JobDefinitions) != 1 || aws.ToString(out.JobDefinitions[0].ContainerProperties.Environment[0].Value) != "V" {
		t.Fatalf("by name:revision: %v %+v", err, out.JobDefinitions)
	}
	reg, err := c.batch.RegisterJobDefinition(ctx, &batch.RegisterJobDefinitionInput{
		JobDefinitionName: aws.String("w"), Type: types.JobDefinitionTypeContainer,
		ContainerProperties: &types.ContainerProperties{Image: aws.String("img:3"), ResourceRequirements: []types.ResourceRequirement{
			{Type: types.ResourceTypeVcpu, Value: aws.String("1")}, {Type: types.ResourceTypeMemory, Value: aws.String("512")}}},
	})
	if err != nil || aws.ToInt32(reg.Revision) != 3 {
		t.Fatalf("RegisterJobDefinition: %v %+v", err, reg)
	}
	qs, err := c.batch.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{JobQueues: []string{"jobs"}})
	if err != nil || len(qs.JobQueues) != 1 {
		t.Fatalf("DescribeJobQueues: %v", err)
	}
	jq := qs.JobQueues[0]
	if aws.ToString(jq.JobQueueArn) != q || jq.State != types.JQStateEnabled || jq.Status != types.JQStatusValid || aws.ToInt32(jq.Priority) != 1 {
		t.Fatalf("queue %+v", jq)
	}
	qs, err = c.batch.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{JobQueues: []string{"missing"}})
	if err != nil || len(qs.JobQueues) != 0 {
		t.Fatalf("DescribeJobQueues(missing): %v %d", err, len(qs.JobQueues))
	}
}

func TestCleanupKillsProcesses(t *testing.T) {
	t.Parallel()
	var pids []int
	t.Run("server", func(t *testing.T) {
		s, c, _ := workerServer(t, Config{})
		workerDef(s, "w", nil)
		id := submit(t, c, &batch.SubmitJobInput{JobName: aws.String("spawner"), JobQueue: aws.String("q"), JobDefinition: aws.String("w"),
			ContainerOverrides: &types.ContainerOverrides{Command: []string{"pid", "spawn", "sleep", "1h"}}})
		waitStatus(t, s, id, statusRunning)
		for deadline := time.Now().Add(10 * time.Second); len(pids) < 2; time.Sleep(2 * time.Millisecond) {
			pids = pids[:0]
			d := describe(t, c, id)
			for _, l := range s.Logs(aws.ToString(d.Container.LogStreamName)) {
				var pid int
				if _, err := fmt.Sscanf(l[strings.Index(l, "=")+1:], "%d", &pid); err == nil {
					pids = append(pids, pid)
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("the worker did not report its pids")
			}
		}
		if s.Live() != 1 {
			t.Fatalf("Live() = %d", s.Live())
		}
	})
	// SIGKILL is delivered asynchronously: give the kernel a moment.
	for _, pid := range pids {
		for deadline := time.Now().Add(5 * time.Second); alive(pid); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Errorf("process %d outlived the server", pid)
				break
			}
		}
	}
}

// alive is whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// BenchmarkJobs runs b.N jobs through a server with Config.Run and no
// state delays: the server's own cost per job.
func BenchmarkJobs(b *testing.B) {
	s := Start(b, Config{
		Timing: Timing{Submitted: -1, Pending: -1, Runnable: -1, Starting: -1},
		Run:    func(context.Context, Container, <-chan struct{}, io.Writer) int { return 0 },
	})
	c := newClients(s)
	s.CreateJobQueue("q")
	s.RegisterJobDefinition(JobDefinition{Name: "d", Image: "img"})
	ctx := context.Background()
	b.ResetTimer()
	ids := make([]string, 0, b.N)
	for i := range b.N {
		out, err := c.batch.SubmitJob(ctx, &batch.SubmitJobInput{JobName: aws.String(fmt.Sprint("j", i)), JobQueue: aws.String("q"), JobDefinition: aws.String("d")})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.JobId))
	}
	for _, id := range ids {
		for s.Status(id) != statusSucceeded {
			time.Sleep(time.Millisecond)
		}
	}
}
