package qdrantlite_test

import (
	"strings"
	"testing"

	"github.com/jetrun/jetrun/pkg/qdrantlite"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
)

func TestHealthCheckVersionIsCompatibleWithTheClient(t *testing.T) {
	e := setup(t, "", "")
	h, err := e.client.HealthCheck(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.GetTitle() != "qdrant - vector search engine" || h.GetVersion() != qdrantlite.Version {
		t.Fatalf("health check = %v", h)
	}
	if !strings.HasPrefix(h.GetVersion(), "1.17.") {
		t.Fatalf("version %s, want 1.17.x", h.GetVersion())
	}
	// The client this module builds with is v1.17.x.
	if !qdrant.IsCompatible("v1.17.1", h.GetVersion()) {
		t.Fatal("client v1.17.1 would call this server incompatible")
	}
}

func TestCollectionLifecycle(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("docs", 4, qdrant.Distance_Cosine)

	ok, err := e.client.CollectionExists(e.ctx, "docs")
	if err != nil || !ok {
		t.Fatalf("exists = %v, %v", ok, err)
	}
	ok, err = e.client.CollectionExists(e.ctx, "nope")
	if err != nil || ok {
		t.Fatalf("exists(nope) = %v, %v", ok, err)
	}
	e.hybrid("alpha", 2, qdrant.Distance_Dot)
	names, err := e.client.ListCollections(e.ctx)
	if err != nil || strings.Join(names, ",") != "alpha,docs" {
		t.Fatalf("list = %v, %v", names, err)
	}

	e.upsert("docs", pt(1, []float32{1, 0, 0, 0}, nil, nil), pt(2, []float32{0, 1, 0, 0}, map[uint32]float32{7: 1}, nil))
	info, err := e.client.GetCollectionInfo(e.ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	if info.GetStatus() != qdrant.CollectionStatus_Green || info.GetPointsCount() != 2 {
		t.Fatalf("info: status %v, points %d", info.GetStatus(), info.GetPointsCount())
	}
	dense := info.GetConfig().GetParams().GetVectorsConfig().GetParamsMap().GetMap()["dense"]
	if dense.GetSize() != 4 || dense.GetDistance() != qdrant.Distance_Cosine {
		t.Fatalf("dense config = %v", dense)
	}
	if m := info.GetConfig().GetParams().GetSparseVectorsConfig().GetMap()["bm25"].GetModifier(); m != qdrant.Modifier_Idf {
		t.Fatalf("sparse modifier = %v", m)
	}

	err = e.client.CreateCollection(e.ctx, &qdrant.CreateCollection{CollectionName: "docs", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Dot})})
	wantCode(t, err, codes.AlreadyExists, "Wrong input: Collection `docs` already exists!")

	if err := e.client.DeleteCollection(e.ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetCollectionInfo(e.ctx, "docs")
	wantCode(t, err, codes.NotFound, "Not found: Collection `docs` doesn't exist!")
	_, err = e.client.Upsert(e.ctx, &qdrant.UpsertPoints{CollectionName: "docs", Points: []*qdrant.PointStruct{pt(1, []float32{1, 0, 0, 0}, nil, nil)}})
	wantCode(t, err, codes.NotFound, "Not found: Collection `docs` doesn't exist!")
	// Deleting a missing collection is not an error; the result says false.
	resp, err := e.client.GetCollectionsClient().Delete(e.ctx, &qdrant.DeleteCollection{CollectionName: "docs"})
	if err != nil || resp.GetResult() {
		t.Fatalf("second delete = %v, %v", resp, err)
	}

	// The name is free again, with a new shape.
	e.hybrid("docs", 8, qdrant.Distance_Euclid)
	if n := e.count("docs", nil); n != 0 {
		t.Fatalf("recreated collection holds %d points", n)
	}
}

func TestCollectionMetadataRoundTrips(t *testing.T) {
	e := setup(t, "", "")
	err := e.client.CreateCollection(e.ctx, &qdrant.CreateCollection{
		CollectionName: "meta",
		VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 3, Distance: qdrant.Distance_Dot}),
		Metadata:       qdrant.NewValueMap(map[string]any{"model": "bm25", "chunker": 3}),
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := e.client.GetCollectionInfo(e.ctx, "meta")
	if err != nil {
		t.Fatal(err)
	}
	md := info.GetConfig().GetMetadata()
	if md["model"].GetStringValue() != "bm25" || md["chunker"].GetIntegerValue() != 3 {
		t.Fatalf("metadata = %v", md)
	}
}

func TestCollectionNamesAreValidatedAsQdrantDoes(t *testing.T) {
	e := setup(t, "", "")
	for _, tc := range []struct {
		name string
		ok   bool
		msg  string
	}{
		{name: "code-go_1.26", ok: true},
		{name: "ünïcode names", ok: true},
		{name: strings.Repeat("a", 255), ok: true},
		{name: "", msg: "length"},
		{name: strings.Repeat("a", 256), msg: "length"},
		{name: "a/b", msg: `collection name cannot contain "/" char`},
		{name: `a\b`, msg: `cannot contain "\" char`},
		{name: "a:b", msg: `cannot contain ":" char`},
		{name: "a*b", msg: `cannot contain "*" char`},
		{name: "a\x00b", msg: "cannot contain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.client.CreateCollection(e.ctx, &qdrant.CreateCollection{CollectionName: tc.name, VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})})
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantCode(t, err, codes.InvalidArgument, "")
			if !strings.Contains(err.Error(), "Validation error in body: [collection_name: ") || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not explain %q", err, tc.msg)
			}
		})
	}
}

