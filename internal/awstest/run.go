package awstest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// maxEventBytes is the largest CloudWatch Logs event message: 256 KiB
// less the 26 bytes of per-event overhead. Longer lines are split, as the
// awslogs driver does.
const maxEventBytes = 256*1024 - 26

// drainTimeout bounds the wait for a container's output after its main
// process exited and its process group was killed (a process that left
// the group may hold the pipe open).
const drainTimeout = 2 * time.Second

// running is a started container.
type running struct {
	done <-chan int // the exit code, once
	term func()     // SIGTERM
	kill func()     // SIGKILL
}

// pause waits d in j's current state; false if the job was stopped
// (CancelJob, TerminateJob) or the server is stopping.
func (s *Server) pause(j *job, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-j.termCh:
			return false
		case <-s.ctx.Done():
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-j.termCh:
		return false
	case <-s.ctx.Done():
		return false
	}
}

// advance moves j from one status to the next; false if it is no longer
// in from (cancelled meanwhile).
func (s *Server) advance(j *job, from, to string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.status != from || j.termRequested {
		return false
	}
	j.status = to
	j.statusReason = ""
	if to == statusRunnable && s.held {
		j.statusReason = reasonNoCapacity
	}
	return true
}

// waitCapacity waits while HoldRunnable holds jobs; false if the job was
// stopped or the server is stopping.
func (s *Server) waitCapacity(j *job) bool {
	for {
		s.mu.Lock()
		held, release := s.held, s.release
		s.mu.Unlock()
		if !held {
			return true
		}
		select {
		case <-release:
		case <-j.termCh:
			return false
		case <-s.ctx.Done():
			return false
		}
	}
}

// lifecycle drives j through its states until it ends or the server
// stops.
func (s *Server) lifecycle(j *job) {
	defer s.wg.Done()
	tm := s.cfg.Timing
	if !s.pause(j, tm.Submitted) || !s.advance(j, statusSubmitted, statusPending) {
		return
	}
	if !s.pause(j, tm.Pending) || !s.advance(j, statusPending, statusRunnable) {
		return
	}
	for attempt := 1; ; attempt++ {
		if !s.pause(j, tm.Runnable) || !s.waitCapacity(j) || !s.startTask(j) {
			return
		}
		if !s.pause(j, tm.Starting) {
			s.endStarting(j)
			return
		}
		if !s.runAttempt(j, attempt) {
			return
		}
	}
}

// startTask moves j from RUNNABLE to STARTING with a new ECS task and log
// stream name; false if it was cancelled meanwhile.
func (s *Server) startTask(j *job) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.status != statusRunnable || j.termRequested {
		return false
	}
	taskID := randomHex(32)
	j.status = statusStarting
	j.statusReason = ""
	j.taskArn = fmt.Sprintf("arn:aws:ecs:%s:%s:task/%s/%s", s.cfg.Region, s.cfg.AccountID, s.clusterID, taskID)
	j.logStream = fmt.Sprintf("%s/default/%s", j.def.name, taskID)
	j.exitCode = nil
	j.reason = ""
	j.startedAt = time.Time{}
	return true
}

// endStarting ends a job stopped while STARTING: TerminateJob fails it
// with its reason before any container ran.
func (s *Server) endStarting(j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.termRequested && j.status == statusStarting {
		j.status = statusFailed
		j.statusReason = j.termReason
		j.stoppedAt = time.Now()
	}
}

