package qdrantstore

import (
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/google/uuid"
)

func TestUUID5(t *testing.T) {
	tests := []struct {
		ns, name, want string
	}{
		// Python: uuid.uuid5(uuid.NAMESPACE_DNS, "www.example.com")
		{"6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com", "2ed6657d-e927-568b-95e1-2665a8aea6a2"},
		// How Namespace is derived: the URL namespace and jetrun's URL.
		{"6ba7b811-9dad-11d1-80b4-00c04fd430c8", "https://github.com/jetrun/jetrun", Namespace},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := uuid5(uuid.MustParse(tt.ns), tt.name); got != tt.want {
				t.Errorf("uuid5(%s, %q) = %s, want %s", tt.ns, tt.name, got, tt.want)
			}
		})
	}
}

var canonical = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestPointID(t *testing.T) {
	a := PointID("https://github.com/x/y", "main.go", "c0ffee", "0", "chunker/v1")
	if a != PointID("https://github.com/x/y", "main.go", "c0ffee", "0", "chunker/v1") {
		t.Error("PointID is not deterministic")
	}
	if !canonical.MatchString(a) {
		t.Errorf("PointID = %q, not a canonical lowercase UUIDv5", a)
	}
	distinct := map[string][]string{}
	for _, parts := range [][]string{
		{"src", "main.go", "h", "0"},
		{"src", "main.go", "h", "1"},
		{"src", "main.go", "h0"},
		{"src", "main.goh", "0"},
		{"srcmain.go", "h", "0"},
		{"src", "main.go", "h", "0", ""},
		{},
	} {
		id := PointID(parts...)
		if prev, dup := distinct[id]; dup {
			t.Errorf("PointID(%q) = PointID(%q) = %s", parts, prev, id)
		}
		distinct[id] = parts
	}
}

func TestParseUUID(t *testing.T) {
	for _, ok := range []string{"2ed6657d-e927-568b-95e1-2665a8aea6a2", "2ED6657D-E927-568B-95E1-2665A8AEA6A2"} {
		c, err := canonicalID(ok)
		if err != nil || c != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
			t.Errorf("canonicalID(%q) = %q, %v", ok, c, err)
		}
	}
	for _, bad := range []string{"", "42", "2ed6657de927568b95e12665a8aea6a2", "2ed6657d-e927-568b-95e1-2665a8aea6ag", "{2ed6657d-e927-568b-95e1-2665a8aea6a}"} {
		if _, err := canonicalID(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("canonicalID(%q) err = %v, want ErrInvalid", bad, err)
		}
	}
}

// The same ID in Python: uuid.uuid5(uuid.UUID(Namespace), "\x00".join(parts)).
func ExamplePointID() {
	fmt.Println(PointID("https://github.com/jetrun/jetrun", "README.md", "sha256:9f86d0", "0", "markdown/1"))
	// Output: f36a0b71-e325-5554-84ea-8f76fc0a95c3
}
