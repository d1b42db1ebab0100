package hostmatch

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		entries []string
		ok      bool
	}{
		{"empty", nil, true},
		{"blank entries skipped", []string{"", "  ", "github.com"}, true},
		{"name", []string{"github.com"}, true},
		{"upper case and dot", []string{" GitHub.COM. "}, true},
		{"wildcard", []string{"*.example.com"}, true},
		{"ipv4", []string{"10.1.2.3"}, true},
		{"ipv6", []string{"::1"}, true},
		{"ipv6 in brackets", []string{"[2001:db8::1]"}, true},
		{"underscore", []string{"_acme.example.com"}, true},
		{"star alone", []string{"*"}, false},
		{"star dot", []string{"*."}, false},
		{"star inside", []string{"a.*.example.com"}, false},
		{"star without dot", []string{"*example.com"}, false},
		{"double star", []string{"*.*.example.com"}, false},
		{"wildcard over ip", []string{"*.0.0.1"}, false},
		{"port", []string{"github.com:443"}, false},
		{"ipv6 with port", []string{"[::1]:443"}, false},
		{"bracketed ipv4", []string{"[10.1.2.3]"}, false},
		{"zone", []string{"fe80::1%eth0"}, false},
		{"path", []string{"github.com/x"}, false},
		{"scheme", []string{"https://github.com"}, false},
		{"empty label", []string{"a..b"}, false},
		{"two trailing dots", []string{"example.com.."}, false},
		{"leading dot", []string{".example.com"}, false},
		{"space inside", []string{"git hub.com"}, false},
		{"userinfo", []string{"u@github.com"}, false},
		{"non-ascii", []string{"gïthub.com"}, false},
		{"label too long", []string{strings.Repeat("a", 64) + ".com"}, false},
		{"one bad fails all", []string{"github.com", "github.com:443"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.entries)
			if (err == nil) != tt.ok {
				t.Fatalf("Parse(%q) error %v, want ok=%v", tt.entries, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
		})
	}
}

func TestParseStringNamesTheEntry(t *testing.T) {
	_, err := ParseString("github.com, gitlab.com:443 ,*.example.com,")
	if err == nil || !strings.Contains(err.Error(), `"gitlab.com:443"`) {
		t.Fatalf("error %v does not name the bad entry", err)
	}
}

func TestMatch(t *testing.T) {
	l, err := ParseString("github.com, *.example.com, 10.1.2.3, [2001:DB8::1], ::ffff:192.0.2.1, GitLab.COM.")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want bool
	}{
		{"github.com", true},
		{"GitHub.COM", true},
		{"github.com.", true},
		{"github.com:443", true},
		{"github.com.:443", true},
		{"gitlab.com", true},
		{"api.github.com", false},
		{"evilgithub.com", false},
		{"github.com.evil.net", false},
		{"github.com..", false},
		{"git.example.com", true},
		{"a.b.example.com", true},
		{"A.Example.Com.", true},
		{"git.example.com:8443", true},
		{"example.com", false},
		{"example.com.", false},
		{".example.com", false},
		{"badexample.com", false},
		{"example.com.evil.net", false},
		{"a..example.com", false},
		{"10.1.2.3", true},
		{"10.1.2.3.", true},
		{"10.1.2.3:443", true},
		{"10.1.2.4", false},
		{"2001:db8::1", true},
		{"[2001:db8::1]", true},
		{"[2001:db8:0::1]:443", true},
		{"2001:db8::2", false},
		{"[2001:db8::1", false},
		{"[2001:db8::1]x", false},
		{"[10.1.2.3]", false},
		{"2001:db8::1%eth0", false},
		{"::ffff:192.0.2.1", true},
		{"192.0.2.1", false},
		{"github.com:x", false},
		{"github.com:443:1", false},
		{"", false},
		{":443", false},
		{"\u212aube.example.com", false}, // Kelvin sign: folds to 'k'
		{"gïthub.com", false},
		{"git hub.com", false},
		{"evil/.example.com", false},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if got := l.Match(tt.host); got != tt.want {
				t.Errorf("Match(%q) = %v, want %v", tt.host, got, tt.want)
			}
		})
	}
}

func TestMatchWildcardNeverMatchesAddresses(t *testing.T) {
	l, err := Parse([]string{"*.com", "*.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "0177.0.0.1", "127.1", "0x7f.1", "1.example.com.2", "[::1]"} {
		if l.Match(host) {
			t.Errorf("Match(%q) = true", host)
		}
	}
}

func TestZeroListMatchesNothing(t *testing.T) {
	var l List
	for _, host := range []string{"", "github.com", "127.0.0.1"} {
		if l.Match(host) {
			t.Errorf("zero List matches %q", host)
		}
	}
}

func FuzzMatch(f *testing.F) {
	for _, s := range []string{"a.example.com", "example.com", "evilexample.com", "example.com.evil.net",
		"EXAMPLE.com.", "[::1]:80", "10.1.2.3", "x.example.com:443", "\u212a.example.com", ".example.com"} {
		f.Add(s, "example.com")
	}
	f.Add("net.evil.net", "net")
	f.Add("a.B.c", "b.C.")
	l, err := Parse([]string{"*.example.com", "github.com", "10.1.2.3"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host, suffix string) {
		// "*.suffix" matches neither suffix itself nor a name that only
		// shares its last characters or puts it in front.
		if w, err := Parse([]string{"*." + suffix}); err == nil {
			s := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(suffix), "."))
			for _, h := range []string{s, s + ".", "evil" + s, s + ".evil.net", s + ".evil.net:443", "[" + s + "]"} {
				if w.Match(h) && !strings.HasSuffix(strings.TrimSuffix(strings.ToLower(h), ":443"), "."+s) {
					t.Fatalf("*.%s matches %q", suffix, h)
				}
			}
		}
		if !l.Match(host) {
			return
		}
		// Whatever matches is github.com, 10.1.2.3 or a subdomain of
		// example.com, in ASCII, with at most a port and a trailing dot.
		h := host
		if i := strings.LastIndexByte(h, ':'); i >= 0 {
			h = h[:i]
		}
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		for i := 0; i < len(h); i++ {
			if h[i] >= 0x80 {
				t.Fatalf("Match(%q): non-ASCII host matched", host)
			}
		}
		switch {
		case h == "github.com", h == "10.1.2.3":
		case strings.HasSuffix(h, ".example.com") && len(h) > len(".example.com") && !strings.HasPrefix(h, ".") && !strings.Contains(h, ".."):
		default:
			t.Fatalf("Match(%q) = true", host)
		}
		if strings.HasSuffix(h, "evilexample.com") || strings.Contains(h, "example.com.") {
			t.Fatalf("Match(%q) = true", host)
		}
	})
}
