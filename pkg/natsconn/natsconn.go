package natsconn

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/jetrun/jetrun/internal/redact"
)

// ErrInvalid is wrapped by every error that reports a bad or conflicting
// option, so callers can tell a configuration mistake from a network failure.
var ErrInvalid = errors.New("natsconn: invalid options")

// Environment variables read by [FromEnv] and written by [Options.WorkerEnv].
const (
	EnvURL      = "NATS_URL"      // server URLs, comma-separated
	EnvCreds    = "NATS_CREDS"    // path to a .creds file
	EnvNKey     = "NATS_NKEY"     // path to an nkey seed file
	EnvUser     = "NATS_USER"     // user name
	EnvPassword = "NATS_PASSWORD" // password (secret)
	EnvToken    = "NATS_TOKEN"    // token (secret)
	EnvTLSCA    = "NATS_TLS_CA"   // path to a PEM CA bundle
	EnvTLSCert  = "NATS_TLS_CERT" // path to a PEM client certificate
	EnvTLSKey   = "NATS_TLS_KEY"  // path to a PEM client key

	EnvCredsData  = "NATS_CREDS_DATA"   // .creds file content (secret)
	EnvNKeySeed   = "NATS_NKEY_SEED"    // nkey seed (secret)
	EnvTLSCAPEM   = "NATS_TLS_CA_PEM"   // CA bundle, PEM
	EnvTLSCertPEM = "NATS_TLS_CERT_PEM" // client certificate, PEM
	EnvTLSKeyPEM  = "NATS_TLS_KEY_PEM"  // client key, PEM (secret)
)

// IdentityVars are the variables of [Options.WorkerEnv] that carry an
// identity (who the client is, as opposed to where the server is and how
// to trust it). A worker given an identity of its own gets none of these
// from its dispatcher.
var IdentityVars = []string{EnvUser, EnvPassword, EnvToken, EnvCreds, EnvNKey, EnvTLSCert, EnvTLSKey,
	EnvCredsData, EnvNKeySeed, EnvTLSCertPEM, EnvTLSKeyPEM}

// Defaults applied by [FromEnv] and, for zero fields, by [Options.Connect].
const (
	DefaultURL            = "nats://127.0.0.1:4222"
	DefaultReconnectWait  = 2 * time.Second
	DefaultMaxReconnects  = -1 // forever
	DefaultConnectTimeout = 5 * time.Second
)

// Options says how to reach and authenticate to NATS. The zero value
// connects to [DefaultURL] without authentication.
//
// Each kind of file-based material has an inline twin (CredsFile and
// CredsData, NKeySeedFile and NKeySeed, TLSCA and TLSCAPEM, ...); set at
// most one of each pair. The inline fields are what workers receive, see
// [Options.WorkerEnv].
//
// Options holds secrets: format it with String (which %v and %#v use),
// never field by field.
type Options struct {
	// URLs lists the servers. Empty means [DefaultURL]. A URL may carry
	// credentials (nats://user:pass@host or nats://token@host); they are
	// treated like User/Password or Token and never printed.
	URLs []string

	CredsFile    string // path to a .creds file (user JWT and nkey seed)
	NKeySeedFile string // path to an nkey user seed file
	User         string
	Password     string
	Token        string
	TLSCA        string // path to PEM CA certificates that verify the server
	TLSCert      string // path to the PEM client certificate
	TLSKey       string // path to the PEM client key

	// Name is the client name shown in server monitoring.
	Name string
	// ReconnectWait is the base delay between reconnect attempts; up to
	// half of it again is added at random so a fleet does not reconnect in
	// lockstep. Zero means [DefaultReconnectWait].
	ReconnectWait time.Duration
	// MaxReconnects bounds reconnect attempts. Zero means
	// [DefaultMaxReconnects]; any negative value means forever.
	MaxReconnects int
	// ConnectTimeout bounds each dial. Zero means [DefaultConnectTimeout].
	ConnectTimeout time.Duration
	// InboxPrefix replaces "_INBOX" for the connection's reply subjects
	// (a worker's narrow identity may subscribe only under its own).
	InboxPrefix string

	// Inline material, as handed to workers.
	CredsData  string // content of a .creds file
	NKeySeed   string // nkey user seed (SU...)
	TLSCAPEM   string // PEM CA certificates
	TLSCertPEM string // PEM client certificate
	TLSKeyPEM  string // PEM client key
}

