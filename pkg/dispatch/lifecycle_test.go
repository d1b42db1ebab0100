package dispatch_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/local"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"
)

// (a) A job published as raw JSON with plain nats.go runs, and its events
// arrive in order.
func TestRawSubmissionRunsWithOrderedEvents(t *testing.T) {
	e := setup(t)
	e.start(e.config())
	e.submit("raw-1", "smoke", `{"sleep":"300ms","progress":3,"message":"hi"}`, `,"labels":{"team":"search"}`)
	evs := e.events("raw-1", 30*time.Second)
	got := types(evs)
	want := []string{"accepted", "started", "running", "progress", "progress", "progress", "succeeded"}
	if !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	var lastSeq, lastSub uint64
	for _, ev := range evs {
		if ev.Seq < lastSeq || (ev.Seq == lastSeq && ev.Sub <= lastSub && ev.Type == messages.EventProgress) {
			t.Errorf("event %s (seq %d.%d) out of order after %d.%d", ev.Type, ev.Seq, ev.Sub, lastSeq, lastSub)
		}
		lastSeq, lastSub = ev.Seq, ev.Sub
		if ev.JobID != "raw-1" || ev.V != 1 {
			t.Errorf("event %+v: wrong job or version", ev)
		}
	}
	last := evs[len(evs)-1]
	if last.Labels["team"] != "search" || last.Attempt != 1 || last.ExitCode == nil || *last.ExitCode != 0 {
		t.Errorf("terminal event = %+v", last)
	}
	if rec := e.settled("raw-1"); rec.State != messages.StateSucceeded || rec.Attempt != 1 || rec.Handle == nil {
		t.Errorf("record = %+v", rec)
	}
}

