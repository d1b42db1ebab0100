package dispatch_test

import (
	"context"
	"os"
	"os/signal"

	"github.com/jetrun/jetrun/pkg/dispatch"
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/local"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// A dispatcher on a NATS server with JetStream, launching jobs as local
// processes until the program is interrupted.
func Example() {
	log := zerolog.New(os.Stderr).With().Timestamp().Logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	nc, err := nats.Connect(nats.DefaultURL)
	if err != nil {
		log.Fatal().Err(err).Msg("connect")
	}
	defer nc.Close()
	rt, err := local.New(local.Config{Dir: "/var/lib/jetrun/local", WorkerBin: "/usr/local/bin/worker"}, log)
	if err != nil {
		log.Fatal().Err(err).Msg("local runtime")
	}
	defer rt.Close()
	promRegistry := prometheus.NewRegistry()

	d, err := dispatch.New(nc, dispatch.Config{
		Runtimes: map[string]runtimes.Runtime{"local": rt},
		Metrics:  dispatch.NewMetrics(promRegistry),
		Log:      log,
	})
	if err != nil {
		log.Fatal().Err(err).Msg("dispatcher")
	}
	err = d.Run(ctx) // provisions, consumes until ctx ends
	if err != nil {
		log.Fatal().Err(err).Msg("run")
	}
}
