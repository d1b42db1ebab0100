package natsauth_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsauth"
	"github.com/jetrun/jetrun/pkg/natsserver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

type bundle struct {
	url   string
	iss   *natsauth.Issuer
	admin *nats.Conn
	js    jetstream.JetStream
	names messages.Names
}

// setup starts a real nats-server from natsauth.ServerConfig, connects as
// the dispatcher user, and serves the auth callout with lookup.
func setup(t *testing.T, lookup natsauth.Lookup) *bundle {
	t.Helper()
	seed, err := natsauth.GenerateSeed()
	if err != nil {
		t.Fatal(err)
	}
	names := messages.DefaultNames()
	iss, err := natsauth.NewIssuer(seed, names, "JETRUN")
	if err != nil {
		t.Fatal(err)
	}
	cfg := natsauth.ServerConfig{Account: "JETRUN", Issuer: iss.PublicKey(), DispatcherUser: "dispatcher", DispatcherPassword: "dpw",
		ProducerUser: "producer", ProducerPassword: "ppw", AnonymousProducer: true, Names: names}
	srv, err := natsserver.Start(natsserver.Options{Port: -1, StoreDir: t.TempDir(), Config: cfg.String()})
	if err != nil {
		t.Fatalf("%v\n%s", err, cfg)
	}
	t.Cleanup(srv.Shutdown)
	admin, err := nats.Connect(srv.ClientURL(), nats.UserInfo("dispatcher", "dpw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go iss.Serve(ctx, admin, lookup, zerolog.Nop())
	admin.Flush()
	js, _ := jetstream.New(admin)
	return &bundle{url: srv.ClientURL(), iss: iss, admin: admin, js: js, names: names}
}

// worker connects as one attempt's worker and records the server's
// asynchronous errors (permission violations).
func (b *bundle) worker(t *testing.T, token, jobID string, attempt int) (*nats.Conn, func() []string, error) {
	var mu sync.Mutex
	var errs []string
	nc, err := nats.Connect(b.url, nats.Token(token), nats.CustomInboxPrefix(b.names.WorkerInbox(jobID, attempt)),
		nats.MaxReconnects(0), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			mu.Lock()
			errs = append(errs, err.Error())
			mu.Unlock()
		}))
	if err != nil {
		return nil, nil, err
	}
	t.Cleanup(nc.Close)
	return nc, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), errs...) }, nil
}

func live(ctx context.Context, jobID string, attempt int) (natsauth.Grant, error) {
	if jobID == "job-a" && attempt == 1 {
		return natsauth.Grant{}, nil
	}
	return natsauth.Grant{}, errors.New("not live")
}

