package runtimes

import (
	"context"
	"io"
)

// PipeLogs returns what produce writes, as a runtime's Logs returns it:
// produce runs in its own goroutine, and its error (nil: io.EOF) is what
// the reader sees at the end. Closing the reader cancels produce's context
// and closes body (the backend's stream, when there is one), so that
// produce returns even while it blocks in a read or a wait.
func PipeLogs(ctx context.Context, body io.Closer, produce func(ctx context.Context, w io.Writer) error) io.ReadCloser {
	ctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	go func() {
		defer cancel()
		pw.CloseWithError(produce(ctx, pw))
	}()
	return &pipeLogs{PipeReader: pr, body: body, cancel: cancel}
}

type pipeLogs struct {
	*io.PipeReader
	body   io.Closer
	cancel context.CancelFunc
}

func (l *pipeLogs) Close() error {
	l.cancel()
	var err error
	if l.body != nil {
		err = l.body.Close()
	}
	l.PipeReader.Close()
	return err
}
