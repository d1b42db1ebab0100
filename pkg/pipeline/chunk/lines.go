package chunk

import (
	"bytes"
	"sort"
	"unicode/utf8"
)

// unit is a run of lines that belongs together: a declaration, a section, a
// gap between them. kids, sorted and within the unit, are where an
// oversized unit is split (a class's members, a section's subsections);
// a unit without kids is line-packed when it is over the budget.
type unit struct {
	start, end int // 0-based line indexes, inclusive
	sym        string
	kids       []unit
}

// file is the line model shared by every chunker. A line's content
// excludes its terminator ("\n" or "\r\n"); the empty remainder after a
// final "\n" is not a line.
type file struct {
	data     []byte
	start    []int  // start[i]: offset of line i
	end      []int  // end[i]: offset just past line i's content
	blank    []bool // line i is empty or white space only
	penalty  []int  // optional, per line: cost of starting a packed chunk there
	budget   int    // bytes
	min      int    // bytes; smaller chunks merge with a sibling
	nonBlank int
}

func newFile(data []byte, budget, min int) *file {
	n := bytes.Count(data, []byte{'\n'})
	if len(data) > 0 && data[len(data)-1] != '\n' {
		n++
	}
	f := &file{
		data:   data,
		start:  make([]int, 0, n),
		end:    make([]int, 0, n),
		blank:  make([]bool, 0, n),
		budget: budget,
		min:    min,
	}
	for off := 0; off < len(data); {
		nl := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		e := len(data)
		if nl >= 0 {
			e = off + nl
			next = e + 1
			if e > off && data[e-1] == '\r' {
				e--
			}
		}
		b := isBlank(data[off:e])
		if !b {
			f.nonBlank++
		}
		f.start = append(f.start, off)
		f.end = append(f.end, e)
		f.blank = append(f.blank, b)
		off = next
	}
	return f
}

func isBlank(line []byte) bool {
	for _, c := range line {
		switch c {
		case ' ', '\t', '\r', '\v', '\f':
		default:
			return false
		}
	}
	return true
}

func (f *file) lines() int       { return len(f.start) }
func (f *file) hasContent() bool { return f.nonBlank > 0 }

// size is the length in bytes of the text of lines a..b.
func (f *file) size(a, b int) int { return f.end[b] - f.start[a] }

func (f *file) text(a, b int) string { return string(f.data[f.start[a]:f.end[b]]) }

// lineAt returns the line holding byte offset off (clamped to the file).
func (f *file) lineAt(off int) int {
	i := sort.Search(len(f.start), func(i int) bool { return f.start[i] > off }) - 1
	return max(0, min(i, len(f.start)-1))
}

// span returns the lines of the byte range [from, to), to > from.
func (f *file) span(from, to int) (a, b int) {
	if to <= from {
		to = from + 1
	}
	return f.lineAt(from), f.lineAt(to - 1)
}

// trim narrows a..b to its first and last non-blank lines.
func (f *file) trim(a, b int) (int, int, bool) {
	for a <= b && f.blank[a] {
		a++
	}
	for b >= a && f.blank[b] {
		b--
	}
	return a, b, a <= b
}

// fill returns the units that partition lines a..b: kids, clipped and made
// disjoint (a kid that starts on a line an earlier kid ends on starts one
// line later; one left empty is dropped), and the gaps between them, which
// belong to sym.
func (f *file) fill(a, b int, sym string, kids []unit) []unit {
	out := make([]unit, 0, 2*len(kids)+1)
	next := a // first line not yet assigned
	for _, k := range kids {
		k.start = max(k.start, next)
		k.end = min(k.end, b)
		if k.start > k.end {
			continue
		}
		if k.start > next {
			out = append(out, unit{start: next, end: k.start - 1, sym: sym})
		}
		out = append(out, k)
		next = k.end + 1
	}
	if next <= b {
		out = append(out, unit{start: next, end: b, sym: sym})
	}
	return out
}

// piece is a chunk in the making.
type piece struct {
	start, end int
	sym        string
	symSize    int  // size of the unit sym comes from
	sealed     bool // cut from a larger unit: merges only with a small leaf
}

// emit appends the pieces of units, which are sorted and disjoint. A unit
// that fits the budget is one piece, a leaf. A larger unit is split at its
// kids, recursively, or else line-packed, into sealed pieces. Each piece
// is merged into the one before it (add) when one of them is small.
func (f *file) emit(units []unit, out []piece) []piece {
	for _, u := range units {
		a, b, ok := f.trim(u.start, u.end)
		if !ok {
			continue
		}
		if f.size(a, b) <= f.budget {
			out = f.add(out, piece{start: a, end: b, sym: u.sym, symSize: f.size(a, b)})
			continue
		}
		var sub []piece
		if len(u.kids) > 0 {
			sub = f.emit(f.fill(a, b, u.sym, u.kids), nil)
		} else {
			sub = f.pack(a, b, u.sym, nil)
		}
		for _, p := range sub {
			p.sealed = true
			out = f.add(out, p)
		}
	}
	return out
}

// add appends p to out, merged into out's last piece when the two fit the
// budget together and one of them is smaller than f.min (for a sealed
// piece and a leaf: the leaf; two sealed pieces never merge). A merged
// piece's symbol is that of its largest part with a symbol.
func (f *file) add(out []piece, p piece) []piece {
	if len(out) == 0 {
		return append(out, p)
	}
	last := &out[len(out)-1]
	if f.size(last.start, p.end) > f.budget {
		return append(out, p)
	}
	lastSmall := !last.sealed && f.size(last.start, last.end) < f.min
	pSmall := !p.sealed && f.size(p.start, p.end) < f.min
	if !(lastSmall || pSmall) || (last.sealed && p.sealed) {
		return append(out, p)
	}
	if p.sym != "" && (last.sym == "" || p.symSize > last.symSize) {
		last.sym, last.symSize = p.sym, p.symSize
	}
	last.end = p.end
	last.sealed = last.sealed || p.sealed
	return out
}

