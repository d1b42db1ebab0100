package redact

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"plain", "https://github.com/x/y", "https://github.com/x/y"},
		{"user and password", "https://user:tok@github.com/x", "https://github.com/x"},
		{"token as user", "https://ghp_abc@github.com", "https://github.com"},
		{"presigned query", "https://bucket.s3.amazonaws.com/a.tgz?X-Amz-Signature=abc&X-Amz-Credential=AKID", "https://bucket.s3.amazonaws.com/a.tgz?"},
		{"empty query kept", "https://h/x?", "https://h/x?"},
		{"fragment", "https://h/x#access_token=t", "https://h/x"},
		{"everything", "http://v:q@h2:8080/y?z=1#f", "http://h2:8080/y?"},
		{"port and ipv6", "https://u:p@[::1]:8443/a@b?k=v", "https://[::1]:8443/a@b?"},
		{"at in path", "https://registry.npmjs.org/@scope/pkg", "https://registry.npmjs.org/@scope/pkg"},
		{"scheme-relative", "//u:p@h/x?k=v", "//h/x?"},
		{"nats with password", "nats://bob:pw@h2:4222", "nats://h2:4222"},
		{"file", "file:///srv/repo", "file:///srv/repo"},
		// No authority: url.Parse does not split userinfo off, the text
		// scrub does.
		{"scheme-less token", "tok@h2:4222", "h2:4222"},
		{"scheme-less password", "bob:pw@h2:4222", "h2:4222"},
		{"scp-like", "git@github.com:x/y.git", "github.com:x/y.git"},
		{"opaque", "mailto:me@example.com?subject=s", "example.com?"},
		// Unparsable: the text scrub.
		{"raw slash in password", "https://u:pa/ss@host/x", "https://host/x"},
		{"at in password", "https://u:p@ss@host/x?k=v", "https://host/x?"},
		{"bad escape", "https://u:p@h/%zz?k=v", "https://h/%zz?"},
		{"control character", "https://u:p@h/x\n?k=v", "https://h/x\n?"},
		{"space in host", "https://u:p@h x/y#f", "https://h x/y"},
		{"not a URL", "no url here", "no url here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := URL(tt.in); got != tt.want {
				t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParsedURL(t *testing.T) {
	if got := ParsedURL(nil); got != "" {
		t.Errorf("ParsedURL(nil) = %q", got)
	}
	u, err := url.Parse("https://user:secret@github.com/x?X-Amz-Signature=s1#f")
	if err != nil {
		t.Fatal(err)
	}
	if got := ParsedURL(u); got != "https://github.com/x?" {
		t.Errorf("ParsedURL = %q", got)
	}
	if u.User == nil || u.RawQuery == "" || u.Fragment == "" {
		t.Error("ParsedURL modified its argument")
	}
	o, err := url.Parse("mailto:tok@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got := ParsedURL(o); got != "mailto:example.com" {
		t.Errorf("ParsedURL(opaque) = %q", got)
	}
}

func TestString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"no url", "no url here", "no url here"},
		{"plain url", "https://github.com/x/y", "https://github.com/x/y"},
		{"user and password", "https://user:tok@github.com/x", "https://github.com/x"},
		{"token as user", "https://tok@github.com", "https://github.com"},
		{"quoted", `clone "https://u:p@h.example/r.git": failed`, `clone "https://h.example/r.git": failed`},
		{"two urls", "a https://u:p@h1/x and http://v:q@h2:8080/y?z#f end", "a https://h1/x and http://h2:8080/y? end"},
		{"presigned", `Get "https://bucket.s3.amazonaws.com/a.tgz?X-Amz-Signature=abc123&X-Amz-Credential=AKID": dial tcp`, `Get "https://bucket.s3.amazonaws.com/a.tgz?": dial tcp`},
		{"query then userinfo", "https://h/x?token=t1 then https://u:p@h2/y?k=v#f", "https://h/x? then https://h2/y?"},
		{"fragment", "https://h/x#access_token=t1 end", "https://h/x end"},
		{"fragment before query", "https://h/x#f?k=v", "https://h/x"},
		{"question mark in text", "what? no url", "what? no url"},
		{"hash in text", "issue #42", "issue #42"},
		{"raw slash in password", "https://u:pa/ss@host/x", "https://host/x"},
		{"raw question mark in password", "https://u:pa?ss@host/x", "https://host/x"},
		{"at in password", "https://u:p@ss@host/x", "https://host/x"},
		{"at in path after port", "https://host:8080/x@y", "https://host:8080/x@y"},
		{"npm scope", "https://registry.npmjs.org/@scope/pkg", "https://registry.npmjs.org/@scope/pkg"},
		{"ipv6 at in path", "https://[::1]:80/a@b", "https://[::1]:80/a@b"},
		{"email", "mail me@example.com", "mail me@example.com"},
		{"scp-like", "git@github.com:x/y.git", "git@github.com:x/y.git"},
		{"nothing after userinfo", "https://u:p@", "https://"},
		{"scheme-less password", "dial bob:pw@h2:4222: refused", "dial h2:4222: refused"},
		{"scheme-less password and query", "bob:pw@h2:4222?k=v", "h2:4222?"},
		{"nested url in query", "https://h/login?next=https://u:p@evil/x", "https://h/login?"},
		{"nested url in path", "https://h/r/https://u:p@evil/x", "https://h/r/https://evil/x"},
		{"angle brackets", "<https://u:p@h/x?k=v>", "<https://h/x?>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHasUserinfo(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"https://github.com/x", false},
		{"https://github.com/x?token=t", false},
		{"https://u:p@github.com/x", true},
		{"https://tok@github.com/x", true},
		{"https://u:pa/ss@github.com/x", true},
		{"bob:pw@h2:4222", true},
		{"git@github.com:x/y.git", false},
		{"https://registry.npmjs.org/@scope/pkg", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := HasUserinfo(tt.in); got != tt.want {
				t.Errorf("HasUserinfo(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestError(t *testing.T) {
	base := errors.New("dial tcp 10.0.0.1:443: connect: connection refused")
	ue := &url.Error{Op: "Post", URL: "https://u:p@hooks.example/services/T0/s3cret?k=v", Err: base}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain", base, base.Error()},
		{"url error", ue, "Post: " + base.Error()},
		{"wrapped url error", fmt.Errorf("send: %w", ue), "send: Post: " + base.Error()},
		{"joined", errors.Join(errors.New("first"), ue), "first\nPost: " + base.Error()},
		{"url in text", errors.New(`fetch "https://h/x?sig=s3cret": 403`), `fetch "https://h/x?": 403`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Error(tt.err); got != tt.want {
				t.Errorf("Error = %q, want %q", got, tt.want)
			}
		})
	}
}

// Planted secrets are spelled with 'Z', which the fuzzed parts may not
// contain, so any 'Z' in the output is a secret that survived.
const (
	plantedPassword = "ZpwZ"
	plantedValue    = "ZqvZ"
	plantedFragment = "ZfrZ"
)

// planted builds a URL around fuzzed parts with a password, a query value
// and a fragment that must not survive.
func planted(user, host, path, key string) string {
	noZ := func(s string) string { return strings.ReplaceAll(s, "Z", "") }
	return "https://" + url.UserPassword(noZ(user), plantedPassword).String() + "@" + noZ(host) + noZ(path) +
		"?" + url.QueryEscape(noZ(key)) + "=" + plantedValue + "#" + plantedFragment
}

func FuzzURL(f *testing.F) {
	f.Add("https://user:secret@github.com/x?sig=1#f", "u", "github.com", "/x", "k")
	f.Add("tok@h2:4222", "", "[::1]:80", "/a@b", "X-Amz-Signature")
	f.Add("https://u:pa/ss@h/x", "u:p", "h@x", "?q", "")
	f.Add("bob:pw@h2:4222", "a b", "h x", "#", "k=v&")
	f.Fuzz(func(t *testing.T, raw, user, host, path, key string) {
		// Whatever URL returns parses, when it does, without userinfo,
		// query or fragment.
		out := URL(raw)
		if u, err := url.Parse(out); err == nil && hasAuthority(out, u.Scheme) {
			if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
				t.Fatalf("URL(%q) = %q still has userinfo, query or fragment", raw, out)
			}
		}
		in := planted(user, host, path, key)
		if out := URL(in); strings.Contains(out, "Z") {
			t.Fatalf("URL(%q) = %q: a planted secret survived", in, out)
		}
	})
}

