package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jetrun/jetrun/internal/ctxsleep"
	"github.com/jetrun/jetrun/internal/redact"
	"golang.org/x/sync/errgroup"
)

// Environment variables read by OpenAIConfigFromEnv.
const (
	EnvBaseURL          = "JETRUN_EMBED_BASE_URL"          // e.g. http://localhost:8000/v1
	EnvModel            = "JETRUN_EMBED_MODEL"             // e.g. Qwen/Qwen3-Embedding-8B
	EnvAPIKey           = "JETRUN_EMBED_API_KEY"           // secret
	EnvCredential       = "JETRUN_EMBED_CREDENTIAL"        // name of the credential holding the key
	EnvDimensions       = "JETRUN_EMBED_DIMENSIONS"        // 0: the model's
	EnvBatchSize        = "JETRUN_EMBED_BATCH_SIZE"        // inputs per request
	EnvBatchTokens      = "JETRUN_EMBED_BATCH_TOKENS"      // estimated tokens per request
	EnvConcurrency      = "JETRUN_EMBED_CONCURRENCY"       // requests in flight
	EnvMaxRetries       = "JETRUN_EMBED_MAX_RETRIES"       // retries of a transient failure; -1: none
	EnvQueryInstruction = "JETRUN_EMBED_QUERY_INSTRUCTION" // task description for queries
	EnvTimeout          = "JETRUN_EMBED_TIMEOUT"           // per request, Go duration
)

// Defaults applied by NewOpenAI to zero fields.
const (
	DefaultBatchSize   = 64
	DefaultBatchTokens = 8192
	DefaultConcurrency = 4
	DefaultMaxRetries  = 6
	DefaultTimeout     = 60 * time.Second
	DefaultBackoffBase = 500 * time.Millisecond
	DefaultBackoffMax  = 30 * time.Second
)

// maxResponseBytes bounds a response body: 64 inputs of 8192 floats as
// JSON text take ~12 MiB.
const maxResponseBytes = 256 << 20

// OpenAIConfig configures an OpenAI-compatible embeddings client. The zero
// value of every optional field selects its default.
type OpenAIConfig struct {
	// BaseURL is the API root, e.g. http://localhost:8000/v1; the client
	// posts to BaseURL + "/embeddings".
	BaseURL string
	// Model is sent as "model" and returned by Model.
	Model string
	// APIKey is sent as "Authorization: Bearer <key>" when set. It never
	// appears in errors, String, GoString or JSON.
	APIKey string
	// CredentialName names the credential holding the API key, resolved
	// with Lookup when APIKey is empty.
	CredentialName string
	// Lookup resolves a credential name to its secret.
	Lookup func(name string) (secret string, ok bool)
	// Dimensions, when > 0, is sent as "dimensions" (Matryoshka models,
	// OpenAI text-embedding-3) and every vector must have that length.
	// 0 keeps the server's size, learned from the first response.
	Dimensions int
	// BatchSize caps the inputs of one request (default 64).
	BatchSize int
	// BatchTokens caps the estimated tokens (characters / 3) of one
	// request (default 8192); a longer input goes alone.
	BatchTokens int
	// Concurrency caps the requests in flight for this client, across
	// calls (default 4).
	Concurrency int
	// MaxRetries caps the retries of a transient failure (default 6;
	// negative: no retry).
	MaxRetries int
	// QueryInstruction, when set, turns a query q into
	// "Instruct: <QueryInstruction>\nQuery:<q>", the format of
	// Qwen3-Embedding and similar instruction-tuned models. Documents are
	// always sent as they are.
	QueryInstruction string
	// Timeout bounds one request, reading the response included
	// (default 60s).
	Timeout time.Duration
	// BackoffBase and BackoffMax shape the retry delays: a jittered
	// exponential BackoffBase*2^n capped at BackoffMax (defaults 500ms
	// and 30s). BackoffMax also caps a server's Retry-After.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// HTTPClient is used when set; its Timeout should be zero or larger
	// than Timeout.
	HTTPClient *http.Client
	// OnRetry, when set, is called before each retry with the attempt
	// that failed (1-based), the delay about to be waited and the error
	// (which never holds the API key). For logging; it may be called from
	// several goroutines at once.
	OnRetry func(attempt int, delay time.Duration, err error)
}

