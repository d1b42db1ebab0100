package main

import (
	"github.com/jetrun/jetrun/pkg/runtimes"
	"github.com/jetrun/jetrun/pkg/runtimes/awsbatch"
	"github.com/jetrun/jetrun/pkg/runtimes/docker"
	"github.com/jetrun/jetrun/pkg/runtimes/kubernetes"
	"github.com/jetrun/jetrun/pkg/runtimes/local"
)

// builtinRuntimes lists every runtime this binary can run, by the name
// RUNTIME_BACKEND uses. This is the one place a new runtime is registered.
func builtinRuntimes() *runtimes.Registry {
	r := runtimes.NewRegistry()
	r.Register(local.Name, local.Factory)
	r.Register(docker.Name, docker.Factory)
	r.Register(kubernetes.Name, kubernetes.Factory)
	r.Register(awsbatch.Name, awsbatch.Factory)
	return r
}
