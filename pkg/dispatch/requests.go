package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jetrun/jetrun/internal/textutil"
	"github.com/jetrun/jetrun/pkg/lifecycle"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// handleCancel serves "<prefix>.jobs.cancel.<job_id>". Any dispatcher may
// answer: cancellation is durable desired state in the job record, which the
// owner watches. A job nobody holds (waiting out a retry backoff) is
// finalised here; a job not yet known (still queued in the stream) gets a
// record that cancels it on arrival.
func (d *Dispatcher) handleCancel(m *nats.Msg) {
	id := d.names.JobIDFromSubject(m.Subject)
	reply := messages.CancelReply{V: messages.Version, JobID: id}
	respond := func() {
		b, _ := json.Marshal(reply)
		if m.Reply != "" {
			m.Respond(b)
		}
	}
	if !messages.ValidJobID(id) {
		reply.Error = fmt.Sprintf("invalid job id %q", textutil.Truncate(id, 80))
		respond()
		return
	}
	var req messages.CancelRequest
	if len(strings.TrimSpace(string(m.Data))) > 0 {
		if err := json.Unmarshal(m.Data, &req); err != nil {
			reply.Error = "cancel request body must be empty or {\"reason\":\"...\"}"
			respond()
			return
		}
	}
	ctx, cancel := opCtx()
	defer cancel()
	log := d.log.With().Str("job_id", id).Logger()
	rec, err := d.applyRequest(ctx, id, lifecycle.Input{Type: lifecycle.CancelRequested, JobID: id}, func(e lifecycle.Effect) error {
		switch e.Type {
		case lifecycle.Reply:
			reply = e.Reply
		case lifecycle.Publish:
			if err := d.publishEvent(ctx, &e.Event); err != nil {
				log.Warn().Err(err).Msg("publish cancelled event")
			}
		}
		return nil
	})
	switch {
	case err != nil:
		reply = messages.CancelReply{V: messages.Version, JobID: id, Error: "record cancel: " + err.Error()}
	case !reply.Accepted:
	case rec.MsgSeq == 0 && rec.Kind == "":
		log.Info().Msg("cancel recorded for a job not seen yet: it will not run")
	default:
		log.Info().Str("state", string(rec.State)).Str("reason", textutil.Truncate(req.Reason, 200)).Msg("cancel recorded")
	}
	respond()
}

// handleLogs serves "<prefix>.jobs.logs.<job_id>" (queue group) and this
// dispatcher's direct logs subject. The reply subject receives the log in
// chunks, then an empty message with header Jetrun-Eof (or Jetrun-Error).
// A dispatcher that cannot read the workload (a local process on another
// host) forwards the request to the job's owner.
func (d *Dispatcher) handleLogs(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	id := d.names.JobIDFromSubject(m.Subject)
	fail := func(format string, a ...any) {
		r := nats.NewMsg(m.Reply)
		r.Header.Set(messages.HeaderError, fmt.Sprintf(format, a...))
		d.nc.PublishMsg(r)
	}
	if !messages.ValidJobID(id) {
		fail("invalid job id")
		return
	}
	var req messages.LogsRequest
	if len(m.Data) > 0 {
		if err := json.Unmarshal(m.Data, &req); err != nil {
			fail("logs request must be JSON: %v", err)
			return
		}
	}
	ctx, cancel := opCtx()
	rec, _, err := d.getRecord(ctx, id)
	cancel()
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		fail("unknown job %s", id)
		return
	}
	if err != nil {
		fail("read job record: %v", err)
		return
	}
	if rec.Handle == nil {
		fail("job %s has not started yet (state %s)", id, rec.State)
		return
	}
	h := *rec.Handle
	if req.Attempt > 0 {
		if name := runtimes.HandleName(id, req.Attempt); name != h.Name {
			h.Name, h.ID = name, "" // the runtime's id is the current attempt's
		}
	}
	direct := strings.HasPrefix(m.Subject, d.names.Prefix()+".dispatchers.")
	rt, ok := d.cfg.Runtimes[h.Runtime]
	readable := false
	if ok {
		ctx, cancel := opCtx()
		st, err := rt.Inspect(ctx, h)
		cancel()
		readable = err == nil && st.Phase != runtimes.PhaseNotFound
	}
	if !readable {
		if !direct && rec.Owner != "" && rec.Owner != d.cfg.ID {
			fwd := &nats.Msg{Subject: d.names.DispatcherLogsSubject(rec.Owner, id), Reply: m.Reply, Data: m.Data}
			d.nc.PublishMsg(fwd)
			return
		}
		fail("logs of %s are not available on dispatcher %s (runtime %s)", h.Name, d.cfg.ID, h.Runtime)
		return
	}
	go d.streamLogs(rt, h, req.Follow, m.Reply)
}