// Derived ids are a reserved form: a producer that names the id the next
// id-less submission would get is rejected under its own stream sequence,
// and the id-less submission still runs (issue 11: "s3" squatting).
func TestDerivedIDsCannotBeSquatted(t *testing.T) {
	e := setup(t)
	e.start(e.config())
	info, err := e.js.Stream(context.Background(), e.names.JobsStream())
	if err != nil {
		t.Fatal(err)
	}
	st, _ := info.Info(context.Background())
	next := st.State.LastSeq + 2 // the squatter takes LastSeq+1
	squat := messages.DerivedJobID(next)
	ack := e.publishRaw(e.names.SubmitSubject("smoke"), `{"v":1,"job_id":"`+squat+`","kind":"smoke","params":{"message":"squat"}}`, squat)
	if ack.Sequence != next-1 {
		t.Fatalf("squatter landed at sequence %d, want %d (is something else publishing?)", ack.Sequence, next-1)
	}
	evs := e.events(messages.DerivedJobID(ack.Sequence), 20*time.Second)
	if len(evs) != 1 || evs[0].Type != messages.EventRejected || !strings.Contains(evs[0].Error, "reserved") {
		t.Fatalf("squatter's events = %+v, want one rejected naming the reserved form", evs)
	}
	ack = e.publishRaw(e.names.SubmitSubject("smoke"), `{"v":1,"kind":"smoke","params":{}}`, "")
	if ack.Sequence != next || ack.Duplicate {
		t.Fatalf("id-less submission: sequence %d duplicate %v, want %d and new", ack.Sequence, ack.Duplicate, next)
	}
	if evs := e.events(squat, 30*time.Second); evs[len(evs)-1].Type != messages.EventSucceeded {
		t.Fatalf("id-less submission %s: events %v, want it to run", squat, types(evs))
	}
	// A cancel cannot pre-empt a derived id that has not been read yet.
	var reply messages.CancelReply
	m, err := e.nc.Request(e.names.CancelSubject(messages.DerivedJobID(next+100)), nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(m.Data, &reply)
	if reply.Accepted || reply.Error == "" {
		t.Errorf("cancel of an unseen derived id = %+v, want refused", reply)
	}
}

// (b) The same job_id published twice runs once: inside the duplicate
// window JetStream drops the copy; without the header (or after the window)
// the job record drops it.
func TestSameJobIDRunsOnce(t *testing.T) {
	e := setup(t)
	d := e.start(e.config())
	body := `{"v":1,"job_id":"dup-1","kind":"smoke","params":{"message":"dup-marker"}}`
	e.publishRaw(e.names.SubmitSubject("smoke"), body, "dup-1")
	if ack := e.publishRaw(e.names.SubmitSubject("smoke"), body, "dup-1"); !ack.Duplicate {
		t.Errorf("second publish with the same Nats-Msg-Id was not flagged duplicate")
	}
	evs := e.events("dup-1", 30*time.Second)
	if evs[len(evs)-1].Type != messages.EventSucceeded {
		t.Fatalf("events = %v", types(evs))
	}
	// Without the header: a second message in the stream, dropped by the record.
	e.publishRaw(e.names.SubmitSubject("smoke"), body, "")
	waitFor(t, 10*time.Second, func() bool { return testutil.ToFloat64(d.metrics.Duplicates) == 1 })
	if n := count(e.allEvents("dup-1"), messages.EventStarted); n != 1 {
		t.Fatalf("job started %d times, want 1", n)
	}
	if out := e.logs("dup-1", 1); strings.Count(out, "dup-marker") != 1 {
		t.Fatalf("worker output = %q, want the marker once", out)
	}
}

// (c) Malformed messages and unknown kinds become rejected events with a
// reason, and the dispatcher keeps serving.
func TestBadSubmissionsAreRejected(t *testing.T) {
	e := setup(t)
	e.start(e.config())
	cases := []struct {
		name, subject, body, id, want string
	}{
		{"not json", "smoke", `{"v":1,"job_id":"bad-json",`, "bad-json", "not a JSON submission"},
		{"unknown kind", "frobnicate", `{"v":1,"job_id":"bad-kind","kind":"frobnicate","params":{}}`, "bad-kind", "unknown job kind"},
		{"kind mismatch", "smoke", `{"v":1,"job_id":"bad-subj","kind":"other","params":{}}`, "bad-subj", "does not match"},
		{"unknown version", "smoke", `{"v":9,"job_id":"bad-v","kind":"smoke","params":{}}`, "bad-v", "v=9"},
		{"missing params", "smoke", `{"v":1,"job_id":"bad-params","kind":"smoke"}`, "bad-params", "params"},
		{"bad params", "smoke", `{"v":1,"job_id":"bad-p2","kind":"smoke","params":{"exit_code":999}}`, "bad-p2", "exit_code 999"},
		{"unknown param", "smoke", `{"v":1,"job_id":"bad-p3","kind":"smoke","params":{"slep":"1s"}}`, "bad-p3", "unknown field"},
		{"oversized", "smoke", `{"v":1,"job_id":"bad-big","kind":"smoke","params":{"message":"` + strings.Repeat("x", 70<<10) + `"}}`, "bad-big", "max 65536"},
		{"unknown runtime", "smoke", `{"v":1,"job_id":"bad-rt","kind":"smoke","params":{},"runtime":"mainframe"}`, "bad-rt", "not served"},
		{"bad timeout", "smoke", `{"v":1,"job_id":"bad-to","kind":"smoke","params":{},"resources":{"timeout":"soon"}}`, "bad-to", "resources.timeout"},
	}
	for _, c := range cases {
		e.publishRaw(e.names.SubmitSubject(c.subject), c.body, c.id)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs := e.events(c.id, 20*time.Second)
			last := evs[len(evs)-1]
			if len(evs) != 1 || last.Type != messages.EventRejected {
				t.Fatalf("events = %v, want one rejected", types(evs))
			}
			if !strings.Contains(last.Error, c.want) {
				t.Errorf("reason %q does not contain %q", last.Error, c.want)
			}
			if rec := e.settled(c.id); rec.State != messages.StateRejected || rec.Error == "" {
				t.Errorf("record = %+v", rec)
			}
		})
	}
	// A message with neither a usable job id nor a header gets one from its
	// stream sequence.
	ack := e.publishRaw(e.names.SubmitSubject("smoke"), `garbage`, "")
	evs := e.events(messages.DerivedJobID(ack.Sequence), 20*time.Second)
	if evs[0].Type != messages.EventRejected {
		t.Fatalf("garbage: events = %v", types(evs))
	}
	// Still serving.
	e.submit("good-after-bad", "smoke", `{}`, "")
	if evs := e.events("good-after-bad", 30*time.Second); evs[len(evs)-1].Type != messages.EventSucceeded {
		t.Fatalf("dispatcher stopped serving: %v", types(evs))
	}
}

