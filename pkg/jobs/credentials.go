package jobs

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jetrun/jetrun/internal/hostmatch"
)

// ErrCredentialDenied is wrapped when a job may not have a credential.
var ErrCredentialDenied = errors.New("credential not granted")

// A worker gets a credential only when all three hold:
//
//  1. the job names it (a job that names none gets none, whatever the
//     worker's environment holds);
//  2. the kind's plan asks for it, for one URL (SecretRef.URL): the
//     repository for a git token, the embedding endpoint for an API key;
//  3. that URL's host is in the credential's host list,
//     JETRUN_CREDENTIAL_<NAME>_HOSTS (hosts and *.suffixes, comma
//     separated). The operator must say: a credential without a list is
//     refused, and "*" is the explicit way to allow any host.
//
// The dispatcher checks this before it resolves the secret (a job that
// fails it is rejected), and the worker checks it again before it sends
// the secret anywhere, so a worker never holds a secret its job was not
// granted and never sends one to a host it is not bound to.

// CredentialMayReach reports whether the credential called name may be
// sent to rawURL, under the host lists that getenv finds.
func CredentialMayReach(getenv func(string) string, name, rawURL string) error {
	env := CredentialHostsEnv(name)
	list := strings.TrimSpace(getenv(env))
	if list == "" {
		return fmt.Errorf("%w: credential %q is bound to no host: the operator must set %s to the hosts it may be sent to (or \"*\" for any)", ErrCredentialDenied, name, env)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%w: credential %q can be sent only to an http(s) URL", ErrCredentialDenied, name)
	}
	if list == "*" {
		return nil
	}
	hosts, err := hostmatch.ParseString(list)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCredentialDenied, env, err)
	}
	if !hosts.Match(u.Hostname()) {
		return fmt.Errorf("%w: credential %q may not be sent to %s (%s=%s)", ErrCredentialDenied, name, u.Hostname(), env, list)
	}
	return nil
}
