// Package qdrantstore is how jetrun talks to Qdrant: the worker pipeline
// writes chunks through it and `submit search` reads them. It wraps the
// official gRPC client (github.com/qdrant/go-client) behind a small API in
// plain Go types (points, filters, queries, hits), so the pipeline imports
// neither the client nor gRPC.
//
//	store, err := qdrantstore.Open(ctx, cfg)
//	created, err := store.EnsureCollection(ctx, "docs", qdrantstore.Schema{
//		Dense:    &qdrantstore.Dense{Size: 3, Distance: qdrantstore.Cosine},
//		Sparse:   &qdrantstore.Sparse{IDF: true},
//		Metadata: map[string]string{"model": "bge-m3", "chunker": "v2"},
//	})
//	err = store.Upsert(ctx, "docs", points)
//	hits, err := store.Search(ctx, "docs", qdrantstore.Query{Dense: q, Sparse: sq, Limit: 10})
//
// # Configuration
//
// Flags are the interface ([Config.RegisterFlags]); the environment
// supplies their defaults ([FromEnv]):
//
//	flag (env)                                      default    meaning
//	--qdrant-host (QDRANT_HOST)                     localhost  host name or address
//	--qdrant-port (QDRANT_PORT)                     6334       gRPC port (6333 is Qdrant's REST port)
//	--qdrant-url (QDRANT_URL)                                  http(s)://host[:port]: host, port and TLS at once
//	--qdrant-api-key (QDRANT_API_KEY)                          API key, sent with every call; a secret
//	--qdrant-tls (QDRANT_TLS)                       false      TLS; 1/true/0/false
//	--qdrant-ca-file (QDRANT_CA_FILE)               system     PEM CA certificates that verify the server
//	(QDRANT_CA_PEM)                                            the same, inline; what workers receive
//	--qdrant-tls-server-name (QDRANT_TLS_SERVER_NAME)          name to verify in the server's certificate
//	--qdrant-timeout (QDRANT_TIMEOUT)               1m         bound of each request (a batch, a page, a search)
//
// A CA or a server name implies TLS. Bad values are errors wrapping
// [ErrInvalid]. [Config.WorkerEnv] turns a Config into the environment a
// worker needs, with the API key apart, to go through the runtime's
// secret mechanism. A Config prints (String, %v, %+v, %#v) without its API
// key, and no error of this package contains it.
//
// [Open] checks the server at once (a health check, then an authenticated
// call), so a wrong address or key fails with "qdrant at host:port: ..."
// before any work is done.
//
// # Collections and schema checks
//
// A collection holds one dense vector (default name "dense"), one sparse
// vector (default name "bm25", with Qdrant's IDF modifier for BM25), or
// both, plus metadata: the embedding model, the dimensions, the chunker
// version. [Store.EnsureCollection] creates a missing collection with
// keyword payload indexes on source, path and language. It refuses an
// existing collection whose vectors (names, size, distance, IDF) or
// metadata differ from the job's, with an error wrapping
// [ErrSchemaMismatch] that names every difference:
//
//	qdrantstore: schema mismatch: collection docs: dense vector "dense" has size 768, job wants 1024
//
// Operations on a missing collection fail with an error wrapping
// [ErrNotFound]. Errors name the operation and the collection ("upsert
// into docs: ..."); a call cut short by its context wraps
// context.Canceled or context.DeadlineExceeded, and status.Code from
// google.golang.org/grpc/status still gives the gRPC code of a server
// failure.
//
// # Point IDs
//
// [PointID] names a chunk deterministically: the UUIDv5 of its parts
// (source, path, chunk hash, ordinal, chunker version) joined by NUL bytes,
// in the fixed [Namespace]. Re-indexing the same content writes the same
// IDs, so an upsert overwrites instead of duplicating, and a re-run of a
// failed job is harmless. Any language can compute the same IDs.
//
// Incremental indexing rests on two payload fields: [Store.SourceState]
// returns every path of a source with its file_hash, so the pipeline skips
// unchanged files, and [Store.Delete] with a filter such as
//
//	qdrantstore.Filter{
//		Must:    []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeySource, src), qdrantstore.Eq(qdrantstore.KeyPath, p)},
//		MustNot: []qdrantstore.Cond{qdrantstore.Eq(qdrantstore.KeyFileHash, newHash)},
//	}
//
// removes a file's stale points after its new ones are written.
//
// # Batching
//
// [Store.Upsert] checks every point first, then sends batches of
// Store.BatchSize points (default 256), at most Store.Parallelism (default
// 4) at a time, over one HTTP/2 connection. Every write waits until Qdrant
// has applied it, so a job that succeeds has made its points searchable.
// The first failure cancels the batches in flight and is returned; what
// was written stays written, and retrying the call is safe.
//
// # Testing
//
// The tests run the official client against the embedded server
// (pkg/qdrantlite) over real gRPC on loopback, one server per test with
// its data in t.TempDir():
//
//	go test -race ./pkg/qdrantstore/
package qdrantstore
