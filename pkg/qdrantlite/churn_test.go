package qdrantlite_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/qdrant/go-client/qdrant"
)

// TestIndexesStayConsistentThroughChurn replaces and deletes points at
// random (enough to trigger the posting lists' compaction and the dense
// slabs' moves) and after every round compares the server's dense and
// sparse rankings with a brute-force model computed here from the
// formulas, and its counts with the model's.
func TestIndexesStayConsistentThroughChurn(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("c", 3, qdrant.Distance_Dot)
	// A keyword index on "g": filters on it go through the index, which
	// must follow every replacement, deletion and compaction.
	if _, err := e.client.CreateFieldIndex(e.ctx, &qdrant.CreateFieldIndexCollection{CollectionName: "c", FieldName: "g", FieldType: qdrant.FieldType_FieldTypeKeyword.Enum()}); err != nil {
		t.Fatal(err)
	}
	type doc struct {
		dense  []float32
		sparse map[uint32]float32
		group  int64
	}
	model := map[int]doc{}
	rng := rand.New(rand.NewPCG(7, 7))
	randDoc := func() doc {
		d := doc{dense: []float32{rng.Float32()*2 - 1, rng.Float32()*2 - 1, rng.Float32()*2 - 1}, group: rng.Int64N(16)}
		if rng.IntN(5) > 0 { // some points have no sparse vector
			d.sparse = map[uint32]float32{}
			for range 1 + rng.IntN(4) {
				d.sparse[uint32(rng.IntN(12))] = 0.25 + rng.Float32()
			}
		}
		return d
	}
	const ids = 3000
	for round := range 8 {
		// Upsert ~1500 points (new or replaced), delete ~1500.
		var pts []*qdrant.PointStruct
		for range 1500 {
			id := 1 + rng.IntN(ids)
			d := randDoc()
			model[id] = d
			pts = append(pts, pt(id, d.dense, d.sparse, map[string]any{"group": d.group, "g": fmt.Sprint(d.group)}))
		}
		for i := 0; i < len(pts); i += 256 {
			e.upsert("c", pts[i:min(i+256, len(pts))]...)
		}
		var del []*qdrant.PointId
		for range 1500 {
			id := 1 + rng.IntN(ids)
			delete(model, id)
			del = append(del, pid(id))
		}
		if _, err := e.client.Delete(e.ctx, &qdrant.DeletePoints{CollectionName: "c", Wait: qdrant.PtrOf(true), Points: qdrant.NewPointsSelector(del...)}); err != nil {
			t.Fatal(err)
		}
		if n := e.count("c", nil); n != uint64(len(model)) {
			t.Fatalf("round %d: count %d, model %d", round, n, len(model))
		}
		perGroup := map[int64]uint64{}
		for _, d := range model {
			perGroup[d.group]++
		}
		for g := range int64(16) {
			if n := e.count("c", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("g", fmt.Sprint(g))}}); n != perGroup[g] {
				t.Fatalf("round %d: group %d counts %d, model %d", round, g, n, perGroup[g])
			}
		}

		// Dense: Dot, limited to group 1 through the index.
		q := []float32{rng.Float32(), rng.Float32(), rng.Float32()}
		type scored struct {
			id    int
			score float64
		}
		var want []scored
		for id, d := range model {
			if d.group == 1 {
				want = append(want, scored{id, float64(d.dense[0]*q[0] + d.dense[1]*q[1] + d.dense[2]*q[2])})
			}
		}
		sort.Slice(want, func(i, j int) bool { return want[i].score > want[j].score })
		got := e.query(&qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQueryDense(q), Using: qdrant.PtrOf("dense"), Limit: qdrant.PtrOf(uint64(5)),
			Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("g", "1")}}})
		for i := range got {
			if int(got[i].GetId().GetNum()) != want[i].id {
				t.Fatalf("round %d dense rank %d: %d, want %d", round, i, got[i].GetId().GetNum(), want[i].id)
			}
			near(t, "dense", got[i].GetScore(), want[i].score)
		}

		// Sparse with IDF over the model's N and df.
		qs := map[uint32]float32{uint32(rng.IntN(12)): 1, uint32(rng.IntN(12)): 0.5}
		n, df := 0, map[uint32]int{}
		for _, d := range model {
			if d.sparse != nil {
				n++
				for i := range d.sparse {
					df[i]++
				}
			}
		}
		want = want[:0]
		for id, d := range model {
			s, overlap := 0.0, false
			for i, qv := range qs {
				if dv, ok := d.sparse[i]; ok {
					overlap = true
					s += float64(qv) * math.Log((float64(n)-float64(df[i])+0.5)/(float64(df[i])+0.5)+1) * float64(dv)
				}
			}
			if overlap {
				want = append(want, scored{id, s})
			}
		}
		sort.Slice(want, func(i, j int) bool { return want[i].score > want[j].score })
		idx, val := splitSparse(qs)
		got = e.query(&qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQuerySparse(idx, val), Using: qdrant.PtrOf("bm25"), Limit: qdrant.PtrOf(uint64(5))})
		if len(got) != min(5, len(want)) {
			t.Fatalf("round %d sparse: %d results, want %d", round, len(got), min(5, len(want)))
		}
		for i := range got {
			near(t, "sparse", got[i].GetScore(), want[i].score)
		}
		// The same through the index (group 2 only): scored from each
		// point's own vector, with the same collection-wide IDF.
		var want2 []scored
		for _, w := range want {
			if model[w.id].group == 2 {
				want2 = append(want2, w)
			}
		}
		got = e.query(&qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQuerySparse(idx, val), Using: qdrant.PtrOf("bm25"), Limit: qdrant.PtrOf(uint64(5)),
			Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("g", "2")}}})
		if len(got) != min(5, len(want2)) {
			t.Fatalf("round %d indexed sparse: %d results, want %d", round, len(got), min(5, len(want2)))
		}
		for i := range got {
			near(t, "indexed sparse", got[i].GetScore(), want2[i].score)
		}
	}
	e = e.restart()
	if n := e.count("c", nil); n != uint64(len(model)) {
		t.Fatalf("after restart: count %d, model %d", n, len(model))
	}
}

func TestUnnamedDefaultVector(t *testing.T) {
	e := setup(t, "", "")
	if err := e.client.CreateCollection(e.ctx, &qdrant.CreateCollection{CollectionName: "u", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}); err != nil {
		t.Fatal(err)
	}
	e.upsert("u", &qdrant.PointStruct{Id: pid(1), Vectors: qdrant.NewVectors(1, 0)}, &qdrant.PointStruct{Id: pid(2), Vectors: qdrant.NewVectors(0, 1)})
	got := e.query(&qdrant.QueryPoints{CollectionName: "u", Query: qdrant.NewQueryDense([]float32{0.2, 0.9}), WithVectors: qdrant.NewWithVectors(true)})
	if len(got) != 2 || got[0].GetId().GetNum() != 2 {
		t.Fatalf("got %v", ids(got))
	}
	near(t, "2", got[0].GetScore(), 0.9)
	if v := got[0].GetVectors().GetVector().GetDense().GetData(); len(v) != 2 || v[1] != 1 {
		t.Fatalf("unnamed vector = %v", got[0].GetVectors())
	}
	// Query by id: nearest to point 1, excluding itself.
	got = e.query(&qdrant.QueryPoints{CollectionName: "u", Query: qdrant.NewQueryNearest(qdrant.NewVectorInputID(pid(1)))})
	if len(got) != 1 || got[0].GetId().GetNum() != 2 {
		t.Fatalf("by id: %v", ids(got))
	}
}
