package awstest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Batch job statuses.
const (
	statusSubmitted = "SUBMITTED"
	statusPending   = "PENDING"
	statusRunnable  = "RUNNABLE"
	statusStarting  = "STARTING"
	statusRunning   = "RUNNING"
	statusSucceeded = "SUCCEEDED"
	statusFailed    = "FAILED"
)

// Batch's statusReason texts.
const (
	// reasonEssential ends every job whose container exited by itself.
	reasonEssential = "Essential container in task exited"
	// reasonTimeout ends a job killed at its attemptDurationSeconds.
	reasonTimeout = "Job attempt duration exceeded timeout"
	// reasonStartFailed ends a job whose task could not start (image
	// pull, secrets); the detail is in container.reason.
	reasonStartFailed = "Task failed to start"
	// reasonNoCapacity is shown on RUNNABLE jobs while HoldRunnable.
	reasonNoCapacity = "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY - All compute environments have insufficient capacity to service the job."
)

// Batch limits.
const (
	maxDescribeJobs    = 100
	maxListJobs        = 1000 // with jobStatus or nothing
	maxListJobsFilter  = 100  // with a filter
	maxDescribeDefs    = 100
	maxTags            = 50
	maxReason          = 1024
	minAttemptDuration = 60
)

// validName applies SubmitJob's jobName rule (and the job definition
// name's): up to 128 letters, digits, hyphens and underscores, the first
// a letter or digit.
func validName(name string) bool {
	if len(name) < 1 || len(name) > 128 {
		return false
	}
	for i, c := range name {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_') {
			return false
		}
	}
	return true
}

// queue is a job queue.
type queue struct {
	name, arn string
}

// jobDef is one revision of a job definition.
type jobDef struct {
	name, arn     string
	revision      int
	image         string
	command       []string
	fargate       bool
	vcpu          string
	mem           int
	env           []kv
	secrets       []secretRef
	timeout       int64
	retryAttempts int
	propagateTags bool
	tags          map[string]string
	parameters    map[string]string
}

// kv is Batch's KeyValuePair.
type kv struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// secretRef is Batch's Secret: an environment variable from a secret.
type secretRef struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

// resourceReq is Batch's ResourceRequirement.
type resourceReq struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// job is one submitted job. Fields after createdAt change over its life
// and are guarded by Server.mu.
type job struct {
	seq           int64
	id, name, arn string
	queue         *queue
	def           *jobDef
	image         string
	command       []string
	env           []kv // definition env then overrides, as DescribeJobs shows
	vcpu          string
	mem           int
	gpu           string
	tags          map[string]string
	timeout       int64 // seconds; 0: none
	timeoutSet    bool  // the timeout came from SubmitJob or the definition
	attempts      int
	retrySet      bool
	propagateTags bool
	parameters    map[string]string
	createdAt     time.Time

	status, statusReason string
	startedAt, stoppedAt time.Time
	taskArn, logStream   string
	exitCode             *int
	reason               string // container.reason
	history              []attemptRec
	cancelled            bool
	terminated           bool
	termReason           string
	termCh               chan struct{} // closed by CancelJob/TerminateJob
	termRequested        bool
}

// attemptRec is one finished attempt (Batch's AttemptDetail).
type attemptRec struct {
	exitCode             *int
	reason               string
	logStream, taskArn   string
	statusReason         string
	startedAt, stoppedAt time.Time
}

// requestTerm asks j's goroutine to stop with reason; the caller holds
// s.mu.
func (j *job) requestTerm(reason string) {
	if j.termRequested {
		return
	}
	j.termRequested = true
	j.termReason = reason
	close(j.termCh)
}

// ---- registration (Go API) ----

// CreateJobQueue creates an ENABLED, VALID job queue and returns its ARN.
// Creating an existing name returns the existing queue's ARN.
func (s *Server) CreateJobQueue(name string) (arn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queues[name]; q != nil {
		return q.arn
	}
	q := &queue{name: name, arn: fmt.Sprintf("arn:aws:batch:%s:%s:job-queue/%s", s.cfg.Region, s.cfg.AccountID, name)}
	s.queues[name] = q
	return q.arn
}

// RegisterJobDefinition registers a new revision (1, 2, ...) of the
// container job definition d.Name and returns its ARN. An invalid
// definition fails the test.
func (s *Server) RegisterJobDefinition(d JobDefinition) (arn string) {
	s.t.Helper()
	def := &jobDef{
		name:          d.Name,
		image:         d.Image,
		command:       slices.Clone(d.Command),
		vcpu:          d.VCPU,
		mem:           d.MemoryMiB,
		timeout:       d.AttemptDurationSeconds,
		retryAttempts: 1,
	}
	switch d.Platform {
	case "", "EC2":
	case "FARGATE":
		def.fargate = true
	default:
		s.t.Fatalf("awstest: job definition %s: platform %q: want FARGATE or EC2", d.Name, d.Platform)
	}
	if def.vcpu == "" {
		def.vcpu = "1"
	}
	if def.mem == 0 {
		def.mem = 2048
	}
	for _, k := range sortedKeys(d.Env) {
		def.env = append(def.env, kv{k, d.Env[k]})
	}
	for _, k := range sortedKeys(d.Secrets) {
		def.secrets = append(def.secrets, secretRef{k, d.Secrets[k]})
	}
	if e := s.checkDef(def); e != nil {
		s.t.Fatalf("awstest: job definition %s: %s", d.Name, e.Message)
	}
	return s.addDef(def)
}

// checkDef validates a definition as RegisterJobDefinition does.
func (s *Server) checkDef(def *jobDef) *APIError {
	if !validName(def.name) {
		return clientError("Error executing request, Exception : Job definition name should match valid pattern, RequestId: %s", newUUID())
	}
	if def.image == "" {
		return clientError("Error executing request, Exception : Container properties should contain image, RequestId: %s", newUUID())
	}
	if def.timeout != 0 && def.timeout < minAttemptDuration {
		return clientError("Error executing request, Exception : timeout.attemptDurationSeconds must be at least %d seconds, RequestId: %s", minAttemptDuration, newUUID())
	}
	if _, err := strconv.ParseFloat(def.vcpu, 64); err != nil {
		return clientError("Error executing request, Exception : Invalid value for VCPU resource requirement: %s, RequestId: %s", def.vcpu, newUUID())
	}
	if def.fargate {
		if e := checkFargate(def.vcpu, def.mem); e != nil {
			return e
		}
	}
	return nil
}

