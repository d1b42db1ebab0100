// Package natsserver runs an embedded nats-server with JetStream, for
// `dispatcher --dev` and for tests. It is the only package besides the
// commands that imports the server module.
//
// # Usage
//
//	s, err := natsserver.Start(natsserver.Options{Host: "127.0.0.1", Port: 4222, StoreDir: dir})
//	defer s.Shutdown()
//	nc, _ := nats.Connect(s.ClientURL())
//
// Port -1 picks a free port (tests). The file store under StoreDir survives
// restarts, so a dev setup keeps its queue, events and job records.
package natsserver

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure the embedded server.
type Options struct {
	// Host to listen on; default 127.0.0.1.
	Host string
	// Port to listen on; -1 picks a free port; 0 means 4222.
	Port int
	// StoreDir holds JetStream's file store. Required.
	StoreDir string
	// ServerName names the server (default "jetrun-dev").
	ServerName string
	// MaxMemory and MaxStore bound JetStream (0: server defaults).
	MaxMemory, MaxStore int64
	// Configure, if set, adjusts the server options before start (tests
	// add TLS or authorization here).
	Configure func(*server.Options)
}

// Server is a running embedded server.
type Server struct {
	*server.Server
}

// Start starts the server and waits until it accepts connections.
func Start(o Options) (*Server, error) {
	if o.StoreDir == "" {
		return nil, fmt.Errorf("nats server: no store directory")
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Port == 0 {
		o.Port = 4222
	}
	if o.ServerName == "" {
		o.ServerName = "jetrun-dev"
	}
	opts := &server.Options{
		ServerName:         o.ServerName,
		Host:               o.Host,
		Port:               o.Port,
		JetStream:          true,
		StoreDir:           o.StoreDir,
		JetStreamMaxMemory: o.MaxMemory,
		JetStreamMaxStore:  o.MaxStore,
		NoSigs:             true,
		NoLog:              true,
		MaxPayload:         8 << 20,
	}
	if o.Configure != nil {
		o.Configure(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(15 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats server: not ready after 15s (is %s:%d free?)", o.Host, o.Port)
	}
	return &Server{s}, nil
}

// Shutdown stops the server and waits for it.
func (s *Server) Shutdown() {
	s.Server.Shutdown()
	s.Server.WaitForShutdown()
}
