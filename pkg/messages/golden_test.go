package messages_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ (go test -run Golden ./pkg/messages -update)")

func ptr[T any](v T) *T { return &v }

var (
	t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	t1 = time.Date(2026, 11, 2, 10, 0, 1, 500_000_000, time.UTC)
)

// The fixed values pinned by the golden files. Change them only together
// with the files, and only in ways the versioning rules allow (see doc.go).
var (
	goldenSubmission = messages.Submission{
		V:     1,
		JobID: "01JD3XKQ8M6Y2T5W9R4N7B0C1E",
		Kind:  "upload_repo",
		Name:  "upload-myrepo",
		Params: json.RawMessage(`{"repo_url":"https://github.com/user/repo.git","ref":"main","collection":"my_collection",` +
			`"embedding":{"model":"Qwen/Qwen3-Embedding-8B","credential":"default"}}`),
		Runtime:     "kubernetes",
		Resources:   messages.Resources{CPU: "2", Memory: "4Gi", Timeout: "1h"},
		MaxRetries:  ptr(3),
		Labels:      map[string]string{"team": "search", "jetrun.io/source": "ci"},
		SubmittedAt: t0,
	}

	goldenEventProgress = messages.Event{
		V:       1,
		JobID:   "01JD3XKQ8M6Y2T5W9R4N7B0C1E",
		Seq:     3,
		Sub:     2,
		Type:    messages.EventProgress,
		State:   messages.StateRunning,
		Kind:    "upload_repo",
		Attempt: 1,
		Time:    t1,
		Runtime: "kubernetes",
		Handle:  "jetrun-01jd3xkq8m6y2t5w9r4n7b0c1e-a1",
		Progress: &messages.Progress{
			Done:    120,
			Total:   480,
			Unit:    "files",
			Chunks:  1733,
			Bytes:   2_411_520,
			Rate:    40.5,
			Message: "embedding",
		},
		Labels: map[string]string{"team": "search"},
	}

	goldenEventFailed = messages.Event{
		V:        1,
		JobID:    "job-123",
		Seq:      5,
		Type:     messages.EventFailed,
		State:    messages.StateRunning,
		Kind:     "smoke",
		Attempt:  1,
		Time:     t1,
		Runtime:  "local",
		Handle:   "jetrun-job-123-a1",
		Message:  "attempt 1 failed",
		Error:    "exit code 1",
		ExitCode: ptr(1),
	}

	goldenEventRetrying = messages.Event{
		V:       1,
		JobID:   "job-123",
		Seq:     6,
		Type:    messages.EventRetrying,
		State:   messages.StateRetrying,
		Kind:    "smoke",
		Attempt: 1,
		Time:    t1,
		Runtime: "local",
		Error:   "exit code 1",
		Retry: &messages.Retry{
			NextAttempt: 2,
			Delay:       30 * time.Second,
			At:          t1.Add(30 * time.Second),
		},
	}

	goldenRecord = messages.Record{
		V:          1,
		JobID:      "job-123",
		Kind:       "smoke",
		Name:       "smoke test",
		State:      messages.StateRunning,
		Desired:    messages.DesiredCancel,
		Attempt:    2,
		MaxRetries: 3,
		Owner:      "dispatcher-7f3a",
		MsgSeq:     42,
		Seq:        8,
		Runtime:    "docker",
		Handle:     &messages.Handle{Runtime: "docker", Name: "jetrun-job-123-a2", ID: "3f4e5d6c7b8a"},
		Labels:     map[string]string{"team": "search"},
		Error:      "worker exited with code 1",
		ExitCode:   ptr(1),
		Created:    t0,
		Updated:    t0.Add(65 * time.Second),
		Started:    t0.Add(2 * time.Second),
		NextRetry:  t0.Add(time.Minute),
	}

	goldenCancelReply = messages.CancelReply{
		V:        1,
		JobID:    "job-123",
		State:    messages.StateRunning,
		Accepted: true,
	}
)

type goldenCase struct {
	file   string
	value  any
	decode func([]byte) (any, error)
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{"submission_v1.json", goldenSubmission, func(b []byte) (any, error) {
			s, err := messages.DecodeSubmission(b)
			return s, err
		}},
		{"event_progress_v1.json", goldenEventProgress, func(b []byte) (any, error) {
			e, err := messages.DecodeEvent(b)
			return e, err
		}},
		{"event_failed_v1.json", goldenEventFailed, func(b []byte) (any, error) {
			e, err := messages.DecodeEvent(b)
			return e, err
		}},
		{"event_retrying_v1.json", goldenEventRetrying, func(b []byte) (any, error) {
			e, err := messages.DecodeEvent(b)
			return e, err
		}},
		{"record_v1.json", goldenRecord, func(b []byte) (any, error) {
			r, err := messages.DecodeRecord(b)
			return r, err
		}},
		{"cancel_reply_v1.json", goldenCancelReply, func(b []byte) (any, error) {
			var r messages.CancelReply
			err := json.Unmarshal(b, &r)
			return r, err
		}},
	}
}

