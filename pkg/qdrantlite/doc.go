// Package qdrantlite is an embedded server that speaks the part of
// Qdrant's gRPC API that jetrun uses, persisted on disk. `dispatcher --dev`
// serves it on 127.0.0.1:6334 and the tests start one per test, so the
// worker, `submit search` and the tests run the same client code
// (github.com/qdrant/go-client) that production runs against a real Qdrant
// cluster. It is a development and test server sized for one machine, not
// a replacement for Qdrant.
//
// # Usage
//
//	srv, err := qdrantlite.Start("127.0.0.1:0", qdrantlite.Options{Dir: dir})
//	defer srv.Close()
//	client, _ := qdrant.NewClient(&qdrant.Config{Host: "127.0.0.1", Port: srv.Port()})
//
// Port 0 picks a free port (tests; `dispatcher --dev` listens on 6334).
// Open + Serve give control of the listener (TLS, unix sockets). The
// package's Example runs this against a health check.
//
// # What it supports
//
// The services are the go-client's own generated server interfaces
// (QdrantServer, CollectionsServer, PointsServer); every RPC not listed
// here answers codes.Unimplemented, as do unsupported variants inside a
// supported RPC (a geo filter, a multi-vector, a recommend query): a
// request is never half-understood.
//
//   - Qdrant.HealthCheck: title "qdrant - vector search engine", version
//     [Version] (1.17.x, so the client's compatibility check passes). Open
//     without an API key, as in Qdrant.
//   - Collections: Create (one unnamed or several named dense vectors, size
//     1–65536, distance Cosine, Dot, Euclid or Manhattan; named sparse
//     vectors, modifier None or Idf; metadata), Delete, List,
//     CollectionExists, Get (status Green, points count, vector config,
//     payload schema, metadata). Names follow Qdrant's rule: 1–255
//     characters, none of < > : " / \ | ? * NUL or 0x1F.
//   - Points: Upsert (wait → Completed, else Acknowledged; update_mode and
//     update_filter), Delete (by ids or filter), Get, Scroll (filter,
//     inclusive offset, numeric ids before UUIDs, next_page_offset, default
//     limit 10), Count (always exact), CreateFieldIndex and
//     DeleteFieldIndex (recorded in the payload schema; a keyword index on
//     a top-level field is built, see Indexes), Query.
//   - Query: nearest by dense vector, sparse vector or point id on the
//     vector named by `using`; prefetch (nested, each with its own filter,
//     limit and threshold, the top-level filter ANDed in); Fusion RRF
//     (score Σ 1/(rank + 2), rank from 0), Rrf{k, weights} (Σ
//     1/((rank+1)/w + k − 1)), Fusion DBSF; nearest over prefetched
//     candidates (re-scoring); no query (points in id order);
//     score_threshold (strict for vector scores, ≥ for fused ones), offset,
//     limit (default 10), with_payload (include/exclude) and with_vectors.
//   - Scores: Cosine and Dot are dot products (Cosine vectors normalised on
//     insert, as Qdrant does); Euclid and Manhattan return the distance,
//     smallest first. Sparse: Σ q_i·d_i over shared indices; with the Idf
//     modifier Σ q_i·idf_i·d_i with idf_i = ln((N − df_i + 0.5)/(df_i +
//     0.5) + 1), N the points holding that sparse vector and df_i those
//     holding index i. Only points sharing an index with the query are
//     returned. Ties break by id.
//   - Filters: must, should, must_not, min_should, nested filters; match
//     keyword, keywords (any), except, integer, integers, bool, text
//     (substring); range; values_count; is_empty; is_null; has_id;
//     has_vector. Keys may be dotted paths ("meta.owner", "a[].b"). An
//     array matches if any element does; a missing field never matches.
//   - Errors: Qdrant's codes and texts where clients match on them:
//     NotFound "Not found: Collection `x` doesn't exist!", AlreadyExists,
//     InvalidArgument "Wrong input: Vector dimension error: expected dim:
//     4, got 3", Unauthenticated for a missing or wrong API key.
//
// # What it does not support
//
// Aliases, snapshots, sharding and replication, payload updates
// (SetPayload and friends), vector updates, the legacy Search, Recommend
// and Discover RPCs, multi-vectors, quantization, geo and datetime
// filters, full-text indexes, order_by, groups, facets, and HNSW: dense
// search is an exact scan. Use a real Qdrant for anything beyond
// development and tests.
//
// # Storage
//
// One bbolt file, qdrantlite.db, under Options.Dir; a second server on the
// same directory fails fast. Each point is stored as Qdrant's own
// PointStruct protobuf under a key that sorts in Qdrant's id order, and
// every write is committed (fsync) before it is acknowledged, whether or
// not the client asked to wait. On start every collection is loaded into
// memory: dense vectors in one contiguous slab per vector name, sparse
// vectors in an inverted index (the df of the IDF formula is a posting
// list's length).
//
// # Indexes
//
// Dense search is an exact scan of contiguous blocks, split across cores
// (no HNSW). Sparse vectors have an inverted index. A keyword field index
// on a top-level payload field is built in memory: when a filter's
// must-conditions match on one and leave few candidates, queries score
// only those, and scroll, count and delete touch only them (a hybrid query
// restricted to one file of a 100k-point collection takes a millisecond
// instead of a scan). Other filters are evaluated point by point.
//
// # Concurrency
//
// Any number of clients. Reads of a collection share a lock, writes take
// it alone, so a write is atomic (a batch that fails validation changes
// nothing) and a query sees a consistent collection. Dense scans of large
// collections use every core.
//
// # Limits
//
// Memory holds every vector: about 4 KiB per 1024-d point plus its sparse
// vector and payload. The package benchmark
// (go test -run XXX -bench . -benchtime 1x ./pkg/qdrantlite/) measures
// upsert throughput, query latency and RSS at 10k and 100k points; the
// README records the figures. Past a few hundred thousand 1024-d points,
// use Qdrant.
package qdrantlite
