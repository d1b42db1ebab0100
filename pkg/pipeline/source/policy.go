package source

// # Network sources
//
// (This block documents policy.go, redact.go, git.go and fetch.go; doc.go
// points here. It is written to be moved into doc.go as is.)
//
// Everything that reaches the network goes through a [Policy]:
//
//   - [Policy.CheckURL] is the static check: https only (http with
//     AllowHTTP, file:// and absolute local paths with AllowFile); no git
//     transport syntax ("ext::…"), no scp-like "user@host:path" addresses,
//     nothing that starts with "-" (option injection); no credentials in
//     the URL (a job names a credential instead); the host must match
//     AllowHosts; IP literals in loopback, private, link-local, CGNAT and
//     other special-purpose ranges are refused unless AllowPrivate; numeric
//     host spellings that are not canonical IP literals ("2130706433",
//     "0177.0.0.1", "127.1") are refused outright.
//   - [Policy.HTTPClient] is the dynamic check: its dialer refuses a
//     connection to a blocked address after DNS resolution, so a public name
//     that resolves (or re-resolves: DNS rebinding) to 127.0.0.1 or to the
//     cloud metadata address never connects. Every redirect is re-checked
//     with CheckURL (at most 5 are followed, never from https to http).
//     Proxies from the environment are deliberately not used: the dialer
//     would then check the proxy's address, not the target's.
//
// [CloneGit] fetches one ref of a git repository (shallow, no tags, no
// submodules) into a private object store in the job's directory, and
// [Git.Walk] reads the files straight from the commit's tree: nothing from
// the repository is ever written to disk as a file, so hostile paths and
// symlinks have nothing to act on. The pack is checked before go-git
// indexes it (object count, and each object's inflated size, deltas
// included), so a small pack cannot inflate into a large one in memory.
// [Fetch] downloads one http(s) URL to a file, bounded and hashed.
//
// Errors, for the worker's permanent/transient decision:
//
//	sentinel           meaning                                            retry?
//	ErrPolicy          URL, redirect or address refused by the Policy     no
//	ErrRepoNotFound    no such repository, or no access (401/403/404)     no
//	ErrRefNotFound     no such branch/tag/commit, or an empty repository  no
//	ErrRemoteTooLarge  pack, object, files or body over a limit           no
//	*HTTPError         Fetch got a non-2xx status                         5xx, 408, 429
//	context errors     cancelled or timed out                             -
//	anything else      network or server failure                          yes
//
// Errors and logs show URLs through [Redact] / [RedactURL] (wrappers of
// internal/redact: no userinfo, query or fragment); credentials are never
// part of an error message (a token a server echoes back is replaced by
// REDACTED).

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/jetrun/jetrun/internal/hostmatch"
	"github.com/jetrun/jetrun/internal/redact"
	"github.com/jetrun/jetrun/internal/textutil"
)

// ErrPolicy is wrapped by every error caused by the URL policy: a refused
// scheme, host, address, redirect or URL form. Such a request can never
// succeed, so a job failing with it is failed permanently.
var ErrPolicy = errors.New("url policy")

// MaxURLLength bounds the length of a URL accepted by [Policy.CheckURL].
const MaxURLLength = 2048

// maxRedirects bounds the redirects an [Policy.HTTPClient] follows.
const maxRedirects = 5

// Policy decides which URLs a source may fetch and which addresses it may
// connect to. The zero value is the production default: https to any
// public host.
type Policy struct {
	// AllowHosts lists the hosts that may be contacted: an exact host name
	// ("github.com"), an IP address, or a wildcard suffix ("*.example.com",
	// which matches any subdomain but not example.com itself). Empty means
	// any public host. The syntax and the matching are internal/hostmatch's
	// (ASCII case-insensitive, a trailing dot ignored); a list with a bad
	// entry refuses every URL, with an error naming the entry.
	AllowHosts []string
	// AllowHTTP permits plain http:// (https is always permitted).
	AllowHTTP bool
	// AllowFile permits file:// URLs and absolute local paths. Only for
	// --dev: it gives a job access to the worker's file system.
	AllowFile bool
	// AllowPrivate permits loopback, private (RFC 1918, fc00::/7),
	// link-local, unspecified, CGNAT (100.64.0.0/10) and other
	// special-purpose addresses, both as IP literals in URLs and at dial
	// time. Only for --dev and tests, or together with AllowHosts for a git
	// server on an internal network (the hosts are then trusted wherever
	// they resolve).
	AllowPrivate bool
}

