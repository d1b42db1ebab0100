package dispatch_test

import (
	"slices"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
)

// (a) A job published as raw JSON with plain nats.go runs, and its events
// arrive in order.
func TestRawSubmissionRunsWithOrderedEvents(t *testing.T) {
	e := setup(t)
	e.start(e.config())
	e.submit("raw-1", "smoke", `{"sleep":"300ms","progress":3,"message":"hi"}`, `,"labels":{"team":"search"}`)
	evs := e.events("raw-1", 30*time.Second)
	got := types(evs)
	want := []string{"accepted", "started", "running", "progress", "progress", "progress", "succeeded"}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	var lastSeq, lastSub uint64
	for _, ev := range evs {
		if ev.Seq < lastSeq || (ev.Seq == lastSeq && ev.Sub <= lastSub && ev.Type == messages.EventProgress) {
			t.Errorf("event %s (seq %d.%d) out of order after %d.%d", ev.Type, ev.Seq, ev.Sub, lastSeq, lastSub)
		}
		lastSeq, lastSub = ev.Seq, ev.Sub
		if ev.JobID != "raw-1" || ev.V != 1 {
			t.Errorf("event %+v: wrong job or version", ev)
		}
	}
	last := evs[len(evs)-1]
	if last.Labels["team"] != "search" || last.Attempt != 1 || last.ExitCode == nil || *last.ExitCode != 0 {
		t.Errorf("terminal event = %+v", last)
	}
	if rec := e.record("raw-1"); rec.State != messages.StateSucceeded || rec.Attempt != 1 || rec.Handle == nil {
		t.Errorf("record = %+v", rec)
	}
}