// chunks turns pieces into chunks.
func (f *file) chunks(ps []piece) []Chunk {
	out := make([]Chunk, 0, len(ps))
	for _, p := range ps {
		if f.size(p.start, p.end) > f.budget { // one over-long line
			out = f.splitLine(p.start, p.sym, out)
			continue
		}
		out = append(out, Chunk{StartLine: p.start + 1, EndLine: p.end + 1, Symbol: p.sym, Text: f.text(p.start, p.end)})
	}
	return out
}

// pack appends lines a..b (trimmed, over the budget) as pieces of whole
// lines, each within the budget but for a line longer than the budget on
// its own, which chunks cuts by characters. Each cut is chosen among the
// lines that leave a piece of at least half the balanced size (the
// remaining lines divided evenly): the cheapest by breakCost, the closest
// to the balanced size on a tie.
func (f *file) pack(a, b int, sym string, out []piece) []piece {
	for {
		var ok bool
		if a, b, ok = f.trim(a, b); !ok {
			return out
		}
		if f.size(a, b) <= f.budget || f.size(a, a) > f.budget {
			e := b
			if f.size(a, b) > f.budget {
				e = a
			}
			out = append(out, piece{start: a, end: e, sym: sym, symSize: f.size(a, e)})
			if e == b {
				return out
			}
			a = e + 1
			continue
		}
		e := a // the last line that fits
		for e < b && f.size(a, e+1) <= f.budget {
			e++
		}
		rest := f.size(a, b)
		n := (rest + f.budget - 1) / f.budget
		target := rest / n
		best, bestCost, bestDist := e, -1, 0
		for k := e; k >= a; k-- {
			if f.blank[k] {
				continue
			}
			sz := f.size(a, k)
			if sz < target/2 && bestCost >= 0 {
				break
			}
			cost := f.breakCost(k, b)
			dist := abs(sz - target)
			if bestCost < 0 || cost < bestCost || (cost == bestCost && dist < bestDist) {
				best, bestCost, bestDist = k, cost, dist
			}
		}
		out = append(out, piece{start: a, end: best, sym: sym, symSize: f.size(a, best)})
		a = best + 1
	}
}

// breakCost rates a cut after line k (non-blank) in a..b: cheap where the
// next line is little indented and a blank line separates the two. A next
// line that closes a block counts as indented deeper than the block's
// body, so it stays with the block; so does a line that only opens one
// ("{" under a C function's signature), so it stays with its header.
func (f *file) breakCost(k, b int) int {
	j := f.nextNonBlank(k+1, b)
	if j > b {
		return 0
	}
	ind := f.indent(j)
	switch {
	case f.closes(j):
		ind = max(ind, f.indent(k)) + 1
	case f.onlyOpens(j):
		if body := f.nextNonBlank(j+1, b); body <= b {
			ind = max(ind, f.indent(body))
		}
		ind++
	}
	cost := 2 * min(ind, 64)
	if j == k+1 {
		cost += 3
	}
	if f.penalty != nil {
		cost += f.penalty[j]
	}
	return cost
}

// indent is the width of line i's leading white space, tabs to multiples of 4.
func (f *file) indent(i int) int {
	w := 0
	for _, c := range f.data[f.start[i]:f.end[i]] {
		switch c {
		case ' ':
			w++
		case '\t':
			w += 4 - w%4
		default:
			return w
		}
	}
	return w
}

func (f *file) nextNonBlank(i, b int) int {
	for i <= b && f.blank[i] {
		i++
	}
	return i
}

// onlyOpens reports whether line i is a lone opening bracket.
func (f *file) onlyOpens(i int) bool {
	line := bytes.TrimSpace(f.data[f.start[i]:f.end[i]])
	return len(line) == 1 && (line[0] == '{' || line[0] == '(' || line[0] == '[')
}

// closes reports whether line i starts by closing a block.
func (f *file) closes(i int) bool {
	line := bytes.TrimLeft(f.data[f.start[i]:f.end[i]], " \t")
	if len(line) == 0 {
		return false
	}
	switch line[0] {
	case '}', ')', ']':
		return true
	}
	return bytes.HasPrefix(line, []byte("end")) && (len(line) == 3 || !isWordByte(line[3]))
}

func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c >= utf8.RuneSelf
}

// splitLine appends line i, longer than the budget, as pieces of at most
// f.budget bytes cut at rune boundaries, after white space where there is
// some in the second half of a piece. Every piece records line i.
func (f *file) splitLine(i int, sym string, out []Chunk) []Chunk {
	line := f.data[f.start[i]:f.end[i]]
	for len(line) > 0 {
		cut := len(line)
		if cut > f.budget {
			cut = f.budget
			for cut > 0 && !utf8.RuneStart(line[cut]) {
				cut--
			}
			if cut == 0 { // not UTF-8: any byte boundary will do
				cut = f.budget
			}
			for ws := cut; ws > f.budget/2; ws-- {
				if c := line[ws-1]; c == ' ' || c == '\t' {
					cut = ws
					break
				}
			}
		}
		out = append(out, Chunk{StartLine: i + 1, EndLine: i + 1, Symbol: sym, Text: string(line[:cut])})
		line = line[cut:]
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
