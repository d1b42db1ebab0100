// Package natsconn holds the NATS connection options shared by the three
// jetrun programs (dispatcher, worker and submit CLI) and hands them on to
// workers on any runtime.
//
// A main package registers the flags, parses them and connects:
//
//	var nopts natsconn.Options
//	nopts.Name = "jetrun-dispatcher"
//	nopts.RegisterFlags(fs, getenv)
//	if err := fs.Parse(args); err != nil {
//		log.Fatal().Err(err).Msg("flags")
//	}
//	nc, err := nopts.Connect(log)
//
// A worker needs no flags: natsconn.FromEnv(os.Getenv).Connect(log).
//
// # Configuration
//
// Flags are the interface; environment variables supply their defaults.
//
//	flag             environment      default                meaning
//	--nats-url       NATS_URL         nats://127.0.0.1:4222  server URLs, comma-separated
//	--nats-creds     NATS_CREDS                              path to a .creds file (user JWT and nkey seed)
//	--nats-nkey      NATS_NKEY                               path to an nkey user seed file
//	--nats-user      NATS_USER                               user name
//	--nats-password  NATS_PASSWORD                           password (secret)
//	--nats-token     NATS_TOKEN                              token (secret)
//	--nats-tls-ca    NATS_TLS_CA                             path to PEM CA certificates for the server
//	--nats-tls-cert  NATS_TLS_CERT                           path to a PEM client certificate
//	--nats-tls-key   NATS_TLS_KEY                            path to the PEM client key
//
// These variables have no flag; they carry the same material inline and are
// what workers receive (see below):
//
//	environment        meaning
//	NATS_CREDS_DATA    content of a .creds file (secret)
//	NATS_NKEY_SEED     nkey user seed, SU... (secret)
//	NATS_TLS_CA_PEM    PEM CA certificates
//	NATS_TLS_CERT_PEM  PEM client certificate
//	NATS_TLS_KEY_PEM   PEM client key (secret)
//
// When a path and its inline twin are both in the environment, the inline
// value wins. Setting both through fields or flags is an error.
//
// Use one authentication method: user and password, token, creds or nkey.
// A URL may carry credentials instead (nats://user:pass@host or
// nats://token@host). [Options.Validate] rejects mixtures with an error
// wrapping [ErrInvalid] that names the flags involved.
//
// TLS is used when a URL has the tls:// (or wss://) scheme or any TLS
// material is set; the minimum version is TLS 1.2. Files are read on each
// connect and reconnect, so rotated certificates and credentials are picked
// up without a restart.
//
// After the first connection succeeds the client reconnects forever
// (MaxReconnects, default -1), waiting ReconnectWait (default 2s) plus a
// random jitter of up to half that between rounds. A failed first
// connection is returned as an error, not retried; the caller decides.
// Disconnects and reconnects are logged at info or warn level, failed
// reconnect attempts at debug level and asynchronous errors at error level,
// through the zerolog.Logger given to [Options.Connect].
//
// Prefer the environment over --nats-password and --nats-token: command
// lines are visible to other users of the machine. Usage text never prints
// a secret default, and [Options.String] (which %v and %#v use), the
// connection logs and the errors of this package never contain a password,
// token, seed or key, including one written into a URL.
//
// # Handing credentials to workers
//
// A worker may run as a local process, in a container, in a Kubernetes pod
// or as an AWS Batch job, where the dispatcher's files are not mounted.
// [Options.WorkerEnv] reads those files and returns two maps:
//
//   - env: NATS_URL (credentials removed), NATS_USER, NATS_TLS_CA_PEM and
//     NATS_TLS_CERT_PEM. These can go into a plain environment.
//   - secrets: NATS_PASSWORD, NATS_TOKEN, NATS_CREDS_DATA, NATS_NKEY_SEED
//     and NATS_TLS_KEY_PEM. A runtime must pass these through its secret
//     mechanism (a Kubernetes Secret, AWS Secrets Manager), never as plain
//     task definition fields or log lines.
//
// Only the variables that are set appear. The worker merges both into its
// environment and calls [FromEnv]; it then connects exactly as the
// dispatcher does. A runtime that also passes on its own environment must
// let these values override it; a stale NATS_CREDS or NATS_TLS_KEY path
// beside the inline value is ignored.
//
// NATS_URL is handed on as is: a URL naming 127.0.0.1 reaches the host only
// from a local process. Containers and pods need an address they can reach.
//
// # Testing
//
// The tests run real nats-servers in process on 127.0.0.1 with a random
// port. Each requires TLS with a verified client certificate, from a CA,
// server and client certificate (ECDSA P-256) generated into t.TempDir.
// Separate servers authenticate by user and password, token, nkey and
// operator-signed user JWT (.creds). For each, a client with the right
// options makes a request round trip; a wrong password, token or nkey fails
// with nats.ErrAuthorization and an error that does not contain it; a
// client without a certificate is refused; a client built with FromEnv from
// WorkerEnv's output connects to the same server.
// A reconnect test shuts the server down and restarts it on the same port.
// Flag, environment, validation and redaction tests need no server.
//
//	go test -race ./pkg/natsconn/
package natsconn
