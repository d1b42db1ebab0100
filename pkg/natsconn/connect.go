package natsconn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"
)

// Connect validates o and dials NATS with every option applied. It does
// not retry a failed first connection; once connected, the connection
// reconnects on its own (forever by default) and log receives disconnects,
// reconnects, asynchronous errors and the final close.
//
// Files named by o are read when Connect is called and again on each
// reconnect, so rotated credentials and certificates are picked up.
// Returned errors never contain passwords, tokens, seeds or keys; errors.Is
// still matches nats.go's errors (nats.ErrAuthorization, for one) and
// [ErrInvalid].
func (o Options) Connect(log zerolog.Logger) (*nats.Conn, error) {
	r, err := o.resolve()
	if err != nil {
		return nil, err
	}
	servers := strings.Join(r.urls, ",")
	opts, err := o.natsOptions(r, log)
	if err != nil {
		return nil, o.scrub(fmt.Errorf("connect to NATS at %s: %w", servers, err))
	}
	nc, err := nats.Connect(servers, opts...)
	if err != nil {
		return nil, o.scrub(fmt.Errorf("connect to NATS at %s: %w", servers, err))
	}
	return nc, nil
}

// natsOptions translates validated options into nats.go options.
func (o Options) natsOptions(r resolved, log zerolog.Logger) ([]nats.Option, error) {
	wait := o.ReconnectWait
	if wait == 0 {
		wait = DefaultReconnectWait
	}
	maxReconnects := o.MaxReconnects
	if maxReconnects == 0 {
		maxReconnects = DefaultMaxReconnects
	}
	timeout := o.ConnectTimeout
	if timeout == 0 {
		timeout = DefaultConnectTimeout
	}

	opts := []nats.Option{
		nats.ReconnectWait(wait),
		nats.ReconnectJitter(wait/2, wait/2),
		nats.MaxReconnects(maxReconnects),
		nats.Timeout(timeout),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			ev := log.Warn()
			switch {
			case err == nil && nc.IsClosed():
				ev = log.Debug() // our own Close: nothing to report
			case err == nil:
				ev = log.Info()
			}
			ev.Err(o.scrub(err)).Str("server", nc.ConnectedUrlRedacted()).Msg("disconnected from NATS")
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Debug().Err(o.scrub(err)).Msg("NATS reconnect attempt failed")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("server", nc.ConnectedUrlRedacted()).Msg("reconnected to NATS")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Error().Err(o.scrub(err))
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("NATS asynchronous error")
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			log.Debug().Err(o.scrub(nc.LastError())).Msg("NATS connection closed")
		}),
	}
	if o.Name != "" {
		opts = append(opts, nats.Name(o.Name))
	}
	if o.InboxPrefix != "" {
		opts = append(opts, nats.CustomInboxPrefix(o.InboxPrefix))
	}

	switch {
	case r.user != "":
		opts = append(opts, nats.UserInfo(r.user, r.password))
	case r.token != "":
		opts = append(opts, nats.Token(r.token))
	case o.CredsFile != "" || o.CredsData != "":
		opt, err := credsOption(o.credsSource())
		if err != nil {
			return nil, err
		}
		opts = append(opts, opt)
	case o.NKeySeedFile != "" || o.NKeySeed != "":
		opt, err := nkeyOption(o.nkeySource())
		if err != nil {
			return nil, err
		}
		opts = append(opts, opt)
	}

	if r.tls {
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
		var rootCAs nats.RootCAsHandler
		if ca := o.caSource(); ca.set() {
			rootCAs = func() (*x509.CertPool, error) { return loadCertPool(ca) }
		}
		var cert nats.TLSCertHandler
		if c, k := o.certSource(), o.keySource(); c.set() {
			cert = func() (tls.Certificate, error) { return loadKeyPair(c, k) }
		}
		if rootCAs != nil || cert != nil {
			// ClientTLSConfig keeps the tls.Config given to Secure and
			// calls both handlers once now, so bad files fail here.
			opts = append(opts, nats.ClientTLSConfig(cert, rootCAs))
		}
	}
	return opts, nil
}

// source is one piece of credential or TLS material, from a file or inline.
type source struct {
	name string // for errors: the flag or variable that set it
	file string
	data string
}

func (s source) set() bool { return s.file != "" || s.data != "" }

