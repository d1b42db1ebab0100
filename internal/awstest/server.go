package awstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Defaults of Config and Timing.
const (
	DefaultRegion          = "us-east-1"
	DefaultAccountID       = "123456789012"
	DefaultAccessKeyID     = "AKIDJETRUNTEST"
	DefaultSecretAccessKey = "jetrun-test-secret-key"
	DefaultStopTimeout     = 2 * time.Second
	DefaultStateDelay      = 50 * time.Millisecond
)

// LogGroup is the CloudWatch Logs group Batch's awslogs driver writes job
// output to by default, and the one this server writes to.
const LogGroup = "/aws/batch/job"

// maxBody bounds a request body; AWS rejects far smaller ones long before.
const maxBody = 16 << 20

// Config configures a Server. The zero value works: every field has a
// default.
type Config struct {
	// Region is the server's region; requests signed for another are
	// refused. Default "us-east-1".
	Region string
	// AccountID appears in every ARN. Default "123456789012".
	AccountID string
	// AccessKeyID and SecretAccessKey are the only credentials accepted.
	// Defaults "AKIDJETRUNTEST" and "jetrun-test-secret-key".
	AccessKeyID     string
	SecretAccessKey string
	// Images maps a container image to the local executable run for it
	// (the worker binary, built by the test). A job whose image is not
	// here fails to start with a CannotPullContainerError, as on Batch.
	Images map[string]string
	// Run, if set, replaces process execution for every job (benchmarks
	// simulate thousands of jobs without processes). It must return the
	// container's exit code; stop is closed at SIGTERM (TerminateJob,
	// timeout); ctx is cancelled at SIGKILL (StopTimeout later, or when
	// the server stops), and Run must return soon after. Each line
	// written to out is one CloudWatch Logs event.
	Run func(ctx context.Context, c Container, stop <-chan struct{}, out io.Writer) int
	// Timing is how long a job stays in each state before the next.
	Timing Timing
	// StopTimeout is the time between SIGTERM and SIGKILL, as ECS's
	// stopTimeout (Batch waits 30 s). Default 2s.
	StopTimeout time.Duration
	// TimeoutUnit is how long one second of timeout.attemptDurationSeconds
	// lasts here. Batch refuses timeouts under 60 s, and so does this
	// server; a test sets TimeoutUnit to time.Millisecond to have a 60 s
	// timeout fire after 60 ms. Default time.Second. (An addition to the
	// AWS model.)
	TimeoutUnit time.Duration
}

// Timing is the time a job spends in each state before the next one:
// SUBMITTED → PENDING → RUNNABLE → STARTING → RUNNING. Zero means the
// default, 50ms; a negative value means no delay.
type Timing struct {
	Submitted, Pending, Runnable, Starting time.Duration
}

// Container is what a job runs: the resolved image, command and
// environment (definition env, override env, resolved secrets, the
// AWS_BATCH_* variables and Server.Env()).
type Container struct {
	// JobID, JobName and Image are the job's.
	JobID, JobName, Image string
	// Command is the override command, else the definition's.
	Command []string
	// Env is the container's whole environment.
	Env map[string]string
	// VCPU is the job's VCPU requirement as Batch has it ("0.25", "1").
	VCPU string
	// MemoryMiB is the job's MEMORY requirement.
	MemoryMiB int
}

// JobDefinition is a container job definition registered with
// Server.RegisterJobDefinition.
type JobDefinition struct {
	// Name is the job definition's name; each registration of one name
	// is a new revision.
	Name  string
	Image string
	// Command is the default command, replaced by a SubmitJob's override.
	Command []string
	// Platform is "FARGATE" or "EC2" (the default).
	Platform string
	// VCPU and MemoryMiB are the resource requirements. Defaults "1" and
	// 2048, a valid Fargate combination.
	VCPU      string
	MemoryMiB int
	// Env is the definition's environment; SubmitJob overrides add to it
	// and replace its values.
	Env map[string]string
	// Secrets maps an environment variable name to the ARN of a Secrets
	// Manager secret (optionally with ":json-key::") or of an SSM
	// parameter, resolved when the job starts, as ECS does.
	Secrets map[string]string
	// AttemptDurationSeconds is the definition's timeout; 0 means none.
	AttemptDurationSeconds int64
}

// APIError is an error answer: the HTTP status, the error type (its
// code) and message.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Type is the error code, e.g. "ClientException"; Message its text.
	Type, Message string
}

// Error implements error.
func (e APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Type, e.Message) }