// The server itself confines a worker to its own attempt's subjects.
func TestWorkerIsConfinedByTheServer(t *testing.T) {
	var uploads jetstream.ObjectStore
	b := setup(t, func(ctx context.Context, jobID string, attempt int) (natsauth.Grant, error) {
		if jobID != "job-a" || attempt != 1 {
			return natsauth.Grant{}, errors.New("not live")
		}
		info, err := uploads.GetInfo(ctx, "mine")
		if err != nil {
			return natsauth.Grant{}, err
		}
		return natsauth.Grant{Uploads: []natsauth.Upload{{Name: "mine", NUID: info.NUID}}}, nil
	})
	ctx := context.Background()
	var err error
	if uploads, err = b.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: b.names.UploadsBucket()}); err != nil {
		t.Fatal(err)
	}
	uploads.PutBytes(ctx, "mine", []byte("my input"))
	uploads.PutBytes(ctx, "theirs", bytes.Repeat([]byte("secret input "), 100))
	kv, err := b.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: b.names.StateBucket()})
	if err != nil {
		t.Fatal(err)
	}
	kv.Put(ctx, "job-b", []byte(`{"state":"running"}`))

	watch, _ := b.admin.SubscribeSync(">")
	b.admin.Flush()

	token := b.iss.Token("job-a", 1, time.Now().Add(time.Hour))
	nc, errs, err := b.worker(t, token, "job-a", 1)
	if err != nil {
		t.Fatalf("worker with a live token refused: %v", err)
	}
	// Allowed: its own reports, and its own upload.
	nc.Publish(b.names.WorkerSubject("job-a", 1, messages.WorkerProgress), []byte(`{"v":1,"sub":1}`))
	wjs, _ := jetstream.New(nc)
	obs, err := wjs.ObjectStore(ctx, b.names.UploadsBucket())
	if err != nil {
		t.Fatalf("open uploads: %v", err)
	}
	r, err := obs.Get(ctx, "mine")
	if err != nil {
		t.Fatalf("read own upload: %v", err)
	}
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "my input" {
		t.Fatalf("own upload = %q, %v", got, err)
	}

	// Refused: another job's event, another attempt's report, a KV write,
	// an ack, another upload, snooping on the dispatcher's inbox.
	forbidden := []string{
		b.names.EventSubject("job-b", messages.EventSucceeded),
		b.names.EventSubject("job-a", messages.EventSucceeded),
		b.names.WorkerSubject("job-b", 1, messages.WorkerProgress),
		b.names.WorkerSubject("job-a", 2, messages.WorkerProgress),
		"$KV." + b.names.StateBucket() + ".job-b",
		"$JS.ACK." + b.names.JobsStream() + ".dispatcher.1.1.1.0.0",
	}
	for _, s := range forbidden {
		nc.Publish(s, []byte(`{"forged":true}`))
	}
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if _, err := obs.Get(tctx, "theirs"); err == nil {
		t.Errorf("the worker read another job's upload")
	}
	cancel()
	if _, err := nc.SubscribeSync("_INBOX.>"); err == nil {
		nc.Flush()
	}
	nc.Flush()
	time.Sleep(300 * time.Millisecond)

	seen := map[string]bool{}
	for {
		m, err := watch.NextMsg(100 * time.Millisecond)
		if err != nil {
			break
		}
		seen[m.Subject] = true
	}
	if !seen[b.names.WorkerSubject("job-a", 1, messages.WorkerProgress)] {
		t.Errorf("the worker's own report did not arrive")
	}
	for _, s := range forbidden {
		if seen[s] {
			t.Errorf("the server let the worker publish on %s", s)
		}
	}
	if e, _ := kv.Get(ctx, "job-b"); e == nil || strings.Contains(string(e.Value()), "forged") {
		t.Errorf("job-b's record was changed")
	}
	violations := strings.Join(errs(), "\n")
	for _, want := range []string{"Publish to \"" + forbidden[0], "Publish to \"$KV.", "Subscription to \"_INBOX.>\""} {
		if !strings.Contains(violations, want) {
			t.Errorf("no permissions violation reported for %s; server said:\n%s", want, violations)
		}
	}
}

func TestBadTokensAreRefusedAtConnect(t *testing.T) {
	b := setup(t, live)
	other, _ := natsauth.GenerateSeed()
	forger, _ := natsauth.NewIssuer(other, b.names, "JETRUN")
	for name, tok := range map[string]string{
		"no token":        "",
		"garbage":         "hello",
		"expired":         b.iss.Token("job-a", 1, time.Now().Add(-time.Second)),
		"other issuer":    forger.Token("job-a", 1, time.Now().Add(time.Hour)),
		"finished job":    b.iss.Token("job-z", 1, time.Now().Add(time.Hour)),
		"tampered":        strings.Replace(b.iss.Token("job-a", 1, time.Now().Add(time.Hour)), "job-a", "job-b", 1),
		"earlier attempt": b.iss.Token("job-a", 2, time.Now().Add(time.Hour)),
	} {
		t.Run(name, func(t *testing.T) {
			if name == "no token" {
				// No credentials at all: the anonymous producer, which may
				// not publish events either.
				nc, errs, err := b.worker(t, "", "x", 1)
				if err != nil {
					t.Fatalf("anonymous producer refused: %v", err)
				}
				nc.Publish(b.names.EventSubject("job-a", messages.EventSucceeded), []byte("{}"))
				nc.Flush()
				time.Sleep(200 * time.Millisecond)
				if !strings.Contains(strings.Join(errs(), "\n"), "Permissions Violation") {
					t.Errorf("the anonymous producer published an event")
				}
				return
			}
			if _, _, err := b.worker(t, tok, "job-a", 1); err == nil {
				t.Fatalf("token %q accepted", tok)
			}
		})
	}
}
