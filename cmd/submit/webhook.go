package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/jetrun/jetrun/internal/redact"
	"github.com/jetrun/jetrun/pkg/messages"
)

// webhookSender POSTs events as JSON, retrying transient failures.
type webhookSender struct {
	url     string
	display string // the URL without userinfo, query or fragment, for messages
	client  *http.Client
}

func newWebhookSender(raw string) (*webhookSender, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: --webhook must be an http(s) URL", messages.ErrInvalid)
	}
	return &webhookSender{url: raw, display: redact.ParsedURL(u), client: &http.Client{Timeout: 10 * time.Second}}, nil
}

// send delivers one event: up to 4 tries with growing delays; 4xx other
// than 408 and 429 is final.
func (h *webhookSender) send(ctx context.Context, ev messages.Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	delay := 500 * time.Millisecond
	var last error
	for try := 0; try < 4; try++ {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(delay):
			}
			delay *= 2
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("post to %s: bad request", h.display)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "jetrun-submit")
		req.Header.Set("Jetrun-Event", string(ev.Type))
		req.Header.Set("Idempotency-Key", ev.MsgID())
		resp, err := h.client.Do(req)
		if err != nil {
			// The client's *url.Error quotes the whole URL: drop it.
			last = fmt.Errorf("post to %s: %s", h.display, redact.Error(err))
			continue
		}
		resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return nil
		case resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429:
			return fmt.Errorf("post to %s: %s", h.display, resp.Status)
		}
		last = fmt.Errorf("post to %s: %s", h.display, resp.Status)
	}
	return last
}
