package chunk

import "testing"

// fuzzLangs are the chunkers the fuzzer picks from.
var fuzzLangs = []string{"go", "python", "javascript", "typescript", "tsx", "java", "rust", "c", "cpp", "markdown", "yaml", ""}

// FuzzSplit: for any bytes, any chunker and any budget, Split does not
// panic and keeps its guarantees.
func FuzzSplit(f *testing.F) {
	for i, s := range samples {
		f.Add([]byte(s.src), uint8(i), uint16(48), int16(0))
	}
	f.Add([]byte("a\r\n\r\nb\rc\n\xff\xfe\n"), uint8(0), uint16(2), int16(-1))
	f.Add([]byte("class A {\n  void f() {\n}\n"), uint8(7), uint16(5), int16(3))
	f.Add([]byte("# A\n```\n# B\n```\nSetext\n---\n"), uint8(9), uint16(3), int16(0))
	f.Fuzz(func(t *testing.T, data []byte, lang uint8, maxTokens uint16, minTokens int16) {
		opt := Options{MaxTokens: int(maxTokens % 2048), MinTokens: int(minTokens)}
		l := fuzzLangs[int(lang)%len(fuzzLangs)]
		if err := verify(data, Split("fuzz", l, data, opt), opt); err != nil {
			t.Fatalf("%s %+v: %v", l, opt, err)
		}
	})
}
