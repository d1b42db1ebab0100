package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/jetrun/jetrun/pkg/runtimes"
)

// maxNameLen is the longest Job name used: a Job's name must be a DNS-1123
// label (at most 63 characters), because the Job controller copies it into
// its pods' batch.kubernetes.io/job-name label, whose values are limited
// to 63 characters too.
const maxNameLen = validation.DNS1123LabelMaxLength

// hashLen is the length of the hash suffix of a rewritten name.
const hashLen = 8

// JobName returns the Kubernetes name of the Job (and of its Secret) of a
// handle name: the name itself when it is already a DNS-1123 label of at
// most 63 characters; otherwise the name lowercased, with every character
// outside [a-z0-9-] replaced by '-', cut to fit, and followed by '-' and
// the first 8 hex digits of the SHA-256 of the original name. So
// "jetrun-01JDQ4ZK_x-a1" becomes "jetrun-01jdq4zk-x-a1-" + hash: distinct
// handle names (which may differ only in case) never share a Job, and any
// runtime instance derives the same name. An empty name is ErrInvalidSpec.
func JobName(handleName string) (string, error) {
	if handleName == "" {
		return "", fmt.Errorf("%w: empty handle name", runtimes.ErrInvalidSpec)
	}
	if len(validation.IsDNS1123Label(handleName)) == 0 {
		return handleName, nil
	}
	return rewrite(handleName, maxNameLen, dnsLabelChar, false), nil
}

// labelValue returns v if it is a valid label value, else a rewritten one
// (see JobName; case and '_' and '.' are kept, since label values allow
// them).
func labelValue(v string) string {
	if len(validation.IsValidLabelValue(v)) == 0 {
		return v
	}
	return rewrite(v, validation.LabelValueMaxLength, labelValueChar, true)
}

func dnsLabelChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-'
}

func labelValueChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// rewrite maps s onto the characters ok allows, cuts it so that the hash
// suffix fits in max, and appends "-" + the hash of s. The result starts
// and ends with an alphanumeric character.
func rewrite(s string, max int, ok func(rune) bool, keepCase bool) string {
	sum := sha256.Sum256([]byte(s))
	suffix := hex.EncodeToString(sum[:])[:hashLen]
	if !keepCase {
		s = strings.ToLower(s)
	}
	var b strings.Builder
	for _, r := range s {
		if ok(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	p := b.String()
	if len(p) > max-hashLen-1 {
		p = p[:max-hashLen-1]
	}
	// Start with an alphanumeric character (the hash, hex, ends with
	// one) and join the hash with a single '-'.
	p = strings.Trim(p, "-_.")
	if p == "" {
		return suffix
	}
	return p + "-" + suffix
}