// CheckURL parses raw and checks it against the policy. It returns the
// parsed URL (for a local path: a file URL with the cleaned absolute path)
// or an error wrapping [ErrPolicy]. The error never contains credentials
// that were in raw.
//
// CheckURL cannot see where a host name resolves to; a client from
// [Policy.HTTPClient] enforces the address rules at connect time.
func (p Policy) CheckURL(raw string) (*url.URL, error) {
	switch {
	case raw == "":
		return nil, fmt.Errorf("%w: empty URL", ErrPolicy)
	case len(raw) > MaxURLLength:
		return nil, fmt.Errorf("%w: URL longer than %d bytes", ErrPolicy, MaxURLLength)
	case strings.HasPrefix(raw, "-"):
		return nil, fmt.Errorf("%w: URL must not start with %q", ErrPolicy, "-")
	case !utf8.ValidString(raw):
		return nil, fmt.Errorf("%w: URL is not valid UTF-8", ErrPolicy)
	}
	// Git's "<transport>::<address>" syntax runs a remote helper
	// (ext:: runs a command). Refuse it before url.Parse sees "ext" as a
	// scheme, so the message says what it is.
	if i := strings.Index(raw, "::"); i > 0 && !strings.ContainsAny(raw[:i], "/@") {
		name := raw[:i]
		if len(name) > 32 || strings.Trim(strings.ToLower(name), "abcdefghijklmnopqrstuvwxyz0123456789+-.") != "" {
			name = "<transport>"
		}
		return nil, fmt.Errorf("%w: git transport %q (%s::address) is not allowed", ErrPolicy, name, name)
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\\' {
			return nil, fmt.Errorf("%w: URL contains a space, backslash or control character", ErrPolicy)
		}
	}
	if filepath.IsAbs(raw) && !strings.Contains(raw, "://") {
		if !p.AllowFile {
			return nil, fmt.Errorf("%w: local paths are not allowed", ErrPolicy)
		}
		return &url.URL{Scheme: "file", Path: filepath.Clean(raw)}, nil
	}
	if isSCPLike(raw) {
		return nil, fmt.Errorf("%w: scp-like git addresses (host:path) are not allowed; use an https:// URL", ErrPolicy)
	}
	if redact.HasUserinfo(raw) {
		return nil, fmt.Errorf("%w: credentials in the URL are not allowed; use a named credential", ErrPolicy)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the input, which may hold credentials: say
		// only that it does not parse.
		return nil, fmt.Errorf("%w: URL does not parse", ErrPolicy)
	}
	// The rendering is checked too: it is what clients send and logs
	// show, and escaping can make it look like userinfo where the input
	// did not ("#://\"@" renders as "#://%22@").
	rendered := u.String()
	if u.User != nil || redact.HasUserinfo(rendered) {
		return nil, fmt.Errorf("%w: credentials in the URL are not allowed; use a named credential", ErrPolicy)
	}
	if len(rendered) > MaxURLLength {
		return nil, fmt.Errorf("%w: URL longer than %d bytes once escaped", ErrPolicy, MaxURLLength)
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "https":
	case "http":
		if !p.AllowHTTP {
			return nil, fmt.Errorf("%w: http is not allowed, use https: %s", ErrPolicy, redact.ParsedURL(u))
		}
	case "file":
		return p.checkFileURL(u)
	case "":
		return nil, fmt.Errorf("%w: URL has no scheme (want https://host/path)", ErrPolicy)
	default:
		return nil, fmt.Errorf("%w: scheme %q is not allowed", ErrPolicy, textutil.Truncate(u.Scheme, 32))
	}
	u.Scheme = scheme
	if u.Opaque != "" {
		return nil, fmt.Errorf("%w: URL has no host (want %s://host/path)", ErrPolicy, scheme)
	}
	if err := p.checkHost(u); err != nil {
		return nil, err
	}
	return u, nil
}

