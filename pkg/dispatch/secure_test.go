package dispatch_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/testpki"
	"github.com/jetrun/jetrun/pkg/client"
	"github.com/jetrun/jetrun/pkg/dispatch"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsconn"
	"github.com/jetrun/jetrun/pkg/natsserver"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/local"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// A job runs end to end through a NATS server that requires TLS with client
// certificates and a password: the dispatcher connects with natsconn, and
// the worker gets the same connection through WorkerEnv, its password as a
// secret, and publishes its own events. The password appears in no event,
// record, runtime spec file or log.
func TestJobThroughAuthenticatedTLSServer(t *testing.T) {
	const password = "pw-Zq8-s3cret-never-logged"
	pki := testpki.New(t)
	srv, err := natsserver.Start(natsserver.Options{Port: -1, StoreDir: t.TempDir(), Configure: func(o *server.Options) {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: pki.ServerCert, KeyFile: pki.ServerKey, CaFile: pki.CA, Verify: true, Timeout: 5})
		if err != nil {
			t.Fatal(err)
		}
		o.TLS, o.TLSVerify, o.TLSConfig, o.TLSTimeout = true, true, tc, 5
		o.Users = []*server.User{{Username: "jetrun", Password: password}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)

	opts := natsconn.FromEnv(func(k string) string {
		return map[string]string{
			"NATS_URL": srv.ClientURL(), "NATS_USER": "jetrun", "NATS_PASSWORD": password,
			"NATS_TLS_CA": pki.CA, "NATS_TLS_CERT": pki.ClientCert, "NATS_TLS_KEY": pki.ClientKey,
		}[k]
	})
	var logs strings.Builder
	log := zerolog.New(&syncWriter{w: &logs})
	nc, err := opts.Connect(log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	workerEnv, workerSecrets, err := opts.WorkerEnv()
	if err != nil {
		t.Fatal(err)
	}
	if _, leaked := workerEnv["NATS_PASSWORD"]; leaked || workerSecrets["NATS_PASSWORD"] != password {
		t.Fatalf("the password must travel as a secret: env %v", keys(workerEnv))
	}
	dir := t.TempDir()
	rt, err := local.New(local.Config{Dir: dir, WorkerBin: workerBin}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	d, err := dispatch.New(nc, dispatch.Config{Runtimes: map[string]runtimes.Runtime{"local": rt},
		WorkerEnv: workerEnv, WorkerSecrets: workerSecrets, Log: log, Metrics: dispatch.NewMetrics(prometheus.NewRegistry())})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	c, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), time.Minute)
	defer wcancel()
	var id string
	for {
		if id, err = c.Submit(wctx, messages.Submission{Kind: "smoke", Params: []byte(`{"progress":2}`)}); err == nil {
			break
		}
		if wctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // streams not provisioned yet
	}
	var progress int
	var all strings.Builder
	last, err := c.Watch(wctx, id, func(ev messages.Event) error {
		if ev.Type == messages.EventProgress {
			progress++
		}
		all.WriteString(ev.Error + ev.Message)
		return nil
	})
	if err != nil || last.Type != messages.EventSucceeded {
		t.Fatalf("job ended %+v, %v", last, err)
	}
	if progress != 2 {
		t.Fatalf("%d progress events from the worker, want 2 (did it connect?)", progress)
	}
	rec, err := c.Status(wctx, id)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := os.ReadFile(filepath.Join(dir, rec.Handle.Name, "spec.json"))
	out, _ := os.ReadFile(filepath.Join(dir, rec.Handle.Name, "output.log"))
	for what, text := range map[string]string{"events": all.String(), "spec.json": string(spec),
		"worker output": string(out), "dispatcher log": logs.String(), "record": rec.Error} {
		if strings.Contains(text, password) {
			t.Errorf("the password leaked into the %s", what)
		}
	}
	if !strings.Contains(string(spec), "NATS_PASSWORD") {
		t.Errorf("spec.json should name the secret (not its value): %s", spec)
	}
}

func keys(m map[string]string) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	return k
}