// Injectable errors for Server.Fail.
var (
	// Throttling is what Batch answers when throttled: HTTP 429,
	// TooManyRequestsException, "Too Many Requests." (seen in SDK
	// reports of real Batch throttling; AWS knowledge center article
	// "aws-batch-requests-error"). The SDK retries it.
	Throttling = APIError{Status: 429, Type: "TooManyRequestsException", Message: "Too Many Requests."}
	// LogsThrottling is CloudWatch Logs' throttling answer (HTTP 400,
	// ThrottlingException, "Rate exceeded"). The SDK retries it.
	LogsThrottling = APIError{Status: 400, Type: "ThrottlingException", Message: "Rate exceeded"}
	// ServerError is Batch's server fault. The SDK retries it (HTTP 500).
	ServerError = APIError{Status: 500, Type: "ServerException", Message: "Internal server error"}
)

// service is one AWS service this server speaks, by its SigV4 signing
// name.
type service string

const (
	svcBatch   service = "batch"          // restJson1
	svcLogs    service = "logs"           // awsJson1_1, Logs_20140328
	svcSecrets service = "secretsmanager" // awsJson1_1, secretsmanager
	svcSSM     service = "ssm"            // awsJson1_1, AmazonSSM
)

// restJSON is whether svc speaks restJson1 (else awsJson1_1).
func (svc service) restJSON() bool { return svc == svcBatch }

// msgField is the message member of svc's error shapes.
func (svc service) msgField() string {
	if svc == svcSecrets {
		return "Message"
	}
	return "message"
}

// targetService is the service of an X-Amz-Target prefix.
func targetService(prefix string) (service, bool) {
	switch prefix {
	case "Logs_20140328":
		return svcLogs, true
	case "secretsmanager":
		return svcSecrets, true
	case "AmazonSSM":
		return svcSSM, true
	}
	return "", false
}

// Server is an in-process AWS Batch, CloudWatch Logs, Secrets Manager and
// SSM Parameter Store endpoint. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	t      testing.TB
	http   *httptest.Server
	signer *v4.Signer
	dir    string // per-job working directories

	ctx    context.Context // cancelled when the server stops
	cancel context.CancelFunc
	wg     sync.WaitGroup // job goroutines

	mu        sync.Mutex
	queues    map[string]*queue // by name
	defs      map[string][]*jobDef
	jobs      map[string]*job
	jobList   []*job // in submission order
	seq       int64
	secrets   map[string]*secret // by name
	params    map[string]*param  // by name
	groups    map[string]*logGroup
	calls     map[string]int
	requests  map[string][][]byte
	fails     map[string][]failRule
	rejected  int
	live      int
	held      bool
	release   chan struct{} // closed when HoldRunnable(false)
	stopped   bool
	handlers  map[string]handler
	batchOps  map[string]string // URL path → operation
	jsonOps   map[string]jsonOp // X-Amz-Target → operation
	ceName    string
	roleArn   string
	execRole  string
	clusterID string
}

// failRule is one Fail call still pending.
type failRule struct {
	n int
	e APIError
}

// handler serves one operation: it decodes body and answers a response
// value (marshalled to JSON) or an error.
type handler func(body []byte) (any, *APIError)

// jsonOp is an awsJson1_1 operation's service and name.
type jsonOp struct {
	svc service
	op  string
}

// Start starts a server on 127.0.0.1 with cfg; t.Cleanup stops it and
// kills every job's process.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.AccountID == "" {
		cfg.AccountID = DefaultAccountID
	}
	if cfg.AccessKeyID == "" {
		cfg.AccessKeyID = DefaultAccessKeyID
	}
	if cfg.SecretAccessKey == "" {
		cfg.SecretAccessKey = DefaultSecretAccessKey
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.TimeoutUnit <= 0 {
		cfg.TimeoutUnit = time.Second
	}
	for _, d := range []*time.Duration{&cfg.Timing.Submitted, &cfg.Timing.Pending, &cfg.Timing.Runnable, &cfg.Timing.Starting} {
		switch {
		case *d == 0:
			*d = DefaultStateDelay
		case *d < 0:
			*d = 0
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:       cfg,
		t:         t,
		signer:    v4.NewSigner(),
		dir:       t.TempDir(),
		ctx:       ctx,
		cancel:    cancel,
		queues:    map[string]*queue{},
		defs:      map[string][]*jobDef{},
		jobs:      map[string]*job{},
		secrets:   map[string]*secret{},
		params:    map[string]*param{},
		groups:    map[string]*logGroup{},
		calls:     map[string]int{},
		requests:  map[string][][]byte{},
		fails:     map[string][]failRule{},
		release:   make(chan struct{}),
		ceName:    "awstest-compute-environment",
		roleArn:   fmt.Sprintf("arn:aws:iam::%s:role/awstest-job-role", cfg.AccountID),
		execRole:  fmt.Sprintf("arn:aws:iam::%s:role/awstest-execution-role", cfg.AccountID),
		clusterID: "AWSBatch-awstest-compute-environment-" + randomHex(16),
	}
	close(s.release)
	s.routes()
	s.http = httptest.NewServer(s)
	t.Cleanup(s.stop)
	return s
}

// stop ends every job (SIGKILL), waits for them, then closes the listener.
func (s *Server) stop() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	s.http.Close()
}

