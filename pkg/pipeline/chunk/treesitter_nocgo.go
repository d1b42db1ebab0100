//go:build !cgo

package chunk

// Without cgo there is no tree-sitter: Python, JavaScript, TypeScript,
// Java, Rust, C and C++ go through the line/indent packer. Go and
// Markdown are chunked by syntax either way.

// buildSuffix marks the chunker version of a build without tree-sitter:
// its chunks differ, so its points must not mix with a cgo build's (the
// collection's chunker metadata refuses the mix).
const buildSuffix = "-nocgo"

func syntaxAware(lang string) bool { return lang == "go" || lang == "markdown" }

func treeSitterUnits(string, *file) []unit { return nil }
