package qdrantstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/qdrantlite"
	"github.com/jetrun/jetrun/pkg/qdrantstore"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// testKey is the API key of every test server.
const testKey = "test-api-key-0123456789"

type env struct {
	t     *testing.T
	srv   *qdrantlite.Server
	cfg   qdrantstore.Config
	store *qdrantstore.Store
	ctx   context.Context
}

// setup starts an embedded server that requires testKey on a free
// loopback port, with its data in a temporary directory, and opens a
// Store on it over real gRPC.
func setup(t *testing.T) *env {
	t.Helper()
	srv, err := qdrantlite.Start("127.0.0.1:0", qdrantlite.Options{Dir: t.TempDir(), APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cfg := qdrantstore.Config{Host: "127.0.0.1", Port: srv.Port(), APIKey: testKey}
	store, err := qdrantstore.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return &env{t: t, srv: srv, cfg: cfg, store: store, ctx: ctx}
}

// raw connects the official client directly, to set up what jetrun
// itself never creates.
func (e *env) raw() *qdrant.Client {
	e.t.Helper()
	// The key goes in by interceptor: the client's APIKey field makes it
	// log a plaintext warning through slog.
	withKey := grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(metadata.AppendToOutgoingContext(ctx, "api-key", testKey), method, req, reply, cc, opts...)
	})
	c, err := qdrant.NewClient(&qdrant.Config{Host: "127.0.0.1", Port: e.srv.Port(), PoolSize: 1, SkipCompatibilityCheck: true,
		GrpcOptions: []grpc.DialOption{withKey}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// hybrid is the schema of most tests: 4 dimensions and BM25.
var hybrid = qdrantstore.Schema{
	Dense:    &qdrantstore.Dense{Size: 4, Distance: qdrantstore.Cosine},
	Sparse:   &qdrantstore.Sparse{IDF: true},
	Metadata: map[string]string{"model": "test-embed", "chunker": "v1"},
}

// collection creates a collection with the schema and fails the test on
// any error.
func (e *env) collection(name string, sc qdrantstore.Schema) {
	e.t.Helper()
	created, err := e.store.EnsureCollection(e.ctx, name, sc)
	if err != nil {
		e.t.Fatal(err)
	}
	if !created {
		e.t.Fatalf("collection %s already existed", name)
	}
}

func (e *env) upsert(collection string, pts []qdrantstore.Point) {
	e.t.Helper()
	if err := e.store.Upsert(e.ctx, collection, pts); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) count(collection string, f qdrantstore.Filter) uint64 {
	e.t.Helper()
	n, err := e.store.Count(e.ctx, collection, f)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// chunk is the i-th chunk of a file, as the pipeline would make it, with
// a dense vector that varies with i and a small sparse one.
func chunk(source, path, fileHash, lang string, i int) qdrantstore.Point {
	return qdrantstore.Point{
		ID:     qdrantstore.PointID(source, path, fileHash, fmt.Sprint(i), "test/1"),
		Dense:  []float32{1, float32(i%7) / 7, float32(i%11) / 11, 0.5},
		Sparse: &qdrantstore.SparseVector{Indices: []uint32{uint32(i % 50), 1000}, Values: []float32{1, 0.5}},
		Payload: map[string]any{
			qdrantstore.KeySource:    source,
			qdrantstore.KeyPath:      path,
			qdrantstore.KeyFileHash:  fileHash,
			qdrantstore.KeyLanguage:  lang,
			qdrantstore.KeyStartLine: i*10 + 1,
			qdrantstore.KeyEndLine:   i*10 + 10,
			qdrantstore.KeyText:      fmt.Sprintf("chunk %d of %s", i, path),
		},
	}
}
