package chunk

import (
	"fmt"
	"strings"
	"testing"
)

// unitTree renders the syntactic units a chunker found, before budgets:
// "start-end symbol", kids indented.
func unitTree(units []unit) string {
	var b strings.Builder
	var walk func([]unit, string)
	walk = func(us []unit, indent string) {
		for _, u := range us {
			fmt.Fprintf(&b, "%s%d-%d %s\n", indent, u.start+1, u.end+1, u.sym)
			walk(u.kids, indent+"  ")
		}
	}
	walk(units, "")
	return b.String()
}

// sampleUnits returns the units of a sample as Split would find them.
func sampleUnits(lang, src string) []unit {
	budget, min := Options{}.limits()
	f := newFile([]byte(src), budget, min)
	switch lang {
	case "go":
		return goUnits(f)
	case "markdown":
		return markdownUnits(f)
	}
	return treeSitterUnits(lang, f)
}

// TestUnits pins what each chunker sees as a definition: its lines (with
// the comments, decorators and attributes right above it), its symbol, and
// its members. Without cgo the tree-sitter languages have none.
func TestUnits(t *testing.T) {
	want := map[string]string{
		"go": `
3-10 
12-13 ErrMiss
15-18 DefaultSize, MaxSize
20-25 Cache
27-30 entry
32-35 New
37-47 Cache.Get
51-51 Cache.Len
`,
		"python": `
5-5 CONSTANT
8-10 helper
13-16 decorated
19-36 Greeter
  22-22 Greeter.greeting
  24-25 Greeter.__init__
  27-32 Greeter.greet
  34-36 Greeter.make
`,
		"typescript": `
4-9 User
  6-6 User.id
  7-7 User.name
  8-8 User.email
11-11 UserId
13-16 Role
18-21 formatUser
23-37 UserService
  24-24 UserService.users
  26-26 UserService.constructor
  28-30 UserService.get
  32-36 UserService.save
39-41 handler
`,
		"tsx": `
3-3 Props
5-12 Button
14-14 Row
`,
		"javascript": `
2-2 http
4-10 handle
12-14 router
16-27 Server
  17-17 Server.defaults
  19-22 Server.constructor
  24-26 Server.listen
29-29 double
`,
		"java": `
6-35 Store
  10-10 Store.items
  11-11 Store.closed
  13-14 Store.Store
  16-20 Store.get
  22-26 Store.close
  28-32 Store.checkOpen
  34-34 Store.Mode
37-39 Visitor
  38-38 Visitor.visit
`,
		"rust": `
4-9 Point
11-16 Shape
  12-12 Shape.area
  13-15 Shape.name
18-26 Point
  19-21 Point.new
  23-25 Point.dist
28-32 Point
  29-31 Point.fmt
34-37 main
`,
		"c": `
4-8 buf
  6-6 buf.data
  7-7 buf.len
10-17 grow
19-27 buf_append
29-35 main
`,
		"cpp": `
4-28 geo
  6-21 geo.Polygon
    8-9 geo.Polygon.Polygon
    11-15 geo.Polygon.Perimeter
    17-17 geo.Polygon.Size
    19-20 geo.Polygon.xs_
  23-26 geo.Max
30-33 main
`,
		"markdown": `
7-33 Project
  11-24 Project > Install
    15-21 Project > Install > From source
    22-24 Project > Install > Binary
  25-33 Project > Usage
34-35 Appendix
`,
	}
	for _, s := range samples {
		t.Run(s.lang, func(t *testing.T) {
			w := strings.TrimPrefix(want[s.lang], "\n")
			if !syntaxAware(s.lang) {
				w = ""
			}
			if got := unitTree(sampleUnits(s.lang, s.src)); got != w {
				t.Errorf("units:\n%s\nwant:\n%s", got, w)
			}
		})
	}
}
