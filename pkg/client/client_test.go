package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/testbin"
	"github.com/jetrun/jetrun/pkg/client"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/nats-io/nats.go"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

func newClient(t *testing.T) *client.Client {
	t.Helper()
	url, stop := startDispatcher()
	t.Cleanup(stop)
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSubmitValidatesLocally(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	for _, sub := range []messages.Submission{
		{Kind: "Bad Kind", Params: json.RawMessage(`{}`)},
		{Kind: "smoke", JobID: "has space", Params: json.RawMessage(`{}`)},
		{Kind: "smoke", Params: json.RawMessage(`{"message":"` + strings.Repeat("x", 70<<10) + `"}`)},
	} {
		if _, err := c.Submit(ctx, sub); !errors.Is(err, messages.ErrInvalid) {
			t.Errorf("Submit(%.60v) = %v, want ErrInvalid", sub, err)
		}
	}
}

func TestSubmitIsIdempotent(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sub := messages.Submission{JobID: "same-id", Kind: "smoke", Params: json.RawMessage(`{"message":"once"}`)}
	for range 3 {
		if _, err := c.Submit(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	last, err := c.Wait(ctx, "same-id")
	if err != nil || last.Type != messages.EventSucceeded {
		t.Fatalf("Wait = %+v, %v", last, err)
	}
	var buf bytes.Buffer
	if err := c.Logs(ctx, "same-id", client.LogsOptions{}, &buf); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "once"); n != 1 {
		t.Fatalf("logs %q: job ran %d times", buf.String(), n)
	}
}

func TestStatusListCancel(t *testing.T) {
	c := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Status(ctx, "nope"); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("Status(unknown) = %v", err)
	}
	id, err := c.Submit(ctx, messages.Submission{Kind: "smoke", Params: json.RawMessage(`{"sleep":"1m"}`)})
	if err != nil {
		t.Fatal(err)
	}
	// Follow the job's output while it runs; it ends when the job does.
	logsDone := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if rec, _ := c.Status(ctx, id); rec.State == messages.StateRunning {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		logsDone <- c.Logs(ctx, id, client.LogsOptions{Follow: true}, &bytes.Buffer{})
	}()
	for {
		recs, err := c.List(ctx, client.ListOptions{States: []messages.State{messages.StateRunning}})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 1 && recs[0].JobID == id {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r, err := c.Cancel(ctx, id, "test")
	if err != nil || !r.Accepted {
		t.Fatalf("Cancel = %+v, %v", r, err)
	}
	last, err := c.Wait(ctx, id)
	if err != nil || last.Type != messages.EventCancelled {
		t.Fatalf("Wait = %+v, %v", last, err)
	}
	if err := <-logsDone; err != nil {
		t.Fatalf("Logs(follow) = %v", err)
	}
	if _, err := c.Cancel(ctx, id, ""); err != nil {
		t.Fatalf("second Cancel = %v", err)
	}
	recs, err := c.List(ctx, client.ListOptions{States: []messages.State{messages.StateCancelled}})
	if err != nil || len(recs) != 1 {
		t.Fatalf("List(cancelled) = %v, %v", recs, err)
	}
}
