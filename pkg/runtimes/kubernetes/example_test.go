package kubernetes_test

import (
	"context"
	"os"

	"github.com/jetrun/jetrun/pkg/runtimes/kubernetes"
	"github.com/rs/zerolog"
	"k8s.io/client-go/rest"
)

func ExampleNew() {
	log := zerolog.New(os.Stderr)
	ctx := context.Background()
	restConfig, err := rest.InClusterConfig()
	if err != nil {
		log.Fatal().Err(err).Msg("not in a cluster")
	}
	rt, err := kubernetes.New(ctx, kubernetes.Config{REST: restConfig, Namespace: "jetrun", Image: "reg.example/jetrun/worker:1.4"}, log)
	if err != nil {
		log.Fatal().Err(err).Msg("kubernetes runtime")
	}
	defer rt.Close()
}
