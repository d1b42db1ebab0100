package embed

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/kljensen/snowball/english"
)

// BM25Model is the model name BM25 reports: the name fastembed and Qdrant
// give the same algorithm, so a collection indexed here can be queried
// with fastembed's Qdrant/bm25 and the other way round.
const BM25Model = "Qdrant/bm25"

// BM25Params are the hyperparameters of the term-frequency part of the BM25
// formula. The IDF part is computed by Qdrant (the collection's sparse
// vector must use the IDF modifier).
type BM25Params struct {
	// K saturates the term frequency: how fast further occurrences stop
	// adding weight. fastembed's default is 1.2.
	K float64
	// B weighs document length normalisation, from 0 (none) to 1 (full).
	// fastembed's default is 0.75.
	B float64
	// AvgLen is the expected average document length in kept tokens.
	// fastembed's default is 256.
	AvgLen float64
}

// DefaultBM25Params returns fastembed's defaults: k=1.2, b=0.75, avg_len=256.
func DefaultBM25Params() BM25Params { return BM25Params{K: 1.2, B: 0.75, AvgLen: 256} }

// bm25MaxTokenLen is fastembed's token_max_length: longer tokens (in code
// points, before stemming) are dropped.
const bm25MaxTokenLen = 40

// BM25 is an offline sparse embedder producing the same token ids and
// values as fastembed's Qdrant/bm25 (English stemmer and stopwords). It
// holds no mutable state and is safe for concurrent use.
//
// The algorithm, as fastembed implements it (fastembed/sparse/bm25.py,
// fastembed/common/utils.py, fastembed/sparse/utils/tokenizer.py):
//
//	document = remove_non_alphanumeric(document)   # re.sub(r"[^\w\s]", " ", text)
//	tokens = SimpleTokenizer.tokenize(document)    # re.sub(r"[^\w]", " ", text.lower()) ... .split()
//	for token in tokens:                           # Bm25._stem
//	    if token in self.punctuation: continue     # every character whose category starts with "P"
//	    if token.lower() in self.stopwords: continue
//	    if len(token) > self.token_max_length: continue   # 40
//	    stemmed_token = self.stemmer.stem_word(token.lower())  # py_rust_stemmers, "english"
//	    if stemmed_token: stemmed_tokens.append(stemmed_token)
//	# Bm25._term_frequency, per distinct stem, doc_len = len(stemmed_tokens):
//	tf_map[token_id] = num_occurrences * (self.k + 1)
//	tf_map[token_id] /= num_occurrences + self.k * (1 - self.b + self.b * doc_len / self.avg_len)
//	# compute_token_id:
//	return abs(mmh3.hash(token))
//	# query_embed: every distinct stem's id, value 1.
//
// The Go equivalents, and how each was checked, are described in the
// package documentation (section BM25).
type BM25 struct {
	p BM25Params
}

var _ Sparse = (*BM25)(nil)

// NewBM25 returns a BM25 embedder with fastembed's default parameters.
func NewBM25() *BM25 { return &BM25{p: DefaultBM25Params()} }

// NewBM25WithParams returns a BM25 embedder with the given parameters:
// K > 0, 0 <= B <= 1, AvgLen > 0, all finite.
func NewBM25WithParams(p BM25Params) (*BM25, error) {
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	switch {
	case !finite(p.K) || p.K <= 0:
		return nil, fmt.Errorf("%w: bm25 k %v (want > 0)", ErrConfig, p.K)
	case !finite(p.B) || p.B < 0 || p.B > 1:
		return nil, fmt.Errorf("%w: bm25 b %v (want 0..1)", ErrConfig, p.B)
	case !finite(p.AvgLen) || p.AvgLen <= 0:
		return nil, fmt.Errorf("%w: bm25 avg_len %v (want > 0)", ErrConfig, p.AvgLen)
	}
	return &BM25{p: p}, nil
}

// Model returns "Qdrant/bm25".
func (m *BM25) Model() string { return BM25Model }

// Params returns the embedder's parameters.
func (m *BM25) Params() BM25Params { return m.p }

// Documents embeds each text with Document.
func (m *BM25) Documents(texts []string) []SparseVector {
	out := make([]SparseVector, len(texts))
	for i, t := range texts {
		out[i] = m.Document(t)
	}
	return out
}