// FromEnv returns Options filled from the environment variables listed in
// the package documentation, looked up with getenv (os.Getenv in a main
// package, a map in tests). Unset durations and URLs get their defaults.
//
// When both the path and the inline variable of one kind are set (NATS_CREDS
// and NATS_CREDS_DATA, say), the inline one wins: that is what a worker gets
// from [Options.WorkerEnv], and a worker run as a local process may also
// inherit its dispatcher's NATS_CREDS.
func FromEnv(getenv func(string) string) Options {
	o := Options{
		URLs:           splitURLs(getenv(EnvURL)),
		User:           getenv(EnvUser),
		Password:       getenv(EnvPassword),
		Token:          getenv(EnvToken),
		ReconnectWait:  DefaultReconnectWait,
		MaxReconnects:  DefaultMaxReconnects,
		ConnectTimeout: DefaultConnectTimeout,
	}
	if len(o.URLs) == 0 {
		o.URLs = []string{DefaultURL}
	}
	pick := func(file, data *string, fileEnv, dataEnv string) {
		if v := getenv(dataEnv); v != "" {
			*data = v
			return
		}
		*file = getenv(fileEnv)
	}
	pick(&o.CredsFile, &o.CredsData, EnvCreds, EnvCredsData)
	pick(&o.NKeySeedFile, &o.NKeySeed, EnvNKey, EnvNKeySeed)
	pick(&o.TLSCA, &o.TLSCAPEM, EnvTLSCA, EnvTLSCAPEM)
	pick(&o.TLSCert, &o.TLSCertPEM, EnvTLSCert, EnvTLSCertPEM)
	pick(&o.TLSKey, &o.TLSKeyPEM, EnvTLSKey, EnvTLSKeyPEM)
	return o
}

// splitURLs splits a comma-separated URL list, dropping blanks.
func splitURLs(s string) []string {
	var urls []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	return urls
}

// Validate reports every invalid or conflicting option, each wrapping
// [ErrInvalid]. It reads no files; [Options.Connect] and
// [Options.WorkerEnv] report unreadable or malformed ones.
func (o Options) Validate() error {
	_, err := o.resolve()
	return err
}

// resolved is Options after URL credentials have been lifted out of the URLs.
type resolved struct {
	urls     []string // with scheme, without userinfo
	user     string
	password string
	token    string
	tls      bool // TLS required by a URL scheme or implied by TLS material
}

// resolve checks o and lifts credentials out of the URLs. The error joins
// every problem found.
func (o Options) resolve() (resolved, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}

	raw := o.URLs
	if len(raw) == 0 {
		raw = []string{DefaultURL}
	}
	var r resolved
	var userinfo *url.Userinfo
	for _, s := range raw {
		u, err := parseURL(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if u.Scheme == "tls" || u.Scheme == "wss" {
			r.tls = true
		}
		if u.User != nil {
			if _, ok := u.User.Password(); ok && u.User.Username() == "" {
				bad("server URL %s has a password but no user name", redactURL(s))
			}
			if userinfo != nil && userinfo.String() != u.User.String() {
				bad("server URLs carry different credentials; give them once, with --nats-user/--nats-password or --nats-token")
			}
			userinfo = u.User
			u.User = nil
		}
		r.urls = append(r.urls, u.String())
	}

	var methods []string
	if o.User != "" || o.Password != "" {
		methods = append(methods, "user/password (--nats-user, --nats-password)")
	}
	if o.Token != "" {
		methods = append(methods, "token (--nats-token)")
	}
	if o.CredsFile != "" || o.CredsData != "" {
		methods = append(methods, "creds (--nats-creds or NATS_CREDS_DATA)")
	}
	if o.NKeySeedFile != "" || o.NKeySeed != "" {
		methods = append(methods, "nkey (--nats-nkey or NATS_NKEY_SEED)")
	}
	if userinfo != nil {
		methods = append(methods, "credentials in the server URL")
	}
	if len(methods) > 1 {
		bad("conflicting authentication: %s; use only one", strings.Join(methods, " and "))
	}
	if o.Password != "" && o.User == "" {
		bad("a password is set (--nats-password) without a user (--nats-user)")
	}
	r.user, r.password, r.token = o.User, o.Password, o.Token
	if userinfo != nil {
		if pass, ok := userinfo.Password(); ok {
			r.user, r.password = userinfo.Username(), pass
		} else {
			r.token = userinfo.Username()
		}
	}

	both := func(file, data, fileName, dataName string) {
		if file != "" && data != "" {
			bad("both %s and %s are set; use one", fileName, dataName)
		}
	}
	both(o.CredsFile, o.CredsData, "--nats-creds", EnvCredsData)
	both(o.NKeySeedFile, o.NKeySeed, "--nats-nkey", EnvNKeySeed)
	both(o.TLSCA, o.TLSCAPEM, "--nats-tls-ca", EnvTLSCAPEM)
	both(o.TLSCert, o.TLSCertPEM, "--nats-tls-cert", EnvTLSCertPEM)
	both(o.TLSKey, o.TLSKeyPEM, "--nats-tls-key", EnvTLSKeyPEM)
	hasCert := o.TLSCert != "" || o.TLSCertPEM != ""
	hasKey := o.TLSKey != "" || o.TLSKeyPEM != ""
	if hasCert != hasKey {
		bad("a TLS client certificate (--nats-tls-cert) and key (--nats-tls-key) go together; only one is set")
	}
	if hasCert || hasKey || o.TLSCA != "" || o.TLSCAPEM != "" {
		r.tls = true
	}

	if o.ReconnectWait < 0 {
		bad("negative reconnect wait %s", o.ReconnectWait)
	}
	if o.ConnectTimeout < 0 {
		bad("negative connect timeout %s", o.ConnectTimeout)
	}
	return r, errors.Join(errs...)
}

