package messages_test

import (
	"errors"
	"fmt"

	"github.com/jetrun/jetrun/pkg/messages"
)

func ExampleNames() {
	n := messages.DefaultNames()
	id := "job-123"
	fmt.Println("submit:  ", n.SubmitSubject("smoke"))
	fmt.Println("progress:", n.EventSubject(id, messages.EventProgress))
	fmt.Println("history: ", n.JobEvents(id))
	fmt.Println("failures:", n.EventsOfType(messages.EventFailed))
	fmt.Println("cancel:  ", n.CancelSubject(id))
	fmt.Println("logs:    ", n.LogsSubject(id))
	fmt.Println("streams: ", n.JobsStream(), n.EventsStream(), n.DLQStream())
	fmt.Println("buckets: ", n.StateBucket(), n.UploadsBucket())

	dev, err := messages.NewNames("dev")
	if err != nil {
		panic(err)
	}
	fmt.Println("dev:     ", dev.SubmitSubject("smoke"), dev.JobsStream())
	// Output:
	// submit:   jetrun.jobs.submit.smoke
	// progress: jetrun.jobs.events.job-123.progress
	// history:  jetrun.jobs.events.job-123.>
	// failures: jetrun.jobs.events.*.failed
	// cancel:   jetrun.jobs.cancel.job-123
	// logs:     jetrun.jobs.logs.job-123
	// streams:  JETRUN_JOBS JETRUN_EVENTS JETRUN_DLQ
	// buckets:  JETRUN_STATE JETRUN_UPLOADS
	// dev:      dev.jobs.submit.smoke DEV_JOBS
}

func ExampleDecodeSubmission() {
	raw := []byte(`{"v":1,"job_id":"job-123","kind":"smoke","params":{"sleep":"2s","progress":3},"priority":"ignored"}`)
	s, err := messages.DecodeSubmission(raw)
	if err != nil {
		panic(err)
	}
	fmt.Printf("kind=%s job_id=%s params=%s\n", s.Kind, s.JobID, s.Params)

	for _, bad := range []string{
		`{"v":1,"kind":"smoke","params":[]}`,
		`{"v":1,"job_id":"-job","kind":"smoke","params":{}}`,
		`{"v":2,"kind":"smoke","params":{}}`,
	} {
		_, err := messages.DecodeSubmission([]byte(bad))
		fmt.Printf("invalid=%v unsupported=%v: %v\n",
			errors.Is(err, messages.ErrInvalid), errors.Is(err, messages.ErrUnsupportedVersion), err)
	}
	// Output:
	// kind=smoke job_id=job-123 params={"sleep":"2s","progress":3}
	// invalid=true unsupported=false: invalid message: params must be a JSON object
	// invalid=true unsupported=false: invalid message: job_id "-job" (want 1-64 of A-Z a-z 0-9 - _, starting with a letter or digit)
	// invalid=false unsupported=true: unsupported message version: v=2 (this dispatcher speaks v1)
}

func ExampleEvent_MsgID() {
	started := messages.Event{V: 1, JobID: "job-123", Seq: 3, Type: messages.EventStarted}
	progress := messages.Event{V: 1, JobID: "job-123", Seq: 3, Sub: 1, Type: messages.EventProgress}
	fmt.Println(started.MsgID())
	fmt.Println(progress.MsgID())
	// Output:
	// job-123:3
	// job-123:3.1
}