// addDef stores the next revision of def.name.
func (s *Server) addDef(def *jobDef) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	def.revision = len(s.defs[def.name]) + 1
	def.arn = fmt.Sprintf("arn:aws:batch:%s:%s:job-definition/%s:%d", s.cfg.Region, s.cfg.AccountID, def.name, def.revision)
	s.defs[def.name] = append(s.defs[def.name], def)
	return def.arn
}

// ---- lookups (caller holds s.mu) ----

// findQueue resolves a queue name or ARN.
func (s *Server) findQueue(ref string) *queue {
	if q := s.queues[ref]; q != nil {
		return q
	}
	prefix := fmt.Sprintf("arn:aws:batch:%s:%s:job-queue/", s.cfg.Region, s.cfg.AccountID)
	if name, ok := strings.CutPrefix(ref, prefix); ok {
		return s.queues[name]
	}
	return nil
}

// findDef resolves name, name:revision or an ARN with or without the
// revision; without one, the latest revision.
func (s *Server) findDef(ref string) (*jobDef, *APIError) {
	prefix := fmt.Sprintf("arn:aws:batch:%s:%s:job-definition/", s.cfg.Region, s.cfg.AccountID)
	name, isARN := strings.CutPrefix(ref, prefix)
	if !isARN && strings.HasPrefix(ref, "arn:") {
		return nil, clientError("JobDefinition %s not found.", ref)
	}
	name, revStr, hasRev := strings.Cut(name, ":")
	revs := s.defs[name]
	if !hasRev {
		if len(revs) == 0 {
			if isARN {
				return nil, clientError("JobDefinition %s not found.", ref)
			}
			return nil, clientError("JobDefinition name %s does not exist or is not in ACTIVE status", ref)
		}
		return revs[len(revs)-1], nil
	}
	rev, err := strconv.Atoi(revStr)
	if err != nil || rev < 1 || rev > len(revs) {
		return nil, clientError("JobDefinition %s not found.", ref)
	}
	return revs[rev-1], nil
}

// ---- SubmitJob ----

type kvIn struct {
	Name  *string `json:"name"`
	Value *string `json:"value"`
}

type submitJobInput struct {
	JobName            string `json:"jobName"`
	JobQueue           string `json:"jobQueue"`
	JobDefinition      string `json:"jobDefinition"`
	ContainerOverrides *struct {
		Command              []string      `json:"command"`
		Environment          []kvIn        `json:"environment"`
		ResourceRequirements []resourceReq `json:"resourceRequirements"`
		Vcpus                *int32        `json:"vcpus"`
		Memory               *int32        `json:"memory"`
		InstanceType         *string       `json:"instanceType"`
	} `json:"containerOverrides"`
	Parameters map[string]string `json:"parameters"`
	Tags       map[string]string `json:"tags"`
	Timeout    *struct {
		AttemptDurationSeconds *int64 `json:"attemptDurationSeconds"`
	} `json:"timeout"`
	RetryStrategy *struct {
		Attempts       *int64            `json:"attempts"`
		EvaluateOnExit []json.RawMessage `json:"evaluateOnExit"`
	} `json:"retryStrategy"`
	PropagateTags                        *bool             `json:"propagateTags"`
	DependsOn                            []json.RawMessage `json:"dependsOn"`
	ArrayProperties                      json.RawMessage   `json:"arrayProperties"`
	NodeOverrides                        json.RawMessage   `json:"nodeOverrides"`
	EcsPropertiesOverride                json.RawMessage   `json:"ecsPropertiesOverride"`
	EksPropertiesOverride                json.RawMessage   `json:"eksPropertiesOverride"`
	ConsumableResourcePropertiesOverride json.RawMessage   `json:"consumableResourcePropertiesOverride"`
	ShareIdentifier                      *string           `json:"shareIdentifier"`
	SchedulingPriorityOverride           *int32            `json:"schedulingPriorityOverride"`
}

type submitJobOutput struct {
	JobArn  string `json:"jobArn"`
	JobName string `json:"jobName"`
	JobID   string `json:"jobId"`
}

