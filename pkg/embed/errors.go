package embed

import (
	"errors"
	"fmt"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrConfig: an embedder's configuration is invalid (permanent).
	ErrConfig = errors.New("embed: invalid configuration")
	// ErrCredential: the named credential holding the API key cannot be
	// resolved (permanent).
	ErrCredential = errors.New("embed: credential not available")
	// ErrResponse: the server answered 2xx with a body that is not a
	// valid embeddings response for the request (wrong count, missing or
	// duplicate index, empty or mismatched vectors, non-finite values,
	// malformed JSON). Not retried.
	ErrResponse = errors.New("embed: invalid embeddings response")
	// ErrRetriesExhausted: a request still failed with a transient error
	// (network, timeout, 408, 425, 429, 5xx) after the configured retries.
	ErrRetriesExhausted = errors.New("embed: retries exhausted")
	// ErrInputRejected: the server rejected one input on its own (see
	// InputError). Permanent for that input.
	ErrInputRejected = errors.New("embed: input rejected")
)

// StatusError is a non-2xx answer from the embeddings endpoint. Message is
// the server's own error message, truncated, with the API key scrubbed;
// request bodies never appear in it.
type StatusError struct {
	Status  int
	Message string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("embed: HTTP %d: %s", e.Status, e.Message)
}

// InputError reports an input the server keeps rejecting (400, 413 or
// 422) even when sent alone, after the batch holding it was split in
// halves down to that input. Index is its position in the slice given to
// Documents (0 for Query). The text itself is never included, only its
// estimated size. errors.Is(err, ErrInputRejected) holds.
type InputError struct {
	Index   int
	Status  int
	Message string
	// Tokens is the client-side estimate (characters / 3) of the input's
	// size, the usual culprit.
	Tokens int
}

func (e *InputError) Error() string {
	return fmt.Sprintf("embed: input %d (~%d tokens) rejected with HTTP %d: %s", e.Index, e.Tokens, e.Status, e.Message)
}

// Unwrap returns ErrInputRejected.
func (e *InputError) Unwrap() error { return ErrInputRejected }