// Document embeds a text to be stored: one entry per distinct stem, valued
//
//	tf*(k+1) / (tf + k*(1 - b + b*doc_len/avg_len))
//
// where tf counts the stem and doc_len counts every kept stem. Indices are
// sorted ascending (fastembed keeps first-occurrence order; Qdrant does not
// care). When two distinct stems share an id (see TokenID) the value of the
// one occurring first in the text later wins, exactly as fastembed's dict
// assignment does.
func (m *BM25) Document(text string) SparseVector {
	return sparseFromMap(m.weights(m.Tokens(text)))
}

// weights computes Bm25._term_frequency over the kept stems, in float64
// as CPython does.
func (m *BM25) weights(stems []string) map[uint32]float64 {
	// Count stems in first-occurrence order (Python dict order).
	pos := make(map[string]int, len(stems))
	var order []string
	var counts []int
	for _, s := range stems {
		i, ok := pos[s]
		if !ok {
			i = len(order)
			pos[s] = i
			order = append(order, s)
			counts = append(counts, 0)
		}
		counts[i]++
	}
	k, b, avg := m.p.K, m.p.B, m.p.AvgLen
	docLen := float64(len(stems))
	// The same operations, in the same order, as CPython's
	// "num_occurrences + self.k * (1 - self.b + self.b * doc_len / self.avg_len)".
	// The explicit float64 conversion forbids a fused multiply-add, which
	// the Go spec would otherwise allow on some architectures.
	lengthNorm := float64(k * ((1 - b) + b*docLen/avg))
	values := make(map[uint32]float64, len(order))
	for i, s := range order {
		n := float64(counts[i])
		values[TokenID(s)] = float64(n*(k+1)) / (n + lengthNorm)
	}
	return values
}

// Query embeds a search query: every distinct stem's id with value 1, the
// BM25 document weights and Qdrant's IDF doing the rest.
func (m *BM25) Query(text string) SparseVector {
	stems := m.Tokens(text)
	values := make(map[uint32]float64, len(stems))
	for _, s := range stems {
		values[TokenID(s)] = 1
	}
	return sparseFromMap(values)
}

// Tokens returns the stems BM25 keeps for text, in text order: the list
// fastembed's Bm25._stem returns. Useful to explain a vector.
func (m *BM25) Tokens(text string) []string {
	var out []string
	stemmed := map[string]string{}
	forEachWord(text, func(tok string) {
		// _stem: punctuation, stopwords, length, stem, drop empty stems.
		if isPunctuationToken(tok) || isStopword(tok) || utf8.RuneCountInString(tok) > bm25MaxTokenLen {
			return
		}
		s, ok := stemmed[tok]
		if !ok {
			s = stemEnglish(tok)
			stemmed[tok] = s
		}
		if s != "" {
			out = append(out, s)
		}
	})
	return out
}

// TokenID is fastembed's compute_token_id, abs(mmh3.hash(token)):
// MurmurHash3 x86_32 of the UTF-8 bytes with seed 0, read as a signed
// 32-bit integer, absolute value. The hash -2^31 becomes 2^31, which fits
// Qdrant's u32 sparse indices (fastembed keeps it in an int64). A hash h
// and its negation -h share an id: "kitchens" and "prostaglandins" both
// give 358434922.
func TokenID(token string) uint32 {
	h := int32(murmur3x86_32(token, 0))
	if h < 0 {
		return uint32(-int64(h))
	}
	return uint32(h)
}

func sparseFromMap(values map[uint32]float64) SparseVector {
	if len(values) == 0 {
		return SparseVector{Indices: []uint32{}, Values: []float32{}}
	}
	v := SparseVector{Indices: make([]uint32, 0, len(values)), Values: make([]float32, 0, len(values))}
	for id := range values {
		v.Indices = append(v.Indices, id)
	}
	slices.Sort(v.Indices)
	for _, id := range v.Indices {
		v.Values = append(v.Values, float32(values[id]))
	}
	return v
}

// stemEnglish is py_rust_stemmers' SnowballStemmer("english").stem_word:
// the Snowball English (Porter2) algorithm. Snowball leaves words of fewer
// than three characters alone ("not hop 3"); the Go package counts bytes
// instead, so the guard is made here in code points. english.Stem
// lower-cases and trims its argument: tokens are already lower case (by
// Python's rules) and never hold white space, so both are no-ops.
func stemEnglish(tok string) string {
	if utf8.RuneCountInString(tok) < 3 {
		return tok
	}
	return english.Stem(tok, true)
}

