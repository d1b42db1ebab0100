package main

// The hostile-producer suite: one test per threat of docs/security.md,
// each against real processes (the dispatcher binary in --dev, real
// worker processes, loopback servers that record what they receive).
// Read the test names as the threat list:
//
//   - a credential goes only to the hosts it is bound to
//     (TestHostileCredentialToAnotherHost), and a job that names none gets
//     none, whatever the worker's environment holds
//     (TestHostileWorkerEnvironmentSecrets);
//   - a job-supplied embedding URL is refused unless the operator allows
//     them (TestHostileEmbeddingURLNotAccepted), and then dialled under the
//     source policy (TestHostileEmbeddingURLUnderSourcePolicy); an
//     endpoint's reply is quoted as a short reason only, and the operator's
//     key goes only to the operator's endpoint
//     (TestHostileEmbeddingReplyAndKey);
//   - derived job ids cannot be squatted or pre-cancelled
//     (TestHostileDerivedIDs);
//   - secrets in URLs never reach a public event (TestHostileRedaction);
//   - a compromised worker is confined by the NATS server itself
//     (TestHostileCompromisedWorker).
//
// Archive and pack bombs are in pkg/pipeline/source (archive_test.go,
// git_test.go), the Batch tag order in pkg/runtimes/awsbatch.

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
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/qdrantlite"
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

// failedFor reports whether a job's events end in failure (rejected,
// failed or dead) and one of them gives the reason want: the dispatcher's
// rejection, or the worker's own last report ("failed: ...").
func failedFor(evs []messages.Event, want string) bool {
	last := evs[len(evs)-1]
	if !last.Type.Terminal() || last.Type == messages.EventSucceeded || last.Type == messages.EventCancelled {
		return false
	}
	return strings.Contains(strings.Join(eventTexts(evs), "\n"), want)
}

// srcDir is a directory with one Go file, for jobs that must get as far as
// embedding (--dev allows local paths).
func srcDir(t *testing.T) string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n\n// F is a function.\nfunc F() int { return 1 }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A job-supplied embedding URL is refused by a dispatcher that does not
// accept them, before any worker runs: the URL's host receives nothing.
func TestHostileEmbeddingURLNotAccepted(t *testing.T) {
	h := startHostileDev(t, []string{"--embed-allow-job-urls=false"})
	rec := newRecorder(t, http.StatusOK, "")
	h.submit("embed-refused", "upload_file", fmt.Sprintf(`{"path":%q,"collection":"c","embedding":{"dense":{"base_url":%q,"model":"m"}}}`,
		srcDir(t), rec.URL+"/v1"))
	evs := h.final("embed-refused", 30*time.Second)
	if last := evs[len(evs)-1]; last.Type != messages.EventRejected || !strings.Contains(last.Error, "does not accept job-supplied embedding URLs") {
		t.Fatalf("events %v, last %+v: want rejected naming the rule", eventTypes(evs), last)
	}
	if r := rec.requests(); len(r) != 0 {
		t.Errorf("the job's embedding URL was contacted: %q", r)
	}
}

// Where job-supplied embedding URLs are accepted, the worker dials them
// under the source policy: with private addresses off, loopback and the
// cloud metadata address are refused before the job fetches anything.
func TestHostileEmbeddingURLUnderSourcePolicy(t *testing.T) {
	h := startHostileDev(t, []string{"--source-allow-private=false"})
	rec := newRecorder(t, http.StatusOK, "")
	for _, tc := range []struct{ id, url string }{
		{"embed-loopback", rec.URL + "/v1"},
		{"embed-metadata", "http://169.254.169.254/latest/v1"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			h.submit(tc.id, "upload_repo", fmt.Sprintf(`{"repo_url":%q,"collection":"c","embedding":{"dense":{"base_url":%q,"model":"m"}}}`,
				rec.URL+"/x.git", tc.url))
			evs := h.final(tc.id, 60*time.Second)
			if !failedFor(evs, "embedding.dense.base_url") {
				t.Fatalf("events %v: want failed, naming embedding.dense.base_url", eventTexts(evs))
			}
		})
	}
	if r := rec.requests(); len(r) != 0 {
		t.Errorf("a private address was contacted (the embedder or the repository): %q", r)
	}
}

