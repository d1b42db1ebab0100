package local_test

import (
	"os"

	"github.com/jetrun/jetrun/pkg/runtimes/local"
	"github.com/rs/zerolog"
)

func ExampleNew() {
	log := zerolog.New(os.Stderr)
	dir := "/var/lib/jetrun/local"
	rt, err := local.New(local.Config{Dir: dir, WorkerBin: "/usr/local/bin/worker"}, log)
	if err != nil {
		log.Fatal().Err(err).Msg("local runtime")
	}
	defer rt.Close()
}
