package qdrantlite_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
)

func TestUpsertValidatesLikeQdrantAndChangesNothingOnError(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("c", 4, qdrant.Distance_Dot)
	good := pt(1, []float32{1, 2, 3, 4}, nil, nil)
	for _, tc := range []struct {
		name string
		bad  *qdrant.PointStruct
		msg  string
	}{
		{"dimension", pt(2, []float32{1, 2, 3}, nil, nil), "Wrong input: Vector dimension error: expected dim: 4, got 3"},
		{"unknown vector", &qdrant.PointStruct{Id: pid(2), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"other": qdrant.NewVectorDense([]float32{1})})}, "Wrong input: Not existing vector name error: other"},
		{"sparse lengths", &qdrant.PointStruct{Id: pid(2), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"bm25": qdrant.NewVectorSparse([]uint32{1, 2}, []float32{1})})}, "Validation error in body: [vector.values: must be the same length as indices]"},
		{"sparse duplicates", &qdrant.PointStruct{Id: pid(2), Vectors: qdrant.NewVectorsMap(map[string]*qdrant.Vector{"bm25": qdrant.NewVectorSparse([]uint32{3, 3}, []float32{1, 2})})}, "Validation error in body: [vector.indices: must be unique]"},
		{"bad uuid", pt("not-a-uuid", []float32{1, 2, 3, 4}, nil, nil), "Unable to parse UUID: not-a-uuid"},
		{"NaN", pt(2, []float32{1, float32(math.NaN()), 3, 4}, nil, nil), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.client.Upsert(e.ctx, &qdrant.UpsertPoints{CollectionName: "c", Points: []*qdrant.PointStruct{good, tc.bad}})
			wantCode(t, err, codes.InvalidArgument, tc.msg)
			if n := e.count("c", nil); n != 0 {
				t.Fatalf("a rejected batch left %d points", n)
			}
		})
	}
}

func TestUpsertStatusFollowsWait(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("c", 2, qdrant.Distance_Dot)
	for wait, want := range map[bool]qdrant.UpdateStatus{true: qdrant.UpdateStatus_Completed, false: qdrant.UpdateStatus_Acknowledged} {
		res, err := e.client.Upsert(e.ctx, &qdrant.UpsertPoints{CollectionName: "c", Wait: &wait, Points: []*qdrant.PointStruct{pt(1, []float32{1, 1}, nil, nil)}})
		if err != nil {
			t.Fatal(err)
		}
		if res.GetStatus() != want || res.OperationId == nil {
			t.Errorf("wait=%v: result %v, want status %v with an operation id", wait, res, want)
		}
	}
	// Not waiting still means applied: the next read sees it.
	if n := e.count("c", nil); n != 1 {
		t.Fatalf("count = %d", n)
	}
}

