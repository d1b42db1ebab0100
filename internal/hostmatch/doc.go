// Package hostmatch is the one host allow-list matcher: the source
// policy's allowed hosts (JETRUN_SOURCE_ALLOW_HOSTS) and a credential's
// host binding (JETRUN_CREDENTIAL_<NAME>_HOSTS) both use it, so that the
// same list means the same thing in both places.
//
// # Entries
//
//	entry            matches
//	github.com       github.com only (not api.github.com)
//	*.example.com    any subdomain at any depth: a.example.com, a.b.example.com;
//	                 NOT example.com itself (list both to allow both);
//	                 never an IP literal, nor a name whose last label
//	                 starts with a digit ("0177.0.0.1", "127.1": IPv4
//	                 spellings some resolvers accept)
//	10.1.2.3         that IPv4 address
//	::1, [::1]       that IPv6 address, in any spelling (normalised by net/netip)
//
// Entries are trimmed of white space; empty ones are skipped, so "a,,b"
// and a trailing comma are fine. Anything else is an error wrapping
// [ErrInvalid] that names the entry: a port ("github.com:443"), a path,
// "*" alone, "*." or a '*' anywhere but a leading "*.", a wildcard over
// a numeric suffix ("*.0.0.1"), an empty label
// ("a..b"), an IPv6 zone, a bracketed IPv4 address, characters outside
// letters, digits, '-', '_' and '.'. A bad entry fails the whole list
// rather than being ignored: a typo in an allow-list is found at once.
// There is no "any host" entry; the callers treat an empty list as "no
// restriction".
//
// # Matching
//
// [List.Match] takes a host name or a URL's host with its port
// ("example.com", "example.com:443", "[::1]:8080", "::1") and matches
// on the host name only. Matching is ASCII case-insensitive and ignores
// one trailing dot ("GitHub.COM." is github.com). A host that is not a
// well-formed name or IP literal matches nothing, nor does the empty
// host. The zero List matches nothing.
//
// IDNA is out of scope: entries must be ASCII (write a punycode "xn--"
// form), and a non-ASCII host never matches, not even after Unicode case
// folding (the Kelvin sign "\u212a" folds to 'k', which would otherwise
// let "\u212aube.io" pass for kube.io).
package hostmatch
