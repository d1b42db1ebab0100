package awstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// sigV4 constants.
const (
	sigAlgorithm  = "AWS4-HMAC-SHA256"
	amzDateFormat = "20060102T150405Z"
	maxClockSkew  = 15 * time.Minute
)

// authHeader is a parsed SigV4 Authorization header.
type authHeader struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

// parseAuth parses "AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/
// service/aws4_request, SignedHeaders=a;b, Signature=hex".
func parseAuth(v string) (authHeader, string) {
	var a authHeader
	alg, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || alg != sigAlgorithm {
		return a, fmt.Sprintf("Unsupported AWS 'algorithm': '%s'. Only AWS4-HMAC-SHA256 is accepted.", alg)
	}
	var cred, signed string
	for part := range strings.SplitSeq(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = val
		case "SignedHeaders":
			signed = val
		case "Signature":
			a.signature = val
		}
	}
	var missing []string
	if cred == "" {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if signed == "" {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	if a.signature == "" {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if len(missing) > 0 {
		return a, strings.Join(missing, " ") + " Authorization=" + v
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return a, fmt.Sprintf("Credential should be scoped to a valid region, not %q; a credential must be AKID/date/region/service/aws4_request.", cred)
	}
	a.accessKey, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
	a.signedHeaders = strings.Split(signed, ";")
	return a, ""
}

// verify checks r's SigV4 signature for svc; a nil answer accepts it.
// A refused request is counted in Rejected.
func (s *Server) verify(r *http.Request, body []byte, svc service) *APIError {
	e := s.checkSignature(r, body, svc)
	if e != nil {
		if svc.restJSON() && e.Status == 400 {
			e.Status = 403
		}
		s.mu.Lock()
		s.rejected++
		s.mu.Unlock()
	}
	return e
}

// checkSignature is verify without the bookkeeping. Errors follow AWS's
// types and wording; awsJson services answer them with HTTP 400,
// restJson ones (Batch) with 403.
func (s *Server) checkSignature(r *http.Request, body []byte, svc service) *APIError {
	deny := func(typ, msg string) *APIError { return &APIError{Status: 400, Type: typ, Message: msg} }
	h := r.Header.Get("Authorization")
	if h == "" {
		return deny("MissingAuthenticationTokenException", "Missing Authentication Token")
	}
	a, bad := parseAuth(h)
	if bad != "" {
		return deny("IncompleteSignatureException", bad)
	}
	if a.accessKey != s.cfg.AccessKeyID {
		return deny("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		return deny("IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization="+h)
	}
	at, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return deny("IncompleteSignatureException", fmt.Sprintf("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", amzDate))
	}
	if a.date != at.Format("20060102") {
		return deny("InvalidSignatureException", fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.date, at.Format("20060102"), amzDate))
	}
	now := time.Now().UTC()
	if at.Before(now.Add(-maxClockSkew)) {
		return deny("InvalidSignatureException", fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 15 min.)",
			amzDate, now.Add(-maxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat)))
	}
	if at.After(now.Add(maxClockSkew)) {
		return deny("InvalidSignatureException", fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 15 min.)",
			amzDate, now.Add(maxClockSkew).Format(amzDateFormat), now.Format(amzDateFormat)))
	}
	if a.region != s.cfg.Region {
		return deny("InvalidSignatureException", fmt.Sprintf("Credential should be scoped to a valid region, not '%s'. ", a.region))
	}
	if a.service != string(svc) {
		return deny("InvalidSignatureException", fmt.Sprintf("Credential should be scoped to correct service: '%s'. ", svc))
	}
	hasHost := false
	for _, name := range a.signedHeaders {
		if name == "host" {
			hasHost = true
		}
	}
	if !hasHost {
		return deny("InvalidSignatureException", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}

	want, err := s.resign(r, body, a, at)
	if err != nil {
		return deny("InvalidSignatureException", fmt.Sprintf("The request could not be re-signed: %v", err))
	}
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return deny("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. "+
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}

// resign signs a reconstruction of r (method, URL, exactly its signed
// headers and Host, its body's hash) with the server's secret at the
// request's time, and returns the signature.
func (s *Server) resign(r *http.Request, body []byte, a authHeader, at time.Time) (string, error) {
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("rebuilding the request: %w", err)
	}
	req.Host = r.Host
	req.Header = http.Header{}
	var token string
	for _, name := range a.signedHeaders {
		switch name {
		case "host":
			continue
		case "content-length":
			req.ContentLength = r.ContentLength
			continue
		case "x-amz-security-token":
			token = r.Header.Get("X-Amz-Security-Token")
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		if vals := r.Header.Values(key); len(vals) > 0 {
			req.Header[key] = append([]string(nil), vals...)
		}
	}
	hash := r.Header.Get("X-Amz-Content-Sha256")
	if hash != "UNSIGNED-PAYLOAD" {
		sum := sha256.Sum256(body)
		hash = hex.EncodeToString(sum[:])
	}
	creds := aws.Credentials{AccessKeyID: s.cfg.AccessKeyID, SecretAccessKey: s.cfg.SecretAccessKey, SessionToken: token}
	if err := s.signer.SignHTTP(r.Context(), creds, req, hash, a.service, a.region, at); err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	_, sig, ok := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	if !ok {
		return "", fmt.Errorf("the signer produced no signature")
	}
	return sig, nil
}
