package chunk

import (
	"os"
	"strings"
	"testing"
)

// BenchmarkSplit chunks real and synthetic corpora; MB/s is input bytes,
// chunks/s is output.
func BenchmarkSplit(b *testing.B) {
	type input struct {
		path string
		data []byte
	}
	load := func(b *testing.B, dir string, exts ...string) []input {
		var in []input
		for _, cf := range corpus(b, dir, exts...) {
			data, err := os.ReadFile(cf.path)
			if err != nil {
				b.Fatal(err)
			}
			in = append(in, input{cf.path, data})
		}
		return in
	}
	repeat := func(lang string, n int) []input {
		for _, s := range samples {
			if s.lang == lang {
				return []input{{s.path, []byte(strings.Repeat(s.src+"\n", n))}}
			}
		}
		b.Fatalf("no %s sample", lang)
		return nil
	}
	for _, bc := range []struct {
		name string
		in   func(*testing.B) []input
	}{
		{"go/net", func(b *testing.B) []input { return load(b, "net", ".go") }},
		{"c/goroot", func(b *testing.B) []input { return load(b, "", ".c", ".h") }},
		{"python/sample-x200", func(*testing.B) []input { return repeat("python", 200) }},
		{"typescript/sample-x200", func(*testing.B) []input { return repeat("typescript", 200) }},
		{"markdown/goroot", func(b *testing.B) []input { return load(b, "", ".md") }},
		{"text/goroot-txt", func(b *testing.B) []input { return load(b, "cmd/go/testdata/script", ".txt") }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := bc.in(b)
			var size int64
			for _, f := range in {
				size += int64(len(f.data))
			}
			b.SetBytes(size)
			chunks := 0
			for b.Loop() {
				for _, f := range in {
					chunks += len(Split(f.path, "", f.data, Options{}))
				}
			}
			b.ReportMetric(float64(chunks)/b.Elapsed().Seconds(), "chunks/s")
			b.ReportMetric(float64(chunks)/float64(b.N), "chunks/op")
		})
	}
}
