package jobs_test

import (
	"encoding/json"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
)

func TestRegistry(t *testing.T) {
	if _, err := jobs.NewRegistry(jobs.Smoke{}, jobs.Smoke{}); err == nil {
		t.Fatal("a duplicate kind was accepted")
	}
	r := jobs.Builtin()
	if !slices.Equal(r.Names(), []string{"collection", "smoke", "upload_file", "upload_repo"}) {
		t.Fatalf("builtin kinds = %v", r.Names())
	}
	if _, err := r.Lookup("frobnicate"); !errors.Is(err, jobs.ErrUnknownKind) || !strings.Contains(err.Error(), "smoke") {
		t.Fatalf("Lookup(unknown) = %v: want ErrUnknownKind listing the known kinds", err)
	}
}

func TestPrepareResources(t *testing.T) {
	r := jobs.Builtin()
	sub := func(res messages.Resources) *messages.Submission {
		return &messages.Submission{V: 1, Kind: "smoke", Params: json.RawMessage(`{}`), Resources: res}
	}
	for _, tc := range []struct {
		name string
		res  messages.Resources
		opts jobs.Options
		want runtimes.Resources
	}{
		{"kind defaults", messages.Resources{}, jobs.Options{}, runtimes.Resources{CPUMilli: 100, MemoryBytes: 64 << 20, Timeout: 5 * time.Minute}},
		{"JOB_TIMEOUT replaces the kind's", messages.Resources{}, jobs.Options{Timeout: time.Hour}, runtimes.Resources{CPUMilli: 100, MemoryBytes: 64 << 20, Timeout: time.Hour}},
		{"the job's own win", messages.Resources{CPU: "2", Memory: "4Gi", Timeout: "90s"}, jobs.Options{Timeout: time.Hour},
			runtimes.Resources{CPUMilli: 2000, MemoryBytes: 4 << 30, Timeout: 90 * time.Second}},
		{"partial override", messages.Resources{CPU: "250m"}, jobs.Options{}, runtimes.Resources{CPUMilli: 250, MemoryBytes: 64 << 20, Timeout: 5 * time.Minute}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := r.Prepare(sub(tc.res), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if p.Resources != tc.want {
				t.Fatalf("resources = %v, want %v", p.Resources, tc.want)
			}
		})
	}
}

func TestSmokeParams(t *testing.T) {
	r := jobs.Builtin()
	for _, tc := range []struct {
		params string
		want   []string // command, or nil for an error
		errHas string
	}{
		{`{}`, []string{"smoke"}, ""},
		{`{"sleep":"2s","message":"hi","progress":3,"exit_code":4,"fail_attempts":1,"ignore_sigterm":true,"output_lines":2}`,
			[]string{"smoke", "--sleep=2s", "--message=hi", "--progress=3", "--exit-code=4", "--fail-attempts=1", "--ignore-sigterm", "--output-lines=2"}, ""},
		{`{"sleep":"forever"}`, nil, "sleep"},
		{`{"exit_code":256}`, nil, "exit_code 256"},
		{`{"progress":-1}`, nil, "progress"},
		{`{"slep":"1s"}`, nil, "unknown field"},
		{`{"message":` + strings.Repeat(`"x`, 1) + strings.Repeat("x", 5000) + `"}`, nil, "message"},
	} {
		p, err := r.Prepare(&messages.Submission{V: 1, Kind: "smoke", Params: json.RawMessage(tc.params)}, jobs.Options{})
		if tc.want == nil {
			if !errors.Is(err, jobs.ErrInvalidParams) || !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("params %.60s: err = %v, want ErrInvalidParams mentioning %q", tc.params, err, tc.errHas)
			}
			continue
		}
		if err != nil || !slices.Equal(p.Command, tc.want) {
			t.Errorf("params %s: command = %v, %v; want %v", tc.params, p.Command, err, tc.want)
		}
	}
}

// The worker parses what Args renders: the two must agree on every field.
func TestSmokeArgsParseBack(t *testing.T) {
	want := jobs.SmokeParams{Sleep: "2s", Message: "hi there", Progress: 3, ExitCode: 4, FailAttempts: 1, IgnoreSigterm: true, OutputLines: 2}
	var got jobs.SmokeParams
	fs := flag.NewFlagSet("smoke", flag.ContinueOnError)
	got.RegisterFlags(fs)
	if err := fs.Parse(want.Args()[1:]); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("parsed %+v, want %+v", got, want)
	}
}

// A credential reaches a job only for a URL on its host list, and a
// credential without a list is refused: the operator must say.
func TestCredentialMayReach(t *testing.T) {
	env := map[string]string{
		"JETRUN_CREDENTIAL_GH_HOSTS":  "github.com, *.githubusercontent.com",
		"JETRUN_CREDENTIAL_ANY_HOSTS": "*",
	}
	getenv := func(k string) string { return env[k] }
	for _, tc := range []struct {
		name, url string
		ok        bool
	}{
		{"gh", "https://github.com/x/y.git", true},
		{"gh", "https://GitHub.com:443/x", true},
		{"gh", "https://raw.githubusercontent.com/x", true},
		{"gh", "https://attacker.example/x.git", false},
		{"gh", "https://github.com.attacker.example/x", false},
		{"gh", "https://evilgithubusercontent.com/x", false},
		{"gh", "file:///etc/passwd", false},
		{"gh", "/srv/repo", false},
		{"unbound", "https://github.com/x", false},
		{"any", "https://anywhere.example/x", true},
	} {
		err := jobs.CredentialMayReach(getenv, tc.name, tc.url)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, jobs.ErrCredentialDenied)) {
			t.Errorf("jobs.CredentialMayReach(%q, %q) = %v, want ok=%v", tc.name, tc.url, err, tc.ok)
		}
	}
	if err := jobs.CredentialMayReach(getenv, "unbound", "https://github.com/x"); err == nil || !strings.Contains(err.Error(), "JETRUN_CREDENTIAL_UNBOUND_HOSTS") {
		t.Errorf("an unbound credential's refusal does not say what to set: %v", err)
	}
	// Prepare applies the grant: a job naming a credential for the wrong
	// host is refused before any secret is resolved.
	reg := jobs.Builtin()
	sub := messages.Submission{V: 1, Kind: "upload_repo", Params: json.RawMessage(`{"repo_url":"https://attacker.example/x.git","collection":"c","credential":"gh"}`)}
	_, err := reg.Prepare(&sub, jobs.Options{Grant: func(r jobs.SecretRef) error { return jobs.CredentialMayReach(getenv, r.Credential, r.URL) }})
	if !errors.Is(err, jobs.ErrInvalidParams) || !errors.Is(err, jobs.ErrCredentialDenied) {
		t.Errorf("Prepare with a credential for the wrong host = %v", err)
	}
}
