// Package awssecrets resolves secret references, the ARNs of AWS Secrets
// Manager secrets and SSM parameters, into values.
//
// The AWS Batch runtime never puts a secret's value into a job's container
// overrides, which anyone allowed DescribeJobs can read. A secret the job
// definition does not declare itself travels as a reference instead: the
// runtime sets EnvRefs ("NAME=arn,NAME2=arn") in the job's environment and
// the worker, at start, resolves each ARN with its job role and sees the
// values as environment variables of those names.
//
// # References
//
//	arn:aws:secretsmanager:us-east-1:123456789012:secret:jetrun/nats-AbCdEf
//	arn:aws:secretsmanager:us-east-1:123456789012:secret:jetrun/keys-AbCdEf:embed_api_key::
//	arn:aws:ssm:us-east-1:123456789012:parameter/jetrun/git-token
//
// A Secrets Manager ARN may name one key of a JSON secret after the ARN
// (":json-key:version-stage:version-id", the form ECS and Batch accept in
// a job definition); the version fields are taken as given. SSM
// parameters are read with decryption (SecureString).
//
// Errors name the variable and the ARN, never a value.
package awssecrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// EnvRefs is the environment variable that carries a job's references.
const EnvRefs = "JETRUN_SECRET_REFS"

// ErrInvalidRef: a reference is not a Secrets Manager or SSM parameter ARN.
var ErrInvalidRef = errors.New("invalid secret reference")

// Ref is one parsed reference.
type Ref struct {
	// ARN is the secret's or parameter's ARN, without a JSON key suffix.
	ARN string
	// Service is "secretsmanager" or "ssm".
	Service string
	// Region is the ARN's region, where it is read from.
	Region string
	// JSONKey, VersionStage and VersionID select a part or a version of a
	// Secrets Manager secret (all optional).
	JSONKey, VersionStage, VersionID string
}

// ParseRef parses a reference.
func ParseRef(s string) (Ref, error) {
	a, err := arn.Parse(s)
	if err != nil {
		return Ref{}, fmt.Errorf("%w: %q is not an ARN", ErrInvalidRef, s)
	}
	switch a.Service {
	case "secretsmanager":
		// secret:<name>-<6 chars>[:json-key[:version-stage[:version-id]]]
		parts := strings.Split(a.Resource, ":")
		if len(parts) < 2 || parts[0] != "secret" || parts[1] == "" || len(parts) > 5 {
			return Ref{}, fmt.Errorf("%w: %q: want arn:<partition>:secretsmanager:<region>:<account>:secret:<name>[:json-key::]", ErrInvalidRef, s)
		}
		a.Resource = "secret:" + parts[1]
		r := Ref{ARN: a.String(), Service: a.Service, Region: a.Region}
		for i, to := range []*string{&r.JSONKey, &r.VersionStage, &r.VersionID} {
			if len(parts) > i+2 {
				*to = parts[i+2]
			}
		}
		return r, nil
	case "ssm":
		if !strings.HasPrefix(a.Resource, "parameter/") || len(a.Resource) == len("parameter/") {
			return Ref{}, fmt.Errorf("%w: %q: want arn:<partition>:ssm:<region>:<account>:parameter/<name>", ErrInvalidRef, s)
		}
		return Ref{ARN: s, Service: a.Service, Region: a.Region}, nil
	}
	return Ref{}, fmt.Errorf("%w: %q: want a secretsmanager or ssm ARN", ErrInvalidRef, s)
}

// FormatRefs renders name → ARN as the value of EnvRefs, sorted by name.
func FormatRefs(refs map[string]string) string {
	names := make([]string, 0, len(refs))
	for n := range refs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n + "=" + refs[n])
	}
	return b.String()
}

// ParseRefs reads the value of EnvRefs.
func ParseRefs(v string) (map[string]Ref, error) {
	refs := map[string]Ref{}
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		name, ref, ok := strings.Cut(item, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: %s: %q is not NAME=arn", ErrInvalidRef, EnvRefs, item)
		}
		r, err := ParseRef(ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		refs[name] = r
	}
	return refs, nil
}

// Resolve fetches every reference's value with cfg's credentials, in the
// ARN's region: one GetSecretValue or GetParameter call per reference.
func Resolve(ctx context.Context, cfg aws.Config, refs map[string]Ref) (map[string]string, error) {
	sms := map[string]*secretsmanager.Client{}
	pss := map[string]*ssm.Client{}
	out := make(map[string]string, len(refs))
	for name, r := range refs {
		region := func(o *string) {
			if r.Region != "" {
				*o = r.Region
			}
		}
		var v string
		switch r.Service {
		case "secretsmanager":
			sm := sms[r.Region]
			if sm == nil {
				sm = secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { region(&o.Region) })
				sms[r.Region] = sm
			}
			in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.ARN)}
			if r.VersionStage != "" {
				in.VersionStage = aws.String(r.VersionStage)
			}
			if r.VersionID != "" {
				in.VersionId = aws.String(r.VersionID)
			}
			res, err := sm.GetSecretValue(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("secret %s (%s): %w", name, r.ARN, err)
			}
			if res.SecretString == nil {
				return nil, fmt.Errorf("secret %s (%s): a binary secret; want a string", name, r.ARN)
			}
			v = *res.SecretString
			if r.JSONKey != "" {
				var m map[string]any
				if err := json.Unmarshal([]byte(v), &m); err != nil {
					return nil, fmt.Errorf("secret %s (%s): key %q: the secret is not a JSON object", name, r.ARN, r.JSONKey)
				}
				s, ok := m[r.JSONKey].(string)
				if !ok {
					return nil, fmt.Errorf("secret %s (%s): no string key %q", name, r.ARN, r.JSONKey)
				}
				v = s
			}
		case "ssm":
			ps := pss[r.Region]
			if ps == nil {
				ps = ssm.NewFromConfig(cfg, func(o *ssm.Options) { region(&o.Region) })
				pss[r.Region] = ps
			}
			res, err := ps.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(r.ARN), WithDecryption: aws.Bool(true)})
			if err != nil {
				return nil, fmt.Errorf("parameter %s (%s): %w", name, r.ARN, err)
			}
			if res.Parameter == nil || res.Parameter.Value == nil {
				return nil, fmt.Errorf("parameter %s (%s): no value", name, r.ARN)
			}
			v = *res.Parameter.Value
		default:
			return nil, fmt.Errorf("%w: %s: service %q", ErrInvalidRef, name, r.Service)
		}
		out[name] = v
	}
	return out, nil
}
