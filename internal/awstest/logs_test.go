package awstest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

func messages(out *cloudwatchlogs.GetLogEventsOutput) []string {
	var m []string
	for _, e := range out.Events {
		m = append(m, aws.ToString(e.Message))
	}
	return m
}

func numbered(from, to int) []string {
	var m []string
	for i := from; i < to; i++ {
		m = append(m, fmt.Sprint("line ", i))
	}
	return m
}

func TestGetLogEventsPaging(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	c := newClients(s)
	ctx := context.Background()
	now := time.Now()
	for i := range 25 {
		s.putLog(LogGroup, "st", fmt.Sprint("line ", i), now.Add(time.Duration(i)*time.Millisecond))
	}
	get := func(in *cloudwatchlogs.GetLogEventsInput) *cloudwatchlogs.GetLogEventsOutput {
		t.Helper()
		in.LogGroupName, in.LogStreamName = aws.String(LogGroup), aws.String("st")
		out, err := c.logs.GetLogEvents(ctx, in)
		if err != nil {
			t.Fatalf("GetLogEvents: %v", err)
		}
		return out
	}

	// Forward from the head, 10 at a time, to the end, where the token
	// comes back unchanged.
	out := get(&cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), Limit: aws.Int32(10)})
	if got := messages(out); !slices.Equal(got, numbered(0, 10)) {
		t.Fatalf("first page %v", got)
	}
	if e := out.Events[3]; aws.ToInt64(e.Timestamp) != now.Add(3*time.Millisecond).UnixMilli() || aws.ToInt64(e.IngestionTime) == 0 {
		t.Fatalf("event times %+v", e)
	}
	tok := out.NextForwardToken
	if !strings.HasPrefix(aws.ToString(tok), "f/") || !strings.HasPrefix(aws.ToString(out.NextBackwardToken), "b/") {
		t.Fatalf("tokens %q %q", aws.ToString(tok), aws.ToString(out.NextBackwardToken))
	}
	var all []string
	all = append(all, messages(out)...)
	for range 5 {
		out = get(&cloudwatchlogs.GetLogEventsInput{NextToken: tok, Limit: aws.Int32(10)})
		all = append(all, messages(out)...)
		if aws.ToString(out.NextForwardToken) == aws.ToString(tok) {
			break
		}
		tok = out.NextForwardToken
	}
	if !slices.Equal(all, numbered(0, 25)) || len(out.Events) != 0 {
		t.Fatalf("forward read %v, last page %d events", all, len(out.Events))
	}
	// New events appear after the end token.
	s.putLog(LogGroup, "st", "line 25", now.Add(25*time.Millisecond))
	if got := messages(get(&cloudwatchlogs.GetLogEventsInput{NextToken: tok})); !slices.Equal(got, []string{"line 25"}) {
		t.Fatalf("after the end: %v", got)
	}

	// Without a token nor startFromHead: the latest events, then backward.
	out = get(&cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(10)})
	if got := messages(out); !slices.Equal(got, numbered(16, 26)) {
		t.Fatalf("latest page %v", got)
	}
	out = get(&cloudwatchlogs.GetLogEventsInput{NextToken: out.NextBackwardToken, Limit: aws.Int32(10)})
	if got := messages(out); !slices.Equal(got, numbered(6, 16)) {
		t.Fatalf("backward page %v", got)
	}
	// startTime / endTime select by timestamp.
	out = get(&cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true),
		StartTime: aws.Int64(now.Add(5 * time.Millisecond).UnixMilli()), EndTime: aws.Int64(now.Add(8 * time.Millisecond).UnixMilli())})
	if got := messages(out); !slices.Equal(got, numbered(5, 8)) {
		t.Fatalf("time range %v", got)
	}
}

func TestGetLogEventsLimits(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	c := newClients(s)
	ctx := context.Background()
	big := strings.Repeat("x", 300*1024)
	for range 5 {
		s.putLog(LogGroup, "big", big, time.Now())
	}
	out, err := c.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(LogGroup), LogStreamName: aws.String("big"), StartFromHead: aws.Bool(true)})
	if err != nil || len(out.Events) != 3 {
		t.Fatalf("1 MB page: %v, %d events, want 3", err, len(out.Events))
	}
	_, err = c.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(LogGroup), LogStreamName: aws.String("big"), Limit: aws.Int32(10001)})
	if err == nil {
		t.Fatal("limit 10001 accepted")
	}
	for _, tc := range []struct{ group, stream, msg string }{
		{"/no/group", "big", "The specified log group does not exist."},
		{LogGroup, "nostream", "The specified log stream does not exist."},
	} {
		_, err := c.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(tc.group), LogStreamName: aws.String(tc.stream)})
		rnf, ok := asError[*types.ResourceNotFoundException](err)
		if !ok || rnf.ErrorMessage() != tc.msg {
			t.Errorf("%s %s: %v, want ResourceNotFoundException %q", tc.group, tc.stream, err, tc.msg)
		}
	}
	_, err = c.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(LogGroup), LogStreamName: aws.String("big"), NextToken: aws.String("garbage")})
	if _, ok := asError[*types.InvalidParameterException](err); !ok {
		t.Fatalf("bad token: %v, want InvalidParameterException", err)
	}
}

func TestLogWriterSplitsLines(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	w := &logWriter{s: s, group: LogGroup, stream: "w"}
	for _, chunk := range []string{"par", "tial\n\nnext\nlast", ""} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	long := strings.Repeat("y", maxEventBytes+10)
	_, _ = w.Write([]byte(long + "\n"))
	w.Flush()
	got := s.Logs("w")
	if len(got) != 5 || !slices.Equal(got[:3], []string{"partial", "next", "last"}) || len(got[3]) != maxEventBytes || got[4] != "yyyyyyyyyy" {
		t.Fatalf("events %d: %q", len(got), got[:min(3, len(got))])
	}
}
