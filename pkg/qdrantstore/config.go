package qdrantstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every error that reports a bad option or a bad
// argument (a point without vectors, an empty delete filter), so callers
// can tell a mistake that no retry will fix from a failure of Qdrant.
var ErrInvalid = errors.New("qdrantstore: invalid")

// Environment variables read by [FromEnv] and written by [Config.WorkerEnv].
const (
	EnvHost          = "QDRANT_HOST"            // host name or address
	EnvPort          = "QDRANT_PORT"            // gRPC port
	EnvURL           = "QDRANT_URL"             // http(s)://host[:port]: host, port and TLS at once
	EnvAPIKey        = "QDRANT_API_KEY"         // API key (secret)
	EnvTLS           = "QDRANT_TLS"             // 1/true: use TLS
	EnvCAFile        = "QDRANT_CA_FILE"         // path to PEM CA certificates
	EnvCAPEM         = "QDRANT_CA_PEM"          // PEM CA certificates, inline
	EnvTLSServerName = "QDRANT_TLS_SERVER_NAME" // name checked in the server certificate
	EnvTimeout       = "QDRANT_TIMEOUT"         // bound of each request, a Go duration
)

// Defaults applied by [FromEnv] and, for zero fields, by [Open].
const (
	DefaultHost    = "localhost"
	DefaultPort    = 6334 // Qdrant's gRPC port; 6333 is its REST port
	DefaultTimeout = time.Minute
)

// restPort is Qdrant's REST port, a common mistake for the gRPC one.
const restPort = 6333

// Config says how to reach and authenticate to Qdrant over gRPC. The zero
// value reaches [DefaultHost]:[DefaultPort] without TLS or API key.
//
// Config holds a secret: format it with String (which %v, %+v and %#v
// use), never field by field.
type Config struct {
	Host   string // host name or address; empty means DefaultHost
	Port   int    // gRPC port; zero means DefaultPort
	APIKey string // sent as the api-key header of every call; secret

	// TLS encrypts the connection. CAFile, CAPEM and ServerName imply it.
	TLS bool
	// CAFile names PEM CA certificates that verify the server; empty
	// means the system's roots. CAPEM is the same material inline (what
	// workers receive); set at most one of the two.
	CAFile string
	CAPEM  string
	// ServerName is the name verified in the server's certificate when
	// it differs from Host (an address, or a name behind a proxy).
	ServerName string

	// Timeout bounds each request to Qdrant (one batch, one page, one
	// search), not a whole operation; the caller's context bounds that.
	// Zero means DefaultTimeout.
	Timeout time.Duration
}