func (s *Server) submitJob(body []byte) (any, *APIError) {
	var in submitJobInput
	if e := decode(body, &in, svcBatch); e != nil {
		return nil, e
	}
	if in.JobName == "" || in.JobQueue == "" || in.JobDefinition == "" {
		return nil, clientError("Error executing request, Exception : jobName, jobQueue and jobDefinition are required, RequestId: %s", newUUID())
	}
	if !validName(in.JobName) {
		return nil, clientError("Error executing request, Exception : Job name should match valid pattern, RequestId: %s", newUUID())
	}
	for field, set := range map[string]bool{
		"dependsOn":                            len(in.DependsOn) > 0,
		"arrayProperties":                      isSet(in.ArrayProperties),
		"nodeOverrides":                        isSet(in.NodeOverrides),
		"ecsPropertiesOverride":                isSet(in.EcsPropertiesOverride),
		"eksPropertiesOverride":                isSet(in.EksPropertiesOverride),
		"consumableResourcePropertiesOverride": isSet(in.ConsumableResourcePropertiesOverride),
		"shareIdentifier":                      in.ShareIdentifier != nil,
	} {
		if set {
			return nil, clientError("awstest: %s is not supported by this fake Batch", field)
		}
	}

	s.mu.Lock()
	q := s.findQueue(in.JobQueue)
	def, defErr := s.findDef(in.JobDefinition)
	s.mu.Unlock()
	if q == nil {
		return nil, clientError("JobQueue %s not found.", in.JobQueue)
	}
	if defErr != nil {
		return nil, defErr
	}

	j := &job{
		name:          in.JobName,
		queue:         q,
		def:           def,
		image:         def.image,
		command:       slices.Clone(def.command),
		vcpu:          def.vcpu,
		mem:           def.mem,
		timeout:       def.timeout,
		timeoutSet:    def.timeout > 0,
		attempts:      def.retryAttempts,
		propagateTags: def.propagateTags,
		parameters:    map[string]string{},
		tags:          map[string]string{},
	}
	for k, v := range def.parameters {
		j.parameters[k] = v
	}
	for k, v := range in.Parameters {
		j.parameters[k] = v
	}
	if in.Timeout != nil && in.Timeout.AttemptDurationSeconds != nil {
		t := *in.Timeout.AttemptDurationSeconds
		if t < minAttemptDuration {
			return nil, clientError("Error executing request, Exception : timeout.attemptDurationSeconds must be at least %d seconds, RequestId: %s", minAttemptDuration, newUUID())
		}
		j.timeout, j.timeoutSet = t, true
	}
	if in.RetryStrategy != nil {
		if in.RetryStrategy.Attempts == nil {
			if len(in.RetryStrategy.EvaluateOnExit) > 0 {
				return nil, clientError("Error executing request, Exception : retryStrategy.attempts is required with evaluateOnExit, RequestId: %s", newUUID())
			}
		} else {
			a := *in.RetryStrategy.Attempts
			if a < 1 || a > 10 {
				return nil, clientError("Error executing request, Exception : Retry strategy attempts must be between 1 and 10, RequestId: %s", newUUID())
			}
			j.attempts, j.retrySet = int(a), true
		}
	}
	if in.PropagateTags != nil {
		j.propagateTags = *in.PropagateTags
	}
	if e := checkTags(in.Tags); e != nil {
		return nil, e
	}
	for k, v := range in.Tags {
		j.tags[k] = v
	}

	env := map[string]string{}
	for _, e := range def.env {
		env[e.Name] = e.Value
	}
	order := make([]string, 0, len(def.env))
	for _, e := range def.env {
		order = append(order, e.Name)
	}
	if o := in.ContainerOverrides; o != nil {
		if o.InstanceType != nil {
			return nil, clientError("Error executing request, Exception : instanceType is not applicable to single-node container jobs, RequestId: %s", newUUID())
		}
		if o.Command != nil {
			for _, a := range o.Command {
				if a == "" {
					return nil, clientError("Error executing request, Exception : Container override command can't contain an empty string, RequestId: %s", newUUID())
				}
			}
			j.command = slices.Clone(o.Command)
		}
		for _, e := range o.Environment {
			if e.Name == nil || *e.Name == "" {
				return nil, clientError("Error executing request, Exception : Environment variable name is required, RequestId: %s", newUUID())
			}
			if strings.HasPrefix(*e.Name, "AWS_BATCH") {
				return nil, clientError("Error executing request, Exception : Environment variables cannot start with \"AWS_BATCH\": %s, RequestId: %s", *e.Name, newUUID())
			}
			if _, ok := env[*e.Name]; !ok {
				order = append(order, *e.Name)
			}
			env[*e.Name] = deref(e.Value)
		}
		if (o.Vcpus != nil || o.Memory != nil) && def.fargate {
			return nil, clientError("Error executing request, Exception : vcpus and memory overrides are not supported for jobs running on Fargate resources; use resourceRequirements, RequestId: %s", newUUID())
		}
		if o.Vcpus != nil {
			j.vcpu = strconv.Itoa(int(*o.Vcpus))
		}
		if o.Memory != nil {
			j.mem = int(*o.Memory)
		}
		for _, r := range o.ResourceRequirements {
			switch r.Type {
			case "VCPU":
				f, err := strconv.ParseFloat(r.Value, 64)
				if err != nil || f <= 0 {
					return nil, clientError("Error executing request, Exception : Invalid value %q for VCPU resource requirement, RequestId: %s", r.Value, newUUID())
				}
				j.vcpu = r.Value
			case "MEMORY":
				m, err := strconv.Atoi(r.Value)
				if err != nil || m < 4 {
					return nil, clientError("Error executing request, Exception : Invalid value %q for MEMORY resource requirement: at least 4 MiB, RequestId: %s", r.Value, newUUID())
				}
				j.mem = m
			case "GPU":
				g, err := strconv.Atoi(r.Value)
				if err != nil || g < 0 {
					return nil, clientError("Error executing request, Exception : Invalid value %q for GPU resource requirement, RequestId: %s", r.Value, newUUID())
				}
				if def.fargate {
					return nil, clientError("Error executing request, Exception : GPUs aren't available for jobs running on Fargate resources, RequestId: %s", newUUID())
				}
				j.gpu = r.Value
			default:
				return nil, clientError("Error executing request, Exception : Invalid resource requirement type %q: want VCPU, MEMORY or GPU, RequestId: %s", r.Type, newUUID())
			}
		}
	}
	if def.fargate {
		if e := checkFargate(j.vcpu, j.mem); e != nil {
			return nil, e
		}
	}
	for _, k := range order {
		j.env = append(j.env, kv{k, env[k]})
	}
	j.command = substituteParams(j.command, j.parameters)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, &APIError{500, "ServerException", "the server is stopping"}
	}
	s.seq++
	j.seq = s.seq
	j.id = newUUID()
	j.arn = fmt.Sprintf("arn:aws:batch:%s:%s:job/%s", s.cfg.Region, s.cfg.AccountID, j.id)
	j.createdAt = time.Now()
	j.status = statusSubmitted
	j.termCh = make(chan struct{})
	s.jobs[j.id] = j
	s.jobList = append(s.jobList, j)
	s.wg.Add(1)
	go s.lifecycle(j)
	return submitJobOutput{JobArn: j.arn, JobName: j.name, JobID: j.id}, nil
}

// isSet is whether an optional JSON member was given (and not null).
func isSet(m json.RawMessage) bool { return len(m) > 0 && string(m) != "null" }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// substituteParams replaces Ref::name placeholders in cmd, as Batch does
// with parameters.
func substituteParams(cmd []string, params map[string]string) []string {
	if len(params) == 0 {
		return cmd
	}
	out := make([]string, len(cmd))
	for i, a := range cmd {
		for k, v := range params {
			a = strings.ReplaceAll(a, "Ref::"+k, v)
		}
		out[i] = a
	}
	return out
}

// checkTags applies AWS's tag rules.
func checkTags(tags map[string]string) *APIError {
	if len(tags) > maxTags {
		return clientError("Error executing request, Exception : Number of tags exceeds the limit of %d, RequestId: %s", maxTags, newUUID())
	}
	for k, v := range tags {
		if len(k) < 1 || len(k) > 128 {
			return clientError("Error executing request, Exception : Tag key %q must be 1 to 128 characters long, RequestId: %s", k, newUUID())
		}
		if len(v) > 256 {
			return clientError("Error executing request, Exception : Tag value for key %q must be at most 256 characters long, RequestId: %s", k, newUUID())
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return clientError("Error executing request, Exception : Tag keys starting with 'aws:' are reserved for AWS use: %q, RequestId: %s", k, newUUID())
		}
	}
	return nil
}

