package messages

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Version is the wire version this package reads and writes. Adding an
// optional field keeps the version; removing or re-meaning one bumps it.
//
// History:
//   - 1 (2026-11): submissions, events, job records, cancel and logs requests.
const Version = 1

// Limits of the wire format.
const (
	// MaxSubmissionBytes bounds an encoded submission. Large inputs go to the
	// uploads object store and are referenced by name and sha256.
	MaxSubmissionBytes = 64 << 10
	// MaxJobIDLen bounds a job id: it is a subject token and part of
	// runtime object names.
	MaxJobIDLen = 64
	// MaxNameLen bounds the human-readable job name.
	MaxNameLen = 128
	// MaxLabels bounds the number of labels on a job.
	MaxLabels = 32
	// MaxRetriesLimit bounds max_retries.
	MaxRetriesLimit = 20
)

// ErrInvalid is wrapped by every validation error of this package.
var ErrInvalid = errors.New("invalid message")

// ErrUnsupportedVersion is wrapped when a message carries an unknown "v".
var ErrUnsupportedVersion = errors.New("unsupported message version")

var (
	jobIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	// derivedIDRE is the reserved form of ids the dispatcher derives.
	derivedIDRE = regexp.MustCompile(`^_s[1-9][0-9]{0,19}$`)
	kindRE      = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	labelRE     = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$`)
	// runtimeRE matches runtime names (RUNTIME_BACKEND values).
	runtimeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
)

// Submission asks for one job to run. It is published to
// "<prefix>.jobs.submit.<kind>" with header "Nats-Msg-Id: <job_id>", which
// makes JetStream drop a re-publish of the same job inside the duplicate
// window; the dispatcher's job record makes the dedup permanent.
type Submission struct {
	// V is the wire version; must be 1.
	V int `json:"v"`
	// JobID identifies the job everywhere: subjects, the job record,
	// runtime object names. Letters, digits, '-' and '_', at most 64,
	// starting with a letter or digit. Optional: when empty the dispatcher
	// derives one from the message's stream sequence ("_s<seq>", a form
	// producers cannot submit, see [DerivedJobID]), so a producer that wants
	// to follow its job should set it (a ULID is ideal).
	JobID string `json:"job_id,omitempty"`
	// Kind selects the job kind, e.g. "smoke" or "upload_repo". It must
	// equal the <kind> token of the subject.
	Kind string `json:"kind"`
	// Name is a human-readable name for listings. Optional.
	Name string `json:"name,omitempty"`
	// Params are the kind-specific parameters, a JSON object validated by
	// the kind.
	Params json.RawMessage `json:"params"`
	// Runtime asks for a runtime by name; empty means the dispatcher's
	// configured runtime. A dispatcher rejects a job for a runtime it does
	// not run.
	Runtime string `json:"runtime,omitempty"`
	// Resources override the kind's defaults.
	Resources Resources `json:"resources,omitzero"`
	// MaxRetries is how many times a failed attempt is retried; nil means
	// the dispatcher's default (MAX_RETRIES). 0..20.
	MaxRetries *int `json:"max_retries,omitempty"`
	// Labels are free-form key/value pairs copied into events and runtime
	// labels where the runtime allows.
	Labels map[string]string `json:"labels,omitempty"`
	// SubmittedAt is set by the producer; informational.
	SubmittedAt time.Time `json:"submitted_at,omitzero"`
}

// Resources are a job's requests. Every field is optional; empty means the
// kind's default.
type Resources struct {
	// CPU in cores, Kubernetes notation: "2", "0.25", "500m".
	CPU string `json:"cpu,omitempty"`
	// Memory in bytes, Kubernetes notation: "4Gi", "512Mi", "1G".
	Memory string `json:"memory,omitempty"`
	// Timeout of one attempt, a Go duration: "30m", "1h".
	Timeout string `json:"timeout,omitempty"`
}

// Validate checks the resource strings' syntax.
func (r Resources) Validate() error {
	if r.CPU != "" {
		if _, err := ParseCPU(r.CPU); err != nil {
			return err
		}
	}
	if r.Memory != "" {
		if _, err := ParseMemory(r.Memory); err != nil {
			return err
		}
	}
	if r.Timeout != "" {
		d, err := time.ParseDuration(r.Timeout)
		if err != nil || d <= 0 {
			return fmt.Errorf("%w: resources.timeout %q (want a positive Go duration such as 30m)", ErrInvalid, r.Timeout)
		}
	}
	return nil
}

// ValidJobID reports whether id is a well-formed job id of either form: one
// a producer chose ([ValidSubmittedJobID]) or one the dispatcher derived
// ([DerivedJobID]). Use it for ids read back (status, cancel, events).
func ValidJobID(id string) bool {
	return ValidSubmittedJobID(id) || IsDerivedJobID(id)
}

// ValidSubmittedJobID reports whether a producer may submit id: 1 to
// MaxJobIDLen of A-Z a-z 0-9 - _, starting with a letter or digit. The
// derived form, which starts with '_', is never such an id, so a producer
// cannot take the id of a job it did not name.
func ValidSubmittedJobID(id string) bool {
	return id != "" && len(id) <= MaxJobIDLen && jobIDRE.MatchString(id)
}

// DerivedJobID is the id of a submission that names none (or names an
// invalid one): "_s<stream sequence>". Producers cannot submit ids of this
// form, and the stream sequence is unique, so a derived id never collides
// with another job's id, nor its events' Nats-Msg-Id with another job's.
func DerivedJobID(streamSeq uint64) string {
	return "_s" + strconv.FormatUint(streamSeq, 10)
}

// IsDerivedJobID reports whether id has the reserved form of [DerivedJobID].
func IsDerivedJobID(id string) bool { return derivedIDRE.MatchString(id) }

// ValidKind reports whether k is a well-formed kind name.
func ValidKind(k string) bool { return kindRE.MatchString(k) }

// Validate checks everything that does not depend on the kind. The kind's
// own parameter validation happens in package jobs.
func (s *Submission) Validate() error {
	switch {
	case s.V == 0:
		return fmt.Errorf("%w: missing field \"v\" (want %d)", ErrInvalid, Version)
	case s.V != Version:
		return fmt.Errorf("%w: v=%d (this dispatcher speaks v%d)", ErrUnsupportedVersion, s.V, Version)
	case s.Kind == "":
		return fmt.Errorf("%w: missing field \"kind\"", ErrInvalid)
	case !ValidKind(s.Kind):
		return fmt.Errorf("%w: kind %q (want %s)", ErrInvalid, s.Kind, kindRE)
	case s.JobID != "" && IsDerivedJobID(s.JobID):
		return fmt.Errorf("%w: job_id %q: ids of the form _s<number> are reserved for the ids the dispatcher derives", ErrInvalid, s.JobID)
	case s.JobID != "" && !ValidSubmittedJobID(s.JobID):
		return fmt.Errorf("%w: job_id %q (want 1-%d of A-Z a-z 0-9 - _, starting with a letter or digit)", ErrInvalid, truncateID(s.JobID), MaxJobIDLen)
	case len(s.Name) > MaxNameLen:
		return fmt.Errorf("%w: name is %d bytes (max %d)", ErrInvalid, len(s.Name), MaxNameLen)
	case s.Runtime != "" && !runtimeRE.MatchString(s.Runtime):
		return fmt.Errorf("%w: runtime %q", ErrInvalid, s.Runtime)
	case s.MaxRetries != nil && (*s.MaxRetries < 0 || *s.MaxRetries > MaxRetriesLimit):
		return fmt.Errorf("%w: max_retries %d (want 0..%d)", ErrInvalid, *s.MaxRetries, MaxRetriesLimit)
	case len(s.Labels) > MaxLabels:
		return fmt.Errorf("%w: %d labels (max %d)", ErrInvalid, len(s.Labels), MaxLabels)
	}
	if len(bytes.TrimSpace(s.Params)) == 0 || bytes.Equal(bytes.TrimSpace(s.Params), []byte("null")) {
		return fmt.Errorf("%w: missing field \"params\" (use {} for none)", ErrInvalid)
	}
	if t := bytes.TrimSpace(s.Params); t[0] != '{' {
		return fmt.Errorf("%w: params must be a JSON object", ErrInvalid)
	}
	for k, v := range s.Labels {
		if !labelRE.MatchString(k) {
			return fmt.Errorf("%w: label key %q", ErrInvalid, k)
		}
		if len(v) > 63 || strings.ContainsAny(v, "\x00\n\r") {
			return fmt.Errorf("%w: label %q value too long or has control characters", ErrInvalid, k)
		}
	}
	return s.Resources.Validate()
}

// DecodeSubmission decodes and validates one submission. Unknown fields are
// ignored; an unknown "v" is rejected. The error wraps ErrInvalid or
// ErrUnsupportedVersion and says what is wrong in words an operator can act on.
func DecodeSubmission(data []byte) (Submission, error) {
	var s Submission
	if len(data) > MaxSubmissionBytes {
		return s, fmt.Errorf("%w: message is %d bytes (max %d; put large inputs in the uploads store)", ErrInvalid, len(data), MaxSubmissionBytes)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%w: not a JSON submission: %s", ErrInvalid, jsonErrText(err))
	}
	return s, s.Validate()
}

// jsonErrText shortens encoding/json errors to what helps a producer.
// truncateID bounds a refused id quoted in an error (and so in a public
// rejected event).
func truncateID(id string) string {
	if len(id) <= MaxJobIDLen+8 {
		return id
	}
	return strings.ToValidUTF8(id[:MaxJobIDLen], "") + "…"
}

func jsonErrText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type (%s, want %s)", te.Field, te.Value, te.Type)
	}
	return err.Error()
}

// EventType names an event; it is the last token of the event subject.
type EventType string

// Event types. Terminal events end a job: exactly one is published per job.
const (
	EventAccepted  EventType = "accepted"  // the dispatcher recorded the job
	EventRejected  EventType = "rejected"  // terminal: the message can never run (reason in error)
	EventStarted   EventType = "started"   // an attempt is being launched (attempt, runtime handle)
	EventRunning   EventType = "running"   // the runtime reports the attempt running
	EventProgress  EventType = "progress"  // published by the worker itself
	EventRetrying  EventType = "retrying"  // an attempt failed and another will follow after a backoff
	EventSucceeded EventType = "succeeded" // terminal
	EventFailed    EventType = "failed"    // an attempt failed (retrying or dead follows)
	EventCancelled EventType = "cancelled" // terminal
	EventDead      EventType = "dead"      // terminal: retries exhausted or a permanent failure; copied to the DLQ
)

// EventTypes lists every event type in lifecycle order.
var EventTypes = []EventType{EventAccepted, EventRejected, EventStarted, EventRunning, EventProgress,
	EventRetrying, EventSucceeded, EventFailed, EventCancelled, EventDead}

// Terminal reports whether t ends a job.
func (t EventType) Terminal() bool {
	switch t {
	case EventRejected, EventSucceeded, EventCancelled, EventDead:
		return true
	}
	return false
}

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool {
	for _, e := range EventTypes {
		if e == t {
			return true
		}
	}
	return false
}

// State is a job's state in its record and events.
type State string

// Job states.
const (
	StateQueued    State = "queued"    // recorded, not yet launched
	StateStarting  State = "starting"  // handle written, runtime launching
	StateRunning   State = "running"   // the runtime reports it running
	StateRetrying  State = "retrying"  // waiting for the backoff before the next attempt
	StateSucceeded State = "succeeded" // terminal
	StateCancelled State = "cancelled" // terminal
	StateDead      State = "dead"      // terminal
	StateRejected  State = "rejected"  // terminal
)

// States lists every state.
var States = []State{StateQueued, StateStarting, StateRunning, StateRetrying,
	StateSucceeded, StateCancelled, StateDead, StateRejected}

// Terminal reports whether s is final.
func (s State) Terminal() bool {
	switch s {
	case StateSucceeded, StateCancelled, StateDead, StateRejected:
		return true
	}
	return false
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, x := range States {
		if x == s {
			return true
		}
	}
	return false
}

// Event is one lifecycle or progress event of a job, published to
// "<prefix>.jobs.events.<job_id>.<type>" on the events stream.
//
// Lifecycle events are published by dispatchers (normally the job's owner),
// with a per-job Seq kept in the job record and header
// "Nats-Msg-Id: <job_id>:<seq>", so an event re-emitted after an adoption is
// not duplicated in the stream.
// The "running" event is also published by the worker when it connects,
// under the same Seq and Nats-Msg-Id; the stream keeps whichever copy
// arrives first. Progress events are published by the worker; they carry
// the Seq of the attempt's "running" event and their own Sub counter from 1
// (Nats-Msg-Id "<job_id>:<seq>.<sub>"). (Seq, Sub) orders a job's history
// totally and agrees with the order in the stream. Deduplication is done by
// the stream: a core NATS subscriber may receive a copy twice.
type Event struct {
	V        int               `json:"v"`
	JobID    string            `json:"job_id"`
	Seq      uint64            `json:"seq"`
	Sub      uint64            `json:"sub,omitempty"`
	Type     EventType         `json:"type"`
	State    State             `json:"state"`
	Kind     string            `json:"kind,omitempty"`
	Attempt  int               `json:"attempt,omitempty"`
	Time     time.Time         `json:"time"`
	Runtime  string            `json:"runtime,omitempty"`
	Handle   string            `json:"handle,omitempty"`
	Message  string            `json:"message,omitempty"`
	Progress *Progress         `json:"progress,omitempty"`
	Error    string            `json:"error,omitempty"`
	ExitCode *int              `json:"exit_code,omitempty"`
	Retry    *Retry            `json:"retry,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Progress is a worker's report of how far it is.
type Progress struct {
	Done   int64  `json:"done,omitempty"`
	Total  int64  `json:"total,omitempty"`
	Unit   string `json:"unit,omitempty"` // "files", "steps"
	Chunks int64  `json:"chunks,omitempty"`
	// Embedded and Upserted count chunks through the indexing pipeline's
	// later stages (added 2026-11, optional).
	Embedded int64   `json:"embedded,omitempty"`
	Upserted int64   `json:"upserted,omitempty"`
	Bytes    int64   `json:"bytes,omitempty"`
	Rate     float64 `json:"rate,omitempty"` // units per second
	Message  string  `json:"message,omitempty"`
}

// What a worker reports, the last token of [Names.WorkerSubject].
const (
	WorkerRunning  = "running"
	WorkerProgress = "progress"
)

// MaxWorkerReportBytes bounds one encoded [WorkerReport]; the dispatcher
// drops larger ones.
const MaxWorkerReportBytes = 16 << 10

// WorkerReport is what a worker publishes on its attempt's worker subject.
// It is not an event: the dispatcher that owns the attempt validates it and
// publishes the event itself, with the job id, attempt, sequence and state
// it holds, so a worker cannot speak for another job or assert a state.
type WorkerReport struct {
	V int `json:"v"`
	// Sub numbers the attempt's progress reports from 1; it becomes the
	// event's Sub, so a re-sent report is deduplicated.
	Sub uint64 `json:"sub,omitempty"`
	// Progress is the progress of a "progress" report.
	Progress *Progress `json:"progress,omitempty"`
}

// DecodeWorkerReport decodes a worker's report and bounds its contents:
// counters non-negative, unit and message cut to short single lines.
func DecodeWorkerReport(data []byte) (WorkerReport, error) {
	var r WorkerReport
	if len(data) > MaxWorkerReportBytes {
		return r, fmt.Errorf("%w: worker report of %d bytes (max %d)", ErrInvalid, len(data), MaxWorkerReportBytes)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%w: not a JSON worker report: %s", ErrInvalid, jsonErrText(err))
	}
	if r.V != Version {
		return r, fmt.Errorf("%w: worker report v=%d", ErrUnsupportedVersion, r.V)
	}
	if p := r.Progress; p != nil {
		if p.Done < 0 || p.Total < 0 || p.Chunks < 0 || p.Embedded < 0 || p.Upserted < 0 || p.Bytes < 0 || !(p.Rate >= 0) || p.Rate > 1e12 {
			return r, fmt.Errorf("%w: worker report: negative or non-finite progress", ErrInvalid)
		}
		p.Unit = cleanLine(p.Unit, 32)
		p.Message = cleanLine(p.Message, 1024)
	}
	return r, nil
}

// cleanLine makes s one line of valid UTF-8 without control characters, at
// most n bytes.
func cleanLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// Retry says when the next attempt starts.
type Retry struct {
	NextAttempt int           `json:"next_attempt"`
	Delay       time.Duration `json:"delay_ns"`
	At          time.Time     `json:"at"`
}

// MsgID returns the Nats-Msg-Id under which the event is published.
func (e *Event) MsgID() string {
	if e.Sub > 0 {
		return fmt.Sprintf("%s:%d.%d", e.JobID, e.Seq, e.Sub)
	}
	return fmt.Sprintf("%s:%d", e.JobID, e.Seq)
}

// DecodeEvent decodes and checks one event.
func DecodeEvent(data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return e, fmt.Errorf("%w: not a JSON event: %s", ErrInvalid, jsonErrText(err))
	}
	switch {
	case e.V != Version:
		return e, fmt.Errorf("%w: event v=%d", ErrUnsupportedVersion, e.V)
	case !ValidJobID(e.JobID):
		return e, fmt.Errorf("%w: event job_id %q", ErrInvalid, e.JobID)
	case !e.Type.Valid():
		return e, fmt.Errorf("%w: event type %q", ErrInvalid, e.Type)
	}
	return e, nil
}