// URL is the endpoint of all four services, e.g. "http://127.0.0.1:41234".
func (s *Server) URL() string { return s.http.URL }

// Region is the server's region.
func (s *Server) Region() string { return s.cfg.Region }

// Env is the environment that lets config.LoadDefaultConfig in another
// process reach this server with its credentials; every job's container
// gets it too, as if its job role gave it credentials.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":         s.cfg.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":     s.cfg.SecretAccessKey,
		"AWS_REGION":                s.cfg.Region,
		"AWS_DEFAULT_REGION":        s.cfg.Region,
		"AWS_ENDPOINT_URL":          s.URL(),
		"AWS_EC2_METADATA_DISABLED": "true",
	}
}

// Fail makes the next n accepted calls of op ("SubmitJob",
// "DescribeJobs", "GetLogEvents", "GetSecretValue", ...) answer e. Calls
// of successive Fail rules for one op are answered in order.
func (s *Server) Fail(op string, n int, e APIError) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[op] = append(s.fails[op], failRule{n: n, e: e})
}

// HoldRunnable holds jobs in RUNNABLE, as when the compute environment
// has no capacity, until it is called with false.
func (s *Server) HoldRunnable(hold bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if hold == s.held {
		return
	}
	s.held = hold
	if hold {
		s.release = make(chan struct{})
		for _, j := range s.jobList {
			if j.status == statusRunnable {
				j.statusReason = reasonNoCapacity
			}
		}
		return
	}
	for _, j := range s.jobList {
		if j.status == statusRunnable && j.statusReason == reasonNoCapacity {
			j.statusReason = ""
		}
	}
	close(s.release)
}

// Calls is the number of accepted (well signed, known) calls per
// operation, including those answered by a Fail rule.
func (s *Server) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.calls))
	for k, v := range s.calls {
		out[k] = v
	}
	return out
}

// Requests is the raw JSON body of every accepted call of op, in order.
func (s *Server) Requests(op string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][]byte, len(s.requests[op]))
	for i, b := range s.requests[op] {
		out[i] = bytes.Clone(b)
	}
	return out
}

// Rejected is the number of requests refused for their signature
// (missing, malformed, wrong key, region, service, date or signature).
func (s *Server) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// Live is the number of jobs whose container (process or Run) has
// started and not exited.
func (s *Server) Live() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// Status is a job's current Batch status ("SUBMITTED" … "SUCCEEDED",
// "FAILED"), "" if the job is unknown.
func (s *Server) Status(jobID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.jobs[jobID]; j != nil {
		return j.status
	}
	return ""
}

// JobIDs returns the ids of the jobs named name, oldest first.
func (s *Server) JobIDs(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var js []*job
	for _, j := range s.jobs {
		if j.name == name {
			js = append(js, j)
		}
	}
	sort.Slice(js, func(a, b int) bool { return js[a].seq < js[b].seq })
	ids := make([]string, len(js))
	for i, j := range js {
		ids[i] = j.id
	}
	return ids
}

// routes fills the operation tables.
func (s *Server) routes() {
	s.handlers = map[string]handler{
		"SubmitJob":              s.submitJob,
		"DescribeJobs":           s.describeJobs,
		"ListJobs":               s.listJobs,
		"CancelJob":              func(b []byte) (any, *APIError) { return s.stopJob(b, false) },
		"TerminateJob":           func(b []byte) (any, *APIError) { return s.stopJob(b, true) },
		"DescribeJobDefinitions": s.describeJobDefinitions,
		"DescribeJobQueues":      s.describeJobQueues,
		"RegisterJobDefinition":  s.registerJobDefinitionOp,
		"GetLogEvents":           s.getLogEvents,
		"GetSecretValue":         s.getSecretValue,
		"GetParameter":           s.getParameter,
	}
	s.batchOps = map[string]string{}
	for _, op := range []string{"SubmitJob", "DescribeJobs", "ListJobs", "CancelJob", "TerminateJob",
		"DescribeJobDefinitions", "DescribeJobQueues", "RegisterJobDefinition"} {
		s.batchOps["/v1/"+strings.ToLower(op)] = op
	}
	s.jsonOps = map[string]jsonOp{
		"Logs_20140328.GetLogEvents":    {svcLogs, "GetLogEvents"},
		"secretsmanager.GetSecretValue": {svcSecrets, "GetSecretValue"},
		"AmazonSSM.GetParameter":        {svcSSM, "GetParameter"},
	}
}

