package qdrantlite_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/qdrantlite"
	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type env struct {
	t      testing.TB
	dir    string
	srv    *qdrantlite.Server
	client *qdrant.Client
	ctx    context.Context
}

// setup starts a server on a free loopback port with its data in dir
// (a fresh temporary directory when empty) and connects the official
// client to it over gRPC.
func setup(t testing.TB, dir, apiKey string) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	srv, err := qdrantlite.Start("127.0.0.1:0", qdrantlite.Options{Dir: dir, APIKey: apiKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	client, err := qdrant.NewClient(&qdrant.Config{Host: "127.0.0.1", Port: srv.Port(), APIKey: apiKey, PoolSize: 1,
		// TestHealthCheckVersionIsCompatibleWithTheClient checks the
		// version; test binaries do not know the client's own version.
		SkipCompatibilityCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return &env{t: t, dir: dir, srv: srv, client: client, ctx: ctx}
}

// restart closes the server and opens a new one on the same directory.
func (e *env) restart() *env {
	e.t.Helper()
	e.client.Close()
	if err := e.srv.Close(); err != nil {
		e.t.Fatal(err)
	}
	return setup(e.t, e.dir, "")
}

// hybrid creates a collection with a named dense vector "dense" (size,
// distance) and a sparse vector "bm25" with the IDF modifier.
func (e *env) hybrid(name string, size uint64, dist qdrant.Distance) {
	e.t.Helper()
	err := e.client.CreateCollection(e.ctx, &qdrant.CreateCollection{
		CollectionName: name,
		VectorsConfig:  qdrant.NewVectorsConfigMap(map[string]*qdrant.VectorParams{"dense": {Size: size, Distance: dist}}),
		SparseVectorsConfig: qdrant.NewSparseVectorsConfig(map[string]*qdrant.SparseVectorParams{
			"bm25": {Modifier: qdrant.Modifier_Idf.Enum()},
		}),
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) upsert(name string, pts ...*qdrant.PointStruct) {
	e.t.Helper()
	if _, err := e.client.Upsert(e.ctx, &qdrant.UpsertPoints{CollectionName: name, Wait: qdrant.PtrOf(true), Points: pts}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) query(req *qdrant.QueryPoints) []*qdrant.ScoredPoint {
	e.t.Helper()
	res, err := e.client.Query(e.ctx, req)
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) count(name string, f *qdrant.Filter) uint64 {
	e.t.Helper()
	n, err := e.client.Count(e.ctx, &qdrant.CountPoints{CollectionName: name, Filter: f, Exact: qdrant.PtrOf(true)})
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// pt builds a point with an id (uint64 or UUID string), optional dense
// and sparse vectors and a payload.
func pt(id any, dense []float32, sparse map[uint32]float32, payload map[string]any) *qdrant.PointStruct {
	vecs := map[string]*qdrant.Vector{}
	if dense != nil {
		vecs["dense"] = qdrant.NewVectorDense(dense)
	}
	if sparse != nil {
		idx, val := splitSparse(sparse)
		vecs["bm25"] = qdrant.NewVectorSparse(idx, val)
	}
	return &qdrant.PointStruct{Id: pid(id), Vectors: qdrant.NewVectorsMap(vecs), Payload: qdrant.NewValueMap(payload)}
}

func pid(id any) *qdrant.PointId {
	switch v := id.(type) {
	case int:
		return qdrant.NewIDNum(uint64(v))
	case uint64:
		return qdrant.NewIDNum(v)
	case string:
		return qdrant.NewIDUUID(v)
	}
	panic("bad id")
}

func splitSparse(m map[uint32]float32) ([]uint32, []float32) {
	var idx []uint32
	for i := range m {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	val := make([]float32, len(idx))
	for j, i := range idx {
		val[j] = m[i]
	}
	return idx, val
}

// idString renders an id as the tests write them.
func idString(id *qdrant.PointId) string {
	if u := id.GetUuid(); u != "" {
		return u
	}
	return formatNum(id.GetNum())
}

func formatNum(n uint64) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{digits[n%10]}, b...)
	}
	return string(b)
}

func ids[T interface{ GetId() *qdrant.PointId }](pts []T) []string {
	out := make([]string, len(pts))
	for i, p := range pts {
		out[i] = idString(p.GetId())
	}
	return out
}

func wantCode(t testing.TB, err error, code codes.Code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v %q", code, msg)
	}
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		t.Fatalf("not a gRPC status: %v", err)
	}
	st := se.GRPCStatus()
	if st.Code() != code {
		t.Fatalf("code = %v (%v), want %v", st.Code(), err, code)
	}
	if msg != "" && st.Message() != msg {
		t.Fatalf("message = %q, want %q", st.Message(), msg)
	}
}

// near compares a returned float32 score with a value worked out by hand.
func near(t testing.TB, what string, got float32, want float64) {
	t.Helper()
	if math.Abs(float64(got)-want) > 1e-5*math.Max(1, math.Abs(want)) {
		t.Errorf("%s: score %.7f, want %.7f", what, got, want)
	}
}
