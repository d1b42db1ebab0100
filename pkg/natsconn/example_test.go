package natsconn_test

import (
	"flag"
	"os"

	"github.com/jetrun/jetrun/pkg/natsconn"
	"github.com/rs/zerolog"
)

// A main package registers the connection flags, parses them and connects.
func Example() {
	log := zerolog.New(os.Stderr)
	fs := flag.NewFlagSet("dispatcher", flag.ExitOnError)
	args, getenv := os.Args[1:], os.Getenv

	var nopts natsconn.Options
	nopts.Name = "jetrun-dispatcher"
	nopts.RegisterFlags(fs, getenv)
	if err := fs.Parse(args); err != nil {
		log.Fatal().Err(err).Msg("flags")
	}
	nc, err := nopts.Connect(log)
	if err != nil {
		log.Fatal().Err(err).Msg("connect")
	}
	defer nc.Close()
}