// runAttempt runs one attempt of j from STARTING to its end; true if the
// job is to be retried (it is RUNNABLE again).
func (s *Server) runAttempt(j *job, attempt int) bool {
	c, path, reason := s.prepare(j, attempt)
	if reason != "" {
		return s.finish(j, attempt, nil, reason, reasonStartFailed, true)
	}
	s.mu.Lock()
	if j.termRequested {
		j.status = statusFailed
		j.statusReason = j.termReason
		j.stoppedAt = time.Now()
		s.mu.Unlock()
		return false
	}
	group, stream := LogGroup, j.logStream
	s.createStream(group, stream)
	s.mu.Unlock()

	w := &logWriter{s: s, group: group, stream: stream}
	var r *running
	if s.cfg.Run != nil {
		r = s.startRun(c, w)
	} else {
		var err error
		r, err = s.startProcess(j, attempt, c, path, w)
		if err != nil {
			return s.finish(j, attempt, nil, "CannotStartContainerError: "+err.Error(), reasonStartFailed, true)
		}
	}

	s.mu.Lock()
	j.status = statusRunning
	j.startedAt = time.Now()
	s.live++
	timeout := time.Duration(j.timeout) * s.cfg.TimeoutUnit
	s.mu.Unlock()

	var timeoutC <-chan time.Time
	if timeout > 0 {
		tt := time.NewTimer(timeout)
		defer tt.Stop()
		timeoutC = tt.C
	}
	termC := j.termCh
	done := s.ctx.Done()
	var killC <-chan time.Time
	stopReason := ""
	stopping := func(reason string) {
		if stopReason != "" {
			return
		}
		stopReason = reason
		r.term()
		kt := time.NewTimer(s.cfg.StopTimeout)
		killC = kt.C
	}
	var code int
wait:
	for {
		select {
		case code = <-r.done:
			break wait
		case <-timeoutC:
			timeoutC = nil
			stopping(reasonTimeout)
		case <-termC:
			termC = nil
			s.mu.Lock()
			reason := j.termReason
			s.mu.Unlock()
			stopping(reason)
		case <-killC:
			killC = nil
			r.kill()
		case <-done:
			done = nil
			if stopReason == "" {
				stopReason = "awstest: the server stopped"
			}
			r.kill()
		}
	}
	s.mu.Lock()
	s.live--
	s.mu.Unlock()
	if stopReason != "" {
		return s.finish(j, attempt, &code, "", stopReason, false)
	}
	return s.finish(j, attempt, &code, "", reasonEssential, true)
}

// finish records the end of an attempt: its exit code (nil if the
// container never ran), container reason and statusReason. A failed,
// retryable attempt with attempts left makes the job RUNNABLE again and
// answers true.
func (s *Server) finish(j *job, attempt int, code *int, creason, statusReason string, retryable bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	j.exitCode = code
	j.reason = creason
	j.history = append(j.history, attemptRec{
		exitCode:     intPtr(code),
		reason:       creason,
		logStream:    j.logStream,
		taskArn:      j.taskArn,
		statusReason: statusReason,
		startedAt:    j.startedAt,
		stoppedAt:    now,
	})
	if code != nil && *code == 0 {
		j.status = statusSucceeded
		j.statusReason = statusReason
		j.stoppedAt = now
		return false
	}
	if retryable && attempt < j.attempts && !j.termRequested && s.ctx.Err() == nil {
		j.status = statusRunnable
		j.statusReason = ""
		if s.held {
			j.statusReason = reasonNoCapacity
		}
		return true
	}
	j.status = statusFailed
	j.statusReason = statusReason
	j.stoppedAt = now
	return false
}

// prepare builds the container of j's attempt: its environment with the
// definition's secrets resolved, and the executable of its image. A
// non-empty reason is why the task cannot start (Batch's container.reason).
func (s *Server) prepare(j *job, attempt int) (c Container, path, reason string) {
	s.mu.Lock()
	c = Container{
		JobID:     j.id,
		JobName:   j.name,
		Image:     j.image,
		Command:   append([]string(nil), j.command...),
		Env:       s.Env(),
		VCPU:      j.vcpu,
		MemoryMiB: j.mem,
	}
	for _, e := range j.env {
		c.Env[e.Name] = e.Value
	}
	for _, sr := range j.def.secrets {
		v, why := s.resolveSecret(sr.ValueFrom)
		if why != "" {
			s.mu.Unlock()
			return c, "", why
		}
		c.Env[sr.Name] = v
	}
	c.Env["AWS_BATCH_JOB_ID"] = j.id
	c.Env["AWS_BATCH_JQ_NAME"] = j.queue.name
	c.Env["AWS_BATCH_JOB_ATTEMPT"] = strconv.Itoa(attempt)
	c.Env["AWS_BATCH_CE_NAME"] = s.ceName
	s.mu.Unlock()

	if s.cfg.Run != nil {
		return c, "", ""
	}
	path, ok := s.cfg.Images[c.Image]
	if !ok {
		return c, "", fmt.Sprintf("CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref %s: %s: not found", c.Image, c.Image)
	}
	return c, path, ""
}

