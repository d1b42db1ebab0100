package awstest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	batchtypes "github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logstypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

func TestSignature(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	s.CreateJobQueue("q")
	ctx := context.Background()

	// SDK requests pass, on every service.
	c := newClients(s)
	if _, err := c.batch.DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{}); err != nil {
		t.Fatalf("DescribeJobQueues: %v", err)
	}
	s.PutSecret("x", "y")
	if _, err := c.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("x")}); err != nil {
		t.Fatalf("GetSecretValue: %v", err)
	}
	if s.Rejected() != 0 {
		t.Fatalf("Rejected() = %d after good requests", s.Rejected())
	}

	// The wrong secret key: refused, not retried, counted.
	bad := sdkConfig(s, "not-the-secret")
	_, err := batch.NewFromConfig(bad).DescribeJobQueues(ctx, &batch.DescribeJobQueuesInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" || !strings.Contains(ae.ErrorMessage(), "does not match") {
		t.Fatalf("wrong secret (Batch): %v", err)
	}
	_, err = ssm.NewFromConfig(bad).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("p")})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" {
		t.Fatalf("wrong secret (SSM): %v", err)
	}
	if n := s.Rejected(); n != 2 {
		t.Fatalf("Rejected() = %d, want 2", n)
	}
	if s.Calls()["DescribeJobQueues"] != 1 {
		t.Fatalf("a refused call was counted: %v", s.Calls())
	}

	// The wrong region.
	other := sdkConfig(s, DefaultSecretAccessKey)
	other.Region = "eu-west-1"
	_, err = cloudwatchlogs.NewFromConfig(other).GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s")})
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidSignatureException" || !strings.Contains(ae.ErrorMessage(), "region") {
		t.Fatalf("wrong region: %v", err)
	}

	// No signature at all, and a stale one.
	resp, err := http.Post(s.URL()+"/v1/describejobqueues", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Fatalf("unsigned: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	status, body := signedPost(t, s, time.Now().Add(-20*time.Minute))
	if status != http.StatusForbidden || !strings.Contains(body, "Signature expired") {
		t.Fatalf("stale signature: %d %s", status, body)
	}
	status, body = signedPost(t, s, time.Now())
	if status != http.StatusOK {
		t.Fatalf("hand-signed request: %d %s", status, body)
	}
	if n := s.Rejected(); n != 5 {
		t.Fatalf("Rejected() = %d, want 5", n)
	}
}

// signedPost signs a DescribeJobQueues request at time at and posts it.
func signedPost(t *testing.T, s *Server, at time.Time) (int, string) {
	t.Helper()
	body := []byte(`{}`)
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/v1/describejobqueues", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: DefaultAccessKeyID, SecretAccessKey: DefaultSecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "batch", s.Region(), at); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestInjectedFailuresAreRetried(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{Timing: fast(), Run: func(context.Context, Container, <-chan struct{}, io.Writer) int { return 0 }})
	c := newClients(s)
	ctx := context.Background()
	s.CreateJobQueue("q")
	s.RegisterJobDefinition(JobDefinition{Name: "d", Image: "img"})

	s.Fail("SubmitJob", 2, Throttling)
	id := submit(t, c, &batch.SubmitJobInput{JobName: aws.String("j"), JobQueue: aws.String("q"), JobDefinition: aws.String("d")})
	s.Fail("DescribeJobs", 1, ServerError)
	s.Fail("DescribeJobs", 1, Throttling)
	describe(t, c, id)
	s.Fail("GetLogEvents", 2, LogsThrottling)
	_, err := c.logs.GetLogEvents(ctx, &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("g"), LogStreamName: aws.String("s")})
	if _, ok := asError[*logstypes.ResourceNotFoundException](err); !ok {
		t.Fatalf("GetLogEvents after throttling: %v, want ResourceNotFoundException", err)
	}
	calls := s.Calls()
	if calls["SubmitJob"] != 3 || calls["DescribeJobs"] != 3 || calls["GetLogEvents"] != 3 {
		t.Fatalf("Calls() = %v, want 3 of each", calls)
	}
	// More failures than the SDK's attempts: the error surfaces.
	s.Fail("SubmitJob", 4, ServerError) // the SDK makes 4 attempts here
	_, err = c.batch.SubmitJob(ctx, &batch.SubmitJobInput{JobName: aws.String("k"), JobQueue: aws.String("q"), JobDefinition: aws.String("d")})
	if _, ok := asError[*batchtypes.ServerException](err); !ok {
		t.Fatalf("persistent ServerException: %v", err)
	}
	s.Fail("SubmitJob", 4, Throttling)
	_, err = c.batch.SubmitJob(ctx, &batch.SubmitJobInput{JobName: aws.String("k"), JobQueue: aws.String("q"), JobDefinition: aws.String("d")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "TooManyRequestsException" {
		t.Fatalf("persistent throttling: %v", err)
	}
}

func TestSecretsAndParameters(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	c := newClients(s)
	ctx := context.Background()
	arn := s.PutSecret("jetrun/nats", "first")
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:jetrun/nats-") || len(arn) != len("arn:aws:secretsmanager:us-east-1:123456789012:secret:jetrun/nats-")+6 {
		t.Fatalf("secret ARN %s", arn)
	}
	if again := s.PutSecret("jetrun/nats", "second"); again != arn {
		t.Fatalf("a new version changed the ARN: %s", again)
	}
	for _, id := range []string{"jetrun/nats", arn, strings.TrimSuffix(arn, arn[len(arn)-7:])} {
		out, err := c.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetSecretValue(%s): %v", id, err)
		}
		if aws.ToString(out.SecretString) != "second" || aws.ToString(out.ARN) != arn || aws.ToString(out.Name) != "jetrun/nats" ||
			len(out.VersionStages) != 1 || out.VersionStages[0] != "AWSCURRENT" || out.CreatedDate == nil || aws.ToString(out.VersionId) == "" {
			t.Fatalf("GetSecretValue(%s) = %+v", id, out)
		}
	}
	prev, err := c.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != "first" {
		t.Fatalf("AWSPREVIOUS: %v", err)
	}
	_, err = c.secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("nope")})
	rnf, ok := asError[*smtypes.ResourceNotFoundException](err)
	if !ok || rnf.ErrorMessage() != "Secrets Manager can't find the specified secret." {
		t.Fatalf("missing secret: %v", err)
	}

	parn := s.PutParameter("/jetrun/git-token", "ghp_x")
	if parn != "arn:aws:ssm:us-east-1:123456789012:parameter/jetrun/git-token" {
		t.Fatalf("parameter ARN %s", parn)
	}
	for _, name := range []string{"/jetrun/git-token", parn} {
		out, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		if err != nil {
			t.Fatalf("GetParameter(%s): %v", name, err)
		}
		p := out.Parameter
		if aws.ToString(p.Value) != "ghp_x" || p.Type != ssmtypes.ParameterTypeSecureString || aws.ToString(p.ARN) != parn ||
			p.Version != 1 || p.LastModifiedDate == nil || aws.ToString(p.Name) != "/jetrun/git-token" {
			t.Fatalf("GetParameter(%s) = %+v", name, p)
		}
	}
	out, err := c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(parn)})
	if err != nil || aws.ToString(out.Parameter.Value) == "ghp_x" || aws.ToString(out.Parameter.Value) == "" {
		t.Fatalf("GetParameter without decryption: %v %q", err, aws.ToString(out.Parameter.Value))
	}
	_, err = c.ssm.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String("/nope"), WithDecryption: aws.Bool(true)})
	if _, ok := asError[*ssmtypes.ParameterNotFound](err); !ok {
		t.Fatalf("missing parameter: %v", err)
	}
}