func (d *Dispatcher) streamLogs(rt runtimes.Runtime, h runtimes.Handle, follow bool, inbox string) {
	ctx, cancel := context.WithTimeout(context.Background(), 24*time.Hour)
	defer cancel()
	rc, err := rt.Logs(ctx, h, runtimes.LogOptions{Follow: follow})
	if err != nil {
		r := nats.NewMsg(inbox)
		r.Header.Set(messages.HeaderError, "logs: "+err.Error())
		d.nc.PublishMsg(r)
		return
	}
	defer rc.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := rc.Read(buf)
		if n > 0 {
			if perr := d.nc.Publish(inbox, append([]byte(nil), buf[:n]...)); perr != nil {
				return
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			r := nats.NewMsg(inbox)
			r.Header.Set(messages.HeaderError, "logs: "+err.Error())
			d.nc.PublishMsg(r)
			return
		}
	}
	r := nats.NewMsg(inbox)
	r.Header.Set(messages.HeaderEOF, "1")
	d.nc.PublishMsg(r)
}

// maxDeliveriesAdvisory is the part of JetStream's max-deliveries advisory
// that handleMaxDeliveries reads.
type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries int    `json:"deliveries"`
}

// handleMaxDeliveries dead-letters a submission that JetStream gave up on
// after MaxDeliver deliveries (a poison message that kept dispatchers from
// settling it, or a job whose node never came back). Without this the
// message would silently stop being delivered and its job stay unfinished.
func (d *Dispatcher) handleMaxDeliveries(m *nats.Msg) {
	var adv maxDeliveriesAdvisory
	if err := json.Unmarshal(m.Data, &adv); err != nil || adv.StreamSeq == 0 {
		return
	}
	ctx, cancel := opCtx()
	defer cancel()
	log := d.log.With().Uint64("stream_seq", adv.StreamSeq).Int("deliveries", adv.Deliveries).Logger()
	stream, err := d.js.Stream(ctx, d.names.JobsStream())
	if err != nil {
		log.Error().Err(err).Msg("max deliveries: open stream")
		return
	}
	raw, err := stream.GetMsg(ctx, adv.StreamSeq)
	if err != nil {
		log.Error().Err(err).Msg("max deliveries: the submission is gone from the stream")
		return
	}
	sub, _ := messages.DecodeSubmission(raw.Data)
	id := sub.JobID
	if !messages.ValidSubmittedJobID(id) {
		id = messages.DerivedJobID(adv.StreamSeq)
	}
	reason := fmt.Sprintf("gave up after %d deliveries: no dispatcher could settle this submission", adv.Deliveries)
	kind := sub.Kind
	if !messages.ValidKind(kind) {
		kind = "unknown"
	}
	in := lifecycle.Input{Type: lifecycle.MaxDeliveries, JobID: id, StreamSeq: adv.StreamSeq, Submission: sub,
		Reason: reason, DLQ: d.names.DLQStream()}
	copied := false
	_, err = d.applyRequest(ctx, id, in, func(e lifecycle.Effect) error {
		switch e.Type {
		case lifecycle.DeadLetter:
			copied = true
			dl := nats.NewMsg(d.names.DLQSubject(kind))
			dl.Data = raw.Data
			dl.Header.Set(messages.HeaderReason, e.Reason)
			dl.Header.Set(messages.HeaderJobID, id)
			dl.Header.Set("Jetrun-Stream-Seq", fmt.Sprint(adv.StreamSeq))
			dl.Header.Set(messages.HeaderMsgID, id)
			if _, err := d.js.PublishMsg(ctx, dl); err != nil {
				return fmt.Errorf("dead-letter copy: %w", err)
			}
		case lifecycle.Publish:
			if err := d.publishEvent(ctx, &e.Event); err != nil {
				log.Warn().Err(err).Msg("max deliveries: publish dead event")
			}
		}
		return nil
	})
	if err != nil {
		log.Error().Err(err).Msg("max deliveries: dead-letter")
		return
	}
	if !copied {
		log.Info().Str("job_id", id).Msg("max deliveries: the job had finished, or its id is another submission's; nothing to dead-letter")
		return
	}
	log.Error().Str("job_id", id).Msg("submission dead-lettered after too many deliveries")
}