// parseURL parses one server URL the way nats.go does (a missing scheme
// means nats://). Its errors never quote the URL's credentials.
func parseURL(s string) (*url.URL, error) {
	full := s
	if !strings.Contains(full, "://") {
		full = "nats://" + full
	}
	u, err := url.Parse(full)
	if err != nil {
		// err quotes the input, credentials included: drop it.
		return nil, fmt.Errorf("%w: server URL %s cannot be parsed", ErrInvalid, redactURL(s))
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return nil, fmt.Errorf("%w: server URL %s: scheme %q is not one of nats, tls, ws, wss", ErrInvalid, redactURL(s), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: server URL %s has no host", ErrInvalid, redactURL(s))
	}
	return u, nil
}

// redactURL shows server URL s without userinfo, query or fragment
// (internal/redact), with nats:// added when s has no scheme, as nats.go
// does. It stays a function of its own because flags.go calls it.
func redactURL(s string) string {
	if !strings.Contains(s, "://") {
		s = "nats://" + s
	}
	return redact.URL(s)
}

// String returns a one-line summary safe for logs: server URLs without
// credentials, the authentication method, and whether TLS is used.
func (o Options) String() string {
	raw := o.URLs
	if len(raw) == 0 {
		raw = []string{DefaultURL}
	}
	urls := make([]string, len(raw))
	for i, s := range raw {
		urls[i] = redactURL(s)
	}

	var auth []string
	user := o.User
	if o.User != "" || o.Password != "" {
		auth = append(auth, "user-password")
	}
	if o.Token != "" {
		auth = append(auth, "token")
	}
	if o.CredsFile != "" || o.CredsData != "" {
		auth = append(auth, "creds")
	}
	if o.NKeySeedFile != "" || o.NKeySeed != "" {
		auth = append(auth, "nkey")
	}
	for _, s := range raw {
		if u, err := parseURL(s); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				auth = append(auth, "user-password")
				user = u.User.Username()
			} else {
				auth = append(auth, "token")
			}
			break
		}
	}
	if len(auth) == 0 {
		auth = append(auth, "none")
	}

	tlsMode := "off"
	switch {
	case o.TLSCert != "" || o.TLSCertPEM != "":
		tlsMode = "mutual"
	case o.TLSCA != "" || o.TLSCAPEM != "":
		tlsMode = "on"
	default:
		for _, s := range raw {
			if u, err := parseURL(s); err == nil && (u.Scheme == "tls" || u.Scheme == "wss") {
				tlsMode = "on"
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "urls=%s auth=%s", strings.Join(urls, ","), strings.Join(auth, "+"))
	if user != "" {
		fmt.Fprintf(&b, " user=%s", user)
	}
	fmt.Fprintf(&b, " tls=%s", tlsMode)
	if o.Name != "" {
		fmt.Fprintf(&b, " name=%q", o.Name)
	}
	return b.String()
}

// GoString makes %#v as safe as %v.
func (o Options) GoString() string {
	return "natsconn.Options{" + o.String() + "}"
}

// secrets lists the secret values o holds, longest first, for scrubbing
// error text.
func (o Options) secrets() []string {
	var s []string
	add := func(v string) {
		if v = strings.TrimSpace(v); v != "" {
			s = append(s, v)
		}
	}
	add(o.Password)
	add(o.Token)
	add(o.NKeySeed)
	add(o.TLSKeyPEM)
	add(o.CredsData)
	for _, v := range []string{o.CredsData, o.NKeySeed, o.TLSKeyPEM} {
		for _, line := range strings.Split(v, "\n") {
			// A seed or key line on its own; not PEM armor or the
			// banner comments of a .creds file.
			line = strings.TrimSpace(line)
			if len(line) >= 16 && !strings.HasPrefix(line, "-----") && !strings.ContainsAny(line, " *") {
				add(line)
			}
		}
	}
	for _, raw := range o.URLs {
		if i := strings.LastIndex(raw, "@"); i >= 0 {
			info := raw[:i]
			if j := strings.Index(info, "://"); j >= 0 {
				info = info[j+3:]
			}
			add(info) // as written, maybe %-escaped
			if k := strings.Index(info, ":"); k >= 0 {
				add(info[k+1:])
			}
		}
		if u, err := parseURL(raw); err == nil && u.User != nil {
			if p, ok := u.User.Password(); ok {
				add(p)
			} else {
				add(u.User.Username())
			}
		}
	}
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	return s
}

// redactedError carries an error whose text had secrets removed; errors.Is
// and errors.As still see the original chain.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// scrub returns err with every secret of o removed from its text.
func (o Options) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range o.secrets() {
		if strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
}
