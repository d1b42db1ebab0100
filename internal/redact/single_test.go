package redact

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// copyName matches the names of functions that would be another URL
// redactor or host matcher.
var copyName = regexp.MustCompile(`(?i)^redact|hostAllowed|matchHost|hostMatch`)

// allowedCopies are thin wrappers of this package kept by name, as
// "directory.Func" (receiver types as "directory.Type.Method").
var allowedCopies = map[string]string{
	// Exported API that git.go, fetch.go and cmd/worker call.
	"pkg/pipeline/source.Redact":    "wraps redact.String",
	"pkg/pipeline/source.RedactURL": "wraps redact.ParsedURL",
	// Adds nats:// to a scheme-less server URL; flags.go calls it.
	"pkg/natsconn.redactURL": "wraps redact.URL",
}

// TestSingleRedactorAndHostMatcher fails when a function that looks like
// a URL redactor or a host matcher is declared outside internal/redact
// and internal/hostmatch: use those packages instead of a new copy.
func TestSingleRedactorAndHostMatcher(t *testing.T) {
	root := filepath.Join("..", "..")
	if mod, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !strings.Contains(string(mod), "module github.com/jetrun/jetrun\n") {
		t.Fatalf("%s is not the repository root: %v", root, err)
	}
	found := map[string]bool{}
	var copies []string
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || name == "node_modules") {
				return filepath.SkipDir
			}
			if rel == "internal/redact" || rel == "internal/hostmatch" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Errorf("parse %s: %v", rel, err)
			return nil
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || !copyName.MatchString(fn.Name.Name) {
				continue
			}
			key := dir + "." + fn.Name.Name
			if fn.Recv != nil && len(fn.Recv.List) == 1 {
				key = dir + "." + recvType(fn.Recv.List[0].Type) + "." + fn.Name.Name
			}
			if _, ok := allowedCopies[key]; ok {
				found[key] = true
				continue
			}
			copies = append(copies, key+" ("+rel+")")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("walked only %d files under %s", files, root)
	}
	sort.Strings(copies)
	for _, c := range copies {
		t.Errorf("%s: a URL redactor or host matcher outside internal/redact and internal/hostmatch; call those instead", c)
	}
	for key := range allowedCopies {
		if !found[key] {
			t.Errorf("allowed wrapper %s is gone: remove it from allowedCopies", key)
		}
	}
}

// recvType names a method's receiver type: "T" for T, *T, T[P] and *T[P].
func recvType(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return "?"
		}
	}
}