func TestPointIDsNumericAndCanonicalUUID(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("c", 2, qdrant.Distance_Dot)
	e.upsert("c",
		pt("5C56C793-69F3-4FBF-87E6-C4BF54C28C26", []float32{1, 0}, nil, nil),   // upper case
		pt("{0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0}", []float32{1, 0}, nil, nil), // braced
		pt("00000000000000000000000000000001", []float32{1, 0}, nil, nil),       // simple
		pt(uint64(math.MaxUint64), []float32{1, 0}, nil, nil),                   // max uint64
		pt(0, []float32{1, 0}, nil, nil),
	)
	got, err := e.client.Scroll(e.ctx, &qdrant.ScrollPoints{CollectionName: "c"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0", "18446744073709551615", "00000000-0000-0000-0000-000000000001", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "5c56c793-69f3-4fbf-87e6-c4bf54c28c26"}
	if g := ids(got); !slices.Equal(g, want) {
		t.Fatalf("ids = %v\nwant  %v", g, want)
	}
	// The same UUID in another spelling is the same point.
	e.upsert("c", pt("5c56c793-69f3-4fbf-87e6-c4bf54c28c26", []float32{0, 1}, nil, nil))
	if n := e.count("c", nil); n != 5 {
		t.Fatalf("count = %d after re-upserting a UUID in lower case", n)
	}
}

func TestCosineVectorsAreNormalisedOnInsert(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("c", 2, qdrant.Distance_Cosine)
	e.hybrid("d", 2, qdrant.Distance_Dot)
	e.upsert("c", pt(1, []float32{3, 4}, nil, nil))
	e.upsert("d", pt(1, []float32{3, 4}, nil, nil))
	for name, want := range map[string][]float32{"c": {0.6, 0.8}, "d": {3, 4}} {
		got, err := e.client.Get(e.ctx, &qdrant.GetPoints{CollectionName: name, Ids: []*qdrant.PointId{pid(1)}, WithVectors: qdrant.NewWithVectors(true)})
		if err != nil || len(got) != 1 {
			t.Fatalf("get: %v %v", got, err)
		}
		v := got[0].GetVectors().GetVectors().GetVectors()["dense"].GetDense().GetData()
		if len(v) != 2 || math.Abs(float64(v[0]-want[0])) > 1e-6 || math.Abs(float64(v[1]-want[1])) > 1e-6 {
			t.Errorf("%s: stored %v, want %v", name, v, want)
		}
	}
}

func TestGetReturnsExistingPointsWithSelectedPayload(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("c", 2, qdrant.Distance_Dot)
	e.upsert("c",
		pt(1, []float32{1, 0}, map[uint32]float32{4: 0.5}, map[string]any{"path": "a.go", "lang": "go", "n": 1}),
		pt(2, []float32{0, 1}, nil, map[string]any{"path": "b.go"}),
	)
	got, err := e.client.Get(e.ctx, &qdrant.GetPoints{CollectionName: "c", Ids: []*qdrant.PointId{pid(1), pid(99), pid(2)}, WithPayload: qdrant.NewWithPayloadInclude("path", "n")})
	if err != nil {
		t.Fatal(err)
	}
	if g := ids(got); !slices.Equal(g, []string{"1", "2"}) {
		t.Fatalf("ids = %v", g)
	}
	if p := got[0].GetPayload(); len(p) != 2 || p["path"].GetStringValue() != "a.go" || p["n"].GetIntegerValue() != 1 {
		t.Fatalf("payload = %v", p)
	}
	if got[0].GetVectors() != nil {
		t.Fatal("vectors returned without with_vectors")
	}
	got, err = e.client.Get(e.ctx, &qdrant.GetPoints{CollectionName: "c", Ids: []*qdrant.PointId{pid(1)}, WithPayload: qdrant.NewWithPayloadExclude("lang"), WithVectors: qdrant.NewWithVectorsInclude("bm25")})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[0].GetPayload()["lang"]; ok || len(got[0].GetPayload()) != 2 {
		t.Fatalf("excluded payload = %v", got[0].GetPayload())
	}
	vs := got[0].GetVectors().GetVectors().GetVectors()
	if sp := vs["bm25"].GetSparse(); len(vs) != 1 || !slices.Equal(sp.GetIndices(), []uint32{4}) || !slices.Equal(sp.GetValues(), []float32{0.5}) {
		t.Fatalf("vectors = %v", vs)
	}
}

func TestScrollPagesInIDOrder(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("c", 2, qdrant.Distance_Dot)
	uuids := []string{"ffffffff-0000-0000-0000-000000000000", "00000000-0000-0000-0000-0000000000aa", "80000000-0000-0000-0000-000000000000"}
	var pts []*qdrant.PointStruct
	for i := 25; i >= 1; i-- { // inserted out of order on purpose
		pts = append(pts, pt(i, []float32{1, 0}, nil, map[string]any{"even": i%2 == 0}))
	}
	for _, u := range uuids {
		pts = append(pts, pt(u, []float32{1, 0}, nil, map[string]any{"even": true}))
	}
	e.upsert("c", pts...)

	var all []string
	var offset *qdrant.PointId
	pages := 0
	for {
		got, next, err := e.client.ScrollAndOffset(e.ctx, &qdrant.ScrollPoints{CollectionName: "c", Offset: offset, Limit: qdrant.PtrOf(uint32(10))})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		all = append(all, ids(got)...)
		if next == nil {
			break
		}
		// The next offset is the first point of the next page (inclusive).
		if want := len(all) + 1; want <= 25 && idString(next) != fmt.Sprint(want) {
			t.Fatalf("next_page_offset = %s, want %d", idString(next), want)
		}
		offset = next
	}
	var want []string
	for i := 1; i <= 25; i++ {
		want = append(want, fmt.Sprint(i))
	}
	want = append(want, uuids[1], uuids[2], uuids[0])
	if !slices.Equal(all, want) || pages != 3 {
		t.Fatalf("scrolled %d pages: %v\nwant %v", pages, all, want)
	}

	// Default limit 10; payload by default; filter applied before paging.
	got, next, err := e.client.ScrollAndOffset(e.ctx, &qdrant.ScrollPoints{CollectionName: "c", Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchBool("even", true)}}})
	if err != nil {
		t.Fatal(err)
	}
	if g := strings.Join(ids(got), ","); g != "2,4,6,8,10,12,14,16,18,20" || idString(next) != "22" {
		t.Fatalf("filtered page = %s next %s", g, idString(next))
	}
	if got[0].GetPayload()["even"] == nil {
		t.Fatal("scroll returned no payload by default")
	}
	// An offset that is not a point id starts at the next id.
	got, err = e.client.Scroll(e.ctx, &qdrant.ScrollPoints{CollectionName: "c", Offset: pid(1000), Limit: qdrant.PtrOf(uint32(2))})
	if err != nil || strings.Join(ids(got), ",") != uuids[1]+","+uuids[2] {
		t.Fatalf("scroll from a missing offset = %v %v", ids(got), err)
	}
}

