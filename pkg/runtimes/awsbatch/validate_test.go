package awsbatch

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/pkg/runtimes"
)

func TestJobName(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"jetrun-01JDQ4ZK_x-a1", true},
		{"jetrun-" + strings.Repeat("a", 64) + "-a12", true},
		{strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false},
		{"-leading-hyphen", false},
		{"_leading", false},
		{"has.dot", false},
		{"has space", false},
		{"", false},
	} {
		got, err := JobName(tc.in)
		if tc.ok && (err != nil || got != tc.in) {
			t.Errorf("JobName(%q) = %q, %v; want it unchanged", tc.in, got, err)
		}
		if !tc.ok && !errors.Is(err, runtimes.ErrInvalidSpec) {
			t.Errorf("JobName(%q) error = %v, want ErrInvalidSpec", tc.in, err)
		}
	}
}

func TestValidTags(t *testing.T) {
	many := map[string]string{}
	for i := range 51 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	for _, tc := range []struct {
		name string
		tags map[string]string
		want string // "" = valid
	}{
		{"jetrun's own", map[string]string{"jetrun.io/job-id": "01JD_x-1", "jetrun.io/timeout": "1h0m0s", "team": "search infra"}, ""},
		{"unicode letters", map[string]string{"équipe": "données"}, ""},
		{"51 tags", many, "51 tags"},
		{"long key", map[string]string{strings.Repeat("k", 129): "v"}, "1-128"},
		{"long value", map[string]string{"k": strings.Repeat("v", 257)}, "256"},
		{"empty key", map[string]string{"": "v"}, "1-128"},
		{"aws: key", map[string]string{"aws:cost": "v"}, "reserved"},
		{"AWS: value", map[string]string{"k": "AWS:x"}, "reserved"},
		{"bad character", map[string]string{"k": "a#b"}, "allowed are"},
	} {
		err := validTags(tc.tags)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.Is(err, runtimes.ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want ErrInvalidSpec mentioning %q", tc.name, err, tc.want)
		}
	}
}

