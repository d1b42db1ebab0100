package docker

import (
	"fmt"
	"strings"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/moby/moby/api/types/container"
)

// containerStatus maps a container's state to a runtimes.Status:
//
//	created, State.Error set           failed: the daemon could not start it
//	created, older than startTimeout   failed: never started
//	created                            pending
//	running, paused, restarting        running
//	removing                           running while State.Running, else as exited
//	exited, OOMKilled                  failed, "OOMKilled ..."
//	exited after its deadline          failed, TimedOut, "timeout after ..."
//	exited 0                           succeeded
//	exited n                           failed, "exit code n"
//	dead                               failed
func containerStatus(c container.InspectResponse, startTimeout time.Duration, now time.Time) runtimes.Status {
	s := c.State
	if s == nil {
		return runtimes.Status{Phase: runtimes.PhaseFailed, ExitCode: -1, Reason: "container has no state"}
	}
	st := runtimes.Status{ExitCode: -1, StartedAt: parseTime(s.StartedAt)}
	switch s.Status {
	case container.StateCreated:
		created := parseTime(c.Created)
		switch {
		case s.Error != "":
			st.Phase = runtimes.PhaseFailed
			st.ExitCode = s.ExitCode
			st.Reason = "container could not start: " + s.Error
			if s.ExitCode != 0 {
				st.Reason += fmt.Sprintf(" (exit code %d)", s.ExitCode)
			}
		case !created.IsZero() && startTimeout > 0 && now.Sub(created) > startTimeout:
			st.Phase = runtimes.PhaseFailed
			st.Reason = fmt.Sprintf("container created at %s never started (start timeout %s)",
				created.UTC().Format(time.RFC3339), startTimeout)
		default:
			st.Phase = runtimes.PhasePending
		}
		return st
	case container.StateRunning, container.StatePaused, container.StateRestarting:
		st.Phase = runtimes.PhaseRunning
		if s.Status != container.StateRunning {
			st.Reason = string(s.Status)
		}
		return st
	case container.StateRemoving:
		if s.Running {
			st.Phase = runtimes.PhaseRunning
			return st
		}
	}
	// exited, dead, or removing after the end.
	st.FinishedAt = parseTime(s.FinishedAt)
	st.ExitCode = s.ExitCode
	st.Phase = runtimes.PhaseFailed
	timeout, hasTimeout := containerTimeout(c)
	switch {
	case s.OOMKilled:
		limit := ""
		if c.HostConfig != nil && c.HostConfig.Memory > 0 {
			limit = " of " + messages.FormatMemory(c.HostConfig.Memory)
		}
		st.Reason = fmt.Sprintf("OOMKilled: the container exceeded its memory limit%s (%s)", limit, runtimes.ExitReason(s.ExitCode))
	case hasTimeout && !st.StartedAt.IsZero() && !st.FinishedAt.IsZero() && st.FinishedAt.Sub(st.StartedAt) >= timeout:
		st.TimedOut = true
		st.Reason = fmt.Sprintf("timeout after %s (%s)", timeout, runtimes.ExitReason(s.ExitCode))
	case s.Status == container.StateDead:
		st.Reason = "container is dead (" + runtimes.ExitReason(s.ExitCode) + ")"
	case s.ExitCode == 0:
		st.Phase = runtimes.PhaseSucceeded
	default:
		st.Reason = runtimes.ExitReason(s.ExitCode)
	}
	if s.Error != "" {
		st.Reason += "; docker: " + s.Error
		if st.Phase == runtimes.PhaseSucceeded {
			st.Phase = runtimes.PhaseFailed
		}
	}
	return st
}

// containerTimeout reads LabelTimeout.
func containerTimeout(c container.InspectResponse) (time.Duration, bool) {
	if c.Config == nil {
		return 0, false
	}
	v, ok := c.Config.Labels[LabelTimeout]
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, false
	}
	return d, true
}

// containerDeadline is State.StartedAt + the container's timeout.
func containerDeadline(c container.InspectResponse) (time.Time, bool) {
	d, ok := containerTimeout(c)
	if !ok || c.State == nil {
		return time.Time{}, false
	}
	started := parseTime(c.State.StartedAt)
	if started.IsZero() {
		return time.Time{}, false
	}
	return started.Add(d), true
}

// parseTime parses the daemon's RFC 3339 times; Docker's zero time
// ("0001-01-01T00:00:00Z") and garbage give the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
