package ctxsleep_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/ctxsleep"
)

func TestSleep(t *testing.T) {
	if err := ctxsleep.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("a full sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	begin := time.Now()
	if err := ctxsleep.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled sleep: %v", err)
	}
	if time.Since(begin) > time.Minute {
		t.Fatal("the cancel did not end the sleep")
	}
	if err := ctxsleep.Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("no sleep on a done context: %v", err)
	}
	if err := ctxsleep.Sleep(context.Background(), -time.Second); err != nil {
		t.Fatalf("a negative sleep: %v", err)
	}
}
