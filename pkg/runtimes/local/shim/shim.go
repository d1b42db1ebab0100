// Package shim is the local runtime's supervisor (a "shim", as containerd
// calls it) and the on-disk protocol it shares with package local: the
// state directory's file names, their JSON shapes and the locks.
//
// One supervisor process serves one local.Runtime (one dispatcher): the
// runtime starts it once, in a session of its own, and sends it a launch
// request per workload over a pipe. The supervisor is the parent of every
// worker it starts, so each job costs one process, the worker, and its
// exit status is recorded even when the dispatcher is dead at the moment
// the worker exits: the supervisor outlives the dispatcher until its last
// worker has ended. A restarted dispatcher starts a supervisor of its own
// and finds the old one's workloads from their state directories alone.
//
// Protocol: newline-delimited JSON. The runtime writes Requests to the
// supervisor's file descriptor 3 and reads Replies from its descriptor 4
// (not stdout: a write to a broken stdout would kill a Go process with
// SIGPIPE once the dispatcher is gone). For each request the supervisor
// answers with a Reply of the same ID once the worker has started, or with
// its Error; when a worker's exit is recorded it sends a Reply whose
// Exited names the workload's directory. When descriptor 3 reaches end of
// file (the runtime closed it, or its process died) the supervisor stops
// reading and exits once its last worker has ended.
//
// Per workload the supervisor
//
//   - holds an exclusive flock on shim.lock from before the worker starts
//     until its exit is recorded: how any process tells "running" from
//     "gone" without trusting pids;
//   - starts the worker in a process group of its own, with stdout and
//     stderr appended to output.log, and records its pid and start time in
//     worker.json;
//   - enforces the deadline (SIGTERM to the group, grace, SIGKILL);
//   - when the worker exits, kills what is left of its group and writes
//     exit.json atomically, then releases the lock.
//
// SIGTERM and SIGINT sent to the supervisor are forwarded to every
// worker's group (their exits are then marked cancelled); SIGHUP and
// SIGPIPE are ignored.
//
// The package imports only the standard library and golang.org/x/sys; the
// worker binary runs Serve as its internal "supervise" operation.
package shim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Request asks the supervisor to launch one workload.
type Request struct {
	ID int `json:"id"`
	// Dir is the workload's state directory; it exists and holds spec.json.
	Dir string `json:"dir"`
	// Argv is the worker's command line, Argv[0] an absolute path.
	Argv []string `json:"argv"`
	// Env is the worker's whole environment.
	Env []string `json:"env"`
	// Deadline is the unix time in nanoseconds at which the worker is
	// stopped (0: none); Grace the time between its SIGTERM and SIGKILL.
	Deadline int64         `json:"deadline,omitempty"`
	Grace    time.Duration `json:"grace,omitempty"`
}

// Reply answers a Request (ID set), or reports a recorded exit (Exited set).
type Reply struct {
	ID     int    `json:"id,omitempty"`
	PID    int    `json:"pid,omitempty"`
	Error  string `json:"error,omitempty"`
	Exited string `json:"exited,omitempty"`
}

// Descriptors of the supervisor's pipes to its runtime.
const (
	RequestFD = 3
	ReplyFD   = 4
)

// Serve is the supervisor's main. It reads requests from descriptor 3,
// writes replies to descriptor 4 and logs to stderr; it returns its exit
// code once its input is closed and its last worker has ended.
func Serve(stderr io.Writer) int {
	in := os.NewFile(RequestFD, "requests")
	out := os.NewFile(ReplyFD, "replies")
	if in == nil || out == nil {
		fmt.Fprintln(stderr, "jetrun supervisor: started without its pipes (descriptors 3 and 4); it is run by the local runtime")
		return 2
	}
	// Neither pipe may leak into a worker: a worker holding the request
	// pipe's read end would keep nothing open, but one holding the reply
	// pipe's write end would hide the supervisor's death from the runtime.
	syscall.CloseOnExec(RequestFD)
	syscall.CloseOnExec(ReplyFD)
	s := &server{out: out, log: stderr, groups: map[int]bool{}}
	signal.Ignore(syscall.SIGHUP, syscall.SIGPIPE)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for range sigs {
			s.terminateAll()
		}
	}()

	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var req Request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			s.reply(Reply{Error: "bad request: " + err.Error()})
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.launch(req)
		}()
	}
	s.wg.Wait()
	return 0
}

type server struct {
	log io.Writer
	wg  sync.WaitGroup

	outMu sync.Mutex
	out   *os.File

	mu         sync.Mutex
	groups     map[int]bool // process groups of running workers
	terminated bool         // SIGTERM or SIGINT received
}

func (s *server) reply(r Reply) {
	b, _ := json.Marshal(r)
	s.outMu.Lock()
	defer s.outMu.Unlock()
	// An error means the runtime is gone; the exit is on disk regardless.
	s.out.Write(append(b, '\n'))
}

func (s *server) terminateAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.terminated = true
	for pgid := range s.groups {
		syscall.Kill(-pgid, syscall.SIGTERM)
	}
}