func TestCreateRejectsBadVectorConfigs(t *testing.T) {
	e := setup(t, "", "")
	for name, cfg := range map[string]*qdrant.VectorsConfig{
		"zero size":        qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 0, Distance: qdrant.Distance_Dot}),
		"huge size":        qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 70000, Distance: qdrant.Distance_Dot}),
		"unknown distance": qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 3}),
	} {
		err := e.client.CreateCollection(e.ctx, &qdrant.CreateCollection{CollectionName: "c", VectorsConfig: cfg})
		if err == nil {
			t.Errorf("%s: created", name)
			continue
		}
		wantCode(t, err, codes.InvalidArgument, "")
	}
}

func TestUnsupportedCallsAnswerUnimplemented(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("c", 2, qdrant.Distance_Dot)
	_, err := e.client.GetPointsClient().Recommend(e.ctx, &qdrant.RecommendPoints{CollectionName: "c"})
	wantCode(t, err, codes.Unimplemented, "")
	_, err = e.client.GetCollectionsClient().UpdateAliases(e.ctx, &qdrant.ChangeAliases{})
	wantCode(t, err, codes.Unimplemented, "")
	// A filter condition the server cannot evaluate is refused, never
	// silently treated as a mismatch.
	_, err = e.client.Count(e.ctx, &qdrant.CountPoints{CollectionName: "c", Filter: &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewGeoRadius("loc", 1, 2, 3)}}})
	wantCode(t, err, codes.Unimplemented, "")
	_, err = e.client.GetSnapshotsClient().List(e.ctx, &qdrant.ListSnapshotsRequest{CollectionName: "c"})
	wantCode(t, err, codes.Unimplemented, "")
}

func TestAPIKeyIsRequiredWhenConfigured(t *testing.T) {
	const key = "s3cret-key-for-test"
	e := setup(t, "", key)
	e.hybrid("c", 2, qdrant.Distance_Dot) // the right key works

	for name, k := range map[string]string{"no key": "", "wrong key": "not-the-key"} {
		t.Run(name, func(t *testing.T) {
			c, err := qdrant.NewClient(&qdrant.Config{Host: "127.0.0.1", Port: e.srv.Port(), APIKey: k, SkipCompatibilityCheck: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, err = c.ListCollections(e.ctx)
			wantCode(t, err, codes.Unauthenticated, "")
			if strings.Contains(err.Error(), key) {
				t.Fatalf("error leaks the key: %v", err)
			}
			// Health probes need no key, as in Qdrant.
			if _, err := c.HealthCheck(e.ctx); err != nil {
				t.Fatalf("health check without key: %v", err)
			}
		})
	}
}

func TestUpdateMergesMetadataOnly(t *testing.T) {
	e := setup(t, "", "")
	err := e.client.CreateCollection(e.ctx, &qdrant.CreateCollection{CollectionName: "m", VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot}),
		Metadata: qdrant.NewValueMap(map[string]any{"a": "1", "b": "2"})})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.UpdateCollection(e.ctx, &qdrant.UpdateCollection{CollectionName: "m", Metadata: qdrant.NewValueMap(map[string]any{"b": "3", "c": "4"})}); err != nil {
		t.Fatal(err)
	}
	e = e.restart()
	info, err := e.client.GetCollectionInfo(e.ctx, "m")
	if err != nil {
		t.Fatal(err)
	}
	md := info.GetConfig().GetMetadata()
	if md["a"].GetStringValue() != "1" || md["b"].GetStringValue() != "3" || md["c"].GetStringValue() != "4" {
		t.Fatalf("metadata after update and restart = %v", md)
	}
	err = e.client.UpdateCollection(e.ctx, &qdrant.UpdateCollection{CollectionName: "m", HnswConfig: &qdrant.HnswConfigDiff{M: qdrant.PtrOf(uint64(8))}})
	wantCode(t, err, codes.Unimplemented, "")
	err = e.client.UpdateCollection(e.ctx, &qdrant.UpdateCollection{CollectionName: "nope", Metadata: qdrant.NewValueMap(map[string]any{"x": "y"})})
	wantCode(t, err, codes.NotFound, "")
}
