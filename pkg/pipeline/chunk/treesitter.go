//go:build cgo

package chunk

import (
	"context"
	"strings"
	"sync"
	"time"

	sitter "github.com/smacker/go-tree-sitter"
	"github.com/smacker/go-tree-sitter/c"
	"github.com/smacker/go-tree-sitter/cpp"
	"github.com/smacker/go-tree-sitter/java"
	"github.com/smacker/go-tree-sitter/javascript"
	"github.com/smacker/go-tree-sitter/python"
	"github.com/smacker/go-tree-sitter/rust"
	"github.com/smacker/go-tree-sitter/typescript/tsx"
	"github.com/smacker/go-tree-sitter/typescript/typescript"
)

// parseTimeout bounds one parse; a file that takes longer is line-packed.
const parseTimeout = 10 * time.Second

// grammar is one tree-sitter language: how to parse it and which of its
// nodes are definitions.
type grammar struct {
	parsers sync.Pool // *sitter.Parser, set to this language
	// def reports whether n is a definition, the name it declares ("" for
	// an anonymous one, which takes its container's symbol) and, for a
	// container (class, namespace, impl), the node whose named children
	// are its members.
	def func(n *sitter.Node, src []byte) (name string, body *sitter.Node, ok bool)
	// attach lists the node types (comments, decorators, attributes) that
	// belong to the definition right after them when no blank line parts them.
	attach map[string]bool
	// flatten lists body node types whose children are members of the
	// enclosing body (Java's enum_body_declarations).
	flatten map[string]bool
}

func newGrammar(lang *sitter.Language, def func(*sitter.Node, []byte) (string, *sitter.Node, bool), attach ...string) *grammar {
	g := &grammar{def: def, attach: map[string]bool{}}
	for _, a := range attach {
		g.attach[a] = true
	}
	g.parsers.New = func() any {
		p := sitter.NewParser()
		p.SetLanguage(lang)
		p.SetOperationLimit(int(parseTimeout / time.Microsecond))
		return p
	}
	return g
}

// grammars lists every tree-sitter language Split knows, by Language label.
var grammars = sync.OnceValue(func() map[string]*grammar {
	js := func(l *sitter.Language) *grammar { return newGrammar(l, jsDef, "comment", "decorator") }
	cfam := func(l *sitter.Language) *grammar { return newGrammar(l, cDef, "comment", "access_specifier") }
	jv := newGrammar(java.GetLanguage(), javaDef, "line_comment", "block_comment")
	jv.flatten = map[string]bool{"enum_body_declarations": true}
	return map[string]*grammar{
		"python":     newGrammar(python.GetLanguage(), pythonDef, "comment"),
		"javascript": js(javascript.GetLanguage()),
		"typescript": js(typescript.GetLanguage()),
		"tsx":        js(tsx.GetLanguage()),
		"java":       jv,
		"rust":       newGrammar(rust.GetLanguage(), rustDef, "line_comment", "block_comment", "attribute_item"),
		"c":          cfam(c.GetLanguage()),
		"cpp":        cfam(cpp.GetLanguage()),
	}
})

// syntaxAware reports whether Split chunks lang by its syntax in this build.
func syntaxAware(lang string) bool {
	if lang == "go" || lang == "markdown" {
		return true
	}
	_, ok := grammars()[lang]
	return ok
}

// treeSitterUnits returns the top-level definitions of a file in a
// tree-sitter language, or nil (the caller packs lines) for another
// language or a failed parse. Syntax errors are no failure: definitions
// tree-sitter recovers are used, the rest is covered as gaps.
func treeSitterUnits(lang string, f *file) []unit {
	g := grammars()[lang]
	if g == nil {
		return nil
	}
	p := g.parsers.Get().(*sitter.Parser)
	tree, err := p.ParseCtx(context.Background(), nil, f.data)
	if err != nil {
		p.Reset() // a parse cut short would otherwise resume on the next call
		g.parsers.Put(p)
		return nil
	}
	g.parsers.Put(p)
	defer tree.Close()
	w := walker{g: g, f: f}
	return w.members(tree.RootNode(), "")
}

type walker struct {
	g *grammar
	f *file
}

