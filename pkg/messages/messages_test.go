package messages_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jetrun/jetrun/pkg/messages"
)

// sub builds a submission JSON object from the minimal valid one
// {"v":1,"kind":"smoke","params":{}} with the given fields replaced (a nil
// value deletes the field). Values are raw JSON.
func sub(t testing.TB, fields map[string]any) []byte {
	t.Helper()
	m := map[string]any{
		"v":      json.RawMessage(`1`),
		"kind":   json.RawMessage(`"smoke"`),
		"params": json.RawMessage(`{}`),
	}
	for k, v := range fields {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatalf("build submission: %v", err)
	}
	return b
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestDecodeSubmissionInvalid(t *testing.T) {
	long := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	manyLabels := map[string]string{}
	for i := range messages.MaxLabels + 1 {
		manyLabels[fmt.Sprintf("l%d", i)] = "x"
	}

	tests := []struct {
		name string
		data []byte
		want error  // the sentinel the error must wrap
		msg  string // a substring that names the bad value
	}{
		// Not a submission at all.
		{"empty input", []byte(``), messages.ErrInvalid, "not a JSON submission"},
		{"truncated JSON", []byte(`{"v":1,"kind":"smoke"`), messages.ErrInvalid, "not a JSON submission"},
		{"array", []byte(`[1,2]`), messages.ErrInvalid, "not a JSON submission"},
		{"JSON null", []byte(`null`), messages.ErrInvalid, `"v"`},

		// v
		{"missing v", sub(t, map[string]any{"v": nil}), messages.ErrInvalid, `missing field "v"`},
		{"v zero", sub(t, map[string]any{"v": raw(`0`)}), messages.ErrInvalid, `missing field "v"`},
		{"unknown v 2", sub(t, map[string]any{"v": raw(`2`)}), messages.ErrUnsupportedVersion, "v=2"},
		{"unknown v -1", sub(t, map[string]any{"v": raw(`-1`)}), messages.ErrUnsupportedVersion, "v=-1"},
		{"v is a string", sub(t, map[string]any{"v": raw(`"1"`)}), messages.ErrInvalid, `field "v" has the wrong type`},
		{"v is a float", sub(t, map[string]any{"v": raw(`1.5`)}), messages.ErrInvalid, `field "v"`},

		// kind
		{"missing kind", sub(t, map[string]any{"kind": nil}), messages.ErrInvalid, `missing field "kind"`},
		{"empty kind", sub(t, map[string]any{"kind": raw(`""`)}), messages.ErrInvalid, `missing field "kind"`},
		{"kind upper case", sub(t, map[string]any{"kind": raw(`"Smoke"`)}), messages.ErrInvalid, `kind "Smoke"`},
		{"kind with dot", sub(t, map[string]any{"kind": raw(`"smoke.x"`)}), messages.ErrInvalid, `kind "smoke.x"`},
		{"kind with dash", sub(t, map[string]any{"kind": raw(`"upload-repo"`)}), messages.ErrInvalid, `kind "upload-repo"`},
		{"kind starts with digit", sub(t, map[string]any{"kind": raw(`"1smoke"`)}), messages.ErrInvalid, `kind "1smoke"`},
		{"kind wildcard", sub(t, map[string]any{"kind": raw(`"*"`)}), messages.ErrInvalid, `kind "*"`},
		{"kind too long", sub(t, map[string]any{"kind": "k" + long('x', 64)}), messages.ErrInvalid, `kind "kxxx`},
		{"kind is a number", sub(t, map[string]any{"kind": raw(`7`)}), messages.ErrInvalid, `field "kind" has the wrong type`},

		// job_id
		{"job_id too long", sub(t, map[string]any{"job_id": long('a', messages.MaxJobIDLen+1)}), messages.ErrInvalid, `job_id "aaaa`},
		{"job_id with dot", sub(t, map[string]any{"job_id": "job.1"}), messages.ErrInvalid, `job_id "job.1"`},
		{"job_id with space", sub(t, map[string]any{"job_id": "job 1"}), messages.ErrInvalid, `job_id "job 1"`},
		{"job_id with wildcard", sub(t, map[string]any{"job_id": "job>"}), messages.ErrInvalid, `job_id "job>"`},
		{"job_id with slash", sub(t, map[string]any{"job_id": "a/b"}), messages.ErrInvalid, `job_id "a/b"`},
		{"job_id with colon", sub(t, map[string]any{"job_id": "a:1"}), messages.ErrInvalid, `job_id "a:1"`},
		{"job_id non-ASCII", sub(t, map[string]any{"job_id": "jöb"}), messages.ErrInvalid, `job_id "jöb"`},
		{"job_id leading dash", sub(t, map[string]any{"job_id": "-job"}), messages.ErrInvalid, `job_id "-job"`},
		{"job_id leading underscore", sub(t, map[string]any{"job_id": "_job"}), messages.ErrInvalid, `job_id "_job"`},

		// size
		{"oversized", sub(t, map[string]any{"params": map[string]string{"blob": long('x', messages.MaxSubmissionBytes)}}), messages.ErrInvalid, fmt.Sprintf("(max %d", messages.MaxSubmissionBytes)},

		// params
		{"params missing", sub(t, map[string]any{"params": nil}), messages.ErrInvalid, `missing field "params"`},
		{"params null", sub(t, map[string]any{"params": raw(`null`)}), messages.ErrInvalid, `missing field "params"`},
		{"params array", sub(t, map[string]any{"params": raw(`[]`)}), messages.ErrInvalid, "params must be a JSON object"},
		{"params string", sub(t, map[string]any{"params": raw(`"{}"`)}), messages.ErrInvalid, "params must be a JSON object"},
		{"params number", sub(t, map[string]any{"params": raw(`0`)}), messages.ErrInvalid, "params must be a JSON object"},
		{"params bool", sub(t, map[string]any{"params": raw(`true`)}), messages.ErrInvalid, "params must be a JSON object"},

		// name, runtime
		{"name too long", sub(t, map[string]any{"name": long('n', messages.MaxNameLen+1)}), messages.ErrInvalid, fmt.Sprintf("name is %d bytes", messages.MaxNameLen+1)},
		{"runtime upper case", sub(t, map[string]any{"runtime": "Docker"}), messages.ErrInvalid, `runtime "Docker"`},
		{"runtime with dot", sub(t, map[string]any{"runtime": "k8s.io"}), messages.ErrInvalid, `runtime "k8s.io"`},

		// max_retries
		{"max_retries negative", sub(t, map[string]any{"max_retries": -1}), messages.ErrInvalid, "max_retries -1"},
		{"max_retries too big", sub(t, map[string]any{"max_retries": messages.MaxRetriesLimit + 1}), messages.ErrInvalid, fmt.Sprintf("max_retries %d", messages.MaxRetriesLimit+1)},
		{"max_retries string", sub(t, map[string]any{"max_retries": "3"}), messages.ErrInvalid, `field "max_retries" has the wrong type`},
		{"max_retries fraction", sub(t, map[string]any{"max_retries": 1.5}), messages.ErrInvalid, `field "max_retries"`},

		// labels
		{"label empty key", sub(t, map[string]any{"labels": map[string]string{"": "x"}}), messages.ErrInvalid, `label key ""`},
		{"label key leading dash", sub(t, map[string]any{"labels": map[string]string{"-team": "x"}}), messages.ErrInvalid, `label key "-team"`},
		{"label key trailing dot", sub(t, map[string]any{"labels": map[string]string{"team.": "x"}}), messages.ErrInvalid, `label key "team."`},
		{"label key with space", sub(t, map[string]any{"labels": map[string]string{"my team": "x"}}), messages.ErrInvalid, `label key "my team"`},
		{"label key too long", sub(t, map[string]any{"labels": map[string]string{long('k', 65): "x"}}), messages.ErrInvalid, `label key "kkkk`},
		{"label value too long", sub(t, map[string]any{"labels": map[string]string{"team": long('v', 64)}}), messages.ErrInvalid, `label "team"`},
		{"label value newline", sub(t, map[string]any{"labels": map[string]string{"team": "a\nb"}}), messages.ErrInvalid, `label "team"`},
		{"label value NUL", sub(t, map[string]any{"labels": map[string]string{"team": "a\x00"}}), messages.ErrInvalid, `label "team"`},
		{"too many labels", sub(t, map[string]any{"labels": manyLabels}), messages.ErrInvalid, fmt.Sprintf("%d labels (max %d)", messages.MaxLabels+1, messages.MaxLabels)},
		{"labels not strings", sub(t, map[string]any{"labels": raw(`{"a":1}`)}), messages.ErrInvalid, `field "labels" has the wrong type`},

		// resources
		{"cpu word", sub(t, map[string]any{"resources": map[string]string{"cpu": "lots"}}), messages.ErrInvalid, `cpu "lots"`},
		{"cpu zero", sub(t, map[string]any{"resources": map[string]string{"cpu": "0"}}), messages.ErrInvalid, `cpu "0"`},
		{"cpu negative", sub(t, map[string]any{"resources": map[string]string{"cpu": "-1"}}), messages.ErrInvalid, `cpu "-1"`},
		{"cpu too many", sub(t, map[string]any{"resources": map[string]string{"cpu": "2000"}}), messages.ErrInvalid, `cpu "2000"`},
		{"memory too small", sub(t, map[string]any{"resources": map[string]string{"memory": "1Ki"}}), messages.ErrInvalid, `memory "1Ki"`},
		{"memory unit GB", sub(t, map[string]any{"resources": map[string]string{"memory": "4GB"}}), messages.ErrInvalid, `memory "4GB"`},
		{"memory too big", sub(t, map[string]any{"resources": map[string]string{"memory": "17Ti"}}), messages.ErrInvalid, `memory "17Ti"`},
		{"timeout word", sub(t, map[string]any{"resources": map[string]string{"timeout": "soon"}}), messages.ErrInvalid, `resources.timeout "soon"`},
		{"timeout no unit", sub(t, map[string]any{"resources": map[string]string{"timeout": "30"}}), messages.ErrInvalid, `resources.timeout "30"`},
		{"timeout zero", sub(t, map[string]any{"resources": map[string]string{"timeout": "0s"}}), messages.ErrInvalid, `resources.timeout "0s"`},
		{"timeout negative", sub(t, map[string]any{"resources": map[string]string{"timeout": "-1m"}}), messages.ErrInvalid, `resources.timeout "-1m"`},
		{"resources not an object", sub(t, map[string]any{"resources": raw(`"2cpu"`)}), messages.ErrInvalid, `field "resources" has the wrong type`},

		// submitted_at
		{"submitted_at not a time", sub(t, map[string]any{"submitted_at": "yesterday"}), messages.ErrInvalid, "not a JSON submission"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := messages.DecodeSubmission(tt.data)
			if err == nil {
				t.Fatalf("DecodeSubmission(%.200s) = nil error, want %v", tt.data, tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("error %q does not wrap %q", err, tt.want)
			}
			if tt.want == messages.ErrUnsupportedVersion && errors.Is(err, messages.ErrInvalid) {
				t.Errorf("error %q wraps both sentinels", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestDecodeSubmissionValid(t *testing.T) {
	// exactly fills MaxSubmissionBytes.
	exact := func() []byte {
		b := sub(t, map[string]any{"params": map[string]string{"blob": ""}})
		pad := messages.MaxSubmissionBytes - len(b)
		return sub(t, map[string]any{"params": map[string]string{"blob": strings.Repeat("x", pad)}})
	}()
	if len(exact) != messages.MaxSubmissionBytes {
		t.Fatalf("exact submission is %d bytes, want %d", len(exact), messages.MaxSubmissionBytes)
	}

	tests := []struct {
		name string
		data []byte
		kind string
		id   string
	}{
		{"minimal", []byte(`{"v":1,"kind":"smoke","params":{}}`), "smoke", ""},
		{"whitespace around params", []byte("{\"v\":1,\"kind\":\"smoke\",\"params\":  \n {\"sleep\":\"1s\"} }"), "smoke", ""},
		{"job_id max length", sub(t, map[string]any{"job_id": strings.Repeat("a", messages.MaxJobIDLen)}), "smoke", strings.Repeat("a", messages.MaxJobIDLen)},
		{"job_id ULID", sub(t, map[string]any{"job_id": "01JD3XKQ8M6Y2T5W9R4N7B0C1E"}), "smoke", "01JD3XKQ8M6Y2T5W9R4N7B0C1E"},
		{"job_id digits dash underscore", sub(t, map[string]any{"job_id": "0-a_B"}), "smoke", "0-a_B"},
		{"kind max length", sub(t, map[string]any{"kind": "k" + strings.Repeat("x", 63)}), "k" + strings.Repeat("x", 63), ""},
		{"kind with underscore", sub(t, map[string]any{"kind": "upload_repo"}), "upload_repo", ""},
		{"exactly MaxSubmissionBytes", exact, "smoke", ""},
		{"max_retries 0", sub(t, map[string]any{"max_retries": 0}), "smoke", ""},
		{"max_retries limit", sub(t, map[string]any{"max_retries": messages.MaxRetriesLimit}), "smoke", ""},
		{"max_retries null", sub(t, map[string]any{"max_retries": raw(`null`)}), "smoke", ""},
		{"labels max", sub(t, map[string]any{"labels": map[string]string{"jetrun.io/team": strings.Repeat("v", 63), "a": ""}}), "smoke", ""},
		{"resources", sub(t, map[string]any{"resources": map[string]string{"cpu": "500m", "memory": "512Mi", "timeout": "90s"}}), "smoke", ""},
		{"empty resources", sub(t, map[string]any{"resources": raw(`{}`)}), "smoke", ""},
		{"name max length", sub(t, map[string]any{"name": strings.Repeat("n", messages.MaxNameLen)}), "smoke", ""},
		{"runtime", sub(t, map[string]any{"runtime": "aws_batch"}), "smoke", ""},
		{"submitted_at with offset", sub(t, map[string]any{"submitted_at": "2026-11-02T10:00:00+01:00"}), "smoke", ""},
		{"unknown fields ignored", sub(t, map[string]any{"priority": 5, "future": map[string]any{"x": []int{1}}, "resources": map[string]any{"gpu": "1"}}), "smoke", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := messages.DecodeSubmission(tt.data)
			if err != nil {
				t.Fatalf("DecodeSubmission: %v", err)
			}
			if s.Kind != tt.kind || s.JobID != tt.id {
				t.Errorf("kind, job_id = %q, %q; want %q, %q", s.Kind, s.JobID, tt.kind, tt.id)
			}
			if s.V != messages.Version {
				t.Errorf("v = %d", s.V)
			}
		})
	}
}

func TestSubmissionFieldsDecoded(t *testing.T) {
	s, err := messages.DecodeSubmission([]byte(`{"v":1,"job_id":"j1","kind":"smoke","name":"n","params":{"a":1},
		"runtime":"local","resources":{"cpu":"2","memory":"4Gi","timeout":"1h"},"max_retries":3,
		"labels":{"team":"search"},"submitted_at":"2026-11-02T10:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if s.JobID != "j1" || s.Name != "n" || s.Runtime != "local" || string(s.Params) != `{"a":1}` ||
		s.Resources != (messages.Resources{CPU: "2", Memory: "4Gi", Timeout: "1h"}) ||
		s.MaxRetries == nil || *s.MaxRetries != 3 || s.Labels["team"] != "search" ||
		s.SubmittedAt.Format("2006-01-02T15:04:05Z07:00") != "2026-11-02T10:00:00Z" {
		t.Errorf("decoded %+v", s)
	}
}

func TestSubmissionValidateGoValue(t *testing.T) {
	// Validate also guards submissions built in Go, before they are published.
	three := 3
	ok := messages.Submission{V: 1, Kind: "smoke", Params: raw(`{}`), MaxRetries: &three}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid: %v", err)
	}
	noParams := ok
	noParams.Params = nil
	if err := noParams.Validate(); !errors.Is(err, messages.ErrInvalid) {
		t.Errorf("nil params: %v", err)
	}
	blank := ok
	blank.Params = raw("   ")
	if err := blank.Validate(); !errors.Is(err, messages.ErrInvalid) {
		t.Errorf("blank params: %v", err)
	}
}

func TestValidJobIDAndKind(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"a", true}, {"0", true}, {"job-1_x", true}, {strings.Repeat("z", 64), true},
		{"", false}, {strings.Repeat("z", 65), false}, {"-a", false}, {"_a", false}, {"a.b", false}, {"a*", false}, {"a>", false}, {"a b", false},
	} {
		t.Run("job_id "+tt.id, func(t *testing.T) {
			if got := messages.ValidJobID(tt.id); got != tt.want {
				t.Errorf("ValidJobID(%q) = %v", tt.id, got)
			}
			if got := messages.ValidSubmittedJobID(tt.id); got != tt.want {
				t.Errorf("ValidSubmittedJobID(%q) = %v", tt.id, got)
			}
		})
	}
}

// TestDerivedJobIDsAreReserved: the ids the dispatcher derives from stream
// sequences are valid job ids that no producer can submit, so an explicit
// id can never take a derived one's place (the "s3" squatting of issue 11).
func TestDerivedJobIDsAreReserved(t *testing.T) {
	for _, seq := range []uint64{1, 3, 42, 1<<64 - 1} {
		id := messages.DerivedJobID(seq)
		if !messages.ValidJobID(id) || !messages.IsDerivedJobID(id) {
			t.Errorf("DerivedJobID(%d) = %q: not a valid derived id", seq, id)
		}
		if messages.ValidSubmittedJobID(id) {
			t.Errorf("a producer may submit the derived id %q", id)
		}
		sub := fmt.Sprintf(`{"v":1,"job_id":%q,"kind":"smoke","params":{}}`, id)
		if _, err := messages.DecodeSubmission([]byte(sub)); err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("submission with job_id %q: err = %v, want a reserved-id rejection", id, err)
		}
	}
	for _, id := range []string{"s3", "_s0", "_s03", "_s", "_sx", "_s1_", "_s" + strings.Repeat("9", 21)} {
		if messages.IsDerivedJobID(id) {
			t.Errorf("IsDerivedJobID(%q) = true", id)
		}
	}
	long := fmt.Sprintf(`{"v":1,"job_id":%q,"kind":"smoke","params":{}}`, strings.Repeat("x", 5000)+"!")
	if _, err := messages.DecodeSubmission([]byte(long)); err == nil || len(err.Error()) > 300 {
		t.Errorf("a long invalid job_id is quoted whole in the error (%d bytes)", len(err.Error()))
	}
	for _, tt := range []struct {
		kind string
		want bool
	}{
		{"smoke", true}, {"upload_repo", true}, {"a1", true},
		{"", false}, {"Smoke", false}, {"1a", false}, {"_a", false}, {"a-b", false}, {"a.b", false},
	} {
		t.Run("kind "+tt.kind, func(t *testing.T) {
			if got := messages.ValidKind(tt.kind); got != tt.want {
				t.Errorf("ValidKind(%q) = %v", tt.kind, got)
			}
		})
	}
}

func TestParseCPU(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{
		{"2", 2000}, {"0.25", 250}, {"500m", 500}, {"1m", 1}, {"0.001", 1}, {"1.5m", 2},
		{"1024", 1024000}, {"1024000m", 1024000}, {" 2 ", 2000}, {"0.1", 100},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := messages.ParseCPU(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseCPU(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
	for _, in := range []string{"", "m", "abc", "0", "0m", "0.4m", "-1", "-500m", "1025", "1024001m",
		"NaN", "Inf", "+Inf", "2 cores", "2mm", "1Gi", "2c"} {
		t.Run("reject "+in, func(t *testing.T) {
			got, err := messages.ParseCPU(in)
			if !errors.Is(err, messages.ErrInvalid) {
				t.Fatalf("ParseCPU(%q) = %d, %v; want ErrInvalid", in, got, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("cpu %q", in)) {
				t.Errorf("error %q does not name %q", err, in)
			}
		})
	}
}

func TestParseMemory(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{
		{"4Gi", 4 << 30}, {"512Mi", 512 << 20}, {"1Mi", 1 << 20}, {"1024Ki", 1 << 20}, {"1G", 1e9},
		{"2M", 2e6}, {"1500k", 15e5}, {"1500K", 15e5}, {"1T", 1e12}, {"16Ti", 16 << 40},
		{"1048576", 1 << 20}, {"1.5Gi", 3 << 29}, {" 64Mi ", 64 << 20},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got, err := messages.ParseMemory(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("ParseMemory(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
	for _, in := range []string{"", "Gi", "1Ki", "1M", "1048575", "17Ti", "-1Gi", "0", "NaN", "NaNGi", "Inf", "InfGi",
		"4GB", "4gi", "4 Gi", "4Pi", "lots"} {
		t.Run("reject "+in, func(t *testing.T) {
			got, err := messages.ParseMemory(in)
			if !errors.Is(err, messages.ErrInvalid) {
				t.Fatalf("ParseMemory(%q) = %d, %v; want ErrInvalid", in, got, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("memory %q", in)) {
				t.Errorf("error %q does not name %q", err, in)
			}
		})
	}
}

func TestFormatQuantities(t *testing.T) {
	for _, tt := range []struct {
		milli int64
		want  string
	}{
		{1, "1m"}, {250, "250m"}, {1000, "1"}, {1500, "1500m"}, {2000, "2"}, {1024000, "1024"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			if got := messages.FormatCPU(tt.milli); got != tt.want {
				t.Errorf("FormatCPU(%d) = %q, want %q", tt.milli, got, tt.want)
			}
			back, err := messages.ParseCPU(messages.FormatCPU(tt.milli))
			if err != nil || back != tt.milli {
				t.Errorf("ParseCPU(FormatCPU(%d)) = %d, %v", tt.milli, back, err)
			}
		})
	}
	for _, tt := range []struct {
		bytes int64
		want  string
	}{
		{1 << 20, "1Mi"}, {512 << 20, "512Mi"}, {4 << 30, "4Gi"}, {3 << 29, "1536Mi"}, {16 << 40, "16Ti"},
		{1e9, "1000000000"}, {1<<20 + 1<<10, "1025Ki"}, {1<<20 + 1, "1048577"},
	} {
		t.Run(tt.want, func(t *testing.T) {
			if got := messages.FormatMemory(tt.bytes); got != tt.want {
				t.Errorf("FormatMemory(%d) = %q, want %q", tt.bytes, got, tt.want)
			}
			back, err := messages.ParseMemory(messages.FormatMemory(tt.bytes))
			if err != nil || back != tt.bytes {
				t.Errorf("ParseMemory(FormatMemory(%d)) = %d, %v", tt.bytes, back, err)
			}
		})
	}
	// Parse → Format → Parse is stable for every accepted spelling.
	for _, in := range []string{"2", "0.25", "500m", "1.5m", "1024"} {
		m, _ := messages.ParseCPU(in)
		if again, err := messages.ParseCPU(messages.FormatCPU(m)); err != nil || again != m {
			t.Errorf("cpu %q: %d → %q → %d, %v", in, m, messages.FormatCPU(m), again, err)
		}
	}
	for _, in := range []string{"4Gi", "1G", "1.5Gi", "1048577", "1500k"} {
		b, _ := messages.ParseMemory(in)
		if again, err := messages.ParseMemory(messages.FormatMemory(b)); err != nil || again != b {
			t.Errorf("memory %q: %d → %q → %d, %v", in, b, messages.FormatMemory(b), again, err)
		}
	}
}

func TestResourcesValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    messages.Resources
		ok   bool
	}{
		{"empty", messages.Resources{}, true},
		{"all", messages.Resources{CPU: "2", Memory: "4Gi", Timeout: "1h"}, true},
		{"bad cpu", messages.Resources{CPU: "x"}, false},
		{"bad memory", messages.Resources{Memory: "x"}, false},
		{"bad timeout", messages.Resources{Timeout: "x"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate()
			if tt.ok != (err == nil) {
				t.Errorf("Validate(%+v) = %v", tt.r, err)
			}
			if err != nil && !errors.Is(err, messages.ErrInvalid) {
				t.Errorf("error %q does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestNames(t *testing.T) {
	type want struct {
		prefix, submit, submitAll, event, jobEvents, ofType, eventsAll string
		cancel, cancelAll, logs, logsAll, dispLogs, dispLogsAll        string
		dlq, dlqAll, jobs, events, dlqStream, state, uploads           string
	}
	tests := []struct {
		name  string
		names func(t *testing.T) messages.Names
		want  want
	}{
		{
			name:  "default",
			names: func(*testing.T) messages.Names { return messages.DefaultNames() },
			want: want{
				prefix: "jetrun", submit: "jetrun.jobs.submit.smoke", submitAll: "jetrun.jobs.submit.>",
				event: "jetrun.jobs.events.job-123.progress", jobEvents: "jetrun.jobs.events.job-123.>",
				ofType: "jetrun.jobs.events.*.failed", eventsAll: "jetrun.jobs.events.>",
				cancel: "jetrun.jobs.cancel.job-123", cancelAll: "jetrun.jobs.cancel.*",
				logs: "jetrun.jobs.logs.job-123", logsAll: "jetrun.jobs.logs.*",
				dispLogs: "jetrun.dispatchers.d1.logs.job-123", dispLogsAll: "jetrun.dispatchers.d1.logs.*",
				dlq: "jetrun.jobs.dlq.smoke", dlqAll: "jetrun.jobs.dlq.>",
				jobs: "JETRUN_JOBS", events: "JETRUN_EVENTS", dlqStream: "JETRUN_DLQ", state: "JETRUN_STATE", uploads: "JETRUN_UPLOADS",
			},
		},
		{
			name:  "empty prefix means default",
			names: func(t *testing.T) messages.Names { return mustNames(t, "") },
			want: want{
				prefix: "jetrun", submit: "jetrun.jobs.submit.smoke", submitAll: "jetrun.jobs.submit.>",
				event: "jetrun.jobs.events.job-123.progress", jobEvents: "jetrun.jobs.events.job-123.>",
				ofType: "jetrun.jobs.events.*.failed", eventsAll: "jetrun.jobs.events.>",
				cancel: "jetrun.jobs.cancel.job-123", cancelAll: "jetrun.jobs.cancel.*",
				logs: "jetrun.jobs.logs.job-123", logsAll: "jetrun.jobs.logs.*",
				dispLogs: "jetrun.dispatchers.d1.logs.job-123", dispLogsAll: "jetrun.dispatchers.d1.logs.*",
				dlq: "jetrun.jobs.dlq.smoke", dlqAll: "jetrun.jobs.dlq.>",
				jobs: "JETRUN_JOBS", events: "JETRUN_EVENTS", dlqStream: "JETRUN_DLQ", state: "JETRUN_STATE", uploads: "JETRUN_UPLOADS",
			},
		},
		{
			name:  "zero Names behaves as default",
			names: func(*testing.T) messages.Names { return messages.Names{} },
			want: want{
				prefix: "jetrun", submit: "jetrun.jobs.submit.smoke", submitAll: "jetrun.jobs.submit.>",
				event: "jetrun.jobs.events.job-123.progress", jobEvents: "jetrun.jobs.events.job-123.>",
				ofType: "jetrun.jobs.events.*.failed", eventsAll: "jetrun.jobs.events.>",
				cancel: "jetrun.jobs.cancel.job-123", cancelAll: "jetrun.jobs.cancel.*",
				logs: "jetrun.jobs.logs.job-123", logsAll: "jetrun.jobs.logs.*",
				dispLogs: "jetrun.dispatchers.d1.logs.job-123", dispLogsAll: "jetrun.dispatchers.d1.logs.*",
				dlq: "jetrun.jobs.dlq.smoke", dlqAll: "jetrun.jobs.dlq.>",
				jobs: "JETRUN_JOBS", events: "JETRUN_EVENTS", dlqStream: "JETRUN_DLQ", state: "JETRUN_STATE", uploads: "JETRUN_UPLOADS",
			},
		},
		{
			name:  "custom prefix dev",
			names: func(t *testing.T) messages.Names { return mustNames(t, "dev") },
			want: want{
				prefix: "dev", submit: "dev.jobs.submit.smoke", submitAll: "dev.jobs.submit.>",
				event: "dev.jobs.events.job-123.progress", jobEvents: "dev.jobs.events.job-123.>",
				ofType: "dev.jobs.events.*.failed", eventsAll: "dev.jobs.events.>",
				cancel: "dev.jobs.cancel.job-123", cancelAll: "dev.jobs.cancel.*",
				logs: "dev.jobs.logs.job-123", logsAll: "dev.jobs.logs.*",
				dispLogs: "dev.dispatchers.d1.logs.job-123", dispLogsAll: "dev.dispatchers.d1.logs.*",
				dlq: "dev.jobs.dlq.smoke", dlqAll: "dev.jobs.dlq.>",
				jobs: "DEV_JOBS", events: "DEV_EVENTS", dlqStream: "DEV_DLQ", state: "DEV_STATE", uploads: "DEV_UPLOADS",
			},
		},
		{
			name:  "prefix with dash and digit",
			names: func(t *testing.T) messages.Names { return mustNames(t, "team-a2") },
			want: want{
				prefix: "team-a2", submit: "team-a2.jobs.submit.smoke", submitAll: "team-a2.jobs.submit.>",
				event: "team-a2.jobs.events.job-123.progress", jobEvents: "team-a2.jobs.events.job-123.>",
				ofType: "team-a2.jobs.events.*.failed", eventsAll: "team-a2.jobs.events.>",
				cancel: "team-a2.jobs.cancel.job-123", cancelAll: "team-a2.jobs.cancel.*",
				logs: "team-a2.jobs.logs.job-123", logsAll: "team-a2.jobs.logs.*",
				dispLogs: "team-a2.dispatchers.d1.logs.job-123", dispLogsAll: "team-a2.dispatchers.d1.logs.*",
				dlq: "team-a2.jobs.dlq.smoke", dlqAll: "team-a2.jobs.dlq.>",
				jobs: "TEAM-A2_JOBS", events: "TEAM-A2_EVENTS", dlqStream: "TEAM-A2_DLQ", state: "TEAM-A2_STATE", uploads: "TEAM-A2_UPLOADS",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := tt.names(t)
			got := want{
				prefix: n.Prefix(), submit: n.SubmitSubject("smoke"), submitAll: n.SubmitWildcard(),
				event: n.EventSubject("job-123", messages.EventProgress), jobEvents: n.JobEvents("job-123"),
				ofType: n.EventsOfType(messages.EventFailed), eventsAll: n.EventsWildcard(),
				cancel: n.CancelSubject("job-123"), cancelAll: n.CancelWildcard(),
				logs: n.LogsSubject("job-123"), logsAll: n.LogsWildcard(),
				dispLogs: n.DispatcherLogsSubject("d1", "job-123"), dispLogsAll: n.DispatcherLogsWildcard("d1"),
				dlq: n.DLQSubject("smoke"), dlqAll: n.DLQWildcard(),
				jobs: n.JobsStream(), events: n.EventsStream(), dlqStream: n.DLQStream(), state: n.StateBucket(), uploads: n.UploadsBucket(),
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if c := n.DispatcherConsumer(); c != "dispatcher" {
				t.Errorf("DispatcherConsumer() = %q", c)
			}
		})
	}
}

func mustNames(t *testing.T, prefix string) messages.Names {
	t.Helper()
	n, err := messages.NewNames(prefix)
	if err != nil {
		t.Fatalf("NewNames(%q): %v", prefix, err)
	}
	return n
}

// Two installations with different prefixes never share a stream or bucket.
func TestNamesDistinctPrefixesDistinctStreams(t *testing.T) {
	prefixes := []string{"jetrun", "dev", "a-b", "a_b", "ab", "a-b-", "a_b_"}
	seen := map[string]string{}
	for _, p := range prefixes {
		n := mustNames(t, p)
		for _, s := range []string{n.JobsStream(), n.EventsStream(), n.DLQStream(), n.StateBucket(), n.UploadsBucket()} {
			if other, ok := seen[s]; ok {
				t.Errorf("prefixes %q and %q share %s", other, p, s)
			}
			seen[s] = p
		}
	}
}

func TestNewNamesInvalid(t *testing.T) {
	for _, p := range []string{"Dev", "DEV", "1dev", "-dev", "_dev", "dev.x", "dev*", "dev>", "de v", " dev", "dev\n",
		"dév", "a" + strings.Repeat("b", 32)} {
		t.Run(p, func(t *testing.T) {
			_, err := messages.NewNames(p)
			if !errors.Is(err, messages.ErrInvalid) {
				t.Fatalf("NewNames(%q) = %v, want ErrInvalid", p, err)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("prefix %q", p)) {
				t.Errorf("error %q does not name %q", err, p)
			}
		})
	}
	for _, p := range []string{"a", "dev", "a-b", "a_b", "x1", "a" + strings.Repeat("b", 31)} {
		t.Run("valid "+p, func(t *testing.T) {
			if n := mustNames(t, p); n.Prefix() != p {
				t.Errorf("Prefix() = %q", n.Prefix())
			}
		})
	}
}

func TestKindFromSubject(t *testing.T) {
	def := messages.DefaultNames()
	dev := mustNames(t, "dev")
	for _, tt := range []struct {
		name    string
		n       messages.Names
		subject string
		want    string
	}{
		{"default", def, "jetrun.jobs.submit.smoke", "smoke"},
		{"round trip", def, def.SubmitSubject("upload_repo"), "upload_repo"},
		{"custom prefix", dev, "dev.jobs.submit.smoke", "smoke"},
		{"other prefix", def, "dev.jobs.submit.smoke", ""},
		{"prefix of prefix", dev, "devx.jobs.submit.smoke", ""},
		{"events subject", def, "jetrun.jobs.events.j1.accepted", ""},
		{"dlq subject", def, "jetrun.jobs.dlq.smoke", ""},
		{"no kind", def, "jetrun.jobs.submit.", ""},
		{"empty", def, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.n.KindFromSubject(tt.subject); got != tt.want {
				t.Errorf("KindFromSubject(%q) = %q, want %q", tt.subject, got, tt.want)
			}
		})
	}
}

func TestJobIDFromSubject(t *testing.T) {
	def := messages.DefaultNames()
	dev := mustNames(t, "dev")
	for _, tt := range []struct {
		name    string
		n       messages.Names
		subject string
		want    string
	}{
		{"event", def, "jetrun.jobs.events.job-123.progress", "job-123"},
		{"job events wildcard", def, def.JobEvents("job-123"), "job-123"},
		{"cancel", def, "jetrun.jobs.cancel.job-123", "job-123"},
		{"logs", def, "jetrun.jobs.logs.job-123", "job-123"},
		{"dispatcher logs", def, "jetrun.dispatchers.d1.logs.job-123", "job-123"},
		{"custom prefix event", dev, "dev.jobs.events.j9.succeeded", "j9"},
		{"custom prefix dispatcher logs", dev, dev.DispatcherLogsSubject("d-2", "j9"), "j9"},
		{"other prefix", def, "dev.jobs.cancel.job-123", ""},
		{"prefix of prefix", dev, "devx.jobs.cancel.job-123", ""},
		{"submit subject", def, "jetrun.jobs.submit.smoke", ""},
		{"dlq subject", def, "jetrun.jobs.dlq.smoke", ""},
		{"empty", def, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.n.JobIDFromSubject(tt.subject); got != tt.want {
				t.Errorf("JobIDFromSubject(%q) = %q, want %q", tt.subject, got, tt.want)
			}
		})
	}
	// Every event type round-trips.
	for _, et := range messages.EventTypes {
		if got := def.JobIDFromSubject(def.EventSubject("01JD3XKQ", et)); got != "01JD3XKQ" {
			t.Errorf("JobIDFromSubject(EventSubject(%s)) = %q", et, got)
		}
	}
}

func TestEventType(t *testing.T) {
	terminal := map[messages.EventType]bool{
		messages.EventRejected: true, messages.EventSucceeded: true, messages.EventCancelled: true, messages.EventDead: true,
	}
	if len(messages.EventTypes) != 10 {
		t.Errorf("EventTypes has %d entries, want 10", len(messages.EventTypes))
	}
	for _, et := range messages.EventTypes {
		t.Run(string(et), func(t *testing.T) {
			if !et.Valid() {
				t.Errorf("%s.Valid() = false", et)
			}
			if et.Terminal() != terminal[et] {
				t.Errorf("%s.Terminal() = %v, want %v", et, et.Terminal(), terminal[et])
			}
		})
	}
	for _, et := range []messages.EventType{"", "unknown", "Failed", "queued", "failed "} {
		t.Run("invalid "+string(et), func(t *testing.T) {
			if et.Valid() || et.Terminal() {
				t.Errorf("%q: Valid()=%v Terminal()=%v", et, et.Valid(), et.Terminal())
			}
		})
	}
}

func TestState(t *testing.T) {
	terminal := map[messages.State]bool{
		messages.StateSucceeded: true, messages.StateCancelled: true, messages.StateDead: true, messages.StateRejected: true,
	}
	if len(messages.States) != 8 {
		t.Errorf("States has %d entries, want 8", len(messages.States))
	}
	for _, s := range messages.States {
		t.Run(string(s), func(t *testing.T) {
			if !s.Valid() {
				t.Errorf("%s.Valid() = false", s)
			}
			if s.Terminal() != terminal[s] {
				t.Errorf("%s.Terminal() = %v, want %v", s, s.Terminal(), terminal[s])
			}
		})
	}
	for _, s := range []messages.State{"", "failed", "Running", "progress"} {
		t.Run("invalid "+string(s), func(t *testing.T) {
			if s.Valid() || s.Terminal() {
				t.Errorf("%q: Valid()=%v Terminal()=%v", s, s.Valid(), s.Terminal())
			}
		})
	}
	// A terminal event type leaves the job in the terminal state of the same name.
	for _, et := range messages.EventTypes {
		if et.Terminal() && !messages.State(et).Terminal() {
			t.Errorf("terminal event %s has no terminal state", et)
		}
	}
}

func TestEventMsgID(t *testing.T) {
	for _, tt := range []struct {
		name string
		e    messages.Event
		want string
	}{
		{"lifecycle", messages.Event{JobID: "job-1", Seq: 7}, "job-1:7"},
		{"progress", messages.Event{JobID: "job-1", Seq: 7, Sub: 3}, "job-1:7.3"},
		{"first", messages.Event{JobID: "01JD", Seq: 1}, "01JD:1"},
		{"large", messages.Event{JobID: "j", Seq: 1 << 40, Sub: 1 << 33}, "j:1099511627776.8589934592"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.MsgID(); got != tt.want {
				t.Errorf("MsgID() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeEvent(t *testing.T) {
	good := `{"v":1,"job_id":"job-1","seq":2,"type":"started","state":"starting","time":"2026-11-02T10:00:00Z","attempt":1}`
	e, err := messages.DecodeEvent([]byte(good))
	if err != nil {
		t.Fatalf("DecodeEvent(good): %v", err)
	}
	if e.JobID != "job-1" || e.Seq != 2 || e.Type != messages.EventStarted || e.State != messages.StateStarting || e.Attempt != 1 {
		t.Errorf("decoded %+v", e)
	}
	if _, err := messages.DecodeEvent([]byte(`{"v":1,"job_id":"j","type":"accepted","state":"queued","extra":{"a":[1]}}`)); err != nil {
		t.Errorf("unknown field not ignored: %v", err)
	}

	for _, tt := range []struct {
		name string
		data string
		want error
		msg  string
	}{
		{"empty", ``, messages.ErrInvalid, "not a JSON event"},
		{"not JSON", `job failed`, messages.ErrInvalid, "not a JSON event"},
		{"array", `[]`, messages.ErrInvalid, "not a JSON event"},
		{"missing v", `{"job_id":"j","type":"accepted"}`, messages.ErrUnsupportedVersion, "v=0"},
		{"unknown v", `{"v":2,"job_id":"j","type":"accepted"}`, messages.ErrUnsupportedVersion, "v=2"},
		{"missing job_id", `{"v":1,"type":"accepted"}`, messages.ErrInvalid, `job_id ""`},
		{"bad job_id", `{"v":1,"job_id":"a.b","type":"accepted"}`, messages.ErrInvalid, `job_id "a.b"`},
		{"missing type", `{"v":1,"job_id":"j"}`, messages.ErrInvalid, `type ""`},
		{"unknown type", `{"v":1,"job_id":"j","type":"exploded"}`, messages.ErrInvalid, `type "exploded"`},
		{"seq string", `{"v":1,"job_id":"j","seq":"7","type":"accepted"}`, messages.ErrInvalid, `field "seq" has the wrong type`},
		{"seq negative", `{"v":1,"job_id":"j","seq":-1,"type":"accepted"}`, messages.ErrInvalid, `field "seq"`},
		{"bad time", `{"v":1,"job_id":"j","type":"accepted","time":"now"}`, messages.ErrInvalid, "not a JSON event"},
		{"progress not object", `{"v":1,"job_id":"j","type":"progress","progress":5}`, messages.ErrInvalid, `field "progress"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := messages.DecodeEvent([]byte(tt.data))
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeEvent(%s) = %v, want %v", tt.data, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

func TestDecodeRecord(t *testing.T) {
	r, err := messages.DecodeRecord([]byte(`{"v":1,"job_id":"j","kind":"smoke","state":"queued","attempt":0,"max_retries":3,"msg_seq":9,"seq":1,"future":true}`))
	if err != nil {
		t.Fatalf("DecodeRecord: %v", err)
	}
	if r.JobID != "j" || r.State != messages.StateQueued || r.MaxRetries != 3 || r.MsgSeq != 9 || r.Seq != 1 {
		t.Errorf("decoded %+v", r)
	}
	for _, tt := range []struct {
		name string
		data string
		want error
		msg  string
	}{
		{"empty", ``, messages.ErrInvalid, "not a JSON job record"},
		{"not JSON", `{"v":1`, messages.ErrInvalid, "not a JSON job record"},
		{"missing v", `{"job_id":"j"}`, messages.ErrUnsupportedVersion, "v=0"},
		{"unknown v", `{"v":3,"job_id":"j"}`, messages.ErrUnsupportedVersion, "v=3"},
		{"attempt string", `{"v":1,"job_id":"j","attempt":"1"}`, messages.ErrInvalid, `field "attempt" has the wrong type`},
		{"handle string", `{"v":1,"job_id":"j","handle":"x"}`, messages.ErrInvalid, `field "handle"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := messages.DecodeRecord([]byte(tt.data))
			if !errors.Is(err, tt.want) {
				t.Fatalf("DecodeRecord(%s) = %v, want %v", tt.data, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
		})
	}
}

// Optional fields are left out of the encoding, so a producer that never
// heard of them reads the same bytes.
func TestEventOmitsEmptyOptionalFields(t *testing.T) {
	b, err := json.Marshal(messages.Event{V: 1, JobID: "j", Seq: 1, Type: messages.EventAccepted, State: messages.StateQueued})
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"v":1,"job_id":"j","seq":1,"type":"accepted","state":"queued","time":"0001-01-01T00:00:00Z"}`
	if !bytes.Equal(b, []byte(want)) {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	b, err = json.Marshal(messages.Submission{V: 1, Kind: "smoke", Params: raw(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"v":1,"kind":"smoke","params":{}}`; string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}