func TestUnknownOperations(t *testing.T) {
	t.Parallel()
	s := Start(t, Config{})
	// An operation this server does not implement is refused in the
	// protocol's shape, once the signature checks.
	_, err := batch.NewFromConfig(sdkConfig(s, DefaultSecretAccessKey)).ListTagsForResource(context.Background(),
		&batch.ListTagsForResourceInput{ResourceArn: aws.String("arn:aws:batch:us-east-1:123456789012:job/x")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnknownOperationException" {
		t.Fatalf("unimplemented Batch operation: %v", err)
	}
	_, err = cloudwatchlogs.NewFromConfig(sdkConfig(s, DefaultSecretAccessKey)).DescribeLogGroups(context.Background(), &cloudwatchlogs.DescribeLogGroupsInput{})
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnknownOperationException" {
		t.Fatalf("unimplemented Logs operation: %v", err)
	}
	if s.Rejected() != 0 {
		t.Fatalf("Rejected() = %d", s.Rejected())
	}
}

func TestErrorShapes(t *testing.T) {
	t.Parallel()
	rec := func(svc service, e APIError) (int, http.Header, map[string]string) {
		w := &recorder{header: http.Header{}}
		writeError(w, svc, e)
		var m map[string]string
		if err := json.Unmarshal(w.body.Bytes(), &m); err != nil {
			t.Fatalf("error body %q: %v", w.body.String(), err)
		}
		return w.status, w.header, m
	}
	st, h, m := rec(svcBatch, APIError{400, "ClientException", "bad"})
	if st != 400 || h.Get("X-Amzn-ErrorType") != "ClientException" || m["message"] != "bad" || m["__type"] != "" {
		t.Fatalf("restJson1 error: %d %v %v", st, h, m)
	}
	st, _, m = rec(svcSecrets, APIError{400, "ResourceNotFoundException", "gone"})
	if st != 400 || m["__type"] != "ResourceNotFoundException" || m["Message"] != "gone" {
		t.Fatalf("awsJson1_1 error: %d %v", st, m)
	}
}

// recorder is a minimal http.ResponseWriter.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(status int)      { r.status = status }
