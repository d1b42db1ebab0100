package docker_test

import (
	"context"
	"os"

	"github.com/jetrun/jetrun/pkg/runtimes/docker"
	"github.com/rs/zerolog"
)

func ExampleNew() {
	log := zerolog.New(os.Stderr)
	ctx := context.Background()
	rt, err := docker.New(ctx, docker.Config{Image: "jetrun/worker:1.4", Network: "jetrun"}, log)
	if err != nil {
		log.Fatal().Err(err).Msg("docker runtime")
	}
	defer rt.Close()
}
