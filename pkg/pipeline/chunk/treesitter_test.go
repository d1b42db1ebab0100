//go:build cgo

package chunk

import (
	"strings"
	"testing"
)

// TestTreeSitterCases pins definition finding in corners of the grammars.
func TestTreeSitterCases(t *testing.T) {
	for _, tc := range []struct {
		name, lang, src, want string
	}{
		{"python syntax error", "python", "def a():\n    return 1\n\ndef b(:\n    pass\n\ndef c():\n    return 3\n",
			"1-2 a\n4-5 b\n7-8 c\n"}, // recovered
		{"python nested class", "python", "class A:\n    class B:\n        def m(self): pass\n",
			"1-3 A\n  2-3 A.B\n    3-3 A.B.m\n"},
		{"c header guard", "c", "#ifndef X_H\n#define X_H\n\n/* f does it. */\nint f(int);\ntypedef struct s { int a; } s_t;\n#endif\n",
			"1-7 \n  2-2 X_H\n  4-5 f\n  6-6 s_t\n    6-6 s_t.a\n"},
		{"c pointer returning function", "c", "static char **\nsplit(const char *s)\n{\n\treturn 0;\n}\n", "1-5 split\n"},
		{"cpp out of line", "cpp", "Foo::~Foo() {}\nvoid ns::Foo::bar() {}\nbool operator==(A, A) { return true; }\n",
			"1-1 Foo.~Foo\n2-2 ns.Foo.bar\n3-3 operator==\n"},
		{"cpp nested namespaces", "cpp", "namespace a::b {\nnamespace {\nint x;\n}\nextern \"C\" {\nint y(void);\n}\n}\n",
			"1-8 a.b\n  2-4 a.b\n    3-3 a.b.x\n  5-7 a.b\n    6-6 a.b.y\n"},
		{"rust attributes and trait impl", "rust", "/// Doc.\n#[inline]\nfn f() {}\n\nimpl<'a> Tr for &'a mut Vec<u8> {\n    fn t(&self) {}\n}\n",
			"1-3 f\n5-7 Vec\n  6-6 Vec.t\n"},
		{"typescript namespace and declare", "typescript", "namespace NS {\n  export function f() {}\n}\ndeclare module \"m\" {\n  export function g(): void;\n}\n",
			"1-3 NS\n  2-2 NS.f\n4-6 \"m\"\n  5-5 \"m\".g\n"},
		{"javascript export default class", "javascript", "export default class extends Base {\n  a() {}\n}\n",
			"1-3 default\n  2-2 default.a\n"},
		{"java enum members", "java", "enum E {\n  A, B;\n  // g.\n  void g() {}\n}\n",
			"1-5 E\n  3-4 E.g\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unitTree(sampleUnits(tc.lang, tc.src)); got != tc.want {
				t.Errorf("got\n%swant\n%s", got, tc.want)
			}
			for _, maxTok := range []int{2, 5, 20, 0} {
				checkSplit(t, "x", tc.lang, []byte(tc.src), Options{MaxTokens: maxTok})
			}
		})
	}
}

// TestClassSplitAtMembers: a class over the budget becomes one chunk per
// member (small ones merged), each named Class.member, and no member
// chunk starts inside another member.
func TestClassSplitAtMembers(t *testing.T) {
	var b strings.Builder
	b.WriteString("class Repo:\n    \"\"\"Stores things.\"\"\"\n\n")
	for _, m := range []string{"get", "put", "delete", "scan"} {
		b.WriteString("    def " + m + "(self, key):\n")
		for i := range 6 {
			b.WriteString("        self.log.append((\"" + m + "\", key, " + string(rune('0'+i)) + "))\n")
		}
		b.WriteString("        return key\n\n")
	}
	chunks := checkSplit(t, "repo.py", "python", []byte(b.String()), Options{MaxTokens: 120})
	var syms []string
	for _, c := range chunks {
		syms = append(syms, c.Symbol)
	}
	if got, want := strings.Join(syms, " "), "Repo.get Repo.put Repo.delete Repo.scan"; got != want {
		t.Errorf("symbols %q, want %q\n%s", got, want, outline(chunks))
	}
}
