package awsbatch

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/jetrun/jetrun/pkg/runtimes"
)

func TestStatusOf(t *testing.T) {
	exit := func(code int32, reason string) *types.ContainerDetail {
		c := &types.ContainerDetail{ExitCode: aws.Int32(code)}
		if reason != "" {
			c.Reason = aws.String(reason)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		d        types.JobDetail
		phase    runtimes.Phase
		code     int
		reason   []string // substrings of the reason
		timedOut bool
	}{
		{"submitted", types.JobDetail{Status: types.JobStatusSubmitted}, runtimes.PhasePending, -1, nil, false},
		{"runnable", types.JobDetail{Status: types.JobStatusRunnable}, runtimes.PhasePending, -1, nil, false},
		{"starting", types.JobDetail{Status: types.JobStatusStarting}, runtimes.PhasePending, -1, nil, false},
		{"running", types.JobDetail{Status: types.JobStatusRunning, StartedAt: aws.Int64(1700000000000)}, runtimes.PhaseRunning, -1, nil, false},
		{"succeeded", types.JobDetail{Status: types.JobStatusSucceeded, StatusReason: aws.String(essentialExited), Container: exit(0, "")},
			runtimes.PhaseSucceeded, 0, nil, false},
		{"exit 3", types.JobDetail{Status: types.JobStatusFailed, StatusReason: aws.String(essentialExited), Container: exit(3, "")},
			runtimes.PhaseFailed, 3, []string{"exit code 3"}, false},
		{"oom", types.JobDetail{Status: types.JobStatusFailed, StatusReason: aws.String(essentialExited),
			Container: exit(137, "OutOfMemoryError: Container killed due to memory usage")},
			runtimes.PhaseFailed, 137, []string{"OOMKilled", "128+SIGKILL"}, false},
		{"batch timeout", types.JobDetail{Status: types.JobStatusFailed, StatusReason: aws.String(batchTimeoutReason),
			Timeout: &types.JobTimeout{AttemptDurationSeconds: aws.Int32(3600)}, Container: exit(143, "")},
			runtimes.PhaseFailed, 143, []string{"timeout after 3600s", batchTimeoutReason}, true},
		{"own timeout", types.JobDetail{Status: types.JobStatusFailed, StatusReason: aws.String(reasonTimeout + "2s"), Container: exit(143, "")},
			runtimes.PhaseFailed, 143, []string{"timeout after 2s"}, true},
		{"never started", types.JobDetail{Status: types.JobStatusFailed,
			StatusReason: aws.String("CannotPullContainerError: pull image manifest has been retried 1 time(s)")},
			runtimes.PhaseFailed, -1, []string{"CannotPullContainerError"}, false},
		{"stuck runnable", types.JobDetail{Status: types.JobStatusFailed, StatusReason: aws.String(reasonRunnable + "30m0s: still RUNNABLE")},
			runtimes.PhaseFailed, -1, []string{"not started within 30m0s"}, false},
		{"attempt only", types.JobDetail{Status: types.JobStatusFailed, Attempts: []types.AttemptDetail{{Container: &types.AttemptContainerDetail{ExitCode: aws.Int32(7)}}}},
			runtimes.PhaseFailed, 7, []string{"exit code 7"}, false},
	} {
		st := statusOf(&tc.d)
		if st.Phase != tc.phase || st.ExitCode != tc.code || st.TimedOut != tc.timedOut {
			t.Errorf("%s: %+v; want phase %s, exit %d, timed out %v", tc.name, st, tc.phase, tc.code, tc.timedOut)
		}
		for _, s := range tc.reason {
			if !strings.Contains(st.Reason, s) {
				t.Errorf("%s: reason %q lacks %q", tc.name, st.Reason, s)
			}
		}
		if tc.phase == runtimes.PhaseRunning && st.StartedAt.IsZero() {
			t.Errorf("%s: no start time", tc.name)
		}
	}
}

// A reading older than the one stored (the poll's RUNNING, taken before
// Stop's FAILED) never replaces a final one.
func TestTrackerKeepsFinalReadings(t *testing.T) {
	tr := newTracker(&Runtime{cfg: Config{PollInterval: time.Second}})
	e := &entry{changed: make(chan struct{})}
	now := time.Now()
	tr.set(e, &types.JobDetail{JobId: aws.String("j"), Status: types.JobStatusFailed, StatusReason: aws.String(reasonStop)}, now)
	changed := e.changed
	tr.set(e, &types.JobDetail{JobId: aws.String("j"), Status: types.JobStatusRunning}, now)
	if e.detail.Status != types.JobStatusFailed {
		t.Fatalf("a RUNNING reading replaced FAILED")
	}
	select {
	case <-changed:
		t.Fatal("waiters woken for a stale reading")
	default:
	}
}
