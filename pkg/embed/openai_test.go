package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/embed/embedtest"
)

const testKey = "sk-test-SECRET-7f3a"

// setup starts an embedtest server and a client for it with fast
// backoffs; cfg's zero fields are filled in.
func setup(t *testing.T, opts embedtest.Options, cfg OpenAIConfig) (*embedtest.Server, *OpenAI) {
	t.Helper()
	srv := embedtest.New(opts)
	t.Cleanup(srv.Close)
	if cfg.BaseURL == "" {
		cfg.BaseURL = srv.URL()
	}
	if cfg.Model == "" {
		cfg.Model = "test-model"
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = time.Millisecond
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 20 * time.Millisecond
	}
	e, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return srv, e
}

func texts(n int, f string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(f, i)
	}
	return out
}

func checkVectors(t *testing.T, got [][]float32, in []string, dim int) {
	t.Helper()
	if len(got) != len(in) {
		t.Fatalf("%d vectors for %d inputs", len(got), len(in))
	}
	for i := range in {
		if want := embedtest.Vector(in[i], dim); !slices.Equal(got[i], want) {
			t.Fatalf("vector %d (%q) is not the server's vector for it", i, in[i])
		}
	}
}

func TestOpenAIBatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       OpenAIConfig
		in        []string
		wantSizes []int
	}{
		{"by count", OpenAIConfig{BatchSize: 4, Concurrency: 1}, texts(10, "doc %d"), []int{4, 4, 2}},
		{"default count", OpenAIConfig{Concurrency: 1}, texts(130, "doc %d"), []int{64, 64, 2}},
		// 12 characters = 4 estimated tokens; a budget of 10 takes two.
		{"by tokens", OpenAIConfig{BatchTokens: 10, Concurrency: 1}, texts(5, "text number%d"), []int{2, 2, 1}},
		// A 60-character input (20 tokens) exceeds the budget and goes alone.
		{"oversized input alone", OpenAIConfig{BatchTokens: 10, Concurrency: 1},
			[]string{"short one", strings.Repeat("long ", 12), "short two", "short 3"}, []int{1, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, e := setup(t, embedtest.Options{}, tt.cfg)
			got, err := e.Documents(context.Background(), tt.in)
			if err != nil {
				t.Fatal(err)
			}
			checkVectors(t, got, tt.in, 64)
			if sizes := srv.BatchSizes(); !slices.Equal(sizes, tt.wantSizes) {
				t.Errorf("batch sizes %v, want %v", sizes, tt.wantSizes)
			}
		})
	}
}

