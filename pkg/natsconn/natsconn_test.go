package natsconn_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/jetrun/jetrun/internal/testpki"
	"github.com/jetrun/jetrun/pkg/natsconn"
)

// Secrets used by the tests; each must never show up in an error, a log
// line, String() or usage text.
const (
	password      = "alice-Pa55word-s3cret"
	wrongPassword = "wrong-Pa55word-s3cret"
	token         = "t0ken-s3cret-value"
	wrongToken    = "wr0ng-t0ken-s3cret"
)

type pki = testpki.PKI

func newPKI(t *testing.T) pki { return testpki.New(t) }

// startServer runs a nats-server on 127.0.0.1 (port -1 picks one) that
// requires TLS with a client certificate; configure adds authentication.
func startServer(t *testing.T, p pki, port int, configure func(*server.Options)) *server.Server {
	t.Helper()
	tlsConfig, err := server.GenTLSConfig(&server.TLSConfigOpts{
		CertFile: p.ServerCert,
		KeyFile:  p.ServerKey,
		CaFile:   p.CA,
		Verify:   true,
		Timeout:  5,
	})
	if err != nil {
		t.Fatalf("server TLS config: %v", err)
	}
	opts := &server.Options{
		Host:       "127.0.0.1",
		Port:       port,
		NoLog:      true,
		NoSigs:     true,
		TLS:        true,
		TLSVerify:  true,
		TLSConfig:  tlsConfig,
		TLSTimeout: 5,
	}
	configure(opts)
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// tlsOptions is a client with the right certificates for s and no auth.
func tlsOptions(p pki, s *server.Server) natsconn.Options {
	return natsconn.Options{
		URLs:           []string{s.ClientURL()},
		TLSCA:          p.CA,
		TLSCert:        p.ClientCert,
		TLSKey:         p.ClientKey,
		Name:           "natsconn-test",
		ReconnectWait:  50 * time.Millisecond,
		ConnectTimeout: 5 * time.Second,
	}
}

// logBuffer collects log output; writes may come from nats.go goroutines,
// also after the test ends.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// connect dials with o and closes the connection when the test ends.
func connect(t *testing.T, o natsconn.Options) (*nats.Conn, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	nc, err := o.Connect(zerolog.New(logs))
	if err != nil {
		t.Fatalf("Connect(%v): %v", o, err)
	}
	t.Cleanup(nc.Close)
	return nc, logs
}

// roundTrip answers requests on a fresh subject and sends one.
func roundTrip(t *testing.T, nc *nats.Conn) {
	t.Helper()
	subject := nats.NewInbox()
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		_ = m.Respond(append([]byte("echo "), m.Data...))
	})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	reply, err := nc.Request(subject, []byte("ping"), 5*time.Second)
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	if got := string(reply.Data); got != "echo ping" {
		t.Fatalf("reply = %q, want %q", got, "echo ping")
	}
}

// workerOptions turns WorkerEnv output into what a worker's FromEnv sees,
// after checking the split between plain and secret variables. inherited
// adds variables the worker's environment has besides.
func workerOptions(t *testing.T, o natsconn.Options, inherited map[string]string) natsconn.Options {
	t.Helper()
	env, secrets, err := o.WorkerEnv()
	if err != nil {
		t.Fatalf("WorkerEnv: %v", err)
	}
	for k, v := range env {
		if strings.Contains(v, "PRIVATE KEY") {
			t.Errorf("plain env %s holds a private key", k)
		}
		for _, s := range secrets {
			if strings.Contains(v, strings.TrimSpace(s)) {
				t.Errorf("plain env %s holds a secret value", k)
			}
		}
	}
	for k := range env {
		if _, ok := secrets[k]; ok {
			t.Errorf("%s is both plain and secret", k)
		}
	}
	all := map[string]string{}
	for k, v := range inherited {
		all[k] = v
	}
	for k, v := range env {
		all[k] = v
	}
	for k, v := range secrets {
		all[k] = v
	}
	w := natsconn.FromEnv(func(k string) string { return all[k] })
	w.Name = "worker"
	return w
}

func assertNoSecret(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s contains secret %q: %s", what, s, text)
		}
	}
}

