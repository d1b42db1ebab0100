package qdrantlite_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/jetrun/jetrun/pkg/qdrantlite"
	"github.com/qdrant/go-client/qdrant"
)

func TestEverythingSurvivesARestart(t *testing.T) {
	e := setup(t, "", "")
	sparseFixture(e, "idf", true)
	e.hybrid("dropped", 2, qdrant.Distance_Dot)
	if err := e.client.DeleteCollection(e.ctx, "dropped"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.CreateFieldIndex(e.ctx, &qdrant.CreateFieldIndexCollection{CollectionName: "idf", FieldName: "lang", FieldType: qdrant.FieldType_FieldTypeKeyword.Enum(), Wait: qdrant.PtrOf(true)}); err != nil {
		t.Fatal(err)
	}
	// Replace one point and delete another before the restart.
	e.upsert("idf", pt(4, nil, map[uint32]float32{9: 2}, map[string]any{"lang": "rust"}))
	if _, err := e.client.Delete(e.ctx, &qdrant.DeletePoints{CollectionName: "idf", Wait: qdrant.PtrOf(true), Points: qdrant.NewPointsSelector(pid(5))}); err != nil {
		t.Fatal(err)
	}
	query := &qdrant.QueryPoints{CollectionName: "idf", Query: qdrant.NewQuerySparse([]uint32{2, 3}, []float32{1, 0.5}), Using: qdrant.PtrOf("bm25")}
	before := e.query(query)

	e = e.restart()

	names, err := e.client.ListCollections(e.ctx)
	if err != nil || strings.Join(names, ",") != "idf" {
		t.Fatalf("collections after restart = %v, %v", names, err)
	}
	if n := e.count("idf", nil); n != 4 {
		t.Fatalf("points after restart = %d, want 4", n)
	}
	after := e.query(query)
	if len(after) != len(before) {
		t.Fatalf("query after restart: %v, before %v", ids(after), ids(before))
	}
	for i := range before {
		if idString(after[i].GetId()) != idString(before[i].GetId()) || after[i].GetScore() != before[i].GetScore() {
			t.Fatalf("rank %d: %s %v after, %s %v before", i, idString(after[i].GetId()), after[i].GetScore(), idString(before[i].GetId()), before[i].GetScore())
		}
	}
	// The N = 4 of the IDF formula is rebuilt from disk: ln 2 as before.
	near(t, "1", after[0].GetScore(), 2*math.Ln2)
	got, err := e.client.Get(e.ctx, &qdrant.GetPoints{CollectionName: "idf", Ids: []*qdrant.PointId{pid(4)}, WithVectors: qdrant.NewWithVectors(true)})
	if err != nil || len(got) != 1 || got[0].GetPayload()["lang"].GetStringValue() != "rust" {
		t.Fatalf("replaced point after restart = %v, %v", got, err)
	}
	if v := got[0].GetVectors().GetVectors().GetVectors()["bm25"].GetSparse().GetValues(); len(v) != 1 || v[0] != 2 {
		t.Fatalf("replaced sparse vector = %v", v)
	}
	info, err := e.client.GetCollectionInfo(e.ctx, "idf")
	if err != nil || info.GetPayloadSchema()["lang"] == nil {
		t.Fatalf("payload index lost: %v %v", info.GetPayloadSchema(), err)
	}
}

func TestASecondServerCannotOpenTheSameDirectory(t *testing.T) {
	dir := t.TempDir()
	e := setup(t, dir, "")
	_ = e
	_, err := qdrantlite.Open(qdrantlite.Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "another server") {
		t.Fatalf("second open = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "qdrantlite.db")); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentClients runs writers, readers and a deleter at once; run
// under -race it checks the locking, and the final count checks that no
// write was lost.
func TestConcurrentClients(t *testing.T) {
	e := setup(t, "", "")
	e.hybrid("c", 8, qdrant.Distance_Cosine)
	const writers, batches, perBatch = 6, 10, 20
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				var pts []*qdrant.PointStruct
				for i := 0; i < perBatch; i++ {
					id := w*batches*perBatch + b*perBatch + i + 1
					v := make([]float32, 8)
					v[id%8] = 1
					v[(id+1)%8] = float32(w + 1)
					pts = append(pts, pt(id, v, map[uint32]float32{uint32(id % 50): 1}, map[string]any{"writer": fmt.Sprint(w)}))
				}
				if _, err := e.client.Upsert(e.ctx, &qdrant.UpsertPoints{CollectionName: "c", Points: pts}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	// A scratch collection created, filled and dropped meanwhile.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5; i++ {
			name := fmt.Sprint("scratch", i)
			if err := e.client.CreateCollection(e.ctx, &qdrant.CreateCollection{CollectionName: name, VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 2, Distance: qdrant.Distance_Dot})}); err != nil {
				errs <- err
				return
			}
			if _, err := e.client.Upsert(e.ctx, &qdrant.UpsertPoints{CollectionName: name, Points: []*qdrant.PointStruct{{Id: pid(1), Vectors: qdrant.NewVectorsDense([]float32{1, 2})}}}); err != nil {
				errs <- err
				return
			}
			if err := e.client.DeleteCollection(e.ctx, name); err != nil {
				errs <- err
				return
			}
		}
	}()
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				_, err := e.client.Query(e.ctx, &qdrant.QueryPoints{
					CollectionName: "c",
					Prefetch: []*qdrant.PrefetchQuery{
						{Query: qdrant.NewQueryDense([]float32{1, 0, 0, 0, 0, 0, 0, 1}), Using: qdrant.PtrOf("dense")},
						{Query: qdrant.NewQuerySparse([]uint32{1, 2}, []float32{1, 1}), Using: qdrant.PtrOf("bm25")},
					},
					Query: qdrant.NewQueryFusion(qdrant.Fusion_RRF),
				})
				if err != nil {
					errs <- err
					return
				}
				if _, err := e.client.Scroll(e.ctx, &qdrant.ScrollPoints{CollectionName: "c", Limit: qdrant.PtrOf(uint32(50))}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := e.count("c", nil); n != writers*batches*perBatch {
		t.Fatalf("count = %d, want %d", n, writers*batches*perBatch)
	}
	for w := 0; w < writers; w++ {
		if n := e.count("c", &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatchKeyword("writer", fmt.Sprint(w))}}); n != batches*perBatch {
			t.Fatalf("writer %d: %d points", w, n)
		}
	}
	e = e.restart()
	if n := e.count("c", nil); n != writers*batches*perBatch {
		t.Fatalf("count after restart = %d", n)
	}
}