// (d) A failing job is retried with backoff up to max_retries, then dead
// and copied to the DLQ.
func TestRetriesThenDeadLetter(t *testing.T) {
	e := setup(t)
	e.start(e.config())
	e.submit("fails", "smoke", `{"exit_code":3}`, `,"max_retries":2`)
	evs := e.events("fails", 60*time.Second)
	want := []string{"accepted",
		"started", "running", "failed", "retrying",
		"started", "running", "failed", "retrying",
		"started", "running", "failed", "dead"}
	if got := types(evs); !slices.Equal(got, want) {
		t.Fatalf("events = %v\nwant     %v", got, want)
	}
	var delays []time.Duration
	for _, ev := range evs {
		if ev.Type == messages.EventRetrying {
			if ev.Retry == nil || ev.Retry.Delay <= 0 {
				t.Fatalf("retrying event without delay: %+v", ev)
			}
			delays = append(delays, ev.Retry.Delay)
		}
		if ev.Type == messages.EventFailed && (ev.ExitCode == nil || *ev.ExitCode != 3 || !strings.Contains(ev.Error, "exit code 3")) {
			t.Errorf("failed event lacks the exit code: %+v", ev)
		}
	}
	// Backoff doubles (±20% jitter): the second delay exceeds the first.
	if delays[1] <= delays[0] {
		t.Errorf("backoff did not grow: %v", delays)
	}
	// Attempts 1..3, each launched under its own handle.
	for i, a := range []int{1, 2, 3} {
		if evs[1+4*i].Attempt != a {
			t.Errorf("started event %d has attempt %d", i, evs[1+4*i].Attempt)
		}
	}
	if rec := e.settled("fails"); rec.State != messages.StateDead || rec.Attempt != 3 {
		t.Errorf("record = %+v", rec)
	}
	// The DLQ holds the original submission with the reason.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := e.js.Stream(ctx, e.names.DLQStream())
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(ctx, e.names.DLQSubject("smoke"))
	if err != nil {
		t.Fatalf("no dead letter: %v", err)
	}
	if m.Header.Get(messages.HeaderJobID) != "fails" || !strings.Contains(m.Header.Get(messages.HeaderReason), "exit code 3") {
		t.Errorf("dead letter headers = %v", m.Header)
	}
	if sub, err := messages.DecodeSubmission(m.Data); err != nil || sub.JobID != "fails" {
		t.Errorf("dead letter body is not the submission: %s", m.Data)
	}
}

// A job that fails its first attempts and then succeeds ends succeeded.
func TestRetryThenSucceed(t *testing.T) {
	e := setup(t)
	e.start(e.config())
	e.submit("flaky", "smoke", `{"fail_attempts":2}`, `,"max_retries":3`)
	evs := e.events("flaky", 60*time.Second)
	if last := evs[len(evs)-1]; last.Type != messages.EventSucceeded || last.Attempt != 3 {
		t.Fatalf("events = %v, last %+v", types(evs), last)
	}
	if n := count(evs, messages.EventRetrying); n != 2 {
		t.Errorf("%d retrying events, want 2", n)
	}
}

// A timeout is enforced by the runtime and reported as a failure.
func TestTimeoutFailsAttempt(t *testing.T) {
	e := setup(t)
	e.start(e.config())
	e.submit("slow", "smoke", `{"sleep":"1m"}`, `,"max_retries":0,"resources":{"timeout":"1s"}`)
	evs := e.events("slow", 60*time.Second)
	last := evs[len(evs)-1]
	if last.Type != messages.EventDead || !strings.Contains(last.Error, "timeout") {
		t.Fatalf("events = %v, last = %+v", types(evs), last)
	}
}