// FromEnv returns a Config filled from the environment variables listed in
// the package documentation, looked up with getenv (os.Getenv in a main
// package, a map in tests). Errors wrap [ErrInvalid] and never quote the
// API key.
//
// QDRANT_URL (http://host:port or https://host:port) is an alternative to
// QDRANT_HOST, QDRANT_PORT and QDRANT_TLS; when both are set they must
// agree. When QDRANT_CA_PEM and QDRANT_CA_FILE are both set the inline
// one wins: that is what a worker gets from [Config.WorkerEnv], and a
// worker run as a local process may also inherit its dispatcher's
// QDRANT_CA_FILE.
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Host:       DefaultHost,
		Port:       DefaultPort,
		APIKey:     getenv(EnvAPIKey),
		CAFile:     getenv(EnvCAFile),
		CAPEM:      getenv(EnvCAPEM),
		ServerName: getenv(EnvTLSServerName),
		Timeout:    DefaultTimeout,
	}
	if c.CAPEM != "" {
		c.CAFile = ""
	}
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}

	host, port, tlsOn := getenv(EnvHost), getenv(EnvPort), getenv(EnvTLS)
	if host != "" {
		c.Host = host
	}
	if port != "" {
		p, err := parsePort(port)
		if err != nil {
			bad("%s %q: %v", EnvPort, port, err)
		}
		c.Port = p
	}
	if tlsOn != "" {
		b, err := strconv.ParseBool(tlsOn)
		if err != nil {
			bad("%s %q: not a boolean (use 1, true, 0 or false)", EnvTLS, tlsOn)
		}
		c.TLS = b
	}
	if raw := getenv(EnvURL); raw != "" {
		u, err := parseURL(raw)
		if err != nil {
			errs = append(errs, err)
		} else {
			if host != "" && host != u.Host {
				bad("%s %s and %s %q disagree; set one", EnvURL, u, EnvHost, host)
			}
			if port != "" && c.Port != u.Port {
				bad("%s %s and %s %q disagree; set one", EnvURL, u, EnvPort, port)
			}
			if tlsOn != "" && c.TLS != u.TLS {
				bad("%s %s and %s %q disagree; set one", EnvURL, u, EnvTLS, tlsOn)
			}
			c.Host, c.Port, c.TLS = u.Host, u.Port, u.TLS
		}
	}
	if t := getenv(EnvTimeout); t != "" {
		d, err := time.ParseDuration(t)
		if err != nil || d <= 0 {
			bad("%s %q: not a positive duration (like 30s or 2m)", EnvTimeout, t)
		}
		c.Timeout = d
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// endpoint is what a QDRANT_URL says.
type endpoint struct {
	Host string
	Port int
	TLS  bool
}

func (e endpoint) String() string {
	scheme := "http"
	if e.TLS {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}

// parseURL reads http(s)://host[:port]. A missing port means DefaultPort,
// whatever the scheme: jetrun speaks gRPC only. Credentials in the URL are
// refused (and not quoted): the API key has its own variable.
func parseURL(raw string) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, fmt.Errorf("%w: %s: not a URL", ErrInvalid, EnvURL)
	}
	if u.User != nil {
		return endpoint{}, fmt.Errorf("%w: %s carries credentials; give the API key with %s or --qdrant-api-key", ErrInvalid, EnvURL, EnvAPIKey)
	}
	e := endpoint{Host: u.Hostname(), Port: DefaultPort}
	switch u.Scheme {
	case "http":
	case "https":
		e.TLS = true
	default:
		return endpoint{}, fmt.Errorf("%w: %s %q: scheme must be http or https", ErrInvalid, EnvURL, raw)
	}
	if e.Host == "" {
		return endpoint{}, fmt.Errorf("%w: %s %q: no host", ErrInvalid, EnvURL, raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return endpoint{}, fmt.Errorf("%w: %s %q: only scheme, host and port are allowed", ErrInvalid, EnvURL, raw)
	}
	if p := u.Port(); p != "" {
		if e.Port, err = parsePort(p); err != nil {
			return endpoint{}, fmt.Errorf("%w: %s %q: %v", ErrInvalid, EnvURL, raw, err)
		}
	}
	return e, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil {
		return 0, errors.New("not a number")
	}
	if p < 1 || p > 65535 {
		return 0, errors.New("out of range 1-65535")
	}
	return p, nil
}

// Validate reports every invalid option, each wrapping [ErrInvalid]. It
// reads no files; [Open] and [Config.WorkerEnv] report an unreadable or
// malformed CA file.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("port %d out of range 1-65535", c.Port)
	}
	if strings.ContainsAny(c.Host, "/ ") || strings.Contains(c.Host, "://") {
		bad("host %q is not a host name or address (use --qdrant-url for a URL)", c.Host)
	}
	if c.Timeout < 0 {
		bad("timeout %s is negative", c.Timeout)
	}
	if c.CAFile != "" && c.CAPEM != "" {
		bad("both a CA file (--qdrant-ca-file) and %s are set; use one", EnvCAPEM)
	}
	return errors.Join(errs...)
}

// useTLS says whether the connection is encrypted: asked for, or implied
// by TLS material.
func (c Config) useTLS() bool {
	return c.TLS || c.CAFile != "" || c.CAPEM != "" || c.ServerName != ""
}

func (c Config) addr() string {
	host, port := c.Host, c.Port
	if host == "" {
		host = DefaultHost
	}
	if port == 0 {
		port = DefaultPort
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

// caPEM returns the CA certificates, read from CAFile when it is set.
func (c Config) caPEM() ([]byte, error) {
	if c.CAPEM != "" {
		return []byte(c.CAPEM), nil
	}
	if c.CAFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("read qdrant CA file: %w", err)
	}
	return b, nil
}

// tlsConfig builds the client's TLS configuration, or nil without TLS.
func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.useTLS() {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName}
	pem, err := c.caPEM()
	if err != nil {
		return nil, err
	}
	if pem != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			src := EnvCAPEM
			if c.CAPEM == "" {
				src = c.CAFile
			}
			return nil, fmt.Errorf("%w: no PEM certificate in qdrant CA %s", ErrInvalid, src)
		}
		t.RootCAs = pool
	}
	return t, nil
}

// WorkerEnv returns the environment that lets a worker reach the same
// Qdrant as c with [FromEnv], on any runtime. env holds plain settings:
// QDRANT_HOST, QDRANT_PORT, QDRANT_TLS, QDRANT_CA_PEM (the CA file's
// content, so nothing has to be mounted), QDRANT_TLS_SERVER_NAME and
// QDRANT_TIMEOUT. secrets holds QDRANT_API_KEY, which must go through the
// runtime's secret mechanism. Unset values are left out of both maps.
//
// A CA file that cannot be read or holds no certificate is an error.
func (c Config) WorkerEnv() (env, secrets map[string]string, err error) {
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	host, port, _ := net.SplitHostPort(c.addr())
	env = map[string]string{EnvHost: host, EnvPort: port}
	secrets = map[string]string{}
	if c.useTLS() {
		env[EnvTLS] = "true"
	}
	if c.CAFile != "" || c.CAPEM != "" {
		if _, err := c.tlsConfig(); err != nil {
			return nil, nil, err
		}
		pem, _ := c.caPEM()
		env[EnvCAPEM] = string(pem)
	}
	if c.ServerName != "" {
		env[EnvTLSServerName] = c.ServerName
	}
	if c.Timeout != 0 && c.Timeout != DefaultTimeout {
		env[EnvTimeout] = c.Timeout.String()
	}
	if c.APIKey != "" {
		secrets[EnvAPIKey] = c.APIKey
	}
	return env, secrets, nil
}

