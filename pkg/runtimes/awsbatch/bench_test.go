package awsbatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/jetrun/jetrun/internal/awstest"
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/awsbatch"
)

// BenchmarkAPICalls counts the Batch API calls of N concurrent jobs over
// their whole life, as the dispatcher drives them (Start, one Inspect, Wait),
// against the in-process server with simulated containers, and prints what
// that means at the default poll interval:
//
//	go test -run XXX -bench APICalls -benchtime 1x ./pkg/runtimes/awsbatch/
func BenchmarkAPICalls(b *testing.B) {
	const (
		poll = 100 * time.Millisecond
		life = 3 * time.Second // how long each simulated container runs
	)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "jobs\tListJobs/job\tSubmitJob/job\tDescribeJobs/job\tDescribeJobs/poll\tmax ids/call\tat 5s poll: DescribeJobs/s\t10-min job: calls/job\t\n")
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for range b.N {
				f := newFixture(b, func(c *awstest.Config) {
					c.Timing = awstest.Timing{Submitted: 10 * time.Millisecond, Pending: 10 * time.Millisecond, Runnable: 10 * time.Millisecond, Starting: 10 * time.Millisecond}
					c.Run = func(ctx context.Context, _ awstest.Container, stop <-chan struct{}, _ io.Writer) int {
						select {
						case <-time.After(life):
							return 0
						case <-stop:
							return 143
						case <-ctx.Done():
							return 137
						}
					}
				})
				f.cfg.PollInterval = poll
				rt := f.open(b)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				handles := make([]runtimes.Handle, n)
				for i := range n {
					s := spec(fmt.Sprintf("bench%04d", i), jobs.SmokeParams{}, runtimes.Resources{CPUMilli: 1000, MemoryBytes: 2 << 30, Timeout: time.Hour})
					h, err := rt.Start(ctx, s)
					if err != nil {
						b.Fatal(err)
					}
					handles[i] = h
				}
				var wg sync.WaitGroup
				errs := make(chan error, n)
				for _, h := range handles {
					wg.Go(func() {
						if _, err := rt.Inspect(ctx, h); err != nil {
							errs <- err
							return
						}
						st, err := rt.Wait(ctx, h)
						if err == nil && st.Phase != runtimes.PhaseSucceeded {
							err = fmt.Errorf("%s: %+v", h.Name, st)
						}
						if err != nil {
							errs <- err
						}
					})
				}
				// A steady-state window: every job is running and waited on.
				time.Sleep(life / 3)
				before := f.srv.Calls()["DescribeJobs"]
				window := life / 3
				time.Sleep(window)
				during := f.srv.Calls()["DescribeJobs"] - before
				wg.Wait()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				calls := f.srv.Calls()
				perPoll := float64(during) / (float64(window) / float64(poll))
				maxIDs := 0
				for _, body := range f.srv.Requests("DescribeJobs") {
					maxIDs = max(maxIDs, countIDs(body))
				}
				if maxIDs > awsbatch.MaxDescribe {
					b.Fatalf("a DescribeJobs call carried %d ids", maxIDs)
				}
				per := func(op string) float64 { return float64(calls[op]) / float64(n) }
				// At the defaults, a job that runs 10 minutes: its launch
				// calls plus its share of 120 poll rounds.
				rounds := 10 * time.Minute / awsbatch.DefaultPollInterval
				share := float64(rounds) * math.Ceil(float64(n)/awsbatch.MaxDescribe) / float64(n)
				b.ReportMetric(per("DescribeJobs"), "describe/job")
				b.ReportMetric(perPoll, "describe/poll")
				fmt.Fprintf(tw, "%d\t%.2f\t%.2f\t%.2f\t%.1f\t%d\t%.2f\t%.1f\t\n", n, per("ListJobs"), per("SubmitJob"), per("DescribeJobs"),
					perPoll, maxIDs, perPoll/awsbatch.DefaultPollInterval.Seconds(), per("ListJobs")+per("SubmitJob")+1+share)
			}
		})
	}
	tw.Flush()
}

// countIDs counts the job ids of a DescribeJobs body.
func countIDs(body []byte) int {
	var in struct {
		Jobs []string `json:"jobs"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return 0
	}
	return len(in.Jobs)
}
