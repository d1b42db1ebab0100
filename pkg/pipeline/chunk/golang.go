package chunk

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
)

// goUnits returns a Go file's top-level declarations, each with its doc
// comment, and the package clause with the imports as one leading unit.
// It returns nil (the caller packs lines) when the file does not parse.
func goUnits(f *file) []unit {
	fset := token.NewFileSet()
	af, err := parser.ParseFile(fset, "", f.data, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return nil
	}
	tf := fset.File(af.Package)
	// Offsets, not positions: //line directives must not move anything.
	span := func(from, to token.Pos) (int, int) {
		return f.span(tf.Offset(from), tf.Offset(to))
	}

	hdrFrom := af.Package
	if af.Doc != nil {
		hdrFrom = af.Doc.Pos()
	}
	hdrTo := af.Name.End()
	decls := af.Decls
	for len(decls) > 0 {
		gd, ok := decls[0].(*ast.GenDecl)
		if !ok || gd.Tok != token.IMPORT {
			break
		}
		hdrTo = gd.End()
		decls = decls[1:]
	}
	a, b := span(hdrFrom, hdrTo)
	units := []unit{{start: a, end: b}}
	for _, d := range decls {
		from, sym := d.Pos(), ""
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Doc != nil {
				from = d.Doc.Pos()
			}
			sym = d.Name.Name
			if d.Recv != nil && len(d.Recv.List) > 0 {
				if r := recvName(d.Recv.List[0].Type); r != "" {
					sym = r + "." + sym
				}
			}
		case *ast.GenDecl:
			if d.Doc != nil {
				from = d.Doc.Pos()
			}
			sym = genDeclName(d)
		}
		a, b := span(from, d.End())
		units = append(units, unit{start: a, end: b, sym: sym})
	}
	return units
}

// recvName returns the type name of a method receiver: T for T, *T, T[K].
func recvName(x ast.Expr) string {
	for {
		switch t := x.(type) {
		case *ast.Ident:
			return t.Name
		case *ast.StarExpr:
			x = t.X
		case *ast.ParenExpr:
			x = t.X
		case *ast.IndexExpr:
			x = t.X
		case *ast.IndexListExpr:
			x = t.X
		default:
			return ""
		}
	}
}

// genDeclName names a type, const or var declaration after the names it
// declares: "T", or "A, B, C, …" for a group.
func genDeclName(d *ast.GenDecl) string {
	var names []string
	for _, s := range d.Specs {
		switch s := s.(type) {
		case *ast.TypeSpec:
			names = append(names, s.Name.Name)
		case *ast.ValueSpec:
			for _, n := range s.Names {
				names = append(names, n.Name)
			}
		}
	}
	return joinNames(names)
}

// joinNames lists up to three names.
func joinNames(names []string) string {
	if len(names) > 3 {
		return strings.Join(names[:3], ", ") + ", …"
	}
	return strings.Join(names, ", ")
}
