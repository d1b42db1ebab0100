package source

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/hostmatch"
)

func TestPolicyCheckURL(t *testing.T) {
	dev := Policy{AllowHTTP: true, AllowFile: true, AllowPrivate: true}
	hosts := Policy{AllowHosts: []string{"github.com", "*.example.com", "10.1.2.3"}, AllowPrivate: true}
	tests := []struct {
		name   string
		policy Policy
		raw    string
		ok     bool
		want   string // the returned URL, when ok
		secret string // must not appear in the error
	}{
		{name: "https", raw: "https://github.com/x/y.git", ok: true, want: "https://github.com/x/y.git"},
		{name: "https upper-case scheme", raw: "HTTPS://github.com/x", ok: true, want: "https://github.com/x"},
		{name: "https with port", raw: "https://git.example.org:8443/x", ok: true},
		{name: "empty", raw: ""},
		{name: "too long", raw: "https://github.com/" + strings.Repeat("a", MaxURLLength)},
		{name: "ext transport", raw: "ext::sh -c touch% /tmp/pwned"},
		{name: "ext transport no space", raw: "ext::sh"},
		{name: "fd transport", raw: "fd::17"},
		{name: "https remote helper", raw: "https::github.com/x"},
		{name: "ssh", raw: "ssh://git@github.com/x/y.git"},
		{name: "git protocol", raw: "git://github.com/x/y.git"},
		{name: "scp-like", raw: "git@github.com:x/y.git"},
		{name: "scp-like no user", raw: "github.com:x/y.git"},
		{name: "option injection", raw: "--upload-pack=touch /tmp/pwned"},
		{name: "option injection short", raw: "-u"},
		{name: "credentials", raw: "https://user:s3cr3t-t0ken@github.com/x", secret: "s3cr3t-t0ken"},
		{name: "token as user", raw: "https://ghp_abcdef123456@github.com/x", secret: "ghp_abcdef123456"},
		{name: "credentials with raw slash", raw: "https://user:pa/ss@github.com/x", secret: "pa/ss"},
		{name: "file denied", raw: "file:///etc/passwd"},
		{name: "local path denied", raw: "/etc/passwd"},
		{name: "file allowed", policy: dev, raw: "file:///srv/repo/../repo", ok: true, want: "file:///srv/repo"},
		{name: "local path allowed", policy: dev, raw: "/srv/repo", ok: true, want: "file:///srv/repo"},
		{name: "file with host", policy: dev, raw: "file://evil.example.com/etc/passwd"},
		{name: "relative path", policy: dev, raw: "srv/repo"},
		{name: "http denied", raw: "http://github.com/x"},
		{name: "http allowed", policy: Policy{AllowHTTP: true}, raw: "http://github.com/x", ok: true},
		{name: "loopback v4", policy: Policy{AllowHTTP: true}, raw: "http://127.0.0.1/x"},
		{name: "loopback v4 other", raw: "https://127.1.2.3/x"},
		{name: "loopback v6", policy: Policy{AllowHTTP: true}, raw: "http://[::1]/x"},
		{name: "metadata", policy: Policy{AllowHTTP: true}, raw: "http://169.254.169.254/latest/meta-data/"},
		{name: "private 10", policy: Policy{AllowHTTP: true}, raw: "http://10.0.0.1/"},
		{name: "private 192.168", raw: "https://192.168.1.1/"},
		{name: "private 172.16", raw: "https://172.16.0.1/"},
		{name: "cgnat", raw: "https://100.64.0.1/"},
		{name: "unspecified", raw: "https://0.0.0.0/"},
		{name: "unspecified v6", raw: "https://[::]/"},
		{name: "ula", raw: "https://[fd00::1]/"},
		{name: "link-local v6", raw: "https://[fe80::1]/"},
		{name: "zone", raw: "https://[fe80::1%25eth0]/"},
		{name: "v4-mapped loopback", raw: "https://[::ffff:127.0.0.1]/"},
		{name: "v4-mapped private", raw: "https://[::ffff:10.0.0.1]/"},
		{name: "nat64 of loopback", raw: "https://[64:ff9b::7f00:1]/"},
		{name: "6to4 of private", raw: "https://[2002:0a00:0001::1]/"},
		{name: "multicast", raw: "https://224.0.0.1/"},
		{name: "broadcast", raw: "https://255.255.255.255/"},
		{name: "public v4", raw: "https://140.82.112.3/x", ok: true},
		{name: "public v6", raw: "https://[2606:4700::1111]/x", ok: true},
		{name: "v4-mapped public", raw: "https://[::ffff:140.82.112.3]/x", ok: true},
		{name: "decimal ip", policy: Policy{AllowHTTP: true}, raw: "http://2130706433/"},
		{name: "octal ip", policy: Policy{AllowHTTP: true}, raw: "http://0177.0.0.1/"},
		{name: "hex ip", raw: "https://0x7f.0.0.1/"},
		{name: "short ip", raw: "https://127.1/"},
		{name: "decimal ip even with AllowPrivate", policy: dev, raw: "http://2130706433/"},
		{name: "localhost passes the static check", raw: "https://localhost/x", ok: true},
		{name: "empty host", raw: "https:///x"},
		{name: "opaque", raw: "https:github.com/x"},
		{name: "empty port", raw: "https://github.com:/x"},
		{name: "port zero", raw: "https://github.com:0/x"},
		{name: "port too big", raw: "https://github.com:70000/x"},
		{name: "space", raw: "https://github.com/x y"},
		{name: "newline", raw: "https://github.com/x\n"},
		{name: "backslash", raw: "https://github.com\\@evil.com/"},
		{name: "non-ascii host", raw: "https://gíthub.com/x"},
		{name: "percent-encoded loopback host", raw: "https://%31%32%37.0.0.1/"},
		{name: "allow-list exact", policy: hosts, raw: "https://github.com/x", ok: true},
		{name: "allow-list case and dot", policy: hosts, raw: "https://GitHub.COM./x", ok: true},
		{name: "allow-list miss", policy: hosts, raw: "https://gitlab.com/x"},
		{name: "allow-list suffix trick", policy: hosts, raw: "https://evilgithub.com/x"},
		{name: "allow-list subdomain of exact", policy: hosts, raw: "https://api.github.com/x"},
		{name: "allow-list wildcard", policy: hosts, raw: "https://git.example.com/x", ok: true},
		{name: "allow-list wildcard deep", policy: hosts, raw: "https://a.b.example.com/x", ok: true},
		{name: "allow-list wildcard apex", policy: hosts, raw: "https://example.com/x"},
		{name: "allow-list wildcard trick", policy: hosts, raw: "https://badexample.com/x"},
		{name: "allow-list ip", policy: hosts, raw: "https://10.1.2.3/x", ok: true},
		{name: "allow-list other ip", policy: hosts, raw: "https://10.1.2.4/x"},
		{name: "allow-list ipv6", policy: Policy{AllowHosts: []string{"[2001:db8::1]"}, AllowPrivate: true}, raw: "https://[2001:DB8:0::1]:8443/x", ok: true},
		{name: "allow-list bad entry", policy: Policy{AllowHosts: []string{"github.com", "gitlab.com:443"}}, raw: "https://github.com/x"},
		{name: "private allowed", policy: dev, raw: "http://127.0.0.1:8080/x", ok: true},
		{name: "v6 loopback allowed", policy: dev, raw: "http://[::1]:8080/x", ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := tt.policy.CheckURL(tt.raw)
			if !tt.ok {
				if err == nil {
					t.Fatalf("CheckURL(%q) = %v, want an error", tt.raw, u)
				}
				if !errors.Is(err, ErrPolicy) {
					t.Errorf("error %v does not wrap ErrPolicy", err)
				}
				if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
					t.Errorf("error %q contains the secret", err)
				}
				if strings.Contains(tt.raw, "@") && tt.secret != "" &&
					!strings.Contains(err.Error(), "credentials in the URL are not allowed; use a named credential") {
					t.Errorf("error %q does not explain the credential rule", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckURL(%q): %v", tt.raw, err)
			}
			if tt.want != "" && u.String() != tt.want {
				t.Errorf("CheckURL(%q) = %q, want %q", tt.raw, u, tt.want)
			}
		})
	}
}

