//go:build !race

// github.com/spaolacci/murmur3 aborts under -race (checkptr), hence the
// build constraint.

package embed

import (
	"math/rand/v2"
	"testing"

	"github.com/spaolacci/murmur3"
)

// TestMurmur3AgainstLibrary compares murmur3x86_32 with an independent
// implementation over random inputs of every length up to 64 bytes.
func TestMurmur3AgainstLibrary(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 64)
	for i := range 20000 {
		b := buf[:i%65]
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		seed := r.Uint32()
		if got, want := murmur3x86_32(b, seed), murmur3.Sum32WithSeed(b, seed); got != want {
			t.Fatalf("murmur3x86_32(%x, %d) = %#x, library %#x", b, seed, got, want)
		}
		if got, want := murmur3x86_32(string(b), seed), murmur3.Sum32WithSeed(b, seed); got != want {
			t.Fatalf("string form differs for %x", b)
		}
	}
}
