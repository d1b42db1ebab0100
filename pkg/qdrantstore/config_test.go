package qdrantstore

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const secretKey = "s3cr3t-api-key-do-not-print"

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Config
	}{
		{"defaults", nil, Config{Host: "localhost", Port: 6334, Timeout: time.Minute}},
		{"host port key", map[string]string{EnvHost: "qdrant", EnvPort: "7000", EnvAPIKey: "k"},
			Config{Host: "qdrant", Port: 7000, APIKey: "k", Timeout: time.Minute}},
		{"tls 1", map[string]string{EnvTLS: "1"}, Config{Host: "localhost", Port: 6334, TLS: true, Timeout: time.Minute}},
		{"tls true", map[string]string{EnvTLS: "true"}, Config{Host: "localhost", Port: 6334, TLS: true, Timeout: time.Minute}},
		{"tls false", map[string]string{EnvTLS: "false"}, Config{Host: "localhost", Port: 6334, Timeout: time.Minute}},
		{"https url", map[string]string{EnvURL: "https://q.example.com:6443"},
			Config{Host: "q.example.com", Port: 6443, TLS: true, Timeout: time.Minute}},
		{"http url without port", map[string]string{EnvURL: "http://q.example.com/"},
			Config{Host: "q.example.com", Port: 6334, Timeout: time.Minute}},
		{"ipv6 url", map[string]string{EnvURL: "http://[::1]:7000"}, Config{Host: "::1", Port: 7000, Timeout: time.Minute}},
		{"url agreeing with host", map[string]string{EnvURL: "https://q:6334", EnvHost: "q", EnvTLS: "1"},
			Config{Host: "q", Port: 6334, TLS: true, Timeout: time.Minute}},
		{"ca file", map[string]string{EnvCAFile: "/ca.pem", EnvTLSServerName: "q.internal"},
			Config{Host: "localhost", Port: 6334, CAFile: "/ca.pem", ServerName: "q.internal", Timeout: time.Minute}},
		{"inline ca wins over file", map[string]string{EnvCAFile: "/ca.pem", EnvCAPEM: "PEM"},
			Config{Host: "localhost", Port: 6334, CAPEM: "PEM", Timeout: time.Minute}},
		{"timeout", map[string]string{EnvTimeout: "5s"}, Config{Host: "localhost", Port: 6334, Timeout: 5 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromEnv(envOf(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestFromEnvInvalid(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // in the message
	}{
		{"port not a number", map[string]string{EnvPort: "abc"}, `QDRANT_PORT "abc": not a number`},
		{"port zero", map[string]string{EnvPort: "0"}, "out of range"},
		{"port too big", map[string]string{EnvPort: "65536"}, "out of range"},
		{"bad bool", map[string]string{EnvTLS: "yes please"}, `QDRANT_TLS "yes please": not a boolean`},
		{"url scheme", map[string]string{EnvURL: "grpc://q:6334"}, "scheme must be http or https"},
		{"url path", map[string]string{EnvURL: "http://q:6334/api"}, "only scheme, host and port"},
		{"url no host", map[string]string{EnvURL: "http://:6334"}, "no host"},
		{"url bad port", map[string]string{EnvURL: "http://q:70000"}, "out of range"},
		{"url with credentials", map[string]string{EnvURL: "https://user:" + secretKey + "@q:6334"}, "carries credentials"},
		{"url and host disagree", map[string]string{EnvURL: "http://a:6334", EnvHost: "b"}, "disagree"},
		{"url and port disagree", map[string]string{EnvURL: "http://a:6334", EnvPort: "7000"}, "disagree"},
		{"url and tls disagree", map[string]string{EnvURL: "http://a:6334", EnvTLS: "1"}, "disagree"},
		{"host is a url", map[string]string{EnvHost: "http://q"}, "not a host name"},
		{"bad timeout", map[string]string{EnvTimeout: "soon"}, "not a positive duration"},
		{"negative timeout", map[string]string{EnvTimeout: "-1s"}, "not a positive duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.env[EnvAPIKey] = secretKey
			_, err := FromEnv(envOf(tt.env))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secretKey) {
				t.Errorf("err %q contains the secret", err)
			}
		})
	}
}

func TestFromEnvReportsEveryProblem(t *testing.T) {
	_, err := FromEnv(envOf(map[string]string{EnvPort: "x", EnvTLS: "maybe"}))
	if err == nil || !strings.Contains(err.Error(), EnvPort) || !strings.Contains(err.Error(), EnvTLS) {
		t.Fatalf("err = %v, want both QDRANT_PORT and QDRANT_TLS named", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"port", Config{Port: 70000}, false},
		{"negative port", Config{Port: -1}, false},
		{"negative timeout", Config{Timeout: -time.Second}, false},
		{"both CAs", Config{CAFile: "a", CAPEM: "b"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%t", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	c, err := FromEnv(envOf(map[string]string{EnvHost: "from-env", EnvAPIKey: secretKey, EnvTimeout: "10s"}))
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	var usage bytes.Buffer
	fs.SetOutput(&usage)
	c.RegisterFlags(fs)
	fs.PrintDefaults()

	for _, want := range []string{
		"-qdrant-host host", "(env QDRANT_HOST)", `(default "from-env")`,
		"-qdrant-port port", "(env QDRANT_PORT)", "(default 6334)",
		"-qdrant-api-key key", "(env QDRANT_API_KEY)",
		"-qdrant-url URL", "(env QDRANT_URL)",
		"(env QDRANT_TLS)", "(env QDRANT_CA_FILE)", "(env QDRANT_TLS_SERVER_NAME)",
		"(env QDRANT_TIMEOUT)", "(default 10s)",
	} {
		if !strings.Contains(usage.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, usage.String())
		}
	}
	if strings.Contains(usage.String(), secretKey) {
		t.Errorf("usage shows the API key:\n%s", usage.String())
	}

	// Unset flags keep the environment's values; set ones replace them.
	if err := fs.Parse([]string{"--qdrant-port", "7000", "--qdrant-tls"}); err != nil {
		t.Fatal(err)
	}
	want := Config{Host: "from-env", Port: 7000, APIKey: secretKey, TLS: true, Timeout: 10 * time.Second}
	if c != want {
		t.Errorf("got %#v, want %#v", c, want)
	}
}

func TestRegisterFlagsURL(t *testing.T) {
	c, _ := FromEnv(envOf(nil))
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--qdrant-url", "https://q:6443", "--qdrant-api-key", "k"}); err != nil {
		t.Fatal(err)
	}
	if c.Host != "q" || c.Port != 6443 || !c.TLS || c.APIKey != "k" {
		t.Errorf("got %#v", c)
	}
	if err := fs.Parse([]string{"--qdrant-url", "ftp://q"}); err == nil {
		t.Error("--qdrant-url ftp://q accepted")
	}
}

func TestConfigNeverPrintsTheKey(t *testing.T) {
	c := Config{Host: "q", Port: 6334, APIKey: secretKey, TLS: true, CAPEM: "-----BEGIN CERTIFICATE-----", Timeout: time.Minute}
	outer := struct{ Q Config }{c}
	for _, s := range []string{
		c.String(), c.GoString(),
		fmt.Sprint(c), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c),
		fmt.Sprintf("%s", c), fmt.Sprintf("%q", c), fmt.Sprintf("%v", &c), fmt.Sprintf("%#v", &c),
		fmt.Sprintf("%v", outer), fmt.Sprintf("%+v", outer), fmt.Sprintf("%#v", outer),
	} {
		if strings.Contains(s, secretKey) {
			t.Errorf("%q shows the API key", s)
		}
		if strings.Contains(s, "BEGIN CERTIFICATE") {
			t.Errorf("%q shows the inline CA", s)
		}
	}
	if got, want := c.String(), "https://q:6334 (api key set, ca inline)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := fmt.Sprintf("%#v", c); !strings.HasPrefix(got, `qdrantstore.Config{Host:"q", Port:6334, APIKey:"REDACTED", TLS:true`) {
		t.Errorf("%%#v = %s", got)
	}
	if got, want := (Config{}).String(), "http://localhost:6334"; got != want {
		t.Errorf("zero String() = %q, want %q", got, want)
	}
}

func TestWorkerEnv(t *testing.T) {
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, testCA(t), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Host: "q.internal", Port: 7000, APIKey: secretKey, CAFile: caFile, ServerName: "q", Timeout: 5 * time.Second}
	env, secrets, err := c.WorkerEnv()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range env {
		if strings.Contains(v, secretKey) {
			t.Errorf("env %s holds the API key", k)
		}
	}
	if secrets[EnvAPIKey] != secretKey || len(secrets) != 1 {
		t.Errorf("secrets = %v", secrets)
	}
	if !strings.Contains(env[EnvCAPEM], "BEGIN CERTIFICATE") {
		t.Errorf("env lacks the inline CA: %v", env)
	}

	// What a worker reads back is the same connection, CA inline.
	got, err := FromEnv(envOf(merge(env, secrets)))
	if err != nil {
		t.Fatal(err)
	}
	want := c
	want.CAFile, want.CAPEM, want.TLS = "", env[EnvCAPEM], true
	if got != want {
		t.Errorf("round trip: got %#v, want %#v", got, want)
	}
	if _, err := got.tlsConfig(); err != nil {
		t.Errorf("worker's TLS config: %v", err)
	}

	// Plain defaults give the plain variables only.
	env, secrets, err = Config{}.WorkerEnv()
	if err != nil {
		t.Fatal(err)
	}
	if len(env) != 2 || env[EnvHost] != "localhost" || env[EnvPort] != "6334" || len(secrets) != 0 {
		t.Errorf("zero Config: env %v, secrets %v", env, secrets)
	}
}

func TestWorkerEnvBadCA(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := (Config{CAFile: bad}).WorkerEnv(); !errors.Is(err, ErrInvalid) {
		t.Errorf("malformed CA: err = %v, want ErrInvalid", err)
	}
	if _, _, err := (Config{CAFile: filepath.Join(t.TempDir(), "missing.pem")}).WorkerEnv(); err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("missing CA: err = %v, want a read error", err)
	}
}

func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// testCA returns a self-signed CA certificate, PEM-encoded.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
