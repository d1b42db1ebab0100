// Package chunk is the pipeline's chunk stage: it names a file's language
// and cuts the file into chunks, the units that are embedded and stored,
// along the file's syntax where it knows the language and by lines
// elsewhere.
//
//	lang := chunk.Language(path, data)
//	for _, c := range chunk.Split(path, lang, data, chunk.Options{}) {
//		// c.StartLine, c.EndLine, c.Symbol, c.Text
//	}
//
// # Languages
//
// Language labels a file by extension or name, else by a "#!" line.
// Split chunks these labels by syntax; members are split out only when
// their container is over the budget (see Budget):
//
//	label            method       unit of chunking                         symbol
//	go               go/parser    top-level declaration with its doc;      F, T.Method, T, "A, B, C, …"
//	                              package clause with the imports
//	python           tree-sitter  def, class, NAME = …; class members      f, Class.method
//	javascript,      tree-sitter  function, class, const/let/var,          f, Class.method, default
//	typescript, tsx               interface, type, enum, namespace,
//	                              export of these; members
//	java             tree-sitter  class, interface, enum, record;          Class.method, Class.Inner.f
//	                              methods, constructors, fields
//	rust             tree-sitter  fn, struct, enum, trait, impl, mod,      f, Type.method (impl [Trait for] Type)
//	                              const, static, type, macro_rules
//	c, cpp           tree-sitter  function, declaration, struct/class,     f, ns.Class.method (:: written .)
//	                              typedef, #define, template, namespace,
//	                              extern "C", #if block
//	markdown         pure Go      section: heading to the next heading     Install > From source
//	                              of its level or above; subsections
//	everything else  packer       lines                                    ""
//
// Comments, decorators, annotations and attributes right above a
// definition (no blank line between) belong to it. Lines between
// definitions (imports, top-level statements, free comments) are chunks
// too, with the enclosing symbol. Headings inside fenced code blocks and
// front matter are ignored. A ".h" file is "c" unless it looks like C++.
//
// Every other label ("yaml", "json", "shell", "text", …, and "" for
// unknown) goes through the line/indent packer, as does a Go file that
// does not parse. Tree-sitter recovers from syntax errors, so a broken
// file in a tree-sitter language keeps the definitions it can find.
//
// # Budget
//
// Options.MaxTokens (default 512) caps a chunk at 3*MaxTokens bytes of
// Text, tokens being estimated as bytes/3. A definition that fits is one
// chunk. One that does not is split at its members (a class at its
// methods, a section at its subsections, recursively), and what is still
// too large, a long function say, is line-packed into pieces that keep
// its symbol.
//
// The line/indent packer cuts whole lines, balancing the pieces' sizes
// and preferring to cut before a blank line and before the least indented
// line; it keeps a closing bracket with the block it closes and a lone
// opening brace with its header, and in Markdown avoids cutting through a
// fenced code block. A single line longer than the budget is cut by
// characters (at UTF-8 boundaries, after a space where it can); each
// piece records that line as both StartLine and EndLine.
//
// Options.MinTokens (default MaxTokens/8) merges small siblings: a chunk
// below it joins its neighbour when the two fit the budget together, so
// runs of one-line declarations become one chunk. A merged chunk's symbol
// is that of its largest part. Pieces of one split unit never merge with
// each other. A negative MinTokens disables merging.
//
// # Guarantees
//
// For any input, language and options, Split returns chunks that
//
//   - are in file order and do not overlap;
//   - together hold every non-blank line of the file exactly once (blank
//     lines between chunks are left out; nothing else is);
//   - start and end on non-blank lines, with StartLine <= EndLine;
//   - have a Text of at most 3*MaxTokens bytes that is exactly the bytes
//     of lines StartLine..EndLine, without the last line's terminator
//     ("\n" or "\r\n"), or, for the pieces of one over-long line, that
//     concatenate to that line.
//
// The tests check these properties on every text file of $GOROOT/src, on
// samples of each language at budgets from 2 tokens up, and under a fuzzer.
// The output depends only on the input, Options, Version and the build
// (cgo or not), so point IDs are stable; bump Version when it changes.
//
// # Build
//
// The tree-sitter chunkers (github.com/smacker/go-tree-sitter, whose
// grammars are C) are compiled only with cgo. The first build compiles
// the grammars and takes a while; later builds are cached. Parsers are
// pooled per language, and Split is safe for concurrent use; a parse that
// runs over 10 s falls back to the packer.
//
// Built with CGO_ENABLED=0, the package still works: Go and Markdown are
// chunked by syntax as before, and Python, JavaScript, TypeScript, Java,
// Rust, C and C++ go through the line/indent packer, with empty symbols.
// The guarantees hold either way, but the chunks differ, so a collection
// should be indexed by workers built the same way.
package chunk
