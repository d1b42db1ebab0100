package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/testbin"
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/local"
	"github.com/jetrun/jetrun/pkg/runtimes/runtimetest"
	"github.com/rs/zerolog"
)

var workerBin string

func TestMain(m *testing.M) {
	workerBin = testbin.MustPath("worker")
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

func newRuntime(t *testing.T, dir string) *local.Runtime {
	t.Helper()
	rt, err := local.New(local.Config{Dir: dir, WorkerBin: workerBin, TimeoutGrace: time.Second}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func TestConformance(t *testing.T) {
	runtimetest.Run(t, func(t *testing.T) runtimetest.Harness {
		dir := t.TempDir()
		rt := newRuntime(t, dir)
		return runtimetest.Harness{
			Runtime: rt,
			Reopen:  func(t *testing.T) runtimes.Runtime { return newRuntime(t, dir) },
			CheckGone: func(t *testing.T, h runtimes.Handle) {
				checkGroupGone(t, rt, h)
			},
		}
	})
}

// checkGroupGone fails if any process of the workload's group remains.
func checkGroupGone(t *testing.T, rt *local.Runtime, h runtimes.Handle) {
	t.Helper()
	pgid := workerPID(t, rt, h)
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := syscall.Kill(-pgid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still exists (kill -0: %v)", pgid, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func workerPID(t *testing.T, rt *local.Runtime, h runtimes.Handle) int {
	t.Helper()
	dir, err := rt.Dir(h)
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		PID int `json:"pid"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "worker.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := jsonUnmarshal(b, &w); err != nil || w.PID <= 0 {
		t.Fatalf("worker.json: %s (%v)", b, err)
	}
	return w.PID
}

// One process per job: every worker is a child of the runtime's one
// supervisor, and nothing else runs per job.
func TestOneSupervisorForAllJobs(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	h := runtimetest.Harness{Runtime: rt}
	parents := map[int]bool{}
	var handles []runtimes.Handle
	for range 3 {
		hd, err := rt.Start(context.Background(), h.Spec(jobs.SmokeParams{Sleep: "3s"}, time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, hd)
		parents[parentPID(t, workerPID(t, rt, hd))] = true
	}
	if len(parents) != 1 {
		t.Fatalf("workers have parents %v, want one supervisor", parents)
	}
	for sup := range parents {
		if sup == os.Getpid() {
			t.Fatal("the worker is the test process's own child: no supervisor")
		}
		cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(sup) + "/cmdline")
		if args := strings.Split(string(cmdline), "\x00"); len(args) < 2 || args[1] != local.SuperviseCommand {
			t.Fatalf("parent %d runs %q, want the supervisor", sup, args)
		}
	}
	for _, hd := range handles {
		if err := rt.Stop(context.Background(), hd, time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// The supervisor outlives the runtime that started it (a dispatcher
// SIGKILLed while its worker runs): the exit status is recorded anyway,
// and the supervisor exits after its last worker.
func TestExitRecordedAfterRuntimeGone(t *testing.T) {
	dir := t.TempDir()
	rt := newRuntime(t, dir)
	h := runtimetest.Harness{Runtime: rt}
	hd, err := rt.Start(context.Background(), h.Spec(jobs.SmokeParams{Sleep: "1s", ExitCode: 7}, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	sup := parentPID(t, workerPID(t, rt, hd))
	rt.Close() // as if the dispatcher were gone: the supervisor's requests end
	// A second runtime over the same directory, as a restarted dispatcher.
	st, err := newRuntime(t, dir).Wait(context.Background(), hd)
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase != runtimes.PhaseFailed || st.ExitCode != 7 {
		t.Fatalf("status = %+v, want failed with exit code 7", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(sup, 0) == nil {
		if b, _ := os.ReadFile("/proc/" + strconv.Itoa(sup) + "/stat"); strings.Contains(string(b), ") Z ") {
			break // exited; its parent has not reaped it yet
		}
		if time.Now().After(deadline) {
			t.Fatalf("supervisor %d still running after its last worker", sup)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func parentPID(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// A SIGTERM to the supervisor (an operator stopping the host's jetrun) is
// passed on to every worker's group, and each exit is still recorded.
func TestSupervisorForwardsSIGTERM(t *testing.T) {
	rt := newRuntime(t, t.TempDir())
	h := runtimetest.Harness{Runtime: rt}
	var handles []runtimes.Handle
	for range 2 {
		hd, err := rt.Start(context.Background(), h.Spec(jobs.SmokeParams{Sleep: "30s", Message: "ready"}, time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, hd)
	}
	for _, hd := range handles {
		waitLogged(t, rt, hd, "ready")
	}
	sup := parentPID(t, workerPID(t, rt, handles[0]))
	if err := syscall.Kill(sup, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for _, hd := range handles {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		st, err := rt.Wait(ctx, hd)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if st.Phase != runtimes.PhaseFailed || st.ExitCode != 143 {
			t.Fatalf("%s: status %+v, want the worker's own SIGTERM exit (143)", hd.Name, st)
		}
		checkGroupGone(t, rt, hd)
	}
}

// waitLogged waits until the workload's output contains s: its SIGTERM
// handler is installed by then.
func waitLogged(t *testing.T, rt *local.Runtime, hd runtimes.Handle, s string) {
	t.Helper()
	dir, _ := rt.Dir(hd)
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "output.log"))
		if strings.Contains(string(b), s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: output %q has no %q", hd.Name, b, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
