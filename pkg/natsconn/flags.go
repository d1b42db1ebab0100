package natsconn

import (
	"flag"
	"strings"
)

// RegisterFlags registers the --nats-* flags on fs, bound to o, with the
// values of the environment (read through getenv, see [FromEnv]) as
// defaults. It also fills the fields that have no flag (the inline
// material, and zero durations and reconnect limit) from the environment.
// The usage text names each flag's variable; defaults of secret flags, and
// credentials in URLs, are never printed.
func (o *Options) RegisterFlags(fs *flag.FlagSet, getenv func(string) string) {
	env := FromEnv(getenv)

	o.URLs = env.URLs
	fs.Var(&urlsValue{p: &o.URLs}, "nats-url", "NATS server `URLs`, comma-separated (env "+EnvURL+")")
	fs.StringVar(&o.CredsFile, "nats-creds", env.CredsFile, "`path` to a NATS .creds file, user JWT and nkey seed (env "+EnvCreds+")")
	fs.StringVar(&o.NKeySeedFile, "nats-nkey", env.NKeySeedFile, "`path` to a NATS nkey user seed file (env "+EnvNKey+")")
	fs.StringVar(&o.User, "nats-user", env.User, "NATS `user` name (env "+EnvUser+")")
	o.Password = env.Password
	fs.Var(&secretValue{p: &o.Password}, "nats-password", "NATS `password` (env "+EnvPassword+")")
	o.Token = env.Token
	fs.Var(&secretValue{p: &o.Token}, "nats-token", "NATS authentication `token` (env "+EnvToken+")")
	fs.StringVar(&o.TLSCA, "nats-tls-ca", env.TLSCA, "`path` to PEM CA certificates that verify the NATS server (env "+EnvTLSCA+")")
	fs.StringVar(&o.TLSCert, "nats-tls-cert", env.TLSCert, "`path` to a PEM TLS client certificate for NATS (env "+EnvTLSCert+")")
	fs.StringVar(&o.TLSKey, "nats-tls-key", env.TLSKey, "`path` to the PEM TLS client key for NATS (env "+EnvTLSKey+")")

	o.CredsData = env.CredsData
	o.NKeySeed = env.NKeySeed
	o.TLSCAPEM = env.TLSCAPEM
	o.TLSCertPEM = env.TLSCertPEM
	o.TLSKeyPEM = env.TLSKeyPEM
	if o.ReconnectWait == 0 {
		o.ReconnectWait = env.ReconnectWait
	}
	if o.MaxReconnects == 0 {
		o.MaxReconnects = env.MaxReconnects
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = env.ConnectTimeout
	}
}

// urlsValue is a comma-separated URL list whose String hides credentials,
// so the flag package's "(default ...)" cannot leak them.
type urlsValue struct{ p *[]string }

func (v *urlsValue) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	urls := make([]string, len(*v.p))
	for i, u := range *v.p {
		urls[i] = redactURL(u)
	}
	return strings.Join(urls, ",")
}

// Set replaces the list; each use of the flag gives the whole list.
func (v *urlsValue) Set(s string) error {
	*v.p = splitURLs(s)
	return nil
}

// secretValue is a string flag whose String is always empty, so the flag
// package treats its default as zero and never prints it.
type secretValue struct{ p *string }

func (v *secretValue) String() string { return "" }

func (v *secretValue) Set(s string) error {
	*v.p = s
	return nil
}
