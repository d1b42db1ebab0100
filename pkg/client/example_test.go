package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/jetrun/jetrun/internal/testbin"
	"github.com/jetrun/jetrun/pkg/client"
	"github.com/jetrun/jetrun/pkg/dispatch"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsserver"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/local"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// startDispatcher runs an embedded NATS and a dispatcher on the local
// runtime, as `dispatcher --dev` does, and returns the NATS URL.
func startDispatcher() (url string, stop func()) {
	dir, _ := os.MkdirTemp("", "jetrun-example-")
	srv, err := natsserver.Start(natsserver.Options{Port: -1, StoreDir: dir + "/nats"})
	if err != nil {
		panic(err)
	}
	rt, err := local.New(local.Config{Dir: dir + "/local", WorkerBin: testbin.MustPath("worker")}, zerolog.Nop())
	if err != nil {
		panic(err)
	}
	nc, _ := nats.Connect(srv.ClientURL())
	d, err := dispatch.New(nc, dispatch.Config{Runtimes: map[string]runtimes.Runtime{"local": rt},
		WorkerEnv: map[string]string{"NATS_URL": srv.ClientURL()}, Log: zerolog.Nop()})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	for !d.Ready() {
		time.Sleep(5 * time.Millisecond)
	}
	return srv.ClientURL(), func() { cancel(); <-done; nc.Close(); srv.Shutdown(); os.RemoveAll(dir) }
}

// Submit a job, then follow its events until it ends.
func Example() {
	url, stop := startDispatcher()
	defer stop()

	nc, err := nats.Connect(url)
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	c, err := client.New(nc)
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	id, err := c.Submit(ctx, messages.Submission{
		Kind:   "smoke",
		Params: json.RawMessage(`{"progress":2,"message":"hello"}`),
		Labels: map[string]string{"team": "search"},
	})
	if err != nil {
		panic(err)
	}
	last, err := c.Watch(ctx, id, func(ev messages.Event) error {
		fmt.Println(ev.Type, ev.State)
		return nil
	})
	if err != nil {
		panic(err)
	}
	// The terminal event carries the result; the job record (c.Status)
	// is written just after it.
	fmt.Println("result:", last.Type, "attempts:", last.Attempt, "exit code:", *last.ExitCode)
	// Output:
	// accepted queued
	// started starting
	// running running
	// progress running
	// progress running
	// succeeded succeeded
	// result: succeeded attempts: 1 exit code: 0
}