// isPunctuationToken reports whether tok is a single character of a
// Unicode category P*: fastembed's "token in self.punctuation", a set of
// single characters. Tokens hold word characters only, and the only word
// character that is punctuation is '_' (Pc), so in practice this drops the
// token "_" and nothing else.
func isPunctuationToken(tok string) bool {
	r, n := utf8.DecodeRuneInString(tok)
	return n == len(tok) && unicode.IsPunct(r)
}

// isWord is Python's re "\w" for str patterns: str.isalnum() or '_'. For
// every code point Python's isalnum() equals "Unicode category L* or N*"
// (checked over all of Unicode 14.0 with CPython 3.11's unicodedata).
func isWord(r rune) bool {
	if r < utf8.RuneSelf {
		return asciiWord[r]
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

var asciiWord = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	return t
}()

// forEachWord calls fn with each token of SimpleTokenizer.tokenize(
// remove_non_alphanumeric(text)), in order.
//
// Both steps replace non-word characters by spaces and str.split()
// splits on them, so a token is a maximal run of word characters,
// lower-cased the way CPython's str.lower() does it. Lower-casing runs one
// at a time is exact: str.lower() looks at neighbours only for a capital
// sigma, and its context never crosses a space. Two CPython rules differ
// from Go's unicode.ToLower:
//
//   - 'İ' (U+0130) lowers to "i" + U+0307 COMBINING DOT ABOVE, a non-word
//     character that then splits the token: "İstanbul" gives "i" and
//     "stanbul".
//   - 'Σ' (U+03A3) lowers to final 'ς' when a cased letter precedes it and
//     none follows (case-ignorable characters skipped, Unicode's
//     Final_Sigma), else to 'σ'.
//
// Invalid UTF-8 decodes to U+FFFD, a symbol, hence a separator.
func forEachWord(text string, fn func(string)) {
	i := 0
	for i < len(text) {
		c := text[i]
		if c < utf8.RuneSelf && !asciiWord[c] {
			i++
			continue
		}
		start, ascii, upper := i, true, false
		for i < len(text) {
			c := text[i]
			if c < utf8.RuneSelf {
				if !asciiWord[c] {
					break
				}
				upper = upper || 'A' <= c && c <= 'Z'
				i++
				continue
			}
			r, n := utf8.DecodeRuneInString(text[i:])
			if !isWord(r) {
				break
			}
			ascii = false
			i += n
		}
		if i == start {
			// A non-ASCII non-word character.
			_, n := utf8.DecodeRuneInString(text[i:])
			i += n
			continue
		}
		run := text[start:i]
		switch {
		case ascii && !upper:
			fn(run)
		case ascii:
			fn(strings.ToLower(run))
		default:
			lowerRun(run, fn)
		}
	}
}

// lowerRun lower-cases a run of word characters with CPython's str.lower()
// rules and passes on the resulting token(s).
func lowerRun(run string, fn func(string)) {
	rs := []rune(run)
	var b strings.Builder
	b.Grow(len(run))
	for j, r := range rs {
		switch r {
		case 'İ':
			// "i" + U+0307: the combining mark ends the token.
			b.WriteByte('i')
			fn(b.String())
			b.Reset()
		case 'Σ':
			if finalSigma(rs, j) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	if b.Len() > 0 {
		fn(b.String())
	}
}

// finalSigma is CPython's handle_capital_sigma for the sigma at rs[j]:
// \p{cased}\p{case-ignorable}* Σ !(\p{case-ignorable}*\p{cased}).
// rs holds word characters only; of those, the case-ignorable ones are
// the modifier letters (Lm).
func finalSigma(rs []rune, j int) bool {
	k := j - 1
	for k >= 0 && caseIgnorable(rs[k]) {
		k--
	}
	if k < 0 || !cased(rs[k]) {
		return false
	}
	k = j + 1
	for k < len(rs) && caseIgnorable(rs[k]) {
		k++
	}
	return k == len(rs) || !cased(rs[k])
}

func caseIgnorable(r rune) bool { return unicode.Is(unicode.Lm, r) }

// cased is Unicode's derived property Cased.
func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}
