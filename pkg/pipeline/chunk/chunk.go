package chunk

// Version is the chunker's version. It is part of every point ID and of the
// collection metadata, so bump it whenever Split's output for some input
// changes: chunks from two versions must never be mixed in one collection.
const Version = "1" + buildSuffix

// Chunk is one piece of a file, the unit that is embedded and stored.
type Chunk struct {
	// StartLine and EndLine are 1-based and inclusive.
	StartLine, EndLine int
	// Symbol is the enclosing declaration, qualified where the language
	// nests them ("Server.Close", "Outer.Inner.method", "Install > From
	// source"); "" at top level. A chunk that merges several small
	// declarations carries the symbol of the largest of them.
	Symbol string
	// Text is the chunk's content, exactly the lines StartLine..EndLine
	// without the last line's terminator (possibly fewer columns when a
	// single over-long line is split).
	Text string
}

// Default budgets, in tokens (≈ bytes/3).
const (
	DefaultMaxTokens = 512
	minMaxTokens     = 2       // 6 bytes: room for any UTF-8 sequence
	maxMaxTokens     = 1 << 28 // keeps byte arithmetic far from overflow
)

// Options tune Split. The zero value is ready to use.
type Options struct {
	// MaxTokens is the budget of one chunk in tokens, estimated as
	// bytes/3 (no chunk's Text is longer than 3*MaxTokens bytes).
	// 0 means DefaultMaxTokens; values below 2 are raised to 2.
	MaxTokens int
	// MinTokens is the size below which a chunk is merged with an adjacent
	// sibling, as long as the merged chunk still fits MaxTokens.
	// 0 means MaxTokens/8; a negative value disables merging.
	MinTokens int
}

// limits returns the budget and the merge threshold in bytes.
func (o Options) limits() (budget, min int) {
	maxTok := o.MaxTokens
	switch {
	case maxTok == 0:
		maxTok = DefaultMaxTokens
	case maxTok < minMaxTokens:
		maxTok = minMaxTokens
	case maxTok > maxMaxTokens:
		maxTok = maxMaxTokens
	}
	minTok := o.MinTokens
	switch {
	case minTok == 0:
		minTok = maxTok / 8
	case minTok < 0:
		minTok = 0
	case minTok > maxTok:
		minTok = maxTok
	}
	return 3 * maxTok, 3 * minTok
}

// Split cuts data, the content of the file at path, into chunks. lang is a
// label from Language; "" means Language(path, data) is asked. Languages
// without a syntax-aware chunker (and syntax-aware ones whose parse fails)
// go through the line/indent packer, so every input is chunked.
//
// The chunks are in file order and never overlap; together they hold every
// non-blank line exactly once; each Text is at most 3*MaxTokens bytes and
// is the exact text of its lines. A file of blank lines yields no chunks.
// Split is safe for concurrent use.
func Split(path, lang string, data []byte, opt Options) []Chunk {
	budget, min := opt.limits()
	f := newFile(data, budget, min)
	if !f.hasContent() {
		return nil
	}
	if lang == "" {
		lang = Language(path, data)
	}
	var units []unit
	switch lang {
	case "go":
		units = goUnits(f)
	case "markdown":
		units = markdownUnits(f)
	default:
		units = treeSitterUnits(lang, f)
	}
	return f.chunks(f.emit(f.fill(0, f.lines()-1, "", units), nil))
}
