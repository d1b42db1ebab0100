package awsbatch

import (
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/jetrun/jetrun/pkg/runtimes"
)

// essentialExited is the statusReason of a job whose container ended by
// itself, successfully or not: it says nothing the exit code does not.
const essentialExited = "Essential container in task exited"

// statusOf maps a Batch job onto a runtime status:
//
//	SUBMITTED PENDING RUNNABLE STARTING → pending
//	RUNNING                             → running
//	SUCCEEDED                           → succeeded
//	FAILED                              → failed, with the container's exit
//	                                      code and reason and the job's
//	                                      statusReason in the reason
func statusOf(d *types.JobDetail) runtimes.Status {
	st := runtimes.Status{ExitCode: -1, StartedAt: msTime(d.StartedAt), FinishedAt: msTime(d.StoppedAt)}
	exit, creason := containerExit(d)
	switch d.Status {
	case types.JobStatusRunning:
		st.Phase = runtimes.PhaseRunning
	case types.JobStatusSucceeded:
		st.Phase, st.ExitCode = runtimes.PhaseSucceeded, 0
		if exit != nil {
			st.ExitCode = int(*exit)
		}
	case types.JobStatusFailed:
		st.Phase = runtimes.PhaseFailed
		if exit != nil {
			st.ExitCode = int(*exit)
		}
		st.Reason, st.TimedOut = failureReason(d, exit, creason)
	default:
		st.Phase = runtimes.PhasePending
	}
	return st
}

// failureReason words a failed job's end.
func failureReason(d *types.JobDetail, exit *int32, creason string) (string, bool) {
	sr := aws.ToString(d.StatusReason)
	var parts []string
	timedOut := false
	switch {
	case strings.HasPrefix(sr, reasonTimeout):
		timedOut = true
		parts = append(parts, strings.TrimPrefix(sr, "jetrun: "))
	case sr == batchTimeoutReason:
		timedOut = true
		t := "timeout"
		if d.Timeout != nil && d.Timeout.AttemptDurationSeconds != nil {
			t += " after " + strconv.Itoa(int(*d.Timeout.AttemptDurationSeconds)) + "s"
		}
		parts = append(parts, t+" ("+sr+")")
	case sr != "" && sr != essentialExited:
		parts = append(parts, strings.TrimPrefix(sr, "jetrun: "))
	}
	if exit != nil && *exit != 0 {
		parts = append(parts, runtimes.ExitReason(int(*exit)))
	}
	if creason != "" {
		if strings.Contains(creason, "OutOfMemoryError") {
			creason = "OOMKilled: " + creason
		}
		parts = append(parts, creason)
	}
	if len(parts) == 0 {
		parts = append(parts, "failed")
	}
	return strings.Join(parts, "; "), timedOut
}

// containerExit is the exit code and reason of the job's container, or of
// its last attempt's.
func containerExit(d *types.JobDetail) (*int32, string) {
	if c := d.Container; c != nil && (c.ExitCode != nil || aws.ToString(c.Reason) != "") {
		return c.ExitCode, aws.ToString(c.Reason)
	}
	for i := len(d.Attempts) - 1; i >= 0; i-- {
		if c := d.Attempts[i].Container; c != nil && (c.ExitCode != nil || aws.ToString(c.Reason) != "") {
			return c.ExitCode, aws.ToString(c.Reason)
		}
	}
	return nil, ""
}

func msTime(ms *int64) time.Time {
	if ms == nil || *ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(*ms).UTC()
}
