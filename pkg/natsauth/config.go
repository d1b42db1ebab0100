package natsauth

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/nats-io/jwt/v2"
)

// ProducerPermissions are what a producer needs and no more: submit jobs,
// cancel them, ask for their logs, read their events and records, and
// upload inputs. A producer cannot publish events, write or delete job
// records, ack or terminate submissions, touch the dispatchers' consumer,
// read uploads back, or speak on worker subjects. It is the permission set
// of `dispatcher --dev`'s anonymous user (the `submit` CLI) and the one
// docs/security.md gives operators for producer users.
func ProducerPermissions(names messages.Names) jwt.Permissions {
	p := names.Prefix()
	events, uploads := names.EventsStream(), "OBJ_"+names.UploadsBucket()
	var perm jwt.Permissions
	// Job records and the dispatchers' announcements: read (status, list,
	// dispatchers).
	for _, kv := range []string{"KV_" + names.StateBucket(), "KV_" + names.DispatchersBucket()} {
		perm.Pub.Allow.Add("$JS.API.STREAM.INFO."+kv, "$JS.API.DIRECT.GET."+kv+".>", "$JS.API.STREAM.MSG.GET."+kv,
			"$JS.API.CONSUMER.CREATE."+kv+".>", "$JS.API.CONSUMER.DELETE."+kv+".>",
			"$JS.API.CONSUMER.INFO."+kv+".>", "$JS.API.CONSUMER.MSG.NEXT."+kv+".>", "$JS.FC."+kv+".>")
	}
	perm.Pub.Allow.Add(
		p+".jobs.submit.>", p+".jobs.cancel.*", p+".jobs.logs.*",
		"$JS.API.INFO",
		// Queue depth and dead letters: stream info only.
		"$JS.API.STREAM.INFO."+names.JobsStream(), "$JS.API.STREAM.INFO."+names.DLQStream(),
		// Events: ordered consumers (watch, wait) over the events stream.
		"$JS.API.STREAM.INFO."+events,
		"$JS.API.CONSUMER.CREATE."+events+".>", "$JS.API.CONSUMER.DELETE."+events+".>",
		"$JS.API.CONSUMER.INFO."+events+".>", "$JS.API.CONSUMER.MSG.NEXT."+events+".>",
		"$JS.FC."+events+".>",
		// Uploads: put objects (chunks and metadata) and look one up by
		// name, never read one back.
		"$JS.API.STREAM.INFO."+uploads, "$JS.API.DIRECT.GET."+uploads+".$O."+names.UploadsBucket()+".M.>",
		"$O."+names.UploadsBucket()+".C.>", "$O."+names.UploadsBucket()+".M.>",
	)
	perm.Sub.Allow.Add("_INBOX.>", p+".jobs.events.>")
	return perm
}

// ServerConfig is the nats-server configuration of one jetrun account with
// narrow worker identities, in the server's configuration language:
//
//   - account Account holds the streams; JetStream is enabled in it;
//   - user DispatcherUser (password DispatcherPassword) is the dispatcher:
//     the whole account, and it answers the auth callout;
//   - user ProducerUser (password ProducerPassword) has
//     [ProducerPermissions]; with AnonymousProducer it is also the
//     server's no_auth_user, so a client without credentials is a producer;
//   - every other client goes to the auth callout, where a dispatcher
//     grants a worker token [WorkerPermissions] or refuses it.
//
// `dispatcher --dev` runs its embedded server from this text; an operator
// can start from it (docs/security.md).
type ServerConfig struct {
	Account            string
	Issuer             string // the issuer's public key, [Issuer.PublicKey]
	DispatcherUser     string
	DispatcherPassword string
	ProducerUser       string
	ProducerPassword   string
	AnonymousProducer  bool
	Names              messages.Names
}

// String renders the configuration.
func (c ServerConfig) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "accounts {\n  %s {\n    jetstream: enabled\n    users: [\n", c.Account)
	fmt.Fprintf(&b, "      { user: %s, password: %s }\n", strconv.Quote(c.DispatcherUser), strconv.Quote(c.DispatcherPassword))
	fmt.Fprintf(&b, "      {\n        user: %s, password: %s\n        permissions: %s\n      }\n", strconv.Quote(c.ProducerUser), strconv.Quote(c.ProducerPassword),
		confPermissions(ProducerPermissions(c.Names), "        "))
	b.WriteString("    ]\n  }\n}\n")
	if c.AnonymousProducer {
		fmt.Fprintf(&b, "no_auth_user: %s\n", strconv.Quote(c.ProducerUser))
	}
	fmt.Fprintf(&b, "authorization {\n  auth_callout {\n    issuer: %s\n    account: %s\n    auth_users: [ %s, %s ]\n  }\n}\n",
		c.Issuer, c.Account, strconv.Quote(c.DispatcherUser), strconv.Quote(c.ProducerUser))
	return b.String()
}
