package messages

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseCPU parses a CPU quantity in Kubernetes notation ("2", "0.25",
// "500m") and returns millicores. It must be positive and at most 1024 cores.
func ParseCPU(s string) (int64, error) {
	bad := fmt.Errorf("%w: cpu %q (want cores such as \"2\", \"0.25\" or \"500m\")", ErrInvalid, s)
	s = strings.TrimSpace(s)
	var milli float64
	if v, ok := strings.CutSuffix(s, "m"); ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, bad
		}
		milli = n
	} else {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, bad
		}
		milli = n * 1000
	}
	if math.IsNaN(milli) || milli < 1 || milli > 1024*1000 {
		return 0, bad
	}
	return int64(math.Round(milli)), nil
}

var memUnits = []struct {
	suffix string
	mult   float64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
	{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
}

// ParseMemory parses a memory quantity in Kubernetes notation ("4Gi",
// "512Mi", "1G", "1048576") and returns bytes. It must be at least 1 MiB and
// at most 16 TiB.
func ParseMemory(s string) (int64, error) {
	bad := fmt.Errorf("%w: memory %q (want bytes with a unit such as \"512Mi\" or \"4Gi\")", ErrInvalid, s)
	s = strings.TrimSpace(s)
	mult := 1.0
	for _, u := range memUnits {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = v, u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(n) {
		return 0, bad
	}
	b := n * mult
	if b < 1<<20 || b > 16<<40 {
		return 0, bad
	}
	return int64(b), nil
}

// FormatCPU renders millicores the way ParseCPU reads them.
func FormatCPU(milli int64) string {
	if milli%1000 == 0 {
		return strconv.FormatInt(milli/1000, 10)
	}
	return strconv.FormatInt(milli, 10) + "m"
}

// FormatMemory renders bytes with the largest exact binary unit.
func FormatMemory(b int64) string {
	for _, u := range []struct {
		s string
		m int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if b%u.m == 0 {
			return strconv.FormatInt(b/u.m, 10) + u.s
		}
	}
	return strconv.FormatInt(b, 10)
}