// String describes the configuration with the API key redacted.
func (c OpenAIConfig) String() string {
	key := "none"
	if c.APIKey != "" {
		key = "redacted"
	}
	return fmt.Sprintf("OpenAIConfig{BaseURL:%s Model:%q APIKey:%s CredentialName:%q Dimensions:%d BatchSize:%d BatchTokens:%d Concurrency:%d MaxRetries:%d QueryInstruction:%q Timeout:%s}",
		redact.URL(c.BaseURL), c.Model, key, c.CredentialName, c.Dimensions, c.BatchSize, c.BatchTokens, c.Concurrency, c.MaxRetries, c.QueryInstruction, c.Timeout)
}

// GoString is String, so that %#v does not print the key either.
func (c OpenAIConfig) GoString() string { return c.String() }

// MarshalJSON writes the configuration for logs: the base URL without
// user info or query, no key, no functions. It is not meant to be read back.
func (c OpenAIConfig) MarshalJSON() ([]byte, error) {
	type view struct {
		BaseURL          string        `json:"base_url"`
		Model            string        `json:"model"`
		APIKey           bool          `json:"api_key_set"`
		CredentialName   string        `json:"credential,omitempty"`
		Dimensions       int           `json:"dimensions,omitempty"`
		BatchSize        int           `json:"batch_size,omitempty"`
		BatchTokens      int           `json:"batch_tokens,omitempty"`
		Concurrency      int           `json:"concurrency,omitempty"`
		MaxRetries       int           `json:"max_retries,omitempty"`
		QueryInstruction string        `json:"query_instruction,omitempty"`
		Timeout          time.Duration `json:"timeout,omitempty"`
	}
	return json.Marshal(view{redact.URL(c.BaseURL), c.Model, c.APIKey != "", c.CredentialName, c.Dimensions,
		c.BatchSize, c.BatchTokens, c.Concurrency, c.MaxRetries, c.QueryInstruction, c.Timeout})
}

// OpenAIConfigFromEnv reads the JETRUN_EMBED_* variables (see the Env*
// constants); unset variables leave their fields zero. Lookup, the
// backoff and the HTTP client are left for the caller.
func OpenAIConfigFromEnv(getenv func(string) string) (OpenAIConfig, error) {
	c := OpenAIConfig{
		BaseURL:          strings.TrimSpace(getenv(EnvBaseURL)),
		Model:            strings.TrimSpace(getenv(EnvModel)),
		APIKey:           strings.TrimSpace(getenv(EnvAPIKey)),
		CredentialName:   strings.TrimSpace(getenv(EnvCredential)),
		QueryInstruction: getenv(EnvQueryInstruction),
	}
	ints := []struct {
		name string
		dst  *int
	}{
		{EnvDimensions, &c.Dimensions},
		{EnvBatchSize, &c.BatchSize},
		{EnvBatchTokens, &c.BatchTokens},
		{EnvConcurrency, &c.Concurrency},
		{EnvMaxRetries, &c.MaxRetries},
	}
	for _, v := range ints {
		s := strings.TrimSpace(getenv(v.name))
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return OpenAIConfig{}, fmt.Errorf("%w: %s=%q is not an integer", ErrConfig, v.name, s)
		}
		*v.dst = n
	}
	if s := strings.TrimSpace(getenv(EnvTimeout)); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return OpenAIConfig{}, fmt.Errorf("%w: %s=%q is not a duration (e.g. 60s)", ErrConfig, EnvTimeout, s)
		}
		c.Timeout = d
	}
	return c, nil
}

