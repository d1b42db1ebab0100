package jobs

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Smoke is the diagnostic job: it sleeps, prints, reports progress and exits
// with a chosen code. It exercises every part of the path (queue, dispatcher,
// runtime, worker, events) without touching any data store, so
// `submit smoke --runtime kubernetes --wait` tells an operator whether a
// runtime is set up right.
type Smoke struct{}

var _ Kind = Smoke{}

// SmokeParams are the smoke job's parameters.
type SmokeParams struct {
	// Sleep is spread evenly between the progress events; a Go duration.
	Sleep string `json:"sleep,omitempty"`
	// Message is printed to stdout.
	Message string `json:"message,omitempty"`
	// Progress is the number of progress events to emit (0..10000).
	Progress int `json:"progress,omitempty"`
	// ExitCode is the worker's exit code (0..255).
	ExitCode int `json:"exit_code,omitempty"`
	// FailAttempts makes the first N attempts exit 1, then ExitCode.
	FailAttempts int `json:"fail_attempts,omitempty"`
	// IgnoreSigterm makes the worker ignore SIGTERM, to exercise the
	// grace period and SIGKILL of cancellation.
	IgnoreSigterm bool `json:"ignore_sigterm,omitempty"`
	// OutputLines prints that many numbered lines (0..1000000).
	OutputLines int `json:"output_lines,omitempty"`
}

// Name implements Kind.
func (Smoke) Name() string { return "smoke" }

// Defaults implements Kind: 0.1 CPU, 64Mi, 5 minutes.
func (Smoke) Defaults() Resources {
	return Resources{CPUMilli: 100, MemoryBytes: 64 << 20, Timeout: 5 * time.Minute}
}

// Plan implements Kind.
func (s Smoke) Plan(params json.RawMessage) (Plan, error) {
	var p SmokeParams
	if err := decodeParams(s.Name(), params, &p); err != nil {
		return Plan{}, err
	}
	if err := p.Validate(); err != nil {
		return Plan{}, err
	}
	return Plan{Command: p.Args()}, nil
}

// Validate checks the params' ranges.
func (p SmokeParams) Validate() error {
	if p.Sleep != "" {
		if d, err := time.ParseDuration(p.Sleep); err != nil || d < 0 || d > 24*time.Hour {
			return fmt.Errorf("%w: smoke: sleep %q (want a Go duration up to 24h)", ErrInvalidParams, p.Sleep)
		}
	}
	switch {
	case p.Progress < 0 || p.Progress > 10000:
		return fmt.Errorf("%w: smoke: progress %d (want 0..10000)", ErrInvalidParams, p.Progress)
	case p.ExitCode < 0 || p.ExitCode > 255:
		return fmt.Errorf("%w: smoke: exit_code %d (want 0..255)", ErrInvalidParams, p.ExitCode)
	case p.FailAttempts < 0 || p.FailAttempts > 100:
		return fmt.Errorf("%w: smoke: fail_attempts %d (want 0..100)", ErrInvalidParams, p.FailAttempts)
	case p.OutputLines < 0 || p.OutputLines > 1000000:
		return fmt.Errorf("%w: smoke: output_lines %d (want 0..1000000)", ErrInvalidParams, p.OutputLines)
	case len(p.Message) > 4096:
		return fmt.Errorf("%w: smoke: message is %d bytes (max 4096)", ErrInvalidParams, len(p.Message))
	}
	return nil
}

// RegisterFlags registers the params as flags on fs, under the names Args
// renders, so the worker (which parses them) and the submit command (which
// offers them) cannot drift apart.
func (p *SmokeParams) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&p.Sleep, "sleep", "", "time to sleep, spread between progress events (Go duration)")
	fs.StringVar(&p.Message, "message", "", "message to print")
	fs.IntVar(&p.Progress, "progress", 0, "number of progress events")
	fs.IntVar(&p.ExitCode, "exit-code", 0, "exit code of the worker")
	fs.IntVar(&p.FailAttempts, "fail-attempts", 0, "fail the first N attempts (JETRUN_ATTEMPT) with exit code 1, then succeed")
	fs.BoolVar(&p.IgnoreSigterm, "ignore-sigterm", false, "ignore SIGTERM (exercises the kill after the grace period)")
	fs.IntVar(&p.OutputLines, "output-lines", 0, "print N numbered lines")
}

// Args renders p as the worker's command line: "smoke --sleep=2s ...".
func (p SmokeParams) Args() []string {
	args := []string{"smoke"}
	if p.Sleep != "" {
		args = append(args, "--sleep="+p.Sleep)
	}
	if p.Message != "" {
		args = append(args, "--message="+p.Message)
	}
	if p.Progress > 0 {
		args = append(args, "--progress="+strconv.Itoa(p.Progress))
	}
	if p.ExitCode != 0 {
		args = append(args, "--exit-code="+strconv.Itoa(p.ExitCode))
	}
	if p.FailAttempts > 0 {
		args = append(args, "--fail-attempts="+strconv.Itoa(p.FailAttempts))
	}
	if p.IgnoreSigterm {
		args = append(args, "--ignore-sigterm")
	}
	if p.OutputLines > 0 {
		args = append(args, "--output-lines="+strconv.Itoa(p.OutputLines))
	}
	return args
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
