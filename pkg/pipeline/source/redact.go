package source

import (
	"net/url"

	"github.com/jetrun/jetrun/internal/redact"
)

// RedactURL renders u for messages and logs without its userinfo, query
// or fragment (a removed query leaves its '?': "https://host/x?"). It is
// [redact.ParsedURL], kept because git.go, fetch.go and the worker call it.
func RedactURL(u *url.URL) string {
	return redact.ParsedURL(u)
}

// Redact removes the userinfo, query ('?' kept) and fragment of every
// URL-looking word of s ("scheme://user:secret@host/p?sig=x#f" becomes
// "scheme://host/p?"), for error messages and logs. It is [redact.String],
// kept because git.go, fetch.go and the worker call it.
func Redact(s string) string {
	return redact.String(s)
}
