package chunk

import "testing"

func TestLanguage(t *testing.T) {
	for _, tc := range []struct {
		path, data, want string
	}{
		{"main.go", "", "go"},
		{"a/b/tool.py", "", "python"},
		{"types.pyi", "", "python"},
		{"app.js", "", "javascript"},
		{"mod.mjs", "", "javascript"},
		{"c.cjs", "", "javascript"},
		{"View.jsx", "", "javascript"},
		{"x.ts", "", "typescript"},
		{"x.mts", "", "typescript"},
		{"x.cts", "", "typescript"},
		{"App.tsx", "", "tsx"},
		{"Main.java", "", "java"},
		{"lib.rs", "", "rust"},
		{"buf.c", "", "c"},
		{"buf.h", "struct buf { int n; };\nint f(void);\n", "c"},
		{"poly.h", "#pragma once\nnamespace geo {\n}\n", "cpp"},
		{"box.h", "template <typename T>\nstruct Box {};\n", "cpp"},
		{"cls.h", "class Foo : public Bar {\n public:\n};\n", "cpp"},
		{"comment.h", "/* this class of errors */\nint f(void);\n", "c"},
		{"multiline.h", "/*\n class of errors that\n are handled here */\nstruct x {\n};\n", "c"},
		{"x.cc", "", "cpp"},
		{"x.cpp", "", "cpp"},
		{"x.hpp", "", "cpp"},
		{"X.C", "", "cpp"},
		{"README.md", "", "markdown"},
		{"doc.MARKDOWN", "", "markdown"},
		{"c.yaml", "", "yaml"},
		{"c.yml", "", "yaml"},
		{"p.json", "", "json"},
		{"Cargo.toml", "", "toml"},
		{"run.sh", "", "shell"},
		{"index.html", "", "html"},
		{"s.css", "", "css"},
		{"q.sql", "", "sql"},
		{"notes.txt", "", "text"},
		{"asm_amd64.s", "", "asm"},
		{"Dockerfile", "", "dockerfile"},
		{"Dockerfile.dev", "", "dockerfile"},
		{"Makefile", "", "make"},
		{"go.mod", "", "gomod"},
		{"LICENSE", "", "text"},
		{`C:\src\win.py`, "", "python"},
		{"bin/tool", "#!/usr/bin/env python3\nprint(1)\n", "python"},
		{"bin/tool", "#!/usr/bin/python3.12\n", "python"},
		{"bin/run", "#!/bin/bash\necho hi\n", "shell"},
		{"bin/srv", "#!/usr/bin/env -S node --experimental\n", "javascript"},
		{"bin/x", "#!/usr/bin/env FOO=1 ruby\n", "ruby"},
		{"bin/weird", "#!/opt/unknown\n", ""},
		{"data.bin", "", ""},
		{"noext", "plain", ""},
	} {
		if got := Language(tc.path, []byte(tc.data)); got != tc.want {
			t.Errorf("Language(%q, %.20q) = %q, want %q", tc.path, tc.data, got, tc.want)
		}
	}
}

// TestSplitDetects: Split asks Language when lang is "".
func TestSplitDetects(t *testing.T) {
	src := []byte("package p\n\nfunc A() {}\n\nfunc B() {}\n")
	got := outline(Split("p.go", "", src, Options{MinTokens: -1}))
	if want := "1-1 \n3-3 A\n5-5 B\n"; got != want {
		t.Errorf("got\n%swant\n%s", got, want)
	}
}
