package awsbatch_test

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/jetrun/jetrun/pkg/runtimes/awsbatch"
	"github.com/rs/zerolog"
)

func ExampleNew() {
	log := zerolog.New(os.Stderr)
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx, config.WithRetryer(awsbatch.NewRetryer))
	if err != nil {
		log.Fatal().Err(err).Msg("AWS configuration")
	}
	rt, err := awsbatch.New(ctx, awsbatch.Config{AWS: awsCfg, JobQueue: "jetrun", JobDefinition: "jetrun-worker"}, log)
	if err != nil {
		log.Fatal().Err(err).Msg("batch runtime")
	}
	defer rt.Close()
}
