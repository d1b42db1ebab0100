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
	"os"
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
	// Config, if set, is a nats-server configuration (accounts, users,
	// authorization; see natsauth.ServerConfig) that the options start
	// from; Host, Port, StoreDir and the rest above still apply.
	Config string
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
	opts := &server.Options{}
	if o.Config != "" {
		var err error
		if opts, err = fromConfig(o.Config, o.StoreDir); err != nil {
			return nil, err
		}
	}
	opts.ServerName, opts.Host, opts.Port = o.ServerName, o.Host, o.Port
	opts.JetStream, opts.StoreDir = true, o.StoreDir
	opts.JetStreamMaxMemory, opts.JetStreamMaxStore = o.MaxMemory, o.MaxStore
	opts.NoSigs, opts.NoLog, opts.MaxPayload = true, true, 8<<20
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

// fromConfig parses a configuration text with the server's own parser
// (through a private file: the text may hold passwords).
func fromConfig(text, dir string) (*server.Options, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	f, err := os.CreateTemp(dir, "nats-*.conf")
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(text)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	opts, err := server.ProcessConfigFile(f.Name())
	if err != nil {
		return nil, fmt.Errorf("nats server configuration: %w", err)
	}
	return opts, nil
}
