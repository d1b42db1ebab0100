package embed

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestMurmur3Reference pins the hash itself against published values,
// independently of the Go library that computes it.
func TestMurmur3Reference(t *testing.T) {
	signed := func(s string, seed uint32) int32 { return int32(murmur3x86_32(s, seed)) }
	tests := []struct {
		name string
		in   string
		seed uint32
		want int32
	}{
		// mmh3's README: mmh3.hash("foo") and mmh3.hash("foo", 42).
		{"mmh3 readme foo", "foo", 0, -156908512},
		{"mmh3 readme foo seed 42", "foo", 42, -1322301282},
		// fastembed tests/test_bm25_hash_collisions.py:
		// assert mmh3.hash("kitchens") == COLLIDING_TOKEN_ID (358434922)
		// assert mmh3.hash("prostaglandins") == -COLLIDING_TOKEN_ID
		{"fastembed kitchens", "kitchens", 0, 358434922},
		{"fastembed prostaglandins", "prostaglandins", 0, -358434922},
		// fastembed tests/test_bm25_query_index_overflow.py:
		// assert mmh3.hash(BOUNDARY_TOKEN) == -(2**31), BOUNDARY_TOKEN = "ad1u66pi"
		{"fastembed boundary", "ad1u66pi", 0, math.MinInt32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := signed(tt.in, tt.seed); got != tt.want {
				t.Errorf("murmur3_x86_32(%q, %d) = %d, want %d", tt.in, tt.seed, got, tt.want)
			}
		})
	}
	t.Run("smhasher verification", func(t *testing.T) {
		// SMHasher's VerificationTest for MurmurHash3_x86_32: hash the keys
		// {}, {0}, {0,1}, ... {0..254} with seed 256-len, then hash the
		// concatenated little-endian results with seed 0: 0xB0F57EE3.
		key := make([]byte, 256)
		hashes := make([]byte, 0, 4*256)
		for i := range 256 {
			key[i] = byte(i)
			hashes = binary.LittleEndian.AppendUint32(hashes, murmur3x86_32(key[:i], uint32(256-i)))
		}
		if got := murmur3x86_32(hashes, 0); got != 0xB0F57EE3 {
			t.Errorf("verification = %#x, want 0xB0F57EE3", got)
		}
	})
	t.Run("token ids", func(t *testing.T) {
		for in, want := range map[string]uint32{
			"kitchens":       358434922,
			"prostaglandins": 358434922,  // abs of a negative hash
			"ad1u66pi":       2147483648, // abs(-2^31) = 2^31, as fastembed's int64
			"foo":            156908512,
			"hello":          613153351,
		} {
			if got := TokenID(in); got != want {
				t.Errorf("TokenID(%q) = %d, want %d", in, got, want)
			}
		}
	})
}

