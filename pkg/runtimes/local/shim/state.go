package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Files of one workload's state directory, <dir>/<handle name>/.
const (
	FileLaunchLock = "launch.lock" // held by Start while it launches
	FileShimLock   = "shim.lock"   // held by the supervisor for its whole life
	FileShim       = "shim.json"   // the supervisor's pid and start time
	FileWorker     = "worker.json" // the worker's pid (= its process group) and start time
	FileExit       = "exit.json"   // the result, written atomically by the supervisor
	FileLog        = "output.log"  // the worker's stdout and stderr
	FileSpec       = "spec.json"   // the launch spec without secrets, for operators
)

// Proc identifies a process across pid reuse: pid plus its start time in
// clock ticks since boot (field 22 of /proc/<pid>/stat; 0 where unknown).
type Proc struct {
	PID       int       `json:"pid"`
	StartTick uint64    `json:"start_tick,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// Exit is the content of exit.json.
type Exit struct {
	ExitCode   int       `json:"exit_code"`
	Signal     string    `json:"signal,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	TimedOut   bool      `json:"timed_out,omitempty"`
	Cancelled  bool      `json:"cancelled,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
}

// WriteJSON writes v to path via a temporary file and rename, so a
// reader sees the whole file or none of it; with durable, the file is
// synced before the rename.
func WriteJSON(path string, v any, durable bool) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if durable {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadJSON decodes the JSON file at path into v.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// StartTick reads a process's start time in clock ticks from /proc; 0
// when /proc is not available (the check is then skipped).
func StartTick(pid int) uint64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name (field 2) may contain spaces; fields after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); starttime is field 22 → f[19].
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// Alive reports whether p still runs (and is the same process).
func (p Proc) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	if err := syscall.Kill(p.PID, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	if p.StartTick != 0 {
		if t := StartTick(p.PID); t != 0 && t != p.StartTick {
			return false // pid reused
		}
	}
	return true
}

// GroupAlive reports whether any process of the group led by p remains.
func (p Proc) GroupAlive() bool {
	if p.PID <= 0 {
		return false
	}
	err := syscall.Kill(-p.PID, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Lock takes an exclusive flock on path. With block false it fails with
// ErrLocked when someone else holds it.
func Lock(path string, block bool) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_EX
	if !block {
		how |= syscall.LOCK_NB
	}
	for {
		err = syscall.Flock(int(f.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// ErrLocked is Lock's error when another process holds the lock.
var ErrLocked = errors.New("locked")

// Held reports whether someone holds the lock at path. The probe itself
// takes the lock for an instant; ForkLock keeps a process being forked
// meanwhile from inheriting the descriptor (until its exec) and with it the
// lock, which would make a supervisor starting at that moment fail.
func Held(path string) bool {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	f, err := Lock(path, false)
	if errors.Is(err, ErrLocked) {
		return true
	}
	if err == nil {
		f.Close()
	}
	return false
}

// Exists reports whether path exists.
func Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// signalName is the signal's conventional name ("SIGKILL").
func signalName(s syscall.Signal) string {
	if name := unix.SignalName(s); name != "" {
		return name
	}
	return "signal " + strconv.Itoa(int(s))
}