// members returns the definitions among body's named children, each
// widened to the comments and attributes right above it, with a
// container's own members as kids.
func (w walker) members(body *sitter.Node, prefix string) []unit {
	var out []unit
	pending, pendingEnd := -1, -1 // lines of the run of attachable nodes
	var visit func(n *sitter.Node)
	visit = func(n *sitter.Node) {
		a, b := w.lines(n)
		typ := n.Type()
		if w.g.flatten[typ] {
			eachNamedChild(n, visit)
			return
		}
		if w.g.attach[typ] {
			if pending < 0 || a > pendingEnd+1 {
				pending = a
			}
			pendingEnd = b
			return
		}
		name, sub, ok := w.g.def(n, w.f.data)
		if !ok {
			pending = -1
			return
		}
		u := unit{start: a, end: b, sym: qualify(prefix, name)}
		if pending >= 0 && pendingEnd+1 >= a {
			u.start = min(pending, a)
		}
		pending = -1
		if sub != nil {
			u.kids = w.members(sub, u.sym)
		}
		out = append(out, u)
	}
	eachNamedChild(body, visit)
	return out
}

// lines returns the lines a node spans.
func (w walker) lines(n *sitter.Node) (int, int) {
	return w.f.span(int(n.StartByte()), int(n.EndByte()))
}

// eachNamedChild calls fn for n's named children in order (a cursor walks
// them in linear time; indexing children is quadratic).
func eachNamedChild(n *sitter.Node, fn func(*sitter.Node)) {
	c := sitter.NewTreeCursor(n)
	defer c.Close()
	if !c.GoToFirstChild() {
		return
	}
	for {
		if ch := c.CurrentNode(); ch.IsNamed() {
			fn(ch)
		}
		if !c.GoToNextSibling() {
			return
		}
	}
}

func qualify(prefix, name string) string {
	switch {
	case name == "":
		return prefix
	case prefix == "":
		return name
	}
	return prefix + "." + name
}

// content returns a node's text as a symbol: white space collapsed, "::"
// written ".", at most 120 bytes.
func content(n *sitter.Node, src []byte) string {
	if n == nil {
		return ""
	}
	s := strings.Join(strings.Fields(n.Content(src)), " ")
	return cleanTitle(strings.ReplaceAll(s, "::", "."))
}

func field(n *sitter.Node, name string) *sitter.Node { return n.ChildByFieldName(name) }

// firstNamed returns n's first named child not of a skipped type.
func firstNamed(n *sitter.Node, skip ...string) *sitter.Node {
	var found *sitter.Node
	eachNamedChild(n, func(ch *sitter.Node) {
		if found != nil {
			return
		}
		t := ch.Type()
		for _, s := range skip {
			if t == s {
				return
			}
		}
		found = ch
	})
	return found
}

func pythonDef(n *sitter.Node, src []byte) (string, *sitter.Node, bool) {
	switch n.Type() {
	case "function_definition":
		return content(field(n, "name"), src), nil, true
	case "class_definition":
		return content(field(n, "name"), src), field(n, "body"), true
	case "decorated_definition":
		if d := field(n, "definition"); d != nil {
			return pythonDef(d, src)
		}
	case "expression_statement": // NAME = value
		if a := firstNamed(n); a != nil && a.Type() == "assignment" {
			if l := field(a, "left"); l != nil && l.Type() == "identifier" {
				return content(l, src), nil, true
			}
		}
	}
	return "", nil, false
}

func jsDef(n *sitter.Node, src []byte) (string, *sitter.Node, bool) {
	switch n.Type() {
	case "function_declaration", "generator_function_declaration", "function_signature",
		"method_definition", "method_signature", "abstract_method_signature",
		"type_alias_declaration", "enum_declaration", "property_signature":
		return content(field(n, "name"), src), nil, true
	case "public_field_definition", "field_definition":
		name := field(n, "name")
		if name == nil {
			name = field(n, "property")
		}
		return content(name, src), nil, true
	case "class_declaration", "abstract_class_declaration", "class",
		"interface_declaration", "internal_module", "module":
		return content(field(n, "name"), src), field(n, "body"), true
	case "lexical_declaration", "variable_declaration":
		if d := firstNamed(n); d != nil && d.Type() == "variable_declarator" {
			if name := field(d, "name"); name != nil && name.Type() == "identifier" {
				// const C = class {...}: C's members split like a class's.
				var body *sitter.Node
				if v := field(d, "value"); v != nil && v.Type() == "class" {
					body = field(v, "body")
				}
				return content(name, src), body, true
			}
		}
	case "export_statement":
		if d := field(n, "declaration"); d != nil {
			return jsDef(d, src)
		}
		if v := field(n, "value"); v != nil { // export default …
			name, body, _ := jsDef(v, src)
			if name == "" {
				name = "default"
			}
			return name, body, true
		}
	case "ambient_declaration", "expression_statement": // declare …; namespace N {…}
		if d := firstNamed(n); d != nil {
			switch d.Type() {
			case "expression_statement", "ambient_declaration":
			default:
				return jsDef(d, src)
			}
		}
	}
	return "", nil, false
}

