package chunk

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestSamplesAllBudgets checks the guarantees on every sample at budgets
// from absurdly small to larger than the file, with and without merging.
func TestSamplesAllBudgets(t *testing.T) {
	for _, s := range samples {
		t.Run(s.lang, func(t *testing.T) {
			for maxTok := 1; maxTok <= 700; maxTok += 1 + maxTok/4 {
				for _, minTok := range []int{0, -1, maxTok} {
					checkSplit(t, s.path, s.lang, []byte(s.src), Options{MaxTokens: maxTok, MinTokens: minTok})
				}
			}
		})
	}
}

// TestGolden pins Split's output outline (lines and symbols) for every
// sample at the default budget and at one that splits classes into
// members. A change here changes the chunks in users' collections: bump
// Version. Run with -update to rewrite.
func TestGolden(t *testing.T) {
	var b strings.Builder
	for _, s := range samples {
		for _, opt := range []Options{{}, {MaxTokens: 48}} {
			fmt.Fprintf(&b, "## %s %+v\n%s\n", s.path, opt, outline(checkSplit(t, s.path, s.lang, []byte(s.src), opt)))
		}
	}
	name := "outlines.golden"
	if !syntaxAware("python") {
		name = "outlines_nocgo.golden"
	}
	golden := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("outlines differ from %s (run with -update and review the diff):\n%s", golden, got)
	}
}

func TestEmptyAndBlank(t *testing.T) {
	for _, in := range []string{"", "\n", "  \n\t\n\r\n", "   "} {
		if got := Split("a.go", "", []byte(in), Options{}); got != nil {
			t.Errorf("Split(%q) = %v, want nil", in, got)
		}
	}
}

// TestMergeSmallDeclarations: tiny declarations share a chunk, named
// after the largest; one that reaches MinTokens stands alone.
func TestMergeSmallDeclarations(t *testing.T) {
	src := `package p

const A = 1

func Small() {}

// Bigger has the longest body of the three small ones.
func Bigger() int { return A + A }

func Large() {
	` + strings.Repeat("println(\"a line of filler\")\n\t", 6) + `
}
`
	got := outline(checkSplit(t, "p.go", "go", []byte(src), Options{MaxTokens: 100, MinTokens: 30}))
	want := "1-8 Bigger\n10-18 Large\n"
	if got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
	got = outline(checkSplit(t, "p.go", "go", []byte(src), Options{MaxTokens: 100, MinTokens: -1}))
	want = "1-1 \n3-3 A\n5-5 Small\n7-8 Bigger\n10-18 Large\n"
	if got != want {
		t.Errorf("without merging: got\n%swant\n%s", got, want)
	}
}

// TestOversizedKeepsSymbol: a function over the budget becomes several
// chunks, each named after it, cut at statement boundaries.
func TestOversizedKeepsSymbol(t *testing.T) {
	var body strings.Builder
	for i := range 40 {
		fmt.Fprintf(&body, "\tif x > %d {\n\t\tx -= %d\n\t}\n", i, i)
	}
	src := "package p\n\nfunc (s *Server) Handle(x int) int {\n" + body.String() + "\treturn x\n}\n"
	chunks := checkSplit(t, "p.go", "go", []byte(src), Options{MaxTokens: 100})
	if len(chunks) < 4 {
		t.Fatalf("%d chunks, want the function split", len(chunks))
	}
	for _, c := range chunks[1:] {
		if c.Symbol != "Server.Handle" {
			t.Errorf("chunk %d-%d: symbol %q", c.StartLine, c.EndLine, c.Symbol)
		}
		if first := strings.TrimSpace(strings.SplitN(c.Text, "\n", 2)[0]); first != "func (s *Server) Handle(x int) int {" && !strings.HasPrefix(first, "if x >") {
			t.Errorf("chunk %d-%d starts mid-statement: %q", c.StartLine, c.EndLine, first)
		}
	}
}

// TestLongLine: a line over the budget is cut by characters, at rune
// boundaries, preferably after a space; every piece records that line.
func TestLongLine(t *testing.T) {
	long := strings.Repeat("héllo wörld ", 40) + strings.Repeat("€", 100)
	src := "first line\n" + long + "\nlast line\n"
	opt := Options{MaxTokens: 20}
	chunks := checkSplit(t, "x.txt", "text", []byte(src), opt)
	var pieces []string
	for _, c := range chunks {
		if c.StartLine == 2 {
			if c.EndLine != 2 {
				t.Errorf("piece spans lines %d-%d", c.StartLine, c.EndLine)
			}
			if !utf8.ValidString(c.Text) {
				t.Errorf("piece %q is not valid UTF-8", c.Text)
			}
			pieces = append(pieces, c.Text)
		}
	}
	if len(pieces) < len(long)/60 {
		t.Fatalf("%d pieces", len(pieces))
	}
	if !strings.HasSuffix(pieces[0], " ") {
		t.Errorf("first piece %q not cut after a space", pieces[0])
	}
	if chunks[0].Text != "first line" || chunks[len(chunks)-1].Text != "last line" {
		t.Errorf("neighbours: %q, %q", chunks[0].Text, chunks[len(chunks)-1].Text)
	}
}