// RegisterFlags registers the --qdrant-* flags on fs, bound to c, with c's
// current values as defaults: fill c with [FromEnv] first, so the
// environment supplies the defaults and a bad variable is reported before
// flags are parsed. The usage text names each flag's variable; the API
// key's default is never printed.
//
// --qdrant-url sets host, port and TLS at once; a later --qdrant-host,
// --qdrant-port or --qdrant-tls overrides its part.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Host, "qdrant-host", c.Host, "Qdrant `host` (env "+EnvHost+")")
	fs.IntVar(&c.Port, "qdrant-port", c.Port, "Qdrant gRPC `port` (env "+EnvPort+")")
	fs.Var(urlValue{c}, "qdrant-url", "Qdrant `URL` http(s)://host[:port], sets host, port and TLS (env "+EnvURL+")")
	fs.Var(secretValue{&c.APIKey}, "qdrant-api-key", "Qdrant API `key` (env "+EnvAPIKey+")")
	fs.BoolVar(&c.TLS, "qdrant-tls", c.TLS, "connect to Qdrant with TLS (env "+EnvTLS+")")
	fs.StringVar(&c.CAFile, "qdrant-ca-file", c.CAFile, "`path` to PEM CA certificates that verify Qdrant (env "+EnvCAFile+")")
	fs.StringVar(&c.ServerName, "qdrant-tls-server-name", c.ServerName, "`name` to verify in Qdrant's certificate (env "+EnvTLSServerName+")")
	fs.DurationVar(&c.Timeout, "qdrant-timeout", c.Timeout, "bound of each Qdrant request (env "+EnvTimeout+")")
}

// urlValue is the --qdrant-url flag: it writes host, port and TLS.
type urlValue struct{ c *Config }

func (v urlValue) String() string { return "" }

func (v urlValue) Set(s string) error {
	e, err := parseURL(s)
	if err != nil {
		return err
	}
	v.c.Host, v.c.Port, v.c.TLS = e.Host, e.Port, e.TLS
	return nil
}

// secretValue is a string flag whose String is always empty, so the flag
// package treats its default as zero and never prints it.
type secretValue struct{ p *string }

func (v secretValue) String() string { return "" }

func (v secretValue) Set(s string) error {
	*v.p = s
	return nil
}

// String describes c without its API key, like
// "https://qdrant.internal:6334 (api key set, ca /etc/ca.pem)".
func (c Config) String() string {
	var b strings.Builder
	if c.useTLS() {
		b.WriteString("https://")
	} else {
		b.WriteString("http://")
	}
	b.WriteString(c.addr())
	var notes []string
	if c.APIKey != "" {
		notes = append(notes, "api key set")
	}
	if c.CAFile != "" {
		notes = append(notes, "ca "+c.CAFile)
	}
	if c.CAPEM != "" {
		notes = append(notes, "ca inline")
	}
	if c.ServerName != "" {
		notes = append(notes, "server name "+c.ServerName)
	}
	if c.Timeout != 0 && c.Timeout != DefaultTimeout {
		notes = append(notes, "timeout "+c.Timeout.String())
	}
	if len(notes) > 0 {
		b.WriteString(" (" + strings.Join(notes, ", ") + ")")
	}
	return b.String()
}

// GoString is c as Go syntax with the API key and the inline CA replaced.
func (c Config) GoString() string {
	key, ca := "", ""
	if c.APIKey != "" {
		key = "REDACTED"
	}
	if c.CAPEM != "" {
		ca = "(inline)"
	}
	return fmt.Sprintf("qdrantstore.Config{Host:%q, Port:%d, APIKey:%q, TLS:%t, CAFile:%q, CAPEM:%q, ServerName:%q, Timeout:%d}",
		c.Host, c.Port, key, c.TLS, c.CAFile, ca, c.ServerName, c.Timeout)
}

// Format makes every verb print String (or GoString for %#v), so the API
// key cannot leak through %v, %+v, %s or %q.
func (c Config) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, c.GoString())
	case verb == 'q':
		fmt.Fprintf(f, "%q", c.String())
	default:
		fmt.Fprint(f, c.String())
	}
}
