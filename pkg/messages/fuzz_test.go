package messages_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jetrun/jetrun/pkg/messages"
)

// FuzzDecodeSubmission checks that DecodeSubmission never panics and that
// whatever it accepts survives a re-encoding: marshal, decode again, same
// value. Run it with
//
//	go test -run XXX -fuzz FuzzDecodeSubmission -fuzztime 60s ./pkg/messages/
func FuzzDecodeSubmission(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "submission_v1.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(golden),
		`{"v":1,"kind":"smoke","params":{}}`,
		`{"v":1,"job_id":"job-123","kind":"smoke","params":{"sleep":"2s","progress":3},"max_retries":0,"labels":{"a":""}}`,
		`{"v":1,"kind":"smoke","params":{},"resources":{"cpu":"500m","memory":"1.5Gi","timeout":"90s"},"submitted_at":"2026-11-02T10:00:00+01:00"}`,
		`{"v":1,"kind":"smoke","params":{"html":"<&>\u2028"},"name":"\u00e9\ud83d\ude00","unknown":[1,{"x":null}]}`,
		// bad inputs
		``,
		`null`,
		`[]`,
		`{`,
		`{"v":2,"kind":"smoke","params":{}}`,
		`{"v":"1","kind":"smoke","params":{}}`,
		`{"v":1,"kind":"Smoke","params":{}}`,
		`{"v":1,"kind":"smoke","params":[]}`,
		`{"v":1,"kind":"smoke","params":null}`,
		`{"v":1,"kind":"smoke"}`,
		`{"v":1,"kind":"smoke","params":{},"job_id":"-x"}`,
		`{"v":1,"kind":"smoke","params":{},"max_retries":21}`,
		`{"v":1,"kind":"smoke","params":{},"labels":{"":"x"}}`,
		`{"v":1,"kind":"smoke","params":{},"resources":{"cpu":"NaN","memory":"Inf"}}`,
		`{"v":1,"kind":"smoke","params":{},"submitted_at":"0000-01-01T00:00:00-23:59"}`,
		"{\"v\":1,\"kind\":\"smoke\",\"params\":{\"s\":\"\xff\xfe\"},\"name\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := messages.DecodeSubmission(data)
		if err != nil {
			return
		}
		// Re-encode without HTML escaping: json.Marshal turns '<' inside
		// params into "\u003c", which can push a submission that was just
		// under MaxSubmissionBytes over it. The size limit is about the
		// producer's bytes, not about a Go re-encoding.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatalf("accepted submission does not marshal: %v\ninput: %q", err, data)
		}
		again, err := messages.DecodeSubmission(buf.Bytes())
		if err != nil {
			t.Fatalf("re-encoded submission rejected: %v\ninput:     %q\nre-encoded: %q", err, data, buf.Bytes())
		}
		if g, w := normalize(t, again), normalize(t, s); !reflect.DeepEqual(g, w) {
			t.Fatalf("round trip differs\ninput: %q\nfirst:  %#v\nsecond: %#v", data, w, g)
		}
		// json.Marshal, the way a Go producer writes, must also decode to
		// the same value whenever it fits.
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		if len(b) <= messages.MaxSubmissionBytes {
			again, err := messages.DecodeSubmission(b)
			if err != nil {
				t.Fatalf("json.Marshal output rejected: %v\ninput: %q", err, data)
			}
			// json.Marshal escapes '<', '>', '&', U+2028 and U+2029 inside
			// params, so compare params by meaning and the rest exactly.
			if !sameJSON(t, again.Params, s.Params) {
				t.Fatalf("json.Marshal changed params\ninput: %q\nfirst:  %s\nsecond: %s", data, s.Params, again.Params)
			}
			g, w := normalize(t, again).(messages.Submission), normalize(t, s).(messages.Submission)
			g.Params, w.Params = nil, nil
			if !reflect.DeepEqual(g, w) {
				t.Fatalf("json.Marshal round trip differs\ninput: %q\nfirst:  %#v\nsecond: %#v", data, w, g)
			}
		}
	})
}

// sameJSON reports whether a and b encode the same JSON value.
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var va, vb any
	for _, x := range []struct {
		data []byte
		v    *any
	}{{a, &va}, {b, &vb}} {
		d := json.NewDecoder(bytes.NewReader(x.data))
		d.UseNumber()
		if err := d.Decode(x.v); err != nil {
			t.Fatalf("decode %q: %v", x.data, err)
		}
	}
	return reflect.DeepEqual(va, vb)
}

// FuzzJobID checks the id rules against each other: a derived id is never
// one a producer may submit, DerivedJobID round-trips through
// IsDerivedJobID, every valid id is a single subject token and a KV key,
// and a submission carrying any string as its job_id is either refused or
// keeps exactly that submittable id. Run it with
//
//	go test -run XXX -fuzz FuzzJobID -fuzztime 60s ./pkg/messages/
func FuzzJobID(f *testing.F) {
	for _, s := range []string{"s3", "_s3", "_s0", "job-1", "", "_", "a.b", "a>", "01JD", "_s18446744073709551615", "\xff"} {
		f.Add(s, uint64(3))
	}
	f.Fuzz(func(t *testing.T, id string, seq uint64) {
		if messages.ValidSubmittedJobID(id) && messages.IsDerivedJobID(id) {
			t.Fatalf("%q is both submittable and derived", id)
		}
		if messages.ValidJobID(id) != (messages.ValidSubmittedJobID(id) || messages.IsDerivedJobID(id)) {
			t.Fatalf("ValidJobID(%q) disagrees with its parts", id)
		}
		if messages.ValidJobID(id) && strings.ContainsAny(id, ". *>\x00\t\r\n/=") {
			t.Fatalf("valid id %q is not a single subject token", id)
		}
		if seq > 0 {
			d := messages.DerivedJobID(seq)
			if !messages.IsDerivedJobID(d) || messages.ValidSubmittedJobID(d) {
				t.Fatalf("DerivedJobID(%d) = %q", seq, d)
			}
		}
		b, err := json.Marshal(map[string]any{"v": 1, "job_id": id, "kind": "smoke", "params": map[string]any{}})
		if err != nil {
			return
		}
		sub, err := messages.DecodeSubmission(b)
		if err != nil {
			return
		}
		if sub.JobID != id || (id != "" && !messages.ValidSubmittedJobID(id)) {
			t.Fatalf("accepted job_id %q as %q", id, sub.JobID)
		}
	})
}
