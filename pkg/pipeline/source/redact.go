package source

import (
	"net/url"
	"strings"
)

// RedactURL renders u for messages and logs without its userinfo, query
// or fragment: a presigned URL carries its signature in the query, and
// tokens travel there too. A removed query leaves its '?'
// ("https://host/x?"), so that the reader knows there was one.
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User = nil
	c.ForceQuery = c.RawQuery != "" || c.ForceQuery
	c.RawQuery, c.Fragment, c.RawFragment = "", "", ""
	return c.String()
}

// Redact removes the userinfo and the query of every URL-looking
// substring of s ("scheme://user:secret@host/p?sig=x#f" becomes
// "scheme://host/p?"), for error messages and logs. It is a text filter:
// it needs no valid URL and also catches a password that contains a raw
// '/' ("https://u:pa/ss@host"). Its output is never longer than s.
func Redact(s string) string {
	return redact(s, true)
}

// hasUserinfo reports whether a URL-looking substring of s has userinfo.
func hasUserinfo(s string) bool {
	return redact(s, false) != s
}

func redact(s string, query bool) string {
	if !strings.Contains(s, "://") || (!strings.Contains(s, "@") && (!query || !strings.Contains(s, "?"))) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		// The token is the rest of the URL: up to white space or a
		// character that commonly delimits a URL in text.
		end := strings.IndexAny(s, " \t\r\n\"'<>`")
		if end < 0 {
			end = len(s)
		}
		tok := s[:end]
		if at := userinfoEnd(tok); at >= 0 {
			s, end = s[at+1:], end-(at+1)
			tok = s[:end]
		}
		if q := strings.IndexByte(tok, '?'); query && q >= 0 {
			b.WriteString(tok[:q+1])
			s = s[end:]
		}
	}
}

// userinfoEnd returns the index of the '@' that ends the userinfo of a URL
// whose text after "://" is tok, or -1 if it has none.
func userinfoEnd(tok string) int {
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
	return strings.IndexByte(tok, '@')
}