func FuzzString(f *testing.F) {
	f.Add("https://user:secret@github.com/x", "clone", ": failed", "u", "github.com", "/x", "k", byte(0))
	f.Add("x https://a:b@c/d https://e@f", "Get", "", "", "h:8080", "/@scope", "sig", byte(1))
	f.Add(`Get "https://h/p?sig=1": x https://h2?q`, "a://", "://b", "u", "[::1]", "", "", byte(2))
	f.Fuzz(func(t *testing.T, s, before, after, user, host, path, key string, sep byte) {
		out := String(s)
		if len(out) > len(s) {
			t.Fatalf("String grew %q to %q", s, out)
		}
		// Whatever url.Parse takes for userinfo, query or fragment in a
		// scheme://... word is gone.
		for _, field := range strings.Fields(out) {
			u, err := url.Parse(field)
			if err != nil || u.Scheme == "" || !strings.HasPrefix(field, u.Scheme+"://") || strings.ContainsAny(field, "\"'<>`") {
				continue
			}
			if u.User != nil {
				t.Fatalf("String(%q) = %q still has userinfo %q", s, out, u.User)
			}
			if u.RawQuery != "" || u.Fragment != "" {
				t.Fatalf("String(%q) = %q still has a query or fragment in %q", s, out, field)
			}
		}
		// A planted URL in free text loses its secrets. The URL's own
		// parts cannot hold a delimiter: in text, that ends the URL.
		noDelim := func(s string) string {
			return strings.Map(func(r rune) rune {
				if strings.ContainsRune(delims, r) {
					return -1
				}
				return r
			}, s)
		}
		q := string(" \"'<>`\n"[int(sep)%7])
		text := strings.ReplaceAll(before, "Z", "") + q +
			planted(noDelim(user), noDelim(host), noDelim(path), key) + q + strings.ReplaceAll(after, "Z", "")
		if out := String(text); strings.Contains(out, "Z") {
			t.Fatalf("String(%q) = %q: a planted secret survived", text, out)
		}
	})
}
