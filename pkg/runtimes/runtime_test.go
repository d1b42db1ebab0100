package runtimes_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/rs/zerolog"
)

func TestRegistry(t *testing.T) {
	r := runtimes.NewRegistry()
	r.Register("fake", func(context.Context, func(string) string, zerolog.Logger) (runtimes.Runtime, error) {
		return nil, errors.New("misconfigured: set FAKE_HOST")
	})
	if _, err := r.Open(context.Background(), "nope", nil, zerolog.Nop()); !errors.Is(err, runtimes.ErrUnknownRuntime) {
		t.Errorf("Open(unknown) = %v", err)
	}
	if _, err := r.Open(context.Background(), "fake", nil, zerolog.Nop()); err == nil || err.Error() != "open runtime fake: misconfigured: set FAKE_HOST" {
		t.Errorf("Open(fake) = %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("a duplicate registration did not panic")
		}
	}()
	r.Register("fake", nil)
}

func TestHandleName(t *testing.T) {
	if got := runtimes.HandleName("01abc", 3); got != "jetrun-01abc-a3" {
		t.Fatalf("HandleName = %q", got)
	}
}