// OpenAI embeds texts through an OpenAI-compatible POST /embeddings
// endpoint (vLLM, Hugging Face TEI, Ollama, OpenAI, ...). It is safe for
// concurrent use; Concurrency bounds the requests in flight across all
// calls.
type OpenAI struct {
	cfg      OpenAIConfig // defaults applied, key resolved
	endpoint string       // BaseURL + "/embeddings"
	shown    string       // endpoint as errors show it: no user info, no query
	client   *http.Client
	sem      chan struct{}
	dims     atomic.Int64 // learned vector size, 0 before the first response

	mu         sync.Mutex
	pauseUntil time.Time // set by a 429/503 carrying Retry-After
}

var _ Dense = (*OpenAI)(nil)

// String names the endpoint and model, never the key.
func (e *OpenAI) String() string { return fmt.Sprintf("OpenAI{%s model %q}", e.shown, e.cfg.Model) }

// GoString is String.
func (e *OpenAI) GoString() string { return e.String() }

// NewOpenAI validates cfg, applies the defaults and resolves the API key.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(cfg.BaseURL), "/"))
	switch {
	case cfg.BaseURL == "":
		return nil, fmt.Errorf("%w: base URL is empty", ErrConfig)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("%w: base URL %s: want http(s)://host[:port]/path", ErrConfig, redact.URL(cfg.BaseURL))
	case strings.TrimSpace(cfg.Model) == "":
		return nil, fmt.Errorf("%w: model is empty", ErrConfig)
	}
	for _, v := range []struct {
		name string
		n    int
	}{{"dimensions", cfg.Dimensions}, {"batch size", cfg.BatchSize}, {"batch tokens", cfg.BatchTokens}, {"concurrency", cfg.Concurrency}} {
		if v.n < 0 {
			return nil, fmt.Errorf("%w: %s %d is negative", ErrConfig, v.name, v.n)
		}
	}
	for _, v := range []struct {
		name string
		d    time.Duration
	}{{"timeout", cfg.Timeout}, {"backoff base", cfg.BackoffBase}, {"backoff max", cfg.BackoffMax}} {
		if v.d < 0 {
			return nil, fmt.Errorf("%w: %s %s is negative", ErrConfig, v.name, v.d)
		}
	}
	setDefault(&cfg.BatchSize, DefaultBatchSize)
	setDefault(&cfg.BatchTokens, DefaultBatchTokens)
	setDefault(&cfg.Concurrency, DefaultConcurrency)
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	setDefault(&cfg.Timeout, DefaultTimeout)
	setDefault(&cfg.BackoffBase, DefaultBackoffBase)
	setDefault(&cfg.BackoffMax, DefaultBackoffMax)
	if cfg.APIKey == "" && cfg.CredentialName != "" {
		if cfg.Lookup == nil {
			return nil, fmt.Errorf("%w: credential %q named but no lookup configured", ErrCredential, cfg.CredentialName)
		}
		key, ok := cfg.Lookup(cfg.CredentialName)
		if !ok || key == "" {
			return nil, fmt.Errorf("%w: credential %q not found or empty", ErrCredential, cfg.CredentialName)
		}
		cfg.APIKey = key
	}
	client := cfg.HTTPClient
	if client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = cfg.Concurrency
		client = &http.Client{Transport: t}
	}
	u.Path += "/embeddings"
	if u.RawPath != "" {
		u.RawPath += "/embeddings"
	}
	return &OpenAI{
		cfg:      cfg,
		endpoint: u.String(),
		shown:    redact.ParsedURL(u),
		client:   client,
		sem:      make(chan struct{}, cfg.Concurrency),
	}, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Model returns the configured model name.
func (e *OpenAI) Model() string { return e.cfg.Model }

// Dimensions returns the configured size, or the size learned from the
// first response (0 before it).
func (e *OpenAI) Dimensions() int {
	if e.cfg.Dimensions > 0 {
		return e.cfg.Dimensions
	}
	return int(e.dims.Load())
}

