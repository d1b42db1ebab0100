package main

// The hostile-producer suite: one test per threat of docs/security.md,
// each against real processes (the dispatcher binary in --dev, real
// worker processes, loopback servers that record what they receive).
// Read the test names as the threat list:
//
//   - a credential goes only to the hosts it is bound to, and a job that
//     names none gets none (TestHostileCredential...);
//   - a job-supplied embedding URL is refused unless allowed, and then
//     dialled under the source policy; remote error texts are cut short
//     (TestHostileEmbedding...);
//   - derived job ids cannot be squatted or pre-cancelled
//     (TestHostileDerivedIDs);
//   - secrets in URLs never reach a public event (TestHostileRedaction);
//   - a compromised worker is confined by the NATS server itself
//     (TestHostileCompromisedWorker).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/testbin"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// hostileDev is a running `dispatcher --dev` process and a producer's
// connection to it (no credentials: the anonymous producer).
type hostileDev struct {
	t      *testing.T
	url    string
	nc     *nats.Conn
	js     jetstream.JetStream
	names  messages.Names
	stderr *syncBuffer
}

func startHostileDev(t *testing.T, args []string, env ...string) *hostileDev {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the dispatcher and workers as processes")
	}
	bin, err := testbin.Path("dispatcher")
	if err != nil {
		t.Fatal(err)
	}
	worker, err := testbin.Path("worker")
	if err != nil {
		t.Fatal(err)
	}
	all := append([]string{"--dev", "--data-dir", t.TempDir(), "--dev-nats-listen", "127.0.0.1:0", "--dev-qdrant-listen", "127.0.0.1:0",
		"--http-addr", "", "--log-format", "json", "--max-retries", "0"}, args...)
	cmd := exec.Command(bin, all...)
	cmd.Env = append(append(os.Environ(), "WORKER_BIN="+worker), env...)
	stdout, _ := cmd.StdoutPipe()
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("dispatcher stderr:\n%s", stderr.String())
		}
	})
	re := regexp.MustCompile(`NATS \(embedded, JetStream\):\s+(nats://\S+)`)
	sc := bufio.NewScanner(stdout)
	h := &hostileDev{t: t, names: messages.DefaultNames(), stderr: stderr}
	for h.url == "" && sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			h.url = m[1]
		}
	}
	if h.url == "" {
		t.Fatalf("no NATS URL in the banner; stderr:\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	if h.nc, err = nats.Connect(h.url); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.nc.Close)
	h.js, _ = jetstream.New(h.nc)
	// Ready once the jobs stream exists (it is provisioned last).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := h.js.Stream(context.Background(), h.names.JobsStream()); err == nil {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dispatcher never provisioned its streams; stderr:\n%s", stderr.String())
		}
	}
}

// submit publishes a raw submission as a hostile producer would.
func (h *hostileDev) submit(id, kind, params string) *jetstream.PubAck {
	h.t.Helper()
	m := nats.NewMsg(h.names.SubmitSubject(kind))
	m.Data = []byte(fmt.Sprintf(`{"v":1,"job_id":%q,"kind":%q,"params":%s}`, id, kind, params))
	if id != "" {
		m.Header.Set(messages.HeaderMsgID, id)
	}
	ack, err := h.js.PublishMsg(context.Background(), m)
	if err != nil {
		h.t.Fatalf("publish: %v", err)
	}
	return ack
}

// final waits for a job's terminal event and returns all its events.
func (h *hostileDev) final(id string, timeout time.Duration) []messages.Event {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cons, err := h.js.OrderedConsumer(ctx, h.names.EventsStream(), jetstream.OrderedConsumerConfig{FilterSubjects: []string{h.names.JobEvents(id)}})
	if err != nil {
		h.t.Fatal(err)
	}
	var evs []messages.Event
	for ctx.Err() == nil {
		msgs, err := cons.Fetch(50, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			continue
		}
		for m := range msgs.Messages() {
			ev, err := messages.DecodeEvent(m.Data())
			if err != nil {
				h.t.Fatalf("undecodable event on %s: %v", m.Subject(), err)
			}
			evs = append(evs, ev)
			if ev.Type.Terminal() {
				return evs
			}
		}
	}
	h.t.Fatalf("job %s: no terminal event within %s (events %v)", id, timeout, evs)
	return nil
}

// recorder is a loopback HTTP server that records every request it gets.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string // method, path and every header, one request a string
}

