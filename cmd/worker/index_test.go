package main

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jetrun/jetrun/pkg/embed"
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/pipeline/source"
	"github.com/jetrun/jetrun/pkg/qdrantstore"
)

func TestPermanentFailures(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("clone: %w", source.ErrPolicy), true},
		{fmt.Errorf("open: %w", source.ErrUnsafeArchive), true},
		{fmt.Errorf("x: %w", qdrantstore.ErrSchemaMismatch), true},
		{fmt.Errorf("info: %w", qdrantstore.ErrNotFound), true},
		{fmt.Errorf("embed: %w", &embed.StatusError{Status: 401}), true},
		{fmt.Errorf("embed: %w", &embed.StatusError{Status: 429}), false},
		{fmt.Errorf("embed: %w", &embed.StatusError{Status: 503}), false},
		{fmt.Errorf("fetch: %w", &source.HTTPError{StatusCode: 404}), true},
		{fmt.Errorf("fetch: %w", &source.HTTPError{StatusCode: 502}), false},
		{errors.New("connection reset by peer"), false},
		{fmt.Errorf("%w: x", jobs.ErrInvalidParams), true},
	} {
		if got := permanent(tc.err); got != tc.want {
			t.Errorf("permanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// A credential is used only when the job names it, for a host on its list;
// an unbound credential is refused (the operator must say), and a job that
// names none gets none even when the worker's environment holds a token.
func TestCredentialHostBinding(t *testing.T) {
	env := map[string]string{
		jobs.CredentialHostsEnv("gh-token"): "github.com, *.corp.example",
		jobs.CredentialHostsEnv("typo"):     "github.com, gitlab.com:443", // a port: refused
		jobs.EnvGitToken:                    "planted-token",
	}
	w := &worker{getenv: func(k string) string { return env[k] }}
	for _, tc := range []struct {
		name, url string
		ok        bool
	}{
		{"gh-token", "https://github.com/org/repo", true},
		{"gh-token", "https://git.corp.example/x", true},
		{"gh-token", "https://evil.example/collect", false},
		{"gh-token", "https://github.com.evil.example/x", false},
		{"gh-token", "https://GitHub.COM./x", true},
		{"gh-token", "https://corp.example/x", false}, // *.suffix: subdomains only
		{"gh-token", "https://\u212aube.corp.example/x", false},
		{"typo", "https://github.com/x", false},
		{"unbound", "https://anywhere.example/", false}, // no binding configured: refused
	} {
		tok, err := w.credential(tc.name, jobs.EnvGitToken, tc.url)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, source.ErrPolicy)) || (err == nil) != (tok == "planted-token") {
			t.Errorf("credential(%q, %q) = %q, %v", tc.name, tc.url, tok, err)
		}
	}
	if tok, err := w.credential("", jobs.EnvGitToken, "https://attacker.example/x.git"); tok != "" || err != nil {
		t.Errorf("a job naming no credential got %q, %v", tok, err)
	}
}

func TestSourceURLDropsSecrets(t *testing.T) {
	got := sourceURL("https://user:pw@files.example/a/src.zip?X-Amz-Signature=abc#frag")
	if got != "https://files.example/a/src.zip" {
		t.Fatalf("sourceURL = %q", got)
	}
}