// ServeHTTP routes a request: X-Amz-Target to an awsJson1_1 service,
// anything else to Batch's restJson1 paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeError(w, svcBatch, APIError{400, "SerializationException", fmt.Sprintf("reading the request body: %v", err)})
		return
	}
	var svc service
	var op string
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		if o, ok := s.jsonOps[target]; ok {
			svc, op = o.svc, o.op
		} else {
			prefix, _, _ := strings.Cut(target, ".")
			sv, ok := targetService(prefix)
			if !ok {
				writeError(w, svcLogs, APIError{400, "UnknownOperationException", ""})
				return
			}
			if e := s.verify(r, body, sv); e != nil {
				writeError(w, sv, *e)
				return
			}
			writeError(w, sv, APIError{400, "UnknownOperationException", ""})
			return
		}
		if r.Method != http.MethodPost {
			writeError(w, svc, APIError{405, "UnknownOperationException", "Method not allowed"})
			return
		}
	} else {
		svc = svcBatch
		o, ok := s.batchOps[r.URL.Path]
		if !ok || r.Method != http.MethodPost {
			if e := s.verify(r, body, svc); e != nil {
				writeError(w, svc, *e)
				return
			}
			writeError(w, svc, APIError{404, "UnknownOperationException", fmt.Sprintf("no operation at %s %s", r.Method, r.URL.Path)})
			return
		}
		op = o
	}
	if e := s.verify(r, body, svc); e != nil {
		writeError(w, svc, *e)
		return
	}

	s.mu.Lock()
	s.calls[op]++
	s.requests[op] = append(s.requests[op], bytes.Clone(body))
	var injected *APIError
	if rules := s.fails[op]; len(rules) > 0 {
		e := rules[0].e
		injected = &e
		if rules[0].n--; rules[0].n == 0 {
			s.fails[op] = rules[1:]
		}
	}
	s.mu.Unlock()
	if injected != nil {
		writeError(w, svc, *injected)
		return
	}

	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	out, e := s.handlers[op](body)
	if e != nil {
		writeError(w, svc, *e)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		writeError(w, svc, APIError{500, internalType(svc), fmt.Sprintf("encoding the response: %v", err)})
		return
	}
	w.Header().Set("Content-Type", contentType(svc))
	w.Header().Set("X-Amzn-RequestId", newUUID())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// internalType is svc's server fault type.
func internalType(svc service) string {
	switch svc {
	case svcBatch:
		return "ServerException"
	case svcSecrets:
		return "InternalServiceError"
	case svcSSM:
		return "InternalServerError"
	}
	return "ServiceUnavailableException"
}

func contentType(svc service) string {
	if svc.restJSON() {
		return "application/json"
	}
	return "application/x-amz-json-1.1"
}

// writeError writes e in svc's protocol: restJson1 puts the type in the
// X-Amzn-ErrorType header and the message in the body; awsJson1_1 puts
// both in the body, as "__type" and the service's message member.
func writeError(w http.ResponseWriter, svc service, e APIError) {
	h := w.Header()
	h.Set("Content-Type", contentType(svc))
	h.Set("X-Amzn-RequestId", newUUID())
	body := map[string]string{}
	if svc.restJSON() {
		h.Set("X-Amzn-ErrorType", e.Type)
	} else {
		body["__type"] = e.Type
	}
	if e.Message != "" {
		body[svc.msgField()] = e.Message
	}
	b, _ := json.Marshal(body)
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

// clientError is a Batch ClientException.
func clientError(format string, args ...any) *APIError {
	return &APIError{Status: 400, Type: "ClientException", Message: fmt.Sprintf(format, args...)}
}

// validationError is an awsJson ValidationException-style error of type typ.
func validationError(typ, format string, args ...any) *APIError {
	return &APIError{Status: 400, Type: typ, Message: fmt.Sprintf(format, args...)}
}

// decode unmarshals a request body into v.
func decode(body []byte, v any, svc service) *APIError {
	if err := json.Unmarshal(body, v); err != nil {
		if svc.restJSON() {
			return clientError("Error executing request, Exception : could not parse the request body: %v", err)
		}
		return &APIError{Status: 400, Type: "SerializationException", Message: fmt.Sprintf("could not parse the request body: %v", err)}
	}
	return nil
}

// newUUID is a random version 4 UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// randomHex is n random hex digits.
func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// randomLetters is n random ASCII letters, as a secret ARN's suffix.
func randomLetters(n int) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	out := make([]byte, n)
	for i := range out {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(letters))))
		out[i] = letters[k.Int64()]
	}
	return string(out)
}

// sortedKeys is m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ms is t in epoch milliseconds, as Batch and CloudWatch Logs report time.
func ms(t time.Time) int64 { return t.UnixMilli() }