func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A submission no dispatcher can settle (here: its workload lives on a node
// that never comes back) is dead-lettered once JetStream gives up on it,
// instead of silently never being delivered again.
func TestMaxDeliveriesDeadLetters(t *testing.T) {
	e := setup(t)
	cfg := e.config()
	cfg.MaxDeliver = 2
	cfg.AckWait = time.Second
	e.start(cfg)
	kv, err := e.js.KeyValue(context.Background(), e.names.StateBucket())
	if err != nil {
		t.Fatal(err)
	}
	rec := messages.Record{V: 1, JobID: "orphan", Kind: "smoke", State: messages.StateRunning, Attempt: 1, MaxRetries: 3,
		Owner: "gone", Seq: 3, Runtime: "local", Handle: &messages.Handle{Runtime: "local", Name: "jetrun-orphan-a1", Node: "a-node-that-died"}}
	b, _ := json.Marshal(rec)
	if _, err := kv.Create(context.Background(), "orphan", b); err != nil {
		t.Fatal(err)
	}
	e.submit("orphan", "smoke", `{}`, "")
	evs := e.events("orphan", 60*time.Second)
	last := evs[len(evs)-1]
	if last.Type != messages.EventDead || !strings.Contains(last.Error, "2 deliveries") {
		t.Fatalf("events = %v, last = %+v", types(evs), last)
	}
	if r := e.settled("orphan"); r.State != messages.StateDead {
		t.Fatalf("record = %+v", r)
	}
	s, _ := e.js.Stream(context.Background(), e.names.DLQStream())
	if m, err := s.GetLastMsgForSubject(context.Background(), e.names.DLQSubject("smoke")); err != nil || m.Header.Get(messages.HeaderJobID) != "orphan" {
		t.Fatalf("dead letter: %v %v", m, err)
	}

	// A job left "starting" (seq 2): its "dead" skips seq 3, which the
	// attempt's "running" may have; sharing it, the stream would drop it.
	rec.JobID, rec.State, rec.Seq = "orphan-starting", messages.StateStarting, 2
	rec.Handle.Name = "jetrun-orphan-starting-a1"
	b, _ = json.Marshal(rec)
	if _, err := kv.Create(context.Background(), "orphan-starting", b); err != nil {
		t.Fatal(err)
	}
	e.submit("orphan-starting", "smoke", `{}`, "")
	evs = e.events("orphan-starting", 60*time.Second)
	if last := evs[len(evs)-1]; last.Type != messages.EventDead || last.Seq != 4 {
		t.Fatalf("events = %v, last = %+v: want dead with seq 4", types(evs), last)
	}
}

// Dispatchers running different runtimes share one queue: a job goes to a
// dispatcher that runs its runtime, and a job for a runtime nobody runs is
// rejected at once, saying so.
func TestMixedRuntimesShareTheQueue(t *testing.T) {
	e := setup(t)
	e.start(e.config()) // runs "local"
	alt, err := local.New(local.Config{Dir: t.TempDir(), WorkerBin: workerBin}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	cfg.ID = "alt-dispatcher"
	cfg.Runtimes = map[string]runtimes.Runtime{"alt": alt}
	e.start(cfg)
	waitFor(t, 10*time.Second, func() bool {
		kv, err := e.js.KeyValue(context.Background(), e.names.DispatchersBucket())
		if err != nil {
			return false
		}
		keys, _ := kv.Keys(context.Background())
		return len(keys) == 2
	})
	for i := range 4 {
		id := "alt-" + strconv.Itoa(i)
		e.submit(id, "smoke", `{}`, `,"runtime":"alt"`)
		evs := e.events(id, 30*time.Second)
		if last := evs[len(evs)-1]; last.Type != messages.EventSucceeded || last.Runtime != "alt" {
			t.Fatalf("%s: events = %v, last %+v", id, types(evs), last)
		}
		if rec := e.record(id); rec.Owner != "alt-dispatcher" || rec.Handle.Runtime != "alt" {
			t.Fatalf("%s ran on %s (%+v)", id, rec.Owner, rec.Handle)
		}
	}
	e.submit("nowhere", "smoke", `{}`, `,"runtime":"kubernetes"`)
	evs := e.events("nowhere", 30*time.Second)
	if last := evs[len(evs)-1]; last.Type != messages.EventRejected || !strings.Contains(last.Error, "no live dispatcher runs it") {
		t.Fatalf("events = %v, last %+v", types(evs), last)
	}
}

// A core-NATS subscriber (a plain "nats sub", most alerting hooks) sees
// each event of a job once, in the stream's order, on the happy path and
// when the job is cancelled: one publisher per event (workers report, the
// owner publishes), and a transition redone after a cancel request changed
// the record is not published again.
func TestCoreSubscriberSeesEachEventOnce(t *testing.T) {
	e := setup(t)
	e.start(e.config())
	for _, tc := range []struct {
		id, params string
		cancel     bool
	}{
		{"core-ok", `{"sleep":"300ms","progress":3}`, false},
		{"core-cancel", `{"sleep":"5m","progress":2}`, true},
	} {
		t.Run(tc.id, func(t *testing.T) {
			sub, err := e.nc.SubscribeSync(e.names.JobEvents(tc.id))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			e.nc.Flush()
			e.submit(tc.id, "smoke", tc.params, "")
			if tc.cancel {
				waitFor(t, 20*time.Second, func() bool { return e.state(tc.id) == messages.StateRunning })
				if r := e.cancel(tc.id); !r.Accepted {
					t.Fatalf("cancel: %+v", r)
				}
			}
			stored := e.events(tc.id, 30*time.Second)
			var seen, want []string
			for {
				m, err := sub.NextMsg(time.Second)
				if err != nil {
					break
				}
				ev, err := messages.DecodeEvent(m.Data)
				if err != nil {
					t.Fatalf("undecodable event: %v", err)
				}
				seen = append(seen, ev.MsgID())
			}
			for _, ev := range stored {
				want = append(want, ev.MsgID())
			}
			if !slices.Equal(seen, want) {
				t.Fatalf("core subscriber saw %v; the stream holds %v", seen, want)
			}
		})
	}
}