// TestBM25Worked pins vectors worked out by hand from fastembed's
// algorithm, stage by stage. With k=1.2, b=0.75, avg_len=256 a stem seen
// tf times in a document of n kept stems weighs
//
//	tf*2.2 / (tf + 1.2*(0.25 + 0.75*n/256)).
func TestBM25Worked(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		tokens []string
		want   map[uint32]float64
	}{
		{
			// remove_non_alphanumeric: "func parseHTTPRequest ctx context Context    http Request  error   "
			// tokenize (lower, split): func parsehttprequest ctx context context http request error
			// no punctuation, stopword or long token; stems equal the tokens.
			// n = 8: 1.2*(0.25 + 0.75*8/256) = 0.328125
			// tf 1: 2.2/1.328125 = 1.6564705882352944; "context" tf 2: 4.4/2.328125 = 1.8899328859060405
			name:   "code identifiers",
			text:   "func parseHTTPRequest(ctx context.Context) (*http.Request, error) {",
			tokens: []string{"func", "parsehttprequest", "ctx", "context", "context", "http", "request", "error"},
			want: map[uint32]float64{
				2047739913: 1.6564705882352944, // func
				1439217250: 1.6564705882352944, // parsehttprequest
				1591776623: 1.6564705882352944, // ctx
				766710245:  1.8899328859060405, // context (twice)
				884471572:  1.6564705882352944, // http
				2064885619: 1.6564705882352944, // request
				1678348498: 1.6564705882352944, // error
			},
		},
		{
			// '_' is a word character: snake_case stays one token and is
			// stemmed whole ("snake_case" -> "snake_cas"); the lone "_" is
			// punctuation (category Pc) and dropped.
			// tokens: parse_http_request snake_case __init__ _ _private x_1 max_retries
			// stems:  parse_http_request snake_cas __init__ _privat x_1 max_retri
			// n = 6: 1.2*(0.25 + 0.75*6/256) = 0.32109375; 2.2/1.32109375 = 1.6652868125369606
			name:   "snake case and underscore",
			text:   "parse_http_request snake_case __init__ _ _private x_1 MAX_RETRIES",
			tokens: []string{"parse_http_request", "snake_cas", "__init__", "_privat", "x_1", "max_retri"},
			want: map[uint32]float64{
				885201201:  1.6652868125369606, // parse_http_request
				2145877988: 1.6652868125369606, // snake_cas
				1313159698: 1.6652868125369606, // __init__
				2011074131: 1.6652868125369606, // _privat
				2010404828: 1.6652868125369606, // x_1
				1443425900: 1.6652868125369606, // max_retri
			},
		},
		{
			// tokens: hello world the quick brown fox jumps over the lazy dog
			// stopwords the, over, the dropped; jumps -> jump, lazy -> lazi.
			// n = 8: 1.6564705882352944 each; "hello" is 613153351.
			name:   "punctuation and stopwords",
			text:   "Hello, World!!! The quick brown fox -- jumps over the lazy dog.",
			tokens: []string{"hello", "world", "quick", "brown", "fox", "jump", "lazi", "dog"},
			want: map[uint32]float64{
				613153351:  1.6564705882352944, // hello
				74040069:   1.6564705882352944, // world
				771291085:  1.6564705882352944, // quick
				741580288:  1.6564705882352944, // brown
				1621867415: 1.6564705882352944, // fox
				1913189942: 1.6564705882352944, // jump
				226376294:  1.6564705882352944, // lazi
				1312749093: 1.6564705882352944, // dog
			},
		},
		{
			// '/', ';' and '.' split numbers: http 2 uses port 443 3 14159
			// and 1e10 and 0x1f and 42nd; "and" x3 dropped; uses -> use.
			// n = 10: 1.2*(0.25 + 0.75*10/256) = 0.33515625; 2.2/1.33515625 = 1.6477472205968404
			name:   "numbers",
			text:   "HTTP/2 uses port 443; 3.14159 and 1e10 and 0x1F and 42nd",
			tokens: []string{"http", "2", "use", "port", "443", "3", "14159", "1e10", "0x1f", "42nd"},
			want: map[uint32]float64{
				884471572:  1.6477472205968404, // http
				19522071:   1.6477472205968404, // 2
				640124220:  1.6477472205968404, // use
				108013591:  1.6477472205968404, // port
				919632554:  1.6477472205968404, // 443
				264741300:  1.6477472205968404, // 3
				870913174:  1.6477472205968404, // 14159
				110708208:  1.6477472205968404, // 1e10
				1872112190: 1.6477472205968404, // 0x1f
				1990020435: 1.6477472205968404, // 42nd
			},
		},
		{
			// Letters of every script are word characters; Porter2's vowels
			// are a e i o u y only, so "naïve" loses its final e (naïv) and
			// the others stay. Ids hash the UTF-8 bytes.
			// n = 4: 1.2*(0.25 + 0.75*4/256) = 0.3140625; 2.2/1.3140625 = 1.6741973840665876
			name:   "non-ASCII",
			text:   "Grüße naïve café 東京",
			tokens: []string{"grüße", "naïv", "café", "東京"},
			want: map[uint32]float64{
				1418952266: 1.6741973840665876, // grüße
				756638508:  1.6741973840665876, // naïv
				605818632:  1.6741973840665876, // café
				1765863102: 1.6741973840665876, // 東京
			},
		},
	}
	m := NewBM25()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Tokens(tt.text); !slices.Equal(got, tt.tokens) {
				t.Fatalf("Tokens = %q, want %q", got, tt.tokens)
			}
			checkVector(t, m.Document(tt.text), tt.want)
			q := m.Query(tt.text)
			ones := map[uint32]float64{}
			for id := range tt.want {
				ones[id] = 1
			}
			checkVector(t, q, ones)
		})
	}
}

func checkVector(t *testing.T, got SparseVector, want map[uint32]float64) {
	t.Helper()
	if len(got.Indices) != len(want) || len(got.Values) != len(want) {
		t.Fatalf("vector has %d indices and %d values, want %d: %v", len(got.Indices), len(got.Values), len(want), got)
	}
	if !slices.IsSorted(got.Indices) {
		t.Errorf("indices not sorted: %v", got.Indices)
	}
	for i, id := range got.Indices {
		w, ok := want[id]
		if !ok {
			t.Errorf("unexpected index %d", id)
			continue
		}
		if got.Values[i] != float32(w) {
			t.Errorf("index %d = %v, want %v", id, got.Values[i], float32(w))
		}
	}
}