// checkFileURL accepts file:///abs/path (or file://localhost/abs/path)
// when AllowFile is set.
func (p Policy) checkFileURL(u *url.URL) (*url.URL, error) {
	if !p.AllowFile {
		return nil, fmt.Errorf("%w: file URLs are not allowed", ErrPolicy)
	}
	if u.Opaque != "" || (u.Host != "" && !strings.EqualFold(u.Host, "localhost")) {
		return nil, fmt.Errorf("%w: file URL must be file:///absolute/path", ErrPolicy)
	}
	if u.RawQuery != "" || u.Fragment != "" || !filepath.IsAbs(u.Path) {
		return nil, fmt.Errorf("%w: file URL must be file:///absolute/path", ErrPolicy)
	}
	return &url.URL{Scheme: "file", Path: filepath.Clean(u.Path)}, nil
}

// checkHost applies the host rules of CheckURL to u.
func (p Policy) checkHost(u *url.URL) error {
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: URL has an empty host", ErrPolicy)
	}
	if port := u.Port(); port != "" {
		if n, err := parsePort(port); err != nil || n == 0 {
			return fmt.Errorf("%w: invalid port %q", ErrPolicy, textutil.Truncate(port, 16))
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("%w: empty port", ErrPolicy)
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= utf8.RuneSelf {
			return fmt.Errorf("%w: non-ASCII host name; use its punycode (xn--) form", ErrPolicy)
		}
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.Zone() != "" {
			return fmt.Errorf("%w: IPv6 zone in host %q", ErrPolicy, host)
		}
		if !p.AllowPrivate && blockedAddr(addr) {
			return fmt.Errorf("%w: address %s is not public", ErrPolicy, addr)
		}
	} else {
		if strings.ContainsAny(host, "[]%:") {
			return fmt.Errorf("%w: invalid host %q", ErrPolicy, textutil.Truncate(host, 64))
		}
		if numericHost(host) {
			// inet_aton-style spellings (2130706433, 0177.0.0.1, 127.1,
			// 0x7f.1): some resolvers turn them into addresses.
			return fmt.Errorf("%w: host %q is a non-canonical IP address", ErrPolicy, textutil.Truncate(host, 64))
		}
	}
	if len(p.AllowHosts) > 0 {
		allowed, err := hostmatch.Parse(p.AllowHosts)
		if err != nil {
			return fmt.Errorf("%w: allowed hosts: %w", ErrPolicy, err)
		}
		if !allowed.Match(host) {
			return fmt.Errorf("%w: host %q is not in the allowed hosts", ErrPolicy, textutil.Truncate(host, 64))
		}
	}
	return nil
}