// Desired is the operator's wish for a job, recorded durably in its record.
type Desired string

// Desired states.
const (
	DesiredRun    Desired = ""
	DesiredCancel Desired = "cancel"
)

// Handle names a job's workload in its runtime. It is written to the job
// record before the runtime is asked to launch, so whoever owns the job next
// can find the workload again.
type Handle struct {
	Runtime string `json:"runtime"`
	Name    string `json:"name"`
	// ID is the runtime's own id when it has one (container id, Batch job
	// id), filled in after launch. Optional.
	ID string `json:"id,omitempty"`
	// Node names the host of a node-local workload (the local runtime):
	// only a dispatcher on that node can adopt it. Optional.
	Node string `json:"node,omitempty"`
}

// Record is the durable state of one job, the value of key <job_id> in the
// state bucket. Every change is a compare-and-swap on the entry's revision.
type Record struct {
	V     int    `json:"v"`
	JobID string `json:"job_id"`
	Kind  string `json:"kind"`
	Name  string `json:"name,omitempty"`
	State State  `json:"state"`
	// Desired is the durable operator wish ("cancel").
	Desired Desired `json:"desired,omitempty"`
	// Attempt is the current (or last) attempt, 1-based; 0 before launch.
	Attempt    int `json:"attempt"`
	MaxRetries int `json:"max_retries"`
	// Owner is the dispatcher handling the job's message now.
	Owner string `json:"owner,omitempty"`
	// MsgSeq is the stream sequence of the submission the record belongs
	// to; a second message with the same job id is a duplicate.
	MsgSeq uint64 `json:"msg_seq"`
	// Delivery is the delivery count of the message when its owner took
	// it: a redelivery to the same dispatcher is a new owner too.
	Delivery uint64 `json:"delivery,omitempty"`
	// Seq is the sequence of the last lifecycle event published.
	Seq     uint64            `json:"seq"`
	Runtime string            `json:"runtime,omitempty"`
	Handle  *Handle           `json:"handle,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	// Error is the last failure's reason; ExitCode its exit code.
	Error    string `json:"error,omitempty"`
	ExitCode *int   `json:"exit_code,omitempty"`
	// FailedAttempt is the last attempt whose failure has been recorded
	// (its "failed" event published), and FailPermanent whether that
	// failure can never be fixed by a retry. A dispatcher that takes the
	// job over after a crash continues from here instead of recording the
	// failure twice.
	FailedAttempt int  `json:"failed_attempt,omitempty"`
	FailPermanent bool `json:"fail_permanent,omitempty"`

	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	NextRetry time.Time `json:"next_retry,omitzero"`
}

// DecodeRecord decodes one job record.
func DecodeRecord(data []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("%w: not a JSON job record: %s", ErrInvalid, jsonErrText(err))
	}
	if r.V != Version {
		return r, fmt.Errorf("%w: record v=%d", ErrUnsupportedVersion, r.V)
	}
	return r, nil
}

// Dispatcher is a live dispatcher's announcement, the value of key <id> in
// the dispatchers bucket, refreshed every few seconds while it runs.
type Dispatcher struct {
	V           int       `json:"v"`
	ID          string    `json:"id"`
	Host        string    `json:"host,omitempty"`
	Version     string    `json:"version,omitempty"`
	Runtimes    []string  `json:"runtimes"`
	Default     string    `json:"default_runtime"`
	Kinds       []string  `json:"kinds"`
	Concurrency int       `json:"concurrency"`
	Running     int       `json:"running"`
	Started     time.Time `json:"started"`
	Updated     time.Time `json:"updated"`
}

// CancelReply answers a cancel request on "<prefix>.jobs.cancel.<job_id>".
// The request body may be empty or {"reason":"..."}.
type CancelReply struct {
	V     int    `json:"v"`
	JobID string `json:"job_id"`
	// State is the job's state when the cancel was recorded.
	State State `json:"state,omitempty"`
	// Accepted is true when the cancel was recorded (or the job was already
	// cancelled). A job id not known yet is accepted too: a record with
	// desired "cancel" and state "queued" is created, so the job never runs
	// if it is submitted later. False when the job had already finished
	// otherwise, the job id is invalid or the cancel could not be recorded
	// (Error says why).
	Accepted bool   `json:"accepted"`
	Error    string `json:"error,omitempty"`
}

// CancelRequest is the optional body of a cancel request.
type CancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

// LogsRequest asks a dispatcher for a job's logs on
// "<prefix>.jobs.logs.<job_id>". The reply subject receives the log bytes in
// chunks; the last message is empty with header "Jetrun-Eof: 1" (or
// "Jetrun-Error: <text>").
type LogsRequest struct {
	Follow  bool `json:"follow,omitempty"`
	Attempt int  `json:"attempt,omitempty"` // 0 = the latest attempt
}

// Headers used on the wire.
const (
	HeaderMsgID = "Nats-Msg-Id"
	HeaderEOF   = "Jetrun-Eof"
	HeaderError = "Jetrun-Error"
	// HeaderReason carries the dead-letter reason on a DLQ copy.
	HeaderReason = "Jetrun-Reason"
	// HeaderJobID carries the job id on a DLQ copy.
	HeaderJobID = "Jetrun-Job-Id"
)