func TestPlanBatches(t *testing.T) {
	tests := []struct {
		name         string
		lens         []int // characters
		size, budget int
		want         []batch
	}{
		{"one", []int{3}, 4, 100, []batch{{0, 1}}},
		{"count", []int{3, 3, 3, 3, 3}, 2, 100, []batch{{0, 2}, {2, 4}, {4, 5}}},
		{"tokens", []int{30, 30, 30}, 10, 20, []batch{{0, 2}, {2, 3}}},
		{"big first", []int{300, 3, 3}, 10, 20, []batch{{0, 1}, {1, 3}}},
		{"big middle", []int{3, 300, 3}, 10, 20, []batch{{0, 1}, {1, 2}, {2, 3}}},
		{"empty texts count as one token", []int{0, 0, 0}, 10, 2, []batch{{0, 2}, {2, 3}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := make([]string, len(tt.lens))
			for i, n := range tt.lens {
				in[i] = strings.Repeat("é", n)
			}
			if got := planBatches(in, tt.size, tt.budget); !slices.Equal(got, tt.want) {
				t.Errorf("planBatches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOpenAIOrderAndShuffle(t *testing.T) {
	t.Parallel()
	srv, e := setup(t, embedtest.Options{Shuffle: true, Latency: 5 * time.Millisecond}, OpenAIConfig{BatchSize: 3, Concurrency: 4})
	in := texts(50, "order %d")
	got, err := e.Documents(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, got, in, 64)
	if srv.Inputs() != 50 {
		t.Errorf("server embedded %d inputs, want 50", srv.Inputs())
	}
	if e.Dimensions() != 64 {
		t.Errorf("learned Dimensions = %d, want 64", e.Dimensions())
	}
}

func TestOpenAIEmpty(t *testing.T) {
	srv, e := setup(t, embedtest.Options{}, OpenAIConfig{})
	got, err := e.Documents(context.Background(), nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("Documents(nil) = %v, %v", got, err)
	}
	if srv.Requests() != 0 {
		t.Errorf("%d requests for no input", srv.Requests())
	}
	if e.Dimensions() != 0 {
		t.Errorf("Dimensions before any response = %d", e.Dimensions())
	}
}

func TestOpenAIConcurrencyBound(t *testing.T) {
	t.Parallel()
	srv, e := setup(t, embedtest.Options{Latency: 20 * time.Millisecond}, OpenAIConfig{BatchSize: 1, Concurrency: 3})
	// Two calls at once share the client's bound.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			in := texts(15, fmt.Sprintf("call %d doc %%d", i))
			got, err := e.Documents(context.Background(), in)
			if err == nil && len(got) != len(in) {
				err = fmt.Errorf("%d vectors", len(got))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if m := srv.MaxSeenInFlight(); m > 3 || m < 2 {
		t.Errorf("max requests in flight %d, want 2..3 (bound 3)", m)
	}
	if srv.Requests() != 30 {
		t.Errorf("%d requests, want 30", srv.Requests())
	}
}

// failFirst fails the first n requests with status and Retry-After ra.
func failFirst(n int, status int, ra string) func([]string) (int, string, bool) {
	var count atomic.Int32
	return func([]string) (int, string, bool) {
		if int(count.Add(1)) <= n {
			return status, ra, true
		}
		return 0, "", false
	}
}

func TestOpenAIRetries(t *testing.T) {
	t.Parallel()
	t.Run("5xx then success", func(t *testing.T) {
		t.Parallel()
		var attempts []int
		srv, e := setup(t, embedtest.Options{FailWith: failFirst(2, http.StatusServiceUnavailable, "")},
			OpenAIConfig{OnRetry: func(a int, _ time.Duration, _ error) { attempts = append(attempts, a) }})
		in := texts(3, "x %d")
		got, err := e.Documents(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		checkVectors(t, got, in, 64)
		if srv.Requests() != 3 || !slices.Equal(attempts, []int{1, 2}) {
			t.Errorf("%d requests, retries after attempts %v; want 3 and [1 2]", srv.Requests(), attempts)
		}
	})
	t.Run("429 and network-like statuses retried", func(t *testing.T) {
		t.Parallel()
		for _, st := range []int{408, 425, 429, 500, 502, 504} {
			srv, e := setup(t, embedtest.Options{FailWith: failFirst(1, st, "")}, OpenAIConfig{})
			if _, err := e.Query(context.Background(), "q"); err != nil {
				t.Errorf("status %d: %v", st, err)
			}
			if srv.Requests() != 2 {
				t.Errorf("status %d: %d requests, want 2", st, srv.Requests())
			}
		}
	})
	t.Run("give up", func(t *testing.T) {
		t.Parallel()
		srv, e := setup(t, embedtest.Options{FailWith: failFirst(100, http.StatusInternalServerError, "")}, OpenAIConfig{MaxRetries: 2})
		_, err := e.Documents(context.Background(), []string{"a", "b"})
		var se *StatusError
		if !errors.Is(err, ErrRetriesExhausted) || !errors.As(err, &se) || se.Status != 500 {
			t.Fatalf("err = %v, want ErrRetriesExhausted wrapping HTTP 500", err)
		}
		if !strings.Contains(err.Error(), "3 times") || !strings.Contains(err.Error(), "injected failure 500") {
			t.Errorf("error %q should say how often it failed and why", err)
		}
		if srv.Requests() != 3 {
			t.Errorf("%d requests, want 1 + 2 retries", srv.Requests())
		}
	})
	t.Run("no retries", func(t *testing.T) {
		t.Parallel()
		srv, e := setup(t, embedtest.Options{FailWith: failFirst(100, http.StatusBadGateway, "")}, OpenAIConfig{MaxRetries: -1})
		if _, err := e.Query(context.Background(), "q"); !errors.Is(err, ErrRetriesExhausted) {
			t.Fatalf("err = %v", err)
		}
		if srv.Requests() != 1 {
			t.Errorf("%d requests, want 1", srv.Requests())
		}
	})
	t.Run("client errors not retried", func(t *testing.T) {
		t.Parallel()
		for _, st := range []int{401, 403, 404, 501} {
			srv, e := setup(t, embedtest.Options{FailWith: failFirst(100, st, "")}, OpenAIConfig{})
			_, err := e.Documents(context.Background(), []string{"a", "b"})
			var se *StatusError
			if !errors.As(err, &se) || se.Status != st || errors.Is(err, ErrRetriesExhausted) {
				t.Errorf("status %d: err = %v", st, err)
			}
			if srv.Requests() != 1 {
				t.Errorf("status %d: %d requests, want 1", st, srv.Requests())
			}
		}
	})
	t.Run("network errors retried", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.NotFoundHandler())
		base := srv.URL + "/v1"
		srv.Close() // connection refused from now on
		var n atomic.Int32
		e, err := NewOpenAI(OpenAIConfig{BaseURL: base, Model: "m", MaxRetries: 2, BackoffBase: time.Millisecond,
			OnRetry: func(int, time.Duration, error) { n.Add(1) }})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Query(context.Background(), "q")
		var ne *netError
		if !errors.Is(err, ErrRetriesExhausted) || !errors.As(err, &ne) || n.Load() != 2 {
			t.Fatalf("err = %v after %d retries", err, n.Load())
		}
	})
	t.Run("per-request timeout", func(t *testing.T) {
		t.Parallel()
		_, e := setup(t, embedtest.Options{Latency: time.Second}, OpenAIConfig{Timeout: 30 * time.Millisecond, MaxRetries: 1})
		start := time.Now()
		_, err := e.Query(context.Background(), "q")
		// A request timing out is not the caller's deadline.
		if !errors.Is(err, ErrRetriesExhausted) || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "within 30ms") {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("took %s", d)
		}
	})
}

func TestOpenAIRetryAfter(t *testing.T) {
	t.Parallel()
	t.Run("seconds honoured", func(t *testing.T) {
		t.Parallel()
		var delays []time.Duration
		srv, e := setup(t, embedtest.Options{FailWith: failFirst(1, http.StatusTooManyRequests, "1")},
			OpenAIConfig{BackoffMax: 5 * time.Second, OnRetry: func(_ int, d time.Duration, _ error) { delays = append(delays, d) }})
		start := time.Now()
		if _, err := e.Query(context.Background(), "q"); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("retried after %s, before Retry-After: 1", d)
		}
		if !slices.Equal(delays, []time.Duration{time.Second}) || srv.Requests() != 2 {
			t.Errorf("delays %v, %d requests", delays, srv.Requests())
		}
	})
	t.Run("zero", func(t *testing.T) {
		t.Parallel()
		var delays []time.Duration
		_, e := setup(t, embedtest.Options{FailWith: failFirst(1, http.StatusServiceUnavailable, "0")},
			OpenAIConfig{BackoffBase: time.Hour, BackoffMax: time.Hour, OnRetry: func(_ int, d time.Duration, _ error) { delays = append(delays, d) }})
		if _, err := e.Query(context.Background(), "q"); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(delays, []time.Duration{0}) {
			t.Errorf("delays %v, want [0] (Retry-After wins over the backoff)", delays)
		}
	})
	t.Run("capped", func(t *testing.T) {
		t.Parallel()
		var delays []time.Duration
		_, e := setup(t, embedtest.Options{FailWith: failFirst(1, http.StatusTooManyRequests, "3600")},
			OpenAIConfig{BackoffMax: 15 * time.Millisecond, OnRetry: func(_ int, d time.Duration, _ error) { delays = append(delays, d) }})
		if _, err := e.Query(context.Background(), "q"); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(delays, []time.Duration{15 * time.Millisecond}) {
			t.Errorf("delays %v, want [15ms]", delays)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 2 ", 2 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"Fri, 02 Jan 2026 03:04:35 GMT", 30 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestOpenAISplit(t *testing.T) {
	t.Parallel()
	rejectIf := func(status int, bad func(string) bool) func([]string) (int, string, bool) {
		return func(in []string) (int, string, bool) {
			if slices.ContainsFunc(in, bad) {
				return status, "", true
			}
			return 0, "", false
		}
	}
	for _, status := range []int{http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity} {
		t.Run(fmt.Sprintf("isolates the bad input on %d", status), func(t *testing.T) {
			t.Parallel()
			in := texts(8, "fine %d")
			in[5] = "POISON " + strings.Repeat("x", 30)
			srv, e := setup(t, embedtest.Options{FailWith: rejectIf(status, func(s string) bool { return strings.HasPrefix(s, "POISON") })},
				OpenAIConfig{BatchSize: 8, Concurrency: 1})
			_, err := e.Documents(context.Background(), in)
			var ie *InputError
			if !errors.As(err, &ie) || ie.Index != 5 || ie.Status != status || !errors.Is(err, ErrInputRejected) {
				t.Fatalf("err = %v, want InputError for index 5", err)
			}
			if ie.Tokens != estimateTokens(in[5]) || ie.Message != fmt.Sprintf("injected failure %d", status) {
				t.Errorf("InputError = %+v", ie)
			}
			if strings.Contains(err.Error(), "POISON") {
				t.Errorf("error %q quotes the input", err)
			}
			// 8 fails; 0-3 ok; 4-7 fails; 4-5 fails; 4 ok; 5 fails alone.
			if sizes := srv.BatchSizes(); !slices.Equal(sizes, []int{8, 4, 4, 2, 1, 1}) {
				t.Errorf("batch sizes %v", sizes)
			}
		})
	}
	t.Run("413 on big batches recovers", func(t *testing.T) {
		t.Parallel()
		tooBig := func(in []string) (int, string, bool) {
			if len(in) > 2 {
				return http.StatusRequestEntityTooLarge, "", true
			}
			return 0, "", false
		}
		srv, e := setup(t, embedtest.Options{FailWith: tooBig}, OpenAIConfig{BatchSize: 8, Concurrency: 2})
		in := texts(11, "chunk %d")
		got, err := e.Documents(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		checkVectors(t, got, in, 64)
		if srv.Inputs() != 11 {
			t.Errorf("server embedded %d inputs", srv.Inputs())
		}
	})
	t.Run("query", func(t *testing.T) {
		t.Parallel()
		_, e := setup(t, embedtest.Options{FailWith: rejectIf(400, func(string) bool { return true })}, OpenAIConfig{})
		_, err := e.Query(context.Background(), "anything")
		var ie *InputError
		if !errors.As(err, &ie) || ie.Index != 0 || ie.Status != 400 {
			t.Fatalf("err = %v", err)
		}
	})
}

// rawServer answers every request with status and body, counting requests.
func rawServer(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestOpenAIValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dims int
		body string // answer to a request of two inputs
	}{
		{"wrong count", 0, `{"data":[{"index":0,"embedding":[1,2]}]}`},
		{"duplicate index", 0, `{"data":[{"index":0,"embedding":[1,2]},{"index":0,"embedding":[3,4]}]}`},
		{"missing index", 0, `{"data":[{"index":0,"embedding":[1,2]},{"embedding":[3,4]}]}`},
		{"index out of range", 0, `{"data":[{"index":0,"embedding":[1,2]},{"index":2,"embedding":[3,4]}]}`},
		{"negative index", 0, `{"data":[{"index":-1,"embedding":[1,2]},{"index":1,"embedding":[3,4]}]}`},
		{"empty vector", 0, `{"data":[{"index":0,"embedding":[]},{"index":1,"embedding":[3,4]}]}`},
		{"mixed dimensions", 0, `{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[3,4,5]}]}`},
		{"wrong dimensions", 3, `{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[3,4]}]}`},
		{"NaN", 0, `{"data":[{"index":0,"embedding":[1,NaN]},{"index":1,"embedding":[3,4]}]}`},
		{"Infinity", 0, `{"data":[{"index":0,"embedding":[1,Infinity]},{"index":1,"embedding":[3,4]}]}`},
		{"float32 overflow", 0, `{"data":[{"index":0,"embedding":[1,1e39]},{"index":1,"embedding":[3,4]}]}`},
		{"base64 instead of floats", 0, `{"data":[{"index":0,"embedding":"AAAA"},{"index":1,"embedding":"AAAA"}]}`},
		{"not JSON", 0, `<html>ok</html>`},
		{"no data", 0, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, n := rawServer(t, http.StatusOK, tt.body)
			e, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL, Model: "m", Dimensions: tt.dims})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Documents(context.Background(), []string{"a", "b"})
			if !errors.Is(err, ErrResponse) {
				t.Fatalf("err = %v, want ErrResponse", err)
			}
			if n.Load() != 1 {
				t.Errorf("%d requests; an invalid response is not retried", n.Load())
			}
		})
	}
	t.Run("dimensions must stay the same across responses", func(t *testing.T) {
		t.Parallel()
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				fmt.Fprint(w, `{"data":[{"index":0,"embedding":[1,2]}]}`)
				return
			}
			fmt.Fprint(w, `{"data":[{"index":0,"embedding":[1,2,3]}]}`)
		}))
		t.Cleanup(srv.Close)
		e, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL, Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Query(context.Background(), "a"); err != nil || e.Dimensions() != 2 {
			t.Fatalf("first: %v, Dimensions %d", err, e.Dimensions())
		}
		if _, err := e.Query(context.Background(), "b"); !errors.Is(err, ErrResponse) {
			t.Fatalf("second: err = %v, want ErrResponse", err)
		}
	})
}

