package local

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// SuperviseCommand is the worker subcommand that runs the supervisor. The
// local runtime launches "<worker> supervise --dir D ... -- <worker> <op> ..."
// in a new session; cmd/worker dispatches it to Supervise.
const SuperviseCommand = "supervise"

// Supervise is the local runtime's per-workload supervisor (a "shim", as
// containerd calls it). It outlives the dispatcher that launched it so that
// a finished workload's exit status is never lost:
//
//   - it holds an exclusive flock on shim.lock for its whole life, which is
//     how a restarted dispatcher tells "running" from "gone" without trusting pids;
//   - it starts the worker in a process group of its own and records its pid
//     and start time in worker.json;
//   - it enforces the deadline (SIGTERM to the group, grace, SIGKILL);
//   - it forwards SIGTERM/SIGINT to the group and ignores SIGHUP;
//   - when the worker exits it kills what is left of the group and writes
//     exit.json atomically.
//
// It reports readiness by writing "ok" to file descriptor 3 (or an error
// text) and returns the supervisor's own exit code.
func Supervise(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet(SuperviseCommand, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "state directory of the workload")
	deadline := fs.Int64("deadline", 0, "unix time in nanoseconds at which the worker is stopped (0: none)")
	grace := fs.Duration("grace", 10*time.Second, "time between SIGTERM and SIGKILL at the deadline")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	// The readiness pipe must not leak into the worker, or the launcher
	// would wait for the worker's exit instead of its start.
	syscall.CloseOnExec(3)
	ready := os.NewFile(3, "ready")
	fail := func(format string, a ...any) int {
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintln(stderr, "jetrun-supervise:", msg)
		if ready != nil {
			io.WriteString(ready, "error: "+msg)
			ready.Close()
		}
		return 125
	}
	cmdArgs := fs.Args()
	if *dir == "" || len(cmdArgs) == 0 {
		return fail("usage: supervise --dir DIR [--deadline NS] [--grace D] -- COMMAND [ARG...]")
	}
	// Another process's liveness probe (Inspect) may hold the lock for an
	// instant; a live supervisor holds it for good.
	var lock *os.File
	var err error
	for try := 0; ; try++ {
		lock, err = lockFile(filepath.Join(*dir, fileShimLock), false)
		if err == nil || !errors.Is(err, errLocked) || try == 100 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fail("another supervisor holds %s: %v", *dir, err)
	}
	defer lock.Close()
	if exists(filepath.Join(*dir, fileExit)) || exists(filepath.Join(*dir, fileShim)) {
		return fail("workload %s was already launched", filepath.Base(*dir))
	}
	self := proc{PID: os.Getpid(), StartTick: procStartTick(os.Getpid()), StartedAt: time.Now().UTC()}
	if err := writeJSONAtomic(filepath.Join(*dir, fileShim), self); err != nil {
		return fail("write %s: %v", fileShim, err)
	}

	// Signals first, so a SIGTERM that arrives during the worker's start is
	// not lost.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	cmd := exec.Command(cmdArgs[0], cmdArgs[1:]...)
	cmd.Stdin = nil
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	started := time.Now().UTC()
	if err := cmd.Start(); err != nil {
		info := exitInfo{ExitCode: 127, Reason: "start worker: " + err.Error(), StartedAt: started, FinishedAt: time.Now().UTC()}
		if werr := writeJSONAtomic(filepath.Join(*dir, fileExit), info); werr != nil {
			return fail("start worker: %v; write %s: %v", err, fileExit, werr)
		}
		fmt.Fprintln(stderr, "jetrun-supervise: start worker:", err)
		if ready != nil {
			io.WriteString(ready, "ok")
			ready.Close()
		}
		return 0
	}
	worker := proc{PID: cmd.Process.Pid, StartTick: procStartTick(cmd.Process.Pid), StartedAt: started}
	if err := writeJSONAtomic(filepath.Join(*dir, fileWorker), worker); err != nil {
		syscall.Kill(-worker.PID, syscall.SIGKILL)
		cmd.Wait()
		return fail("write %s: %v", fileWorker, err)
	}
	if ready != nil {
		io.WriteString(ready, "ok")
		ready.Close()
	}

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	var timer <-chan time.Time
	if *deadline > 0 {
		t := time.NewTimer(time.Until(time.Unix(0, *deadline)))
		defer t.Stop()
		timer = t.C
	}
	var kill <-chan time.Time
	timedOut, terminated := false, false
	var waitErr error
loop:
	for {
		select {
		case waitErr = <-done:
			break loop
		case s := <-sigs:
			if s == syscall.SIGHUP {
				continue
			}
			terminated = true
			syscall.Kill(-worker.PID, syscall.SIGTERM)
		case <-timer:
			timedOut = true
			timer = nil
			fmt.Fprintf(stderr, "jetrun-supervise: deadline reached, sending SIGTERM (grace %s)\n", *grace)
			syscall.Kill(-worker.PID, syscall.SIGTERM)
			kill = time.After(*grace)
		case <-kill:
			fmt.Fprintln(stderr, "jetrun-supervise: grace period over, sending SIGKILL")
			syscall.Kill(-worker.PID, syscall.SIGKILL)
			kill = nil
		}
	}
	// Whatever the worker left behind in its group goes with it.
	syscall.Kill(-worker.PID, syscall.SIGKILL)

	info := exitInfo{StartedAt: started, FinishedAt: time.Now().UTC(), TimedOut: timedOut, Cancelled: terminated}
	info.ExitCode, info.Signal, info.Reason = describeExit(cmd.ProcessState, waitErr)
	if timedOut {
		limit := time.Unix(0, *deadline).Sub(started).Round(time.Millisecond)
		info.Reason = fmt.Sprintf("timeout after %s (%s)", limit, info.Reason)
	}
	if err := writeJSONAtomic(filepath.Join(*dir, fileExit), info); err != nil {
		fmt.Fprintln(stderr, "jetrun-supervise: write exit status:", err)
		return 1
	}
	return 0
}

// describeExit turns a process state into an exit code, signal name and
// reason; a signal death is reported as 128+signal like a shell does.
func describeExit(ps *os.ProcessState, waitErr error) (int, string, string) {
	if ps == nil {
		return -1, "", "wait: " + errString(waitErr)
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		name := signalName(ws.Signal())
		return 128 + int(ws.Signal()), name, "killed by " + name
	}
	code := ps.ExitCode()
	if code == 0 {
		return 0, "", ""
	}
	return code, "", "exit code " + strconv.Itoa(code)
}

func errString(err error) string {
	if err == nil {
		return "unknown"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	return err.Error()
}
