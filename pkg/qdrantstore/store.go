package qdrantstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Sentinel errors. Test for them with errors.Is.
var (
	// ErrNotFound: the collection does not exist.
	ErrNotFound = errors.New("qdrantstore: not found")
	// ErrSchemaMismatch: the collection exists with vectors or metadata
	// other than the job's; the message names every difference.
	ErrSchemaMismatch = errors.New("qdrantstore: schema mismatch")
)

// Defaults of the Store's tuning fields.
const (
	DefaultBatchSize   = 256
	DefaultParallelism = 4
)

// maxMessageSize bounds one response, as Qdrant bounds one request.
const maxMessageSize = 64 << 20

// Store talks to one Qdrant over gRPC. It is safe for concurrent use.
// Make it with [Open] and Close it once.
type Store struct {
	// BatchSize is the number of points per upsert request (default
	// DefaultBatchSize), Parallelism the number of upsert requests in
	// flight at once (default DefaultParallelism). Set them before use.
	BatchSize   int
	Parallelism int

	client  *qdrant.Client
	addr    string
	apiKey  string // only to scrub it from server messages
	version string

	mu      sync.Mutex
	vectors map[string]vectorNames // per collection, see names
}

// Open connects to Qdrant and checks that it answers, with the API key
// accepted, before returning; so a wrong address or key fails here with an
// error like "qdrant at host:6334: ...", not in the middle of a job.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tlsConf, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	s := &Store{
		BatchSize:   DefaultBatchSize,
		Parallelism: DefaultParallelism,
		addr:        cfg.addr(),
		apiKey:      cfg.APIKey,
		vectors:     map[string]vectorNames{},
	}
	timeout := cfg.timeout()
	// The API key is added by our own interceptor rather than the client's
	// APIKey field, and the client's version check is skipped: both log
	// through the global slog logger, and this package logs nothing. The
	// health check below fetches the server's version for the caller
	// (ServerVersion) instead.
	opts := []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(
			func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				if cfg.APIKey != "" {
					ctx = metadata.AppendToOutgoingContext(ctx, "api-key", cfg.APIKey)
				}
				ctx, cancel := context.WithTimeout(ctx, timeout)
				defer cancel()
				return invoker(ctx, method, req, reply, cc, opts...)
			}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessageSize)),
	}
	client, err := qdrant.NewClient(&qdrant.Config{
		Host:                   cfg.Host,
		Port:                   cfg.Port,
		UseTLS:                 tlsConf != nil,
		TLSConfig:              tlsConf,
		GrpcOptions:            opts,
		SkipCompatibilityCheck: true,
		PoolSize:               1, // one HTTP/2 connection multiplexes every call
	})
	if err != nil {
		return nil, s.openError(err)
	}
	s.client = client

	health, err := client.HealthCheck(ctx)
	if err != nil {
		client.Close()
		return nil, s.openError(err)
	}
	s.version = health.GetVersion()
	// Qdrant may answer health checks without a key; listing collections
	// proves the key. A key limited to some collections may be refused
	// the list (PermissionDenied): it is still a valid key.
	if _, err := client.ListCollections(ctx); err != nil && status.Code(err) != codes.PermissionDenied {
		client.Close()
		return nil, s.openError(err)
	}
	return s, nil
}

func (s *Store) openError(err error) error {
	err = s.translate(err)
	hint := ""
	if strings.HasSuffix(s.addr, fmt.Sprintf(":%d", restPort)) {
		hint = fmt.Sprintf(" (%d is Qdrant's REST port; jetrun speaks gRPC, usually on %d)", restPort, DefaultPort)
	}
	return fmt.Errorf("qdrant at %s%s: %w", s.addr, hint, err)
}

// Close closes the connection.
func (s *Store) Close() error {
	return s.client.Close()
}

// Addr is the host:port the store talks to.
func (s *Store) Addr() string { return s.addr }

// ServerVersion is the version the server reported when the store opened.
func (s *Store) ServerVersion() string { return s.version }

// rpcError is a failure reported over gRPC, with the server's message
// (scrubbed of the API key) and, for the codes callers act on, a sentinel:
// ErrNotFound, context.Canceled or context.DeadlineExceeded. It keeps the
// status, so status.Code still works on it.
type rpcError struct {
	st       *status.Status
	sentinel error
}

func (e *rpcError) Error() string {
	return e.st.Code().String() + ": " + e.st.Message()
}

func (e *rpcError) GRPCStatus() *status.Status { return e.st }

func (e *rpcError) Unwrap() error { return e.sentinel }

// translate turns a client error into an rpcError. Other errors (ours,
// already wrapping ErrInvalid) pass through.
func (s *Store) translate(err error) error {
	if err == nil {
		return nil
	}
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		return err
	}
	st := se.GRPCStatus()
	msg := st.Message()
	if s.apiKey != "" {
		msg = strings.ReplaceAll(msg, s.apiKey, "[REDACTED]")
	}
	e := &rpcError{st: status.New(st.Code(), msg)}
	switch st.Code() {
	case codes.NotFound:
		e.sentinel = ErrNotFound
	case codes.Canceled:
		e.sentinel = context.Canceled
	case codes.DeadlineExceeded:
		e.sentinel = context.DeadlineExceeded
	}
	return e
}

// fail wraps err with the operation, for example "upsert into docs".
func (s *Store) fail(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, s.translate(err))...)
}

// wait is the Wait flag of every write: a write returns once applied, so
// a job that succeeds has made its points searchable.
func wait() *bool { return qdrant.PtrOf(true) }
