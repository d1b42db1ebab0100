// Package redact is the one place that removes secrets from URLs and from
// text that quotes them, for error messages, log lines and events. Every
// package that shows a URL it did not write itself goes through it; a test
// (single_test.go) fails if another function named redact… appears.
//
// # What is removed
//
// A URL carries secrets in three places, and all three go:
//
//   - the userinfo, "user:password@" or "token@", '@' included (a lone
//     user name is often a token: GitHub, NATS);
//   - the query, but not its '?': "https://h/p?X-Amz-Signature=…" becomes
//     "https://h/p?", so the reader knows there was one (presigned URLs
//     carry their signature there, and many APIs a key);
//   - the fragment, '#' included (OAuth's implicit flow puts an access
//     token there).
//
// Scheme, host, port and path are kept. A path that is itself a
// capability (a chat webhook's ".../services/T0/B0/secret") is not
// recognised: a caller holding such a URL shows only its host, or uses
// [Error], which drops the URL of a *url.Error whole.
//
// # Functions
//
//   - [URL] redacts one URL given as a string. When the string does not
//     parse as a URL with an authority ("scheme://host…" or "//host…"), it
//     falls back to a text scrub that may remove more than the secret:
//     everything from the first '?' or '#' on ('?' kept), and everything
//     up to the last '@' (after "://" if there is one).
//   - [ParsedURL] is URL for a *url.URL.
//   - [String] scrubs free text, such as an error from go-git or net/http:
//     every word that contains "://" is treated as a URL (a word ends at
//     white space or at one of " ' < > `), and a word without "://" of the
//     form "user:pass@host" loses "user:pass@" ("me@example.com", with no
//     ':', is left alone). Its output is never longer than its input.
//   - [HasUserinfo] reports whether String would remove userinfo.
//   - [Error] is String of an error's text, with the URL of every
//     *url.Error in its chain removed whole.
//
// # Limits
//
// These are text filters for messages, not URL parsers to act on. A
// password that contains a raw '/' is caught ("https://u:pa/ss@h") unless
// what precedes the '/' reads as host:port ("https://u:12/ss@h" is
// indistinguishable from the path "/ss@h" on host u port 12). In free text
// a URL ends at the first white space or quote, so a query after a raw
// space is not recognised as one. Secrets that are not in the URL syntax
// (an API key echoed in a response body) need the caller's own scrub by
// value, as natsconn and embed do.
package redact
