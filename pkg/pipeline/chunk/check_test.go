package chunk

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// testLine is a line of a file as the guarantees define it: its content
// without the "\n" or "\r\n" terminator.
type testLine struct{ from, to int }

func splitTestLines(data []byte) []testLine {
	var out []testLine
	for off := 0; off < len(data); {
		end, next := len(data), len(data)
		if i := bytes.IndexByte(data[off:], '\n'); i >= 0 {
			end, next = off+i, off+i+1
			if end > off && data[end-1] == '\r' {
				end--
			}
		}
		out = append(out, testLine{off, end})
		off = next
	}
	return out
}

// verify checks Split's guarantees: chunks in order and disjoint, each
// within the budget, each Text the exact lines it claims (or, for pieces
// of one over-long line, pieces that concatenate to the line), and every
// non-blank line in exactly one chunk.
func verify(data []byte, chunks []Chunk, opt Options) error {
	budget, _ := opt.limits()
	lines := splitTestLines(data)
	covered := make([]int, len(lines))
	var pieces []string // consecutive single-line chunks of one line
	pieceLine := 0
	endPieces := func() error {
		if len(pieces) == 0 {
			return nil
		}
		l := lines[pieceLine-1]
		if got, want := strings.Join(pieces, ""), string(data[l.from:l.to]); got != want {
			return fmt.Errorf("line %d: chunks hold %q, the line is %q", pieceLine, trunc(got), trunc(want))
		}
		covered[pieceLine-1]++
		pieces = pieces[:0]
		return nil
	}
	prevEnd := 0
	for i, c := range chunks {
		if c.StartLine < 1 || c.StartLine > c.EndLine || c.EndLine > len(lines) {
			return fmt.Errorf("chunk %d: lines %d-%d of %d", i, c.StartLine, c.EndLine, len(lines))
		}
		if len(c.Text) > budget {
			return fmt.Errorf("chunk %d (lines %d-%d): %d bytes, budget %d", i, c.StartLine, c.EndLine, len(c.Text), budget)
		}
		if c.Text == "" {
			return fmt.Errorf("chunk %d (lines %d-%d): empty", i, c.StartLine, c.EndLine)
		}
		if c.StartLine == c.EndLine && len(pieces) > 0 && c.StartLine == pieceLine {
			pieces = append(pieces, c.Text)
			continue
		}
		if err := endPieces(); err != nil {
			return err
		}
		if c.StartLine <= prevEnd {
			return fmt.Errorf("chunk %d (lines %d-%d) overlaps the previous one (ending at %d)", i, c.StartLine, c.EndLine, prevEnd)
		}
		prevEnd = c.EndLine
		first, last := lines[c.StartLine-1], lines[c.EndLine-1]
		if c.StartLine == c.EndLine {
			pieces, pieceLine = append(pieces, c.Text), c.StartLine
			continue
		}
		if want := string(data[first.from:last.to]); c.Text != want {
			return fmt.Errorf("chunk %d (lines %d-%d): text %q, the lines are %q", i, c.StartLine, c.EndLine, trunc(c.Text), trunc(want))
		}
		if isBlank(data[first.from:first.to]) || isBlank(data[last.from:last.to]) {
			return fmt.Errorf("chunk %d (lines %d-%d) starts or ends with a blank line", i, c.StartLine, c.EndLine)
		}
		for l := c.StartLine; l <= c.EndLine; l++ {
			covered[l-1]++
		}
	}
	if err := endPieces(); err != nil {
		return err
	}
	for i, l := range lines {
		if n := covered[i]; n != 1 && !isBlank(data[l.from:l.to]) {
			return fmt.Errorf("line %d (%q) is in %d chunks", i+1, trunc(string(data[l.from:l.to])), n)
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:40] + "…" + s[len(s)-40:]
	}
	return s
}

// checkSplit runs Split and verify, failing t on a broken guarantee.
func checkSplit(t testing.TB, path, lang string, data []byte, opt Options) []Chunk {
	t.Helper()
	chunks := Split(path, lang, data, opt)
	if err := verify(data, chunks, opt); err != nil {
		t.Fatalf("%s (%s, %+v): %v", path, lang, opt, err)
	}
	return chunks
}

// outline renders chunks as "start-end symbol" lines, for comparisons.
func outline(chunks []Chunk) string {
	var b strings.Builder
	for _, c := range chunks {
		fmt.Fprintf(&b, "%d-%d %s\n", c.StartLine, c.EndLine, c.Symbol)
	}
	return b.String()
}
