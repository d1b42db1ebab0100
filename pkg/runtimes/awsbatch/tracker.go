package awsbatch

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"

	"github.com/jetrun/jetrun/pkg/runtimes"
)

// MaxDescribe is the most job ids one DescribeJobs call takes.
const MaxDescribe = 100

// missingPolls is how many polls in a row must miss a job before Wait
// reports it gone: a job is not dropped on one odd answer.
const missingPolls = 3

// tracker is the runtime's one poll of Batch: it refreshes every job that
// someone waits on with DescribeJobs calls of up to 100 ids each, once per
// PollInterval, and wakes the waiters of the jobs that changed. A job
// seen for the first time is described at once (with the other new ones),
// not a whole interval later.
type tracker struct {
	r    *Runtime
	wake chan struct{}
	quit chan struct{}

	startOnce sync.Once
	closeOnce sync.Once
	done      chan struct{}
	ctx       context.Context // cancelled by close: ends calls in flight
	cancel    context.CancelFunc

	mu      sync.Mutex
	jobs    map[string]*entry // by Batch job id
	lastErr time.Time         // when a failed poll was last logged
}

type entry struct {
	detail  *types.JobDetail
	seen    time.Time
	missing int
	gone    bool
	refs    int
	changed chan struct{} // closed and replaced at each change
	acted   string        // the end the runtime asked for, once
}

func newTracker(r *Runtime) *tracker {
	ctx, cancel := context.WithCancel(context.Background())
	return &tracker{r: r, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		ctx: ctx, cancel: cancel, jobs: map[string]*entry{}}
}

func (t *tracker) close() {
	t.closeOnce.Do(func() {
		t.cancel()
		close(t.quit)
		t.startOnce.Do(func() { close(t.done) }) // never started
		<-t.done
	})
}

// waiter is one registration of interest in a job.
type waiter struct {
	t  *tracker
	id string
}

