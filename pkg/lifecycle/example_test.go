package lifecycle_test

import (
	"fmt"
	"time"

	"github.com/jetrun/jetrun/pkg/lifecycle"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

// A running attempt exits 1 with a retry left: the failure is announced
// and recorded, then the retry, and the message is redelivered after the
// backoff.
func ExampleApply() {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	rec := messages.Record{V: messages.Version, JobID: "j1", Kind: "smoke", State: messages.StateRunning,
		Attempt: 1, MaxRetries: 1, Owner: "d1", MsgSeq: 7, Delivery: 1, Seq: 3, Runtime: "local"}
	in := lifecycle.Input{Type: lifecycle.Exited, Status: &runtimes.Status{Phase: runtimes.PhaseFailed, ExitCode: 1},
		RetryDelay: 5 * time.Second}
	next, effects := lifecycle.Apply(rec, in, now)
	for _, e := range effects {
		switch e.Type {
		case lifecycle.Publish:
			fmt.Println("publish", e.Event.MsgID(), e.Event.Type, e.Event.Message)
		case lifecycle.Write:
			fmt.Println("write  ", e.Record.State, "seq", e.Record.Seq)
		case lifecycle.Settle:
			fmt.Println("settle ", e.Settle, e.Delay)
		}
	}
	fmt.Println(next.State, next.Owner == "")
	// Output:
	// publish j1:4 failed attempt 1 failed
	// write   running seq 4
	// publish j1:5 retrying retrying in 5s (attempt 2 of 2)
	// write   retrying seq 5
	// settle  nak 5s
	// retrying true
}
