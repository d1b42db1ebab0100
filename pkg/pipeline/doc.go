// Package pipeline is the worker's indexing pipeline: source → select →
// chunk → embed → store, stages joined by bounded channels so memory stays
// flat whatever the input's size. Index runs it; Search embeds a query and
// searches a collection. docs/indexing.md is the user's guide.
//
// # Stages
//
//   - source (package source): a git commit, an archive, a directory;
//     files arrive whole, bounded by the source's per-file limit.
//   - select (source.Selector): .gitignore, globs, vendored, generated,
//     lock, secret, binary and oversized files are skipped and counted.
//   - chunk (package chunk), on GOMAXPROCS goroutines.
//   - embed (package embed): sparse (bm25) inline, dense through the
//     endpoint, two batches in flight.
//   - store (qdrantstore), batched and parallel.
//
// # Incremental runs
//
// Before walking, Index reads the collection's state for the source (path
// → file hash). Unchanged files are not chunked or embedded. After every
// new point is written, the points of changed files that carry another
// file hash, and all points of files gone from the source, are deleted; a
// failed run deletes nothing. Point ids are deterministic (source, path,
// chunk hash, ordinal, chunker version), so a repeated run overwrites.
// The collection's metadata (models, dimensions, chunker version) must
// match the job's, see qdrantstore.EnsureCollection.
//
// # Progress
//
// The pipeline imports neither NATS nor the dispatcher: it reports progress
// through ProgressReporter, which the worker satisfies with
// *progress.Publisher (a nil one discards reports).
package pipeline

import (
	"context"

	"github.com/jetrun/jetrun/pkg/messages"
)

// ProgressReporter receives the pipeline's progress. Implementations must
// not block for long and must not fail the job: progress is best effort.
type ProgressReporter interface {
	Report(ctx context.Context, p messages.Progress)
}
