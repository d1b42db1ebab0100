package qdrantlite_test

import (
	"context"
	"fmt"
	"os"

	"github.com/jetrun/jetrun/pkg/qdrantlite"
	"github.com/qdrant/go-client/qdrant"
)

// A server on a free port, in a directory of its own, and the official
// client talking to it.
func Example() {
	dir, err := os.MkdirTemp("", "qdrantlite")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	srv, err := qdrantlite.Start("127.0.0.1:0", qdrantlite.Options{Dir: dir})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	client, _ := qdrant.NewClient(&qdrant.Config{Host: "127.0.0.1", Port: srv.Port()})
	defer client.Close()
	health, err := client.HealthCheck(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(health.GetTitle())
	// Output: qdrant - vector search engine
}
