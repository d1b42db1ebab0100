package qdrantstore_test

import (
	"context"
	"fmt"
	"os"

	"github.com/jetrun/jetrun/pkg/qdrantlite"
	"github.com/jetrun/jetrun/pkg/qdrantstore"
)

// A collection with a dense and a sparse vector, two points and a hybrid
// search, against the embedded Qdrant-compatible server.
func Example() {
	dir, _ := os.MkdirTemp("", "qdrantstore")
	defer os.RemoveAll(dir)
	srv, err := qdrantlite.Start("127.0.0.1:0", qdrantlite.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	ctx := context.Background()
	cfg := qdrantstore.Config{Host: "127.0.0.1", Port: srv.Port()}

	store, err := qdrantstore.Open(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	created, err := store.EnsureCollection(ctx, "docs", qdrantstore.Schema{
		Dense:    &qdrantstore.Dense{Size: 3, Distance: qdrantstore.Cosine},
		Sparse:   &qdrantstore.Sparse{IDF: true},
		Metadata: map[string]string{"model": "bge-m3", "chunker": "v2"},
	})
	if err != nil {
		panic(err)
	}
	points := []qdrantstore.Point{
		{ID: qdrantstore.PointID("a.go", "1"), Dense: []float32{1, 0, 0},
			Sparse: &qdrantstore.SparseVector{Indices: []uint32{7}, Values: []float32{1}}, Payload: map[string]any{"path": "a.go"}},
		{ID: qdrantstore.PointID("b.go", "1"), Dense: []float32{0, 1, 0},
			Sparse: &qdrantstore.SparseVector{Indices: []uint32{9}, Values: []float32{1}}, Payload: map[string]any{"path": "b.go"}},
	}
	err = store.Upsert(ctx, "docs", points)
	if err != nil {
		panic(err)
	}
	q, sq := []float32{0.9, 0.1, 0}, &qdrantstore.SparseVector{Indices: []uint32{7}, Values: []float32{1}}
	hits, err := store.Search(ctx, "docs", qdrantstore.Query{Dense: q, Sparse: sq, Limit: 10})
	if err != nil {
		panic(err)
	}
	fmt.Println(created, len(hits), hits[0].Payload["path"])
	// Output: true 2 a.go
}
