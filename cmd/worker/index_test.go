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

func TestCredentialHostBinding(t *testing.T) {
	env := map[string]string{jobs.CredentialHostsEnv("gh-token"): "github.com, *.corp.example"}
	w := &worker{getenv: func(k string) string { return env[k] }}
	for _, tc := range []struct {
		name, url string
		ok        bool
	}{
		{"gh-token", "https://github.com/org/repo", true},
		{"gh-token", "https://git.corp.example/x", true},
		{"gh-token", "https://evil.example/collect", false},
		{"gh-token", "https://github.com.evil.example/x", false},
		{"unbound", "https://anywhere.example/", true}, // no binding configured
		{"", "https://anywhere.example/", true},
	} {
		err := w.credentialMayReach(tc.name, tc.url)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, source.ErrPolicy)) {
			t.Errorf("credentialMayReach(%q, %q) = %v", tc.name, tc.url, err)
		}
	}
}

func TestSourceURLDropsSecrets(t *testing.T) {
	got := sourceURL("https://user:pw@files.example/a/src.zip?X-Amz-Signature=abc#frag")
	if got != "https://files.example/a/src.zip" {
		t.Fatalf("sourceURL = %q", got)
	}
}
