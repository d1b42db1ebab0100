package qdrantlite

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/qdrant/go-client/qdrant"
	"github.com/rs/zerolog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Version is the Qdrant server version that HealthCheck reports. The
// official Go client warns unless its own minor version is within one of
// the server's, so this tracks the client that jetrun builds with.
const Version = "1.17.0"

// DefaultPort is Qdrant's gRPC port.
const DefaultPort = 6334

// Options configure a Server.
type Options struct {
	// Dir holds the database file (qdrantlite.db). Required: the server is
	// always persistent; tests use t.TempDir().
	Dir string
	// APIKey, when set, must accompany every call in the `api-key`
	// metadata entry (or as `authorization: Bearer <key>`), as Qdrant
	// requires. It never appears in logs or errors.
	APIKey string
	// MaxMessageSize bounds one request or response (default 64 MiB,
	// Qdrant's own default for gRPC).
	MaxMessageSize int
	// Log receives one line per failed call and the start/stop lines.
	Log zerolog.Logger
}

// Server is the embedded vector server. Create it with Open, serve it with
// Serve or Start, and Close it once.
type Server struct {
	opts Options
	db   *db
	grpc *grpc.Server

	mu          sync.RWMutex
	collections map[string]*collection

	closeOnce sync.Once
	lis       net.Listener
}

// Open opens (or creates) the database under o.Dir and loads every
// collection into memory. It does not listen; see Serve and Start.
func Open(o Options) (*Server, error) {
	if o.Dir == "" {
		return nil, errors.New("qdrantlite: no data directory")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("qdrantlite: data directory: %w", err)
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = 64 << 20
	}
	d, err := openDB(filepath.Join(o.Dir, "qdrantlite.db"))
	if err != nil {
		return nil, err
	}
	s := &Server{opts: o, db: d, collections: map[string]*collection{}}
	cols, err := d.load()
	if err != nil {
		d.close()
		return nil, err
	}
	for _, c := range cols {
		s.collections[c.name] = c
	}
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(o.MaxMessageSize),
		grpc.MaxSendMsgSize(o.MaxMessageSize),
		// The official client pings every 10 s, even when idle; gRPC's
		// default policy would answer with GOAWAY "too_many_pings".
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.ChainUnaryInterceptor(s.recoverUnary, s.authUnary),
		grpc.ChainStreamInterceptor(s.authStream),
	)
	qdrant.RegisterQdrantServer(s.grpc, &qdrantService{})
	qdrant.RegisterCollectionsServer(s.grpc, &collectionsService{s: s})
	qdrant.RegisterPointsServer(s.grpc, &pointsService{s: s})
	return s, nil
}

// Start opens the server and serves it on addr ("127.0.0.1:6334";
// port 0 picks a free one, see Addr) in the background.
func Start(addr string, o Options) (*Server, error) {
	s, err := Open(o)
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("qdrantlite: listen %s: %w", addr, err)
	}
	s.setListener(lis)
	go func() { _ = s.serve(lis) }()
	return s, nil
}

// Serve accepts connections on lis until Close.
func (s *Server) Serve(lis net.Listener) error {
	s.setListener(lis)
	return s.serve(lis)
}

func (s *Server) setListener(lis net.Listener) {
	s.mu.Lock()
	s.lis = lis
	s.mu.Unlock()
}

func (s *Server) serve(lis net.Listener) error {
	s.opts.Log.Info().Str("addr", lis.Addr().String()).Str("dir", s.opts.Dir).Int("collections", len(s.names())).Msg("embedded Qdrant-compatible server serving gRPC")
	return s.grpc.Serve(lis)
}

// Addr is the address being served, or "" before Serve.
func (s *Server) Addr() string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.lis == nil {
		return ""
	}
	return s.lis.Addr().String()
}

// Port is the TCP port being served, or 0 before Serve.
func (s *Server) Port() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.lis == nil {
		return 0
	}
	if a, ok := s.lis.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Close stops serving (in-flight calls finish first) and closes the
// database. Everything acknowledged before Close is on disk.
func (s *Server) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.grpc.GracefulStop()
		err = s.db.close()
	})
	return err
}

func (s *Server) names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.collections))
	for n := range s.collections {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// collection returns the named collection or Qdrant's NotFound error.
func (s *Server) collection(name string) (*collection, error) {
	s.mu.RLock()
	c := s.collections[name]
	s.mu.RUnlock()
	if c == nil {
		return nil, errCollectionNotFound(name)
	}
	return c, nil
}

// authorized checks the api-key (or bearer token) in the call's metadata.
func (s *Server) authorized(ctx context.Context) error {
	if s.opts.APIKey == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	var got string
	if v := md.Get("api-key"); len(v) > 0 {
		got = v[0]
	} else if v := md.Get("authorization"); len(v) > 0 {
		got, _ = strings.CutPrefix(v[0], "Bearer ")
	}
	if got == "" {
		return status.Error(codes.Unauthenticated, "Must provide an API key or an Authorization bearer token")
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.opts.APIKey)) != 1 {
		return status.Error(codes.Unauthenticated, "Invalid API key or JWT")
	}
	return nil
}

func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	// Qdrant leaves the health check open, so probes need no key.
	if info.FullMethod != qdrant.Qdrant_HealthCheck_FullMethodName {
		if err := s.authorized(ctx); err != nil {
			return nil, err
		}
	}
	resp, err := h(ctx, req)
	if err != nil {
		s.opts.Log.Debug().Str("method", info.FullMethod).Str("code", status.Code(err).String()).Msg(status.Convert(err).Message())
	}
	return resp, err
}

func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := s.authorized(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}

// recoverUnary turns a panic in a handler into an Internal error, so one
// bad request cannot take the dispatcher that embeds the server down.
func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.opts.Log.Error().Str("method", info.FullMethod).Interface("panic", r).Msg("qdrantlite handler panicked")
			err = status.Errorf(codes.Internal, "Service internal error: %v", r)
		}
	}()
	return h(ctx, req)
}

type qdrantService struct {
	qdrant.UnimplementedQdrantServer
}

func (qdrantService) HealthCheck(context.Context, *qdrant.HealthCheckRequest) (*qdrant.HealthCheckReply, error) {
	commit := "qdrantlite"
	return &qdrant.HealthCheckReply{Title: "qdrant - vector search engine", Version: Version, Commit: &commit}, nil
}