func javaDef(n *sitter.Node, src []byte) (string, *sitter.Node, bool) {
	switch n.Type() {
	case "class_declaration", "interface_declaration", "enum_declaration",
		"record_declaration", "annotation_type_declaration":
		return content(field(n, "name"), src), field(n, "body"), true
	case "method_declaration", "constructor_declaration", "compact_constructor_declaration",
		"annotation_type_element_declaration":
		return content(field(n, "name"), src), nil, true
	case "field_declaration", "constant_declaration":
		if d := field(n, "declarator"); d != nil {
			return content(field(d, "name"), src), nil, true
		}
		return "", nil, true
	case "static_initializer":
		return "", nil, true
	}
	return "", nil, false
}

func rustDef(n *sitter.Node, src []byte) (string, *sitter.Node, bool) {
	switch n.Type() {
	case "function_item", "function_signature_item", "struct_item", "union_item", "enum_item",
		"const_item", "static_item", "type_item", "associated_type", "macro_definition":
		return content(field(n, "name"), src), nil, true
	case "trait_item", "mod_item":
		return content(field(n, "name"), src), field(n, "body"), true
	case "impl_item":
		return content(rustTypeName(field(n, "type")), src), field(n, "body"), true
	case "foreign_mod_item": // extern "C" { … }
		return "", field(n, "body"), true
	}
	return "", nil, false
}

// rustTypeName strips references and generic arguments: &'a mut Vec<T> → Vec.
func rustTypeName(t *sitter.Node) *sitter.Node {
	for t != nil {
		switch t.Type() {
		case "reference_type", "pointer_type", "generic_type":
			t = field(t, "type")
		default:
			return t
		}
	}
	return nil
}

func cDef(n *sitter.Node, src []byte) (string, *sitter.Node, bool) {
	switch n.Type() {
	case "function_definition":
		return content(declName(field(n, "declarator")), src), nil, true
	case "declaration", "field_declaration", "type_definition":
		typ, d := field(n, "type"), field(n, "declarator")
		var body *sitter.Node
		if isRecord(typ) {
			body = field(typ, "body")
			if d == nil || n.Type() == "field_declaration" && body != nil {
				// struct S {…};  or a nested class in a class
				return content(field(typ, "name"), src), body, true
			}
		}
		return content(declName(d), src), body, true
	case "struct_specifier", "union_specifier", "enum_specifier", "class_specifier":
		return content(field(n, "name"), src), field(n, "body"), true
	case "namespace_definition":
		return content(field(n, "name"), src), field(n, "body"), true
	case "linkage_specification": // extern "C" { … }
		if b := field(n, "body"); b != nil && b.Type() == "declaration_list" {
			return "", b, true
		}
		return "", nil, true
	case "template_declaration":
		if inner := firstNamed(n, "template_parameter_list", "comment"); inner != nil {
			if name, body, ok := cDef(inner, src); ok {
				return name, body, true
			}
		}
		return "", nil, true
	case "preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef":
		// Conditional compilation: the directives hold top-level code.
		return "", n, true
	case "preproc_def", "preproc_function_def", "alias_declaration", "concept_definition":
		return content(field(n, "name"), src), nil, true
	}
	return "", nil, false
}

func isRecord(n *sitter.Node) bool {
	if n == nil {
		return false
	}
	switch n.Type() {
	case "struct_specifier", "union_specifier", "enum_specifier", "class_specifier":
		return true
	}
	return false
}

// declName follows a C declarator to the name it declares:
// *foo(int) → foo, table[] = {…} → table, Foo::bar() → Foo::bar.
func declName(n *sitter.Node) *sitter.Node {
	for n != nil {
		switch n.Type() {
		case "identifier", "field_identifier", "type_identifier", "qualified_identifier",
			"destructor_name", "operator_name", "template_function", "operator_cast",
			"primitive_type":
			return n
		}
		if d := field(n, "declarator"); d != nil {
			n = d
		} else {
			n = firstNamed(n)
		}
	}
	return nil
}

// buildSuffix: the tree-sitter build is the reference chunker.
const buildSuffix = ""