// Documents embeds texts in order. They are sent in batches bounded by
// BatchSize and BatchTokens, at most Concurrency requests at once. The
// first error cancels the rest of the call and is returned; an input the
// server rejects on its own yields an *InputError naming its index.
func (e *OpenAI) Documents(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	if len(texts) == 0 {
		return out, nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.cfg.Concurrency)
	for _, b := range planBatches(texts, e.cfg.BatchSize, e.cfg.BatchTokens) {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return e.embedRange(gctx, texts, b.lo, b.hi, out) })
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("embed documents: %w", ctx.Err())
		}
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embed documents: %w", err)
	}
	return out, nil
}

// Query embeds one search query, with the instruction prefix when one is
// configured.
func (e *OpenAI) Query(ctx context.Context, text string) ([]float32, error) {
	in := []string{e.QueryText(text)}
	out := make([][]float32, 1)
	if err := e.embedRange(ctx, in, 0, 1, out); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("embed query: %w", ctx.Err())
		}
		return nil, err
	}
	return out[0], nil
}

// QueryText returns the text Query sends for text:
// "Instruct: <QueryInstruction>\nQuery:<text>" (Qwen3-Embedding's
// get_detailed_instruct, no space after "Query:"), or text itself when no
// instruction is configured.
func (e *OpenAI) QueryText(text string) string {
	if e.cfg.QueryInstruction == "" {
		return text
	}
	return "Instruct: " + e.cfg.QueryInstruction + "\nQuery:" + text
}

type batch struct{ lo, hi int }

// planBatches cuts texts into consecutive batches of at most size inputs
// and, unless a single input is larger on its own, at most budget
// estimated tokens.
func planBatches(texts []string, size, budget int) []batch {
	var out []batch
	lo, tokens := 0, 0
	for i, t := range texts {
		n := estimateTokens(t)
		if i > lo && (i-lo >= size || tokens+n > budget) {
			out = append(out, batch{lo, i})
			lo, tokens = i, 0
		}
		tokens += n
	}
	return append(out, batch{lo, len(texts)})
}

// estimateTokens guesses a text's token count as its characters / 3,
// rounded up (at least 1): conservative for English and code with the
// usual BPE tokenizers.
func estimateTokens(s string) int {
	return max(1, (utf8.RuneCountInString(s)+2)/3)
}

// embedRange embeds texts[lo:hi] into out[lo:hi]. When the server rejects
// the batch as a client error (400, 413, 422) it is split in halves and
// each half retried, down to a single input, which then fails alone with
// an *InputError.
func (e *OpenAI) embedRange(ctx context.Context, texts []string, lo, hi int, out [][]float32) error {
	vecs, err := e.post(ctx, texts[lo:hi])
	if err == nil {
		copy(out[lo:hi], vecs)
		return nil
	}
	var se *StatusError
	if !errors.As(err, &se) || !splittable(se.Status) || ctx.Err() != nil {
		return err
	}
	if hi-lo == 1 {
		return &InputError{Index: lo, Status: se.Status, Message: se.Message, Tokens: estimateTokens(texts[lo])}
	}
	mid := lo + (hi-lo)/2
	if err := e.embedRange(ctx, texts, lo, mid, out); err != nil {
		return err
	}
	return e.embedRange(ctx, texts, mid, hi, out)
}

// splittable reports the statuses that blame the request's content, so
// that halving the batch can isolate the bad input.
func splittable(status int) bool {
	return status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge || status == http.StatusUnprocessableEntity
}

// retryable reports the failures worth the same request again.
func retryable(err error) bool {
	var ne *netError
	if errors.As(err, &ne) {
		return true
	}
	var se *StatusError
	if errors.As(err, &se) {
		switch se.Status {
		case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
			return true
		case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
			return false
		}
		return se.Status >= 500
	}
	return false
}

