// Package gittest serves a real git repository over smart HTTP (git
// http-backend behind net/http/cgi on loopback) for tests of the git
// source and of upload_repo end to end. It needs the git binary (.ci/run
// installs it).
package gittest

import (
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Repo is a repository with a working copy, served read-only.
type Repo struct {
	t    testing.TB
	root string // GIT_PROJECT_ROOT
	work string // the working copy commits are made in
	// URL clones the repository: http://127.0.0.1:PORT/repo.git
	URL string
}

// New creates a repository whose first commit on branch main holds
// files (path → content), and serves it. It skips the test when git is
// missing.
func New(t testing.TB, files map[string]string) *Repo {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git binary not found (.ci/run installs it)")
	}
	root := t.TempDir()
	r := &Repo{t: t, root: root, work: filepath.Join(root, "work")}
	r.git(root, "init", "-q", "-b", "main", r.work)
	r.git(r.work, "config", "user.email", "test@jetrun.invalid")
	r.git(r.work, "config", "user.name", "jetrun test")
	r.Commit("initial", files)
	srv := httptest.NewServer(&cgi.Handler{
		Path: gitPath(t),
		Args: []string{"http-backend"},
		Dir:  root,
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + root},
	})
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/repo.git"
	r.publish()
	return r
}

func gitPath(t testing.TB) string {
	p, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (r *Repo) git(dir string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+r.root, "GIT_AUTHOR_DATE=2026-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2026-01-01T00:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes files (path → content; the content Delete removes the
// file), commits them on main and publishes the commit. It returns the
// commit's hash.
func (r *Repo) Commit(msg string, files map[string]string) string {
	r.t.Helper()
	for p, content := range files {
		full := filepath.Join(r.work, filepath.FromSlash(p))
		if content == Delete {
			r.git(r.work, "rm", "-q", p)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		r.git(r.work, "add", p)
	}
	r.git(r.work, "commit", "-q", "--allow-empty", "-m", msg)
	if r.URL != "" {
		r.publish()
	}
	return r.git(r.work, "rev-parse", "HEAD")
}

// Delete as a file's content in Commit removes the file.
const Delete = "\x00delete"

// publish refreshes the bare repository the server exports.
func (r *Repo) publish() {
	bare := filepath.Join(r.root, "repo.git")
	if _, err := os.Stat(bare); err != nil {
		r.git(r.root, "clone", "-q", "--bare", r.work, bare)
		r.git(bare, "config", "uploadpack.allowReachableSHA1InWant", "true")
		r.git(bare, "config", "http.receivepack", "false")
		return
	}
	r.git(r.work, "push", "-q", "--force", bare, "main")
}
