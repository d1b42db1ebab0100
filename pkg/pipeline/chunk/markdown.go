package chunk

import (
	"bytes"
	"strings"
)

// fencePenalty is added to the cost of starting a packed chunk inside a
// fenced code block (or front matter), so a large section is cut between
// blocks rather than through one.
const fencePenalty = 40

// markdownUnits returns a Markdown file's sections: each ATX (# Title) or
// setext (Title / ===) heading with the lines up to the next heading of
// the same or a higher level, its subsections as kids. Lines in fenced
// code blocks (``` or ~~~) and in front matter are never headings. The
// symbol is the heading path, "Install > From source".
func markdownUnits(f *file) []unit {
	f.penalty = make([]int, f.lines())
	type heading struct {
		line, level int
		title       string
	}
	var heads []heading
	var fence []byte  // the opening fence while inside a fenced block
	prevPara := false // the previous line can be a setext heading's text
	i := 0
	if end := frontMatterEnd(f); end > 0 {
		for ; i <= end; i++ {
			f.penalty[i] = fencePenalty
		}
	}
	for ; i < f.lines(); i++ {
		line := f.data[f.start[i]:f.end[i]]
		if fence != nil {
			f.penalty[i] = fencePenalty
			if closesFence(line, fence) {
				fence = nil
			}
			prevPara = false
			continue
		}
		if open := openingFence(line); open != nil {
			fence = open
			prevPara = false
			continue
		}
		if level, title, ok := atxHeading(line); ok {
			heads = append(heads, heading{line: i, level: level, title: title})
			prevPara = false
			continue
		}
		if prevPara {
			if level, ok := setextUnderline(line); ok {
				prev := f.data[f.start[i-1]:f.end[i-1]]
				heads = append(heads, heading{line: i - 1, level: level, title: cleanTitle(string(prev))})
				prevPara = false
				continue
			}
		}
		prevPara = canBeSetextText(line)
	}

	// Build the section tree: a stack of open sections by level.
	type open struct {
		u     unit
		level int
	}
	var stack []open
	var top []unit
	closeTo := func(level, end int) {
		for len(stack) > 0 && stack[len(stack)-1].level >= level {
			s := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			s.u.end = end
			if len(stack) > 0 {
				p := &stack[len(stack)-1].u
				p.kids = append(p.kids, s.u)
			} else {
				top = append(top, s.u)
			}
		}
	}
	for _, h := range heads {
		closeTo(h.level, h.line-1)
		sym := h.title
		if len(stack) > 0 {
			sym = stack[len(stack)-1].u.sym + " > " + h.title
		}
		stack = append(stack, open{u: unit{start: h.line, sym: sym}, level: h.level})
	}
	closeTo(0, f.lines()-1)
	return top
}

// frontMatterEnd returns the line that closes YAML front matter ("---"
// on the first line, "---" or "..." within the next 200), or 0.
func frontMatterEnd(f *file) int {
	if f.lines() == 0 || !isMark(f.data[f.start[0]:f.end[0]], "---") {
		return 0
	}
	for i := 1; i < f.lines() && i <= 200; i++ {
		line := f.data[f.start[i]:f.end[i]]
		if isMark(line, "---") || isMark(line, "...") {
			return i
		}
	}
	return 0
}

func isMark(line []byte, mark string) bool {
	return string(bytes.TrimRight(line, " \t")) == mark
}

// openingFence returns the fence (``` or ~~~, three or more) that line
// opens, or nil. Any indentation is accepted, for fences in list items.
func openingFence(line []byte) []byte {
	s := bytes.TrimLeft(line, " \t")
	if len(s) < 3 || (s[0] != '`' && s[0] != '~') {
		return nil
	}
	n := 0
	for n < len(s) && s[n] == s[0] {
		n++
	}
	if n < 3 || (s[0] == '`' && bytes.IndexByte(s[n:], '`') >= 0) {
		return nil
	}
	return s[:n]
}

// closesFence reports whether line closes the block opened by fence: the
// same character at least as many times and nothing else.
func closesFence(line, fence []byte) bool {
	s := bytes.TrimSpace(line)
	if len(s) < len(fence) {
		return false
	}
	for _, c := range s {
		if c != fence[0] {
			return false
		}
	}
	return true
}

// atxHeading parses "## Title ##": up to three spaces, one to six #, then
// a space or the end of the line.
func atxHeading(line []byte) (level int, title string, ok bool) {
	s := line
	for i := 0; i < 3 && len(s) > 0 && s[0] == ' '; i++ {
		s = s[1:]
	}
	for level < len(s) && s[level] == '#' {
		level++
	}
	if level == 0 || level > 6 || (level < len(s) && s[level] != ' ' && s[level] != '\t') {
		return 0, "", false
	}
	t := strings.TrimSpace(string(s[level:]))
	// An optional closing sequence of #, preceded by a space.
	if u := strings.TrimRight(t, "#"); u != t && (u == "" || strings.HasSuffix(u, " ") || strings.HasSuffix(u, "\t")) {
		t = strings.TrimSpace(u)
	}
	return level, cleanTitle(t), true
}

// setextUnderline parses "===" (level 1) or "---" (level 2).
func setextUnderline(line []byte) (level int, ok bool) {
	s := bytes.TrimRight(line, " \t")
	ind := len(s) - len(bytes.TrimLeft(s, " "))
	s = s[ind:]
	if ind > 3 || len(s) == 0 || (s[0] != '=' && s[0] != '-') {
		return 0, false
	}
	for _, c := range s {
		if c != s[0] {
			return 0, false
		}
	}
	if s[0] == '=' {
		return 1, true
	}
	return 2, true
}

// canBeSetextText reports whether line may be the text of a setext
// heading: paragraph text, not a list item, quote, table row, indented
// code or thematic break.
func canBeSetextText(line []byte) bool {
	if isBlank(line) {
		return false
	}
	s := bytes.TrimLeft(line, " ")
	if len(line)-len(s) > 3 || s[0] == '\t' {
		return false
	}
	switch s[0] {
	case '>', '|', '<':
		return false
	case '-', '*', '+':
		if len(s) == 1 || s[1] == ' ' || s[1] == '\t' || s[1] == s[0] {
			return false
		}
	case '=':
		return false
	}
	// Ordered list item: digits then . or ) and a space.
	d := 0
	for d < len(s) && d < 9 && '0' <= s[d] && s[d] <= '9' {
		d++
	}
	if d > 0 && d < len(s) && (s[d] == '.' || s[d] == ')') && (d+1 == len(s) || s[d+1] == ' ') {
		return false
	}
	return true
}

// cleanTitle collapses white space and caps a heading's length.
func cleanTitle(t string) string {
	t = strings.Join(strings.Fields(t), " ")
	if len(t) > 120 {
		cut := 120
		for cut > 0 && t[cut]&0xC0 == 0x80 {
			cut--
		}
		t = t[:cut] + "…"
	}
	return t
}
