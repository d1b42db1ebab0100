package source

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"no url here", "no url here"},
		{"https://github.com/x/y", "https://github.com/x/y"},
		{"https://user:tok@github.com/x", "https://github.com/x"},
		{"https://tok@github.com", "https://github.com"},
		{`clone "https://u:p@h.example/r.git": failed`, `clone "https://h.example/r.git": failed`},
		{"a https://u:p@h1/x and http://v:q@h2:8080/y?z#f end", "a https://h1/x and http://h2:8080/y? end"},
		{`Get "https://bucket.s3.amazonaws.com/a.tgz?X-Amz-Signature=abc123&X-Amz-Credential=AKID": dial tcp`, `Get "https://bucket.s3.amazonaws.com/a.tgz?": dial tcp`},
		{"https://h/x?token=t1 then https://u:p@h2/y?k=v#f", "https://h/x? then https://h2/y?"},
		{"https://h/x#frag-only", "https://h/x#frag-only"},
		{"what? no url", "what? no url"},
		{"https://u:pa/ss@host/x", "https://host/x"},
		{"https://u:p@ss@host/x", "https://host/x"},
		{"https://host:8080/x@y", "https://host:8080/x@y"},
		{"https://registry.npmjs.org/@scope/pkg", "https://registry.npmjs.org/@scope/pkg"},
		{"https://[::1]:80/a@b", "https://[::1]:80/a@b"},
		{"mail me@example.com", "mail me@example.com"},
		{"https://u:p@", "https://"},
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

func FuzzRedact(f *testing.F) {
	f.Add("https://user:secret@github.com/x")
	f.Add("x https://a:b@c/d https://e@f")
	f.Add(`Get "https://h/p?sig=1": x https://h2?q`)
	f.Fuzz(func(t *testing.T, s string) {
		out := Redact(s)
		if len(out) > len(s) {
			t.Fatalf("Redact grew %q to %q", s, out)
		}
		// Whatever url.Parse takes for userinfo in a scheme://... word
		// is gone.
		for _, field := range strings.Fields(out) {
			u, err := url.Parse(field)
			if err != nil || u.Scheme == "" || !strings.HasPrefix(field, u.Scheme+"://") {
				continue
			}
			if u.User != nil {
				if _, hasPassword := u.User.Password(); u.User.Username() != "" || hasPassword {
					t.Fatalf("Redact(%q) = %q still has userinfo %q", s, out, u.User)
				}
			}
			if u.RawQuery != "" && !strings.ContainsAny(field, "\"'<>`") {
				t.Fatalf("Redact(%q) = %q still has the query %q", s, out, u.RawQuery)
			}
		}
	})
}
