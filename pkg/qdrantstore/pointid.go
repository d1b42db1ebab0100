package qdrantstore

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Namespace is the UUID namespace of [PointID]. It is itself the UUIDv5
// of the URL "https://github.com/jetrun/jetrun" in the RFC 4122 URL
// namespace, and it never changes: changing it would give every point of
// every collection a new ID.
const Namespace = "4a6787ac-4042-5281-847f-779aa6d19dcd"

var namespace = uuid.MustParse(Namespace)

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
func uuid5(ns uuid.UUID, name string) string {
	return uuid.NewSHA1(ns, []byte(name)).String()
}

// canonicalID checks id (the canonical 36-character form, in either case)
// and returns it lowercase, as Qdrant reports it.
func canonicalID(id string) (string, error) {
	u, err := uuid.Parse(id)
	if err != nil || len(id) != 36 {
		return "", fmt.Errorf("%w: point ID %q is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", ErrInvalid, id)
	}
	return u.String(), nil
}
