package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/jetrun/jetrun/pkg/runtimes/local/shim"
	"github.com/rs/zerolog"
)

// supervisor is the runtime's end of one supervisor process (shim.Serve,
// run as "<worker> supervise"): it sends launch requests and routes the
// replies.
type supervisor struct {
	pid  int
	dead chan struct{} // closed when the reply pipe ends: the process is gone

	mu      sync.Mutex
	w       *os.File // requests; nil after close
	nextID  int
	pending map[int]chan shim.Reply
	exited  map[string]chan struct{} // by state directory
}

// startSupervisor starts a supervisor in a session of its own (it must
// outlive the dispatcher), with only the pass-through environment (no
// secrets: each request carries its worker's environment), logging to
// <Dir>/supervisor.log.
func startSupervisor(cfg Config, log zerolog.Logger) (*supervisor, error) {
	logf, err := os.OpenFile(filepath.Join(cfg.Dir, "supervisor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("local runtime: supervisor log: %w", err)
	}
	defer logf.Close()
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("local runtime: %w", err)
	}
	defer reqR.Close()
	repR, repW, err := os.Pipe()
	if err != nil {
		reqW.Close()
		return nil, fmt.Errorf("local runtime: %w", err)
	}
	defer repW.Close()
	cmd := exec.Command(cfg.WorkerBin, SuperviseCommand)
	cmd.Dir = cfg.Dir
	cmd.Env = passEnv(cfg.PassEnv)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{reqR, repW} // descriptors 3 and 4: shim.RequestFD, shim.ReplyFD
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		reqW.Close()
		repR.Close()
		return nil, fmt.Errorf("local runtime: start supervisor: %w", err)
	}
	s := &supervisor{pid: cmd.Process.Pid, dead: make(chan struct{}), w: reqW,
		pending: map[int]chan shim.Reply{}, exited: map[string]chan struct{}{}}
	go cmd.Wait()
	go s.read(repR, log)
	log.Debug().Int("pid", s.pid).Msg("local runtime: supervisor started")
	return s, nil
}

// read routes replies until the pipe ends, then marks the supervisor dead:
// pending launches fail, and waiters fall back to inspecting the state
// directory (which tells a recorded exit from "exit status unknown").
func (s *supervisor) read(r *os.File, log zerolog.Logger) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var rep shim.Reply
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			log.Warn().Err(err).Msg("local runtime: unreadable supervisor reply")
			continue
		}
		s.mu.Lock()
		if rep.Exited != "" {
			if ch, ok := s.exited[rep.Exited]; ok {
				close(ch)
				delete(s.exited, rep.Exited)
			}
		} else if ch, ok := s.pending[rep.ID]; ok {
			ch <- rep
			delete(s.pending, rep.ID)
		} else if rep.Error != "" {
			log.Warn().Str("error", rep.Error).Msg("local runtime: supervisor")
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.dead)
	for dir, ch := range s.exited {
		close(ch)
		delete(s.exited, dir)
	}
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
	log.Debug().Int("pid", s.pid).Msg("local runtime: supervisor exited")
}

func (s *supervisor) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

// expect returns a channel closed when the exit of the workload in dir is
// recorded (or the supervisor is gone).
func (s *supervisor) expect(dir string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := make(chan struct{})
	if s.isDead() {
		close(ch)
		return ch
	}
	s.exited[dir] = ch
	return ch
}

func (s *supervisor) unexpect(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.exited, dir)
}

// launch sends req and waits for its answer: nil once the worker runs (or
// its failure to start is recorded as exit code 127).
func (s *supervisor) launch(ctx context.Context, req shim.Request) error {
	s.mu.Lock()
	if s.w == nil {
		s.mu.Unlock()
		return errors.New("supervisor gone")
	}
	s.nextID++
	req.ID = s.nextID
	ch := make(chan shim.Reply, 1)
	s.pending[req.ID] = ch
	b, err := json.Marshal(req)
	if err == nil {
		_, err = s.w.Write(append(b, '\n'))
	}
	if err != nil {
		delete(s.pending, req.ID)
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("send to supervisor: %w", err)
	}
	select {
	case rep := <-ch:
		if rep.Error != "" {
			return errors.New(rep.Error)
		}
		return nil
	case <-s.dead:
		return fmt.Errorf("supervisor (pid %d) exited before it answered", s.pid)
	case <-ctx.Done():
		// The supervisor may still start the worker; Inspect will tell.
		return ctx.Err()
	}
}

// close ends the requests: the supervisor exits after its last workload.
func (s *supervisor) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.w != nil {
		s.w.Close()
		s.w = nil
	}
}

func passEnv(names []string) []string {
	var env []string
	for _, k := range names {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}