// fargateMemory is Fargate's supported MEMORY values (MiB) for each VCPU
// value, from the ResourceRequirement documentation.
func fargateMemory(vcpu string) []int {
	span := func(from, to, step int) []int {
		var out []int
		for m := from; m <= to; m += step {
			out = append(out, m)
		}
		return out
	}
	switch vcpu {
	case "0.25":
		return []int{512, 1024, 2048}
	case "0.5":
		return span(1024, 4096, 1024)
	case "1":
		return span(2048, 8192, 1024)
	case "2":
		return span(4096, 16384, 1024)
	case "4":
		return span(8192, 30720, 1024)
	case "8":
		return span(16384, 61440, 4096)
	case "16":
		return span(32768, 122880, 8192)
	}
	return nil
}

// checkFargate checks a Fargate VCPU/MEMORY combination.
func checkFargate(vcpu string, mem int) *APIError {
	allowed := fargateMemory(vcpu)
	if allowed == nil {
		return clientError("Error executing request, Exception : Fargate resource requirements: VCPU %s is not supported; use 0.25, 0.5, 1, 2, 4, 8 or 16, RequestId: %s", vcpu, newUUID())
	}
	if !slices.Contains(allowed, mem) {
		return clientError("Error executing request, Exception : Fargate resource requirements: MEMORY %d is not supported with VCPU %s, RequestId: %s", mem, vcpu, newUUID())
	}
	return nil
}

// ---- DescribeJobs ----

type containerOut struct {
	Image                        string         `json:"image,omitempty"`
	Command                      []string       `json:"command"`
	Environment                  []kv           `json:"environment"`
	ResourceRequirements         []resourceReq  `json:"resourceRequirements,omitempty"`
	Secrets                      []secretRef    `json:"secrets,omitempty"`
	ExecutionRoleArn             string         `json:"executionRoleArn,omitempty"`
	JobRoleArn                   string         `json:"jobRoleArn,omitempty"`
	ExitCode                     *int           `json:"exitCode,omitempty"`
	Reason                       string         `json:"reason,omitempty"`
	LogStreamName                string         `json:"logStreamName,omitempty"`
	TaskArn                      string         `json:"taskArn,omitempty"`
	LogConfiguration             *logConfigOut  `json:"logConfiguration,omitempty"`
	NetworkConfiguration         map[string]any `json:"networkConfiguration,omitempty"`
	FargatePlatformConfiguration map[string]any `json:"fargatePlatformConfiguration,omitempty"`
}

type logConfigOut struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options,omitempty"`
}

type attemptContainerOut struct {
	ExitCode      *int   `json:"exitCode,omitempty"`
	Reason        string `json:"reason,omitempty"`
	LogStreamName string `json:"logStreamName,omitempty"`
	TaskArn       string `json:"taskArn,omitempty"`
}

type attemptOut struct {
	Container    attemptContainerOut `json:"container"`
	StartedAt    *int64              `json:"startedAt,omitempty"`
	StoppedAt    *int64              `json:"stoppedAt,omitempty"`
	StatusReason string              `json:"statusReason,omitempty"`
}

type timeoutOut struct {
	AttemptDurationSeconds int64 `json:"attemptDurationSeconds"`
}

type retryOut struct {
	Attempts       int   `json:"attempts"`
	EvaluateOnExit []any `json:"evaluateOnExit"`
}

type jobDetailOut struct {
	JobArn               string            `json:"jobArn"`
	JobName              string            `json:"jobName"`
	JobID                string            `json:"jobId"`
	JobQueue             string            `json:"jobQueue"`
	Status               string            `json:"status"`
	StatusReason         string            `json:"statusReason,omitempty"`
	CreatedAt            int64             `json:"createdAt"`
	StartedAt            *int64            `json:"startedAt,omitempty"`
	StoppedAt            *int64            `json:"stoppedAt,omitempty"`
	JobDefinition        string            `json:"jobDefinition"`
	Parameters           map[string]string `json:"parameters"`
	Container            containerOut      `json:"container"`
	Attempts             []attemptOut      `json:"attempts"`
	DependsOn            []any             `json:"dependsOn"`
	Tags                 map[string]string `json:"tags,omitempty"`
	Timeout              *timeoutOut       `json:"timeout,omitempty"`
	RetryStrategy        *retryOut         `json:"retryStrategy,omitempty"`
	PropagateTags        bool              `json:"propagateTags"`
	PlatformCapabilities []string          `json:"platformCapabilities"`
	IsCancelled          *bool             `json:"isCancelled,omitempty"`
	IsTerminated         *bool             `json:"isTerminated,omitempty"`
}

// msPtr is t in epoch ms, nil if t is zero.
func msPtr(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	v := ms(t)
	return &v
}

