package redact

import (
	"net/url"
	"strconv"
	"strings"
)

// delims end a URL in free text: white space and the characters that
// commonly quote one.
const delims = " \t\r\n\"'<>`"

// URL returns raw without its userinfo, its query (the '?' is kept) and
// its fragment: "https://u:p@h/x?sig=s#f" becomes "https://h/x?". A string
// that does not parse as a URL with an authority ("scheme://…", "//…") is
// scrubbed as text instead: everything from its first '?' or '#' on goes
// (a '?' is kept), and so does everything up to its last '@' (but not a
// "scheme://" before that '@').
func URL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || !hasAuthority(raw, u.Scheme) {
		// "tok@host:4222" parses as a path, "bob:pw@host:4222" as scheme
		// "bob" with an opaque part: neither had its userinfo split off.
		return scrubOne(raw)
	}
	return ParsedURL(u)
}

// hasAuthority reports whether raw, whose parsed scheme is scheme, has
// an authority ("//" after the scheme), so that url.Parse has split off
// any userinfo.
func hasAuthority(raw, scheme string) bool {
	rest := raw
	if scheme != "" {
		rest = raw[len(scheme)+1:] // url.Parse only lower-cases the ASCII scheme
	}
	return strings.HasPrefix(rest, "//")
}

// ParsedURL is [URL] for a parsed URL: it renders a copy of u without
// User, without the query (the '?' is kept when there was one) and
// without the fragment; an opaque part is scrubbed as text, and so is a
// rendering that would read back with userinfo. u is not modified.
// ParsedURL(nil) is "".
func ParsedURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	c.ForceQuery = c.ForceQuery || c.RawQuery != ""
	c.RawQuery, c.Fragment, c.RawFragment = "", "", ""
	if c.Opaque != "" {
		c.Opaque = scrubOne(c.Opaque)
	}
	s := c.String()
	if r, err := url.Parse(s); err == nil && r.User != nil {
		// A host-less path that starts with "//" ("//@//tok@h") renders
		// as an authority: what a reader would take for userinfo goes.
		return scrubOne(s)
	}
	return s
}

// scrubOne is the conservative text scrub of one string that should be
// a URL but does not parse as one with an authority.
func scrubOne(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = cutQuery(s, i)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	if i := strings.Index(s, "://"); i >= 0 && i+3 <= at {
		return s[:i+3] + s[at+1:]
	}
	return s[at+1:]
}

// cutQuery cuts s at i, the index of its first '?' or '#': a '?' is
// kept, a '#' is not.
func cutQuery(s string, i int) string {
	if s[i] == '?' {
		return s[:i+1]
	}
	return s[:i]
}

// String returns s with the userinfo, query ('?' kept) and fragment of
// every URL-looking word removed, for error messages and logs:
// `clone "https://u:p@h/r.git?x=1#f": failed` becomes
// `clone "https://h/r.git?": failed`. A word is a run of characters other
// than white space and " ' < > `; one that contains "://" is a URL, one
// of the form "user:pass@host" (a ':' before its last '@', no "://")
// loses "user:pass@" and anything from a '?' or '#' on. It needs no valid
// URL: it also catches a password with a raw '/' ("https://u:pa/ss@h").
// Its output is never longer than s.
func String(s string) string {
	return scrub(s, true)
}

// HasUserinfo reports whether [String] would remove userinfo from s: some
// word of s is a URL with userinfo, or has the form "user:pass@host".
func HasUserinfo(s string) bool {
	return scrub(s, false) != s
}

// Error returns err's text for a log line, an event or another error's
// message: the URL of every *url.Error in err's chain is removed whole
// (`Post "https://hooks.example/T0/secret": dial tcp …` becomes
// `Post: dial tcp …`, since a URL's path can be a capability), then the
// rest goes through [String]. Error(nil) is "".
func Error(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	eachURLError(err, func(ue *url.Error) {
		// url.Error formats itself as "Op %q: Err".
		msg = strings.ReplaceAll(msg, ue.Op+" "+strconv.Quote(ue.URL), ue.Op)
	})
	return String(msg)
}

