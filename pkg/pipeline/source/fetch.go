package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
)

// DefaultFetchMaxBytes is Fetch's limit when maxBytes is 0.
const DefaultFetchMaxBytes int64 = 1 << 30 // 1 GiB

// HTTPError is the error of a request that got a non-2xx response.
// Callers can treat 5xx, 408 and 429 as transient and the rest as
// permanent.
type HTTPError struct {
	// StatusCode is the response's status code.
	StatusCode int
	// URL is the request URL, redacted.
	URL string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.URL, e.StatusCode, http.StatusText(e.StatusCode))
}

// Fetch downloads the http(s) URL rawURL into the file dst (created or
// truncated, mode 0600; removed again if Fetch fails), streaming, and
// returns the number of bytes written and their SHA-256 in hex.
//
// rawURL is checked with p.CheckURL (file URLs are refused even with
// AllowFile) and fetched with p.HTTPClient, which re-checks redirects and
// refuses blocked addresses at connect time. The body is the bytes the
// server sent (no transparent decompression); more than maxBytes of it
// (DefaultFetchMaxBytes if 0) is an error wrapping ErrRemoteTooLarge,
// counted on the bytes actually read, whatever Content-Length says. A
// non-2xx response is an *HTTPError. Errors show the URL redacted and wrap
// ErrPolicy for policy refusals.
func Fetch(ctx context.Context, rawURL string, p Policy, dst string, maxBytes int64) (n int64, sha256hex string, err error) {
	if maxBytes < 0 {
		return 0, "", errors.New("fetch: negative maxBytes")
	}
	if maxBytes == 0 {
		maxBytes = DefaultFetchMaxBytes
	}
	u, err := p.CheckURL(rawURL)
	if err != nil {
		return 0, "", fmt.Errorf("fetch: %w", err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return 0, "", fmt.Errorf("fetch: %w: scheme %q is not fetched over the network", ErrPolicy, u.Scheme)
	}
	shown := RedactURL(u)
	fail := func(op string, err error) error {
		return &redactedError{msg: "fetch " + shown + ": " + op + ": " + Redact(err.Error()), err: err}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return 0, "", fail("request", err)
	}
	req.Header.Set("User-Agent", "jetrun")
	resp, err := p.HTTPClient(0).Do(req)
	if err != nil {
		return 0, "", fail("get", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 0, "", &HTTPError{StatusCode: resp.StatusCode, URL: RedactURL(resp.Request.URL)}
	}
	if resp.ContentLength > maxBytes {
		return 0, "", fail("get", fmt.Errorf("%w: Content-Length %d over the limit of %d bytes", ErrRemoteTooLarge, resp.ContentLength, maxBytes))
	}

	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, "", fail("create", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fail("write", cerr)
		}
		if err != nil {
			_ = os.Remove(dst)
			n, sha256hex = 0, ""
		}
	}()

	h := sha256.New()
	n, err = io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, maxBytes+1))
	if err != nil {
		return 0, "", fail("read body", err)
	}
	if n > maxBytes {
		return 0, "", fail("read body", fmt.Errorf("%w: body larger than %d bytes", ErrRemoteTooLarge, maxBytes))
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// redactedError has a message with URLs redacted and unwraps to the
// original error, so that errors.Is still sees ErrPolicy, context errors
// and the like. (The original's own text is not redacted: print the
// redactedError, not what it wraps.)
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
