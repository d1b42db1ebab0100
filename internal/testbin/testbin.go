// Package testbin builds the project's binaries for tests that run them as
// real processes. Each binary is built once per test process; when
// JETRUN_TEST_BIN_DIR names a directory holding prebuilt binaries (CI builds
// them once for every package), those are used instead.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

var (
	mu    sync.Mutex
	built = map[string]string{}
	dir   string
)

// Path returns the path of the binary of the main package cmd/<name>
// (e.g. "worker"), building it if needed.
func Path(name string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[name]; ok {
		return p, nil
	}
	if d := os.Getenv("JETRUN_TEST_BIN_DIR"); d != "" {
		p := filepath.Join(d, name)
		if _, err := os.Stat(p); err == nil {
			built[name] = p
			return p, nil
		}
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "jetrun-testbin-")
		if err != nil {
			return "", err
		}
		dir = d
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/"+name)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %v\n%s", name, err, b)
	}
	built[name] = out
	return out, nil
}

// MustPath is Path for TestMain: it exits on error.
func MustPath(name string) string {
	p, err := Path(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return p
}

// Cleanup removes the binaries built by this process.
func Cleanup() {
	mu.Lock()
	defer mu.Unlock()
	if dir != "" {
		os.RemoveAll(dir)
	}
}

// ModuleRoot returns the directory of the jetrun module's go.mod, found
// from this source file, so it works from any test's working directory.
func ModuleRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("testbin: cannot locate source")
	}
	d := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d || strings.TrimSpace(parent) == "" {
			return "", fmt.Errorf("testbin: go.mod not found above %s", file)
		}
		d = parent
	}
}