func TestConnectUserPassword(t *testing.T) {
	p := newPKI(t)
	s := startServer(t, p, -1, func(o *server.Options) {
		o.Users = []*server.User{{Username: "alice", Password: password}}
	})
	good := tlsOptions(p, s)
	good.User, good.Password = "alice", password

	t.Run("round trip", func(t *testing.T) {
		nc, _ := connect(t, good)
		roundTrip(t, nc)
	})

	t.Run("credentials in URL", func(t *testing.T) {
		o := tlsOptions(p, s)
		o.URLs = []string{strings.Replace(s.ClientURL(), "://", "://alice:"+password+"@", 1)}
		nc, _ := connect(t, o)
		roundTrip(t, nc)
		assertNoSecret(t, "String()", o.String(), password)
	})

	t.Run("wrong password", func(t *testing.T) {
		o := good
		o.Password = wrongPassword
		_, err := o.Connect(zerolog.Nop())
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("err = %v, want nats.ErrAuthorization", err)
		}
		assertNoSecret(t, "error", err.Error(), wrongPassword, password)
	})

	t.Run("wrong password in URL", func(t *testing.T) {
		o := tlsOptions(p, s)
		o.URLs = []string{strings.Replace(s.ClientURL(), "://", "://alice:"+wrongPassword+"@", 1)}
		_, err := o.Connect(zerolog.Nop())
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("err = %v, want nats.ErrAuthorization", err)
		}
		assertNoSecret(t, "error", err.Error(), wrongPassword)
	})

	t.Run("missing client certificate", func(t *testing.T) {
		o := good
		o.TLSCert, o.TLSKey = "", ""
		if _, err := o.Connect(zerolog.Nop()); err == nil {
			t.Fatal("connected without a client certificate")
		} else {
			assertNoSecret(t, "error", err.Error(), password)
		}
	})

	t.Run("worker from WorkerEnv", func(t *testing.T) {
		// A local-process worker may inherit its dispatcher's paths;
		// the inline values must win over them.
		inherited := map[string]string{
			natsconn.EnvTLSCA:   "/nonexistent/ca.pem",
			natsconn.EnvTLSCert: "/nonexistent/cert.pem",
			natsconn.EnvTLSKey:  "/nonexistent/key.pem",
		}
		w := workerOptions(t, good, inherited)
		if w.Password != password || w.TLSKeyPEM == "" || w.TLSCAPEM == "" || w.TLSCertPEM == "" {
			t.Fatalf("worker options incomplete: %v", w)
		}
		nc, _ := connect(t, w)
		roundTrip(t, nc)
	})
}

func TestConnectToken(t *testing.T) {
	p := newPKI(t)
	s := startServer(t, p, -1, func(o *server.Options) { o.Authorization = token })
	good := tlsOptions(p, s)
	good.Token = token

	t.Run("round trip", func(t *testing.T) {
		nc, _ := connect(t, good)
		roundTrip(t, nc)
	})

	t.Run("token in URL", func(t *testing.T) {
		o := tlsOptions(p, s)
		o.URLs = []string{strings.Replace(s.ClientURL(), "://", "://"+token+"@", 1)}
		nc, _ := connect(t, o)
		roundTrip(t, nc)
		assertNoSecret(t, "String()", o.String(), token)
	})

	t.Run("wrong token", func(t *testing.T) {
		o := good
		o.Token = wrongToken
		_, err := o.Connect(zerolog.Nop())
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("err = %v, want nats.ErrAuthorization", err)
		}
		assertNoSecret(t, "error", err.Error(), wrongToken, token)
	})

	t.Run("worker from WorkerEnv", func(t *testing.T) {
		_, secrets, err := good.WorkerEnv()
		if err != nil {
			t.Fatal(err)
		}
		if secrets[natsconn.EnvToken] != token {
			t.Fatalf("secrets lack %s", natsconn.EnvToken)
		}
		nc, _ := connect(t, workerOptions(t, good, nil))
		roundTrip(t, nc)
	})
}

