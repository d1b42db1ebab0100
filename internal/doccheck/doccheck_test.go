// Package doccheck holds the test that keeps the code in package
// documentation true: every Go snippet of a doc.go must parse, and each
// of its lines must stand in an example of the same package (an
// Example function, compiled by go test and shown by go doc), so a
// snippet that stops compiling fails the build of its example.
package doccheck

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goLine marks a code block as Go rather than a table or a listing.
var goLine = regexp.MustCompile(`:= |\berr = |^func |^var |^type `)

func TestDocSnippetsAreExamples(t *testing.T) {
	root := filepath.Join("..", "..")
	var docs []string
	// Internal packages are test helpers with no users to mislead.
	for _, dir := range []string{"pkg", "cmd"} {
		filepath.WalkDir(filepath.Join(root, dir), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && d.Name() == "doc.go" {
				docs = append(docs, p)
			}
			return err
		})
	}
	if len(docs) < 10 {
		t.Fatalf("found %d doc.go files; is the test run from its directory?", len(docs))
	}
	snippets := 0
	for _, doc := range docs {
		f, err := parser.ParseFile(token.NewFileSet(), doc, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Doc == nil {
			continue
		}
		examples := exampleLines(t, filepath.Dir(doc))
		for _, block := range codeBlocks(f.Doc.Text()) {
			if !goLine.MatchString(block) {
				continue
			}
			known := examples
			if strings.HasPrefix(block, "func Test") {
				// A test shown as the model for other packages' tests: it
				// is one of the tests below the package.
				known = testLines(t, filepath.Dir(doc))
			}
			snippets++
			if _, err := parser.ParseFile(token.NewFileSet(), "", "package p\nfunc _() {\n"+block+"\n}\n", 0); err != nil {
				if _, err2 := parser.ParseFile(token.NewFileSet(), "", "package p\n"+block+"\n", 0); err2 != nil {
					t.Errorf("%s: a snippet that is not Go (%v):\n%s", doc, err, block)
					continue
				}
			}
			for _, line := range strings.Split(block, "\n") {
				l := norm(line)
				if l == "" || l == "}" || l == "})" || l == "{" || known[l] {
					continue
				}
				t.Errorf("%s: snippet line %q is in no example of the package (write it as an Example function in example_test.go)", doc, strings.TrimSpace(line))
			}
		}
	}
	if snippets < 5 {
		t.Errorf("found %d Go snippets in package docs; the block detection is broken", snippets)
	}
}

// codeBlocks returns the tab-indented blocks of a doc comment's text.
func codeBlocks(text string) []string {
	var blocks []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			blocks = append(blocks, strings.Join(cur, "\n"))
			cur = nil
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "\t") {
			cur = append(cur, line[1:])
			continue
		}
		if strings.TrimSpace(line) != "" || len(cur) == 0 {
			flush()
		}
	}
	flush()
	return blocks
}

// exampleLines returns the normalised lines of the Example functions in
// the _test.go files of dir, and of the package's own declarations (a
// snippet may restate a type).
func exampleLines(t *testing.T, dir string) map[string]bool {
	lines := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
	for _, name := range files {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if !strings.HasSuffix(name, "_test.go") {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
					for _, l := range strings.Split(string(src[fset.Position(g.Pos()).Offset:fset.Position(g.End()).Offset]), "\n") {
						lines[norm(l)] = true
					}
				}
				continue
			}
			fn, ok := d.(*ast.FuncDecl)
			if !ok || !strings.HasPrefix(fn.Name.Name, "Example") {
				continue
			}
			body := string(src[fset.Position(fn.Body.Pos()).Offset:fset.Position(fn.Body.End()).Offset])
			for _, l := range strings.Split(body, "\n") {
				lines[norm(l)] = true
			}
		}
	}
	return lines
}

// testLines returns the normalised lines of every test function in the
// _test.go files below dir.
func testLines(t *testing.T, dir string) map[string]bool {
	lines := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		src, _ := os.ReadFile(p)
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && strings.HasPrefix(fn.Name.Name, "Test") {
				for _, l := range strings.Split(string(src[fset.Position(fn.Pos()).Offset:fset.Position(fn.End()).Offset]), "\n") {
					lines[norm(l)] = true
				}
			}
		}
		return nil
	})
	return lines
}

// norm trims a line, drops a trailing comment and folds white space.
func norm(l string) string {
	if strings.HasPrefix(strings.TrimSpace(l), "//") {
		return ""
	}
	if i := strings.Index(l, " // "); i >= 0 {
		l = l[:i]
	}
	return strings.Join(strings.Fields(l), " ")
}
