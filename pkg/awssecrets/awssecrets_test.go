package awssecrets_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/jetrun/jetrun/internal/awstest"
	"github.com/jetrun/jetrun/pkg/awssecrets"
)

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want awssecrets.Ref
		err  bool
	}{
		{in: "arn:aws:secretsmanager:us-east-1:123456789012:secret:jetrun/nats-AbCdEf",
			want: awssecrets.Ref{ARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:jetrun/nats-AbCdEf", Service: "secretsmanager", Region: "us-east-1"}},
		{in: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys-AbCdEf:embed_key::",
			want: awssecrets.Ref{ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys-AbCdEf", Service: "secretsmanager", Region: "eu-west-1", JSONKey: "embed_key"}},
		{in: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys-AbCdEf::AWSPREVIOUS:",
			want: awssecrets.Ref{ARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:keys-AbCdEf", Service: "secretsmanager", Region: "eu-west-1", VersionStage: "AWSPREVIOUS"}},
		{in: "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/jetrun/git-token",
			want: awssecrets.Ref{ARN: "arn:aws-cn:ssm:cn-north-1:123456789012:parameter/jetrun/git-token", Service: "ssm", Region: "cn-north-1"}},
		{in: "not-an-arn", err: true},
		{in: "arn:aws:s3:::bucket/key", err: true},
		{in: "arn:aws:ssm:us-east-1:123456789012:document/x", err: true},
		{in: "arn:aws:secretsmanager:us-east-1:123456789012:secret:", err: true},
	} {
		got, err := awssecrets.ParseRef(tc.in)
		if tc.err {
			if !errors.Is(err, awssecrets.ErrInvalidRef) {
				t.Errorf("ParseRef(%q) error = %v, want ErrInvalidRef", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
}

func TestRefsRoundTrip(t *testing.T) {
	in := map[string]string{
		"B": "arn:aws:ssm:us-east-1:123456789012:parameter/b",
		"A": "arn:aws:secretsmanager:us-east-1:123456789012:secret:a-AbCdEf",
	}
	v := awssecrets.FormatRefs(in)
	if v != "A="+in["A"]+",B="+in["B"] {
		t.Fatalf("FormatRefs = %q", v)
	}
	refs, err := awssecrets.ParseRefs(v)
	if err != nil || len(refs) != 2 || refs["B"].ARN != in["B"] {
		t.Fatalf("ParseRefs = %v, %v", refs, err)
	}
	if _, err := awssecrets.ParseRefs("NOEQUALS"); !errors.Is(err, awssecrets.ErrInvalidRef) {
		t.Fatalf("ParseRefs(bad) = %v", err)
	}
}

// The real SDK clients against the in-process Secrets Manager and SSM.
func TestResolve(t *testing.T) {
	srv := awstest.Start(t, awstest.Config{})
	env := srv.Env()
	cfg := aws.Config{
		Region:       srv.Region(),
		Credentials:  credentials.NewStaticCredentialsProvider(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], ""),
		BaseEndpoint: aws.String(srv.URL()),
	}
	plain := srv.PutSecret("jetrun/nats", "nats-pw-1")
	js := srv.PutSecret("jetrun/keys", `{"embed_key":"ek-2","other":"x"}`)
	param := srv.PutParameter("/jetrun/git-token", "ghp-3")
	refs, err := awssecrets.ParseRefs(awssecrets.FormatRefs(map[string]string{
		"NATS_PASSWORD": plain, "EMBED_API_KEY": js + ":embed_key::", "GIT_TOKEN": param,
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := awssecrets.Resolve(ctx, cfg, refs)
	if err != nil {
		t.Fatal(err)
	}
	if got["NATS_PASSWORD"] != "nats-pw-1" || got["EMBED_API_KEY"] != "ek-2" || got["GIT_TOKEN"] != "ghp-3" {
		t.Fatalf("Resolve = %v", got)
	}
	// Errors name the variable and the ARN, and no value.
	for name, ref := range map[string]string{
		"MISSING": "arn:aws:secretsmanager:us-east-1:123456789012:secret:nope-AbCdEf",
		"NOKEY":   js + ":absent::",
		"NOPARAM": "arn:aws:ssm:us-east-1:123456789012:parameter/nope",
		"NOTJSON": plain + ":k::",
	} {
		refs, err := awssecrets.ParseRefs(name + "=" + ref)
		if err != nil {
			t.Fatal(err)
		}
		_, err = awssecrets.Resolve(ctx, cfg, refs)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want one naming the variable", name, err)
		}
		if err != nil && (strings.Contains(err.Error(), "nats-pw-1") || strings.Contains(err.Error(), "ek-2")) {
			t.Errorf("%s: a value leaked into the error: %v", name, err)
		}
	}
}
