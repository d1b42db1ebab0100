package awsbatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// logSettle is how long a follower keeps reading after the job ended, for
// the last lines on their way into CloudWatch.
const logSettle = 2 * time.Second

// copyLogs pages through the stream with GetLogEvents from its head. The
// forward token handed back unchanged (or an empty first page) means
// "nothing more for now": without follow that is the end; with follow it
// is the end once the job has ended and logSettle has passed.
func (r *Runtime) copyLogs(ctx context.Context, w io.Writer, id, stream string, follow bool) error {
	var token *string
	tick := min(r.cfg.PollInterval, time.Second)
	var watch waiter
	if follow {
		watch = r.track.add(id)
		defer r.track.remove(id)
	}
	var endedAt time.Time
	for {
		out, err := r.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{
			LogGroupName:  aws.String(r.logGroup),
			LogStreamName: aws.String(stream),
			StartFromHead: aws.Bool(true),
			NextToken:     token,
		})
		var nf *cwtypes.ResourceNotFoundException
		switch {
		case errors.As(err, &nf) && follow && endedAt.IsZero():
			out = &cloudwatchlogs.GetLogEventsOutput{NextForwardToken: token} // not created yet
		case err != nil:
			return fmt.Errorf("logs of %s (%s:%s): %w", id, r.logGroup, stream, err)
		}
		for _, ev := range out.Events {
			msg := aws.ToString(ev.Message)
			if !strings.HasSuffix(msg, "\n") {
				msg += "\n"
			}
			if _, err := io.WriteString(w, msg); err != nil {
				return err
			}
		}
		// The end of the stream, for now, is the forward token handed back
		// unchanged; an empty page with a new token may have more after it.
		drained := (token == nil && len(out.Events) == 0) || (token != nil && aws.ToString(out.NextForwardToken) == *token)
		if out.NextForwardToken != nil {
			token = out.NextForwardToken
		}
		if !drained {
			continue
		}
		if !follow || (!endedAt.IsZero() && time.Since(endedAt) >= logSettle) {
			return nil
		}
		var changed <-chan struct{}
		if endedAt.IsZero() {
			d, gone, ch := watch.snapshot()
			changed = ch
			if gone || (d != nil && statusOf(d).Phase.Done()) {
				endedAt = time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-time.After(tick):
		}
	}
}
