// Package client is the Go API for submitting jetrun jobs and following
// them: what the submit command is built on, and what other Go services use.
//
// # Submitting
//
//	c, _ := client.New(nc)
//	id, err := c.Submit(ctx, messages.Submission{Kind: "smoke", Params: json.RawMessage(`{"sleep":"1s"}`)})
//
// Submit fills in the version, a ULID job id and the submission time,
// validates locally (the same checks the dispatcher makes, so a Go producer
// gets the error at once), and publishes with Nats-Msg-Id set to the job id,
// so a retried Submit never runs a job twice.
//
// # Following
//
// Watch replays a job's history from the events stream and then follows it
// until its terminal event, so a job that finishes in a millisecond can
// never finish before the watcher starts listening. Wait is Watch that
// returns the terminal event. WatchAll follows every job, optionally
// filtered by event type (the basis of alerting). Status and List read the
// job records; Cancel and Logs use the dispatchers' request subjects.
package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
)

// Errors returned by the client.
var (
	// ErrNotFound: no record of the job.
	ErrNotFound = errors.New("job not found")
	// ErrNoDispatcher: nothing answered a request or the streams do not
	// exist yet.
	ErrNoDispatcher = errors.New("no jetrun dispatcher answered (is one running on this NATS with this prefix?)")
)

// Client talks to one jetrun installation (one prefix) over one NATS
// connection. It is safe for concurrent use.
type Client struct {
	nc    *nats.Conn
	js    jetstream.JetStream
	names messages.Names
}

// Option configures a Client.
type Option func(*Client)

// WithNames selects the installation by its names (prefix).
func WithNames(n messages.Names) Option { return func(c *Client) { c.names = n } }

// New returns a client over nc.
func New(nc *nats.Conn, opts ...Option) (*Client, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	c := &Client{nc: nc, js: js, names: messages.DefaultNames()}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Names returns the installation's names.
func (c *Client) Names() messages.Names { return c.names }

// NewJobID returns a new ULID job id: unique, and sortable by time.
func NewJobID() string {
	return strings.ToLower(ulid.MustNew(ulid.Timestamp(time.Now()), rand.Reader).String())
}

// Submit publishes a submission and returns its job id. Missing V, JobID
// and SubmittedAt are filled in. The submission is validated first; the
// job's params are validated by the dispatcher, which answers a bad job with
// a "rejected" event.
func (c *Client) Submit(ctx context.Context, sub messages.Submission) (string, error) {
	if sub.V == 0 {
		sub.V = messages.Version
	}
	if sub.JobID == "" {
		sub.JobID = NewJobID()
	}
	if sub.SubmittedAt.IsZero() {
		sub.SubmittedAt = time.Now().UTC()
	}
	if len(sub.Params) == 0 {
		sub.Params = json.RawMessage(`{}`)
	}
	if err := sub.Validate(); err != nil {
		return "", err
	}
	data, err := json.Marshal(&sub)
	if err != nil {
		return "", err
	}
	if len(data) > messages.MaxSubmissionBytes {
		return "", fmt.Errorf("%w: submission is %d bytes (max %d; put large inputs in the uploads store)",
			messages.ErrInvalid, len(data), messages.MaxSubmissionBytes)
	}
	m := nats.NewMsg(c.names.SubmitSubject(sub.Kind))
	m.Data = data
	m.Header.Set(messages.HeaderMsgID, sub.JobID)
	if _, err := c.js.PublishMsg(ctx, m); err != nil {
		if errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, nats.ErrNoResponders) {
			return "", fmt.Errorf("submit %s: %w", sub.JobID, ErrNoDispatcher)
		}
		return "", fmt.Errorf("submit %s: %w", sub.JobID, err)
	}
	return sub.JobID, nil
}

func (c *Client) kv(ctx context.Context) (jetstream.KeyValue, error) {
	kv, err := c.js.KeyValue(ctx, c.names.StateBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("bucket %s: %w", c.names.StateBucket(), ErrNoDispatcher)
	}
	return kv, err
}

// Status returns a job's record.
func (c *Client) Status(ctx context.Context, jobID string) (messages.Record, error) {
	if !messages.ValidJobID(jobID) {
		return messages.Record{}, fmt.Errorf("%w: job id %q", messages.ErrInvalid, jobID)
	}
	kv, err := c.kv(ctx)
	if err != nil {
		return messages.Record{}, err
	}
	e, err := kv.Get(ctx, jobID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return messages.Record{}, fmt.Errorf("%w: %s", ErrNotFound, jobID)
	}
	if err != nil {
		return messages.Record{}, err
	}
	return messages.DecodeRecord(e.Value())
}

