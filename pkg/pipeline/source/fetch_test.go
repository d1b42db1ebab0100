package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fetchTestPolicy lets tests reach the loopback test server.
var fetchTestPolicy = Policy{AllowHTTP: true, AllowPrivate: true}

// fetchTestServer serves a few paths for the Fetch tests.
func fetchTestServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("hello, world\n"))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: the limit must hold on the bytes read.
		w.Header().Set("Content-Type", "application/octet-stream")
		chunk := []byte(strings.Repeat("x", 1024))
		for range 64 {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/declared-big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		_, _ = w.Write([]byte("short"))
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write([]byte("not really gzip"))
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nope", http.StatusNotFound)
	})
	mux.HandleFunc("/redirect-local", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/file", http.StatusFound)
	})
	mux.HandleFunc("/redirect-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/redirect-creds", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://user:fetch-secret@example.com/", http.StatusFound)
	})
	mux.HandleFunc("/redirect-ext", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "ext::sh -c id")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestFetch(t *testing.T) {
	srv := fetchTestServer(t)
	dir := t.TempDir()
	dst := filepath.Join(dir, "out")
	n, sum, err := Fetch(context.Background(), srv.URL+"/file", fetchTestPolicy, dst, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte("hello, world\n"))
	if n != 13 || sum != hex.EncodeToString(want[:]) {
		t.Errorf("Fetch = %d, %s; want 13, %x", n, sum, want)
	}
	b, err := os.ReadFile(dst)
	if err != nil || string(b) != "hello, world\n" {
		t.Errorf("dst = %q, %v", b, err)
	}

	t.Run("redirect on the same host", func(t *testing.T) {
		n, _, err := Fetch(context.Background(), srv.URL+"/redirect-local", fetchTestPolicy, filepath.Join(dir, "r"), 1<<20)
		if err != nil || n != 13 {
			t.Fatalf("Fetch = %d, %v", n, err)
		}
	})
	t.Run("exactly maxBytes", func(t *testing.T) {
		n, _, err := Fetch(context.Background(), srv.URL+"/file", fetchTestPolicy, filepath.Join(dir, "exact"), 13)
		if err != nil || n != 13 {
			t.Fatalf("Fetch = %d, %v", n, err)
		}
	})
	t.Run("body kept as sent", func(t *testing.T) {
		p := filepath.Join(dir, "gz")
		n, _, err := Fetch(context.Background(), srv.URL+"/gzip", fetchTestPolicy, p, 1<<20)
		if err != nil || n != int64(len("not really gzip")) {
			t.Fatalf("Fetch = %d, %v (the body must not be decoded)", n, err)
		}
	})
}

func TestFetchErrors(t *testing.T) {
	srv := fetchTestServer(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	tests := []struct {
		name     string
		url      string
		policy   Policy
		max      int64
		want     error
		status   int
		notInErr string
	}{
		{name: "oversized body", url: srv.URL + "/big", max: 10 << 10, want: ErrRemoteTooLarge},
		{name: "one byte over", url: srv.URL + "/file", max: 12, want: ErrRemoteTooLarge},
		{name: "declared too big", url: srv.URL + "/declared-big", max: 1000, want: ErrRemoteTooLarge},
		{name: "not found", url: srv.URL + "/missing", status: http.StatusNotFound},
		{name: "redirect to metadata", url: srv.URL + "/redirect-metadata",
			policy: Policy{AllowHTTP: true, AllowPrivate: true, AllowHosts: []string{"127.0.0.1"}}, want: ErrPolicy},
		{name: "redirect with credentials", url: srv.URL + "/redirect-creds", want: ErrPolicy, notInErr: "fetch-secret"},
		{name: "redirect to ext", url: srv.URL + "/redirect-ext", want: ErrPolicy},
		{name: "loopback without AllowPrivate", url: srv.URL + "/file", policy: Policy{AllowHTTP: true}, want: ErrPolicy},
		{name: "localhost refused at dial time", url: "http://localhost:" + port + "/file", policy: Policy{AllowHTTP: true}, want: ErrPolicy},
		{name: "http without AllowHTTP", url: srv.URL + "/file", policy: Policy{AllowPrivate: true}, want: ErrPolicy},
		{name: "file URL", url: "file:///etc/passwd", policy: Policy{AllowFile: true}, want: ErrPolicy},
		{name: "credentials in URL", url: "http://u:fetch-secret@" + srv.Listener.Addr().String() + "/file", want: ErrPolicy, notInErr: "fetch-secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.policy
			if p.AllowHosts == nil && !p.AllowHTTP && !p.AllowFile && !p.AllowPrivate {
				p = fetchTestPolicy
			}
			max := tt.max
			if max == 0 {
				max = 1 << 20
			}
			dst := filepath.Join(t.TempDir(), "out")
			n, sum, err := Fetch(context.Background(), tt.url, p, dst, max)
			if err == nil {
				t.Fatalf("Fetch succeeded (%d bytes), want an error", n)
			}
			t.Logf("error: %v", err)
			if n != 0 || sum != "" {
				t.Errorf("Fetch returned %d, %q with an error", n, sum)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
			if tt.status != 0 {
				var he *HTTPError
				if !errors.As(err, &he) || he.StatusCode != tt.status {
					t.Errorf("error %v, want an HTTPError with status %d", err, tt.status)
				}
			}
			if tt.notInErr != "" && strings.Contains(err.Error(), tt.notInErr) {
				t.Errorf("error %q contains %q", err, tt.notInErr)
			}
			if _, serr := os.Stat(dst); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("dst left behind after an error: %v", serr)
			}
		})
	}
}

func TestFetchCancel(t *testing.T) {
	srv := fetchTestServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	dst := filepath.Join(t.TempDir(), "out")
	_, _, err := Fetch(ctx, srv.URL+"/slow", fetchTestPolicy, dst, 1<<20)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want context.DeadlineExceeded", err)
	}
	if _, serr := os.Stat(dst); !errors.Is(serr, os.ErrNotExist) {
		t.Errorf("dst left behind: %v", serr)
	}
}

// A presigned URL's query (its signature) appears in no error, whether
// the server answers an error status or cannot be reached at all.
func TestFetchErrorsHideTheQuery(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "expired", http.StatusForbidden)
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	const sig = "X-Amz-Signature=5ecret5ignature&X-Amz-Credential=AKIDEXAMPLE"
	for _, base := range []string{srv.URL, closed.URL} {
		_, _, err := Fetch(context.Background(), base+"/src.tgz?"+sig, fetchTestPolicy, filepath.Join(t.TempDir(), "f"), 0)
		if err == nil {
			t.Fatalf("%s: fetch succeeded", base)
		}
		if strings.Contains(err.Error(), "5ecret5ignature") || strings.Contains(err.Error(), "AKIDEXAMPLE") {
			t.Errorf("the query leaked: %v", err)
		}
		if !strings.Contains(err.Error(), "/src.tgz?") {
			t.Errorf("the error should still name the file: %v", err)
		}
	}
}
