package messages

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// DefaultPrefix is the subject prefix used when none is configured.
const DefaultPrefix = "jetrun"

var prefixRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// Names derives every subject, stream, bucket and object-store name of one
// jetrun installation from its prefix. Several installations (environments,
// tenants) share one NATS account by using different prefixes, each fenced by
// NATS permissions on "<prefix>.>".
//
// The zero Names is not valid; use NewNames or DefaultNames.
type Names struct {
	prefix string
}

// DefaultNames returns the names under DefaultPrefix.
func DefaultNames() Names { return Names{prefix: DefaultPrefix} }

// NewNames validates prefix (lowercase letters, digits, '-' and '_', starting
// with a letter, at most 32 characters) and returns the names under it. An
// empty prefix means DefaultPrefix.
func NewNames(prefix string) (Names, error) {
	if prefix == "" {
		return DefaultNames(), nil
	}
	if !prefixRE.MatchString(prefix) {
		return Names{}, fmt.Errorf("%w: prefix %q (want %s)", ErrInvalid, prefix, prefixRE)
	}
	return Names{prefix: prefix}, nil
}

// Prefix returns the subject prefix, e.g. "jetrun".
func (n Names) Prefix() string { return n.p() }

func (n Names) p() string {
	if n.prefix == "" {
		return DefaultPrefix
	}
	return n.prefix
}

// upper is the prefix as used in stream and bucket names. '-' is kept (it is
// legal in stream, KV and object-store names): mapping it to '_' would give
// the distinct prefixes "a-b" and "a_b" the same streams.
func (n Names) upper() string {
	return strings.ToUpper(n.p())
}

// SubmitSubject is where submissions of kind are published:
// "<prefix>.jobs.submit.<kind>".
func (n Names) SubmitSubject(kind string) string { return n.p() + ".jobs.submit." + kind }

// SubmitWildcard matches every submission subject.
func (n Names) SubmitWildcard() string { return n.p() + ".jobs.submit.>" }

// EventSubject is where one event of a job is published:
// "<prefix>.jobs.events.<job_id>.<type>".
func (n Names) EventSubject(jobID string, t EventType) string {
	return n.p() + ".jobs.events." + jobID + "." + string(t)
}

// WorkerSubject is where the worker of one attempt reports to the
// dispatcher that owns it: "<prefix>.worker.<job_id>.a<attempt>.<what>",
// what being [WorkerRunning] or [WorkerProgress]. No stream captures these
// subjects: the owning dispatcher checks each report and relays it as an
// event, so nothing a worker says reaches the events stream unchecked.
func (n Names) WorkerSubject(jobID string, attempt int, what string) string {
	return n.workerAttempt(jobID, attempt) + "." + what
}

// WorkerReports matches the report subjects of one attempt (one token
// after the attempt, so not its inbox): "<prefix>.worker.<job_id>.a<n>.*".
func (n Names) WorkerReports(jobID string, attempt int) string {
	return n.workerAttempt(jobID, attempt) + ".*"
}

// WorkerInbox is the inbox prefix of one attempt's worker connection:
// "<prefix>.worker.<job_id>.a<n>.inbox". Replies to the worker (JetStream
// API answers, the chunks of its upload) arrive under it, so a worker's
// subscribe permission can be just "<WorkerInbox>.>".
func (n Names) WorkerInbox(jobID string, attempt int) string {
	return n.workerAttempt(jobID, attempt) + ".inbox"
}

// WorkerWildcard matches every worker subject: "<prefix>.worker.>".
func (n Names) WorkerWildcard() string { return n.p() + ".worker.>" }

func (n Names) workerAttempt(jobID string, attempt int) string {
	return n.p() + ".worker." + jobID + ".a" + strconv.Itoa(attempt)
}

// JobEvents matches one job's whole history: "<prefix>.jobs.events.<job_id>.>".
func (n Names) JobEvents(jobID string) string { return n.p() + ".jobs.events." + jobID + ".>" }

// EventsOfType matches one event type of every job, e.g.
// "<prefix>.jobs.events.*.failed".
func (n Names) EventsOfType(t EventType) string { return n.p() + ".jobs.events.*." + string(t) }