// numericHost reports whether host's last label is a number (decimal,
// octal or 0x-hex). No top-level domain is numeric, so such a name can
// only be meant as an IP address, and not a canonical one (those parse
// with netip first).
func numericHost(host string) bool {
	h := strings.TrimSuffix(host, ".")
	if i := strings.LastIndexByte(h, '.'); i >= 0 {
		h = h[i+1:]
	}
	if h == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(strings.ToLower(h), "0x"); ok {
		for i := 0; i < len(rest); i++ {
			c := rest[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(h); i++ {
		if h[i] < '0' || h[i] > '9' {
			return false
		}
	}
	return true
}

// isSCPLike reports whether raw is git's scp-like address syntax,
// [user@]host:path, which git treats as ssh.
func isSCPLike(raw string) bool {
	if strings.Contains(raw, "://") {
		return false
	}
	colon := strings.IndexByte(raw, ':')
	if colon <= 0 {
		return false
	}
	if slash := strings.IndexByte(raw, '/'); slash >= 0 && slash < colon {
		return false
	}
	// "https:" alone or "mailto:x" are not scp-like; a host part with a
	// dot, an '@' or a bracket is.
	head := raw[:colon]
	return strings.ContainsAny(head, ".@[")
}

func parsePort(s string) (int, error) {
	if len(s) > 5 {
		return 0, errors.New("port out of range")
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errors.New("port not numeric")
		}
		n = n*10 + int(s[i]-'0')
	}
	if n > 65535 {
		return 0, errors.New("port out of range")
	}
	return n, nil
}

// blockedPrefixes are the special-purpose ranges (IANA IPv4 and IPv6
// Special-Purpose Address Registries) that are not public unicast
// destinations, beyond what netip.Addr's predicates already cover.
var blockedPrefixes = func() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network"
		"10.0.0.0/8",      // private
		"100.64.0.0/10",   // CGNAT shared address space
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata (169.254.169.254)
		"172.16.0.0/12",   // private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // TEST-NET-1
		"192.88.99.0/24",  // 6to4 relay anycast
		"192.168.0.0/16",  // private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // TEST-NET-2
		"203.0.113.0/24",  // TEST-NET-3
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, limited broadcast
		"::/96",           // unspecified, loopback, IPv4-compatible (deprecated)
		"::ffff:0:0:0/96", // IPv4-translated
		"64:ff9b:1::/48",  // local-use NAT64
		"100::/64",        // discard-only
		"2001::/23",       // IETF protocol assignments (Teredo, ORCHID, ...)
		"2001:db8::/32",   // documentation
		"3fff::/20",       // documentation
		"5f00::/16",       // segment routing
		"fc00::/7",        // unique local (includes AWS fd00:ec2::254 metadata)
		"fe80::/10",       // link-local
		"fec0::/10",       // site-local (deprecated)
		"ff00::/8",        // multicast
	} {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}()

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96") // well-known NAT64
	sixToFour   = netip.MustParsePrefix("2002::/16")    // 6to4
)

// blockedAddr reports whether a is anything but a public unicast address.
// An IPv4-mapped IPv6 address is judged by its IPv4 address; a NAT64
// (64:ff9b::/96) or 6to4 (2002::/16) address by the IPv4 address it
// embeds, since a gateway would forward to that address.
func blockedAddr(a netip.Addr) bool {
	if !a.IsValid() {
		return true
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64Prefix.Contains(a):
			return blockedAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFour.Contains(a):
			return blockedAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() {
		return true
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// dialControl is the net.Dialer Control hook: it runs after name
// resolution, for every address the dialer tries, and refuses blocked ones.
func (p Policy) dialControl(network, address string, _ syscall.RawConn) error {
	if p.AllowPrivate {
		return nil
	}
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return fmt.Errorf("%w: network %q is not allowed", ErrPolicy, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check address %q", ErrPolicy, address)
	}
	if blockedAddr(ap.Addr()) {
		return fmt.Errorf("%w: connection to non-public address %s refused", ErrPolicy, ap.Addr().Unmap())
	}
	return nil
}

// HTTPClient returns an HTTP client that enforces the policy at connect
// time and on every redirect. timeout is the whole-request timeout
// (http.Client.Timeout); 0 means none, so that a long download is bounded
// by its context instead.
//
// The client's dialer refuses blocked addresses after DNS resolution
// (unless AllowPrivate), which defeats DNS rebinding and names that
// resolve to internal addresses. Redirects are re-checked with CheckURL,
// never go from https to http, and at most 5 are followed. Proxy settings
// from the environment (HTTPS_PROXY, ...) are ignored: through a proxy the
// dialer would check the proxy's address, not the target's, and the proxy
// would resolve the name itself. Responses are not transparently
// decompressed, so a body's bytes are exactly what the server sent.
func (p Policy) HTTPClient(timeout time.Duration) *http.Client {
	dialer := &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   p.dialControl,
	}
	tr := &http.Transport{
		Proxy:                 nil, // see above: a proxy would bypass the dial check
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          8,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: p.checkRedirect,
	}
}

// checkRedirect is the http.Client redirect hook of HTTPClient.
func (p Policy) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: more than %d redirects", ErrPolicy, maxRedirects)
	}
	if _, err := p.CheckURL(req.URL.String()); err != nil {
		return fmt.Errorf("redirect: %w", err)
	}
	if len(via) > 0 && via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("%w: redirect from https to %s", ErrPolicy, req.URL.Scheme)
	}
	return nil
}