// marshalGolden is the golden encoding: two-space indent, trailing newline.
func marshalGolden(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return append(b, '\n')
}

// normalize makes values that mean the same compare equal with
// reflect.DeepEqual: Params compacted (a RawMessage keeps the producer's
// whitespace) and empty label maps nil (omitempty drops them).
func normalize(t testing.TB, v any) any {
	t.Helper()
	switch x := v.(type) {
	case messages.Submission:
		if len(x.Params) > 0 {
			var buf bytes.Buffer
			if err := json.Compact(&buf, x.Params); err != nil {
				t.Fatalf("compact params %q: %v", x.Params, err)
			}
			x.Params = buf.Bytes()
		}
		if len(x.Labels) == 0 {
			x.Labels = nil
		}
		return x
	case messages.Event:
		if len(x.Labels) == 0 {
			x.Labels = nil
		}
		return x
	case messages.Record:
		if len(x.Labels) == 0 {
			x.Labels = nil
		}
		return x
	}
	return v
}

func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			got := marshalGolden(t, tc.value)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run Golden ./pkg/messages -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s changed; if the change is intended and keeps v1 compatible, run with -update\n--- got\n%s--- want\n%s", path, got, want)
			}
		})
	}
}

// TestGoldenDecode reads each golden file back: the bytes on the wire
// decode, validate and equal the value they were written from.
func TestGoldenDecode(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.decode(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if g, w := normalize(t, got), normalize(t, tc.value); !reflect.DeepEqual(g, w) {
				t.Errorf("round trip differs\ngot  %#v\nwant %#v", g, w)
			}
		})
	}
}

// TestGoldenEventsOrdered checks the invariants the golden events illustrate.
func TestGoldenEventsOrdered(t *testing.T) {
	if got := goldenEventProgress.MsgID(); got != "01JD3XKQ8M6Y2T5W9R4N7B0C1E:3.2" {
		t.Errorf("progress MsgID = %q", got)
	}
	if got := goldenEventFailed.MsgID(); got != "job-123:5" {
		t.Errorf("failed MsgID = %q", got)
	}
	if goldenEventFailed.Type.Terminal() {
		t.Error("failed must not be terminal: retrying or dead follows")
	}
}

// TestHandWrittenSubmission decodes submissions as a producer in another
// language writes them: by hand, minimal, in any key order and spacing.
func TestHandWrittenSubmission(t *testing.T) {
	for _, tt := range []struct {
		name string
		data string
		want messages.Submission
	}{
		{
			name: "minimal",
			data: `{"v":1,"kind":"smoke","params":{}}`,
			want: messages.Submission{V: 1, Kind: "smoke", Params: json.RawMessage(`{}`)},
		},
		{
			name: "smoke with params, keys reordered, pretty",
			data: "{\n  \"params\": {\"sleep\": \"2s\", \"progress\": 3},\n  \"kind\": \"smoke\",\n  \"job_id\": \"job-123\",\n  \"v\": 1\n}\n",
			want: messages.Submission{V: 1, JobID: "job-123", Kind: "smoke", Params: json.RawMessage(`{"sleep":"2s","progress":3}`)},
		},
		{
			name: "explicit nulls for optional fields",
			data: `{"v":1,"kind":"smoke","params":{},"job_id":null,"name":null,"runtime":null,"max_retries":null,"labels":null,"resources":null}`,
			want: messages.Submission{V: 1, Kind: "smoke", Params: json.RawMessage(`{}`)},
		},
		{
			name: "empty optional fields",
			data: `{"v":1,"kind":"smoke","params":{},"job_id":"","name":"","runtime":"","labels":{},"resources":{}}`,
			want: messages.Submission{V: 1, Kind: "smoke", Params: json.RawMessage(`{}`)},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := messages.DecodeSubmission([]byte(tt.data))
			if err != nil {
				t.Fatalf("DecodeSubmission: %v", err)
			}
			if g, w := normalize(t, got), normalize(t, tt.want); !reflect.DeepEqual(g, w) {
				t.Errorf("got  %#v\nwant %#v", g, w)
			}
		})
	}
}