// startRun starts c with Config.Run.
func (s *Server) startRun(c Container, w *logWriter) *running {
	stop := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		defer cancel()
		code := s.cfg.Run(ctx, c, stop, w)
		w.Flush()
		done <- code
	}()
	var once sync.Once
	return &running{
		done: done,
		term: func() { once.Do(func() { close(stop) }) },
		kill: cancel,
	}
}

// processEnv is a container process's environment: PATH, HOME and TMPDIR
// of this process, then env.
func processEnv(env map[string]string) []string {
	var out []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			if _, set := env[k]; !set {
				out = append(out, k+"="+v)
			}
		}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// startProcess runs path with c's command as arguments, in its own
// process group and working directory, stdout and stderr merged into w.
func (s *Server) startProcess(j *job, attempt int, c Container, path string, w *logWriter) (*running, error) {
	dir := filepath.Join(s.dir, fmt.Sprintf("%s-%d", j.id, attempt))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the working directory: %w", err)
	}
	cmd := exec.Command(path, c.Command...)
	cmd.Dir = dir
	cmd.Env = processEnv(c.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating the output pipe: %w", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		_ = pr.Close()
		_ = pw.Close()
		return nil, fmt.Errorf("starting %s: %w", path, err)
	}
	_ = pw.Close()
	pgid := cmd.Process.Pid

	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(w, pr)
		w.Flush()
	}()

	var mu sync.Mutex
	exited := false
	signal := func(sig syscall.Signal) {
		mu.Lock()
		defer mu.Unlock()
		if !exited {
			_ = syscall.Kill(-pgid, sig)
		}
	}
	done := make(chan int, 1)
	go func() {
		_ = cmd.Wait()
		code := exitCode(cmd.ProcessState)
		// The container ends with its main process: kill the rest of its
		// group, then collect the output still in the pipe.
		mu.Lock()
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		exited = true
		mu.Unlock()
		select {
		case <-copied:
		case <-time.After(drainTimeout):
			_ = pr.Close()
			<-copied
		}
		_ = pr.Close()
		done <- code
	}()
	return &running{
		done: done,
		term: func() { signal(syscall.SIGTERM) },
		kill: func() { signal(syscall.SIGKILL) },
	}, nil
}

// exitCode is a process's exit code as Docker reports it: 128+signal for
// a process killed by a signal.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// logWriter turns a container's output into CloudWatch Logs events, one
// per line (without its newline; empty lines are dropped, as CloudWatch
// has no empty events).
type logWriter struct {
	s             *Server
	group, stream string
	mu            sync.Mutex
	buf           []byte
}

// Write implements io.Writer.
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	rest := w.buf
	for {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		w.emit(rest[:i])
		rest = rest[i+1:]
	}
	for len(rest) >= maxEventBytes {
		w.emit(rest[:maxEventBytes])
		rest = rest[maxEventBytes:]
	}
	w.buf = append(w.buf[:0], rest...)
	return len(p), nil
}

// Flush emits a last line without newline.
func (w *logWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.emit(w.buf)
	w.buf = w.buf[:0]
}

// emit stores one line, split into events of at most maxEventBytes.
func (w *logWriter) emit(line []byte) {
	for len(line) > 0 {
		n := min(len(line), maxEventBytes)
		w.s.putLog(w.group, w.stream, string(line[:n]), time.Now())
		line = line[n:]
	}
}
