package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
)

// progressView prints events: a live progress bar on a terminal, one plain
// line per event otherwise (logs, CI, pipes).
type progressView struct {
	w       io.Writer
	tty     bool
	barShow bool
}

func newProgressView(w io.Writer, tty bool) *progressView { return &progressView{w: w, tty: tty} }

func (v *progressView) event(ev messages.Event) {
	if v.tty && ev.Type == messages.EventProgress && ev.Progress != nil {
		fmt.Fprintf(v.w, "\r\033[K%s", bar(ev))
		v.barShow = true
		return
	}
	if v.barShow {
		fmt.Fprint(v.w, "\r\033[K")
		v.barShow = false
	}
	v.line(ev)
}

func (v *progressView) done() {
	if v.barShow {
		fmt.Fprintln(v.w)
		v.barShow = false
	}
}

// line prints one event as a line.
func (v *progressView) line(ev messages.Event) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-26s %-9s", ev.Time.Local().Format("15:04:05.000"), ev.JobID, ev.Type)
	if ev.Attempt > 0 {
		fmt.Fprintf(&b, " attempt %d", ev.Attempt)
	}
	if p := ev.Progress; p != nil {
		if p.Total > 0 {
			fmt.Fprintf(&b, " %d/%d %s", p.Done, p.Total, p.Unit)
		} else {
			fmt.Fprintf(&b, " %d %s", p.Done, p.Unit)
		}
		b.WriteString(counts(p))
		if p.Message != "" {
			fmt.Fprintf(&b, " %s", p.Message)
		}
	}
	if ev.Message != "" {
		fmt.Fprintf(&b, "  %s", ev.Message)
	}
	if ev.ExitCode != nil && (ev.Type.Terminal() || ev.Type == messages.EventFailed) {
		fmt.Fprintf(&b, "  exit %d", *ev.ExitCode)
	}
	if ev.Error != "" && ev.Type != messages.EventSucceeded {
		fmt.Fprintf(&b, "  error: %s", oneLine(ev.Error, 300))
	}
	fmt.Fprintln(v.w, b.String())
}

func bar(ev messages.Event) string {
	p := ev.Progress
	const width = 30
	filled := 0
	if p.Total > 0 {
		filled = int(float64(width) * float64(min(p.Done, p.Total)) / float64(p.Total))
	}
	s := fmt.Sprintf("[%s%s] %d", strings.Repeat("#", filled), strings.Repeat("-", width-filled), p.Done)
	if p.Total > 0 {
		s += fmt.Sprintf("/%d", p.Total)
	}
	if p.Unit != "" {
		s += " " + p.Unit
	}
	s += counts(p)
	if p.Rate > 0 {
		s += fmt.Sprintf("  %.1f/s", p.Rate)
	}
	if p.Total > 0 && p.Rate > 0 && p.Done < p.Total {
		eta := time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second))
		s += fmt.Sprintf("  eta %s", eta.Round(time.Second))
	}
	return s
}

// counts renders an indexing job's chunk counters, when it has any.
func counts(p *messages.Progress) string {
	var b strings.Builder
	if p.Chunks > 0 {
		fmt.Fprintf(&b, ", %d chunks", p.Chunks)
	}
	if p.Embedded > 0 {
		fmt.Fprintf(&b, ", %d embedded", p.Embedded)
	}
	if p.Upserted > 0 {
		fmt.Fprintf(&b, ", %d stored", p.Upserted)
	}
	if p.Bytes > 0 {
		fmt.Fprintf(&b, ", %.1f MB", float64(p.Bytes)/1e6)
	}
	return b.String()
}
