package qdrantlite_test

import (
	"math"
	"strings"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
)

// Every expected score below is worked out by hand from the formulas in
// the comments, not read back from the server.

func TestDenseScoresPerDistance(t *testing.T) {
	e := setup(t, "", "")
	q := []float32{1, 2}
	vecs := map[int][]float32{1: {1, 0}, 2: {0, 1}, 3: {3, 4}, 4: {-1, -1}}
	for _, tc := range []struct {
		dist  qdrant.Distance
		order string
		score map[int]float64
	}{
		// dot(q, v)
		{qdrant.Distance_Dot, "3,2,1,4", map[int]float64{1: 1, 2: 2, 3: 11, 4: -3}},
		// dot(q/|q|, v/|v|); |q| = √5, |(3,4)| = 5
		{qdrant.Distance_Cosine, "3,2,1,4", map[int]float64{1: 1 / math.Sqrt(5), 2: 2 / math.Sqrt(5), 3: 11 / (5 * math.Sqrt(5)), 4: -3 / (math.Sqrt(5) * math.Sqrt(2))}},
		// |q - v|, smallest first: (0,2), (1,1), (-2,-2), (2,3)
		{qdrant.Distance_Euclid, "2,1,3,4", map[int]float64{1: 2, 2: math.Sqrt2, 3: math.Sqrt(8), 4: math.Sqrt(13)}},
		// Σ|q_i - v_i|, smallest first; 1 and 2 tie at 2 and keep id order
		{qdrant.Distance_Manhattan, "1,2,3,4", map[int]float64{1: 2, 2: 2, 3: 4, 4: 5}},
	} {
		t.Run(tc.dist.String(), func(t *testing.T) {
			name := "c_" + tc.dist.String()
			e.hybrid(name, 2, tc.dist)
			for id, v := range vecs {
				e.upsert(name, pt(id, v, nil, nil))
			}
			got := e.query(&qdrant.QueryPoints{CollectionName: name, Query: qdrant.NewQueryDense(q), Using: qdrant.PtrOf("dense")})
			if g := strings.Join(ids(got), ","); g != tc.order {
				t.Fatalf("order %s, want %s", g, tc.order)
			}
			for _, p := range got {
				id := int(p.GetId().GetNum())
				near(t, idString(p.GetId()), p.GetScore(), tc.score[id])
			}
		})
	}
}

func TestScoreThresholdIsStrict(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("dot", 2, qdrant.Distance_Dot)
	e.hybrid("euclid", 2, qdrant.Distance_Euclid)
	for _, c := range []string{"dot", "euclid"} {
		e.upsert(c, pt(1, []float32{1, 0}, nil, nil), pt(2, []float32{2, 0}, nil, nil), pt(3, []float32{3, 0}, nil, nil))
	}
	// Dot with (1,0): 1, 2, 3; keep score > 2.
	got := e.query(&qdrant.QueryPoints{CollectionName: "dot", Query: qdrant.NewQueryDense([]float32{1, 0}), Using: qdrant.PtrOf("dense"), ScoreThreshold: qdrant.PtrOf(float32(2))})
	if g := strings.Join(ids(got), ","); g != "3" {
		t.Fatalf("dot > 2: %s", g)
	}
	// Euclid from (0,0): 1, 2, 3; keep distance < 2.
	got = e.query(&qdrant.QueryPoints{CollectionName: "euclid", Query: qdrant.NewQueryDense([]float32{0, 0}), Using: qdrant.PtrOf("dense"), ScoreThreshold: qdrant.PtrOf(float32(2))})
	if g := strings.Join(ids(got), ","); g != "1" {
		t.Fatalf("euclid < 2: %s", g)
	}
}

// sparseFixture: four points hold the sparse vector, point 5 only a dense
// one, so N = 4 in the IDF formula.
func sparseFixture(e *env, name string, idf bool) {
	cfg := &qdrant.SparseVectorParams{}
	if idf {
		cfg.Modifier = qdrant.Modifier_Idf.Enum()
	}
	err := e.client.CreateCollection(e.ctx, &qdrant.CreateCollection{
		CollectionName:      name,
		VectorsConfig:       qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{"dense": {Size: 2, Distance: qdrant.Distance_Dot}}),
		SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{"bm25": cfg}),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.upsert(name,
		pt(1, nil, map[uint32]float32{1: 1, 2: 2}, map[string]any{"lang": "go"}),
		pt(2, nil, map[uint32]float32{2: 1, 3: 1}, map[string]any{"lang": "py"}),
		pt(3, nil, map[uint32]float32{3: 2.5}, map[string]any{"lang": "go"}),
		pt(4, nil, map[uint32]float32{9: 1}, map[string]any{"lang": "go"}),
		pt(5, []float32{1, 1}, nil, map[string]any{"lang": "go"}),
	)
}

