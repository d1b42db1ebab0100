package natsconn

import (
	"strings"
)

// WorkerEnv returns the environment that lets a worker reach the same NATS
// as o with [FromEnv], on any runtime: a local process, a container, a
// Kubernetes pod or an AWS Batch job. Everything is inline, so no file has
// to be mounted into the worker.
//
// env holds plain settings: NATS_URL (without credentials), NATS_USER,
// NATS_TLS_CA_PEM and NATS_TLS_CERT_PEM. secrets holds what must go
// through the runtime's secret mechanism: NATS_PASSWORD, NATS_TOKEN,
// NATS_CREDS_DATA, NATS_NKEY_SEED and NATS_TLS_KEY_PEM. Unset values are
// left out of both maps.
//
// Credentials written into a URL move to NATS_USER and NATS_PASSWORD, or
// NATS_TOKEN. Files named by o are read and checked here; an unreadable or
// malformed one is an error (malformed ones wrap [ErrInvalid]).
func (o Options) WorkerEnv() (env map[string]string, secrets map[string]string, err error) {
	r, err := o.resolve()
	if err != nil {
		return nil, nil, err
	}
	env = map[string]string{EnvURL: strings.Join(r.urls, ",")}
	secrets = map[string]string{}
	put := func(m map[string]string, k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	put(env, EnvUser, r.user)
	put(secrets, EnvPassword, r.password)
	put(secrets, EnvToken, r.token)

	if src := o.credsSource(); src.set() {
		data, err := src.load()
		if err != nil {
			return nil, nil, err
		}
		_, kp, err := parseCreds(src, data)
		if err != nil {
			return nil, nil, o.scrub(err)
		}
		kp.Wipe()
		secrets[EnvCredsData] = string(data)
	}
	if src := o.nkeySource(); src.set() {
		kp, err := loadNKey(src)
		if err != nil {
			return nil, nil, o.scrub(err)
		}
		seed, err := kp.Seed()
		if err == nil {
			// Copy before Wipe: seed shares the key pair's memory.
			secrets[EnvNKeySeed] = string(seed)
		}
		kp.Wipe()
		if err != nil {
			return nil, nil, o.scrub(err)
		}
	}
	if src := o.caSource(); src.set() {
		pem, err := src.load()
		if err != nil {
			return nil, nil, err
		}
		if _, err := loadCertPool(source{name: src.name, data: string(pem)}); err != nil {
			return nil, nil, err
		}
		env[EnvTLSCAPEM] = string(pem)
	}
	if cert, key := o.certSource(), o.keySource(); cert.set() {
		certPEM, err := cert.load()
		if err != nil {
			return nil, nil, err
		}
		keyPEM, err := key.load()
		if err != nil {
			return nil, nil, err
		}
		_, err = loadKeyPair(source{name: cert.name, data: string(certPEM)}, source{name: key.name, data: string(keyPEM)})
		if err != nil {
			return nil, nil, o.scrub(err)
		}
		env[EnvTLSCertPEM] = string(certPEM)
		secrets[EnvTLSKeyPEM] = string(keyPEM)
	}
	return env, secrets, nil
}
