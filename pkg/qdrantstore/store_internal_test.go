package qdrantstore

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestTranslate(t *testing.T) {
	s := &Store{addr: "q:6334", apiKey: secretKey}
	tests := []struct {
		code     codes.Code
		sentinel error
	}{
		{codes.NotFound, ErrNotFound},
		{codes.Canceled, context.Canceled},
		{codes.DeadlineExceeded, context.DeadlineExceeded},
		{codes.InvalidArgument, nil},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			// As the client wraps it, with a server message that echoes the key.
			inner := status.Error(tt.code, "bad request from key "+secretKey)
			err := s.fail(wrapped{inner}, "upsert into %s", "docs")
			if want := "upsert into docs: " + tt.code.String() + ": bad request from key [REDACTED]"; err.Error() != want {
				t.Errorf("err = %q, want %q", err, want)
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("err does not wrap %v", tt.sentinel)
			}
			if status.Code(err) != tt.code {
				t.Errorf("status.Code = %v, want %v", status.Code(err), tt.code)
			}
		})
	}
	plain := errors.New("not from gRPC")
	if got := s.translate(plain); got != plain {
		t.Errorf("translate changed a non-gRPC error: %v", got)
	}
}

// wrapped wraps an error the way the client's QdrantError does.
type wrapped struct{ err error }

func (w wrapped) Error() string { return "Op() failed: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func TestOpenErrorHintsAtTheRESTPort(t *testing.T) {
	err := (&Store{addr: "q:6333"}).openError(errors.New("refused"))
	if !strings.Contains(err.Error(), "6333 is Qdrant's REST port") {
		t.Errorf("err = %q, want a hint about the REST port", err)
	}
	err = (&Store{addr: "q:6334"}).openError(errors.New("refused"))
	if err.Error() != "qdrant at q:6334: refused" {
		t.Errorf("err = %q", err)
	}
}

func TestTLSConfig(t *testing.T) {
	if c, err := (Config{}).tlsConfig(); c != nil || err != nil {
		t.Errorf("no TLS: %v, %v", c, err)
	}
	c, err := (Config{ServerName: "q.internal"}).tlsConfig()
	if err != nil || c == nil || c.ServerName != "q.internal" || c.RootCAs != nil {
		t.Errorf("server name implies TLS with system roots: %+v, %v", c, err)
	}
	c, err = (Config{CAPEM: string(testCA(t))}).tlsConfig()
	if err != nil || c == nil || c.RootCAs == nil {
		t.Errorf("inline CA: %+v, %v", c, err)
	}
	if _, err := (Config{CAPEM: "junk"}).tlsConfig(); !errors.Is(err, ErrInvalid) {
		t.Errorf("junk CA: err = %v, want ErrInvalid", err)
	}
}