// TestCRLF: texts hold the exact bytes, "\r\n" inside and no terminator
// at the end.
func TestCRLF(t *testing.T) {
	src := "package p\r\n\r\nfunc A() {\r\n\treturn\r\n}\r\n"
	chunks := checkSplit(t, "p.go", "go", []byte(src), Options{MinTokens: -1})
	if len(chunks) != 2 || chunks[1].Text != "func A() {\r\n\treturn\r\n}" || chunks[1].StartLine != 3 {
		t.Errorf("chunks %+v", chunks)
	}
}

// TestGoFallback: a Go file that does not parse is still chunked whole.
func TestGoFallback(t *testing.T) {
	src := "package p\n\nfunc A( {\n\tbroken\n}\n\nfunc B() {}\n"
	chunks := checkSplit(t, "p.go", "go", []byte(src), Options{MaxTokens: 8, MinTokens: -1})
	for _, c := range chunks {
		if c.Symbol != "" {
			t.Errorf("packed chunk %d-%d has symbol %q", c.StartLine, c.EndLine, c.Symbol)
		}
	}
}

// TestGoLineDirective: //line directives do not move chunk lines.
func TestGoLineDirective(t *testing.T) {
	src := "package p\n\n//line other.go:1000\nfunc A() {}\n\nfunc B() {\n\tprintln()\n}\n"
	got := outline(checkSplit(t, "p.go", "go", []byte(src), Options{MinTokens: -1}))
	if want := "1-1 \n3-4 A\n6-8 B\n"; got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}

// TestPackerBreaks: the packer cuts at blank lines and shallow
// indentation, and keeps a closing bracket with its block.
func TestPackerBreaks(t *testing.T) {
	src := `server:
  host: localhost
  port: 8080
  tls:
    cert: /etc/cert.pem
    key: /etc/key.pem

database:
  url: postgres://db
  pool:
    min: 1
    max: 10

logging:
  level: info
`
	for _, tc := range []struct {
		maxTokens int
		want      string
	}{
		{40, "1-6 \n8-15 \n"},
		{28, "1-3 \n4-6 \n8-12 \n14-15 \n"},
	} {
		got := outline(checkSplit(t, "c.yaml", "yaml", []byte(src), Options{MaxTokens: tc.maxTokens, MinTokens: -1}))
		if got != tc.want {
			t.Errorf("yaml, %d tokens: got\n%swant\n%s", tc.maxTokens, got, tc.want)
		}
	}
	js := "{\n  \"a\": [\n    1,\n    2\n  ],\n  \"b\": {\n    \"c\": 3\n  }\n}\n"
	for _, c := range checkSplit(t, "x.json", "json", []byte(js), Options{MaxTokens: 10}) {
		if strings.HasPrefix(strings.TrimSpace(c.Text), "]") || strings.HasPrefix(strings.TrimSpace(c.Text), "}") && c.StartLine != c.EndLine {
			t.Errorf("chunk %d-%d starts with a closing bracket: %q", c.StartLine, c.EndLine, c.Text)
		}
	}
}

// TestConcurrent runs Split on every sample from several goroutines; the
// results match a sequential run (and -race watches the parser pools).
func TestConcurrent(t *testing.T) {
	want := make([]string, len(samples))
	for i, s := range samples {
		want[i] = outline(Split(s.path, s.lang, []byte(s.src), Options{MaxTokens: 40}))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for r := range 20 {
				i := (g + r) % len(samples)
				s := samples[i]
				if got := outline(Split(s.path, s.lang, []byte(s.src), Options{MaxTokens: 40})); got != want[i] {
					t.Errorf("%s: concurrent result differs:\n%s\nwant\n%s", s.lang, got, want[i])
				}
			}
		})
	}
	wg.Wait()
}

func TestOptionsLimits(t *testing.T) {
	for _, tc := range []struct {
		opt         Options
		budget, min int
	}{
		{Options{}, 1536, 192},
		{Options{MaxTokens: 100}, 300, 36},
		{Options{MaxTokens: 100, MinTokens: -1}, 300, 0},
		{Options{MaxTokens: 100, MinTokens: 500}, 300, 300},
		{Options{MaxTokens: 1}, 6, 0},
		{Options{MaxTokens: -5}, 6, 0},
	} {
		if b, m := tc.opt.limits(); b != tc.budget || m != tc.min {
			t.Errorf("%+v: budget %d, min %d; want %d, %d", tc.opt, b, m, tc.budget, tc.min)
		}
	}
}