// launch supervises one workload from its lock to its recorded exit.
func (s *server) launch(req Request) {
	fail := func(format string, a ...any) {
		s.reply(Reply{ID: req.ID, Error: fmt.Sprintf(format, a...)})
	}
	if req.Dir == "" || len(req.Argv) == 0 {
		fail("request without a directory or a command")
		return
	}
	// Another process's liveness probe (Inspect) may hold the lock for an
	// instant; a live supervisor holds it for good.
	var lock *os.File
	var err error
	for try := 0; ; try++ {
		lock, err = Lock(filepath.Join(req.Dir, FileShimLock), false)
		if err == nil || !errors.Is(err, ErrLocked) || try == 100 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		fail("workload %s is supervised already: %v", filepath.Base(req.Dir), err)
		return
	}
	defer lock.Close()
	if Exists(filepath.Join(req.Dir, FileExit)) || Exists(filepath.Join(req.Dir, FileShim)) {
		fail("workload %s was already launched", filepath.Base(req.Dir))
		return
	}
	self := Proc{PID: os.Getpid(), StartTick: StartTick(os.Getpid()), StartedAt: time.Now().UTC()}
	if err := WriteJSON(filepath.Join(req.Dir, FileShim), self, false); err != nil {
		fail("write %s: %v", FileShim, err)
		return
	}
	logf, err := os.OpenFile(filepath.Join(req.Dir, FileLog), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.recordNoStart(req, lock, "open "+FileLog+": "+err.Error())
		return
	}
	defer logf.Close()
	say := func(format string, a ...any) { fmt.Fprintf(logf, "jetrun supervisor: "+format+"\n", a...) }

	cmd := exec.Command(req.Argv[0], req.Argv[1:]...)
	cmd.Dir = req.Dir
	cmd.Env = req.Env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	started := time.Now().UTC()
	s.mu.Lock() // a SIGTERM from now on reaches this worker too
	err = cmd.Start()
	if err == nil {
		s.groups[cmd.Process.Pid] = true
	}
	terminated := s.terminated
	s.mu.Unlock()
	if err != nil {
		say("start worker: %v", err)
		s.recordNoStart(req, lock, "start worker: "+err.Error())
		return
	}
	pgid := cmd.Process.Pid
	if terminated {
		syscall.Kill(-pgid, syscall.SIGTERM)
	}
	worker := Proc{PID: pgid, StartTick: StartTick(pgid), StartedAt: started}
	if err := WriteJSON(filepath.Join(req.Dir, FileWorker), worker, false); err != nil {
		syscall.Kill(-pgid, syscall.SIGKILL)
		cmd.Wait()
		s.forget(pgid)
		s.writeExit(req, Exit{ExitCode: 125, Reason: "write " + FileWorker + ": " + err.Error(), StartedAt: started, FinishedAt: time.Now().UTC()})
		fail("write %s: %v", FileWorker, err)
		return
	}
	s.reply(Reply{ID: req.ID, PID: pgid})

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var timer, kill <-chan time.Time
	if req.Deadline > 0 {
		t := time.NewTimer(time.Until(time.Unix(0, req.Deadline)))
		defer t.Stop()
		timer = t.C
	}
	grace := req.Grace
	if grace <= 0 {
		grace = 10 * time.Second
	}
	timedOut := false
	var waitErr error
loop:
	for {
		select {
		case waitErr = <-done:
			break loop
		case <-timer:
			timedOut, timer = true, nil
			say("deadline reached, sending SIGTERM (grace %s)", grace)
			syscall.Kill(-pgid, syscall.SIGTERM)
			kill = time.After(grace)
		case <-kill:
			say("grace period over, sending SIGKILL")
			syscall.Kill(-pgid, syscall.SIGKILL)
			kill = nil
		}
	}
	// Whatever the worker left behind in its group goes with it.
	syscall.Kill(-pgid, syscall.SIGKILL)
	s.mu.Lock()
	terminated = s.terminated
	s.mu.Unlock()
	s.forget(pgid)

	info := Exit{StartedAt: started, FinishedAt: time.Now().UTC(), TimedOut: timedOut, Cancelled: terminated}
	info.ExitCode, info.Signal, info.Reason = describeExit(cmd.ProcessState, waitErr)
	if timedOut {
		limit := time.Unix(0, req.Deadline).Sub(started).Round(time.Millisecond)
		info.Reason = fmt.Sprintf("timeout after %s (%s)", limit, info.Reason)
	}
	if err := s.writeExit(req, info); err != nil {
		say("write exit status: %v", err) // Inspect will say "exit status unknown"
	}
	lock.Close()
	s.reply(Reply{Exited: req.Dir})
}

func (s *server) forget(pgid int) {
	s.mu.Lock()
	delete(s.groups, pgid)
	s.mu.Unlock()
}

// recordNoStart records a worker that could not be started as exit code
// 127 and answers the request: the workload exists, and failed.
func (s *server) recordNoStart(req Request, lock *os.File, reason string) {
	now := time.Now().UTC()
	if err := s.writeExit(req, Exit{ExitCode: 127, Reason: reason, StartedAt: now, FinishedAt: now}); err != nil {
		s.reply(Reply{ID: req.ID, Error: reason + "; write " + FileExit + ": " + err.Error()})
		return
	}
	lock.Close()
	s.reply(Reply{ID: req.ID})
	s.reply(Reply{Exited: req.Dir})
}

// writeExit writes exit.json durably: it is the one file a host crash
// must not lose.
func (s *server) writeExit(req Request, info Exit) error {
	if err := WriteJSON(filepath.Join(req.Dir, FileExit), info, true); err != nil {
		fmt.Fprintf(s.log, "jetrun supervisor: %s: write exit status: %v\n", req.Dir, err)
		return err
	}
	return nil
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