func TestConnectNKey(t *testing.T) {
	p := newPKI(t)
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := user.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	seed, err := user.Seed()
	if err != nil {
		t.Fatal(err)
	}
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, append(seed, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, p, -1, func(o *server.Options) {
		o.Nkeys = []*server.NkeyUser{{Nkey: pub}}
	})
	good := tlsOptions(p, s)
	good.NKeySeedFile = seedFile

	t.Run("seed file", func(t *testing.T) {
		nc, _ := connect(t, good)
		roundTrip(t, nc)
	})

	t.Run("unknown nkey", func(t *testing.T) {
		other, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		otherSeed, err := other.Seed()
		if err != nil {
			t.Fatal(err)
		}
		o := tlsOptions(p, s)
		o.NKeySeed = string(otherSeed)
		_, err = o.Connect(zerolog.Nop())
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("err = %v, want nats.ErrAuthorization", err)
		}
		assertNoSecret(t, "error", err.Error(), string(otherSeed), string(seed))
	})

	t.Run("inline seed from WorkerEnv", func(t *testing.T) {
		env, secrets, err := good.WorkerEnv()
		if err != nil {
			t.Fatal(err)
		}
		if secrets[natsconn.EnvNKeySeed] != string(seed) {
			t.Fatalf("secrets[%s] is not the seed", natsconn.EnvNKeySeed)
		}
		if _, ok := env[natsconn.EnvNKey]; ok {
			t.Fatalf("env names the seed file")
		}
		w := workerOptions(t, good, map[string]string{natsconn.EnvNKey: "/nonexistent/user.nk"})
		if w.NKeySeedFile != "" {
			t.Fatalf("worker kept the inherited seed path %q", w.NKeySeedFile)
		}
		nc, _ := connect(t, w)
		roundTrip(t, nc)
	})
}

func TestConnectCreds(t *testing.T) {
	p := newPKI(t)
	operator, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	operatorPub, err := operator.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	account, err := nkeys.CreateAccount()
	if err != nil {
		t.Fatal(err)
	}
	accountPub, err := account.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	accountJWT, err := jwt.NewAccountClaims(accountPub).Encode(operator)
	if err != nil {
		t.Fatal(err)
	}
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	userPub, err := user.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	userSeed, err := user.Seed()
	if err != nil {
		t.Fatal(err)
	}
	userJWT, err := jwt.NewUserClaims(userPub).Encode(account)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(userJWT, userSeed)
	if err != nil {
		t.Fatal(err)
	}
	credsFile := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(credsFile, creds, 0o600); err != nil {
		t.Fatal(err)
	}

	resolver := &server.MemAccResolver{}
	if err := resolver.Store(accountPub, accountJWT); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, p, -1, func(o *server.Options) {
		o.TrustedKeys = []string{operatorPub}
		o.AccountResolver = resolver
	})
	good := tlsOptions(p, s)
	good.CredsFile = credsFile

	t.Run("creds file", func(t *testing.T) {
		nc, _ := connect(t, good)
		roundTrip(t, nc)
	})

	t.Run("inline creds from WorkerEnv", func(t *testing.T) {
		w := workerOptions(t, good, map[string]string{natsconn.EnvCreds: "/nonexistent/user.creds"})
		if w.CredsData != string(creds) {
			t.Fatalf("worker CredsData is not the creds file content")
		}
		nc, _ := connect(t, w)
		roundTrip(t, nc)
	})

	t.Run("seed without JWT", func(t *testing.T) {
		o := tlsOptions(p, s)
		o.CredsData = string(userSeed)
		_, err := o.Connect(zerolog.Nop())
		if !errors.Is(err, natsconn.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
		assertNoSecret(t, "error", err.Error(), string(userSeed))
	})
}