func TestSparseScoresWithIDF(t *testing.T) {
	e := setup(t, "", "")
	sparseFixture(e, "idf", true)
	// Query {2: 1, 3: 0.5}. df(2) = 2 (points 1, 2), df(3) = 2 (2, 3), N = 4:
	// idf = ln((4 - 2 + 0.5)/(2 + 0.5) + 1) = ln 2 for both.
	// 1: 1·ln2·2 = 2 ln2; 2: 1·ln2·1 + 0.5·ln2·1 = 1.5 ln2; 3: 0.5·ln2·2.5 = 1.25 ln2.
	// Point 4 shares no index and is not returned.
	got := e.query(&qdrant.QueryPoints{CollectionName: "idf", Query: qdrant.NewQuerySparse([]uint32{2, 3}, []float32{1, 0.5}), Using: qdrant.PtrOf("bm25"), WithPayload: qdrant.NewWithPayload(true)})
	if g := strings.Join(ids(got), ","); g != "1,2,3" {
		t.Fatalf("order %s, want 1,2,3", g)
	}
	ln2 := math.Ln2
	for i, want := range []float64{2 * ln2, 1.5 * ln2, 1.25 * ln2} {
		near(t, idString(got[i].GetId()), got[i].GetScore(), want)
	}
	if got[0].GetPayload()["lang"].GetStringValue() != "go" {
		t.Fatal("with_payload: payload missing")
	}

	// Index 1 is rarer: df = 1, idf = ln((4 - 1 + 0.5)/(1 + 0.5) + 1) = ln(10/3).
	got = e.query(&qdrant.QueryPoints{CollectionName: "idf", Query: qdrant.NewQuerySparse([]uint32{1}, []float32{2}), Using: qdrant.PtrOf("bm25")})
	if len(got) != 1 {
		t.Fatalf("got %d points", len(got))
	}
	near(t, "rare term", got[0].GetScore(), 2*math.Log(10.0/3)*1)
	if got[0].GetPayload() != nil {
		t.Fatal("query returned a payload without with_payload")
	}
}

func TestSparseScoresWithoutModifierAreDotProducts(t *testing.T) {
	e := setup(t, "", "")
	sparseFixture(e, "plain", false)
	got := e.query(&qdrant.QueryPoints{CollectionName: "plain", Query: qdrant.NewQuerySparse([]uint32{2, 3}, []float32{1, 0.5}), Using: qdrant.PtrOf("bm25")})
	want := []float64{2, 1.5, 1.25} // 1·2; 1·1 + 0.5·1; 0.5·2.5
	if g := strings.Join(ids(got), ","); g != "1,2,3" {
		t.Fatalf("order %s", g)
	}
	for i := range want {
		near(t, idString(got[i].GetId()), got[i].GetScore(), want[i])
	}
}

// hybridFixture: dense ranking for query (1,0) by Dot is 1 > 2 > 3 > 4;
// the sparse ranking for {7: 1} is 2 > 5 (others lack index 7).
func hybridFixture(e *env) {
	e.hybrid("h", 2, qdrant.Distance_Dot)
	e.upsert("h",
		pt(1, []float32{0.9, 0}, nil, map[string]any{"lang": "go"}),
		pt(2, []float32{0.8, 0}, map[uint32]float32{7: 3}, map[string]any{"lang": "go"}),
		pt(3, []float32{0.7, 0}, map[uint32]float32{8: 1}, map[string]any{"lang": "py"}),
		pt(4, []float32{0.6, 0}, nil, map[string]any{"lang": "go"}),
		pt(5, []float32{-1, 0}, map[uint32]float32{7: 1}, map[string]any{"lang": "go"}),
	)
}

func prefetches(limit uint64) []*qdrant.PrefetchQuery {
	return []*qdrant.PrefetchQuery{
		{Query: qdrant.NewQueryDense([]float32{1, 0}), Using: qdrant.PtrOf("dense"), Limit: &limit},
		{Query: qdrant.NewQuerySparse([]uint32{7}, []float32{1}), Using: qdrant.PtrOf("bm25"), Limit: &limit},
	}
}

