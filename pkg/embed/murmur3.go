package embed

import "math/bits"

// murmur3x86_32 is Austin Appleby's MurmurHash3_x86_32, the function
// behind Python's mmh3.hash (which returns it as a signed int32). It is
// written out here rather than taken from github.com/spaolacci/murmur3,
// whose Sum32 converts a uintptr back to an unsafe.Pointer and so aborts
// under -race (checkptr). It is pinned by SMHasher's verification value
// and published mmh3 results (bm25_test.go), and compared with that
// package in murmur3_norace_test.go.
func murmur3x86_32[T ~string | ~[]byte](data T, seed uint32) uint32 {
	const c1, c2 = 0xcc9e2d51, 0x1b873593
	h := seed
	n := len(data) &^ 3
	for i := 0; i < n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
		h = bits.RotateLeft32(h, 13)
		h = h*5 + 0xe6546b64
	}
	var k uint32
	switch len(data) & 3 {
	case 3:
		k ^= uint32(data[n+2]) << 16
		fallthrough
	case 2:
		k ^= uint32(data[n+1]) << 8
		fallthrough
	case 1:
		k ^= uint32(data[n])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
	}
	h ^= uint32(len(data))
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
