package progress_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsserver"
	"github.com/jetrun/jetrun/pkg/progress"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

func TestNoJobOrNATSIsSilent(t *testing.T) {
	for _, env := range []map[string]string{
		{},
		{"JETRUN_JOB_ID": "j1"},
		{"JETRUN_JOB_ID": "j1", "NATS_URL": "nats://127.0.0.1:1"},
		{"JETRUN_JOB_ID": "bad id", "NATS_URL": "nats://127.0.0.1:1"},
	} {
		p := progress.FromEnv(func(k string) string { return env[k] }, zerolog.Nop())
		if p != nil {
			t.Errorf("env %v: want a nil (silent) publisher", env)
		}
		p.Report(context.Background(), messages.Progress{Done: 1}) // a nil publisher is valid
		p.Close()
	}
}

func TestPublishesRunningThenProgress(t *testing.T) {
	srv, err := natsserver.Start(natsserver.Options{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, _ := nats.Connect(srv.ClientURL())
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	names := messages.DefaultNames()
	ctx := context.Background()
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: names.EventsStream(), Subjects: []string{names.EventsWildcard()}})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"JETRUN_JOB_ID": "p1", "JETRUN_ATTEMPT": "2", "JETRUN_EVENT_SEQ": "7",
		"JETRUN_KIND": "smoke", "NATS_URL": srv.ClientURL()}
	p := progress.FromEnv(func(k string) string { return env[k] }, zerolog.Nop())
	if p == nil {
		t.Fatal("no publisher")
	}
	for i := 1; i <= 2; i++ {
		p.Report(ctx, messages.Progress{Done: int64(i), Total: 2, Unit: "steps"})
	}
	p.Close()
	// A retry of the whole attempt's publishes is deduplicated.
	p = progress.FromEnv(func(k string) string { return env[k] }, zerolog.Nop())
	p.Report(ctx, messages.Progress{Done: 1, Total: 2})
	p.Close()

	info, _ := s.Info(ctx)
	if info.State.Msgs != 3 {
		t.Fatalf("stream holds %d events, want 3 (running, progress 1, progress 2)", info.State.Msgs)
	}
	want := []struct {
		typ      messages.EventType
		seq, sub uint64
	}{{messages.EventRunning, 7, 0}, {messages.EventProgress, 7, 1}, {messages.EventProgress, 7, 2}}
	for i, w := range want {
		m, err := s.GetMsg(ctx, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		var ev messages.Event
		json.Unmarshal(m.Data, &ev)
		if ev.Type != w.typ || ev.Seq != w.seq || ev.Sub != w.sub || ev.Attempt != 2 || m.Header.Get("Nats-Msg-Id") != ev.MsgID() {
			t.Errorf("event %d = %+v (msg id %q), want %v seq %d.%d", i, ev, m.Header.Get("Nats-Msg-Id"), w.typ, w.seq, w.sub)
		}
		if time.Since(ev.Time) > time.Minute {
			t.Errorf("event time %v", ev.Time)
		}
	}
}
