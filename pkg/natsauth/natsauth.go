// Package natsauth gives every worker its own, narrow NATS identity.
//
// A worker parses untrusted repositories and archives; if one compromises
// it, it must not be able to rewrite job records, publish another job's
// events, ack messages or read other uploads. So a worker never gets the
// dispatcher's NATS credentials. It gets a token for its attempt instead,
// and the NATS server's auth callout (nats-server 2.10+, "auth_callout")
// asks a dispatcher what that token may do. The dispatcher answers with a
// user JWT whose permissions are exactly its attempt's subjects
// ([WorkerPermissions]), and only while the attempt is live in the job
// record. The server enforces them: nothing here trusts the worker.
//
// # Usage
//
//	iss, _ := natsauth.NewIssuer(seed, names, "JETRUN")
//	go iss.Serve(ctx, nc, lookup, log)        // on every dispatcher (a queue group)
//	token := iss.Token(jobID, attempt, expiry) // handed to the worker as NATS_TOKEN
//
// The server is configured with the issuer's public key (see
// [ServerConfig], which `dispatcher --dev` uses for its embedded server and
// docs/security.md shows for an operator's server).
//
// # Tokens
//
// A token is "jw1.<job_id>.<attempt>.<expiry>.<mac>": HMAC-SHA256 under a
// key derived from the issuer seed, which every dispatcher of an
// installation shares, so any of them can answer the callout. A token says
// which attempt it is for; the dispatcher's lookup decides, from the job
// record, whether that attempt is still live. A token is a secret: it goes
// to the worker through the runtime's secret mechanism, never in a message.
package natsauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"
)

// ErrDenied is wrapped by every refusal of a worker's token.
var ErrDenied = errors.New("worker identity refused")

// CalloutSubject is where the NATS server sends authorization requests.
const CalloutSubject = "$SYS.REQ.USER.AUTH"

// Issuer signs worker identities with an account nkey.
type Issuer struct {
	kp      nkeys.KeyPair
	pub     string
	mac     []byte
	names   messages.Names
	account string
}

// GenerateSeed returns a new account nkey seed (SA...), for an issuer.
func GenerateSeed() ([]byte, error) {
	kp, err := nkeys.CreateAccount()
	if err != nil {
		return nil, err
	}
	return kp.Seed()
}

// NewIssuer returns an issuer for an account nkey seed. account names the
// server account the worker users are placed in (the account of the jetrun
// streams, "JETRUN" in `dispatcher --dev`).
func NewIssuer(seed []byte, names messages.Names, account string) (*Issuer, error) {
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(seed))))
	if err != nil {
		return nil, fmt.Errorf("worker issuer seed: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicAccountKey(pub) {
		return nil, errors.New("worker issuer seed: not an account nkey seed (SA...)")
	}
	if account == "" {
		return nil, errors.New("worker issuer: no account")
	}
	raw, _ := kp.Seed()
	m := hmac.New(sha256.New, raw)
	m.Write([]byte("jetrun worker token v1"))
	return &Issuer{kp: kp, pub: pub, mac: m.Sum(nil), names: names, account: account}, nil
}

// PublicKey is the issuer's account public key (A...), the auth_callout
// "issuer" of the server's configuration.
func (i *Issuer) PublicKey() string { return i.pub }

// Account is the account worker users are placed in.
func (i *Issuer) Account() string { return i.account }

const tokenVersion = "jw1"

// Token returns the token of one attempt's worker, valid until expires.
func (i *Issuer) Token(jobID string, attempt int, expires time.Time) string {
	body := tokenVersion + "." + jobID + "." + strconv.Itoa(attempt) + "." + strconv.FormatInt(expires.Unix(), 10)
	return body + "." + i.sign(body)
}