// add registers interest in id; remove must follow.
func (t *tracker) add(id string) waiter {
	t.startOnce.Do(func() { go t.loop() })
	t.mu.Lock()
	e := t.jobs[id]
	if e == nil {
		e = &entry{changed: make(chan struct{})}
		t.jobs[id] = e
	}
	e.refs++
	fresh := e.detail != nil
	t.mu.Unlock()
	if !fresh {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	return waiter{t, id}
}

func (t *tracker) remove(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.jobs[id]; e != nil {
		if e.refs--; e.refs <= 0 {
			delete(t.jobs, id)
		}
	}
}

// snapshot returns the job's last reading, whether it is gone, and a
// channel closed at its next change.
func (w waiter) snapshot() (*types.JobDetail, bool, <-chan struct{}) {
	w.t.mu.Lock()
	defer w.t.mu.Unlock()
	e := w.t.jobs[w.id]
	if e == nil {
		return nil, true, nil
	}
	return e.detail, e.gone, e.changed
}

// await follows a job in the poll until ready says its reading will do,
// and returns that reading. A job Batch no longer knows is ErrNotFound.
func (t *tracker) await(ctx context.Context, id string, ready func(*types.JobDetail) bool) (*types.JobDetail, error) {
	w := t.add(id)
	defer t.remove(id)
	for {
		d, gone, changed := w.snapshot()
		if gone {
			return nil, fmt.Errorf("Batch no longer knows job %s: %w", id, runtimes.ErrNotFound)
		}
		if d != nil && ready(d) {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// fresh returns the last reading of a tracked job if it is younger than
// the poll interval.
func (t *tracker) fresh(id string) (*types.JobDetail, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.jobs[id]
	if e == nil || e.detail == nil || time.Since(e.seen) > t.r.cfg.PollInterval+time.Second {
		return nil, false
	}
	return e.detail, true
}

// observe records a reading made outside the poll (Inspect, Stop).
func (t *tracker) observe(d *types.JobDetail) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.jobs[aws.ToString(d.JobId)]; e != nil {
		t.set(e, d, time.Now())
	}
}

// set stores a reading; t.mu is held.
func (t *tracker) set(e *entry, d *types.JobDetail, now time.Time) {
	e.seen, e.missing = now, 0
	if e.detail != nil && final(e.detail.Status) && !final(d.Status) {
		return // a reading older than the one stored (Stop's, say)
	}
	if e.detail == nil || e.detail.Status != d.Status || aws.ToString(e.detail.StatusReason) != aws.ToString(d.StatusReason) ||
		logStream(e.detail) != logStream(d) {
		if e.detail != nil && e.detail.Status != d.Status {
			e.acted = "" // a new state: what must end it is judged anew
		}
		e.detail = d
		close(e.changed)
		e.changed = make(chan struct{})
		return
	}
	e.detail = d
}

func final(s types.JobStatus) bool {
	return s == types.JobStatusSucceeded || s == types.JobStatusFailed
}

func (t *tracker) loop() {
	defer close(t.done)
	tick := time.NewTicker(t.r.cfg.PollInterval)
	defer tick.Stop()
	for {
		all := false
		select {
		case <-t.quit:
			return
		case <-tick.C:
			all = true
		case <-t.wake:
		}
		t.poll(all)
	}
}

// poll describes the tracked jobs (all of them, or only those never read)
// in calls of up to MaxDescribe ids, then ends the ones the runtime must.
func (t *tracker) poll(all bool) {
	t.mu.Lock()
	ids := make([]string, 0, len(t.jobs))
	for id, e := range t.jobs {
		if all || e.detail == nil {
			ids = append(ids, id)
		}
	}
	t.mu.Unlock()
	slices.Sort(ids)
	for chunk := range slices.Chunk(ids, MaxDescribe) {
		ctx, cancel := context.WithTimeout(t.ctx, 2*time.Minute)
		out, err := t.r.batch.DescribeJobs(ctx, &batch.DescribeJobsInput{Jobs: chunk})
		cancel()
		if err != nil {
			t.logError(err, len(chunk))
			continue
		}
		now := time.Now()
		got := make(map[string]*types.JobDetail, len(out.Jobs))
		for i := range out.Jobs {
			got[aws.ToString(out.Jobs[i].JobId)] = &out.Jobs[i]
		}
		var act []*types.JobDetail
		t.mu.Lock()
		for _, id := range chunk {
			e := t.jobs[id]
			if e == nil {
				continue
			}
			d := got[id]
			if d == nil {
				// Only timed polls count: a job submitted a moment ago
				// may not be described yet, and the polls for new jobs
				// can follow each other within milliseconds.
				if !all {
					continue
				}
				if e.missing++; e.missing >= missingPolls && !e.gone {
					e.gone = true
					close(e.changed)
					e.changed = make(chan struct{})
				}
				continue
			}
			t.set(e, d, now)
			if e.acted == "" {
				if reason := t.r.mustEnd(d, now); reason != "" {
					e.acted = reason
					act = append(act, d)
				}
			}
		}
		t.mu.Unlock()
		for _, d := range act {
			t.end(d, now)
		}
	}
}

func (t *tracker) logError(err error, n int) {
	t.mu.Lock()
	quiet := time.Since(t.lastErr) < time.Minute
	if !quiet {
		t.lastErr = time.Now()
	}
	t.mu.Unlock()
	if !quiet {
		t.r.log.Warn().Err(err).Int("jobs", n).Msg("awsbatch: DescribeJobs failed; retrying at the next poll")
	}
}

// mustEnd returns why the runtime must end a job now: it ran past its own
// timeout, or has not started (STARTING included: a task that never gets
// its container running) RunnableTimeout after its submission. ""
// otherwise.
func (r *Runtime) mustEnd(d *types.JobDetail, now time.Time) string {
	switch d.Status {
	case types.JobStatusRunning:
		timeout, err := time.ParseDuration(d.Tags[TagTimeout])
		if err != nil || timeout <= 0 || d.StartedAt == nil {
			return ""
		}
		if now.After(time.UnixMilli(*d.StartedAt).Add(timeout)) {
			return reasonTimeout + timeout.String()
		}
	case types.JobStatusSubmitted, types.JobStatusPending, types.JobStatusRunnable, types.JobStatusStarting:
		if r.cfg.RunnableTimeout <= 0 || d.CreatedAt == nil {
			return ""
		}
		if now.After(time.UnixMilli(*d.CreatedAt).Add(r.cfg.RunnableTimeout)) {
			return fmt.Sprintf("%s%s: still %s; no compute environment of job queue %s placed it (check the queue's compute environments: state, max vCPUs, instance types, subnets) [%s]",
				reasonRunnable, r.cfg.RunnableTimeout, d.Status, r.cfg.JobQueue, requested(d))
		}
	}
	return ""
}

// requested renders the job's resource requirements for a reason.
func requested(d *types.JobDetail) string {
	if d.Container == nil {
		return ""
	}
	s := ""
	for _, x := range d.Container.ResourceRequirements {
		if s != "" {
			s += " "
		}
		s += string(x.Type) + "=" + aws.ToString(x.Value)
	}
	return s
}

// end asks Batch to end a job: TerminateJob once STARTING (CancelJob
// would leave it), CancelJob before. A failed call is retried at the next
// poll.
func (t *tracker) end(d *types.JobDetail, now time.Time) {
	id := aws.ToString(d.JobId)
	t.mu.Lock()
	reason := ""
	if e := t.jobs[id]; e != nil {
		reason = e.acted
	}
	t.mu.Unlock()
	if reason == "" {
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, time.Minute)
	defer cancel()
	var err error
	if d.Status == types.JobStatusRunning || d.Status == types.JobStatusStarting {
		_, err = t.r.batch.TerminateJob(ctx, &batch.TerminateJobInput{JobId: aws.String(id), Reason: aws.String(reason)})
	} else {
		_, err = t.r.batch.CancelJob(ctx, &batch.CancelJobInput{JobId: aws.String(id), Reason: aws.String(reason)})
	}
	log := t.r.log.Warn().Str("batch_job_id", id).Str("job", aws.ToString(d.JobName)).Str("reason", reason)
	if err != nil {
		log.Err(err).Msg("awsbatch: could not end the job; retrying at the next poll")
		t.mu.Lock()
		if e := t.jobs[id]; e != nil {
			e.acted = ""
		}
		t.mu.Unlock()
		return
	}
	log.Msg("awsbatch: ended the job")
}
