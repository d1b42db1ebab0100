package chunk

import (
	"bytes"
	"path"
	"regexp"
	"strings"
)

// byExt maps lower-case file extensions to language labels.
var byExt = map[string]string{
	".go": "go",
	".py": "python", ".pyi": "python", ".pyw": "python",
	".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
	".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
	".tsx":  "tsx",
	".java": "java",
	".rs":   "rust",
	".c":    "c", ".h": "c",
	".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".c++": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp", ".h++": "cpp", ".ipp": "cpp", ".tpp": "cpp",
	".md": "markdown", ".markdown": "markdown", ".mdown": "markdown", ".mkd": "markdown",

	// Chunked by the line/indent packer.
	".yaml": "yaml", ".yml": "yaml",
	".json": "json", ".jsonc": "json", ".json5": "json", ".jsonl": "json", ".ndjson": "json",
	".toml": "toml",
	".ini":  "ini", ".cfg": "ini", ".conf": "ini", ".properties": "ini",
	".xml": "xml", ".xsd": "xml", ".xsl": "xml", ".svg": "xml", ".plist": "xml",
	".html": "html", ".htm": "html", ".xhtml": "html",
	".css": "css", ".scss": "css", ".sass": "css", ".less": "css",
	".sql": "sql",
	".sh":  "shell", ".bash": "shell", ".zsh": "shell", ".ksh": "shell", ".fish": "shell",
	".ps1": "powershell", ".psm1": "powershell",
	".bat": "batch", ".cmd": "batch",
	".rb": "ruby", ".rake": "ruby", ".gemspec": "ruby",
	".php": "php",
	".cs":  "csharp",
	".kt":  "kotlin", ".kts": "kotlin",
	".scala": "scala", ".sc": "scala",
	".swift": "swift",
	".m":     "objc", ".mm": "objc",
	".lua": "lua",
	".pl":  "perl", ".pm": "perl",
	".r":    "r",
	".dart": "dart",
	".ex":   "elixir", ".exs": "elixir",
	".erl": "erlang", ".hrl": "erlang",
	".hs": "haskell",
	".ml": "ocaml", ".mli": "ocaml",
	".clj": "clojure", ".cljs": "clojure", ".edn": "clojure",
	".zig": "zig",
	".jl":  "julia",
	".s":   "asm", ".asm": "asm",
	".proto": "protobuf",
	".tf":    "hcl", ".hcl": "hcl",
	".gradle": "groovy", ".groovy": "groovy",
	".vue":     "vue",
	".svelte":  "svelte",
	".graphql": "graphql", ".gql": "graphql",
	".rst":  "rst",
	".adoc": "asciidoc",
	".tex":  "tex",
	".txt":  "text", ".text": "text",
	".csv": "csv", ".tsv": "csv",
	".dockerfile": "dockerfile",
	".mk":         "make",
}

// byName maps whole (lower-case) file names to language labels.
var byName = map[string]string{
	"dockerfile": "dockerfile", "containerfile": "dockerfile",
	"makefile": "make", "gnumakefile": "make",
	"cmakelists.txt": "cmake",
	"go.mod":         "gomod", "go.work": "gomod", "go.sum": "gosum",
	"gemfile": "ruby", "rakefile": "ruby",
	"jenkinsfile": "groovy",
	"readme":      "text", "license": "text", "copying": "text", "authors": "text",
	".bashrc": "shell", ".profile": "shell", ".zshrc": "shell",
}

// byInterpreter maps a shebang's interpreter to a language label.
var byInterpreter = map[string]string{
	"sh": "shell", "bash": "shell", "dash": "shell", "zsh": "shell", "ksh": "shell", "fish": "shell",
	"python": "python", "python2": "python", "python3": "python", "pypy": "python", "pypy3": "python",
	"node": "javascript", "nodejs": "javascript", "deno": "typescript", "bun": "javascript", "ts-node": "typescript",
	"ruby": "ruby", "perl": "perl", "php": "php", "lua": "lua", "Rscript": "r",
	"pwsh": "powershell",
}

// cppHeader matches what C never has: a header with any is C++.
var cppHeader = regexp.MustCompile(`(?m)^[ \t]*(namespace[ \t]*\w*[ \t]*\{|template[ \t]*<|class[ \t]+\w+[^;(\n]*\{|(public|private|protected)[ \t]*:)|std::|#include[ \t]*<(iostream|string|vector|memory|map)>`)

// Language returns the language label of the file at path, from its
// extension or name, else from a shebang on its first line. ".h" is "c"
// unless the content looks like C++ (namespace, template, class body,
// access specifier, std::). The labels with a syntax-aware chunker are
// "go", "python", "javascript", "typescript", "tsx", "java", "rust", "c",
// "cpp" and "markdown"; others ("yaml", "json", "shell", "text", …) name
// the content for the payload and are line-packed. "" means unknown,
// which Split treats as text.
func Language(p string, data []byte) string {
	base := path.Base(strings.ReplaceAll(p, "\\", "/"))
	if l, ok := byName[strings.ToLower(base)]; ok {
		return l
	}
	ext := path.Ext(base)
	switch ext {
	case ".C", ".H": // the traditional C++ spellings
		return "cpp"
	}
	if l, ok := byExt[strings.ToLower(ext)]; ok {
		if l == "c" && ext != ".c" && cppHeader.Match(head(data, 64<<10)) {
			return "cpp"
		}
		return l
	}
	if strings.HasPrefix(strings.ToLower(base), "dockerfile.") {
		return "dockerfile"
	}
	return shebang(data)
}

// shebang returns the language of a "#!" line's interpreter, or "".
func shebang(data []byte) string {
	if !bytes.HasPrefix(data, []byte("#!")) {
		return ""
	}
	line := head(data, 256)
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	fields := strings.Fields(string(line[2:]))
	if len(fields) == 0 {
		return ""
	}
	interp := path.Base(fields[0])
	if interp == "env" {
		interp = ""
		for _, a := range fields[1:] {
			if !strings.HasPrefix(a, "-") && !strings.Contains(a, "=") {
				interp = a
				break
			}
		}
	}
	if l, ok := byInterpreter[interp]; ok {
		return l
	}
	// python3.12, ruby2.7, …
	for l := len(interp); l > 0; l-- {
		if c := interp[l-1]; ('0' <= c && c <= '9') || c == '.' {
			continue
		}
		if lang, ok := byInterpreter[interp[:l]]; ok {
			return lang
		}
		break
	}
	return ""
}

func head(data []byte, n int) []byte {
	if len(data) > n {
		return data[:n]
	}
	return data
}
