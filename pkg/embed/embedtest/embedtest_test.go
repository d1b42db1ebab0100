package embedtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

type answer struct {
	status     int
	retryAfter string
	body       struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
}

func post(t *testing.T, url, auth string, body any) answer {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	a.status, a.retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	if err := json.NewDecoder(resp.Body).Decode(&a.body); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestVector(t *testing.T) {
	v := Vector("parse the HTTP request", 32)
	if !slices.Equal(v, Vector("Parse the http REQUEST!", 32)) {
		t.Error("same words, different vectors")
	}
	var norm float64
	for _, f := range v {
		norm += float64(f) * float64(f)
	}
	if math.Abs(norm-1) > 1e-6 {
		t.Errorf("norm² = %v", norm)
	}
	if e := Vector("!!!", 4); !slices.Equal(e, []float32{1, 0, 0, 0}) {
		t.Errorf("wordless text: %v", e)
	}
	dot := func(a, b []float32) (s float64) {
		for i := range a {
			s += float64(a[i]) * float64(b[i])
		}
		return s
	}
	near := dot(Vector("parse http request header", 64), Vector("parse http request body", 64))
	far := dot(Vector("parse http request header", 64), Vector("green tea with lemon", 64))
	if near <= far {
		t.Errorf("shared words should be closer: %v <= %v", near, far)
	}
}

func TestServer(t *testing.T) {
	srv := New(Options{Dim: 8, APIKey: "k", Model: "m", Shuffle: true,
		FailWith: func(in []string) (int, string, bool) {
			if slices.Contains(in, "fail") {
				return http.StatusTooManyRequests, "2", true
			}
			return 0, "", false
		}})
	t.Cleanup(srv.Close)
	url := srv.URL() + "/embeddings"
	tests := []struct {
		name   string
		auth   string
		body   any
		status int
	}{
		{"ok", "Bearer k", map[string]any{"model": "m", "input": []string{"a b", "c"}}, 200},
		{"string input", "Bearer k", map[string]any{"model": "m", "input": "solo"}, 200},
		{"dimensions", "Bearer k", map[string]any{"model": "m", "input": []string{"x"}, "dimensions": 4}, 200},
		{"too many dimensions", "Bearer k", map[string]any{"model": "m", "input": []string{"x"}, "dimensions": 9}, 400},
		{"no key", "", map[string]any{"model": "m", "input": []string{"x"}}, 401},
		{"wrong key", "Bearer nope", map[string]any{"model": "m", "input": []string{"x"}}, 401},
		{"unknown model", "Bearer k", map[string]any{"model": "other", "input": []string{"x"}}, 404},
		{"no model", "Bearer k", map[string]any{"input": []string{"x"}}, 400},
		{"empty input", "Bearer k", map[string]any{"model": "m", "input": []string{}}, 400},
		{"bad input", "Bearer k", map[string]any{"model": "m", "input": 3}, 400},
		{"base64", "Bearer k", map[string]any{"model": "m", "input": "x", "encoding_format": "base64"}, 400},
		{"injected", "Bearer k", map[string]any{"model": "m", "input": []string{"ok", "fail"}}, 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := post(t, url, tt.auth, tt.body)
			if a.status != tt.status {
				t.Fatalf("status %d (%s), want %d", a.status, a.body.Error.Message, tt.status)
			}
			if tt.status != 200 && a.body.Error.Message == "" {
				t.Error("error without message")
			}
		})
	}
	t.Run("answers", func(t *testing.T) {
		a := post(t, url, "Bearer k", map[string]any{"model": "m", "input": []string{"a b", "c", "d"}})
		if len(a.body.Data) != 3 || a.body.Data[0].Index != 2 {
			t.Fatalf("data %+v, want 3 entries in reverse order", a.body.Data)
		}
		for _, d := range a.body.Data {
			if !slices.Equal(d.Embedding, Vector([]string{"a b", "c", "d"}[d.Index], 8)) {
				t.Errorf("index %d: wrong vector", d.Index)
			}
		}
		a = post(t, url, "Bearer k", map[string]any{"model": "m", "input": "x", "dimensions": 4})
		if len(a.body.Data[0].Embedding) != 4 {
			t.Errorf("dimensions 4: %d", len(a.body.Data[0].Embedding))
		}
		a = post(t, url, "Bearer k", map[string]any{"model": "m", "input": "fail"})
		if a.retryAfter != "2" {
			t.Errorf("Retry-After %q", a.retryAfter)
		}
	})
	// 12 requests: 3 succeeded with 2+1+1 inputs, then the answers test's 3.
	if srv.Requests() != 15 || srv.Inputs() != 2+1+1+3+1 {
		t.Errorf("requests %d, inputs %d", srv.Requests(), srv.Inputs())
	}
	log := srv.Log()
	if log[0].Model != "m" || log[0].Authorization != "Bearer k" || log[0].Status != 200 || log[2].Dimensions != 4 {
		t.Errorf("log[0] = %+v, log[2] = %+v", log[0], log[2])
	}
	if sizes := srv.BatchSizes(); sizes[0] != 2 || sizes[1] != 1 {
		t.Errorf("batch sizes %v", sizes)
	}
	resp, err := http.Get(srv.URL() + "/models")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("GET /v1/models: %d", resp.StatusCode)
	}
}

func TestServerMaxInFlight(t *testing.T) {
	const latency = 30 * time.Millisecond
	srv := New(Options{Latency: latency, MaxInFlight: 1})
	t.Cleanup(srv.Close)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 3 {
		wg.Go(func() {
			post(t, srv.URL()+"/embeddings", "", map[string]any{"model": "m", "input": fmt.Sprint(i)})
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 3*latency {
		t.Errorf("3 requests served one at a time took %s, want >= %s", d, 3*latency)
	}
	if srv.MaxSeenInFlight() < 2 {
		t.Errorf("MaxSeenInFlight %d: waiting requests count as in flight", srv.MaxSeenInFlight())
	}
}
