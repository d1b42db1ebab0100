// Package pipeline is the worker's indexing pipeline: source → select →
// chunk → embed → store, stages joined by bounded channels so memory stays
// flat whatever the input's size (see ../shared/ARCHITECTURE.md, "The
// worker's pipeline"). The stages arrive with the indexing job kinds
// (issue 4); what is here now is the one interface the pipeline needs from
// its host.
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
