package local_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/testbin"
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
