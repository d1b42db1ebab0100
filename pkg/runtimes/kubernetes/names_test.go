package kubernetes

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/jetrun/jetrun/pkg/runtimes"
)

func TestJobName(t *testing.T) {
	long := runtimes.HandleName(strings.Repeat("a", 64), 12)
	for _, tc := range []struct {
		handle string
		want   string // "" : rewritten, checked for shape only
	}{
		{"jetrun-rt0123abcd-a1", "jetrun-rt0123abcd-a1"},
		{runtimes.HandleName("01JDQ4ZK9B6V7W8X9Y0Z1A2B3C", 1), ""},
		{runtimes.HandleName("with_underscore", 2), ""},
		{long, ""},
		{runtimes.HandleName(strings.Repeat("x", 56), 1), ""}, // 66 characters
		{"_-_", ""},
		{"Ünïcode-name", ""},
	} {
		got, err := JobName(tc.handle)
		if err != nil {
			t.Fatalf("JobName(%q): %v", tc.handle, err)
		}
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("JobName(%q) = %q: %v", tc.handle, got, errs)
		}
		if tc.want != "" && got != tc.want {
			t.Errorf("JobName(%q) = %q, want %q", tc.handle, got, tc.want)
		}
		if tc.want == "" && got == tc.handle {
			t.Errorf("JobName(%q) kept an invalid name", tc.handle)
		}
		again, _ := JobName(tc.handle)
		if again != got {
			t.Errorf("JobName(%q) not deterministic: %q, %q", tc.handle, got, again)
		}
	}
	// Readable: the rewritten name keeps the handle's lowercased prefix.
	if got, _ := JobName(runtimes.HandleName("01JDQ4ZK9B6V7W8X9Y0Z1A2B3C", 1)); !strings.HasPrefix(got, "jetrun-01jdq4zk9b6v7w8x9y0z1a2b3c-a1-") || len(got) != len("jetrun-01jdq4zk9b6v7w8x9y0z1a2b3c-a1-")+hashLen {
		t.Errorf("ULID handle → %q", got)
	}
	if got, _ := JobName(long); len(got) != 63 {
		t.Errorf("long handle → %q (%d characters), want 63", got, len(got))
	}
	// Handles that differ only in case, or in '_' versus '-', differ.
	a, _ := JobName("jetrun-Ab-a1")
	b, _ := JobName("jetrun-aB-a1")
	c, _ := JobName("jetrun-a_b-a1")
	d, _ := JobName("jetrun-a-b-a1")
	if a == b || c == d {
		t.Errorf("collisions: %q %q, %q %q", a, b, c, d)
	}
	if _, err := JobName(""); !errors.Is(err, runtimes.ErrInvalidSpec) {
		t.Errorf("JobName(\"\") error = %v, want ErrInvalidSpec", err)
	}
}

func TestLabelValue(t *testing.T) {
	for _, v := range []string{"01JDQ4ZK9B6V7W8X9Y0Z1A2B3C", "a_b.c-D", "trailing_", "-lead", strings.Repeat("A", 64), "with space", ""} {
		got := labelValue(v)
		if errs := validation.IsValidLabelValue(got); len(errs) > 0 {
			t.Errorf("labelValue(%q) = %q: %v", v, got, errs)
		}
		if len(validation.IsValidLabelValue(v)) == 0 && got != v {
			t.Errorf("labelValue(%q) = %q changed a valid value", v, got)
		}
	}
}