func intPtr(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func platform(fargate bool) []string {
	if fargate {
		return []string{"FARGATE"}
	}
	return []string{"EC2"}
}

// resources is a job's or definition's resourceRequirements.
func resources(vcpu string, mem int, gpu string) []resourceReq {
	rr := []resourceReq{{"VCPU", vcpu}, {"MEMORY", strconv.Itoa(mem)}}
	if gpu != "" && gpu != "0" {
		rr = append(rr, resourceReq{"GPU", gpu})
	}
	return rr
}

// fargateNetwork is the Fargate-only container settings Batch reports.
func fargateNetwork(fargate bool) (map[string]any, map[string]any) {
	if !fargate {
		return nil, nil
	}
	return map[string]any{"assignPublicIp": "DISABLED"}, map[string]any{"platformVersion": "LATEST"}
}

// detail renders j as DescribeJobs does; the caller holds s.mu.
func (s *Server) detail(j *job) jobDetailOut {
	net, fpc := fargateNetwork(j.def.fargate)
	d := jobDetailOut{
		JobArn:        j.arn,
		JobName:       j.name,
		JobID:         j.id,
		JobQueue:      j.queue.arn,
		Status:        j.status,
		StatusReason:  j.statusReason,
		CreatedAt:     ms(j.createdAt),
		StartedAt:     msPtr(j.startedAt),
		StoppedAt:     msPtr(j.stoppedAt),
		JobDefinition: j.def.arn,
		Parameters:    j.parameters,
		Container: containerOut{
			Image:                        j.image,
			Command:                      j.command,
			Environment:                  j.env,
			ResourceRequirements:         resources(j.vcpu, j.mem, j.gpu),
			Secrets:                      j.def.secrets,
			ExecutionRoleArn:             s.execRole,
			JobRoleArn:                   s.roleArn,
			ExitCode:                     intPtr(j.exitCode),
			Reason:                       j.reason,
			LogStreamName:                j.logStream,
			TaskArn:                      j.taskArn,
			LogConfiguration:             &logConfigOut{LogDriver: "awslogs"},
			NetworkConfiguration:         net,
			FargatePlatformConfiguration: fpc,
		},
		Attempts:             []attemptOut{},
		DependsOn:            []any{},
		PropagateTags:        j.propagateTags,
		PlatformCapabilities: platform(j.def.fargate),
	}
	if d.Container.Command == nil {
		d.Container.Command = []string{}
	}
	if d.Container.Environment == nil {
		d.Container.Environment = []kv{}
	}
	if len(j.tags) > 0 {
		d.Tags = j.tags
	}
	if j.timeoutSet {
		d.Timeout = &timeoutOut{AttemptDurationSeconds: j.timeout}
	}
	if j.retrySet {
		d.RetryStrategy = &retryOut{Attempts: j.attempts, EvaluateOnExit: []any{}}
	}
	if j.cancelled {
		d.IsCancelled = &j.cancelled
	}
	if j.terminated {
		d.IsTerminated = &j.terminated
	}
	for _, a := range j.history {
		d.Attempts = append(d.Attempts, attemptOut{
			Container: attemptContainerOut{
				ExitCode:      intPtr(a.exitCode),
				Reason:        a.reason,
				LogStreamName: a.logStream,
				TaskArn:       a.taskArn,
			},
			StartedAt:    msPtr(a.startedAt),
			StoppedAt:    msPtr(a.stoppedAt),
			StatusReason: a.statusReason,
		})
	}
	return d
}

func (s *Server) describeJobs(body []byte) (any, *APIError) {
	var in struct {
		Jobs []string `json:"jobs"`
	}
	if e := decode(body, &in, svcBatch); e != nil {
		return nil, e
	}
	if len(in.Jobs) > maxDescribeJobs {
		return nil, clientError("Error executing request, Exception : Maximum number of jobs supported is  %d ., RequestId: %s", maxDescribeJobs, newUUID())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := struct {
		Jobs []jobDetailOut `json:"jobs"`
	}{Jobs: []jobDetailOut{}}
	seen := map[string]bool{}
	for _, id := range in.Jobs {
		j := s.jobs[id]
		if j == nil {
			// An ARN names a job too.
			if rest, ok := strings.CutPrefix(id, fmt.Sprintf("arn:aws:batch:%s:%s:job/", s.cfg.Region, s.cfg.AccountID)); ok {
				j = s.jobs[rest]
			}
		}
		if j == nil || seen[j.id] {
			continue
		}
		seen[j.id] = true
		out.Jobs = append(out.Jobs, s.detail(j))
	}
	return out, nil
}

// ---- ListJobs ----

type listJobsInput struct {
	JobQueue       string `json:"jobQueue"`
	JobStatus      string `json:"jobStatus"`
	ArrayJobID     string `json:"arrayJobId"`
	MultiNodeJobID string `json:"multiNodeJobId"`
	Filters        []struct {
		Name   string   `json:"name"`
		Values []string `json:"values"`
	} `json:"filters"`
	MaxResults *int   `json:"maxResults"`
	NextToken  string `json:"nextToken"`
}

type containerSummaryOut struct {
	ExitCode *int   `json:"exitCode,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

type jobSummaryOut struct {
	JobArn        string               `json:"jobArn"`
	JobID         string               `json:"jobId"`
	JobName       string               `json:"jobName"`
	CreatedAt     int64                `json:"createdAt"`
	Status        string               `json:"status"`
	StatusReason  string               `json:"statusReason,omitempty"`
	StartedAt     *int64               `json:"startedAt,omitempty"`
	StoppedAt     *int64               `json:"stoppedAt,omitempty"`
	Container     *containerSummaryOut `json:"container,omitempty"`
	JobDefinition string               `json:"jobDefinition"`
}

// listToken is ListJobs' nextToken: the sequence number of the last job
// returned, so that a page never repeats or skips a job when new ones
// are submitted between calls.
type listToken struct {
	Seq   int64  `json:"s"`
	Query string `json:"q"`
}

func (s *Server) listJobs(body []byte) (any, *APIError) {
	var in listJobsInput
	if e := decode(body, &in, svcBatch); e != nil {
		return nil, e
	}
	if in.ArrayJobID != "" || in.MultiNodeJobID != "" {
		return nil, clientError("awstest: arrayJobId and multiNodeJobId are not supported by this fake Batch")
	}
	if in.JobQueue == "" {
		return nil, clientError("Error executing request, Exception : jobQueue, arrayJobId or multiNodeJobId is required, RequestId: %s", newUUID())
	}
	limit := maxListJobs
	var match func(j *job) bool
	switch len(in.Filters) {
	case 0:
		status := in.JobStatus
		if status == "" {
			status = statusRunning
		}
		if !slices.Contains([]string{statusSubmitted, statusPending, statusRunnable, statusStarting, statusRunning, statusSucceeded, statusFailed}, status) {
			return nil, clientError("Error executing request, Exception : Invalid job status %s, RequestId: %s", status, newUUID())
		}
		match = func(j *job) bool { return j.status == status }
	case 1:
		limit = maxListJobsFilter
		f := in.Filters[0]
		if len(f.Values) != 1 {
			return nil, clientError("Error executing request, Exception : Filter %s takes exactly one value, RequestId: %s", f.Name, newUUID())
		}
		var err *APIError
		match, err = s.filter(f.Name, f.Values[0])
		if err != nil {
			return nil, err
		}
	default:
		return nil, clientError("Error executing request, Exception : Only one filter can be used at a time, RequestId: %s", newUUID())
	}
	if in.MaxResults != nil {
		if *in.MaxResults < 1 {
			return nil, clientError("Error executing request, Exception : maxResults must be at least 1, RequestId: %s", newUUID())
		}
		limit = min(limit, *in.MaxResults)
	}
	query := fmt.Sprintf("%s|%s|%v", in.JobQueue, in.JobStatus, in.Filters)
	after := int64(-1)
	if in.NextToken != "" {
		raw, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		var tok listToken
		if err != nil || json.Unmarshal(raw, &tok) != nil || tok.Query != query {
			return nil, clientError("Error executing request, Exception : Invalid nextToken, RequestId: %s", newUUID())
		}
		after = tok.Seq
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.findQueue(in.JobQueue)
	if q == nil {
		return nil, clientError("JobQueue %s not found.", in.JobQueue)
	}
	out := struct {
		JobSummaryList []jobSummaryOut `json:"jobSummaryList"`
		NextToken      string          `json:"nextToken,omitempty"`
	}{JobSummaryList: []jobSummaryOut{}}
	for i := len(s.jobList) - 1; i >= 0; i-- { // newest first
		j := s.jobList[i]
		if after >= 0 && j.seq >= after {
			continue
		}
		if j.queue != q || !match(j) {
			continue
		}
		if len(out.JobSummaryList) == limit {
			last := out.JobSummaryList[limit-1]
			b, _ := json.Marshal(listToken{Seq: s.jobs[last.JobID].seq, Query: query})
			out.NextToken = base64.RawURLEncoding.EncodeToString(b)
			break
		}
		sum := jobSummaryOut{
			JobArn:        j.arn,
			JobID:         j.id,
			JobName:       j.name,
			CreatedAt:     ms(j.createdAt),
			Status:        j.status,
			StatusReason:  j.statusReason,
			StartedAt:     msPtr(j.startedAt),
			StoppedAt:     msPtr(j.stoppedAt),
			JobDefinition: j.def.arn,
		}
		if j.exitCode != nil || j.reason != "" {
			sum.Container = &containerSummaryOut{ExitCode: intPtr(j.exitCode), Reason: j.reason}
		}
		out.JobSummaryList = append(out.JobSummaryList, sum)
	}
	return out, nil
}

// filter is ListJobs' filter name=value as a predicate; the caller does
// not hold s.mu, the predicate is called with it held.
func (s *Server) filter(name, value string) (func(*job) bool, *APIError) {
	switch name {
	case "JOB_NAME":
		// Case-insensitive; a trailing * matches a prefix.
		v := strings.ToLower(value)
		if p, ok := strings.CutSuffix(v, "*"); ok {
			return func(j *job) bool { return strings.HasPrefix(strings.ToLower(j.name), p) }, nil
		}
		return func(j *job) bool { return strings.ToLower(j.name) == v }, nil
	case "JOB_DEFINITION":
		// Case-sensitive; a name matches every revision, an ARN its own,
		// a trailing * (not with an ARN) a name prefix.
		if strings.HasPrefix(value, "arn:") {
			return func(j *job) bool { return j.def.arn == value }, nil
		}
		if p, ok := strings.CutSuffix(value, "*"); ok {
			return func(j *job) bool { return strings.HasPrefix(j.def.name, p) }, nil
		}
		return func(j *job) bool { return j.def.name == value }, nil
	case "BEFORE_CREATED_AT", "AFTER_CREATED_AT":
		t, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return nil, clientError("Error executing request, Exception : Filter %s wants epoch milliseconds, got %q, RequestId: %s", name, value, newUUID())
		}
		if name == "BEFORE_CREATED_AT" {
			return func(j *job) bool { return ms(j.createdAt) < t }, nil
		}
		return func(j *job) bool { return ms(j.createdAt) > t }, nil
	}
	return nil, clientError("Error executing request, Exception : Invalid filter name %s, RequestId: %s", name, newUUID())
}

// ---- CancelJob, TerminateJob ----

type stopJobInput struct {
	JobID  string `json:"jobId"`
	Reason string `json:"reason"`
}

// stopJob is CancelJob (terminate false) and TerminateJob. Both fail a
// job that has not reached STARTING; only TerminateJob ends a STARTING or
// RUNNING one (CancelJob succeeds without effect, as Batch documents);
// finished jobs are left alone. An unknown job id answers 200 {}, as
// Batch does (aws/aws-cli#2551).
func (s *Server) stopJob(body []byte, terminate bool) (any, *APIError) {
	var in stopJobInput
	if e := decode(body, &in, svcBatch); e != nil {
		return nil, e
	}
	if in.JobID == "" {
		return nil, clientError("Error executing request, Exception : jobId is required, RequestId: %s", newUUID())
	}
	if in.Reason == "" {
		return nil, clientError("Error executing request, Exception : reason is required, RequestId: %s", newUUID())
	}
	if len(in.Reason) > maxReason {
		return nil, clientError("Error executing request, Exception : reason is limited to %d characters, RequestId: %s", maxReason, newUUID())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.jobs[in.JobID]
	if j == nil {
		return struct{}{}, nil
	}
	switch j.status {
	case statusSubmitted, statusPending, statusRunnable:
		j.status = statusFailed
		j.statusReason = in.Reason
		j.cancelled = true
		j.requestTerm(in.Reason)
	case statusStarting, statusRunning:
		if terminate {
			j.terminated = true
			j.requestTerm(in.Reason)
		}
	}
	return struct{}{}, nil
}

// ---- job definitions and queues ----

type containerPropsOut struct {
	Image                        string         `json:"image"`
	Command                      []string       `json:"command"`
	Environment                  []kv           `json:"environment"`
	ResourceRequirements         []resourceReq  `json:"resourceRequirements"`
	Secrets                      []secretRef    `json:"secrets"`
	ExecutionRoleArn             string         `json:"executionRoleArn"`
	JobRoleArn                   string         `json:"jobRoleArn"`
	LogConfiguration             logConfigOut   `json:"logConfiguration"`
	Volumes                      []any          `json:"volumes"`
	MountPoints                  []any          `json:"mountPoints"`
	Ulimits                      []any          `json:"ulimits"`
	NetworkConfiguration         map[string]any `json:"networkConfiguration,omitempty"`
	FargatePlatformConfiguration map[string]any `json:"fargatePlatformConfiguration,omitempty"`
}

type jobDefOut struct {
	JobDefinitionName    string            `json:"jobDefinitionName"`
	JobDefinitionArn     string            `json:"jobDefinitionArn"`
	Revision             int               `json:"revision"`
	Status               string            `json:"status"`
	Type                 string            `json:"type"`
	Parameters           map[string]string `json:"parameters"`
	PlatformCapabilities []string          `json:"platformCapabilities"`
	ContainerProperties  containerPropsOut `json:"containerProperties"`
	Timeout              *timeoutOut       `json:"timeout,omitempty"`
	RetryStrategy        *retryOut         `json:"retryStrategy,omitempty"`
	PropagateTags        bool              `json:"propagateTags"`
	Tags                 map[string]string `json:"tags"`
	ContainerOrchestType string            `json:"containerOrchestrationType"`
}

// defOut renders d as DescribeJobDefinitions does.
func (s *Server) defOut(d *jobDef) jobDefOut {
	net, fpc := fargateNetwork(d.fargate)
	o := jobDefOut{
		JobDefinitionName:    d.name,
		JobDefinitionArn:     d.arn,
		Revision:             d.revision,
		Status:               "ACTIVE",
		Type:                 "container",
		Parameters:           map[string]string{},
		PlatformCapabilities: platform(d.fargate),
		ContainerProperties: containerPropsOut{
			Image:                        d.image,
			Command:                      d.command,
			Environment:                  d.env,
			ResourceRequirements:         resources(d.vcpu, d.mem, ""),
			Secrets:                      d.secrets,
			ExecutionRoleArn:             s.execRole,
			JobRoleArn:                   s.roleArn,
			LogConfiguration:             logConfigOut{LogDriver: "awslogs"},
			Volumes:                      []any{},
			MountPoints:                  []any{},
			Ulimits:                      []any{},
			NetworkConfiguration:         net,
			FargatePlatformConfiguration: fpc,
		},
		PropagateTags:        d.propagateTags,
		Tags:                 map[string]string{},
		ContainerOrchestType: "ECS",
	}
	for k, v := range d.parameters {
		o.Parameters[k] = v
	}
	for k, v := range d.tags {
		o.Tags[k] = v
	}
	if o.ContainerProperties.Command == nil {
		o.ContainerProperties.Command = []string{}
	}
	if o.ContainerProperties.Environment == nil {
		o.ContainerProperties.Environment = []kv{}
	}
	if o.ContainerProperties.Secrets == nil {
		o.ContainerProperties.Secrets = []secretRef{}
	}
	if d.timeout > 0 {
		o.Timeout = &timeoutOut{AttemptDurationSeconds: d.timeout}
	}
	if d.retryAttempts > 1 {
		o.RetryStrategy = &retryOut{Attempts: d.retryAttempts, EvaluateOnExit: []any{}}
	}
	return o
}

func (s *Server) describeJobDefinitions(body []byte) (any, *APIError) {
	var in struct {
		JobDefinitions    []string `json:"jobDefinitions"`
		JobDefinitionName string   `json:"jobDefinitionName"`
		Status            string   `json:"status"`
		MaxResults        *int     `json:"maxResults"`
		NextToken         string   `json:"nextToken"`
	}
	if e := decode(body, &in, svcBatch); e != nil {
		return nil, e
	}
	if len(in.JobDefinitions) > 0 && (in.JobDefinitionName != "" || in.Status != "") {
		return nil, clientError("Error executing request, Exception : jobDefinitions can't be used with other parameters, RequestId: %s", newUUID())
	}
	if len(in.JobDefinitions) > maxDescribeDefs {
		return nil, clientError("Error executing request, Exception : Maximum number of job definitions supported is %d, RequestId: %s", maxDescribeDefs, newUUID())
	}
	limit := maxDescribeDefs
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > maxDescribeDefs {
			return nil, clientError("Error executing request, Exception : maxResults must be between 1 and %d, RequestId: %s", maxDescribeDefs, newUUID())
		}
		limit = *in.MaxResults
	}
	offset := 0
	if in.NextToken != "" {
		n, err := strconv.Atoi(in.NextToken)
		if err != nil || n < 0 {
			return nil, clientError("Error executing request, Exception : Invalid nextToken, RequestId: %s", newUUID())
		}
		offset = n
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	var found []*jobDef
	switch {
	case len(in.JobDefinitions) > 0:
		prefix := fmt.Sprintf("arn:aws:batch:%s:%s:job-definition/", s.cfg.Region, s.cfg.AccountID)
		for _, ref := range in.JobDefinitions {
			rest, isARN := strings.CutPrefix(ref, prefix)
			if !isARN && strings.HasPrefix(ref, "arn:") {
				continue // another account, region or partition
			}
			name, revStr, hasRev := strings.Cut(rest, ":")
			revs := s.defs[name]
			if !hasRev {
				found = append(found, revs...) // every revision
				continue
			}
			if rev, err := strconv.Atoi(revStr); err == nil && rev >= 1 && rev <= len(revs) {
				found = append(found, revs[rev-1])
			}
		}
	case in.JobDefinitionName != "":
		found = append(found, s.defs[in.JobDefinitionName]...)
	default:
		for _, name := range sortedKeys(s.defs) {
			found = append(found, s.defs[name]...)
		}
	}
	if in.Status != "" && in.Status != "ACTIVE" {
		found = nil // every definition here is ACTIVE
	}
	out := struct {
		JobDefinitions []jobDefOut `json:"jobDefinitions"`
		NextToken      string      `json:"nextToken,omitempty"`
	}{JobDefinitions: []jobDefOut{}}
	for i := offset; i < len(found); i++ {
		if len(out.JobDefinitions) == limit {
			out.NextToken = strconv.Itoa(i)
			break
		}
		out.JobDefinitions = append(out.JobDefinitions, s.defOut(found[i]))
	}
	return out, nil
}

func (s *Server) describeJobQueues(body []byte) (any, *APIError) {
	var in struct {
		JobQueues  []string `json:"jobQueues"`
		MaxResults *int     `json:"maxResults"`
		NextToken  string   `json:"nextToken"`
	}
	if e := decode(body, &in, svcBatch); e != nil {
		return nil, e
	}
	type ceOrder struct {
		Order              int    `json:"order"`
		ComputeEnvironment string `json:"computeEnvironment"`
	}
	type queueOut struct {
		JobQueueName            string            `json:"jobQueueName"`
		JobQueueArn             string            `json:"jobQueueArn"`
		State                   string            `json:"state"`
		Status                  string            `json:"status"`
		StatusReason            string            `json:"statusReason"`
		Priority                int               `json:"priority"`
		JobQueueType            string            `json:"jobQueueType"`
		ComputeEnvironmentOrder []ceOrder         `json:"computeEnvironmentOrder"`
		Tags                    map[string]string `json:"tags"`
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var qs []*queue
	if len(in.JobQueues) > 0 {
		for _, ref := range in.JobQueues {
			if q := s.findQueue(ref); q != nil {
				qs = append(qs, q)
			}
		}
	} else {
		for _, name := range sortedKeys(s.queues) {
			qs = append(qs, s.queues[name])
		}
	}
	out := struct {
		JobQueues []queueOut `json:"jobQueues"`
	}{JobQueues: []queueOut{}}
	ce := fmt.Sprintf("arn:aws:batch:%s:%s:compute-environment/%s", s.cfg.Region, s.cfg.AccountID, s.ceName)
	for _, q := range qs {
		out.JobQueues = append(out.JobQueues, queueOut{
			JobQueueName:            q.name,
			JobQueueArn:             q.arn,
			State:                   "ENABLED",
			Status:                  "VALID",
			StatusReason:            "JobQueue Healthy",
			Priority:                1,
			JobQueueType:            "ECS",
			ComputeEnvironmentOrder: []ceOrder{{Order: 1, ComputeEnvironment: ce}},
			Tags:                    map[string]string{},
		})
	}
	return out, nil
}

// registerJobDefinitionOp is the RegisterJobDefinition API, for container
// definitions.
func (s *Server) registerJobDefinitionOp(body []byte) (any, *APIError) {
	var in struct {
		JobDefinitionName   string            `json:"jobDefinitionName"`
		Type                string            `json:"type"`
		Parameters          map[string]string `json:"parameters"`
		ContainerProperties *struct {
			Image                string        `json:"image"`
			Command              []string      `json:"command"`
			Environment          []kvIn        `json:"environment"`
			ResourceRequirements []resourceReq `json:"resourceRequirements"`
			Secrets              []secretRef   `json:"secrets"`
			Vcpus                *int32        `json:"vcpus"`
			Memory               *int32        `json:"memory"`
		} `json:"containerProperties"`
		PlatformCapabilities []string `json:"platformCapabilities"`
		Timeout              *struct {
			AttemptDurationSeconds int64 `json:"attemptDurationSeconds"`
		} `json:"timeout"`
		RetryStrategy *struct {
			Attempts int `json:"attempts"`
		} `json:"retryStrategy"`
		PropagateTags bool              `json:"propagateTags"`
		Tags          map[string]string `json:"tags"`
	}
	if e := decode(body, &in, svcBatch); e != nil {
		return nil, e
	}
	if in.Type != "container" {
		return nil, clientError("awstest: only container job definitions are supported by this fake Batch, got type %q", in.Type)
	}
	cp := in.ContainerProperties
	if cp == nil {
		return nil, clientError("Error executing request, Exception : containerProperties is required for a container job definition, RequestId: %s", newUUID())
	}
	def := &jobDef{
		name:          in.JobDefinitionName,
		image:         cp.Image,
		command:       cp.Command,
		secrets:       cp.Secrets,
		retryAttempts: 1,
		propagateTags: in.PropagateTags,
		tags:          in.Tags,
		parameters:    in.Parameters,
	}
	for _, p := range in.PlatformCapabilities {
		switch p {
		case "FARGATE":
			def.fargate = true
		case "EC2":
		default:
			return nil, clientError("Error executing request, Exception : Invalid platform capability %s, RequestId: %s", p, newUUID())
		}
	}
	for _, e := range cp.Environment {
		if e.Name == nil || *e.Name == "" {
			return nil, clientError("Error executing request, Exception : Environment variable name is required, RequestId: %s", newUUID())
		}
		if strings.HasPrefix(*e.Name, "AWS_BATCH") {
			return nil, clientError("Error executing request, Exception : Environment variables cannot start with \"AWS_BATCH\": %s, RequestId: %s", *e.Name, newUUID())
		}
		def.env = append(def.env, kv{*e.Name, deref(e.Value)})
	}
	if cp.Vcpus != nil {
		def.vcpu = strconv.Itoa(int(*cp.Vcpus))
	}
	if cp.Memory != nil {
		def.mem = int(*cp.Memory)
	}
	for _, r := range cp.ResourceRequirements {
		switch r.Type {
		case "VCPU":
			def.vcpu = r.Value
		case "MEMORY":
			m, err := strconv.Atoi(r.Value)
			if err != nil {
				return nil, clientError("Error executing request, Exception : Invalid value %q for MEMORY resource requirement, RequestId: %s", r.Value, newUUID())
			}
			def.mem = m
		case "GPU":
		default:
			return nil, clientError("Error executing request, Exception : Invalid resource requirement type %q, RequestId: %s", r.Type, newUUID())
		}
	}
	if def.vcpu == "" || def.mem == 0 {
		return nil, clientError("Error executing request, Exception : VCPU and MEMORY resource requirements are required, RequestId: %s", newUUID())
	}
	if in.Timeout != nil {
		def.timeout = in.Timeout.AttemptDurationSeconds
	}
	if in.RetryStrategy != nil {
		if in.RetryStrategy.Attempts < 1 || in.RetryStrategy.Attempts > 10 {
			return nil, clientError("Error executing request, Exception : Retry strategy attempts must be between 1 and 10, RequestId: %s", newUUID())
		}
		def.retryAttempts = in.RetryStrategy.Attempts
	}
	if e := checkTags(in.Tags); e != nil {
		return nil, e
	}
	if e := s.checkDef(def); e != nil {
		return nil, e
	}
	arn := s.addDef(def)
	return struct {
		JobDefinitionName string `json:"jobDefinitionName"`
		JobDefinitionArn  string `json:"jobDefinitionArn"`
		Revision          int    `json:"revision"`
	}{def.name, arn, def.revision}, nil
}