func (i *Issuer) sign(body string) string {
	m := hmac.New(sha256.New, i.mac)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ParseToken checks a token's MAC and expiry and returns what it names.
func (i *Issuer) ParseToken(tok string, now time.Time) (jobID string, attempt int, expires time.Time, err error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 5 || parts[0] != tokenVersion {
		return "", 0, time.Time{}, fmt.Errorf("%w: not a worker token", ErrDenied)
	}
	body := strings.Join(parts[:4], ".")
	if !hmac.Equal([]byte(i.sign(body)), []byte(parts[4])) {
		return "", 0, time.Time{}, fmt.Errorf("%w: bad token signature", ErrDenied)
	}
	jobID = parts[1]
	attempt, err1 := strconv.Atoi(parts[2])
	exp, err2 := strconv.ParseInt(parts[3], 10, 64)
	if !messages.ValidJobID(jobID) || err1 != nil || attempt < 1 || err2 != nil {
		return "", 0, time.Time{}, fmt.Errorf("%w: malformed token", ErrDenied)
	}
	expires = time.Unix(exp, 0)
	if !now.Before(expires) {
		return "", 0, time.Time{}, fmt.Errorf("%w: token of job %s attempt %d expired at %s", ErrDenied, jobID, attempt, expires.UTC().Format(time.RFC3339))
	}
	return jobID, attempt, expires, nil
}

// Grant is what one attempt's worker may do.
type Grant struct {
	JobID   string
	Attempt int
	// Uploads are the objects of the uploads bucket the worker may read.
	Uploads []Upload
	// Expires bounds the identity (and so the connection).
	Expires time.Time
}

// Upload is one object a worker may read: its name and the NUID under
// which the object store keeps its chunks.
type Upload struct {
	Name, NUID string
}

// Lookup decides a worker's grant from the job record: an error refuses
// the connection (the job is over, the attempt is not the current one).
type Lookup func(ctx context.Context, jobID string, attempt int) (Grant, error)

// WorkerPermissions are the NATS permissions of a worker with grant g:
// publish on its attempt's report subjects only, subscribe under its own
// inbox only, and for each granted upload the JetStream API calls that
// read that one object (its metadata by direct get, its chunks through an
// ordered consumer filtered to them). No KV, no acks, no events, no other
// job's subjects.
func WorkerPermissions(names messages.Names, g Grant) jwt.Permissions {
	var p jwt.Permissions
	p.Pub.Allow.Add(names.WorkerReports(g.JobID, g.Attempt))
	p.Sub.Allow.Add(names.WorkerInbox(g.JobID, g.Attempt) + ".>")
	if len(g.Uploads) > 0 {
		bucket := names.UploadsBucket()
		stream := "OBJ_" + bucket
		p.Pub.Allow.Add("$JS.API.STREAM.INFO." + stream)
		for _, u := range g.Uploads {
			meta := "$O." + bucket + ".M." + base64.URLEncoding.EncodeToString([]byte(u.Name))
			p.Pub.Allow.Add("$JS.API.DIRECT.GET."+stream+"."+meta,
				"$JS.API.CONSUMER.CREATE."+stream+".*.$O."+bucket+".C."+u.NUID)
		}
		// Flow-control replies of the ordered consumer's push delivery.
		p.Pub.Allow.Add("$JS.FC." + stream + ".>")
	}
	return p
}

// Serve answers the server's authorization requests until ctx ends. Every
// dispatcher may serve: they form a queue group, and any of them decides
// any token the same way.
func (i *Issuer) Serve(ctx context.Context, nc *nats.Conn, lookup Lookup, log zerolog.Logger) error {
	sub, err := nc.QueueSubscribe(CalloutSubject, "jetrun-auth", func(m *nats.Msg) {
		resp, err := i.Authorize(ctx, m.Data, lookup, time.Now())
		if err != nil {
			log.Warn().Err(err).Msg("worker identity refused")
		}
		if resp != nil {
			m.Respond(resp)
		}
	})
	if err != nil {
		return fmt.Errorf("serve worker identities on %s: %w", CalloutSubject, err)
	}
	<-ctx.Done()
	sub.Unsubscribe()
	return nil
}

// Authorize answers one authorization request (a JWT the server signed):
// a response carrying the worker's user JWT, or one carrying the refusal.
// It returns the refusal as an error too, for the log; the response never
// says more than "refused".
func (i *Issuer) Authorize(ctx context.Context, req []byte, lookup Lookup, now time.Time) ([]byte, error) {
	rc, err := jwt.DecodeAuthorizationRequestClaims(string(req))
	if err != nil {
		return nil, fmt.Errorf("%w: undecodable authorization request: %v", ErrDenied, err)
	}
	respond := func(userJWT string, refusal error) ([]byte, error) {
		rr := jwt.NewAuthorizationResponseClaims(rc.UserNkey)
		rr.Audience = rc.Server.ID
		rr.Jwt = userJWT
		if refusal != nil {
			rr.Error = "jetrun: worker identity refused"
		}
		tok, err := rr.Encode(i.kp)
		if err != nil {
			return nil, err
		}
		return []byte(tok), refusal
	}
	jobID, attempt, expires, err := i.ParseToken(rc.ConnectOptions.Token, now)
	if err != nil {
		return respond("", fmt.Errorf("client %q: %w", rc.ConnectOptions.Name, err))
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	g, err := lookup(lctx, jobID, attempt)
	if err != nil {
		return respond("", fmt.Errorf("%w: job %s attempt %d: %w", ErrDenied, jobID, attempt, err))
	}
	g.JobID, g.Attempt = jobID, attempt
	if g.Expires.IsZero() || g.Expires.After(expires) {
		g.Expires = expires
	}
	uc := jwt.NewUserClaims(rc.UserNkey)
	uc.Name = "jetrun-worker " + jobID + " a" + strconv.Itoa(attempt)
	uc.Audience = i.account
	uc.Expires = g.Expires.Unix()
	uc.Permissions = WorkerPermissions(i.names, g)
	ujwt, err := uc.Encode(i.kp)
	if err != nil {
		return respond("", fmt.Errorf("%w: sign user: %v", ErrDenied, err))
	}
	return respond(ujwt, nil)
}

// confPermissions renders p as a nats-server configuration block.
func confPermissions(p jwt.Permissions, indent string) string {
	list := func(l jwt.StringList) string {
		q := make([]string, len(l))
		for i, s := range l {
			q[i] = indent + "      " + strconv.Quote(s)
		}
		return "[\n" + strings.Join(q, "\n") + "\n" + indent + "    ]"
	}
	return "{\n" + indent + "  publish: { allow: " + list(p.Pub.Allow) + " }\n" +
		indent + "  subscribe: { allow: " + list(p.Sub.Allow) + " }\n" + indent + "}"
}
