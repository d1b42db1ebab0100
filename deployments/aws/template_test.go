package aws_test

// The CloudFormation template is tested without an AWS account. It is
// parsed with its short-form tags (!Ref, !If, ...), checked against a
// subset of the CloudFormation resource specification
// (testdata/schema.json: every property name, nested property types,
// required properties, enums, GetAtt attributes), its references and
// conditions resolved, and then rendered for several parameter sets
// (Fargate, Fargate Spot, EC2, Spot; with and without secrets) as
// CloudFormation would, to check what it promises jetrun: one attempt per
// job, a timeout, secrets only as references under the names the worker
// reads, least privilege, a valid Fargate size. A table of broken
// templates shows that each check can fail. cfn-lint, when it is
// installed, lints the template too.

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/natsconn"
	"github.com/jetrun/jetrun/pkg/qdrantstore"
)

const templateFile = "jetrun-batch.yaml"

// The worker image's user (deployments/docker/Dockerfile: USER 65532).
const workerUID = "65532"

// definitionSecrets are the secrets the job definition may declare: the
// worker's variable and the parameter holding the secret's ARN. The names
// are the ones the worker reads.
var definitionSecrets = []struct{ env, param string }{
	{natsconn.EnvPassword, "NatsPasswordSecretArn"},
	{jobs.EnvEmbedAPIKey, "EmbedApiKeySecretArn"},
	{jobs.EnvGitToken, "GitTokenSecretArn"},
	{qdrantstore.EnvAPIKey, "QdrantApiKeySecretArn"},
}

// plainEnv is the job definition's plain environment: variable →
// parameter.
var plainEnv = map[string]string{
	natsconn.EnvURL:     "NatsUrl",
	natsconn.EnvUser:    "NatsUser",
	qdrantstore.EnvHost: "QdrantHost",
	qdrantstore.EnvPort: "QdrantPort",
}

// secretName matches variable names that hold secrets.
var secretName = regexp.MustCompile(`PASSWORD|TOKEN|SECRET|API_KEY|NKEY|CREDS|CREDENTIAL_[A-Z0-9_]+$`)

// fargateMemory is every vCPU and memory (MiB) pair Fargate runs (Batch
// API Reference, ResourceRequirement:
// https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html).
var fargateMemory = map[string][]int{
	"0.25": {512, 1024, 2048},
	"0.5":  steps(1024, 4096, 1024),
	"1":    steps(2048, 8192, 1024),
	"2":    steps(4096, 16384, 1024),
	"4":    steps(8192, 30720, 1024),
	"8":    steps(16384, 61440, 4096),
	"16":   steps(32768, 122880, 8192),
}

func steps(from, to, by int) []int {
	var s []int
	for m := from; m <= to; m += by {
		s = append(s, m)
	}
	return s
}

// fargateForbidden are the ComputeResources members Fargate compute
// environments must not have
// (https://docs.aws.amazon.com/batch/latest/userguide/fargate-compute-environments.html).
var fargateForbidden = []string{"AllocationStrategy", "BidPercentage", "DesiredvCpus", "ImageId", "InstanceTypes",
	"Ec2Configuration", "Ec2KeyPair", "InstanceRole", "LaunchTemplate", "MinvCpus", "PlacementGroup", "SpotIamFleetRole", "Tags"}

// runnableReasons are the statusReason values a job queue's
// jobStateTimeLimitActions act on for ECS and Fargate compute environments
// (https://docs.aws.amazon.com/batch/latest/userguide/job_stuck_in_runnable.html).
var runnableReasons = []string{"CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY", "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE", "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT"}

// Values of the pseudo parameters when rendering.
var pseudoValues = map[string]any{
	"AWS::AccountId":        "123456789012",
	"AWS::Region":           "us-east-1",
	"AWS::Partition":        "aws",
	"AWS::URLSuffix":        "amazonaws.com",
	"AWS::StackName":        "jetrun",
	"AWS::StackId":          "arn:aws:cloudformation:us-east-1:123456789012:stack/jetrun/0",
	"AWS::NotificationARNs": []any{},
}