func TestHybridRRF(t *testing.T) {
	e := setup(t, "", "")
	hybridFixture(e)

	// Dense top 3: 1, 2, 3 (ranks 0, 1, 2). Sparse: 2, 5 (ranks 0, 1).
	// RRF with k = 2: score = Σ 1/(rank + 2):
	// 2: 1/3 + 1/2 = 5/6; 1: 1/2; 5: 1/3; 3: 1/4.
	got := e.query(&qdrant.QueryPoints{CollectionName: "h", Prefetch: prefetches(3), Query: qdrant.NewQueryFusion(qdrant.Fusion_RRF)})
	want := []struct {
		id    string
		score float64
	}{{"2", 5.0 / 6}, {"1", 0.5}, {"5", 1.0 / 3}, {"3", 0.25}}
	if len(got) != len(want) {
		t.Fatalf("got %v", ids(got))
	}
	for i, w := range want {
		if idString(got[i].GetId()) != w.id {
			t.Fatalf("rank %d: %s, want %s (all: %v)", i, idString(got[i].GetId()), w.id, ids(got))
		}
		near(t, w.id, got[i].GetScore(), w.score)
	}

	t.Run("k", func(t *testing.T) {
		// k = 60: 2: 1/61 + 1/60; 1: 1/60; 5: 1/61; 3: 1/62.
		got := e.query(&qdrant.QueryPoints{CollectionName: "h", Prefetch: prefetches(3), Query: qdrant.NewQueryRRF(&qdrant.Rrf{K: qdrant.PtrOf(uint32(60))})})
		if g := strings.Join(ids(got), ","); g != "2,1,5,3" {
			t.Fatalf("order %s", g)
		}
		near(t, "2", got[0].GetScore(), 1.0/61+1.0/60)
		near(t, "3", got[3].GetScore(), 1.0/62)
	})

	t.Run("weights", func(t *testing.T) {
		// Qdrant: 1 / ((rank + 1)/w + k - 1). Dense weight 3, sparse 1, k 2:
		// 1: 1/(1/3 + 1) = 0.75; 2: 1/(2/3 + 1) + 1/(1 + 1) = 0.6 + 0.5 = 1.1;
		// 3: 1/(3/3 + 1) = 0.5; 5: 1/(2 + 1) = 1/3.
		got := e.query(&qdrant.QueryPoints{CollectionName: "h", Prefetch: prefetches(3), Query: qdrant.NewQueryRRF(&qdrant.Rrf{Weights: []float32{3, 1}})})
		if g := strings.Join(ids(got), ","); g != "2,1,3,5" {
			t.Fatalf("order %s", g)
		}
		for i, w := range []float64{1.1, 0.75, 0.5, 1.0 / 3} {
			near(t, idString(got[i].GetId()), got[i].GetScore(), w)
		}
	})

	t.Run("top-level filter reaches every prefetch", func(t *testing.T) {
		// Without point 1 (lang py excluded too: point 3): dense 2, 4, 5;
		// sparse 2, 5. 2: 1/2 + 1/2 = 1; 4: 1/3; 5: 1/4 + 1/3 = 7/12.
		f := &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("lang", "go")}, MustNot: []*qdrant.Condition{qdrant.NewHasID(pid(1))}}
		got := e.query(&qdrant.QueryPoints{CollectionName: "h", Prefetch: prefetches(3), Query: qdrant.NewQueryFusion(qdrant.Fusion_RRF), Filter: f})
		if g := strings.Join(ids(got), ","); g != "2,5,4" {
			t.Fatalf("order %s, want 2,5,4", g)
		}
		near(t, "2", got[0].GetScore(), 1)
		near(t, "5", got[1].GetScore(), 7.0/12)
		near(t, "4", got[2].GetScore(), 1.0/3)
	})

	t.Run("offset, limit and threshold", func(t *testing.T) {
		got := e.query(&qdrant.QueryPoints{CollectionName: "h", Prefetch: prefetches(3), Query: qdrant.NewQueryFusion(qdrant.Fusion_RRF), Offset: qdrant.PtrOf(uint64(1)), Limit: qdrant.PtrOf(uint64(2))})
		if g := strings.Join(ids(got), ","); g != "1,5" {
			t.Fatalf("offset 1 limit 2: %s", g)
		}
		// A fused score passes a threshold it equals.
		got = e.query(&qdrant.QueryPoints{CollectionName: "h", Prefetch: prefetches(3), Query: qdrant.NewQueryFusion(qdrant.Fusion_RRF), ScoreThreshold: qdrant.PtrOf(float32(0.5))})
		if g := strings.Join(ids(got), ","); g != "2,1" {
			t.Fatalf("threshold 0.5: %s", g)
		}
	})

	t.Run("with vectors", func(t *testing.T) {
		got := e.query(&qdrant.QueryPoints{CollectionName: "h", Prefetch: prefetches(3), Query: qdrant.NewQueryFusion(qdrant.Fusion_RRF), Limit: qdrant.PtrOf(uint64(1)), WithVectors: qdrant.NewWithVectors(true)})
		vs := got[0].GetVectors().GetVectors().GetVectors()
		if d := vs["dense"].GetDense().GetData(); len(d) != 2 || d[0] != 0.8 {
			t.Fatalf("dense vector = %v", vs)
		}
		if s := vs["bm25"].GetSparse(); len(s.GetIndices()) != 1 || s.GetValues()[0] != 3 {
			t.Fatalf("sparse vector = %v", vs)
		}
	})

	t.Run("nearest re-scores prefetched candidates", func(t *testing.T) {
		// The sparse prefetch yields 2 and 5; dense (1,0) re-ranks them: 0.8, -1.
		got := e.query(&qdrant.QueryPoints{CollectionName: "h", Prefetch: prefetches(3)[1:], Query: qdrant.NewQueryDense([]float32{1, 0}), Using: qdrant.PtrOf("dense")})
		if g := strings.Join(ids(got), ","); g != "2,5" {
			t.Fatalf("order %s", g)
		}
		near(t, "2", got[0].GetScore(), 0.8)
	})
}

