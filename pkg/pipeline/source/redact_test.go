package source

import (
	"net/url"
	"testing"
)

// The cases are internal/redact's; these pin only that the wrappers
// delegate.

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"no url here", "no url here"},
		{`clone "https://u:p@h.example/r.git": failed`, `clone "https://h.example/r.git": failed`},
		{`Get "https://bucket.s3.amazonaws.com/a.tgz?X-Amz-Signature=abc123&X-Amz-Credential=AKID": dial tcp`, `Get "https://bucket.s3.amazonaws.com/a.tgz?": dial tcp`},
		{"https://h/x#frag-only", "https://h/x"},
		{"https://u:pa/ss@host/x", "https://host/x"},
		{"mail me@example.com", "mail me@example.com"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	if got := RedactURL(nil); got != "" {
		t.Errorf("RedactURL(nil) = %q", got)
	}
	u, err := url.Parse("https://user:secret@github.com/x?X-Amz-Signature=s1#f")
	if err != nil {
		t.Fatal(err)
	}
	got := RedactURL(u)
	if got != "https://github.com/x?" {
		t.Errorf("RedactURL = %q", got)
	}
	if u.User == nil {
		t.Error("RedactURL modified its argument")
	}
}