func TestOpenAIDimensions(t *testing.T) {
	t.Parallel()
	srv, e := setup(t, embedtest.Options{Dim: 64}, OpenAIConfig{Dimensions: 16})
	if e.Dimensions() != 16 {
		t.Errorf("Dimensions = %d before any request", e.Dimensions())
	}
	in := texts(3, "dims %d")
	got, err := e.Documents(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	checkVectors(t, got, in, 16)
	for _, r := range srv.Log() {
		if r.Dimensions != 16 {
			t.Errorf("request sent dimensions %d, want 16", r.Dimensions)
		}
	}
	// Without Dimensions the field is not sent.
	srv2, e2 := setup(t, embedtest.Options{Dim: 8}, OpenAIConfig{})
	if _, err := e2.Query(context.Background(), "q"); err != nil {
		t.Fatal(err)
	}
	if r := srv2.Log()[0]; r.Dimensions != 0 || e2.Dimensions() != 8 {
		t.Errorf("dimensions sent %d, learned %d", r.Dimensions, e2.Dimensions())
	}
}

func TestOpenAIAuthAndSecrets(t *testing.T) {
	t.Parallel()
	t.Run("bearer header", func(t *testing.T) {
		t.Parallel()
		srv, e := setup(t, embedtest.Options{APIKey: testKey}, OpenAIConfig{APIKey: testKey})
		if _, err := e.Query(context.Background(), "q"); err != nil {
			t.Fatal(err)
		}
		if got := srv.Log()[0].Authorization; got != "Bearer "+testKey {
			t.Errorf("Authorization %q", got)
		}
	})
	t.Run("no key, no header", func(t *testing.T) {
		t.Parallel()
		srv, e := setup(t, embedtest.Options{}, OpenAIConfig{})
		if _, err := e.Query(context.Background(), "q"); err != nil {
			t.Fatal(err)
		}
		if got := srv.Log()[0].Authorization; got != "" {
			t.Errorf("Authorization %q", got)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		t.Parallel()
		srv, e := setup(t, embedtest.Options{APIKey: "other"}, OpenAIConfig{APIKey: testKey})
		_, err := e.Query(context.Background(), "q")
		var se *StatusError
		if !errors.As(err, &se) || se.Status != 401 || srv.Requests() != 1 {
			t.Fatalf("err = %v after %d requests", err, srv.Requests())
		}
	})

	// Every way the key could leak into an error or a log line.
	var errs []string
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": "bad request from " + r.Header.Get("Authorization")}})
	}))
	t.Cleanup(echo.Close)
	e, err := NewOpenAI(OpenAIConfig{BaseURL: echo.URL, Model: "m", APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Documents(context.Background(), []string{"a", "b", "c"})
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v", err)
	}
	errs = append(errs, err.Error(), ie.Message)

	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	leaky := strings.Replace(dead.URL, "http://", "http://user:"+testKey+"@", 1) + "/v1?api-key=" + testKey
	e, err = NewOpenAI(OpenAIConfig{BaseURL: leaky, Model: "m", APIKey: testKey, MaxRetries: 1, BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Query(context.Background(), "q")
	if err == nil {
		t.Fatal("no error from a closed server")
	}
	errs = append(errs, err.Error())

	_, err = NewOpenAI(OpenAIConfig{BaseURL: "ftp://x:" + testKey + "@h/v1", Model: "m", APIKey: testKey})
	errs = append(errs, err.Error())
	// Unparsable (a bad escape): shown through the text scrub.
	_, err = NewOpenAI(OpenAIConfig{BaseURL: "https://x:" + testKey + "@h/%zz?k=" + testKey + "#" + testKey, Model: "m", APIKey: testKey})
	errs = append(errs, err.Error())

	cfg := OpenAIConfig{BaseURL: leaky, Model: "m", APIKey: testKey}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	errs = append(errs, fmt.Sprint(cfg), fmt.Sprintf("%v %+v %#v %s", cfg, cfg, cfg, cfg), string(js), fmt.Sprintf("%+v", e))
	for _, s := range errs {
		if strings.Contains(s, testKey) {
			t.Errorf("key leaked: %s", s)
		}
	}
}

func TestOpenAIQueryInstruction(t *testing.T) {
	t.Parallel()
	const task = "Given a code search query, retrieve relevant code snippets"
	srv, e := setup(t, embedtest.Options{}, OpenAIConfig{QueryInstruction: task})
	q, err := e.Query(context.Background(), "parse http request")
	if err != nil {
		t.Fatal(err)
	}
	want := "Instruct: " + task + "\nQuery:parse http request"
	if !slices.Equal(q, embedtest.Vector(want, 64)) {
		t.Error("query vector is not the instructed text's")
	}
	if _, err := e.Documents(context.Background(), []string{"func parse() {}"}); err != nil {
		t.Fatal(err)
	}
	log := srv.Log()
	if got := log[0].Inputs; !slices.Equal(got, []string{want}) {
		t.Errorf("query sent %q, want %q", got, want)
	}
	if got := log[1].Inputs; !slices.Equal(got, []string{"func parse() {}"}) {
		t.Errorf("document sent %q, want it verbatim", got)
	}
	// Without an instruction, queries are verbatim too.
	srv2, e2 := setup(t, embedtest.Options{}, OpenAIConfig{})
	if _, err := e2.Query(context.Background(), "plain"); err != nil {
		t.Fatal(err)
	}
	if got := srv2.Log()[0].Inputs; !slices.Equal(got, []string{"plain"}) {
		t.Errorf("query sent %q", got)
	}
}

func TestOpenAICancel(t *testing.T) {
	t.Parallel()
	t.Run("during a request", func(t *testing.T) {
		t.Parallel()
		_, e := setup(t, embedtest.Options{Latency: 10 * time.Second}, OpenAIConfig{BatchSize: 1})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := e.Documents(ctx, texts(20, "slow %d"))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("returned after %s", d)
		}
	})
	t.Run("during a backoff", func(t *testing.T) {
		t.Parallel()
		_, e := setup(t, embedtest.Options{FailWith: failFirst(100, http.StatusTooManyRequests, "30")}, OpenAIConfig{BackoffMax: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		start := time.Now()
		_, err := e.Query(ctx, "q")
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("returned after %s", d)
		}
	})
}

func TestOpenAIConfigAndCredentials(t *testing.T) {
	lookup := func(name string) (string, bool) {
		if name == "default" {
			return testKey, true
		}
		return "", false
	}
	t.Run("credential resolved", func(t *testing.T) {
		srv, e := setup(t, embedtest.Options{APIKey: testKey}, OpenAIConfig{CredentialName: "default", Lookup: lookup})
		if _, err := e.Query(context.Background(), "q"); err != nil || srv.Log()[0].Authorization != "Bearer "+testKey {
			t.Fatalf("err %v", err)
		}
	})
	for _, tt := range []struct {
		name string
		cfg  OpenAIConfig
		want error
	}{
		{"unknown credential", OpenAIConfig{BaseURL: "http://h/v1", Model: "m", CredentialName: "nope", Lookup: lookup}, ErrCredential},
		{"no lookup", OpenAIConfig{BaseURL: "http://h/v1", Model: "m", CredentialName: "default"}, ErrCredential},
		{"no base URL", OpenAIConfig{Model: "m"}, ErrConfig},
		{"bad scheme", OpenAIConfig{BaseURL: "ftp://h/v1", Model: "m"}, ErrConfig},
		{"no host", OpenAIConfig{BaseURL: "http:///v1", Model: "m"}, ErrConfig},
		{"no model", OpenAIConfig{BaseURL: "http://h/v1"}, ErrConfig},
		{"negative dimensions", OpenAIConfig{BaseURL: "http://h/v1", Model: "m", Dimensions: -1}, ErrConfig},
		{"negative timeout", OpenAIConfig{BaseURL: "http://h/v1", Model: "m", Timeout: -time.Second}, ErrConfig},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewOpenAI(tt.cfg); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("endpoint", func(t *testing.T) {
		for base, want := range map[string]string{
			"http://h:8000/v1":              "http://h:8000/v1/embeddings",
			"http://h:8000/v1/":             "http://h:8000/v1/embeddings",
			"https://api.openai.com/v1?x=1": "https://api.openai.com/v1/embeddings?x=1",
		} {
			e, err := NewOpenAI(OpenAIConfig{BaseURL: base, Model: "m"})
			if err != nil || e.endpoint != want {
				t.Errorf("%s: endpoint %q, %v; want %q", base, e.endpoint, err, want)
			}
		}
	})
	t.Run("from env", func(t *testing.T) {
		env := map[string]string{
			EnvBaseURL: "http://tei:8080/v1", EnvModel: "Qwen/Qwen3-Embedding-8B", EnvAPIKey: testKey,
			EnvCredential: "default", EnvDimensions: "1024", EnvBatchSize: "32", EnvBatchTokens: "4096",
			EnvConcurrency: "2", EnvMaxRetries: "-1", EnvQueryInstruction: "Find code", EnvTimeout: "90s",
		}
		cfg, err := OpenAIConfigFromEnv(func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		want := OpenAIConfig{BaseURL: "http://tei:8080/v1", Model: "Qwen/Qwen3-Embedding-8B", APIKey: testKey, CredentialName: "default",
			Dimensions: 1024, BatchSize: 32, BatchTokens: 4096, Concurrency: 2, MaxRetries: -1, QueryInstruction: "Find code", Timeout: 90 * time.Second}
		if cfg.String() != want.String() || cfg.APIKey != testKey {
			t.Errorf("config\n%s\nwant\n%s", cfg, want)
		}
		env[EnvBatchSize] = "lots"
		if _, err := OpenAIConfigFromEnv(func(k string) string { return env[k] }); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), EnvBatchSize) {
			t.Errorf("err = %v", err)
		}
		cfg, err = OpenAIConfigFromEnv(func(string) string { return "" })
		if err != nil || cfg.String() != (OpenAIConfig{}).String() {
			t.Errorf("empty env: %v, %v", cfg, err)
		}
	})
}

func TestServerMessage(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"error":{"message":"This model's maximum context length is 8192 tokens","type":"BadRequestError"}}`, "This model's maximum context length is 8192 tokens"},
		{`{"object":"error","message":"too long","type":"BadRequestError","code":400}`, "too long"},
		{`{"error":"Input validation error: inputs must have less than 512 tokens","error_type":"Validation"}`, "Input validation error: inputs must have less than 512 tokens"},
		{`{"detail":[{"type":"missing","loc":["body","input"],"msg":"Field required","input":{"secret":"x"}}]}`, "Field required"},
		{`{"detail":"Not Found"}`, "Not Found"},
		{`<html>413 Request Entity Too Large</html>`, "(41-byte body, not quoted)"},
		{`{"error":"key ` + testKey + ` is invalid"}`, "key [redacted] is invalid"},
		{`{"error":"line\nbreak"}`, "line break"},
		{`{"error":"` + strings.Repeat("é", 400) + `"}`, strings.Repeat("é", 60) + "…"}, // maxMessage 120 bytes
	}
	for _, tt := range tests {
		if got := serverMessage([]byte(tt.body), testKey); got != tt.want {
			t.Errorf("serverMessage(%.40q) = %q, want %q", tt.body, got, tt.want)
		}
	}
}

// BenchmarkOpenAIDocuments embeds 1,000 short texts through an in-process
// server answering each request after 5ms, so the figure shows what
// batching and concurrency buy over the server's latency.
func BenchmarkOpenAIDocuments(b *testing.B) {
	srv := embedtest.New(embedtest.Options{Dim: 256, Latency: 5 * time.Millisecond})
	b.Cleanup(srv.Close)
	e, err := NewOpenAI(OpenAIConfig{BaseURL: srv.URL(), Model: "m"})
	if err != nil {
		b.Fatal(err)
	}
	in := texts(1000, "func handler%d(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }")
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Documents(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(in))*float64(b.N)/b.Elapsed().Seconds(), "texts/s")
}