func TestReconnect(t *testing.T) {
	p := newPKI(t)
	auth := func(o *server.Options) {
		o.Users = []*server.User{{Username: "alice", Password: password}}
	}
	s := startServer(t, p, -1, auth)
	port := s.Addr().(*net.TCPAddr).Port
	o := tlsOptions(p, s)
	o.User, o.Password = "alice", password
	nc, logs := connect(t, o)

	var mu sync.Mutex
	var got []string
	if _, err := nc.Subscribe("jobs.ping", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, string(m.Data))
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	s.Shutdown()
	waitFor(t, "disconnect", func() bool { return !nc.IsConnected() })
	startServer(t, p, port, auth)
	waitFor(t, "reconnect", func() bool { return nc.IsConnected() && nc.Stats().Reconnects >= 1 })

	// The subscription is restored on the new server.
	roundTrip(t, nc)
	if err := nc.Publish("jobs.ping", []byte("after restart")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "message after restart", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1
	})

	out := logs.String()
	for _, want := range []string{"disconnected from NATS", "reconnected to NATS"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	assertNoSecret(t, "log", out, password)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnectErrorRedactsURL(t *testing.T) {
	// Port 1 refuses connections: the error must name the server without
	// its password.
	o := natsconn.Options{
		URLs:           []string{"nats://alice:" + password + "@127.0.0.1:1"},
		ConnectTimeout: time.Second,
	}
	_, err := o.Connect(zerolog.Nop())
	if err == nil {
		t.Fatal("connected to port 1")
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("error does not name the server: %v", err)
	}
	assertNoSecret(t, "error", err.Error(), password)
}

func TestRegisterFlags(t *testing.T) {
	env := map[string]string{
		natsconn.EnvURL:       "nats://h1:4222, nats://bob:url-pw-s3cret@h2:4222",
		natsconn.EnvUser:      "bob",
		natsconn.EnvPassword:  password,
		natsconn.EnvToken:     token,
		natsconn.EnvCreds:     "/etc/nats/bob.creds",
		natsconn.EnvTLSKeyPEM: "-----BEGIN PRIVATE KEY-----\nkey-s3cret-material\n-----END PRIVATE KEY-----\n",
	}
	getenv := func(k string) string { return env[k] }

	var o natsconn.Options
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	o.RegisterFlags(fs, getenv)

	var usage bytes.Buffer
	fs.SetOutput(&usage)
	fs.PrintDefaults()
	text := usage.String()
	assertNoSecret(t, "usage", text, password, token, "url-pw-s3cret", "key-s3cret-material")
	for _, want := range []string{
		"(env NATS_URL)", "(env NATS_CREDS)", "(env NATS_NKEY)", "(env NATS_USER)",
		"(env NATS_PASSWORD)", "(env NATS_TOKEN)",
		"(env NATS_TLS_CA)", "(env NATS_TLS_CERT)", "(env NATS_TLS_KEY)",
		"-nats-url URLs", "-nats-password password",
		"(default nats://h1:4222,nats://h2:4222)",
		`(default "/etc/nats/bob.creds")`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("usage lacks %q:\n%s", want, text)
		}
	}

	// Unparsed, the options are the environment's.
	if o.User != "bob" || o.Password != password || o.Token != token || o.CredsFile != "/etc/nats/bob.creds" ||
		o.TLSKeyPEM != env[natsconn.EnvTLSKeyPEM] || o.ReconnectWait != natsconn.DefaultReconnectWait ||
		o.MaxReconnects != natsconn.DefaultMaxReconnects || o.ConnectTimeout != natsconn.DefaultConnectTimeout {
		t.Errorf("env defaults not applied: %#v", o)
	}

	err := fs.Parse([]string{
		"--nats-url", "nats://h3:4222,tls://h4:4443",
		"--nats-password", "flag-password",
		"--nats-token", "",
		"--nats-tls-ca", "/etc/nats/ca.pem",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(o.URLs, ","), "nats://h3:4222,tls://h4:4443"; got != want {
		t.Errorf("URLs = %q, want %q", got, want)
	}
	if o.Password != "flag-password" || o.Token != "" || o.User != "bob" || o.TLSCA != "/etc/nats/ca.pem" {
		t.Errorf("flags not applied: user=%q password set=%v token set=%v ca=%q",
			o.User, o.Password == "flag-password", o.Token != "", o.TLSCA)
	}
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want natsconn.Options
	}{
		{
			name: "empty",
			want: natsconn.Options{
				URLs:           []string{natsconn.DefaultURL},
				ReconnectWait:  natsconn.DefaultReconnectWait,
				MaxReconnects:  natsconn.DefaultMaxReconnects,
				ConnectTimeout: natsconn.DefaultConnectTimeout,
			},
		},
		{
			name: "paths",
			env: map[string]string{
				"NATS_URL":      " nats://a:4222 ,, nats://b:4222",
				"NATS_CREDS":    "/c",
				"NATS_NKEY":     "/n",
				"NATS_USER":     "u",
				"NATS_PASSWORD": "p",
				"NATS_TOKEN":    "t",
				"NATS_TLS_CA":   "/ca",
				"NATS_TLS_CERT": "/cert",
				"NATS_TLS_KEY":  "/key",
			},
			want: natsconn.Options{
				URLs:      []string{"nats://a:4222", "nats://b:4222"},
				CredsFile: "/c", NKeySeedFile: "/n", User: "u", Password: "p", Token: "t",
				TLSCA: "/ca", TLSCert: "/cert", TLSKey: "/key",
				ReconnectWait:  natsconn.DefaultReconnectWait,
				MaxReconnects:  natsconn.DefaultMaxReconnects,
				ConnectTimeout: natsconn.DefaultConnectTimeout,
			},
		},
		{
			name: "inline wins over paths",
			env: map[string]string{
				"NATS_CREDS": "/c", "NATS_CREDS_DATA": "creds",
				"NATS_NKEY": "/n", "NATS_NKEY_SEED": "seed",
				"NATS_TLS_CA": "/ca", "NATS_TLS_CA_PEM": "ca",
				"NATS_TLS_CERT": "/cert", "NATS_TLS_CERT_PEM": "cert",
				"NATS_TLS_KEY": "/key", "NATS_TLS_KEY_PEM": "key",
			},
			want: natsconn.Options{
				URLs:      []string{natsconn.DefaultURL},
				CredsData: "creds", NKeySeed: "seed", TLSCAPEM: "ca", TLSCertPEM: "cert", TLSKeyPEM: "key",
				ReconnectWait:  natsconn.DefaultReconnectWait,
				MaxReconnects:  natsconn.DefaultMaxReconnects,
				ConnectTimeout: natsconn.DefaultConnectTimeout,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := natsconn.FromEnv(func(k string) string { return tt.env[k] })
			// Options hides its fields from %v; compare them explicitly.
			if g, w := fmt.Sprintf("%q", fields(got)), fmt.Sprintf("%q", fields(tt.want)); g != w {
				t.Errorf("FromEnv =\n%s\nwant\n%s", g, w)
			}
		})
	}
}

// fields lists every field of o, for comparison in tests.
func fields(o natsconn.Options) []string {
	return []string{
		strings.Join(o.URLs, ","), o.CredsFile, o.NKeySeedFile, o.User, o.Password, o.Token,
		o.TLSCA, o.TLSCert, o.TLSKey, o.Name, o.ReconnectWait.String(), fmt.Sprint(o.MaxReconnects),
		o.ConnectTimeout.String(), o.CredsData, o.NKeySeed, o.TLSCAPEM, o.TLSCertPEM, o.TLSKeyPEM,
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    natsconn.Options
		wantErr string // substring; empty means valid
	}{
		{name: "zero", opts: natsconn.Options{}},
		{name: "user and password", opts: natsconn.Options{User: "u", Password: password}},
		{name: "user only", opts: natsconn.Options{User: "u"}},
		{name: "token", opts: natsconn.Options{Token: token}},
		{name: "credentials in URLs", opts: natsconn.Options{URLs: []string{"nats://u:" + password + "@a", "b:4222"}}},
		{name: "scheme-less URL", opts: natsconn.Options{URLs: []string{"127.0.0.1:4222"}}},
		{name: "mutual TLS from PEM", opts: natsconn.Options{TLSCAPEM: "x", TLSCertPEM: "x", TLSKeyPEM: "x"}},
		{
			name:    "token and user",
			opts:    natsconn.Options{User: "u", Password: password, Token: token},
			wantErr: "conflicting authentication",
		},
		{
			name:    "creds and nkey",
			opts:    natsconn.Options{CredsFile: "/c", NKeySeed: "SU..."},
			wantErr: "conflicting authentication",
		},
		{
			name:    "URL credentials and token",
			opts:    natsconn.Options{URLs: []string{"nats://u:" + password + "@a"}, Token: token},
			wantErr: "conflicting authentication",
		},
		{
			name:    "URLs with different credentials",
			opts:    natsconn.Options{URLs: []string{"nats://u:" + password + "@a", "nats://" + token + "@b"}},
			wantErr: "different credentials",
		},
		{
			name:    "password without user",
			opts:    natsconn.Options{Password: password},
			wantErr: "without a user",
		},
		{
			name:    "creds file and data",
			opts:    natsconn.Options{CredsFile: "/c", CredsData: "data"},
			wantErr: "both --nats-creds and NATS_CREDS_DATA",
		},
		{
			name:    "CA file and PEM",
			opts:    natsconn.Options{TLSCA: "/ca", TLSCAPEM: "pem"},
			wantErr: "both --nats-tls-ca",
		},
		{
			name:    "certificate without key",
			opts:    natsconn.Options{TLSCert: "/cert"},
			wantErr: "go together",
		},
		{
			name:    "unparsable URL with password",
			opts:    natsconn.Options{URLs: []string{"nats://u:" + password + "%zz@a:4222"}},
			wantErr: "cannot be parsed",
		},
		{
			name:    "unknown scheme",
			opts:    natsconn.Options{URLs: []string{"http://a:4222"}},
			wantErr: `scheme "http"`,
		},
		{
			name:    "negative reconnect wait",
			opts:    natsconn.Options{ReconnectWait: -time.Second},
			wantErr: "negative reconnect wait",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, natsconn.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q, want it to mention %q", err, tt.wantErr)
			}
			assertNoSecret(t, "error", err.Error(), password, token)
		})
	}
}

