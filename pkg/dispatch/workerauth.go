package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetrun/jetrun/pkg/jobs"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/natsauth"
)

// workerIdentityTTL bounds a worker token: the attempt's timeout, plus as
// long as the watchdog lets a workload wait to start, plus slack.
func (j *job) workerIdentityTTL(timeout time.Duration) time.Duration {
	return timeout + j.d.cfg.QueueTimeout + j.d.cfg.WatchdogSlack + 15*time.Minute
}

// workerGrant answers the auth callout for a worker token: the attempt
// must be the job's current one and not finished, and the worker may read
// the uploads its job's plan names, nothing else.
func (d *Dispatcher) workerGrant(ctx context.Context, jobID string, attempt int) (natsauth.Grant, error) {
	rec, _, err := d.getRecord(ctx, jobID)
	if err != nil {
		return natsauth.Grant{}, fmt.Errorf("read job record: %w", err)
	}
	switch {
	case rec.State.Terminal():
		return natsauth.Grant{}, fmt.Errorf("the job is %s", rec.State)
	case rec.Attempt != attempt:
		return natsauth.Grant{}, fmt.Errorf("the job's current attempt is %d", rec.Attempt)
	case rec.State != messages.StateStarting && rec.State != messages.StateRunning:
		return natsauth.Grant{}, fmt.Errorf("the job is %s, not running", rec.State)
	}
	stream, err := d.js.Stream(ctx, d.names.JobsStream())
	if err != nil {
		return natsauth.Grant{}, err
	}
	raw, err := stream.GetMsg(ctx, rec.MsgSeq)
	if err != nil {
		return natsauth.Grant{}, fmt.Errorf("read the submission: %w", err)
	}
	sub, err := messages.DecodeSubmission(raw.Data)
	if err != nil {
		return natsauth.Grant{}, err
	}
	plan, err := d.prepare(&sub)
	if err != nil {
		return natsauth.Grant{}, err
	}
	var g natsauth.Grant
	if len(plan.Uploads) > 0 {
		obs, err := d.js.ObjectStore(ctx, d.names.UploadsBucket())
		if err != nil {
			return natsauth.Grant{}, fmt.Errorf("uploads: %w", err)
		}
		for _, name := range plan.Uploads {
			info, err := obs.GetInfo(ctx, name)
			if err != nil {
				// The worker will say the upload is missing; it may read
				// nothing else meanwhile.
				if errors.Is(err, context.DeadlineExceeded) {
					return natsauth.Grant{}, err
				}
				continue
			}
			g.Uploads = append(g.Uploads, natsauth.Upload{Name: name, NUID: info.NUID})
		}
	}
	return g, nil
}

// prepare plans a submission with this dispatcher's options.
func (d *Dispatcher) prepare(sub *messages.Submission) (jobs.Plan, error) {
	return d.cfg.Kinds.Prepare(sub, jobs.Options{Timeout: d.cfg.JobTimeout, Grant: d.cfg.Grant,
		Endpoints: d.cfg.Endpoints, AllowJobEmbeddingURLs: d.cfg.AllowJobEmbeddingURLs})
}