// eachURLError calls f with every *url.Error in err's tree.
func eachURLError(err error, f func(*url.Error)) {
	for err != nil {
		if ue, ok := err.(*url.Error); ok {
			f(ue)
		}
		switch x := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range x.Unwrap() {
				eachURLError(e, f)
			}
			return
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		default:
			return
		}
	}
}

// scrub removes userinfo from every URL-looking word of s, and with all
// also the query and the fragment.
func scrub(s string, all bool) string {
	if !strings.Contains(s, "@") && (!all || !strings.ContainsAny(s, "?#")) {
		return s // nothing to remove
	}
	var b strings.Builder
	b.Grow(len(s))
	for s != "" {
		i := 0
		for i < len(s) && strings.IndexByte(delims, s[i]) >= 0 {
			i++
		}
		b.WriteString(s[:i])
		s = s[i:]
		end := strings.IndexAny(s, delims)
		if end < 0 {
			end = len(s)
		}
		b.WriteString(scrubWord(s[:end], all))
		s = s[end:]
	}
	return b.String()
}

// scrubWord is scrub for one word (no delimiters in w).
func scrubWord(w string, all bool) string {
	if !strings.Contains(w, "://") {
		at := strings.LastIndexByte(w, '@')
		if at < 0 || !strings.Contains(w[:at], ":") {
			return w // "me@example.com", "git@github.com:x/y.git"
		}
		w = w[at+1:]
		if i := strings.IndexAny(w, "?#"); all && i >= 0 {
			w = cutQuery(w, i)
		}
		return w
	}
	// Every scan below is cached or starts where the last one stopped,
	// so that a long word with many "://" costs linear time.
	var b strings.Builder
	b.Grow(len(w))
	q, at := -2, -2 // cached indexes of the next '?' or '#' and the next '@'
	off := 0
	for {
		i := strings.Index(w[off:], "://")
		if i < 0 {
			b.WriteString(w[off:])
			return b.String()
		}
		b.WriteString(w[off : off+i+3])
		off += i + 3
		if e := userinfoEnd(w[off:], func() int { return nextIndex(w, off, &at, "@") - off }); e >= 0 {
			off += e + 1
		}
		if !all {
			continue
		}
		if j := nextIndex(w, off, &q, "?#"); j >= 0 {
			// The rest of the word is query or fragment, a nested
			// "://" included.
			b.WriteString(cutQuery(w[off:], j-off))
			return b.String()
		}
	}
}

// nextIndex returns the index in w of the first of chars at or after
// off, or -1, using and updating *cache (-2 or less than off: unknown).
func nextIndex(w string, off int, cache *int, chars string) int {
	if *cache == -1 || *cache >= off {
		return *cache
	}
	*cache = strings.IndexAny(w[off:], chars)
	if *cache >= 0 {
		*cache += off
	}
	return *cache
}

// userinfoEnd returns the index of the '@' that ends the userinfo of a URL
// whose text after "://" is tok, or -1 if it has none. firstAt returns
// the index of tok's first '@' (or a negative number).
func userinfoEnd(tok string, firstAt func() int) int {
	// The authority ends at the first '/', '?' or '#'; its userinfo at
	// the last '@' inside it.
	auth := tok
	if j := strings.IndexAny(tok, "/?#"); j >= 0 {
		auth = tok[:j]
	}
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		return at
	}
	// "user:pa/ss@host": the authority "user:pa" cannot be host:port (the
	// port is not numeric), so the password went on past a '/'. Take the
	// userinfo up to the first '@' of the token.
	colon := strings.IndexByte(auth, ':')
	if colon < 0 || strings.HasPrefix(auth, "[") {
		return -1
	}
	port := auth[colon+1:]
	numeric := port != ""
	for k := 0; k < len(port); k++ {
		if port[k] < '0' || port[k] > '9' {
			numeric = false
			break
		}
	}
	if numeric {
		return -1
	}
	if at := firstAt(); at >= 0 {
		return at
	}
	return -1
}