// post sends one request, retrying transient failures with a jittered
// exponential backoff that defers to the server's Retry-After.
func (e *OpenAI) post(ctx context.Context, inputs []string) ([][]float32, error) {
	for attempt := 1; ; attempt++ {
		if err := e.waitPause(ctx); err != nil {
			return nil, err
		}
		select {
		case e.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		vecs, retryAfter, err := e.do(ctx, inputs)
		<-e.sem
		if err == nil {
			return vecs, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !retryable(err) {
			return nil, err
		}
		if attempt > e.cfg.MaxRetries {
			return nil, fmt.Errorf("%w: POST %s failed %d times, last: %w", ErrRetriesExhausted, e.shown, attempt, err)
		}
		delay := e.backoff(attempt)
		if retryAfter >= 0 {
			delay = min(retryAfter, e.cfg.BackoffMax)
			e.pause(delay)
		}
		if e.cfg.OnRetry != nil {
			e.cfg.OnRetry(attempt, delay, err)
		}
		if err := ctxsleep.Sleep(ctx, delay); err != nil {
			return nil, err
		}
	}
}

// backoff is the delay after the given failed attempt (1-based): "equal
// jitter" over BackoffBase*2^(attempt-1), capped at BackoffMax.
func (e *OpenAI) backoff(attempt int) time.Duration {
	d := e.cfg.BackoffMax
	if attempt-1 < 32 {
		d = min(e.cfg.BackoffBase<<(attempt-1), e.cfg.BackoffMax)
	}
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// pause holds every request of this client back for d: a Retry-After is
// about the server, not about one request.
func (e *OpenAI) pause(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t := time.Now().Add(d); t.After(e.pauseUntil) {
		e.pauseUntil = t
	}
}

func (e *OpenAI) waitPause(ctx context.Context) error {
	e.mu.Lock()
	d := time.Until(e.pauseUntil)
	e.mu.Unlock()
	if d <= 0 {
		return ctx.Err()
	}
	return ctxsleep.Sleep(ctx, d)
}

// netError is a failure to get a complete response: connection, timeout,
// truncated body. Its text names the endpoint without credentials.
type netError struct {
	endpoint string
	err      error
}

func (e *netError) Error() string { return fmt.Sprintf("POST %s: %v", e.endpoint, e.err) }
func (e *netError) Unwrap() error { return e.err }

type embeddingRequest struct {
	Model      string   `json:"model"`
	Input      []string `json:"input"`
	Dimensions int      `json:"dimensions,omitempty"`
}

type embeddingResponse struct {
	Data []struct {
		Index     *int      `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
}

// do makes one attempt. retryAfter is the server's Retry-After, or -1.
func (e *OpenAI) do(ctx context.Context, inputs []string) (vecs [][]float32, retryAfter time.Duration, err error) {
	retryAfter = -1
	body, err := json.Marshal(embeddingRequest{Model: e.cfg.Model, Input: inputs, Dimensions: e.cfg.Dimensions})
	if err != nil {
		return nil, retryAfter, fmt.Errorf("embed: encode request: %w", err)
	}
	actx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, e.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, retryAfter, fmt.Errorf("%w: request: %v", ErrConfig, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "jetrun-embed")
	if e.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.cfg.APIKey)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, retryAfter, e.transportError(ctx, actx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, retryAfter, e.transportError(ctx, actx, fmt.Errorf("read response: %w", err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			retryAfter = d
		}
		return nil, retryAfter, &StatusError{Status: resp.StatusCode, Message: serverMessage(data, e.cfg.APIKey)}
	}
	if len(data) > maxResponseBytes {
		return nil, retryAfter, fmt.Errorf("%w: body over %d bytes", ErrResponse, maxResponseBytes)
	}
	vecs, err = e.decode(data, len(inputs))
	return vecs, retryAfter, err
}

// decode parses and validates a response to a request of n inputs: one
// entry per input, each index in [0, n) exactly once, non-empty vectors of
// one size (the configured one, and the one learned before), finite
// values. Vectors are returned in index order.
func (e *OpenAI) decode(data []byte, n int) ([][]float32, error) {
	var r embeddingResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResponse, err)
	}
	if len(r.Data) != n {
		return nil, fmt.Errorf("%w: %d embeddings for %d inputs", ErrResponse, len(r.Data), n)
	}
	want := e.cfg.Dimensions
	if want == 0 {
		want = int(e.dims.Load())
	}
	out := make([][]float32, n)
	for i, d := range r.Data {
		switch {
		case d.Index == nil:
			return nil, fmt.Errorf("%w: data[%d] has no index", ErrResponse, i)
		case *d.Index < 0 || *d.Index >= n:
			return nil, fmt.Errorf("%w: data[%d] index %d out of range [0, %d)", ErrResponse, i, *d.Index, n)
		case out[*d.Index] != nil:
			return nil, fmt.Errorf("%w: index %d appears twice", ErrResponse, *d.Index)
		case len(d.Embedding) == 0:
			return nil, fmt.Errorf("%w: index %d has an empty embedding", ErrResponse, *d.Index)
		case want != 0 && len(d.Embedding) != want:
			return nil, fmt.Errorf("%w: index %d has %d dimensions, want %d", ErrResponse, *d.Index, len(d.Embedding), want)
		}
		want = len(d.Embedding)
		for j, f := range d.Embedding {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return nil, fmt.Errorf("%w: index %d value %d is %v", ErrResponse, *d.Index, j, f)
			}
		}
		out[*d.Index] = d.Embedding
	}
	if e.cfg.Dimensions == 0 && !e.dims.CompareAndSwap(0, int64(want)) && e.dims.Load() != int64(want) {
		return nil, fmt.Errorf("%w: %d dimensions, earlier responses had %d", ErrResponse, want, e.dims.Load())
	}
	return out, nil
}

// transportError classifies a failure to get a complete response: the
// caller's cancellation is returned as is; the per-request timeout
// becomes a retryable error that does not wrap context.DeadlineExceeded
// (so that it is not mistaken for the caller's own deadline); anything
// else is a retryable network error.
func (e *OpenAI) transportError(ctx, actx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if actx.Err() != nil {
		return &netError{endpoint: e.shown, err: fmt.Errorf("no complete response within %s", e.cfg.Timeout)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the full URL
	}
	return &netError{endpoint: e.shown, err: err}
}

// parseRetryAfter reads a Retry-After header: delay-seconds (fractions
// tolerated) or an HTTP date, relative to now. A date in the past is 0.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			return 0, false
		}
		if s > float64(math.MaxInt64/int64(time.Second)) {
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(s * float64(time.Second)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(0, t.Sub(now)), true
}

// maxMessage bounds a server message quoted in an error (and so in a
// job's public failed event): a short reason, not the reply.
const maxMessage = 120

// serverMessage extracts the error message of a non-2xx body in the
// formats of OpenAI and vLLM ({"error":{"message":...}}), TEI and Ollama
// ({"error":"..."}), vLLM's older {"message":...} and FastAPI's
// {"detail":...}. Other bodies are not quoted: they may echo the request.
// The API key is scrubbed, control characters flattened, the length capped.
func serverMessage(body []byte, secret string) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message json.RawMessage `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	msg := ""
	if json.Unmarshal(body, &v) == nil {
		msg = firstString(v.Error, v.Message, v.Detail)
	}
	if msg == "" {
		return fmt.Sprintf("(%d-byte body, not quoted)", len(body))
	}
	if secret != "" {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, msg)
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// firstString returns the first message found in the raw JSON values: a
// string, an object's "message" (or "msg"), or a list's first such item.
func firstString(raws ...json.RawMessage) string {
	for _, raw := range raws {
		if len(raw) == 0 {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
		var obj struct {
			Message string `json:"message"`
			Msg     string `json:"msg"`
		}
		if json.Unmarshal(raw, &obj) == nil {
			if obj.Message != "" {
				return obj.Message
			}
			if obj.Msg != "" {
				return obj.Msg
			}
		}
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
			if s := firstString(list[0]); s != "" {
				return s
			}
		}
	}
	return ""
}