func TestSizeFor(t *testing.T) {
	const mi, gi = 1 << 20, 1 << 30
	for _, tc := range []struct {
		platform string
		cpu      int64
		mem      int64
		want     Size
		err      bool
	}{
		// Fargate: the smallest valid combination that holds the request.
		{PlatformFargate, 250, 256 * mi, Size{"0.25", 512}, false}, // the collection job's defaults
		{PlatformFargate, 1000, 2 * gi, Size{"1", 2048}, false},    // upload_file
		{PlatformFargate, 2000, 4 * gi, Size{"2", 4096}, false},    // upload_repo
		{PlatformFargate, 250, 1536 * mi, Size{"0.25", 2048}, false},
		{PlatformFargate, 250, 4 * gi, Size{"0.5", 4096}, false},
		{PlatformFargate, 500, 5 * gi, Size{"1", 5120}, false},
		{PlatformFargate, 3000, 4 * gi, Size{"4", 8192}, false},
		{PlatformFargate, 4000, 31 * gi, Size{"8", 32768}, false},
		{PlatformFargate, 16000, 120 * gi, Size{"16", 122880}, false},
		{PlatformFargate, 1, 1, Size{"0.25", 512}, false},
		{PlatformFargate, 16001, gi, Size{}, true},
		{PlatformFargate, 1000, 121 * gi, Size{}, true},
		// EC2: whole vCPUs, whole MiB, Batch's minimum of 4 MiB.
		{PlatformEC2, 250, 256 * mi, Size{"1", 256}, false},
		{PlatformEC2, 2500, 3*gi + 1, Size{"3", 3073}, false},
		{PlatformEC2, 0, mi, Size{"", 4}, false},
		{PlatformEC2, 0, 0, Size{}, false},
		{PlatformFargate, 0, 0, Size{}, false},
		{PlatformEC2, -1, 0, Size{}, true},
	} {
		got, err := sizeFor(tc.platform, runtimes.Resources{CPUMilli: tc.cpu, MemoryBytes: tc.mem})
		if tc.err {
			if !errors.Is(err, runtimes.ErrInvalidSpec) {
				t.Errorf("%s cpu=%dm mem=%d: error %v, want ErrInvalidSpec", tc.platform, tc.cpu, tc.mem, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s cpu=%dm mem=%d = %+v, %v; want %+v", tc.platform, tc.cpu, tc.mem, got, err, tc.want)
		}
	}
}

// Every Fargate size sizeFor can produce is one Fargate offers.
func TestSizeForFargateIsAlwaysValid(t *testing.T) {
	valid := map[string]map[int64]bool{}
	add := func(v string, lo, hi, step int64) {
		valid[v] = map[int64]bool{}
		for m := lo; m <= hi; m += step {
			valid[v][m] = true
		}
	}
	add("0.25", 512, 512, 1)
	valid["0.25"][1024], valid["0.25"][2048] = true, true
	add("0.5", 1024, 4096, 1024)
	add("1", 2048, 8192, 1024)
	add("2", 4096, 16384, 1024)
	add("4", 8192, 30720, 1024)
	add("8", 16384, 61440, 4096)
	add("16", 32768, 122880, 8192)
	for cpu := int64(1); cpu <= 16000; cpu += 137 {
		for mem := int64(1 << 20); mem <= 120<<30; mem = mem*3/2 + 1 {
			s, err := sizeFor(PlatformFargate, runtimes.Resources{CPUMilli: cpu, MemoryBytes: mem})
			if err != nil {
				continue
			}
			if !valid[s.VCPU][s.MemoryMiB] {
				t.Fatalf("cpu=%dm mem=%d → %+v, not a Fargate size", cpu, mem, s)
			}
		}
	}
}

func TestAttemptDuration(t *testing.T) {
	for in, want := range map[time.Duration]int32{
		0: 0, 2 * time.Second: 60, time.Minute: 60, 61500 * time.Millisecond: 62, time.Hour: 3600,
	} {
		if got := attemptDuration(in); got != want {
			t.Errorf("attemptDuration(%s) = %d, want %d", in, got, want)
		}
	}
}

// Specs Batch would refuse, or that would put a secret into the
// overrides, fail in submitInput, which runs before any API call.
func TestSubmitInputRefuses(t *testing.T) {
	r := &Runtime{
		cfg:        Config{JobQueue: "q", JobDefinition: "d", SecretRefs: map[string]string{"REFD": "arn:aws:ssm:us-east-1:123456789012:parameter/x"}},
		platform:   PlatformFargate,
		defSecrets: map[string]bool{"DECLARED": true},
	}
	base := func() runtimes.Spec {
		return runtimes.Spec{Handle: runtimes.Handle{Name: "jetrun-j1-a1"}, JobID: "j1", Kind: "smoke", Attempt: 1,
			Command: []string{"smoke"}, Env: map[string]string{"A": "b"},
			Resources: runtimes.Resources{CPUMilli: 250, MemoryBytes: 256 << 20, Timeout: time.Minute}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*runtimes.Spec)
		want   string
	}{
		{"bad name", func(s *runtimes.Spec) { s.Handle.Name = "jetrun.j1" }, "Batch job name"},
		{"undeclared secret", func(s *runtimes.Spec) { s.Secrets = map[string]string{"NATS_PASSWORD": "pw"} }, "secret NATS_PASSWORD has no reference"},
		{"reserved env", func(s *runtimes.Spec) { s.Env["AWS_BATCH_JOB_ID"] = "x" }, "reserved by Batch"},
		{"bad env name", func(s *runtimes.Spec) { s.Env["1X"] = "x" }, "environment variable name"},
		{"bad label", func(s *runtimes.Spec) { s.Labels = map[string]string{"aws:x": "y"} }, "reserved"},
		{"too big for Fargate", func(s *runtimes.Spec) { s.Resources.CPUMilli = 32000 }, "largest Fargate size"},
		{"overrides too long", func(s *runtimes.Spec) { s.Env["BIG"] = strings.Repeat("x", MaxOverridesLen) }, "container overrides of"},
	} {
		s := base()
		tc.mutate(&s)
		_, err := r.submitInput(s)
		if !errors.Is(err, runtimes.ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want ErrInvalidSpec mentioning %q", tc.name, err, tc.want)
		}
	}
	// Secrets: declared ones are left to Batch, referenced ones travel as
	// a reference, and no value ever appears in the request.
	s := base()
	s.Secrets = map[string]string{"DECLARED": "value-one", "REFD": "value-two"}
	s.Env["DECLARED"] = "value-one"
	in, err := r.submitInput(s)
	if err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range in.ContainerOverrides.Environment {
		env = append(env, *kv.Name+"="+*kv.Value)
	}
	got := strings.Join(env, " ")
	if strings.Contains(got, "value-one") || strings.Contains(got, "value-two") || strings.Contains(got, "DECLARED") {
		t.Errorf("a secret reached the overrides: %s", got)
	}
	if !strings.Contains(got, "JETRUN_SECRET_REFS=REFD=arn:aws:ssm:us-east-1:123456789012:parameter/x") {
		t.Errorf("overrides lack the reference: %s", got)
	}
}
