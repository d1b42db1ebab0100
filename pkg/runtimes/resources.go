package runtimes

import (
	"fmt"
	"time"

	"github.com/jetrun/jetrun/pkg/messages"
)

// Resources are a job's resolved requests, which a runtime enforces
// (Timeout always; CPU and memory where the runtime can).
type Resources struct {
	CPUMilli    int64         // millicores
	MemoryBytes int64         // bytes
	Timeout     time.Duration // of one attempt
}

// String renders r in the wire notation, e.g. "cpu=2 memory=4Gi timeout=1h0m0s".
func (r Resources) String() string {
	return fmt.Sprintf("cpu=%s memory=%s timeout=%s", messages.FormatCPU(r.CPUMilli), messages.FormatMemory(r.MemoryBytes), r.Timeout)
}

// Override returns r with the fields set in m replacing its own.
func (r Resources) Override(m messages.Resources) (Resources, error) {
	if m.CPU != "" {
		v, err := messages.ParseCPU(m.CPU)
		if err != nil {
			return r, err
		}
		r.CPUMilli = v
	}
	if m.Memory != "" {
		v, err := messages.ParseMemory(m.Memory)
		if err != nil {
			return r, err
		}
		r.MemoryBytes = v
	}
	if m.Timeout != "" {
		d, err := time.ParseDuration(m.Timeout)
		if err != nil || d <= 0 {
			return r, fmt.Errorf("%w: resources.timeout %q", messages.ErrInvalid, m.Timeout)
		}
		r.Timeout = d
	}
	return r, nil
}
