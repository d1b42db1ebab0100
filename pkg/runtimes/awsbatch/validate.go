package awsbatch

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jetrun/jetrun/pkg/runtimes"
)

// Batch's documented limits, checked before any API call so that a spec
// Batch would refuse fails at once, permanently, with a clear error.
const (
	// MaxJobNameLen: "up to 128 letters (uppercase and lowercase),
	// numbers, hyphens, and underscores; the first character must be
	// alphanumeric" (SubmitJob jobName).
	MaxJobNameLen = 128
	// MaxTags, MaxTagKeyLen and MaxTagValueLen: Batch's tag restrictions.
	MaxTags        = 50
	MaxTagKeyLen   = 128
	MaxTagValueLen = 256
	// MinAttemptDuration is the least timeout.attemptDurationSeconds
	// Batch accepts.
	MinAttemptDuration = 60 * time.Second
	// MaxOverridesLen bounds the JSON of containerOverrides: Batch runs
	// the job as an ECS task with these overrides, and ECS allows 8192
	// characters of overrides, JSON included; 1 KiB of that is left for
	// the variables Batch adds (AWS_BATCH_JOB_ID, AWS_BATCH_JQ_NAME, ...).
	MaxOverridesLen = 8192 - 1024
	// MinMemoryMiB is the least memory Batch accepts for a container.
	MinMemoryMiB = 4
)

// Platforms of a job definition (its platformCapabilities).
const (
	PlatformFargate = "FARGATE"
	PlatformEC2     = "EC2"
)

var (
	jobNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// Letters, numbers, spaces and + - = . _ : / @, the characters
	// Batch's tag restrictions allow.
	tagRE = regexp.MustCompile(`^[\p{L}\p{N}\p{Zs}+\-=._:/@]*$`)
)

// JobName returns the Batch job name of a handle name: the name itself,
// which jetrun's handle names ("jetrun-<job_id>-a<n>") always are, since
// job ids are [A-Za-z0-9][A-Za-z0-9_-]* of at most 64 characters. Anything
// else is ErrInvalidSpec.
func JobName(handleName string) (string, error) {
	if len(handleName) > MaxJobNameLen || !jobNameRE.MatchString(handleName) {
		return "", fmt.Errorf("%w: Batch job name %q: want 1-%d letters, digits, '-' and '_', starting with a letter or digit",
			runtimes.ErrInvalidSpec, handleName, MaxJobNameLen)
	}
	return handleName, nil
}

func validEnvName(name string) error {
	switch {
	case !envNameRE.MatchString(name):
		return fmt.Errorf("%w: environment variable name %q", runtimes.ErrInvalidSpec, name)
	case strings.HasPrefix(strings.ToUpper(name), "AWS_BATCH"):
		return fmt.Errorf("%w: environment variable %s: names starting with AWS_BATCH are reserved by Batch", runtimes.ErrInvalidSpec, name)
	}
	return nil
}

// validTags checks tags against Batch's tag restrictions.
func validTags(tags map[string]string) error {
	if len(tags) > MaxTags {
		return fmt.Errorf("%w: %d tags, Batch allows %d", runtimes.ErrInvalidSpec, len(tags), MaxTags)
	}
	for k, v := range tags {
		switch {
		case k == "" || utf8.RuneCountInString(k) > MaxTagKeyLen:
			return fmt.Errorf("%w: tag key %q: want 1-%d characters", runtimes.ErrInvalidSpec, k, MaxTagKeyLen)
		case utf8.RuneCountInString(v) > MaxTagValueLen:
			return fmt.Errorf("%w: tag %s: value of %d characters, Batch allows %d", runtimes.ErrInvalidSpec, k, utf8.RuneCountInString(v), MaxTagValueLen)
		case strings.HasPrefix(strings.ToLower(k), "aws:") || strings.HasPrefix(strings.ToLower(v), "aws:"):
			return fmt.Errorf("%w: tag %s: the aws: prefix is reserved", runtimes.ErrInvalidSpec, k)
		case !tagRE.MatchString(k) || !tagRE.MatchString(v):
			return fmt.Errorf("%w: tag %q=%q: allowed are letters, digits, spaces and + - = . _ : / @", runtimes.ErrInvalidSpec, k, v)
		}
	}
	return nil
}

// fargateSizes lists Fargate's valid vCPU values (in millicores) with the
// memory values (MiB) each allows: a start, an end and a step.
var fargateSizes = []struct {
	milli           int64
	lo, hi, stepMiB int64
}{
	{250, 512, 2048, 512}, // 512, 1024, 2048 (1536 is not offered)
	{500, 1024, 4096, 1024},
	{1000, 2048, 8192, 1024},
	{2000, 4096, 16384, 1024},
	{4000, 8192, 30720, 1024},
	{8000, 16384, 61440, 4096},
	{16000, 32768, 122880, 8192},
}

// Size is what a job asks Batch for: vCPU (a decimal string, as Batch
// takes it) and memory in MiB.
type Size struct {
	VCPU      string
	MemoryMiB int64
}

// sizeFor maps a job's resources onto what Batch accepts on the platform:
// on Fargate, the smallest valid vCPU/memory combination that holds the
// request; on EC2, whole vCPUs (at least one) and whole MiB. A request no
// Fargate size can hold is ErrInvalidSpec. Zero resources are left out
// (the job definition's apply), and so is each zero field on EC2.
func sizeFor(platform string, r runtimes.Resources) (Size, error) {
	if r.CPUMilli < 0 || r.MemoryBytes < 0 {
		return Size{}, fmt.Errorf("%w: negative resources %s", runtimes.ErrInvalidSpec, r)
	}
	mib := (r.MemoryBytes + (1<<20 - 1)) >> 20
	if r.CPUMilli == 0 && mib == 0 {
		return Size{}, nil
	}
	if platform != PlatformFargate {
		var s Size
		if r.CPUMilli > 0 {
			s.VCPU = strconv.FormatInt((r.CPUMilli+999)/1000, 10)
		}
		if mib > 0 {
			s.MemoryMiB = max(mib, MinMemoryMiB)
		}
		return s, nil
	}
	for _, f := range fargateSizes {
		if r.CPUMilli > f.milli || mib > f.hi {
			continue
		}
		m := f.lo
		for m < mib {
			m += f.stepMiB
		}
		if f.milli == 250 && m == 1536 {
			m = 2048
		}
		return Size{VCPU: formatVCPU(f.milli), MemoryMiB: m}, nil
	}
	return Size{}, fmt.Errorf("%w: %s exceeds the largest Fargate size (16 vCPU, 120 GiB)", runtimes.ErrInvalidSpec, r)
}

func formatVCPU(milli int64) string {
	return strconv.FormatFloat(float64(milli)/1000, 'f', -1, 64)
}

// attemptDuration is timeout.attemptDurationSeconds for a job timeout:
// whole seconds, at least Batch's 60. Shorter timeouts are enforced by the
// runtime itself (see the package doc); zero means none.
func attemptDuration(d time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	s := int64(math.Ceil(d.Seconds()))
	s = max(s, int64(MinAttemptDuration/time.Second))
	return int32(min(s, math.MaxInt32))
}