// ListOptions filter List.
type ListOptions struct {
	States []messages.State // empty: all
	Kind   string           // empty: all
	Limit  int              // 0: 100
}

// List returns job records, newest first.
func (c *Client) List(ctx context.Context, o ListOptions) ([]messages.Record, error) {
	kv, err := c.kv(ctx)
	if err != nil {
		return nil, err
	}
	if o.Limit <= 0 {
		o.Limit = 100
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var recs []messages.Record
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			continue // deleted meanwhile
		}
		r, err := messages.DecodeRecord(e.Value())
		if err != nil {
			continue
		}
		if o.Kind != "" && r.Kind != o.Kind {
			continue
		}
		if len(o.States) > 0 && !containsState(o.States, r.State) {
			continue
		}
		recs = append(recs, r)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil, ctx.Err()
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Created.After(recs[j].Created) })
	if len(recs) > o.Limit {
		recs = recs[:o.Limit]
	}
	return recs, nil
}

func containsState(ss []messages.State, s messages.State) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// errStop ends a watch from inside its callback.
var errStop = errors.New("stop")

// Watch replays a job's events and follows them until its terminal event
// (returned) or ctx ends. fn is called for every event in order; an error
// from fn ends the watch with that error.
func (c *Client) Watch(ctx context.Context, jobID string, fn func(messages.Event) error) (messages.Event, error) {
	if !messages.ValidJobID(jobID) {
		return messages.Event{}, fmt.Errorf("%w: job id %q", messages.ErrInvalid, jobID)
	}
	var last messages.Event
	err := c.follow(ctx, []string{c.names.JobEvents(jobID)}, jetstream.DeliverAllPolicy, time.Time{}, func(ev messages.Event) error {
		if err := fn(ev); err != nil {
			return err
		}
		if ev.Type.Terminal() {
			last = ev
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return last, nil
	}
	return last, err
}

// Wait is Watch without a callback: it returns the job's terminal event.
func (c *Client) Wait(ctx context.Context, jobID string) (messages.Event, error) {
	return c.Watch(ctx, jobID, func(messages.Event) error { return nil })
}

// WatchOptions select the events of WatchAll.
type WatchOptions struct {
	// Types keeps only these event types (empty: all).
	Types []messages.EventType
	// Since replays events newer than this; zero follows new events only.
	Since time.Time
}

// WatchAll follows every job's events until ctx ends or fn returns an error.
func (c *Client) WatchAll(ctx context.Context, o WatchOptions, fn func(messages.Event) error) error {
	subjects := []string{c.names.EventsWildcard()}
	if len(o.Types) > 0 {
		subjects = subjects[:0]
		for _, t := range o.Types {
			if !t.Valid() {
				return fmt.Errorf("%w: event type %q", messages.ErrInvalid, t)
			}
			subjects = append(subjects, c.names.EventsOfType(t))
		}
	}
	policy := jetstream.DeliverNewPolicy
	if !o.Since.IsZero() {
		policy = jetstream.DeliverByStartTimePolicy
	}
	err := c.follow(ctx, subjects, policy, o.Since, fn)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// follow runs an ordered consumer over subjects of the events stream.
func (c *Client) follow(ctx context.Context, subjects []string, policy jetstream.DeliverPolicy, since time.Time, fn func(messages.Event) error) error {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: subjects, DeliverPolicy: policy}
	if !since.IsZero() {
		cfg.OptStartTime = &since
	}
	cons, err := c.js.OrderedConsumer(ctx, c.names.EventsStream(), cfg)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s: %w", c.names.EventsStream(), ErrNoDispatcher)
	}
	if err != nil {
		return err
	}
	iter, err := cons.Messages()
	if err != nil {
		return err
	}
	defer iter.Stop()
	stop := context.AfterFunc(ctx, iter.Stop)
	defer stop()
	for {
		m, err := iter.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		ev, err := messages.DecodeEvent(m.Data())
		if err != nil {
			continue // not ours to judge: skip what we cannot read
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
}

// cancelTry bounds one cancel request; a dispatcher answers in
// milliseconds once it has read and written the job's record.
const cancelTry = 5 * time.Second

// Cancel asks the dispatchers to cancel a job. Cancellation is durable: it
// is recorded even for a job still waiting in the queue, which then never
// runs. A reply with Accepted means the wish is in the job's record and
// holds: the job ends cancelled (or dead, if its last attempt was being
// dead-lettered at that moment), never succeeded. If the job's end was
// recorded first, the reply is not accepted and names the state.
func (c *Client) Cancel(ctx context.Context, jobID, reason string) (messages.CancelReply, error) {
	var r messages.CancelReply
	if !messages.ValidJobID(jobID) {
		return r, fmt.Errorf("%w: job id %q", messages.ErrInvalid, jobID)
	}
	body, _ := json.Marshal(messages.CancelRequest{Reason: reason})
	// A cancel is idempotent: a request nobody answered (the dispatcher
	// serving it died, or none was up) is sent again, four times at most
	// within ctx. An error means no dispatcher said the cancel was
	// recorded; the caller must not take it as done.
	var m *nats.Msg
	var err error
	for try := 1; ; try++ {
		actx, cancel := context.WithTimeout(ctx, cancelTry)
		m, err = c.nc.RequestWithContext(actx, c.names.CancelSubject(jobID), body)
		cancel()
		unanswered := errors.Is(err, nats.ErrNoResponders) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
		if err == nil || !unanswered || try == 4 || ctx.Err() != nil {
			break
		}
		select {
		case <-time.After(time.Duration(try) * 500 * time.Millisecond):
		case <-ctx.Done():
		}
	}
	if errors.Is(err, nats.ErrNoResponders) {
		return r, fmt.Errorf("cancel %s: %w", jobID, ErrNoDispatcher)
	}
	if err != nil {
		return r, fmt.Errorf("cancel %s: not recorded (no dispatcher answered): %w", jobID, err)
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return r, fmt.Errorf("cancel %s: bad reply: %w", jobID, err)
	}
	if r.Error != "" && !r.Accepted {
		return r, fmt.Errorf("cancel %s: %s", jobID, r.Error)
	}
	return r, nil
}

// Dispatchers lists the live dispatchers: their runtimes, kinds, capacity
// and load, as each announced itself in the last few seconds.
func (c *Client) Dispatchers(ctx context.Context) ([]messages.Dispatcher, error) {
	kv, err := c.js.KeyValue(ctx, c.names.DispatchersBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("bucket %s: %w", c.names.DispatchersBucket(), ErrNoDispatcher)
	}
	if err != nil {
		return nil, err
	}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, err
	}
	var out []messages.Dispatcher
	for key := range lister.Keys() {
		e, err := kv.Get(ctx, key)
		if err != nil {
			continue
		}
		var d messages.Dispatcher
		if json.Unmarshal(e.Value(), &d) == nil {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// LogsOptions select Logs.
type LogsOptions struct {
	Follow  bool
	Attempt int // 0: the latest
}

// Logs copies a job's output to w; with Follow it returns when the
// workload ends.
func (c *Client) Logs(ctx context.Context, jobID string, o LogsOptions, w io.Writer) error {
	if !messages.ValidJobID(jobID) {
		return fmt.Errorf("%w: job id %q", messages.ErrInvalid, jobID)
	}
	inbox := c.nc.NewInbox()
	sub, err := c.nc.SubscribeSync(inbox)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	// Logs arrive as fast as the dispatcher reads them: buffer generously
	// rather than drop chunks.
	if err := sub.SetPendingLimits(-1, 512<<20); err != nil {
		return err
	}
	body, _ := json.Marshal(messages.LogsRequest{Follow: o.Follow, Attempt: o.Attempt})
	if err := c.nc.PublishRequest(c.names.LogsSubject(jobID), inbox, body); err != nil {
		return err
	}
	first := true
	for {
		mctx, cancel := ctx, context.CancelFunc(func() {})
		if first {
			mctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		}
		m, err := sub.NextMsgWithContext(mctx)
		cancel()
		if err != nil {
			if first && ctx.Err() == nil {
				return fmt.Errorf("logs %s: %w", jobID, ErrNoDispatcher)
			}
			if errors.Is(err, nats.ErrSlowConsumer) {
				return fmt.Errorf("logs %s: output lost (reader too slow): %w", jobID, err)
			}
			return err
		}
		first = false
		if e := m.Header.Get(messages.HeaderError); e != "" {
			return fmt.Errorf("logs %s: %s", jobID, e)
		}
		if len(m.Data) > 0 {
			if _, err := w.Write(m.Data); err != nil {
				return err
			}
		}
		if m.Header.Get(messages.HeaderEOF) != "" {
			return nil
		}
	}
}