const (
	secretNATS  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:jetrun/nats-AbCdEf"
	secretEmbed = "arn:aws:secretsmanager:us-east-1:123456789012:secret:jetrun/embed-GhIjKl"
	secretGit   = "arn:aws:secretsmanager:us-east-1:123456789012:secret:jetrun/git-MnOpQr"
	secretQd    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:jetrun/qdrant-StUvWx"
	secretOther = "arn:aws:secretsmanager:us-east-1:123456789012:secret:jetrun/gitlab-YzAbCd"
	paramGit    = "arn:aws:ssm:us-east-1:123456789012:parameter/jetrun/git-token"
	kmsKey      = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	digestImage = "210987654321.dkr.ecr.eu-west-1.amazonaws.com/team/jetrun-worker@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

// baseParams are the required parameters of every scenario.
var baseParams = map[string]string{
	"VpcId":       "vpc-0123456789abcdef0",
	"SubnetIds":   "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
	"WorkerImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/jetrun/worker:v0.1.0",
	"NatsUrl":     "nats://nats.internal:4222",
	"QdrantHost":  "qdrant.internal",
}

// scenarios are the parameter sets the template is rendered with.
var scenarios = []struct {
	name   string
	params map[string]string
}{
	{"fargate-defaults", nil},
	{"fargate-spot-all-secrets", map[string]string{
		"ComputeType": "FARGATE_SPOT", "SecurityGroupIds": "sg-0123456789abcdef0,sg-0fedcba9876543210", "AssignPublicIp": "ENABLED",
		"WorkerImage": digestImage, "WorkerVcpu": "2", "WorkerMemory": "4096", "NatsUser": "jetrun",
		"NatsPasswordSecretArn": secretNATS, "EmbedApiKeySecretArn": secretEmbed, "GitTokenSecretArn": secretGit, "QdrantApiKeySecretArn": secretQd,
		"WorkerSecretArns": secretOther, "WorkerParameterArns": paramGit, "SecretsKmsKeyArn": kmsKey,
	}},
	{"ec2-two-secrets", map[string]string{
		"ComputeType": "EC2", "InstanceTypes": "c6i,m6i", "WorkerVcpu": "2", "WorkerMemory": "4096",
		"NatsPasswordSecretArn": secretNATS, "GitTokenSecretArn": secretGit,
	}},
	{"spot-worker-fetched-secrets", map[string]string{
		"ComputeType": "SPOT", "WorkerSecretArns": secretOther + "," + secretGit, "SecretsKmsKeyArn": kmsKey,
	}},
}

func TestTemplate(t *testing.T) {
	tpl, s := load(t)
	for _, p := range checkTemplate(tpl, s) {
		t.Error(p)
	}
}

func TestSchemaCitesSources(t *testing.T) {
	_, s := load(t)
	for name, ts := range s.ResourceTypes {
		checkSource(t, name, ts.Source)
	}
	for name, ts := range s.PropertyTypes {
		checkSource(t, name, ts.Source)
	}
}

func checkSource(t *testing.T, name string, src any) {
	t.Helper()
	u, _ := src.(string)
	if !strings.HasPrefix(u, "https://docs.aws.amazon.com/") {
		t.Errorf("schema.json: %s: _source %v, want the documentation page it was checked against", name, src)
	}
}

// The WorkerImage pattern takes ECR image references with a tag or a
// digest, and the execution role's repository ARN is derived from them.
func TestWorkerImage(t *testing.T) {
	tpl, _ := load(t)
	for img, ok := range map[string]bool{
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/jetrun/worker:v0.1.0": true,
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/worker:latest":        true,
		digestImage: true,
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/jetrun/worker":          false, // no tag
		"docker.io/jetrun/worker:v0.1.0":                                      false, // not ECR
		"jetrun/worker:v0.1.0":                                                false,
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/Jetrun/worker:v1":       false, // ECR names are lower case
		"123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/jetrun/worker:v1":   false, // the repository ARN derivation splits at ".com/"
		"123456789012.dkr.ecr.us-east-1.amazonaws.com/jetrun/worker:v1 extra": false,
	} {
		err := validateParam(tpl, "WorkerImage", img)
		if (err == nil) != ok {
			t.Errorf("WorkerImage %q: accepted %v, want %v (%v)", img, err == nil, ok, err)
		}
	}
}

// A broken template must fail the checks: each mutation below breaks one
// promise, and the problem named must be reported.
func TestBrokenTemplates(t *testing.T) {
	tpl, s := load(t)
	type mutation struct {
		name   string
		mutate func(tpl map[string]any)
		want   string
	}
	jd := []any{"Resources", "JobDefinition", "Properties"}
	cp := append(slices.Clone(jd), "ContainerProperties")
	disp := []any{"Resources", "DispatcherPolicy", "Properties", "PolicyDocument", "Statement"}
	exec0 := []any{"Resources", "ExecutionRole", "Properties", "Policies", 0, "PolicyDocument", "Statement"}
	jobRoleStmts := []any{"Resources", "JobRole", "Properties", "Policies", "Fn::If", 1, 0, "PolicyDocument", "Statement"}
	for _, m := range []mutation{
		{"misspelt property", func(tpl map[string]any) {
			c := at(tpl, cp...).(map[string]any)
			c["Imagee"] = c["Image"]
			delete(c, "Image")
		}, "unknown property Imagee"},
		{"required property missing", func(tpl map[string]any) {
			delete(at(tpl, "Resources", "JobQueue", "Properties").(map[string]any), "Priority")
		}, "required property Priority"},
		{"misspelt nested property", func(tpl map[string]any) {
			set(tpl, map[string]any{"Attempt": "1"}, append(slices.Clone(jd), "RetryStrategy")...)
		}, "unknown property Attempt"},
		{"unknown resource type", func(tpl map[string]any) {
			set(tpl, "AWS::Batch::ComputeEnviroment", "Resources", "ComputeEnvironment", "Type")
		}, "unknown resource type AWS::Batch::ComputeEnviroment"},
		{"not an integer", func(tpl map[string]any) {
			set(tpl, "sixty", append(slices.Clone(jd), "Timeout", "AttemptDurationSeconds")...)
		}, "want an integer"},
		{"value outside the enum", func(tpl map[string]any) {
			set(tpl, "FARGATE_SPOTS", "Resources", "ComputeEnvironment", "Properties", "ComputeResources", "Fn::If", 1, "Type")
		}, "FARGATE_SPOTS is not one of"},
		{"parameter allows values outside the enum", func(tpl map[string]any) {
			p := at(tpl, "Parameters", "LogRetentionDays").(map[string]any)
			p["AllowedValues"] = append(p["AllowedValues"].([]any), "2")
		}, "LogRetentionDays allows 2"},
		{"ref to nothing", func(tpl map[string]any) {
			set(tpl, map[string]any{"Ref": "WorkerImag"}, append(slices.Clone(cp), "Image")...)
		}, "Ref to WorkerImag"},
		{"getatt of no attribute", func(tpl map[string]any) {
			set(tpl, map[string]any{"Fn::GetAtt": []any{"ExecutionRole", "ARN"}}, append(slices.Clone(cp), "ExecutionRoleArn")...)
		}, "has no attribute ARN"},
		{"sub of nothing", func(tpl map[string]any) {
			set(tpl, map[string]any{"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${LogGrup}:log-stream:*"}, append(slices.Clone(disp), 4, "Resource")...)
		}, "Ref to LogGrup"},
		{"undefined condition", func(tpl map[string]any) {
			set(tpl, "CreateSG", "Resources", "SecurityGroup", "Condition")
		}, "undefined condition CreateSG"},
		{"unused parameter", func(tpl map[string]any) {
			at(tpl, "Parameters").(map[string]any)["Spare"] = map[string]any{"Type": "String", "Default": "", "Description": "unused"}
		}, "parameter Spare is not used"},
		{"resource used where its condition is false", func(tpl map[string]any) {
			set(tpl, []any{map[string]any{"Fn::GetAtt": []any{"SecurityGroup", "GroupId"}}},
				"Resources", "ComputeEnvironment", "Properties", "ComputeResources", "Fn::If", 1, "SecurityGroupIds")
		}, "SecurityGroup, which this scenario does not create"},
		{"retries in Batch", func(tpl map[string]any) {
			set(tpl, "3", append(slices.Clone(jd), "RetryStrategy", "Attempts")...)
		}, "RetryStrategy.Attempts = 3"},
		{"timeout below Batch's minimum", func(tpl map[string]any) {
			set(tpl, "30", append(slices.Clone(jd), "Timeout", "AttemptDurationSeconds")...)
		}, "AttemptDurationSeconds = 30"},
		{"secret as a plain value", func(tpl map[string]any) {
			env := at(tpl, append(slices.Clone(cp), "Environment")...).([]any)
			set(tpl, append(env, map[string]any{"Name": jobs.EnvGitToken, "Value": "ghp_0123456789"}), append(slices.Clone(cp), "Environment")...)
		}, "plain value"},
		{"secret under a name the worker does not read", func(tpl map[string]any) {
			set(tpl, "GIT_TOKEN", append(slices.Clone(cp), "Secrets", "Fn::If", 1, 2, "Fn::If", 1, "Name")...)
		}, "GIT_TOKEN"},
		{"execution role cannot read a declared secret", func(tpl map[string]any) {
			r := at(tpl, "Resources", "ExecutionRole", "Properties", "Policies", 1, "Fn::If", 1, "PolicyDocument", "Statement", 0, "Resource").([]any)
			set(tpl, r[:3], "Resources", "ExecutionRole", "Properties", "Policies", 1, "Fn::If", 1, "PolicyDocument", "Statement", 0, "Resource")
		}, "ExecutionRole: grants"},
		{"wildcard action", func(tpl map[string]any) {
			set(tpl, "secretsmanager:*", append(slices.Clone(jobRoleStmts), 1, "Fn::If", 1, "Action")...)
		}, "wildcard action secretsmanager:*"},
		{"job role reads everything", func(tpl map[string]any) {
			set(tpl, "*", append(slices.Clone(jobRoleStmts), 1, "Fn::If", 1, "Resource")...)
		}, `Resource "*" for secretsmanager:GetSecretValue`},
		{"Resource * where an ARN is known", func(tpl map[string]any) {
			set(tpl, "*", append(slices.Clone(disp), 2, "Resource")...)
		}, `Resource "*" for batch:CancelJob`},
		{"account wildcard", func(tpl map[string]any) {
			set(tpl, map[string]any{"Fn::Sub": "arn:${AWS::Partition}:batch:${AWS::Region}:*:job/*"}, append(slices.Clone(disp), 1, "Resource")...)
		}, "wildcard region or account"},
		{"dispatcher may do more", func(tpl map[string]any) {
			set(tpl, []any{"batch:CancelJob", "batch:TerminateJob", "batch:DeleteJobQueue"}, append(slices.Clone(disp), 2, "Action")...)
		}, "DispatcherPolicy: grants"},
		{"image repository derived wrong", func(tpl map[string]any) {
			set(tpl, "2", append(slices.Clone(exec0), 1, "Resource", "Fn::Sub", 1, "Region", "Fn::Select", 0)...)
		}, "ExecutionRole: grants"},
		{"Fargate size that Fargate does not run", func(tpl map[string]any) {
			set(tpl, "1024", "Parameters", "WorkerMemory", "Default")
		}, "not a Fargate pair"},
		{"Fargate rule out of step with the API reference", func(tpl map[string]any) {
			l := at(tpl, "Rules", "FargateResources", "Assertions", 0, "Assert", "Fn::Or", 2, "Fn::And", 1, "Fn::Contains", 0).([]any)
			set(tpl, append(l, "1024"), "Rules", "FargateResources", "Assertions", 0, "Assert", "Fn::Or", 2, "Fn::And", 1, "Fn::Contains", 0)
		}, "rule FargateResources: vCPU 1 with 1024 MiB"},
		{"EC2 member on Fargate", func(tpl map[string]any) {
			set(tpl, "0", "Resources", "ComputeEnvironment", "Properties", "ComputeResources", "Fn::If", 1, "MinvCpus")
		}, "MinvCpus is not for Fargate"},
		{"Fargate network configuration on EC2", func(tpl map[string]any) {
			set(tpl, map[string]any{"AssignPublicIp": map[string]any{"Ref": "AssignPublicIp"}}, append(slices.Clone(cp), "NetworkConfiguration")...)
		}, "NetworkConfiguration on EC2"},
		{"logs elsewhere", func(tpl map[string]any) {
			set(tpl, "/aws/batch/job", append(slices.Clone(cp), "LogConfiguration", "Options", "awslogs-group")...)
		}, "awslogs-group"},
		{"unknown RUNNABLE reason", func(tpl map[string]any) {
			set(tpl, "CAPACITY:SOMETIMES", "Resources", "JobQueue", "Properties", "JobStateTimeLimitActions", 2, "Reason")
		}, "CAPACITY:SOMETIMES"},
		{"output out of step", func(tpl map[string]any) {
			set(tpl, map[string]any{"Fn::Sub": "${AWS::StackName}-workers"}, "Outputs", "AwsBatchJobDefinition", "Value")
		}, "AwsBatchJobDefinition"},
	} {
		t.Run(m.name, func(t *testing.T) {
			broken := clone(tpl).(map[string]any)
			m.mutate(broken)
			probs := checkTemplate(broken, s)
			for _, p := range probs {
				if strings.Contains(p, m.want) {
					return
				}
			}
			t.Errorf("no problem mentions %q; got %d:\n%s", m.want, len(probs), strings.Join(probs, "\n"))
		})
	}
}

// cfn-lint, when it is installed (pip install cfn-lint; the machine image
// ships 1.51.0), must find nothing, and must find a misspelt property.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not on PATH: the template is checked by TestTemplate only (pip install cfn-lint to lint it too)")
	}
	out, err := exec.Command(bin, "--", templateFile).CombinedOutput()
	if err != nil {
		t.Errorf("cfn-lint %s: %v\n%s", templateFile, err, out)
	}
	data, err := os.ReadFile(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(data), "        Image: !Ref WorkerImage\n", "        Imagee: !Ref WorkerImage\n", 1)
	if bad == string(data) {
		t.Fatal("the job definition's Image line was not found")
	}
	f := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(f, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "--", f).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Imagee") {
		t.Errorf("cfn-lint on a misspelt property: %v\n%s", err, out)
	}
}