// EventsWildcard matches every event.
func (n Names) EventsWildcard() string { return n.p() + ".jobs.events.>" }

// CancelSubject is the request/reply subject that cancels a job:
// "<prefix>.jobs.cancel.<job_id>".
func (n Names) CancelSubject(jobID string) string { return n.p() + ".jobs.cancel." + jobID }

// CancelWildcard matches every cancel request.
func (n Names) CancelWildcard() string { return n.p() + ".jobs.cancel.*" }

// LogsSubject is the request subject that streams a job's logs:
// "<prefix>.jobs.logs.<job_id>". See LogsRequest.
func (n Names) LogsSubject(jobID string) string { return n.p() + ".jobs.logs." + jobID }

// LogsWildcard matches every logs request.
func (n Names) LogsWildcard() string { return n.p() + ".jobs.logs.*" }

// DispatcherLogsSubject addresses one dispatcher directly; a dispatcher that
// cannot read a job's logs forwards the request to the job's owner here.
func (n Names) DispatcherLogsSubject(dispatcherID, jobID string) string {
	return n.p() + ".dispatchers." + dispatcherID + ".logs." + jobID
}

// DispatcherLogsWildcard matches the direct logs requests of one dispatcher.
func (n Names) DispatcherLogsWildcard(dispatcherID string) string {
	return n.p() + ".dispatchers." + dispatcherID + ".logs.*"
}

// DLQSubject is where dead jobs of kind are copied: "<prefix>.jobs.dlq.<kind>".
func (n Names) DLQSubject(kind string) string { return n.p() + ".jobs.dlq." + kind }

// DLQWildcard matches every dead-letter subject.
func (n Names) DLQWildcard() string { return n.p() + ".jobs.dlq.>" }

// JobsStream names the submissions stream, "JETRUN_JOBS" for the default prefix.
func (n Names) JobsStream() string { return n.upper() + "_JOBS" }

// EventsStream names the events stream, "JETRUN_EVENTS" for the default prefix.
func (n Names) EventsStream() string { return n.upper() + "_EVENTS" }

// DLQStream names the dead-letter stream, "JETRUN_DLQ" for the default prefix.
func (n Names) DLQStream() string { return n.upper() + "_DLQ" }

// StateBucket names the job-record KV bucket, "JETRUN_STATE" for the default prefix.
func (n Names) StateBucket() string { return n.upper() + "_STATE" }

// DispatchersBucket names the KV bucket where live dispatchers announce
// themselves (key: dispatcher id), "JETRUN_DISPATCHERS". Entries expire when
// a dispatcher stops refreshing them.
func (n Names) DispatchersBucket() string { return n.upper() + "_DISPATCHERS" }

// UploadsBucket names the object store for uploaded inputs, "JETRUN_UPLOADS".
func (n Names) UploadsBucket() string { return n.upper() + "_UPLOADS" }

// DispatcherConsumer names the durable pull consumer shared by all dispatchers.
func (n Names) DispatcherConsumer() string { return "dispatcher" }

// KindFromSubject returns the <kind> token of a submission subject, or "" if
// subject is not a submission subject under this prefix.
func (n Names) KindFromSubject(subject string) string {
	p := n.p() + ".jobs.submit."
	if !strings.HasPrefix(subject, p) {
		return ""
	}
	return subject[len(p):]
}

// JobIDFromSubject returns the <job_id> token of an events, cancel or logs
// subject, or "".
func (n Names) JobIDFromSubject(subject string) string {
	for _, mid := range []string{".jobs.events.", ".jobs.cancel.", ".jobs.logs."} {
		p := n.p() + mid
		if strings.HasPrefix(subject, p) {
			rest := subject[len(p):]
			if i := strings.IndexByte(rest, '.'); i >= 0 {
				rest = rest[:i]
			}
			return rest
		}
	}
	if strings.HasPrefix(subject, n.p()+".dispatchers.") {
		if i := strings.LastIndexByte(subject, '.'); i >= 0 {
			return subject[i+1:]
		}
	}
	return ""
}
