package qdrantstore

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
)

// Namespace is the UUID namespace of [PointID]. It is itself the UUIDv5
// of the URL "https://github.com/jetrun/jetrun" in the RFC 4122 URL
// namespace, and it never changes: changing it would give every point of
// every collection a new ID.
const Namespace = "4a6787ac-4042-5281-847f-779aa6d19dcd"

var namespace = mustParseUUID(Namespace)

// PointID returns the ID of the point named by parts: the UUIDv5
// (RFC 4122, SHA-1) of the parts joined by NUL bytes in [Namespace], in
// canonical lowercase form. The same parts always give the same ID, so
// re-indexing overwrites a chunk instead of duplicating it, and any
// language can recompute an ID.
//
// The pipeline names a chunk by source, path, chunk hash, ordinal and
// chunker version. Parts must not contain NUL (paths and hashes cannot),
// or different part lists could join to the same name.
func PointID(parts ...string) string {
	return uuid5(namespace, strings.Join(parts, "\x00"))
}

// uuid5 is the RFC 4122 name-based UUID (version 5, SHA-1) of name in ns.
func uuid5(ns [16]byte, name string) string {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return formatUUID(u)
}

func formatUUID(u [16]byte) string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// parseUUID reads the canonical 36-character form, in either case.
func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%w: point ID %q is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", ErrInvalid, s)
	}
	hexOnly := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(u[:], []byte(hexOnly)); err != nil {
		return u, fmt.Errorf("%w: point ID %q is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", ErrInvalid, s)
	}
	return u, nil
}

// canonicalID checks id and returns it lowercase, as Qdrant reports it.
func canonicalID(id string) (string, error) {
	u, err := parseUUID(id)
	if err != nil {
		return "", err
	}
	return formatUUID(u), nil
}

func mustParseUUID(s string) [16]byte {
	u, err := parseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}
