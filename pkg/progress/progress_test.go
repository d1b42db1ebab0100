package progress_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsserver"
	"github.com/jetrun/jetrun/pkg/progress"
	"github.com/nats-io/nats.go"
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

// The worker reports on its attempt's worker subjects only: "running"
// first, then numbered progress reports, under its own inbox prefix.
func TestReportsRunningThenProgressOnWorkerSubjects(t *testing.T) {
	srv, err := natsserver.Start(natsserver.Options{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, _ := nats.Connect(srv.ClientURL())
	t.Cleanup(nc.Close)
	names := messages.DefaultNames()
	ctx := context.Background()
	sub, err := nc.SubscribeSync(names.WorkerWildcard())
	if err != nil {
		t.Fatal(err)
	}
	events, _ := nc.SubscribeSync(names.EventsWildcard())
	nc.Flush()
	env := map[string]string{"JETRUN_JOB_ID": "p1", "JETRUN_ATTEMPT": "2", "JETRUN_KIND": "smoke", "NATS_URL": srv.ClientURL()}
	p := progress.FromEnv(func(k string) string { return env[k] }, zerolog.Nop())
	if p == nil {
		t.Fatal("no publisher")
	}
	for i := 1; i <= 2; i++ {
		p.Report(ctx, messages.Progress{Done: int64(i), Total: 2, Unit: "steps"})
	}
	p.Close()
	want := []struct {
		subject string
		sub     uint64
	}{{names.WorkerSubject("p1", 2, "running"), 0}, {names.WorkerSubject("p1", 2, "progress"), 1}, {names.WorkerSubject("p1", 2, "progress"), 2}}
	for i, w := range want {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatalf("report %d: %v", i, err)
		}
		r, err := messages.DecodeWorkerReport(m.Data)
		if err != nil || m.Subject != w.subject || r.Sub != w.sub || (w.sub > 0 && (r.Progress == nil || r.Progress.Done != int64(w.sub))) {
			t.Errorf("report %d on %s = %+v (%v), want %s sub %d", i, m.Subject, r, err, w.subject, w.sub)
		}
	}
	if m, err := events.NextMsg(100 * time.Millisecond); err == nil {
		t.Errorf("the worker published an event itself, on %s", m.Subject)
	}
	if got := names.WorkerInbox("p1", 2); got != "jetrun.worker.p1.a2.inbox" {
		t.Errorf("WorkerInbox = %q", got)
	}
}

func TestDecodeWorkerReportBoundsText(t *testing.T) {
	long := strings.Repeat("x", 5000)
	data := `{"v":1,"sub":3,"progress":{"done":1,"unit":"files\nsucceeded","message":"` + long + `\u0000"}}`
	r, err := messages.DecodeWorkerReport([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(r.Progress.Unit+r.Progress.Message, "\n\x00") || len(r.Progress.Message) > 1100 {
		t.Errorf("report text not bounded: unit %q, message of %d bytes", r.Progress.Unit, len(r.Progress.Message))
	}
	for _, bad := range []string{`{"v":1,"progress":{"done":-1}}`, `{"v":2}`, `[]`, `{"v":1,"progress":{"rate":1e300}}`} {
		if _, err := messages.DecodeWorkerReport([]byte(bad)); err == nil {
			t.Errorf("DecodeWorkerReport(%s) accepted", bad)
		}
	}
}