// TestBM25Golden compares with testdata/bm25_golden.jsonl, written by
// testdata/bm25_golden.py with CPython's re and str.lower, Snowball 2.2.0's
// English stemmer and a murmur3 checked against published values. Values
// are compared exactly, in float64.
func TestBM25Golden(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "bm25_golden.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m := NewBM25()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		var rec struct {
			Text         string    `json:"text"`
			Tokens       []string  `json:"tokens"`
			DocIndices   []uint32  `json:"doc_indices"`
			DocValues    []float64 `json:"doc_values"`
			QueryIndices []uint32  `json:"query_indices"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		n++
		name := rec.Text
		if len(name) > 40 {
			name = strings.ToValidUTF8(name[:40], "")
		}
		t.Run(name, func(t *testing.T) {
			tokens := m.Tokens(rec.Text)
			if !slices.Equal(tokens, rec.Tokens) && len(tokens)+len(rec.Tokens) > 0 {
				t.Fatalf("Tokens = %q\nwant     %q", tokens, rec.Tokens)
			}
			w := m.weights(tokens)
			if len(w) != len(rec.DocIndices) {
				t.Fatalf("%d weights, want %d", len(w), len(rec.DocIndices))
			}
			for i, id := range rec.DocIndices {
				if got, ok := w[id]; !ok || got != rec.DocValues[i] {
					t.Errorf("weight[%d] = %v (present %v), want %v", id, got, ok, rec.DocValues[i])
				}
			}
			doc := m.Document(rec.Text)
			if !slices.Equal(doc.Indices, rec.DocIndices) {
				t.Errorf("Document indices = %v, want %v", doc.Indices, rec.DocIndices)
			}
			q := m.Query(rec.Text)
			if !slices.Equal(q.Indices, rec.QueryIndices) {
				t.Errorf("Query indices = %v, want %v", q.Indices, rec.QueryIndices)
			}
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("golden file has %d records", n)
	}
}

// TestBM25Collision: "sensation" (stem "sensat") and
// "vpcompressdmasked128" share the id 371834241. fastembed assigns
// tf_map[token_id] per distinct stem in first-occurrence order, so the
// stem occurring first later wins.
func TestBM25Collision(t *testing.T) {
	m := NewBM25()
	if a, b := TokenID("sensat"), TokenID("vpcompressdmasked128"); a != b || a != 371834241 {
		t.Fatalf("ids %d and %d, want both 371834241", a, b)
	}
	// n = 3: 1.2*(0.25 + 0.75*3/256) = 0.310546875
	tf1 := 2.2 / (1 + 0.310546875) // 1.6786050074515648
	tf2 := 4.4 / (2 + 0.310546875) // 1.9042907227514157
	checkVector(t, m.Document("sensation sensation vpcompressdmasked128"), map[uint32]float64{371834241: tf1})
	checkVector(t, m.Document("vpcompressdmasked128 sensation sensation"), map[uint32]float64{371834241: tf2})
	checkVector(t, m.Query("sensation vpcompressdmasked128"), map[uint32]float64{371834241: 1})
}

// TestBM25Lowercase covers CPython's str.lower() where Go's
// unicode.ToLower differs, and the separators.
func TestBM25Lowercase(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // tokens before the stopword and stem stage
	}{
		{"dotted capital I splits", "İstanbul KİTAP", []string{"i", "stanbul", "ki", "tap"}},
		{"final sigma", "ΟΔΟΣ ΣΑΣ", []string{"οδος", "σας"}},
		{"lone sigma", "Σ", []string{"σ"}},
		{"sigma inside a word", "aΣb", []string{"aσb"}},
		{"sigma after a modifier letter", "ΑʰΣ", []string{"αʰς"}},
		{"sigma before a modifier letter", "ΑΣʰ", []string{"αςʰ"}},
		{"sigma after a digit", "1Σ", []string{"1σ"}},
		{"combining marks split", "nai\u0308ve", []string{"nai", "ve"}},
		{"invalid UTF-8 splits", "ab\xffcd", []string{"ab", "cd"}},
		{"digits of other scripts", "٣٤٥ ½ Ⅻ ①", []string{"٣٤٥", "½", "ⅻ", "①"}},
		{"symbols and emoji split", "a😀b+c", []string{"a", "b", "c"}},
		{"no-break and em spaces", "a\u00a0b\u2003c", []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			forEachWord(tt.text, func(s string) { got = append(got, s) })
			if !slices.Equal(got, tt.want) {
				t.Errorf("words(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestBM25Filters(t *testing.T) {
	m := NewBM25()
	tests := []struct {
		name, text string
		want       []string
	}{
		{"only stopwords", "The AND of it IS was", nil},
		{"lone underscore", "_ __ a_b", []string{"__", "a_b"}},
		{"40 code points kept, 41 dropped", strings.Repeat("é", 40) + " " + strings.Repeat("é", 41), []string{strings.Repeat("é", 40)}},
		{"short words not stemmed", "ys as is", []string{"ys"}},
		{"Porter2 exceptions", "skies dying news generously", []string{"sky", "die", "news", "generous"}},
		{"empty", "", nil},
		{"punctuation only", "!!! ... ---", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := m.Tokens(tt.text); !slices.Equal(got, tt.want) {
				t.Errorf("Tokens(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
	if v := m.Document("the of"); v.Indices == nil || len(v.Indices) != 0 || len(v.Values) != 0 {
		t.Errorf("empty document = %#v, want empty non-nil slices", v)
	}
}

func TestBM25Params(t *testing.T) {
	if _, err := NewBM25WithParams(BM25Params{K: 1.2, B: 1.5, AvgLen: 256}); !errors.Is(err, ErrConfig) {
		t.Errorf("b=1.5: err = %v, want ErrConfig", err)
	}
	if _, err := NewBM25WithParams(BM25Params{K: 1.2, B: 0.75, AvgLen: math.NaN()}); !errors.Is(err, ErrConfig) {
		t.Errorf("avg_len=NaN: err = %v, want ErrConfig", err)
	}
	m, err := NewBM25WithParams(BM25Params{K: 1.2, B: 0, AvgLen: 100})
	if err != nil {
		t.Fatal(err)
	}
	// b = 0: no length normalisation, tf*2.2/(tf+1.2).
	checkVector(t, m.Document("alpha alpha beta"), map[uint32]float64{
		TokenID("alpha"): 4.4 / 3.2,
		TokenID("beta"):  2.2 / 2.2,
	})
	if m.Model() != "Qdrant/bm25" {
		t.Errorf("Model = %q", m.Model())
	}
}

func FuzzBM25(f *testing.F) {
	for _, s := range []string{"", "func main() {}", "İΣΣ ʰΣ", "a_b __ _", "Grüße 東京 ½", "\xff\xfe", strings.Repeat("x", 41)} {
		f.Add(s)
	}
	m := NewBM25()
	f.Fuzz(func(t *testing.T, s string) {
		doc, q := m.Document(s), m.Query(s)
		for _, v := range []SparseVector{doc, q} {
			if len(v.Indices) != len(v.Values) {
				t.Fatalf("%d indices, %d values", len(v.Indices), len(v.Values))
			}
			for i := 1; i < len(v.Indices); i++ {
				if v.Indices[i] <= v.Indices[i-1] {
					t.Fatalf("indices not strictly increasing: %v", v.Indices)
				}
			}
			for _, x := range v.Values {
				if !(x > 0) || math.IsInf(float64(x), 0) {
					t.Fatalf("value %v", x)
				}
			}
		}
		if !slices.Equal(doc.Indices, q.Indices) {
			t.Fatalf("document indices %v, query indices %v", doc.Indices, q.Indices)
		}
		for _, v := range q.Values {
			if v != 1 {
				t.Fatalf("query value %v", v)
			}
		}
		for _, tok := range m.Tokens(s) {
			if tok == "" || !utf8.ValidString(tok) {
				t.Fatalf("token %q", tok)
			}
		}
	})
}

// BenchmarkBM25 embeds the Go files of net/http as documents.
func BenchmarkBM25(b *testing.B) {
	paths, _ := filepath.Glob(filepath.Join(runtime.GOROOT(), "src", "net", "http", "*.go"))
	var docs []string
	var size int64
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, string(data))
		size += int64(len(data))
	}
	if len(docs) == 0 {
		b.Skip("no GOROOT sources")
	}
	m := NewBM25()
	tokens := 0
	for _, d := range docs {
		tokens += len(m.Tokens(d))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		m.Documents(docs)
	}
	b.ReportMetric(float64(tokens)*float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}