// ---- loading ----

func load(t *testing.T) (map[string]any, *schema) {
	t.Helper()
	data, err := os.ReadFile(templateFile)
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := parseTemplate(data)
	if err != nil {
		t.Fatalf("%s: %v", templateFile, err)
	}
	sdata, err := os.ReadFile(filepath.Join("testdata", "schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	s := new(schema)
	if err := json.Unmarshal(sdata, s); err != nil {
		t.Fatalf("testdata/schema.json: %v", err)
	}
	return tpl, s
}

// shortForms maps the YAML short forms of intrinsic functions to their
// full names.
var shortForms = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition", "!GetAtt": "Fn::GetAtt", "!Sub": "Fn::Sub", "!If": "Fn::If",
	"!Join": "Fn::Join", "!Select": "Fn::Select", "!Split": "Fn::Split", "!Equals": "Fn::Equals", "!Not": "Fn::Not",
	"!And": "Fn::And", "!Or": "Fn::Or", "!FindInMap": "Fn::FindInMap", "!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr",
	"!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue", "!Contains": "Fn::Contains",
	"!EachMemberEquals": "Fn::EachMemberEquals", "!EachMemberIn": "Fn::EachMemberIn", "!ValueOf": "Fn::ValueOf",
}

// parseTemplate reads a YAML template into maps, lists and strings, with
// short forms turned into their full {"Fn::X": args} form.
func parseTemplate(data []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("want one YAML document")
	}
	v, err := fromNode(doc.Content[0])
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the template is not a mapping")
	}
	return m, nil
}

func fromNode(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.AliasNode:
		return fromNode(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %s", n.Content[i].Line, k)
			}
			x, err := fromNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = x
		}
		v = m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			x, err := fromNode(c)
			if err != nil {
				return nil, err
			}
			l = append(l, x)
		}
		v = l
	case yaml.ScalarNode:
		if n.Tag != "!!null" {
			v = n.Value
		}
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		fn, ok := shortForms[n.Tag]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
		}
		if s, ok := v.(string); ok && fn == "Fn::GetAtt" {
			res, attr, ok := strings.Cut(s, ".")
			if !ok {
				return nil, fmt.Errorf("line %d: !GetAtt %s: want Resource.Attribute", n.Line, s)
			}
			v = []any{res, attr}
		}
		v = map[string]any{fn: v}
	}
	return v, nil
}

// ---- the schema subset ----

type propSpec struct {
	Type             string
	Enum             []any
	CaseInsensitive  bool
	Minimum, Maximum *float64
}

