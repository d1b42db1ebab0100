package dispatch

import (
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the dispatcher's Prometheus metrics. Register them on a
// registry of your own (no global registry is touched).
type Metrics struct {
	// Events counts published lifecycle events by type: the rate of
	// "succeeded", "dead", "rejected" is the job throughput by outcome.
	Events *prometheus.CounterVec
	// Active is the number of jobs this dispatcher holds, by state.
	Active *prometheus.GaugeVec
	// LaunchLatency is the time from a submission's arrival in the stream
	// to its runtime's Start returning, by runtime.
	LaunchLatency *prometheus.HistogramVec
	// QueueDepth is the number of submissions not yet delivered to any
	// dispatcher (the consumer's pending count).
	QueueDepth prometheus.Gauge
	// AckPending is the number of submissions held by dispatchers, running
	// or waiting out a retry backoff.
	AckPending prometheus.Gauge
	// Duplicates counts submissions dropped because their job id already
	// had a record.
	Duplicates prometheus.Counter
	// Adoptions counts jobs taken over from another (or a previous) owner.
	Adoptions prometheus.Counter
}

// NewMetrics creates the metrics and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetrun_events_total", Help: "Lifecycle events published, by type.",
		}, []string{"type"}),
		Active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jetrun_jobs_active", Help: "Jobs held by this dispatcher, by state.",
		}, []string{"state"}),
		LaunchLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "jetrun_launch_latency_seconds",
			Help:    "Time from a submission's arrival in the stream to its launch, by runtime.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 16),
		}, []string{"runtime"}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetrun_queue_depth", Help: "Submissions waiting for a dispatcher.",
		}),
		AckPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetrun_queue_ack_pending", Help: "Submissions held by dispatchers: running, launching or waiting out a retry backoff.",
		}),
		Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jetrun_duplicate_submissions_total", Help: "Submissions dropped because their job id was already recorded.",
		}),
		Adoptions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jetrun_adoptions_total", Help: "Jobs taken over from a previous owner.",
		}),
	}
	reg.MustRegister(m.Events, m.Active, m.LaunchLatency, m.QueueDepth, m.AckPending, m.Duplicates, m.Adoptions)
	for _, s := range []messages.State{messages.StateQueued, messages.StateStarting, messages.StateRunning} {
		m.Active.WithLabelValues(string(s))
	}
	return m
}