func newRecorder(t *testing.T, status int, body string) *recorder {
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s\n", req.Method, req.URL)
		req.Header.Write(&b)
		data, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		b.Write(data)
		r.mu.Lock()
		r.reqs = append(r.reqs, b.String())
		r.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// noSecret fails if any of the texts holds the secret.
func noSecret(t *testing.T, secret string, where string, texts ...string) {
	t.Helper()
	for _, s := range texts {
		if strings.Contains(s, secret) {
			t.Errorf("the secret reached %s: %s", where, s)
		}
	}
}

func eventTexts(evs []messages.Event) []string {
	var out []string
	for _, ev := range evs {
		b, _ := json.Marshal(ev)
		out = append(out, string(b))
	}
	return out
}

// A job may have a credential only for a URL on the credential's host
// list; one without a list is refused (the operator must say). Either way
// the job is rejected before any secret is resolved, and the host it named
// receives nothing.
func TestHostileCredentialToAnotherHost(t *testing.T) {
	const secret = "ghp-planted-secret-0123456789"
	h := startHostileDev(t, nil,
		"JETRUN_CREDENTIAL_GH="+secret, "JETRUN_CREDENTIAL_GH_HOSTS=github.com",
		"JETRUN_CREDENTIAL_LOOSE="+secret)
	rec := newRecorder(t, http.StatusNotFound, "")
	for _, tc := range []struct{ id, credential, want string }{
		{"cred-wrong-host", "gh", "may not be sent to 127.0.0.1"},
		{"cred-unbound", "loose", "JETRUN_CREDENTIAL_LOOSE_HOSTS"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			h.submit(tc.id, "upload_repo", fmt.Sprintf(`{"repo_url":%q,"collection":"c","credential":%q}`, rec.URL+"/x.git", tc.credential))
			evs := h.final(tc.id, 30*time.Second)
			last := evs[len(evs)-1]
			if last.Type != messages.EventRejected || !strings.Contains(last.Error, tc.want) {
				t.Fatalf("events %v, last %+v: want rejected naming %q", eventTypes(evs), last, tc.want)
			}
			noSecret(t, secret, "an event", eventTexts(evs)...)
		})
	}
	if r := rec.requests(); len(r) != 0 {
		t.Errorf("the attacker's host was contacted: %q", r)
	}
	noSecret(t, secret, "the dispatcher's log", h.stderr.String())
}

func eventTypes(evs []messages.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, string(ev.Type))
	}
	return out
}

// Derived ids are reserved: a producer cannot take the id the next
// id-less submission gets, nor cancel it before it is read.
func TestHostileDerivedIDs(t *testing.T) {
	h := startHostileDev(t, nil)
	info, err := h.js.Stream(context.Background(), h.names.JobsStream())
	if err != nil {
		t.Fatal(err)
	}
	st, _ := info.Info(context.Background())
	next := st.State.LastSeq + 2
	squat := messages.DerivedJobID(next)
	ack := h.submit(squat, "smoke", `{}`)
	evs := h.final(messages.DerivedJobID(ack.Sequence), 30*time.Second)
	if evs[len(evs)-1].Type != messages.EventRejected || !strings.Contains(evs[len(evs)-1].Error, "reserved") {
		t.Fatalf("squatter: %+v", evs)
	}
	m, err := h.nc.Request(h.names.CancelSubject(messages.DerivedJobID(next+1)), nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var reply messages.CancelReply
	json.Unmarshal(m.Data, &reply)
	if reply.Accepted {
		t.Errorf("a cancel of an unread derived id was accepted: %+v", reply)
	}
	if ack := h.submit("", "smoke", `{}`); ack.Sequence != next || ack.Duplicate {
		t.Fatalf("id-less submission: %+v", ack)
	}
	if evs := h.final(squat, 60*time.Second); evs[len(evs)-1].Type != messages.EventSucceeded {
		t.Errorf("the id-less submission did not run: %v", eventTypes(evs))
	}
}

// workerEnv finds the environment of the running worker of job id (the
// local runtime runs it as a process of this user).
func workerEnv(t *testing.T, id string, timeout time.Duration) map[string]string {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		procs, _ := filepath.Glob("/proc/[0-9]*/environ")
		for _, p := range procs {
			data, err := os.ReadFile(p)
			if err != nil || !bytes.Contains(data, []byte("JETRUN_JOB_ID="+id+"\x00")) {
				continue
			}
			env := map[string]string{}
			for _, kv := range bytes.Split(data, []byte{0}) {
				if k, v, ok := strings.Cut(string(kv), "="); ok {
					env[k] = v
				}
			}
			if env["JETRUN_KIND"] != "" && env["NATS_URL"] != "" {
				return env
			}
		}
	}
	t.Fatalf("no worker process of job %s found", id)
	return nil
}

