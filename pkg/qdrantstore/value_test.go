package qdrantstore

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/qdrant/go-client/qdrant"
)

func TestPayloadRoundTrip(t *testing.T) {
	type lang string
	when := time.Date(2025, 3, 1, 12, 0, 0, 5, time.UTC)
	s := "pointed"
	in := map[string]any{
		"nil":     nil,
		"bool":    true,
		"int":     42,
		"int8":    int8(-8),
		"uint32":  uint32(7),
		"uint64":  uint64(math.MaxInt64),
		"float32": float32(0.5),
		"float64": 2.25,
		"string":  "héllo",
		"named":   lang("go"),
		"bytes":   []byte("hi"),
		"time":    when,
		"ptr":     &s,
		"nilptr":  (*string)(nil),
		"strings": []string{"a", "b"},
		"ints":    []int{1, 2},
		"array":   [2]bool{true, false},
		"map":     map[string]string{"k": "v"},
		"nested":  map[string]any{"list": []any{1, "x", map[string]int{"n": 3}}},
		"nilmap":  map[string]any(nil),
	}
	want := map[string]any{
		"nil":     nil,
		"bool":    true,
		"int":     int64(42),
		"int8":    int64(-8),
		"uint32":  int64(7),
		"uint64":  int64(math.MaxInt64),
		"float32": 0.5,
		"float64": 2.25,
		"string":  "héllo",
		"named":   "go",
		"bytes":   "aGk=",
		"time":    "2025-03-01T12:00:00.000000005Z",
		"ptr":     "pointed",
		"nilptr":  nil,
		"strings": []any{"a", "b"},
		"ints":    []any{int64(1), int64(2)},
		"array":   []any{true, false},
		"map":     map[string]any{"k": "v"},
		"nested":  map[string]any{"list": []any{int64(1), "x", map[string]any{"n": int64(3)}}},
		"nilmap":  nil,
	}
	vm, err := toValueMap(in)
	if err != nil {
		t.Fatal(err)
	}
	got := fromValueMap(vm)
	for k := range want {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("%s: got %#v, want %#v", k, got[k], want[k])
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d keys, want %d", len(got), len(want))
	}
}

func TestPayloadInvalid(t *testing.T) {
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"uint64 overflow", uint64(math.MaxUint64), "overflows int64"},
		{"NaN", math.NaN(), "not a JSON number"},
		{"Inf", math.Inf(1), "not a JSON number"},
		{"bad UTF-8", "\xff", "not UTF-8"},
		{"channel", make(chan int), "unsupported payload type chan int"},
		{"struct", struct{ A int }{1}, "unsupported payload type"},
		{"int keys", map[int]string{1: "a"}, "keys must be strings"},
		{"nested", map[string]any{"deep": []any{func() {}}}, `"deep": [0]: qdrantstore: invalid: unsupported payload type func()`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := toValueMap(map[string]any{"k": tt.value})
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), `payload key "k": `) {
				t.Errorf("err = %q, want the key and %q", err, tt.want)
			}
		})
	}
}

func TestFilterProto(t *testing.T) {
	f := Filter{
		Must:    []Cond{Eq(KeySource, "s"), Eq(KeyStartLine, 3), Eq("flag", true), Eq("u", uint64(9)), In(KeyLanguage, "go", "c")},
		MustNot: []Cond{Eq(KeyFileHash, "h")},
	}
	pf, err := f.proto()
	if err != nil {
		t.Fatal(err)
	}
	want := &qdrant.Filter{
		Must: []*qdrant.Condition{
			qdrant.NewMatchKeyword(KeySource, "s"), qdrant.NewMatchInt(KeyStartLine, 3), qdrant.NewMatchBool("flag", true),
			qdrant.NewMatchInt("u", 9), qdrant.NewMatchKeywords(KeyLanguage, "go", "c"),
		},
		MustNot: []*qdrant.Condition{qdrant.NewMatchKeyword(KeyFileHash, "h")},
	}
	if pf.String() != want.String() {
		t.Errorf("got %v\nwant %v", pf, want)
	}

	if pf, err := (Filter{}).proto(); pf != nil || err != nil {
		t.Errorf("zero Filter: %v, %v; want nil, nil", pf, err)
	}
	for name, c := range map[string]Cond{
		"float":    Eq("x", 1.5),
		"overflow": Eq("x", uint64(math.MaxUint64)),
		"zero":     {},
	} {
		if _, err := (Filter{MustNot: []Cond{c}}).proto(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}

func TestSchemaNormalize(t *testing.T) {
	sc, err := Schema{Dense: &Dense{Size: 4}, Sparse: &Sparse{}}.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if *sc.Dense != (Dense{Name: DefaultDenseName, Size: 4, Distance: Cosine}) || *sc.Sparse != (Sparse{Name: DefaultSparseName}) {
		t.Errorf("normalized to %+v %+v", *sc.Dense, *sc.Sparse)
	}
	for name, bad := range map[string]Schema{
		"empty":      {},
		"size 0":     {Dense: &Dense{}},
		"distance":   {Dense: &Dense{Size: 4, Distance: "cosine"}},
		"name clash": {Dense: &Dense{Name: "v", Size: 4}, Sparse: &Sparse{Name: "v"}},
	} {
		if _, err := bad.normalize(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
}