func TestDeleteByIDsAndByFilter(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("c", 2, qdrant.Distance_Dot)
	var pts []*qdrant.PointStruct
	for i := 1; i <= 10; i++ {
		src := "a"
		if i > 6 {
			src = "b"
		}
		pts = append(pts, pt(i, []float32{float32(i), 1}, map[uint32]float32{uint32(i): 1, 100: 1}, map[string]any{"source": src}))
	}
	e.upsert("c", pts...)
	if _, err := e.client.Delete(e.ctx, &qdrant.DeletePoints{CollectionName: "c", Wait: qdrant.PtrOf(true), Points: qdrant.NewPointsSelector(pid(1), pid(2), pid(404))}); err != nil {
		t.Fatal(err)
	}
	if n := e.count("c", nil); n != 8 {
		t.Fatalf("count after deleting 2 ids = %d", n)
	}
	res, err := e.client.Delete(e.ctx, &qdrant.DeletePoints{CollectionName: "c", Points: qdrant.NewPointsSelectorFilter(&qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("source", "a")}})})
	if err != nil || res.GetStatus() != qdrant.UpdateStatus_Acknowledged {
		t.Fatalf("delete by filter = %v %v", res, err)
	}
	if n := e.count("c", nil); n != 4 {
		t.Fatalf("count after deleting source a = %d", n)
	}
	// Deleted points are gone from the sparse index too: index 100 now
	// has df = N = 4.
	got := e.query(&qdrant.QueryPoints{CollectionName: "c", Query: qdrant.NewQuerySparse([]uint32{100}, []float32{1}), Using: qdrant.PtrOf("bm25")})
	if len(got) != 4 {
		t.Fatalf("sparse query after delete returned %d points", len(got))
	}
	near(t, "idf with df = N = 4", got[0].GetScore(), math.Log((4-4+0.5)/(4+0.5)+1))
}

func TestFilters(t *testing.T) {
	t.Run("scan", func(t *testing.T) { testFilters(t, false) })
	// The same table with keyword indexes on lang and tags: must-conditions
	// on them go through the index and must agree with the scan.
	t.Run("indexed", func(t *testing.T) { testFilters(t, true) })
}