func (p *propSpec) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &p.Type)
	}
	var o struct {
		Type            string   `json:"type"`
		Enum            []any    `json:"enum"`
		CaseInsensitive bool     `json:"caseInsensitive"`
		Minimum         *float64 `json:"minimum"`
		Maximum         *float64 `json:"maximum"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	*p = propSpec{o.Type, o.Enum, o.CaseInsensitive, o.Minimum, o.Maximum}
	return nil
}

func (p propSpec) allows(s string) bool {
	for _, e := range p.Enum {
		if es := fmt.Sprint(e); es == s || p.CaseInsensitive && strings.EqualFold(es, s) {
			return true
		}
	}
	return false
}

type typeSpec struct {
	Source     any                 `json:"_source"`
	Properties map[string]propSpec `json:"properties"`
	Required   []string            `json:"required"`
	Attributes []string            `json:"attributes"`
}

type schema struct {
	ResourceTypes   map[string]typeSpec `json:"resourceTypes"`
	PropertyTypes   map[string]typeSpec `json:"propertyTypes"`
	NoResourceTypes struct {
		Actions []string `json:"actions"`
	} `json:"iamActionsWithoutResourceTypes"`
	Pseudo struct {
		Names []string `json:"names"`
	} `json:"pseudoParameters"`
	ParameterTypes struct {
		Names []string `json:"names"`
	} `json:"parameterTypes"`
}

// ---- the checks ----

type checker struct {
	tpl  map[string]any
	s    *schema
	errs []string
}

func (c *checker) errorf(format string, a ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, a...))
}

// checkTemplate returns every problem of tpl, sorted.
func checkTemplate(tpl map[string]any, s *schema) []string {
	c := &checker{tpl: tpl, s: s}
	c.checkStructure()
	c.checkParameters()
	c.checkResources()
	c.checkReferences()
	for _, sc := range scenarios {
		c.checkScenario(sc.name, sc.params)
	}
	c.checkFargateRule()
	slices.Sort(c.errs)
	return slices.Compact(c.errs)
}

func (c *checker) section(name string) map[string]any {
	v, ok := c.tpl[name]
	if !ok {
		return map[string]any{}
	}
	m, ok := v.(map[string]any)
	if !ok {
		c.errorf("%s: want a mapping", name)
		return map[string]any{}
	}
	return m
}

func (c *checker) checkStructure() {
	for k := range c.tpl {
		if !slices.Contains([]string{"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Rules", "Mappings", "Conditions", "Transform", "Resources", "Outputs"}, k) {
			c.errorf("unknown top-level section %s", k)
		}
	}
	if v := c.tpl["AWSTemplateFormatVersion"]; v != "2010-09-09" {
		c.errorf("AWSTemplateFormatVersion %v, want 2010-09-09", v)
	}
	if len(c.section("Resources")) == 0 {
		c.errorf("no Resources")
	}
}

func (c *checker) checkParameters() {
	for name, v := range c.section("Parameters") {
		p, ok := v.(map[string]any)
		if !ok {
			c.errorf("parameter %s: want a mapping", name)
			continue
		}
		for k := range p {
			if !slices.Contains([]string{"Type", "Default", "AllowedValues", "AllowedPattern", "ConstraintDescription", "Description", "MinValue", "MaxValue", "MinLength", "MaxLength", "NoEcho"}, k) {
				c.errorf("parameter %s: unknown attribute %s", name, k)
			}
		}
		if !slices.Contains(c.s.ParameterTypes.Names, str(p["Type"])) {
			c.errorf("parameter %s: unknown type %v", name, p["Type"])
		}
		if str(p["Description"]) == "" {
			c.errorf("parameter %s: no Description", name)
		}
		if d, ok := p["Default"]; ok {
			if err := validateParam(c.tpl, name, str(d)); err != nil {
				c.errorf("parameter %s: Default: %v", name, err)
			}
		}
	}
}

// validateParam checks a parameter value as CloudFormation does before
// creating anything.
func validateParam(tpl map[string]any, name, value string) error {
	p, ok := at(tpl, "Parameters", name).(map[string]any)
	if !ok {
		return fmt.Errorf("no parameter %s", name)
	}
	typ := str(p["Type"])
	vals := []string{value}
	if strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList" {
		vals = strings.Split(value, ",")
	}
	for _, v := range vals {
		if strings.HasPrefix(typ, "List<AWS::") && v == "" {
			return fmt.Errorf("%s: empty value", typ)
		}
		if typ == "Number" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			if mn, ok := p["MinValue"]; ok && f < num(mn) {
				return fmt.Errorf("%v is less than MinValue %v", v, mn)
			}
			if mx, ok := p["MaxValue"]; ok && f > num(mx) {
				return fmt.Errorf("%v is more than MaxValue %v", v, mx)
			}
		}
		if av, ok := p["AllowedValues"].([]any); ok && !slices.ContainsFunc(av, func(a any) bool { return str(a) == v }) {
			return fmt.Errorf("%q is not one of AllowedValues %v", v, av)
		}
		if pat := str(p["AllowedPattern"]); pat != "" {
			re, err := compilePattern(pat)
			if err != nil {
				return fmt.Errorf("AllowedPattern: %v", err)
			}
			if !re.MatchString(v) {
				return fmt.Errorf("%q does not match AllowedPattern", v)
			}
		}
	}
	return nil
}

var patterns sync.Map // AllowedPattern → *regexp.Regexp

// compilePattern compiles an AllowedPattern, which must match the whole
// value.
func compilePattern(pat string) (*regexp.Regexp, error) {
	if re, ok := patterns.Load(pat); ok {
		return re.(*regexp.Regexp), nil
	}
	re, err := regexp.Compile(`^(?:` + pat + `)$`)
	if err == nil {
		patterns.Store(pat, re)
	}
	return re, err
}

// checkResources checks every resource against the schema subset.
func (c *checker) checkResources() {
	for name, v := range c.section("Resources") {
		r, ok := v.(map[string]any)
		if !ok {
			c.errorf("resource %s: want a mapping", name)
			continue
		}
		for k := range r {
			if !slices.Contains([]string{"Type", "Properties", "Condition", "DependsOn", "DeletionPolicy", "UpdateReplacePolicy", "Metadata", "CreationPolicy", "UpdatePolicy"}, k) {
				c.errorf("resource %s: unknown attribute %s", name, k)
			}
		}
		typ := str(r["Type"])
		spec, ok := c.s.ResourceTypes[typ]
		if !ok {
			c.errorf("resource %s: unknown resource type %s (not in testdata/schema.json)", name, typ)
			continue
		}
		props, ok := r["Properties"]
		if !ok {
			props = map[string]any{}
		}
		c.checkObject("Resources."+name+".Properties", props, spec, typ)
	}
}

func (c *checker) checkObject(path string, v any, spec typeSpec, owner string) {
	m, ok := v.(map[string]any)
	if !ok {
		c.errorf("%s: want a mapping, got %s", path, kind(v))
		return
	}
	for k, x := range m {
		ps, ok := spec.Properties[k]
		if !ok {
			c.errorf("%s: unknown property %s (see %v)", path, k, spec.Source)
			continue
		}
		c.checkValue(path+"."+k, x, ps, owner)
	}
	for _, r := range spec.Required {
		if _, ok := m[r]; !ok {
			c.errorf("%s: required property %s missing", path, r)
		}
	}
}

func (c *checker) checkValue(path string, v any, ps propSpec, owner string) {
	if fn, arg, ok := intrinsic(v); ok {
		switch fn {
		case "Fn::If":
			l, ok := arg.([]any)
			if !ok || len(l) != 3 {
				c.errorf("%s: Fn::If takes [condition, value if true, value if false]", path)
				return
			}
			for i, b := range l[1:] {
				if !isNoValue(b) {
					c.checkValue(fmt.Sprintf("%s(if %s: %v)", path, str(l[0]), i == 0), b, ps, owner)
				}
			}
		case "Ref":
			c.checkEnumRef(path, str(arg), ps)
		}
		return
	}
	if inner, ok := strings.CutPrefix(ps.Type, "["); ok {
		l, ok := v.([]any)
		if !ok {
			c.errorf("%s: want a list, got %s", path, kind(v))
			return
		}
		el := ps
		el.Type = strings.TrimSuffix(inner, "]")
		for i, x := range l {
			c.checkValue(fmt.Sprintf("%s[%d]", path, i), x, el, owner)
		}
		return
	}
	switch ps.Type {
	case "json":
	case "map":
		if _, ok := v.(map[string]any); !ok {
			c.errorf("%s: want a mapping, got %s", path, kind(v))
		}
	case "strings":
		if l, ok := v.([]any); ok {
			for i, x := range l {
				c.checkValue(fmt.Sprintf("%s[%d]", path, i), x, propSpec{Type: "string"}, owner)
			}
		} else {
			c.checkValue(path, v, propSpec{Type: "string"}, owner)
		}
	case "string", "integer", "number", "boolean":
		s, ok := v.(string)
		if !ok {
			c.errorf("%s: want %s, got %s", path, article(ps.Type), kind(v))
			return
		}
		var f float64
		var err error
		switch ps.Type {
		case "integer":
			if !integerRE.MatchString(s) {
				c.errorf("%s: want an integer, got %q", path, s)
				return
			}
			f, _ = strconv.ParseFloat(s, 64)
		case "number":
			if f, err = strconv.ParseFloat(s, 64); err != nil {
				c.errorf("%s: want a number, got %q", path, s)
				return
			}
		case "boolean":
			if s != "true" && s != "false" {
				c.errorf("%s: want a boolean, got %q", path, s)
			}
		}
		if ps.Minimum != nil && f < *ps.Minimum || ps.Maximum != nil && f > *ps.Maximum {
			c.errorf("%s: %s is outside [%v, %v]", path, s, deref(ps.Minimum), deref(ps.Maximum))
		}
		if len(ps.Enum) > 0 && !ps.allows(s) {
			c.errorf("%s: %s is not one of %v", path, s, ps.Enum)
		}
	default:
		key := ps.Type
		if !strings.Contains(key, "::") {
			key = owner + "." + key
		}
		spec, ok := c.s.PropertyTypes[key]
		if !ok {
			c.errorf("%s: property type %s is not in testdata/schema.json", path, key)
			return
		}
		c.checkObject(path, v, spec, owner)
	}
}

// checkEnumRef: a parameter given to an enumerated property may only
// allow values of the enum.
func (c *checker) checkEnumRef(path, param string, ps propSpec) {
	if len(ps.Enum) == 0 {
		return
	}
	p, ok := at(c.tpl, "Parameters", param).(map[string]any)
	if !ok {
		return
	}
	vals, _ := p["AllowedValues"].([]any)
	if len(vals) == 0 {
		if d, ok := p["Default"]; ok {
			vals = []any{d}
		}
	}
	for _, v := range vals {
		if !ps.allows(str(v)) {
			c.errorf("%s: parameter %s allows %v, which is not one of %v", path, param, v, ps.Enum)
		}
	}
}

// checkReferences: every Ref, GetAtt, Sub variable, condition and
// DependsOn names something that exists; every parameter and condition is
// used.
func (c *checker) checkReferences() {
	usedParams := map[string]bool{}
	usedConds := map[string]bool{}
	w := &refWalk{c: c, params: usedParams, conds: usedConds}
	w.onlyParams = true
	for name, v := range c.section("Conditions") {
		w.walk("Conditions."+name, v)
	}
	for name, v := range c.section("Rules") {
		w.walk("Rules."+name, v)
	}
	w.onlyParams = false
	resources := c.section("Resources")
	for name, v := range resources {
		w.walk("Resources."+name, v)
		r, _ := v.(map[string]any)
		if cond, ok := r["Condition"]; ok {
			w.cond("Resources."+name, str(cond))
		}
		deps := r["DependsOn"]
		if d, ok := deps.(string); ok {
			deps = []any{d}
		}
		for _, d := range list(deps) {
			if _, ok := resources[str(d)]; !ok {
				c.errorf("Resources.%s: DependsOn %v, which is not a resource", name, d)
			}
		}
	}
	for name, v := range c.section("Outputs") {
		if !logicalIDRE.MatchString(name) {
			c.errorf("Outputs.%s: logical IDs are alphanumeric", name)
		}
		w.walk("Outputs."+name, v)
		if o, ok := v.(map[string]any); ok {
			if cond, ok := o["Condition"]; ok {
				w.cond("Outputs."+name, str(cond))
			}
		}
	}
	for name := range c.section("Parameters") {
		if !usedParams[name] {
			c.errorf("parameter %s is not used", name)
		}
	}
	for name := range c.section("Conditions") {
		if !usedConds[name] {
			c.errorf("condition %s is not used", name)
		}
	}
}

type refWalk struct {
	c          *checker
	params     map[string]bool
	conds      map[string]bool
	onlyParams bool // in Conditions and Rules: no resources
}

func (w *refWalk) walk(path string, v any) {
	if fn, arg, ok := intrinsic(v); ok {
		switch fn {
		case "Ref":
			w.ref(path, str(arg))
		case "Fn::GetAtt":
			l := list(arg)
			if len(l) != 2 {
				w.c.errorf("%s: Fn::GetAtt takes [resource, attribute]", path)
				return
			}
			w.getAtt(path, str(l[0]), str(l[1]))
		case "Fn::Sub":
			s, locals := str(arg), map[string]any{}
			if l, ok := arg.([]any); ok && len(l) == 2 {
				s, locals = str(l[0]), obj(l[1])
				for k, x := range locals {
					w.walk(path+".Fn::Sub."+k, x)
				}
			}
			for _, name := range subVars(s) {
				if _, ok := locals[name]; ok {
					continue
				}
				if res, attr, ok := strings.Cut(name, "."); ok {
					w.getAtt(path, res, attr)
				} else {
					w.ref(path, name)
				}
			}
		case "Fn::If":
			l := list(arg)
			if len(l) != 3 {
				w.c.errorf("%s: Fn::If takes [condition, value if true, value if false]", path)
				return
			}
			w.cond(path, str(l[0]))
			w.walk(path, l[1])
			w.walk(path, l[2])
		case "Condition":
			w.cond(path, str(arg))
		default:
			w.walk(path+"."+fn, arg)
		}
		return
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			w.walk(path+"."+k, e)
		}
	case []any:
		for i, e := range x {
			w.walk(fmt.Sprintf("%s[%d]", path, i), e)
		}
	}
}

func (w *refWalk) ref(path, name string) {
	switch {
	case slices.Contains(w.c.s.Pseudo.Names, name):
	case at(w.c.tpl, "Parameters", name) != nil:
		w.params[name] = true
	case at(w.c.tpl, "Resources", name) != nil && !w.onlyParams:
	case at(w.c.tpl, "Resources", name) != nil:
		w.c.errorf("%s: Ref to resource %s: conditions and rules may only refer to parameters", path, name)
	default:
		w.c.errorf("%s: Ref to %s, which is not a parameter, a resource or a pseudo parameter", path, name)
	}
}

func (w *refWalk) getAtt(path, res, attr string) {
	r, ok := at(w.c.tpl, "Resources", res).(map[string]any)
	if !ok || w.onlyParams {
		w.c.errorf("%s: Fn::GetAtt %s.%s: no resource %s here", path, res, attr, res)
		return
	}
	spec, ok := w.c.s.ResourceTypes[str(r["Type"])]
	if ok && !slices.Contains(spec.Attributes, attr) {
		w.c.errorf("%s: Fn::GetAtt %s.%s: %s has no attribute %s (it has %v)", path, res, attr, r["Type"], attr, spec.Attributes)
	}
}

func (w *refWalk) cond(path, name string) {
	if _, ok := w.c.section("Conditions")[name]; !ok {
		w.c.errorf("%s: undefined condition %s", path, name)
		return
	}
	w.conds[name] = true
}

var (
	integerRE   = regexp.MustCompile(`^-?[0-9]+$`)
	logicalIDRE = regexp.MustCompile(`^[A-Za-z0-9]{1,255}$`)
	resourceARN = regexp.MustCompile(`^\{\{[A-Za-z0-9]+\.[A-Za-z]*Arn\}\}$`)
)

var subVar = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

func subVars(s string) []string {
	var names []string
	for _, m := range subVar.FindAllStringSubmatch(s, -1) {
		names = append(names, strings.TrimSpace(m[1]))
	}
	return names
}

// ---- rendering ----

// noValue is AWS::NoValue: the key or list element it stands for is
// removed.
type noValueT struct{}

var noValue = noValueT{}

// renderer evaluates a template for one set of parameter values, as
// CloudFormation does when it creates the stack. References to resources
// become "{{Name}}" and "{{Name.Attribute}}".
type renderer struct {
	tpl      map[string]any
	params   map[string]any // string, or []any of strings for list types
	conds    map[string]bool
	busy     map[string]bool
	created  map[string]bool
	errs     []string
	scenario string
}

func newRenderer(tpl map[string]any, scenario string, values map[string]string) *renderer {
	r := &renderer{tpl: tpl, params: map[string]any{}, conds: map[string]bool{}, busy: map[string]bool{}, created: map[string]bool{}, scenario: scenario}
	params, _ := tpl["Parameters"].(map[string]any)
	for name, v := range params {
		p, _ := v.(map[string]any)
		val, ok := values[name]
		if !ok {
			d, ok := p["Default"]
			if !ok {
				r.errorf("parameter %s has no value", name)
				continue
			}
			val = str(d)
		}
		if err := validateParam(tpl, name, val); err != nil {
			r.errorf("parameter %s: %v", name, err)
		}
		typ := str(p["Type"])
		if strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList" {
			var l []any
			for _, s := range strings.Split(val, ",") {
				l = append(l, s)
			}
			r.params[name] = l
		} else {
			r.params[name] = val
		}
	}
	for name := range values {
		if _, ok := params[name]; !ok {
			r.errorf("no parameter %s", name)
		}
	}
	resources, _ := tpl["Resources"].(map[string]any)
	for name, v := range resources {
		res, _ := v.(map[string]any)
		if c, ok := res["Condition"]; !ok || r.cond(str(c)) {
			r.created[name] = true
		}
	}
	return r
}

func (r *renderer) errorf(format string, a ...any) {
	r.errs = append(r.errs, r.scenario+": "+fmt.Sprintf(format, a...))
}

func (r *renderer) cond(name string) bool {
	if v, ok := r.conds[name]; ok {
		return v
	}
	if r.busy[name] {
		r.errorf("condition %s refers to itself", name)
		return false
	}
	r.busy[name] = true
	def := at(r.tpl, "Conditions", name)
	if def == nil {
		r.errorf("undefined condition %s", name)
		return false
	}
	v, ok := r.eval(def).(bool)
	if !ok {
		r.errorf("condition %s is not a boolean", name)
	}
	r.conds[name] = v
	return v
}

func (r *renderer) eval(v any) any {
	fn, arg, ok := intrinsic(v)
	if !ok {
		switch x := v.(type) {
		case map[string]any:
			m := make(map[string]any, len(x))
			for k, e := range x {
				if e := r.eval(e); e != noValue {
					m[k] = e
				}
			}
			return m
		case []any:
			l := make([]any, 0, len(x))
			for _, e := range x {
				if e := r.eval(e); e != noValue {
					l = append(l, e)
				}
			}
			return l
		}
		return v
	}
	args := list(arg)
	switch fn {
	case "Ref":
		return r.ref(str(arg))
	case "Fn::GetAtt":
		return r.getAtt(str(args[0]), str(args[1]))
	case "Fn::If":
		if r.cond(str(args[0])) {
			return r.eval(args[1])
		}
		return r.eval(args[2])
	case "Condition":
		return r.cond(str(arg))
	case "Fn::Equals":
		return fmt.Sprint(r.eval(args[0])) == fmt.Sprint(r.eval(args[1]))
	case "Fn::Not":
		b, _ := r.eval(args[0]).(bool)
		return !b
	case "Fn::And", "Fn::Or":
		and := fn == "Fn::And"
		for _, a := range args {
			if b, _ := r.eval(a).(bool); b != and {
				return !and
			}
		}
		return and
	case "Fn::Contains":
		return slices.ContainsFunc(list(r.eval(args[0])), func(x any) bool { return fmt.Sprint(x) == fmt.Sprint(r.eval(args[1])) })
	case "Fn::Join":
		var parts []string
		for _, x := range list(r.eval(args[1])) {
			parts = append(parts, fmt.Sprint(x))
		}
		return strings.Join(parts, str(args[0]))
	case "Fn::Split":
		var l []any
		for _, s := range strings.Split(fmt.Sprint(r.eval(args[1])), str(args[0])) {
			l = append(l, s)
		}
		return l
	case "Fn::Select":
		i, err := strconv.Atoi(fmt.Sprint(r.eval(args[0])))
		l := list(r.eval(args[1]))
		if err != nil || i < 0 || i >= len(l) {
			r.errorf("Fn::Select %v of %v: out of range (the stack would fail)", args[0], l)
			return ""
		}
		return l[i]
	case "Fn::Sub":
		s, locals := str(arg), map[string]any{}
		if len(args) == 2 {
			s = str(args[0])
			for k, x := range obj(args[1]) {
				locals[k] = r.eval(x)
			}
		}
		return subVar.ReplaceAllStringFunc(s, func(m string) string {
			name := strings.TrimSpace(m[2 : len(m)-1])
			if x, ok := locals[name]; ok {
				return fmt.Sprint(x)
			}
			if res, attr, ok := strings.Cut(name, "."); ok {
				return fmt.Sprint(r.getAtt(res, attr))
			}
			x := r.ref(name)
			if _, isList := x.([]any); isList {
				r.errorf("Fn::Sub ${%s}: a list", name)
			}
			return fmt.Sprint(x)
		})
	}
	r.errorf("%s: not supported by this test's renderer", fn)
	return ""
}

func (r *renderer) ref(name string) any {
	if name == "AWS::NoValue" {
		return noValue
	}
	if v, ok := pseudoValues[name]; ok {
		return v
	}
	if v, ok := r.params[name]; ok {
		return v
	}
	r.resource(name)
	return "{{" + name + "}}"
}

func (r *renderer) getAtt(res, attr string) any {
	r.resource(res)
	return "{{" + res + "." + attr + "}}"
}

func (r *renderer) resource(name string) {
	if _, ok := at(r.tpl, "Resources", name).(map[string]any); !ok {
		r.errorf("%s is not a parameter or resource", name)
	} else if !r.created[name] {
		r.errorf("refers to %s, which this scenario does not create (its Condition is false)", name)
	}
}

// rules evaluates the template's Rules and reports each failed assertion.
func (r *renderer) rules() {
	rules, _ := r.tpl["Rules"].(map[string]any)
	for name, v := range rules {
		if !r.ruleHolds(name, v) {
			r.errorf("rule %s fails", name)
		}
	}
}

func (r *renderer) ruleHolds(name string, v any) bool {
	rule := obj(v)
	if c, ok := rule["RuleCondition"]; ok {
		if b, _ := r.eval(c).(bool); !b {
			return true
		}
	}
	for _, a := range list(rule["Assertions"]) {
		if b, _ := r.eval(obj(a)["Assert"]).(bool); !b {
			return false
		}
	}
	return true
}

// ---- what the template promises jetrun, per scenario ----

func (c *checker) checkScenario(name string, values map[string]string) {
	params := maps.Clone(baseParams)
	maps.Copy(params, values)
	r := newRenderer(c.tpl, name, params)
	res := map[string]map[string]any{}
	for n, v := range c.section("Resources") {
		if r.created[n] {
			res[n] = obj(r.eval(v))
		}
	}
	outputs := obj(r.eval(c.tpl["Outputs"]))
	r.rules()
	c.errs = append(c.errs, r.errs...)
	s := &scenarioCheck{checker: c, name: name, p: r.params, res: res, outputs: outputs}
	s.check()
}

type scenarioCheck struct {
	*checker
	name    string
	p       map[string]any
	res     map[string]map[string]any
	outputs map[string]any
}

func (s *scenarioCheck) errorf(format string, a ...any) {
	s.checker.errorf("%s: "+format, append([]any{s.name}, a...)...)
}

func (s *scenarioCheck) param(name string) string        { return str(s.p[name]) }
func (s *scenarioCheck) props(res string) map[string]any { return obj(s.res[res]["Properties"]) }

func (s *scenarioCheck) fargate() bool {
	return strings.HasPrefix(s.param("ComputeType"), "FARGATE")
}

// arn builds an ARN in the rendering's partition, region and account.
func arn(service, resource string) string {
	return "arn:aws:" + service + ":us-east-1:123456789012:" + resource
}

func (s *scenarioCheck) check() {
	// The resources: the EC2 ones only for EC2, the security group only
	// when none is given.
	want := []string{"LogGroup", "ExecutionRole", "JobRole", "ComputeEnvironment", "JobQueue", "JobDefinition", "DispatcherPolicy"}
	if !s.fargate() {
		want = append(want, "InstanceRole", "InstanceProfile")
	}
	createSG := strings.Join(strs(s.p["SecurityGroupIds"]), "") == ""
	if createSG {
		want = append(want, "SecurityGroup")
	}
	if got := slices.Sorted(maps.Keys(s.res)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		s.errorf("resources %v, want %v", got, slices.Sorted(slices.Values(want)))
	}

	declared := map[string]string{} // secrets the job definition declares: variable → ARN
	for _, d := range definitionSecrets {
		if v := s.param(d.param); v != "" {
			declared[d.env] = v
		}
	}
	s.checkJobDefinition(declared)
	s.checkRoles(declared)
	s.checkComputeEnvironment(createSG)
	s.checkJobQueue()
	s.checkOutputs()

	lg := s.props("LogGroup")
	if str(lg["LogGroupName"]) != s.param("LogGroupName") || str(lg["RetentionInDays"]) != s.param("LogRetentionDays") {
		s.errorf("LogGroup %v: want LogGroupName and RetentionInDays from the parameters", lg)
	}
	if createSG {
		sg := s.props("SecurityGroup")
		if sg["SecurityGroupIngress"] != nil || len(list(sg["SecurityGroupEgress"])) == 0 || str(sg["VpcId"]) != s.param("VpcId") {
			s.errorf("SecurityGroup %v: want egress only, in VpcId", sg)
		}
	}
}

func (s *scenarioCheck) checkJobDefinition(declared map[string]string) {
	jd := s.props("JobDefinition")
	platform := "EC2"
	if s.fargate() {
		platform = "FARGATE"
	}
	if !strings.EqualFold(str(jd["Type"]), "container") || !slices.Equal(strs(jd["PlatformCapabilities"]), []string{platform}) {
		s.errorf("JobDefinition: Type %v, PlatformCapabilities %v: want a container job on %s", jd["Type"], jd["PlatformCapabilities"], platform)
	}
	// One attempt: the dispatcher owns retries.
	if rs := obj(jd["RetryStrategy"]); str(rs["Attempts"]) != "1" || rs["EvaluateOnExit"] != nil {
		s.errorf("JobDefinition: RetryStrategy.Attempts = %v: want 1 and no EvaluateOnExit (the dispatcher retries)", rs["Attempts"])
	}
	// Batch's least timeout is 60 s.
	if d, err := strconv.Atoi(str(obj(jd["Timeout"])["AttemptDurationSeconds"])); err != nil || d < 60 {
		s.errorf("JobDefinition: Timeout.AttemptDurationSeconds = %v: want at least 60", obj(jd["Timeout"])["AttemptDurationSeconds"])
	}
	if str(jd["PropagateTags"]) != "true" {
		s.errorf("JobDefinition: PropagateTags %v: want true (job tags reach the ECS task)", jd["PropagateTags"])
	}
	if str(jd["JobDefinitionName"]) != "jetrun-worker" {
		s.errorf("JobDefinition: JobDefinitionName %v: want <stack name>-worker", jd["JobDefinitionName"])
	}

	cp := obj(jd["ContainerProperties"])
	for k, want := range map[string]string{
		"Image":            s.param("WorkerImage"),
		"User":             workerUID,
		"ExecutionRoleArn": "{{ExecutionRole.Arn}}",
		"JobRoleArn":       "{{JobRole.Arn}}",
	} {
		if str(cp[k]) != want {
			s.errorf("JobDefinition: ContainerProperties.%s = %v, want %s", k, cp[k], want)
		}
	}
	if str(cp["Privileged"]) == "true" || cp["Vcpus"] != nil || cp["Memory"] != nil {
		s.errorf("JobDefinition: Privileged, or the deprecated Vcpus/Memory instead of ResourceRequirements")
	}
	rr := map[string]string{}
	for _, x := range list(cp["ResourceRequirements"]) {
		rr[str(obj(x)["Type"])] = str(obj(x)["Value"])
	}
	if !maps.Equal(rr, map[string]string{"VCPU": s.param("WorkerVcpu"), "MEMORY": s.param("WorkerMemory")}) {
		s.errorf("JobDefinition: ResourceRequirements %v: want VCPU and MEMORY from WorkerVcpu and WorkerMemory", rr)
	}
	lc := obj(cp["LogConfiguration"])
	opts := obj(lc["Options"])
	if str(lc["LogDriver"]) != "awslogs" || str(opts["awslogs-group"]) != "{{LogGroup}}" || str(opts["awslogs-region"]) != "us-east-1" || str(opts["awslogs-stream-prefix"]) == "" {
		s.errorf("JobDefinition: LogConfiguration %v: want awslogs with awslogs-group the stack's LogGroup, awslogs-region and awslogs-stream-prefix", lc)
	}
	if s.fargate() {
		if str(obj(cp["NetworkConfiguration"])["AssignPublicIp"]) != s.param("AssignPublicIp") || str(obj(cp["FargatePlatformConfiguration"])["PlatformVersion"]) == "" {
			s.errorf("JobDefinition: on Fargate, want NetworkConfiguration.AssignPublicIp from the parameter and a FargatePlatformConfiguration; got %v, %v", cp["NetworkConfiguration"], cp["FargatePlatformConfiguration"])
		}
	} else if cp["NetworkConfiguration"] != nil || cp["FargatePlatformConfiguration"] != nil {
		s.errorf("JobDefinition: NetworkConfiguration on EC2 (or FargatePlatformConfiguration): Fargate only")
	}

	// The plain environment: what the worker reads, from the parameters;
	// nothing secret.
	env := map[string]string{}
	for _, x := range list(cp["Environment"]) {
		e := obj(x)
		name := str(e["Name"])
		if secretName.MatchString(name) {
			s.errorf("JobDefinition: environment %s has a plain value: secrets go in Secrets as ValueFrom references", name)
		}
		if _, ok := plainEnv[name]; !ok {
			s.errorf("JobDefinition: environment %s: not a variable the worker reads", name)
		}
		env[name] = str(e["Value"])
	}
	wantEnv := map[string]string{}
	for k, p := range plainEnv {
		if v := s.param(p); v != "" {
			wantEnv[k] = v
		}
	}
	if !maps.Equal(env, wantEnv) {
		s.errorf("JobDefinition: environment %v, want %v", env, wantEnv)
	}
	// Secrets: exactly the declared ones, by reference, under the names
	// the worker reads.
	got := map[string]string{}
	for _, x := range list(cp["Secrets"]) {
		e := obj(x)
		got[str(e["Name"])] = str(e["ValueFrom"])
	}
	if !maps.Equal(got, declared) {
		s.errorf("JobDefinition: Secrets %v, want %v (the worker reads %s, %s, %s and %s)", got, declared,
			natsconn.EnvPassword, jobs.EnvEmbedAPIKey, jobs.EnvGitToken, qdrantstore.EnvAPIKey)
	}
	for n, ref := range got {
		if !strings.HasPrefix(ref, "arn:") {
			s.errorf("JobDefinition: secret %s: ValueFrom %q is not an ARN", n, ref)
		}
	}
}

// grants is a policy's permissions: action → resources.
type grants map[string][]string

func (s *scenarioCheck) policyGrants(where string, doc any, g grants) {
	d := obj(doc)
	if str(d["Version"]) != "2012-10-17" {
		s.errorf("%s: policy Version %v, want 2012-10-17", where, d["Version"])
	}
	stmts := list(d["Statement"])
	if len(stmts) == 0 {
		s.errorf("%s: a policy without statements", where)
	}
	for i, x := range stmts {
		st := obj(x)
		loc := fmt.Sprintf("%s statement %d (%v)", where, i, st["Sid"])
		if str(st["Effect"]) != "Allow" || st["NotAction"] != nil || st["NotResource"] != nil || st["Principal"] != nil {
			s.errorf("%s: want Effect Allow with Action and Resource only", loc)
		}
		actions, resources := strs(st["Action"]), strs(st["Resource"])
		if len(actions) == 0 || len(resources) == 0 {
			s.errorf("%s: no Action or no Resource", loc)
		}
		for _, a := range actions {
			if strings.Contains(a, "*") {
				s.errorf("%s: wildcard action %s", loc, a)
			}
			if a == "kms:Decrypt" && obj(obj(st["Condition"])["StringEquals"])["kms:ViaService"] == nil {
				s.errorf("%s: kms:Decrypt without a kms:ViaService condition", loc)
			}
		}
		for _, res := range resources {
			if res == "*" {
				for _, a := range actions {
					if !slices.Contains(s.s.NoResourceTypes.Actions, a) {
						s.errorf(`%s: Resource "*" for %s, which has a resource type: name its ARN`, loc, a)
					}
				}
				continue
			}
			if resourceARN.MatchString(res) {
				continue // Fn::GetAtt of a resource's ARN
			}
			f := strings.SplitN(res, ":", 6)
			if len(f) != 6 || f[0] != "arn" || f[1] != "aws" || f[2] == "" {
				s.errorf("%s: resource %q is not an ARN", loc, res)
			} else if strings.Contains(f[3]+f[4], "*") || f[3] == "" || f[4] == "" {
				s.errorf("%s: resource %q: wildcard region or account", loc, res)
			}
		}
		for _, a := range actions {
			g[a] = append(g[a], resources...)
		}
	}
}

func (s *scenarioCheck) roleGrants(role string) grants {
	g := grants{}
	for i, p := range list(s.props(role)["Policies"]) {
		s.policyGrants(fmt.Sprintf("%s policy %d", role, i), obj(p)["PolicyDocument"], g)
	}
	return g
}

func (s *scenarioCheck) wantGrants(where string, got, want grants) {
	norm := func(g grants) grants {
		out := grants{}
		for a, r := range g {
			r = slices.Clone(r)
			slices.Sort(r)
			out[a] = slices.Compact(r)
		}
		return out
	}
	got, want = norm(got), norm(want)
	if !maps.EqualFunc(got, want, slices.Equal) {
		var diff []string
		for _, a := range slices.Sorted(maps.Keys(got)) {
			if !slices.Equal(got[a], want[a]) {
				diff = append(diff, fmt.Sprintf("%s on %v (want %v)", a, got[a], want[a]))
			}
		}
		for _, a := range slices.Sorted(maps.Keys(want)) {
			if _, ok := got[a]; !ok {
				diff = append(diff, fmt.Sprintf("no %s (want %v)", a, want[a]))
			}
		}
		s.errorf("%s: grants %s", where, strings.Join(diff, "; "))
	}
}

func (s *scenarioCheck) trusts(role, service string) {
	doc := obj(s.props(role)["AssumeRolePolicyDocument"])
	stmts := list(doc["Statement"])
	if len(stmts) != 1 || str(obj(obj(stmts[0])["Principal"])["Service"]) != service || str(obj(stmts[0])["Action"]) != "sts:AssumeRole" {
		s.errorf("%s: want a trust policy for %s only, got %v", role, service, doc)
	}
}

// ecrRepositoryARN derives the repository's ARN from an image reference
// (independently of the template's Fn::Split and Fn::Select).
func ecrRepositoryARN(image string) string {
	host, path, _ := strings.Cut(image, "/")
	h := strings.Split(host, ".")
	repo, _, _ := strings.Cut(path, "@")
	if i := strings.LastIndex(repo, ":"); i >= 0 {
		repo = repo[:i]
	}
	return "arn:aws:ecr:" + h[3] + ":" + h[0] + ":repository/" + repo
}

func (s *scenarioCheck) checkRoles(declared map[string]string) {
	logStreams := arn("logs", "log-group:{{LogGroup}}:log-stream:*")
	kms := s.param("SecretsKmsKeyArn")
	declaredARNs := slices.Collect(maps.Values(declared))

	// The execution role: pull this image, write this log group, read the
	// declared secrets; nothing else.
	s.trusts("ExecutionRole", "ecs-tasks.amazonaws.com")
	repo := ecrRepositoryARN(s.param("WorkerImage"))
	want := grants{
		"ecr:GetAuthorizationToken":       {"*"},
		"ecr:BatchCheckLayerAvailability": {repo},
		"ecr:GetDownloadUrlForLayer":      {repo},
		"ecr:BatchGetImage":               {repo},
		"logs:CreateLogStream":            {logStreams},
		"logs:PutLogEvents":               {logStreams},
	}
	if len(declared) > 0 {
		want["secretsmanager:GetSecretValue"] = declaredARNs
		if kms != "" {
			want["kms:Decrypt"] = []string{kms}
		}
	}
	s.wantGrants("ExecutionRole", s.roleGrants("ExecutionRole"), want)
	if s.props("ExecutionRole")["ManagedPolicyArns"] != nil {
		s.errorf("ExecutionRole: managed policies grant more than it needs")
	}

	// The job role: the worker's own secrets only.
	s.trusts("JobRole", "ecs-tasks.amazonaws.com")
	want = grants{}
	readable := append(slices.Clone(declaredARNs), nonEmpty(strs(s.p["WorkerSecretArns"]))...)
	if len(readable) > 0 {
		want["secretsmanager:GetSecretValue"] = readable
	}
	if p := nonEmpty(strs(s.p["WorkerParameterArns"])); len(p) > 0 {
		want["ssm:GetParameter"] = p
	}
	if kms != "" && len(want) > 0 {
		want["kms:Decrypt"] = []string{kms}
	}
	s.wantGrants("JobRole", s.roleGrants("JobRole"), want)
	if s.props("JobRole")["ManagedPolicyArns"] != nil {
		s.errorf("JobRole: managed policies grant more than it needs")
	}

	if !s.fargate() {
		s.trusts("InstanceRole", "ec2.amazonaws.com")
		ir := s.props("InstanceRole")
		if !slices.Equal(strs(ir["ManagedPolicyArns"]), []string{"arn:aws:iam::aws:policy/service-role/AmazonEC2ContainerServiceforEC2Role"}) || ir["Policies"] != nil {
			s.errorf("InstanceRole: want AmazonEC2ContainerServiceforEC2Role only, got %v", ir)
		}
		if !slices.Equal(strs(s.props("InstanceProfile")["Roles"]), []string{"{{InstanceRole}}"}) {
			s.errorf("InstanceProfile: want the InstanceRole")
		}
	}

	// The dispatcher: exactly what the aws_batch runtime calls, on this
	// queue, this job definition, jobs of this account and region, and
	// this log group.
	jobARNs := arn("batch", "job/*")
	def := arn("batch", "job-definition/jetrun-worker")
	g := grants{}
	s.policyGrants("DispatcherPolicy", s.props("DispatcherPolicy")["PolicyDocument"], g)
	s.wantGrants("DispatcherPolicy", g, grants{
		"batch:SubmitJob":              {"{{JobQueue.JobQueueArn}}", def, def + ":*", jobARNs},
		"batch:TagResource":            {jobARNs},
		"batch:CancelJob":              {jobARNs},
		"batch:TerminateJob":           {jobARNs},
		"batch:DescribeJobs":           {"*"},
		"batch:ListJobs":               {"*"},
		"batch:DescribeJobDefinitions": {"*"},
		"batch:DescribeJobQueues":      {"*"},
		"logs:GetLogEvents":            {logStreams},
	})
}

func (s *scenarioCheck) checkComputeEnvironment(createSG bool) {
	ce := s.props("ComputeEnvironment")
	if str(ce["Type"]) != "MANAGED" || ce["ServiceRole"] != nil || ce["ComputeEnvironmentName"] != nil {
		s.errorf("ComputeEnvironment: want MANAGED, the service-linked role (no ServiceRole) and no name (so that it can be replaced)")
	}
	cr := obj(ce["ComputeResources"])
	if str(cr["Type"]) != s.param("ComputeType") || str(cr["MaxvCpus"]) != s.param("MaxvCpus") || !slices.Equal(strs(cr["Subnets"]), strs(s.p["SubnetIds"])) {
		s.errorf("ComputeEnvironment: Type, MaxvCpus and Subnets must come from the parameters: %v", cr)
	}
	wantSG := strs(s.p["SecurityGroupIds"])
	if createSG {
		wantSG = []string{"{{SecurityGroup.GroupId}}"}
	}
	if !slices.Equal(strs(cr["SecurityGroupIds"]), wantSG) {
		s.errorf("ComputeEnvironment: SecurityGroupIds %v, want %v", cr["SecurityGroupIds"], wantSG)
	}
	if s.fargate() {
		for _, k := range fargateForbidden {
			if _, ok := cr[k]; ok {
				s.errorf("ComputeEnvironment: ComputeResources.%s is not for Fargate", k)
			}
		}
		return
	}
	if str(cr["InstanceRole"]) != "{{InstanceProfile.Arn}}" || str(cr["MinvCpus"]) != "0" || !slices.Equal(strs(cr["InstanceTypes"]), strs(s.p["InstanceTypes"])) {
		s.errorf("ComputeEnvironment: on EC2 want InstanceRole the instance profile, MinvCpus 0 and InstanceTypes from the parameter: %v", cr)
	}
	strategies := []string{"BEST_FIT_PROGRESSIVE"}
	if s.param("ComputeType") == "SPOT" {
		// BEST_FIT would need a SpotIamFleetRole.
		strategies = []string{"SPOT_CAPACITY_OPTIMIZED", "SPOT_PRICE_CAPACITY_OPTIMIZED"}
	}
	if !slices.Contains(strategies, str(cr["AllocationStrategy"])) {
		s.errorf("ComputeEnvironment: AllocationStrategy %v, want one of %v", cr["AllocationStrategy"], strategies)
	}
}

func (s *scenarioCheck) checkJobQueue() {
	q := s.props("JobQueue")
	order := list(q["ComputeEnvironmentOrder"])
	if len(order) != 1 || str(obj(order[0])["ComputeEnvironment"]) != "{{ComputeEnvironment.ComputeEnvironmentArn}}" {
		s.errorf("JobQueue: ComputeEnvironmentOrder %v: want the stack's compute environment", order)
	}
	seen := map[string]bool{}
	for _, x := range list(q["JobStateTimeLimitActions"]) {
		a := obj(x)
		reason := str(a["Reason"])
		if !slices.Contains(runnableReasons, reason) || seen[reason] {
			s.errorf("JobQueue: JobStateTimeLimitActions reason %s: want one of %v, once", reason, runnableReasons)
		}
		seen[reason] = true
		if str(a["Action"]) != "CANCEL" || str(a["State"]) != "RUNNABLE" {
			s.errorf("JobQueue: JobStateTimeLimitActions %v: CANCEL of RUNNABLE jobs is the only action on ECS and Fargate queues", a)
		}
	}
}

func (s *scenarioCheck) checkOutputs() {
	value := func(k string) string { return str(obj(s.outputs[k])["Value"]) }
	jdName := str(s.props("JobDefinition")["JobDefinitionName"])
	env := map[string]string{
		"AWS_REGION":               "us-east-1",
		"AWS_BATCH_JOB_QUEUE":      "{{JobQueue.JobQueueArn}}",
		"AWS_BATCH_JOB_DEFINITION": jdName,
		"JETRUN_BATCH_LOG_GROUP":   "{{LogGroup}}",
	}
	for k, v := range map[string]string{
		"AwsRegion":             env["AWS_REGION"],
		"AwsBatchJobQueue":      env["AWS_BATCH_JOB_QUEUE"],
		"AwsBatchJobDefinition": env["AWS_BATCH_JOB_DEFINITION"],
		"JetrunBatchLogGroup":   env["JETRUN_BATCH_LOG_GROUP"],
		"DispatcherPolicyArn":   "{{DispatcherPolicy}}",
	} {
		if value(k) != v {
			s.errorf("output %s = %q, want %q", k, value(k), v)
		}
	}
	for k, v := range map[string]string{"AwsRegion": "AWS_REGION", "AwsBatchJobQueue": "AWS_BATCH_JOB_QUEUE", "AwsBatchJobDefinition": "AWS_BATCH_JOB_DEFINITION", "JetrunBatchLogGroup": "JETRUN_BATCH_LOG_GROUP"} {
		if !strings.HasPrefix(str(obj(s.outputs[k])["Description"]), v+" ") {
			s.errorf("output %s: its Description must start with the variable it is, %s", k, v)
		}
	}
	got := map[string]string{}
	for _, kv := range strings.Fields(value("DispatcherEnvironment")) {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	env["RUNTIME_BACKEND"] = "aws_batch"
	if !maps.Equal(got, env) {
		s.errorf("output DispatcherEnvironment %v, want %v", got, env)
	}
}

// checkFargateRule: the defaults are a Fargate pair, and the template's
// rule FargateResources accepts exactly the pairs of the Batch API
// Reference.
func (c *checker) checkFargateRule() {
	vcpu, _ := at(c.tpl, "Parameters", "WorkerVcpu").(map[string]any)
	mem, _ := at(c.tpl, "Parameters", "WorkerMemory").(map[string]any)
	allowed := strs(vcpu["AllowedValues"])
	slices.Sort(allowed)
	if want := slices.Sorted(maps.Keys(fargateMemory)); !slices.Equal(allowed, want) {
		c.errorf("WorkerVcpu AllowedValues %v, want Fargate's %v", allowed, want)
	}
	dv, dm := str(vcpu["Default"]), str(mem["Default"])
	if m, err := strconv.Atoi(dm); err != nil || !slices.Contains(fargateMemory[dv], m) {
		c.errorf("WorkerVcpu/WorkerMemory defaults %s/%s: not a Fargate pair (%s vCPU takes %v MiB)", dv, dm, dv, fargateMemory[dv])
	}
	rule := at(c.tpl, "Rules", "FargateResources")
	if rule == nil {
		c.errorf("no rule FargateResources")
		return
	}
	var all []int
	for _, ms := range fargateMemory {
		all = append(all, ms...)
	}
	all = append(all, 256, 1000, 2049, 130048)
	slices.Sort(all)
	all = slices.Compact(all)
	r := newRenderer(c.tpl, "rule", baseParams)
	for v, ms := range fargateMemory {
		for _, m := range all {
			r.params["WorkerVcpu"], r.params["WorkerMemory"] = v, strconv.Itoa(m)
			if got, want := r.ruleHolds("FargateResources", rule), slices.Contains(ms, m); got != want {
				c.errorf("rule FargateResources: vCPU %s with %d MiB: the rule says %v, the Batch API Reference %v", v, m, got, want)
			}
		}
	}
	r.params["ComputeType"] = "EC2"
	for _, v := range []string{"0.25", "0.5", "1"} {
		r.params["WorkerVcpu"] = v
		if got, want := r.ruleHolds("Ec2Resources", at(c.tpl, "Rules", "Ec2Resources")), v == "1"; got != want {
			c.errorf("rule Ec2Resources: EC2 with %s vCPU: the rule says %v, want %v", v, got, want)
		}
	}
}

// ---- helpers ----

// intrinsic reports whether v is an intrinsic function call
// {"Ref"|"Condition"|"Fn::X": args}.
func intrinsic(v any) (string, any, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return "", nil, false
	}
	for k, a := range m {
		if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
			return k, a, true
		}
	}
	return "", nil, false
}

func isNoValue(v any) bool {
	fn, arg, ok := intrinsic(v)
	return ok && fn == "Ref" && arg == "AWS::NoValue"
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) float64 {
	f, _ := strconv.ParseFloat(fmt.Sprint(v), 64)
	return f
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// strs is a string or a list of strings as a slice.
func strs(v any) []string {
	if s, ok := v.(string); ok {
		return []string{s}
	}
	var out []string
	for _, x := range list(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

func nonEmpty(l []string) []string {
	return slices.DeleteFunc(l, func(s string) bool { return s == "" })
}

func article(typ string) string {
	if strings.IndexAny(typ[:1], "aeiou") == 0 {
		return "an " + typ
	}
	return "a " + typ
}

func deref(p *float64) any {
	if p == nil {
		return "-"
	}
	return *p
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return "a scalar"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// at returns the value at path (map keys and list indexes), or nil.
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			v = obj(v)[k]
		case int:
			l := list(v)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
		if v == nil {
			return nil
		}
	}
	return v
}

// set replaces the value at path; it panics if the path's parent does not
// exist, which in TestBrokenTemplates means the template changed shape.
func set(root any, value any, path ...any) {
	parent := at(root, path[:len(path)-1]...)
	switch k := path[len(path)-1].(type) {
	case string:
		parent.(map[string]any)[k] = value
	case int:
		parent.([]any)[k] = value
	}
}

func clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = clone(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = clone(e)
		}
		return l
	}
	return v
}
