// Package embedtest runs an in-process OpenAI-compatible embeddings server
// (POST /v1/embeddings) for tests and benchmarks of code that embeds
// through one: deterministic vectors, optional latency and concurrency
// limit, injected failures, and counters to assert on.
//
//	srv := embedtest.New(embedtest.Options{Dim: 32, Latency: 20 * time.Millisecond})
//	t.Cleanup(srv.Close)
//	e, err := embed.NewOpenAI(embed.OpenAIConfig{BaseURL: srv.URL(), Model: "test"})
//
// Vectors are a hashed bag of words (see Vector): texts sharing words are
// close, the same text always gives the same vector, and nothing is
// loaded or downloaded.
package embedtest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/jetrun/jetrun/internal/ctxsleep"
)

// Options configure a Server. Zero values select the defaults.
type Options struct {
	// Dim is the vector size (default 64). A request's "dimensions" may
	// ask for less, never more.
	Dim int
	// Model, when set, is the only model name accepted (404 otherwise,
	// as OpenAI answers). Any non-empty name is accepted when empty.
	Model string
	// APIKey, when set, must come as "Authorization: Bearer <APIKey>"
	// (401 otherwise).
	APIKey string
	// Latency delays every answer, as a model server's compute would.
	Latency time.Duration
	// MaxInFlight caps the requests served at once; further ones wait
	// their turn (0: no cap).
	MaxInFlight int
	// Shuffle answers the data entries in reverse index order, as a
	// server is allowed to.
	Shuffle bool
	// FailWith, when set, is asked about every valid request; ok = true
	// answers status with an OpenAI-style error body and, when
	// retryAfter is not empty, that Retry-After header.
	FailWith func(inputs []string) (status int, retryAfter string, ok bool)
}

// Request is one request the server received.
type Request struct {
	Model      string
	Inputs     []string
	Dimensions int
	// Authorization is the header as received.
	Authorization string
	// Status is the status the server answered.
	Status int
	// Served is when the server began serving the request (after
	// MaxInFlight let it in), Done when it answered.
	Served, Done time.Time
}

// Server is a running test server. Its methods are safe for concurrent use.
type Server struct {
	opts Options
	ts   *httptest.Server
	sem  chan struct{}

	mu          sync.Mutex
	log         []Request
	inputs      int
	inFlight    int
	maxInFlight int
}

// New starts a server; Close it when done.
func New(opts Options) *Server {
	if opts.Dim <= 0 {
		opts.Dim = 64
	}
	s := &Server{opts: opts}
	if opts.MaxInFlight > 0 {
		s.sem = make(chan struct{}, opts.MaxInFlight)
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL returns the API base URL, ending in /v1.
func (s *Server) URL() string { return s.ts.URL + "/v1" }

// Close shuts the server down, closing client connections.
func (s *Server) Close() {
	s.ts.CloseClientConnections()
	s.ts.Close()
}

// Requests returns how many requests reached /v1/embeddings.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.log)
}

// Inputs returns how many inputs were embedded (answered with 200).
func (s *Server) Inputs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inputs
}

// MaxSeenInFlight returns the most requests that were open at once,
// waiting ones included: the client's concurrency.
func (s *Server) MaxSeenInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// BatchSizes returns the number of inputs of each request, in arrival order.
func (s *Server) BatchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]int, len(s.log))
	for i, r := range s.log {
		out[i] = len(r.Inputs)
	}
	return out
}

// Log returns a copy of the requests received, in arrival order.
func (s *Server) Log() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.log))
	copy(out, s.log)
	return out
}

type request struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

type datum struct {
	Object    string    `json:"object"`
	Index     int       `json:"index"`
	Embedding []float32 `json:"embedding"`
}