func testFilters(t *testing.T, indexed bool) {
	e := setup(t, "", "")
	e.hybrid("c", 2, qdrant.Distance_Dot)
	e.upsert("c",
		pt(1, []float32{1, 0}, nil, map[string]any{"lang": "go", "tags": []any{"x", "y"}, "n": 1, "ok": true, "meta": map[string]any{"owner": "ann"}}),
		pt(2, []float32{1, 0}, nil, map[string]any{"lang": "py", "tags": []any{"y"}, "n": 2, "ok": false}),
		pt(3, []float32{1, 0}, nil, map[string]any{"lang": "go", "n": 3.5, "tags": []any{}}),
		pt(4, []float32{1, 0}, nil, map[string]any{"lang": nil, "ok": true}),
		pt(5, []float32{1, 0}, nil, map[string]any{"tags": []any{nil}, "meta": map[string]any{"owner": "bob"}}),
	)
	// Built from the points already there (the churn test covers indexes
	// that exist before the points).
	if indexed {
		for _, f := range []string{"lang", "tags"} {
			if _, err := e.client.CreateFieldIndex(e.ctx, &qdrant.CreateFieldIndexCollection{CollectionName: "c", FieldName: f, FieldType: qdrant.FieldType_FieldTypeKeyword.Enum()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	must := func(c ...*qdrant.Condition) *qdrant.Filter { return &qdrant.Filter{Must: c} }
	for _, tc := range []struct {
		name string
		f    *qdrant.Filter
		want string
	}{
		{"keyword", must(qdrant.NewMatchKeyword("lang", "go")), "1,3"},
		{"array element", must(qdrant.NewMatchKeyword("tags", "y")), "1,2"},
		{"keywords any", must(qdrant.NewMatchKeywords("lang", "py", "rust")), "2"},
		{"integer (a float never matches)", must(qdrant.NewMatchInt("n", 3)), ""},
		{"integer", must(qdrant.NewMatchInt("n", 2)), "2"},
		{"integers any", must(qdrant.NewMatchInts("n", 1, 2, 7)), "1,2"},
		{"bool", must(qdrant.NewMatchBool("ok", true)), "1,4"},
		{"missing field never matches", must(qdrant.NewMatchBool("absent", false)), ""},
		{"except keywords (missing and null fail)", must(qdrant.NewMatchExcept("lang", "go")), "2"},
		{"range", must(qdrant.NewRange("n", &qdrant.Range{Gte: qdrant.PtrOf(2.0)})), "2,3"},
		{"nested key", must(qdrant.NewMatchKeyword("meta.owner", "bob")), "5"},
		{"must_not", &qdrant.Filter{MustNot: []*qdrant.Condition{qdrant.NewMatchKeyword("lang", "go")}}, "2,4,5"},
		{"should", &qdrant.Filter{Should: []*qdrant.Condition{qdrant.NewMatchKeyword("lang", "py"), qdrant.NewMatchInt("n", 1)}}, "1,2"},
		{"must and should", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("lang", "go")}, Should: []*qdrant.Condition{qdrant.NewMatchInt("n", 1), qdrant.NewMatchKeyword("lang", "py")}}, "1"},
		{"min_should", &qdrant.Filter{MinShould: &qdrant.MinShould{MinCount: 2, Conditions: []*qdrant.Condition{qdrant.NewMatchKeyword("lang", "go"), qdrant.NewMatchBool("ok", true), qdrant.NewMatchKeyword("tags", "x")}}}, "1"},
		{"is_empty", must(qdrant.NewIsEmpty("tags")), "3,4"},
		{"is_null", must(qdrant.NewIsNull("lang")), "4"},
		{"has_id", must(qdrant.NewHasID(pid(2), pid(5), pid(9))), "2,5"},
		{"nested filter", must(qdrant.NewFilterAsCondition(&qdrant.Filter{Should: []*qdrant.Condition{qdrant.NewMatchInt("n", 1), qdrant.NewMatchInt("n", 2)}})), "1,2"},
		{"values_count", must(qdrant.NewValuesCount("tags", &qdrant.ValuesCount{Gte: qdrant.PtrOf(uint64(2))})), "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.client.Scroll(e.ctx, &qdrant.ScrollPoints{CollectionName: "c", Filter: tc.f, Limit: qdrant.PtrOf(uint32(100))})
			if err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(ids(got), ","); g != tc.want {
				t.Fatalf("matched %q, want %q", g, tc.want)
			}
			if n := e.count("c", tc.f); n != uint64(len(got)) {
				t.Fatalf("count %d, scroll %d", n, len(got))
			}
		})
	}
}

func TestCreateFieldIndexIsRecorded(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("c", 2, qdrant.Distance_Dot)
	for _, f := range []string{"source", "path"} {
		if _, err := e.client.CreateFieldIndex(e.ctx, &qdrant.CreateFieldIndexCollection{CollectionName: "c", FieldName: f, FieldType: qdrant.FieldType_FieldTypeKeyword.Enum(), Wait: qdrant.PtrOf(true)}); err != nil {
			t.Fatal(err)
		}
	}
	info, err := e.client.GetCollectionInfo(e.ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if s := info.GetPayloadSchema(); len(s) != 2 || s["source"].GetDataType() != qdrant.PayloadSchemaType_Keyword {
		t.Fatalf("payload schema = %v", s)
	}
}