// An embedding endpoint's error reply reaches the job's public failed
// event as a short reason only (120 bytes at most), never the reply; the
// operator's key goes to the operator's endpoint and a job-supplied URL
// gets no key at all.
func TestHostileEmbeddingReplyAndKey(t *testing.T) {
	const key = "sk-operator-key-0123456789"
	const tail = "TAIL-OF-THE-REPLY-NEVER-QUOTED"
	reply := fmt.Sprintf(`{"error":{"message":"%s %s"}}`, strings.Repeat("E", 200), tail)
	rec := newRecorder(t, http.StatusBadRequest, reply)
	h := startHostileDev(t, nil, "JETRUN_EMBEDDER_OPS_URL="+rec.URL+"/v1", "JETRUN_EMBEDDER_OPS_MODEL=m", "JETRUN_EMBEDDER_OPS_KEY="+key)
	dir := srcDir(t)
	for _, tc := range []struct{ id, dense, auth string }{
		{"embed-operator", `{"endpoint":"ops"}`, "Bearer " + key},
		{"embed-job-url", fmt.Sprintf(`{"base_url":%q,"model":"m"}`, rec.URL+"/v1"), ""},
	} {
		t.Run(tc.id, func(t *testing.T) {
			before := len(rec.requests())
			h.submit(tc.id, "upload_file", fmt.Sprintf(`{"path":%q,"collection":%q,"embedding":{"dense":%s}}`, dir, tc.id, tc.dense))
			evs := h.final(tc.id, 60*time.Second)
			if !failedFor(evs, "EEEE") {
				t.Fatalf("events %v: want failed, with the endpoint's reason", eventTexts(evs))
			}
			texts := eventTexts(evs)
			noSecret(t, key, "an event", texts...)
			noSecret(t, tail, "an event", texts...)
			if long := strings.Repeat("E", 121); strings.Contains(strings.Join(texts, ""), long) {
				t.Errorf("more than 120 bytes of the reply were quoted: %s", texts)
			}
			reqs := rec.requests()[before:]
			if len(reqs) == 0 {
				t.Fatal("the endpoint was never called")
			}
			for _, r := range reqs {
				got := ""
				for _, line := range strings.Split(r, "\r\n") {
					if v, ok := strings.CutPrefix(line, "Authorization: "); ok {
						got = v
					}
				}
				if got != tc.auth {
					t.Errorf("Authorization %q, want %q", got, tc.auth)
				}
			}
		})
	}
	noSecret(t, key, "the dispatcher's log", h.stderr.String())
	noSecret(t, tail, "the dispatcher's log", h.stderr.String())
}

// Secrets in a URL (a presigned query, userinfo) never reach a public
// event, whether the URL is refused by the dispatcher or fails to fetch in
// the worker.
func TestHostileRedaction(t *testing.T) {
	const sig = "SIG0123456789planted"
	h := startHostileDev(t, nil)
	rec := newRecorder(t, http.StatusForbidden, "")
	for _, tc := range []struct{ id, kind, params, want string }{
		{"redact-scheme", "upload_file", `{"url":"ftp://files.example/x.tar?X-Amz-Signature=` + sig + `","collection":"c"}`, "scheme must be"},
		{"redact-userinfo", "upload_repo", `{"repo_url":"https://u:` + sig + `@git.example/x.git?t=` + sig + `","collection":"c"}`, "credentials in the URL"},
		{"redact-fetch", "upload_file", `{"url":"` + rec.URL + `/x.tar?X-Amz-Signature=` + sig + `","collection":"c"}`, "403"},
	} {
		t.Run(tc.id, func(t *testing.T) {
			h.submit(tc.id, tc.kind, tc.params)
			evs := h.final(tc.id, 60*time.Second)
			if !failedFor(evs, tc.want) {
				t.Fatalf("events %v: want refused, naming %q", eventTexts(evs), tc.want)
			}
			noSecret(t, sig, "an event", eventTexts(evs)...)
		})
	}
	if r := rec.requests(); len(r) != 1 || !strings.Contains(r[0], sig) {
		t.Errorf("the presigned URL was not fetched once, with its signature: %q", r)
	}
	noSecret(t, sig, "the dispatcher's log", h.stderr.String())
}

// A job that names no credential gets none, whatever the worker's
// environment holds (a Batch job definition may inject the operator's
// secrets into every worker): the real worker, run as a process with
// JETRUN_GIT_TOKEN and JETRUN_EMBED_API_KEY set, sends no Authorization to
// the job's repository or embedding URL.
func TestHostileWorkerEnvironmentSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the worker as a process")
	}
	const gitToken, embedKey = "ghp-in-the-environment-1", "sk-in-the-environment-2"
	worker, err := testbin.Path("worker")
	if err != nil {
		t.Fatal(err)
	}
	qs, err := qdrantlite.Start("127.0.0.1:0", qdrantlite.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qs.Close() })
	rec := newRecorder(t, http.StatusNotFound, "")
	run := func(op, params string) string {
		cmd := exec.Command(worker, op, "--params", params)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "JETRUN_WORK_DIR=" + t.TempDir(),
			"JETRUN_GIT_TOKEN=" + gitToken, "JETRUN_EMBED_API_KEY=" + embedKey,
			jobs.EnvAllowHTTP + "=1", jobs.EnvAllowPrivate + "=1", jobs.EnvAllowLocal + "=1",
			"QDRANT_URL=http://" + qs.Addr()}
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("%s succeeded against a recorder that answers 404:\n%s", op, out)
		}
		return string(out)
	}
	outs := []string{
		run("upload_repo", fmt.Sprintf(`{"repo_url":%q,"collection":"c"}`, rec.URL+"/x.git")),
		run("upload_file", fmt.Sprintf(`{"path":%q,"collection":"c","embedding":{"dense":{"base_url":%q,"model":"m"}}}`, srcDir(t), rec.URL+"/v1")),
	}
	reqs := rec.requests()
	var paths []string
	for _, r := range reqs {
		paths = append(paths, strings.SplitN(r, "\n", 2)[0])
		if strings.Contains(r, "Authorization") || strings.Contains(r, gitToken) || strings.Contains(r, embedKey) {
			t.Errorf("a secret the job did not name was sent:\n%s", r)
		}
	}
	if !strings.Contains(strings.Join(paths, " "), "/x.git/info/refs") || !strings.Contains(strings.Join(paths, " "), "/v1/embeddings") {
		t.Errorf("the worker did not reach both the repository and the embedder: %q", paths)
	}
	noSecret(t, gitToken, "the worker's output", outs...)
	noSecret(t, embedKey, "the worker's output", outs...)
}
