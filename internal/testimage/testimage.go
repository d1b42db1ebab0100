// Package testimage builds container images for tests through the Docker
// SDK (no docker CLI, no registry): above all the worker image, the worker
// target of deployments/docker/Dockerfile, FROM scratch, around a static
// worker binary.
//
// The worker is built without cgo (the tree-sitter chunkers fall back to
// the line packer, which the tests' jobs do not depend on); building the
// cgo worker statically is `make image`'s job, not a test's. The binary is
// built once per test process, whatever the number of images.
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jetrun/jetrun/internal/testbin"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
)

// File is one entry of a build context.
type File struct {
	Name string
	Mode int64 // 0o755 for executables; a Name ending in "/" is a directory
	Data []byte
}

// Context returns a tar build context holding files.
func Context(files ...File) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Mode: f.Mode, Size: int64(len(f.Data)), ModTime: time.Unix(0, 0)}
		if strings.HasSuffix(f.Name, "/") {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Size > 0 {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// Build builds target of the Dockerfile in ctxTar as tag (the classic
// builder, which needs no BuildKit) and returns the build's error with its
// output.
func Build(ctx context.Context, cli *client.Client, ctxTar io.Reader, target, tag string) error {
	res, err := cli.ImageBuild(ctx, ctxTar, client.ImageBuildOptions{
		Tags: []string{tag}, Dockerfile: "Dockerfile", Target: target,
		Remove: true, ForceRemove: true, Version: build.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("docker build %s: %w", tag, err)
	}
	defer res.Body.Close()
	var out strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("docker build %s: %w", tag, err)
		}
		out.WriteString(msg.Stream)
		if msg.Error != "" {
			return fmt.Errorf("docker build %s: %s\n%s", tag, msg.Error, out.String())
		}
	}
}

// Worker builds the worker image as tag. When the build replaces an
// image that had the tag, the old one is removed, so that repeated runs
// leave no untagged images behind.
func Worker(ctx context.Context, cli *client.Client, tag string) error {
	root, err := testbin.ModuleRoot()
	if err != nil {
		return err
	}
	worker, err := staticWorker(root)
	if err != nil {
		return err
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, "deployments", "docker", "Dockerfile"))
	if err != nil {
		return err
	}
	certs, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		certs = nil // the tests' jobs make no TLS connection to the internet
	}
	tarball, err := Context(
		File{"Dockerfile", 0o644, dockerfile},
		File{"worker", 0o755, worker},
		File{"ca-certificates.crt", 0o644, certs},
		File{"passwd", 0o644, []byte("root:x:0:0:root:/:/sbin/nologin\njetrun:x:65532:65532:jetrun:/work:/sbin/nologin\n")},
		File{"group", 0o644, []byte("root:x:0:\njetrun:x:65532:\n")},
		File{"work/", 0o755, nil},
	)
	if err != nil {
		return err
	}
	old, _ := cli.ImageInspect(ctx, tag)
	if err := Build(ctx, cli, tarball, "worker", tag); err != nil {
		return err
	}
	if cur, err := cli.ImageInspect(ctx, tag); err == nil && old.ID != "" && old.ID != cur.ID {
		cli.ImageRemove(ctx, old.ID, client.ImageRemoveOptions{PruneChildren: true})
	}
	return nil
}

var (
	workerOnce sync.Once
	workerBin  []byte
	workerErr  error
)

func staticWorker(root string) ([]byte, error) {
	workerOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jetrun-testimage-")
		if err != nil {
			workerErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "worker")
		cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/worker")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			workerErr = fmt.Errorf("go build ./cmd/worker: %v\n%s", err, out)
			return
		}
		workerBin, workerErr = os.ReadFile(bin)
	})
	return workerBin, workerErr
}
