package awstest

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CloudWatch Logs GetLogEvents limits.
const (
	maxLogEvents    = 10000
	maxLogPageBytes = 1 << 20 // 1 MB
	eventOverhead   = 26      // bytes counted per event besides its message
)

// logEvent is one stored event.
type logEvent struct {
	timestamp, ingestion int64
	message              string
}

// logStream is one stream's events, in order.
type logStream struct {
	events []logEvent
}

// logGroup is a log group's streams.
type logGroup struct {
	streams map[string]*logStream
}

// createStream creates group and stream if missing; the caller holds s.mu.
func (s *Server) createStream(group, stream string) {
	g := s.groups[group]
	if g == nil {
		g = &logGroup{streams: map[string]*logStream{}}
		s.groups[group] = g
	}
	if g.streams[stream] == nil {
		g.streams[stream] = &logStream{}
	}
}

// putLog appends an event, creating its group and stream if needed.
func (s *Server) putLog(group, stream, msg string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createStream(group, stream)
	st := s.groups[group].streams[stream]
	t := ms(at)
	st.events = append(st.events, logEvent{timestamp: t, ingestion: t, message: msg})
}

// Logs returns the messages of a stream of LogGroup (a job's
// container.logStreamName), for tests; nil if the stream does not exist.
func (s *Server) Logs(stream string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[LogGroup]
	if g == nil || g.streams[stream] == nil {
		return nil
	}
	out := make([]string, 0, len(g.streams[stream].events))
	for _, e := range g.streams[stream].events {
		out = append(out, e.message)
	}
	return out
}

type getLogEventsInput struct {
	LogGroupName       string `json:"logGroupName"`
	LogGroupIdentifier string `json:"logGroupIdentifier"`
	LogStreamName      string `json:"logStreamName"`
	StartTime          *int64 `json:"startTime"`
	EndTime            *int64 `json:"endTime"`
	NextToken          string `json:"nextToken"`
	Limit              *int   `json:"limit"`
	StartFromHead      *bool  `json:"startFromHead"`
}

type logEventOut struct {
	Timestamp     int64  `json:"timestamp"`
	Message       string `json:"message"`
	IngestionTime int64  `json:"ingestionTime"`
}

type getLogEventsOutput struct {
	Events            []logEventOut `json:"events"`
	NextForwardToken  string        `json:"nextForwardToken"`
	NextBackwardToken string        `json:"nextBackwardToken"`
}

// Tokens name a position between events: "f/<n>/s" reads forward from
// event n, "b/<n>/s" backward from before event n. Positions are stable
// since events are only appended, so reading forward at the end answers
// the token given, which is how CloudWatch says "nothing more for now".
func forwardToken(n int) string  { return fmt.Sprintf("f/%056d/s", n) }
func backwardToken(n int) string { return fmt.Sprintf("b/%056d/s", n) }

// parseToken reads a token: its direction and position.
func parseToken(tok string) (forward bool, pos int, ok bool) {
	parts := strings.Split(tok, "/")
	if len(parts) != 3 || parts[2] != "s" || (parts[0] != "f" && parts[0] != "b") {
		return false, 0, false
	}
	n, err := strconv.Atoi(parts[1])
	if err != nil || n < 0 {
		return false, 0, false
	}
	return parts[0] == "f", n, true
}

func (s *Server) getLogEvents(body []byte) (any, *APIError) {
	var in getLogEventsInput
	if e := decode(body, &in, svcLogs); e != nil {
		return nil, e
	}
	group := in.LogGroupName
	if in.LogGroupIdentifier != "" {
		if group != "" {
			return nil, validationError("InvalidParameterException", "LogGroup name and LogGroup ARN are mutually exclusive parameters.")
		}
		group = in.LogGroupIdentifier
		if strings.HasPrefix(group, "arn:") {
			// arn:aws:logs:region:account:log-group:NAME[:*]
			parts := strings.SplitN(group, ":", 7)
			if len(parts) < 7 {
				return nil, validationError("InvalidParameterException", "Invalid logGroupIdentifier %s", in.LogGroupIdentifier)
			}
			group = strings.TrimSuffix(strings.TrimPrefix(parts[6], "log-group:"), ":*")
			if !strings.HasPrefix(parts[6], "log-group:") {
				return nil, validationError("InvalidParameterException", "Invalid logGroupIdentifier %s", in.LogGroupIdentifier)
			}
		}
	}
	if group == "" {
		return nil, validationError("InvalidParameterException", "Either logGroupName or logGroupIdentifier must be specified.")
	}
	if in.LogStreamName == "" {
		return nil, validationError("ValidationException", "1 validation error detected: Value null at 'logStreamName' failed to satisfy constraint: Member must not be null")
	}
	limit := maxLogEvents
	if in.Limit != nil {
		if *in.Limit < 1 {
			return nil, validationError("ValidationException", "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *in.Limit)
		}
		if *in.Limit > maxLogEvents {
			return nil, validationError("ValidationException", "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value less than or equal to %d", *in.Limit, maxLogEvents)
		}
		limit = *in.Limit
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[group]
	if g == nil {
		return nil, &APIError{400, "ResourceNotFoundException", "The specified log group does not exist."}
	}
	st := g.streams[in.LogStreamName]
	if st == nil {
		return nil, &APIError{400, "ResourceNotFoundException", "The specified log stream does not exist."}
	}
	n := len(st.events)
	forward, pos := in.StartFromHead != nil && *in.StartFromHead, 0
	if !forward {
		pos = n
	}
	if in.NextToken != "" {
		var ok bool
		forward, pos, ok = parseToken(in.NextToken)
		if !ok {
			return nil, validationError("InvalidParameterException", "The specified nextToken is invalid.")
		}
		pos = min(pos, n)
	}
	inRange := func(e logEvent) bool {
		return (in.StartTime == nil || e.timestamp >= *in.StartTime) && (in.EndTime == nil || e.timestamp < *in.EndTime)
	}
	out := getLogEventsOutput{Events: []logEventOut{}}
	size := 0
	if forward {
		i := pos
		for ; i < n && len(out.Events) < limit; i++ {
			e := st.events[i]
			if !inRange(e) {
				continue
			}
			if size+len(e.message)+eventOverhead > maxLogPageBytes {
				break
			}
			size += len(e.message) + eventOverhead
			out.Events = append(out.Events, logEventOut{e.timestamp, e.message, e.ingestion})
		}
		out.NextForwardToken, out.NextBackwardToken = forwardToken(i), backwardToken(pos)
		return out, nil
	}
	i := pos
	var rev []logEventOut
	for ; i > 0 && len(rev) < limit; i-- {
		e := st.events[i-1]
		if !inRange(e) {
			continue
		}
		if size+len(e.message)+eventOverhead > maxLogPageBytes {
			break
		}
		size += len(e.message) + eventOverhead
		rev = append(rev, logEventOut{e.timestamp, e.message, e.ingestion})
	}
	for k := len(rev) - 1; k >= 0; k-- {
		out.Events = append(out.Events, rev[k])
	}
	out.NextForwardToken, out.NextBackwardToken = forwardToken(pos), backwardToken(i)
	return out, nil
}
