package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/awstest"
	"github.com/jetrun/jetrun/internal/testbin"
	"github.com/jetrun/jetrun/pkg/messages"
)

// batchEnv starts an in-process AWS (Batch, CloudWatch Logs) whose jobs
// run the real worker binary, and returns it with the environment that
// points a dispatcher at it with RUNTIME_BACKEND=aws_batch.
func batchEnv(t *testing.T) (*awstest.Server, []string) {
	t.Helper()
	worker, err := testbin.Path("worker")
	if err != nil {
		t.Fatal(err)
	}
	const image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/jetrun/worker:e2e"
	srv := awstest.Start(t, awstest.Config{
		Images:      map[string]string{image: worker},
		Timing:      awstest.Timing{Submitted: 20 * time.Millisecond, Pending: 20 * time.Millisecond, Runnable: 100 * time.Millisecond, Starting: 50 * time.Millisecond},
		StopTimeout: 2 * time.Second,
	})
	srv.CreateJobQueue("jetrun")
	srv.RegisterJobDefinition(awstest.JobDefinition{Name: "jetrun-worker", Image: image, Platform: "FARGATE", VCPU: "1", MemoryMiB: 2048})
	env := []string{"AWS_BATCH_JOB_QUEUE=jetrun", "AWS_BATCH_JOB_DEFINITION=jetrun-worker", "JETRUN_BATCH_POLL=200ms"}
	for k, v := range srv.Env() {
		env = append(env, k+"="+v)
	}
	return srv, env
}

// TestAWSBatchRuntimeEndToEnd: the dispatcher binary on the aws_batch
// runtime, through the real SDK, against the in-process AWS: a smoke job
// with progress, an indexing job that reads its upload from NATS and
// writes to the vector server, a cancelled job, and the logs.
func TestAWSBatchRuntimeEndToEnd(t *testing.T) {
	srv, env := batchEnv(t)
	d := startDevArgs(t, []string{"--runtime", "aws_batch"}, env...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	r := submitDev(t, ctx, d, "smoke", "--wait", "--progress", "2", "--message", "hello from batch", "--id", "batch-smoke")
	if r.code != exitOK || !strings.Contains(r.stdout, "succeeded") || !strings.Contains(r.stdout, "on aws_batch") {
		t.Fatalf("smoke on aws_batch: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if r := submitDev(t, ctx, d, "logs", "batch-smoke"); !strings.Contains(r.stdout, "hello from batch") {
		t.Fatalf("logs from CloudWatch: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	p := filepath.Join(t.TempDir(), "src.tar.gz")
	writeTarGz(t, p, map[string]string{"pkg/listen.go": e2eGo, "ops/shutdown.py": e2ePy})
	r = submitDev(t, ctx, d, "upload-file", p, "--collection", "batch", "--source", "src", "--wait")
	if r.code != exitOK {
		t.Fatalf("upload-file on aws_batch: exit %d\n%s\n%s\nworker output:\n%s", r.code, r.stdout, r.stderr, jobLogs(t, ctx, d, r.stderr))
	}
	if state, err := devStore(t, d.qdrant).SourceState(ctx, "batch", "src"); err != nil || len(state) != 2 {
		t.Fatalf("indexed from a Batch job: %v %v", state, err)
	}

	// Cancel a running job: TerminateJob, and nothing left running.
	if r := submitDev(t, ctx, d, "smoke", "--sleep", "5m", "--message", "ready", "--id", "batch-cancel"); r.code != exitOK {
		t.Fatalf("submit: %d %s", r.code, r.stderr)
	}
	waitBatchStatus(t, srv, "jetrun-batch-cancel-a1", "RUNNING")
	if r := submitDev(t, ctx, d, "cancel", "batch-cancel"); r.code != exitOK {
		t.Fatalf("cancel: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := submitDev(t, ctx, d, "watch", "batch-cancel"); !strings.Contains(r.stdout, "cancelled") {
		t.Fatalf("watch after cancel: %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if n := srv.Calls()["TerminateJob"]; n < 1 {
		t.Errorf("calls %v: the running job was not terminated", srv.Calls())
	}
	if n := srv.Live(); n != 0 {
		t.Errorf("%d job containers still running", n)
	}
}

// TestAWSBatchJobSurvivesADispatcherSIGKILL: a dispatcher killed while its
// Batch job runs is replaced by another on the same data; the new one
// adopts the job (the handle's Batch job id) and records its result. The
// job is submitted once.
func TestAWSBatchJobSurvivesADispatcherSIGKILL(t *testing.T) {
	srv, env := batchEnv(t)
	args := []string{"--runtime", "aws_batch", "--ack-wait", "5s", "--data-dir", t.TempDir()}
	d := startDevArgs(t, args, env...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if r := submitDev(t, ctx, d, "smoke", "--sleep", "6s", "--id", "batch-adopt"); r.code != exitOK {
		t.Fatalf("submit: %d %s", r.code, r.stderr)
	}
	waitBatchStatus(t, srv, "jetrun-batch-adopt-a1", "RUNNING")
	d.proc.Signal(syscall.SIGKILL)
	d.proc.Wait()

	d2 := startDevArgs(t, args, env...)
	r := submitDev(t, ctx, d2, "watch", "batch-adopt")
	if r.code != exitOK || !strings.Contains(r.stdout, "succeeded") {
		t.Fatalf("after the SIGKILL: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	st := submitDev(t, ctx, d2, "status", "batch-adopt", "--output", "json")
	var rec messages.Record
	if err := json.Unmarshal([]byte(st.stdout), &rec); err != nil || rec.Attempt != 1 || rec.Handle == nil || rec.Handle.ID == "" {
		t.Fatalf("record after adoption: %+v %v (one attempt, the same Batch job)", rec, err)
	}
	submits := 0
	for _, b := range srv.Requests("SubmitJob") {
		if strings.Contains(string(b), `"jobName":"jetrun-batch-adopt-a1"`) {
			submits++
		}
	}
	if submits != 1 {
		t.Fatalf("the job was submitted %d times, want 1", submits)
	}
}

// waitBatchStatus waits until Batch's job of that name has the status.
func waitBatchStatus(t *testing.T, srv *awstest.Server, name, status string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, id := range srv.JobIDs(name) {
			if srv.Status(id) == status {
				return
			}
		}
	}
	t.Fatalf("Batch job %s never reached %s", name, status)
}
