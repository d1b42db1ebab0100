package hostmatch

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/jetrun/jetrun/internal/textutil"
)

// ErrInvalid is wrapped by the errors of [Parse] and [ParseString].
var ErrInvalid = errors.New("invalid host entry")

// List is a parsed host allow-list. The zero List matches nothing.
type List struct {
	exact    map[string]bool // host names and IP literals, normalised
	suffixes []string        // "*.example.com" as ".example.com"
}

// Parse parses allow-list entries (see the package documentation for
// their syntax). Empty entries are skipped; any other bad entry fails the
// whole list, with an error wrapping [ErrInvalid] for each.
func Parse(entries []string) (List, error) {
	var l List
	var errs []error
	for _, e := range entries {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if err := l.add(e); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return List{}, err
	}
	return l, nil
}

// ParseString is [Parse] for a comma-separated list, as the
// environment variables carry it.
func ParseString(s string) (List, error) {
	return Parse(strings.Split(s, ","))
}

func (l *List) add(e string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: %q: %s (want host, *.suffix or an IP address)", ErrInvalid, textutil.Truncate(e, 64), why)
	}
	if suffix, ok := strings.CutPrefix(e, "*."); ok {
		name, ok := hostName(strings.TrimSuffix(suffix, "."))
		if !ok {
			return bad("the suffix is not a host name")
		}
		if numericTLD(name) {
			return bad("a wildcard never matches an IP address")
		}
		l.suffixes = append(l.suffixes, "."+name)
		return nil
	}
	key := ""
	if inner, ok := strings.CutPrefix(e, "["); ok {
		inner, ok = strings.CutSuffix(inner, "]")
		a, err := netip.ParseAddr(inner)
		if !ok || err != nil || !a.Is6() {
			return bad("brackets hold an IPv6 address")
		}
		if a.Zone() != "" {
			return bad("IPv6 zones are not allowed")
		}
		key = a.String()
	} else if a, err := netip.ParseAddr(strings.TrimSuffix(e, ".")); err == nil {
		if a.Zone() != "" {
			return bad("IPv6 zones are not allowed")
		}
		key = a.String()
	} else if name, ok := hostName(strings.TrimSuffix(e, ".")); ok {
		key = name
	} else {
		if strings.Contains(e, "*") {
			return bad(`'*' is only allowed as a leading "*."`)
		}
		return bad("not a host name (no port, path or scheme)")
	}
	if l.exact == nil {
		l.exact = make(map[string]bool)
	}
	l.exact[key] = true
	return nil
}

// Match reports whether host is on the list. host is a host name or IP
// literal, optionally with a port ("h:443", "[::1]:8080"); only the name
// is matched.
func (l List) Match(host string) bool {
	h, ok := hostname(host)
	if !ok {
		return false
	}
	h = strings.TrimSuffix(h, ".")
	if a, err := netip.ParseAddr(h); err == nil {
		return l.exact[a.String()] // a wildcard never matches an address
	}
	name, ok := hostName(h)
	if !ok {
		return false
	}
	if l.exact[name] {
		return true
	}
	if numericTLD(name) {
		// "0177.0.0.1", "127.1": not canonical IP literals, but some
		// resolvers take them for addresses.
		return false
	}
	for _, s := range l.suffixes {
		// name has no empty label, so it is longer than s: a
		// subdomain, never the bare suffix.
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// hostname strips the port and the IPv6 brackets from host, like
// url.URL.Hostname but refusing what is not host[:port].
func hostname(host string) (string, bool) {
	if rest, ok := strings.CutPrefix(host, "["); ok {
		inner, port, ok := strings.Cut(rest, "]")
		if !ok || !validPort(port) {
			return "", false
		}
		if a, err := netip.ParseAddr(inner); err != nil || !a.Is6() {
			return "", false
		}
		return inner, true
	}
	switch strings.Count(host, ":") {
	case 0:
		return host, true
	case 1:
		name, port, _ := strings.Cut(host, ":")
		return name, validPort(":" + port)
	default:
		return host, true // a bare IPv6 address, or nothing
	}
}

// validPort reports whether s is "" or ":" and digits (an empty port is
// valid URL syntax).
func validPort(s string) bool {
	if s == "" {
		return true
	}
	if s[0] != ':' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hostName returns s lower-cased if it is a DNS host name in ASCII:
// dot-separated labels of 1 to 63 letters, digits, '-' and '_', at most
// 253 bytes in all (no trailing dot).
func hostName(s string) (string, bool) {
	if s == "" || len(s) > 253 {
		return "", false
	}
	b := []byte(s)
	label := 0
	for i, c := range b {
		switch {
		case 'A' <= c && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		default:
			return "", false // non-ASCII included: no Unicode case folding
		}
		if label++; label > 63 {
			return "", false
		}
	}
	if label == 0 {
		return "", false
	}
	return string(b), true
}

// numericTLD reports whether the last label of name starts with a digit,
// as no top-level domain does but IPv4 spellings ("127.1", "0x7f.1") do.
func numericTLD(name string) bool {
	last := name[strings.LastIndexByte(name, '.')+1:]
	return last != "" && '0' <= last[0] && last[0] <= '9'
}
