// Package textutil bounds text taken from untrusted or verbose sources
// (error messages, reasons) before it goes into records, events and logs.
package textutil

import "unicode/utf8"

// Truncate returns s cut to at most n bytes, on a rune boundary, with "…"
// appended when anything was cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