// load returns the material; the caller may wipe the slice.
func (s source) load() ([]byte, error) {
	if s.file == "" {
		return []byte(s.data), nil
	}
	b, err := os.ReadFile(s.file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.name, err)
	}
	return b, nil
}

func pick(file, data, fileName, dataName string) source {
	if file != "" {
		return source{name: fileName + " " + file, file: file}
	}
	return source{name: dataName, data: data}
}

func (o Options) credsSource() source {
	return pick(o.CredsFile, o.CredsData, "--nats-creds", EnvCredsData)
}

func (o Options) nkeySource() source {
	return pick(o.NKeySeedFile, o.NKeySeed, "--nats-nkey", EnvNKeySeed)
}

func (o Options) caSource() source {
	return pick(o.TLSCA, o.TLSCAPEM, "--nats-tls-ca", EnvTLSCAPEM)
}

func (o Options) certSource() source {
	return pick(o.TLSCert, o.TLSCertPEM, "--nats-tls-cert", EnvTLSCertPEM)
}

func (o Options) keySource() source {
	return pick(o.TLSKey, o.TLSKeyPEM, "--nats-tls-key", EnvTLSKeyPEM)
}

// wipe overwrites secret bytes once they are no longer needed.
func wipe(b []byte) {
	for i := range b {
		b[i] = 'x'
	}
}

// parseCreds returns the user JWT and key pair of a .creds file.
func parseCreds(src source, data []byte) (string, nkeys.KeyPair, error) {
	jwt, err := nkeys.ParseDecoratedJWT(data)
	// Without the JWT armor ParseDecoratedJWT returns its whole input,
	// which could be a bare seed: never send that as a JWT.
	if err == nil && (strings.Count(jwt, ".") != 2 || strings.ContainsAny(jwt, " \n")) {
		err = fmt.Errorf("no user JWT found")
	}
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s: %w", ErrInvalid, src.name, err)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(data)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s: %w", ErrInvalid, src.name, err)
	}
	return jwt, kp, nil
}

// credsOption authenticates with a user JWT, signing the server's nonce
// with the user seed; both come from src on each (re)connect.
func credsOption(src source) (nats.Option, error) {
	data, err := src.load()
	if err != nil {
		return nil, err
	}
	_, kp, err := parseCreds(src, data)
	wipe(data)
	if err != nil {
		return nil, err
	}
	kp.Wipe()

	userJWT := func() (string, error) {
		data, err := src.load()
		if err != nil {
			return "", err
		}
		defer wipe(data)
		jwt, kp, err := parseCreds(src, data)
		if err != nil {
			return "", err
		}
		kp.Wipe()
		return jwt, nil
	}
	sign := func(nonce []byte) ([]byte, error) {
		data, err := src.load()
		if err != nil {
			return nil, err
		}
		defer wipe(data)
		_, kp, err := parseCreds(src, data)
		if err != nil {
			return nil, err
		}
		defer kp.Wipe()
		return kp.Sign(nonce)
	}
	return nats.UserJWT(userJWT, sign), nil
}

// nkeyOption authenticates as the nkey user whose seed src holds.
func nkeyOption(src source) (nats.Option, error) {
	kp, err := loadNKey(src)
	if err != nil {
		return nil, err
	}
	pub, err := kp.PublicKey()
	kp.Wipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, src.name, err)
	}
	sign := func(nonce []byte) ([]byte, error) {
		kp, err := loadNKey(src)
		if err != nil {
			return nil, err
		}
		defer kp.Wipe()
		return kp.Sign(nonce)
	}
	return nats.Nkey(pub, sign), nil
}

// loadNKey reads a user seed, bare or in a decorated file.
func loadNKey(src source) (nkeys.KeyPair, error) {
	data, err := src.load()
	if err != nil {
		return nil, err
	}
	defer wipe(data)
	kp, err := nkeys.ParseDecoratedUserNKey(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, src.name, err)
	}
	return kp, nil
}

func loadCertPool(src source) (*x509.CertPool, error) {
	pem, err := src.load()
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: %s: no PEM certificate found", ErrInvalid, src.name)
	}
	return pool, nil
}

func loadKeyPair(cert, key source) (tls.Certificate, error) {
	certPEM, err := cert.load()
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := key.load()
	if err != nil {
		return tls.Certificate{}, err
	}
	defer wipe(keyPEM)
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: %s and %s: %w", ErrInvalid, cert.name, key.name, err)
	}
	return pair, nil
}