// A compromised worker holds only its own attempt's identity: the NATS
// server refuses it another job's event, a job record write, an ack,
// another job's upload and other subscriptions, and a worker's reports are
// relayed as progress only.
func TestHostileCompromisedWorker(t *testing.T) {
	h := startHostileDev(t, nil)
	ctx := context.Background()
	obs, err := h.js.ObjectStore(ctx, h.names.UploadsBucket())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obs.PutBytes(ctx, "victim-upload", []byte("another producer's private input")); err != nil {
		t.Fatal(err)
	}
	h.submit("victim", "smoke", `{"sleep":"2m"}`)
	h.submit("rogue", "smoke", `{"sleep":"2m"}`)
	env := workerEnv(t, "rogue", 30*time.Second)
	for _, k := range []string{"NATS_USER", "NATS_PASSWORD", "NATS_CREDS_DATA", "NATS_NKEY_SEED"} {
		if env[k] != "" {
			t.Errorf("the worker holds %s: it must have its own identity only", k)
		}
	}
	if env["NATS_TOKEN"] == "" {
		t.Fatal("the worker has no token of its own")
	}
	attempt, _ := strconv.Atoi(env["JETRUN_ATTEMPT"])

	var mu sync.Mutex
	var violations []string
	rogue, err := nats.Connect(env["NATS_URL"], nats.Token(env["NATS_TOKEN"]),
		nats.CustomInboxPrefix(h.names.WorkerInbox("rogue", attempt)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			mu.Lock()
			violations = append(violations, err.Error())
			mu.Unlock()
		}))
	if err != nil {
		t.Fatalf("the worker's own token does not connect: %v", err)
	}
	defer rogue.Close()
	forged, _ := json.Marshal(messages.Event{V: 1, JobID: "victim", Seq: 9, Type: messages.EventSucceeded, State: messages.StateSucceeded})
	rogue.Publish(h.names.EventSubject("victim", messages.EventSucceeded), forged)
	rogue.Publish(h.names.EventSubject("rogue", messages.EventSucceeded), forged)
	rogue.Publish("$KV."+h.names.StateBucket()+".victim", []byte(`{"v":1,"job_id":"victim","state":"succeeded"}`))
	rogue.Publish("$JS.ACK."+h.names.JobsStream()+".dispatcher.1.1.1.0.0", []byte("+ACK"))
	rogue.Publish(h.names.WorkerSubject("victim", 1, messages.WorkerProgress), []byte(`{"v":1,"sub":1,"progress":{"done":99}}`))
	rogue.Publish(h.names.SubmitSubject("smoke"), []byte(`{"v":1,"job_id":"from-worker","kind":"smoke","params":{}}`))
	// A report that claims success is only ever progress.
	rogue.Publish(h.names.WorkerSubject("rogue", attempt, "succeeded"), []byte(`{"v":1}`))
	rogue.Publish(h.names.WorkerSubject("rogue", attempt, messages.WorkerProgress), []byte(`{"v":1,"sub":7,"progress":{"done":1,"message":"still going\nsucceeded"}}`))
	rogue.SubscribeSync("_INBOX.>")
	rogue.SubscribeSync(h.names.EventsWildcard())
	rjs, _ := jetstream.New(rogue)
	tctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	if robs, err := rjs.ObjectStore(tctx, h.names.UploadsBucket()); err == nil {
		if _, err := robs.GetBytes(tctx, "victim-upload"); err == nil {
			t.Errorf("the worker read another job's upload")
		}
	}
	if kv, err := rjs.KeyValue(tctx, h.names.StateBucket()); err == nil {
		if _, err := kv.Put(tctx, "victim", []byte("{}")); err == nil {
			t.Errorf("the worker wrote a job record")
		}
	}
	cancel()
	rogue.Flush()
	time.Sleep(500 * time.Millisecond)

	mu.Lock()
	said := strings.Join(violations, "\n")
	mu.Unlock()
	for _, want := range []string{
		`Publish to "` + h.names.EventSubject("victim", messages.EventSucceeded),
		`Publish to "$KV.`,
		`Publish to "$JS.ACK.`,
		`Publish to "` + h.names.SubmitSubject("smoke"),
		`Subscription to "_INBOX.>"`,
		`Subscription to "` + h.names.EventsWildcard(),
	} {
		if !strings.Contains(said, want) {
			t.Errorf("the server did not refuse: %s\nit said:\n%s", want, said)
		}
	}
	// Nothing the worker forged changed a record or reached the events.
	kv, _ := h.js.KeyValue(ctx, h.names.StateBucket())
	for _, id := range []string{"victim", "rogue"} {
		e, err := kv.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var rec messages.Record
		json.Unmarshal(e.Value(), &rec)
		if rec.State.Terminal() {
			t.Errorf("job %s is %s after the worker's forgeries", id, rec.State)
		}
	}
	if _, err := kv.Get(ctx, "from-worker"); err == nil {
		t.Errorf("the worker submitted a job")
	}
	for _, id := range []string{"victim", "rogue"} {
		h.nc.Request(h.names.CancelSubject(id), nil, 5*time.Second)
	}
	for _, id := range []string{"victim", "rogue"} {
		evs := h.final(id, 60*time.Second)
		for _, ev := range evs {
			if ev.Type == messages.EventSucceeded {
				t.Errorf("job %s has a succeeded event: %+v", id, ev)
			}
			if ev.Type == messages.EventProgress && id == "victim" {
				t.Errorf("another worker's report reached victim's events: %+v", ev)
			}
			if ev.Type == messages.EventProgress && ev.Progress != nil && strings.ContainsAny(ev.Progress.Message, "\n") {
				t.Errorf("a relayed message kept its newline: %q", ev.Progress.Message)
			}
		}
		if last := evs[len(evs)-1]; last.Type != messages.EventCancelled {
			t.Errorf("job %s ended %s, want cancelled", id, last.Type)
		}
	}
	// Once the attempt is over, its token opens nothing.
	if nc, err := nats.Connect(env["NATS_URL"], nats.Token(env["NATS_TOKEN"]), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Errorf("a finished attempt's token still connects")
	}
}