func TestString(t *testing.T) {
	o := natsconn.Options{
		URLs:       []string{"nats://alice:" + password + "@h1:4222", "tls://h2:4443"},
		TLSCAPEM:   "ca",
		TLSCertPEM: "cert",
		TLSKeyPEM:  "key-s3cret-material",
		Name:       "dispatcher",
	}
	want := `urls=nats://h1:4222,tls://h2:4443 auth=user-password user=alice tls=mutual name="dispatcher"`
	if got := o.String(); got != want {
		t.Errorf("String() = %s\nwant        %s", got, want)
	}

	all := natsconn.Options{
		URLs:      []string{"nats://" + token + "@h1"},
		Password:  password,
		Token:     token,
		NKeySeed:  "SUAseed-s3cret",
		CredsData: "creds-s3cret",
		TLSKeyPEM: "key-s3cret-material",
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		assertNoSecret(t, format, fmt.Sprintf(format, all),
			password, token, "seed-s3cret", "creds-s3cret", "key-s3cret-material")
	}
	if got := all.String(); !strings.Contains(got, "urls=nats://h1 ") {
		t.Errorf("String() = %s, want the URL token removed", got)
	}
}

func TestWorkerEnv(t *testing.T) {
	t.Run("URL credentials move to variables", func(t *testing.T) {
		o := natsconn.Options{URLs: []string{"nats://alice:" + password + "@h1:4222", "h2:4222"}}
		env, secrets, err := o.WorkerEnv()
		if err != nil {
			t.Fatal(err)
		}
		if got, want := env[natsconn.EnvURL], "nats://h1:4222,nats://h2:4222"; got != want {
			t.Errorf("NATS_URL = %q, want %q", got, want)
		}
		if env[natsconn.EnvUser] != "alice" || secrets[natsconn.EnvPassword] != password {
			t.Errorf("user or password not handed on: env %v", env)
		}
	})

	t.Run("default URL", func(t *testing.T) {
		env, secrets, err := natsconn.Options{}.WorkerEnv()
		if err != nil {
			t.Fatal(err)
		}
		if len(env) != 1 || env[natsconn.EnvURL] != natsconn.DefaultURL || len(secrets) != 0 {
			t.Errorf("env = %v, %d secrets; want only NATS_URL", env, len(secrets))
		}
	})

	t.Run("unreadable file", func(t *testing.T) {
		o := natsconn.Options{TLSCA: filepath.Join(t.TempDir(), "missing.pem")}
		_, _, err := o.WorkerEnv()
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("malformed seed", func(t *testing.T) {
		o := natsconn.Options{NKeySeed: "not-a-seed-s3cret"}
		_, _, err := o.WorkerEnv()
		if !errors.Is(err, natsconn.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
		assertNoSecret(t, "error", err.Error(), "not-a-seed-s3cret")
	})

	t.Run("invalid options", func(t *testing.T) {
		_, _, err := natsconn.Options{Token: token, User: "u"}.WorkerEnv()
		if !errors.Is(err, natsconn.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}