func TestQueryErrors(t *testing.T) {
	e := setup(t, "", "")
	hybridFixture(e)
	for _, tc := range []struct {
		name string
		req  *qdrant.QueryPoints
		code codes.Code
		msg  string
	}{
		{"dimension", &qdrant.QueryPoints{Query: qdrant.NewQueryDense([]float32{1, 0, 0}), Using: qdrant.PtrOf("dense")}, codes.InvalidArgument, "Wrong input: Vector dimension error: expected dim: 2, got 3"},
		{"unknown vector", &qdrant.QueryPoints{Query: qdrant.NewQueryDense([]float32{1, 0}), Using: qdrant.PtrOf("nope")}, codes.InvalidArgument, "Wrong input: Vector with name `nope` is not configured in this collection, available names: bm25, dense"},
		{"no vector name", &qdrant.QueryPoints{Query: qdrant.NewQueryDense([]float32{1, 0})}, codes.InvalidArgument, "Wrong input: Collection requires specified vector name in the request, available names: bm25, dense"},
		{"fusion without prefetch", &qdrant.QueryPoints{Query: qdrant.NewQueryFusion(qdrant.Fusion_RRF)}, codes.InvalidArgument, ""},
		{"prefetch without query", &qdrant.QueryPoints{Prefetch: prefetches(3)}, codes.InvalidArgument, "Bad request: A query is needed to merge the prefetches. Can't have prefetches without defining a query."},
		{"missing collection", &qdrant.QueryPoints{CollectionName: "gone", Query: qdrant.NewQueryDense([]float32{1, 0})}, codes.NotFound, "Not found: Collection `gone` doesn't exist!"},
		{"unsupported query", &qdrant.QueryPoints{Query: qdrant.NewQuerySample(qdrant.Sample_Random)}, codes.Unimplemented, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.req.CollectionName == "" {
				tc.req.CollectionName = "h"
			}
			_, err := e.client.Query(e.ctx, tc.req)
			wantCode(t, err, tc.code, tc.msg)
		})
	}
}

func TestQueryWithoutVectorListsPointsInIDOrder(t *testing.T) {
	e := setup(t, "", "")
	hybridFixture(e)
	got := e.query(&qdrant.QueryPoints{CollectionName: "h", Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("lang", "go")}}, Limit: qdrant.PtrOf(uint64(3))})
	if g := strings.Join(ids(got), ","); g != "1,2,4" {
		t.Fatalf("got %s", g)
	}
}