func TestPolicyBlockedAddr(t *testing.T) {
	for _, s := range []string{
		"127.0.0.1", "10.2.3.4", "172.31.255.255", "192.168.0.1", "169.254.169.254", "100.100.100.200",
		"0.0.0.0", "255.255.255.255", "224.0.0.251", "198.18.0.1", "192.0.2.1",
		"::", "::1", "fe80::1", "fd00:ec2::254", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
		"64:ff9b::a9fe:a9fe", "2002:7f00:1::", "2001:db8::1", "::127.0.0.1",
	} {
		if !blockedAddr(netip.MustParseAddr(s)) {
			t.Errorf("blockedAddr(%s) = false, want true", s)
		}
	}
	for _, s := range []string{"140.82.112.3", "8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"} {
		if blockedAddr(netip.MustParseAddr(s)) {
			t.Errorf("blockedAddr(%s) = true, want false", s)
		}
	}
}

// policyTestServer is an httptest server on loopback answering "ok".
func policyTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPolicyHTTPClientDial checks the dial-time rule: names and address
// spellings that reach loopback are refused when connecting, whatever the
// static check said.
func TestPolicyHTTPClientDial(t *testing.T) {
	srv := policyTestServer(t)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for _, host := range []string{"127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433", "0177.0.0.1", "127.1"} {
		t.Run(host, func(t *testing.T) {
			c := Policy{AllowHTTP: true}.HTTPClient(5 * time.Second)
			resp, err := c.Get("http://" + host + ":" + strconv.Itoa(port) + "/")
			if err == nil {
				resp.Body.Close()
				t.Fatalf("GET via %s succeeded, want a refusal", host)
			}
			// Some spellings fail name resolution before the dialer
			// runs; those that resolve must be refused by the policy.
			t.Logf("%s: %v", host, err)
			var dnsErr *net.DNSError
			if !errors.Is(err, ErrPolicy) && !errors.As(err, &dnsErr) {
				t.Fatalf("GET via %s: %v, want ErrPolicy", host, err)
			}
		})
	}
	t.Run("allowed with AllowPrivate", func(t *testing.T) {
		c := Policy{AllowHTTP: true, AllowPrivate: true}.HTTPClient(5 * time.Second)
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
}

func TestPolicyHTTPClientNoProxy(t *testing.T) {
	// net/http never proxies loopback, so a request cannot show this:
	// check the transport instead.
	t.Setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
	c := Policy{}.HTTPClient(0)
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("transport is %T", c.Transport)
	}
	if tr.Proxy != nil {
		t.Error("the client uses a proxy, which would bypass the dial-time check")
	}
	if tr.DialContext == nil || tr.DialTLSContext != nil || tr.Dial != nil || tr.DialTLS != nil {
		t.Error("every connection must go through the checking dialer")
	}
}

func TestPolicyCheckRedirect(t *testing.T) {
	mk := func(raw string) *http.Request {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: u}
	}
	p := Policy{AllowHTTP: true}
	tests := []struct {
		name string
		p    Policy
		to   string
		via  []string
		ok   bool
	}{
		{name: "public", p: p, to: "https://example.org/x", via: []string{"https://github.com/"}, ok: true},
		{name: "to metadata", p: p, to: "http://169.254.169.254/latest/", via: []string{"https://github.com/"}},
		{name: "to private", p: p, to: "http://10.0.0.1/", via: []string{"https://github.com/"}},
		{name: "to ext", p: p, to: "ext::sh", via: []string{"https://github.com/"}},
		{name: "downgrade", p: p, to: "http://example.org/", via: []string{"https://github.com/"}},
		{name: "credentials", p: p, to: "https://u:secret@example.org/", via: []string{"https://github.com/"}},
		{name: "off the allow-list", p: Policy{AllowHosts: []string{"github.com"}}, to: "https://evil.example/", via: []string{"https://github.com/"}},
		{name: "too many", p: p, to: "https://example.org/6", via: []string{"https://a/1", "https://a/2", "https://a/3", "https://a/4", "https://a/5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var via []*http.Request
			for _, v := range tt.via {
				via = append(via, mk(v))
			}
			req := &http.Request{URL: &url.URL{}}
			if u, err := url.Parse(tt.to); err == nil {
				req.URL = u
			} else {
				req.URL = &url.URL{Opaque: tt.to}
			}
			err := tt.p.checkRedirect(req, via)
			if tt.ok != (err == nil) {
				t.Fatalf("checkRedirect(%s) = %v, want ok=%v", tt.to, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrPolicy) {
				t.Errorf("error %v does not wrap ErrPolicy", err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestPolicyHTTPClientRedirectLimit(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		http.Redirect(w, r, "/again", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	c := Policy{AllowHTTP: true, AllowPrivate: true}.HTTPClient(5 * time.Second)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("redirect loop succeeded")
	}
	if !errors.Is(err, ErrPolicy) {
		t.Fatalf("redirect loop: %v, want ErrPolicy", err)
	}
	if n != maxRedirects {
		t.Errorf("server saw %d requests, want %d", n, maxRedirects)
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://github.com/x/y.git", "http://127.0.0.1:8080/", "ext::sh -c id", "file:///etc/passwd",
		"/srv/repo", "git@github.com:x/y", "https://u:p@github.com/", "--upload-pack=x", "-x",
		"http://2130706433/", "http://0177.0.0.1/", "https://[::ffff:127.0.0.1]/", "https://a.example.com./x",
		"https://%31%32%37.0.0.1/", "HTTPS://GITHUB.COM", "https:github.com", "https://github.com:99999/",
		"https://[fe80::1%25en0]/", "https://xn--gthub-zsa.com/",
		`http://A#://"@`, // escaped, it looked like userinfo (found by fuzzing)
	} {
		f.Add(s)
	}
	policies := []Policy{
		{},
		{AllowHTTP: true},
		{AllowHTTP: true, AllowFile: true, AllowPrivate: true},
		{AllowHosts: []string{"github.com", "*.example.com"}},
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, p := range policies {
			u, err := p.CheckURL(raw)
			if err != nil {
				if !errors.Is(err, ErrPolicy) {
					t.Fatalf("error %v does not wrap ErrPolicy", err)
				}
				continue
			}
			if strings.HasPrefix(raw, "-") {
				t.Fatalf("accepted %q, which starts with -", raw)
			}
			if u.User != nil {
				t.Fatalf("accepted %q with userinfo", raw)
			}
			switch u.Scheme {
			case "https":
			case "http":
				if !p.AllowHTTP {
					t.Fatalf("accepted http URL %q", raw)
				}
			case "file":
				if !p.AllowFile {
					t.Fatalf("accepted file URL %q", raw)
				}
				continue
			default:
				t.Fatalf("accepted scheme %q from %q", u.Scheme, raw)
			}
			host := u.Hostname()
			if host == "" {
				t.Fatalf("accepted %q with an empty host", raw)
			}
			if len(p.AllowHosts) > 0 {
				allowed, err := hostmatch.Parse(p.AllowHosts)
				if err != nil {
					t.Fatal(err)
				}
				if !allowed.Match(host) {
					t.Fatalf("accepted %q: host %q not allowed", raw, host)
				}
			}
			if a, err := netip.ParseAddr(host); err == nil && !p.AllowPrivate && blockedAddr(a) {
				t.Fatalf("accepted %q: blocked address %s", raw, a)
			}
			// What the HTTP client will dial must be what was checked.
			again, err := p.CheckURL(u.String())
			if err != nil {
				t.Fatalf("accepted %q but not its own rendering %q: %v", raw, u, err)
			}
			if again.Hostname() != host {
				t.Fatalf("host changed on re-parse: %q -> %q", host, again.Hostname())
			}
		}
	})
}
