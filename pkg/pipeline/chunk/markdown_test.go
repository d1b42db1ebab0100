package chunk

import (
	"strings"
	"testing"
)

func TestMarkdownHeadings(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"atx closing hashes", "# Title #\n\ntext\n\n## Sub ##\nmore\n", "1-6 Title\n  5-6 Title > Sub\n"},
		{"not headings", "#hashtag\n    # indented code\n####### seven\n", ""},
		{"fences", "# A\n```go\n# not a heading\n```\n~~~~\n## nor this\n~~~\n```\nstill\n~~~\n# inside\n", "1-11 A\n"},
		{"unclosed fence", "# A\n```\n# code\n", "1-3 A\n"},
		{"setext", "Title\n=====\n\ntext\n\nSub\n---\nmore\n", "1-8 Title\n  6-8 Title > Sub\n"},
		{"thematic break", "# A\n\n---\n\ntext\n", "1-5 A\n"},
		{"list then rule", "# A\n- item\n---\n", "1-3 A\n"},
		{"front matter", "---\ntitle: x\n---\n# A\n", "4-4 A\n"},
		{"rule at top", "---\n# A\n", "2-2 A\n"},
		{"skipped level", "# A\n### C\n## B\n", "1-3 A\n  2-2 A > C\n  3-3 A > B\n"},
		{"lower first", "## B\n# A\n", "1-1 B\n2-2 A\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unitTree(sampleUnits("markdown", tc.src)); got != tc.want {
				t.Errorf("got\n%swant\n%s", got, tc.want)
			}
			checkSplit(t, "x.md", "markdown", []byte(tc.src), Options{MaxTokens: 3})
		})
	}
}

// TestMarkdownLargeSection: a section over the budget is cut between
// paragraphs and around, not through, its code block.
func TestMarkdownLargeSection(t *testing.T) {
	para := strings.Repeat("Words in a paragraph that goes on. ", 3)
	src := "# Guide\n\n" + para + "\n\n" + para + "\n\n```sh\nstep one\n\nstep two\n\nstep three\n```\n\n" + para + "\n"
	chunks := checkSplit(t, "g.md", "markdown", []byte(src), Options{MaxTokens: 60})
	if len(chunks) < 2 {
		t.Fatalf("%d chunks", len(chunks))
	}
	for _, c := range chunks {
		if c.Symbol != "Guide" {
			t.Errorf("chunk %d-%d: symbol %q", c.StartLine, c.EndLine, c.Symbol)
		}
		if n := strings.Count(c.Text, "```"); n%2 != 0 {
			t.Errorf("chunk %d-%d cuts the code block:\n%s", c.StartLine, c.EndLine, c.Text)
		}
	}
}