type response struct {
	Object string  `json:"object"`
	Data   []datum `json:"data"`
	Model  string  `json:"model"`
	Usage  struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/embeddings" {
		writeError(w, http.StatusNotFound, "", "no route "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "", "POST only")
		return
	}
	s.mu.Lock()
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	// Read the body first: only then does net/http notice a client that
	// hangs up, and cancel ctx.
	body, err := io.ReadAll(r.Body)
	ctx := r.Context()
	if s.sem != nil {
		select {
		case s.sem <- struct{}{}:
			defer func() { <-s.sem }()
		case <-ctx.Done():
			return
		}
	}
	served := time.Now()
	if s.opts.Latency > 0 {
		if ctxsleep.Sleep(ctx, s.opts.Latency) != nil {
			return
		}
	}

	rec := Request{Authorization: r.Header.Get("Authorization"), Served: served}
	status, ra, msg := http.StatusBadRequest, "", "cannot read body"
	if err == nil {
		status, ra, msg = s.check(body, &rec)
	}
	var resp response
	if status == http.StatusOK {
		resp = s.embed(rec)
	}
	rec.Status = status
	rec.Done = time.Now()
	s.mu.Lock()
	s.log = append(s.log, rec)
	if status == http.StatusOK {
		s.inputs += len(rec.Inputs)
	}
	s.mu.Unlock()
	if status != http.StatusOK {
		writeError(w, status, ra, msg)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// check validates the request into rec and returns the status to answer.
func (s *Server) check(body []byte, rec *Request) (status int, retryAfter, msg string) {
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return http.StatusBadRequest, "", "invalid JSON body"
	}
	rec.Model = req.Model
	if req.Dimensions != nil {
		rec.Dimensions = *req.Dimensions
	}
	var one string
	switch {
	case json.Unmarshal(req.Input, &rec.Inputs) == nil:
	case json.Unmarshal(req.Input, &one) == nil:
		rec.Inputs = []string{one}
	default:
		return http.StatusBadRequest, "", "input must be a string or a list of strings"
	}
	switch {
	case s.opts.APIKey != "" && rec.Authorization != "Bearer "+s.opts.APIKey:
		return http.StatusUnauthorized, "", "invalid API key"
	case req.Model == "":
		return http.StatusBadRequest, "", "model is required"
	case s.opts.Model != "" && req.Model != s.opts.Model:
		return http.StatusNotFound, "", fmt.Sprintf("model %q not found", req.Model)
	case len(rec.Inputs) == 0:
		return http.StatusBadRequest, "", "input is empty"
	case req.EncodingFormat != "" && req.EncodingFormat != "float":
		return http.StatusBadRequest, "", "only encoding_format float is supported"
	case req.Dimensions != nil && (*req.Dimensions <= 0 || *req.Dimensions > s.opts.Dim):
		return http.StatusBadRequest, "", fmt.Sprintf("dimensions %d out of range [1, %d]", *req.Dimensions, s.opts.Dim)
	}
	if s.opts.FailWith != nil {
		if st, ra, ok := s.opts.FailWith(rec.Inputs); ok {
			return st, ra, fmt.Sprintf("injected failure %d", st)
		}
	}
	return http.StatusOK, "", ""
}

func (s *Server) embed(rec Request) response {
	dim := s.opts.Dim
	if rec.Dimensions > 0 {
		dim = rec.Dimensions
	}
	resp := response{Object: "list", Model: rec.Model, Data: make([]datum, len(rec.Inputs))}
	for i, in := range rec.Inputs {
		resp.Data[i] = datum{Object: "embedding", Index: i, Embedding: Vector(in, dim)}
		resp.Usage.PromptTokens += len(strings.Fields(in))
	}
	resp.Usage.TotalTokens = resp.Usage.PromptTokens
	if s.opts.Shuffle {
		for i, j := 0, len(resp.Data)-1; i < j; i, j = i+1, j-1 {
			resp.Data[i], resp.Data[j] = resp.Data[j], resp.Data[i]
		}
	}
	return resp
}

func writeError(w http.ResponseWriter, status int, retryAfter, msg string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	var body struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    int    `json:"code"`
		} `json:"error"`
	}
	body.Error.Message, body.Error.Type, body.Error.Code = msg, http.StatusText(status), status
	_ = json.NewEncoder(w).Encode(body)
}

// Vector is the embedding the server gives text at size dim: each
// lower-cased word (a run of letters and digits) adds ±1 to a coordinate
// chosen by its FNV-1a hash, then the vector is L2-normalised. A text
// without words gets the first unit vector.
func Vector(text string, dim int) []float32 {
	v := make([]float64, dim)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r)
	}) {
		h := fnv.New64a()
		h.Write([]byte(w))
		x := h.Sum64()
		if x>>63 == 1 {
			v[x%uint64(dim)]--
		} else {
			v[x%uint64(dim)]++
		}
	}
	var norm float64
	for _, f := range v {
		norm += f * f
	}
	out := make([]float32, dim)
	if norm == 0 {
		out[0] = 1
		return out
	}
	norm = math.Sqrt(norm)
	for i, f := range v {
		out[i] = float32(f / norm)
	}
	return out
}
