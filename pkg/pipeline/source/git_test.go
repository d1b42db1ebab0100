package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
	gitbinary "github.com/go-git/go-git/v5/utils/binary"

	"github.com/jetrun/jetrun/internal/gittest"
)

// gitTestRepo is the fixture repository, served by git http-backend.
type gitTestRepo struct {
	root    string // GIT_PROJECT_ROOT
	work    string // the repository (non-bare), root/work
	bare    string // a bare clone, root/bare.git (for file:// tests)
	srv     *httptest.Server
	base    string       // srv.URL + "/git"
	c1, c2  string       // commits on main; c2 is not a tip
	c3      string       // main's tip
	feature string       // tip of branch feature
	tagObj  string       // annotated tag v1.0 (points at c1)
	orphan  string       // a commit no ref reaches
	posts   atomic.Int64 // upload-pack requests served
	// refuse, if set, is a commit hash whose "want" the server refuses,
	// like a server without uploadpack.allowReachableSHA1InWant over a
	// stateful protocol.
	refuse atomic.Value
}

const (
	gitTestToken = "s3cr3t-t0ken-4f9a"
	gitTestBig   = 100 << 10 // big.bin: over gitTestMaxFile, compresses to almost nothing
)

const gitTestMaxFile = 1 << 10

// gitTestRun runs git in dir and returns its trimmed output.
func gitTestRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com",
		"GIT_AUTHOR_DATE=2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2024-01-01T00:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func gitTestWrite(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// gitTestSetup builds the fixture repository and serves it over smart
// HTTP on loopback. With auth, the server wants basic auth with
// gitTestToken. It skips the test if git is not installed.
func gitTestSetup(t *testing.T, auth bool) *gitTestRepo {
	t.Helper()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git binary not found: these tests serve a repository with git http-backend (.ci/run installs git)")
	}
	r := &gitTestRepo{root: t.TempDir()}
	r.work = filepath.Join(r.root, "work")
	w := r.work
	if err := os.Mkdir(w, 0o755); err != nil {
		t.Fatal(err)
	}
	gitTestRun(t, w, "init", "-q", "-b", "main")
	gitTestWrite(t, w, "README.md", "# v1\n")
	gitTestWrite(t, w, "dir/sub/a.go", "package sub\n")
	gitTestWrite(t, w, "dir-x.txt", "dash\n")
	gitTestWrite(t, w, "dir0.txt", "zero\n")
	gitTestWrite(t, w, "empty.txt", "")
	gitTestWrite(t, w, "big.bin", strings.Repeat("A", gitTestBig))
	if err := os.Symlink("../../etc/passwd", filepath.Join(w, "link")); err != nil {
		t.Fatal(err)
	}
	gitTestRun(t, w, "add", "-A")
	gitTestRun(t, w, "commit", "-q", "-m", "c1")
	r.c1 = gitTestRun(t, w, "rev-parse", "HEAD")
	gitTestRun(t, w, "tag", "-a", "v1.0", "-m", "release")
	r.tagObj = gitTestRun(t, w, "rev-parse", "v1.0")

	gitTestWrite(t, w, "README.md", "# v2\n")
	gitTestRun(t, w, "update-index", "--add", "--cacheinfo", "160000,"+r.c1+",vendor/sub")
	gitTestRun(t, w, "add", "README.md")
	gitTestRun(t, w, "commit", "-q", "-m", "c2")
	r.c2 = gitTestRun(t, w, "rev-parse", "HEAD")

	gitTestRun(t, w, "checkout", "-q", "-b", "feature")
	gitTestWrite(t, w, "feature.txt", "feature\n")
	gitTestRun(t, w, "add", "feature.txt")
	gitTestRun(t, w, "commit", "-q", "-m", "feature")
	r.feature = gitTestRun(t, w, "rev-parse", "HEAD")

	gitTestRun(t, w, "checkout", "-q", "main")
	gitTestWrite(t, w, "docs/z.md", "z\n")
	gitTestRun(t, w, "add", "docs/z.md")
	gitTestRun(t, w, "commit", "-q", "-m", "c3")
	r.c3 = gitTestRun(t, w, "rev-parse", "HEAD")

	tree := gitTestRun(t, w, "rev-parse", "HEAD^{tree}")
	r.orphan = gitTestRun(t, w, "commit-tree", tree, "-m", "orphan")

	r.bare = filepath.Join(r.root, "bare.git")
	gitTestRun(t, r.root, "clone", "-q", "--bare", w, r.bare)
	gitTestRun(t, r.root, "init", "-q", "--bare", "empty.git")

	var h http.Handler = &cgi.Handler{
		Path: gitBin,
		Args: []string{"http-backend"},
		Root: "/git",
		// "not our ref" and the like are expected in some tests.
		Stderr: io.Discard,
		Env:    []string{"GIT_PROJECT_ROOT=" + r.root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1", "HOME=" + r.root},
	}
	cgiHandler := h
	h = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/git-upload-pack") {
			r.posts.Add(1)
			body, err := io.ReadAll(req.Body)
			if err != nil {
				http.Error(rw, err.Error(), http.StatusBadRequest)
				return
			}
			if refuse, _ := r.refuse.Load().(string); refuse != "" && bytes.Contains(body, []byte("want "+refuse)) {
				msg := "ERR upload-pack: not our ref " + refuse + "\n"
				rw.Header().Set("Content-Type", "application/x-git-upload-pack-result")
				_, _ = fmt.Fprintf(rw, "%04x%s", len(msg)+4, msg)
				return
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
		}
		cgiHandler.ServeHTTP(rw, req)
	})
	if auth {
		next := h
		h = http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
			if _, pw, ok := req.BasicAuth(); !ok || pw != gitTestToken {
				rw.Header().Set("WWW-Authenticate", `Basic realm="git"`)
				http.Error(rw, "authentication required", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(rw, req)
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/git/", h)
	mux.HandleFunc("/moved/", func(rw http.ResponseWriter, req *http.Request) {
		http.Redirect(rw, req, "http://169.254.169.254"+req.URL.RequestURI(), http.StatusMovedPermanently)
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	r.base = r.srv.URL + "/git"
	return r
}

// gitTestPolicy lets tests reach the loopback test server.
var gitTestPolicy = Policy{AllowHTTP: true, AllowPrivate: true}

// gitTestClone clones with the test defaults, failing the test on error.
func gitTestClone(t *testing.T, opts GitOptions) *Git {
	t.Helper()
	g, err := gitTestCloneErr(t, opts)
	if err != nil {
		t.Fatalf("CloneGit(%s, ref %q): %v", opts.URL, opts.Ref, err)
	}
	return g
}

func gitTestCloneErr(t *testing.T, opts GitOptions) (*Git, error) {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Policy.AllowHosts == nil && !opts.Policy.AllowHTTP && !opts.Policy.AllowFile && !opts.Policy.AllowPrivate {
		opts.Policy = gitTestPolicy
	}
	if opts.MaxFileSize == 0 {
		opts.MaxFileSize = gitTestMaxFile
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g, err := CloneGit(ctx, opts)
	if g != nil {
		t.Cleanup(func() { _ = g.Close() })
	}
	return g, err
}

// gitTestWalk returns "path" or "path [skip]" for each entry, and the
// contents by path.
func gitTestWalk(t *testing.T, g *Git) ([]string, map[string]string) {
	t.Helper()
	var got []string
	data := map[string]string{}
	err := g.Walk(context.Background(), func(f File) error {
		if !filepath.IsLocal(f.Path) || strings.Contains(f.Path, `\`) {
			t.Errorf("path %q is not local", f.Path)
		}
		if f.Skip != "" {
			if f.Data != nil {
				t.Errorf("%s: skipped (%s) but has data", f.Path, f.Skip)
			}
			got = append(got, f.Path+" ["+f.Skip+"]")
			return nil
		}
		if f.Data == nil {
			t.Errorf("%s: not skipped but Data is nil", f.Path)
		}
		got = append(got, f.Path)
		data[f.Path] = string(f.Data)
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got, data
}

func TestGitCloneRefs(t *testing.T) {
	r := gitTestSetup(t, false)
	mainFiles := []string{
		"README.md", "big.bin [too-large]", "dir-x.txt", "dir/sub/a.go", "dir0.txt",
		"docs/z.md", "empty.txt", "link [symlink]", "vendor/sub [not-regular]",
	}
	c1Files := []string{"README.md", "big.bin [too-large]", "dir-x.txt", "dir/sub/a.go", "dir0.txt", "empty.txt", "link [symlink]"}
	c2Files := []string{
		"README.md", "big.bin [too-large]", "dir-x.txt", "dir/sub/a.go", "dir0.txt",
		"empty.txt", "link [symlink]", "vendor/sub [not-regular]",
	}
	featureFiles := []string{
		"README.md", "big.bin [too-large]", "dir-x.txt", "dir/sub/a.go", "dir0.txt",
		"empty.txt", "feature.txt", "link [symlink]", "vendor/sub [not-regular]",
	}
	tests := []struct {
		name, url, ref, commit, readme string
		files                          []string
		policy                         Policy
	}{
		{name: "default branch", url: r.base + "/work", commit: r.c3, readme: "# v2\n", files: mainFiles},
		{name: "HEAD", url: r.base + "/work", ref: "HEAD", commit: r.c3, readme: "# v2\n", files: mainFiles},
		{name: "branch", url: r.base + "/work", ref: "feature", commit: r.feature, readme: "# v2\n", files: featureFiles},
		{name: "full branch ref", url: r.base + "/work", ref: "refs/heads/main", commit: r.c3, readme: "# v2\n", files: mainFiles},
		{name: "annotated tag", url: r.base + "/work", ref: "v1.0", commit: r.c1, readme: "# v1\n", files: c1Files},
		{name: "tip commit", url: r.base + "/work", ref: r.feature, commit: r.feature, readme: "# v2\n", files: featureFiles},
		{name: "non-tip commit", url: r.base + "/work", ref: r.c2, commit: r.c2, readme: "# v2\n", files: c2Files},
		{name: "upper-case commit", url: r.base + "/work", ref: strings.ToUpper(r.c1), commit: r.c1, readme: "# v1\n", files: c1Files},
		{name: "bare repo path", url: r.base + "/bare.git", ref: "v1.0", commit: r.c1, readme: "# v1\n", files: c1Files},
		{name: "file URL", url: "file://" + r.bare, ref: "feature", commit: r.feature, readme: "# v2\n", files: featureFiles,
			policy: Policy{AllowFile: true}},
		{name: "local path", url: r.bare, commit: r.c3, readme: "# v2\n", files: mainFiles, policy: Policy{AllowFile: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := gitTestClone(t, GitOptions{URL: tt.url, Ref: tt.ref, Policy: tt.policy})
			if g.Commit() != tt.commit {
				t.Errorf("Commit() = %s, want %s", g.Commit(), tt.commit)
			}
			got, data := gitTestWalk(t, g)
			if strings.Join(got, "\n") != strings.Join(tt.files, "\n") {
				t.Errorf("Walk:\n got %q\nwant %q", got, tt.files)
			}
			if data["README.md"] != tt.readme {
				t.Errorf("README.md = %q, want %q", data["README.md"], tt.readme)
			}
			if data["dir/sub/a.go"] != "package sub\n" {
				t.Errorf("dir/sub/a.go = %q", data["dir/sub/a.go"])
			}
		})
	}
}

// TestGitCloneCommitHash checks how a commit that is not a branch or tag
// tip is fetched: directly when the server allows it (git http-backend
// does), else through the default branch's history.
func TestGitCloneCommitHash(t *testing.T) {
	r := gitTestSetup(t, false)
	t.Run("direct", func(t *testing.T) {
		before := r.posts.Load()
		g := gitTestClone(t, GitOptions{URL: r.base + "/work", Ref: r.c2})
		if g.Commit() != r.c2 {
			t.Errorf("Commit() = %s, want %s", g.Commit(), r.c2)
		}
		if n := r.posts.Load() - before; n != 1 {
			t.Errorf("%d upload-pack requests, want 1 (a direct, shallow fetch)", n)
		}
		if sh, err := g.st.Shallow(); err != nil || len(sh) != 1 || sh[0].String() != r.c2 {
			t.Errorf("shallow = %v, %v; want [%s]", sh, err, r.c2)
		}
	})
	t.Run("server refuses", func(t *testing.T) {
		r.refuse.Store(r.c2)
		t.Cleanup(func() { r.refuse.Store("") })
		before := r.posts.Load()
		g := gitTestClone(t, GitOptions{URL: r.base + "/work", Ref: r.c2})
		if g.Commit() != r.c2 {
			t.Errorf("Commit() = %s, want %s", g.Commit(), r.c2)
		}
		if n := r.posts.Load() - before; n != 2 {
			t.Errorf("%d upload-pack requests, want 2 (refused, then the default branch)", n)
		}
		_, data := gitTestWalk(t, g)
		if _, ok := data["docs/z.md"]; ok || data["README.md"] != "# v2\n" {
			t.Errorf("walked the wrong commit: %v", data)
		}
	})
}

// TestGitCloneStaysInDir checks that the clone writes only under Dir and
// checks out no files: the repository's paths never reach the disk.
func TestGitCloneStaysInDir(t *testing.T) {
	r := gitTestSetup(t, false)
	parent := t.TempDir()
	dir := filepath.Join(parent, "job")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	g := gitTestClone(t, GitOptions{URL: r.base + "/work", Dir: dir})
	if _, err := os.Lstat(filepath.Join(dir, "README.md")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("README.md was checked out: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "link")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("link was checked out: %v", err)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Errorf("clone wrote outside Dir: %v", entries)
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), "incoming-") {
			t.Errorf("temporary pack left behind: %s", p)
		}
		return nil
	})
	// Walk works more than once.
	a, _ := gitTestWalk(t, g)
	b, _ := gitTestWalk(t, g)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Errorf("second Walk differs: %v vs %v", a, b)
	}
}

func TestGitCloneErrors(t *testing.T) {
	r := gitTestSetup(t, false)
	_, port, _ := net.SplitHostPort(r.srv.Listener.Addr().String())
	tests := []struct {
		name   string
		opts   GitOptions
		want   error
		secret string
	}{
		{name: "missing branch", opts: GitOptions{URL: r.base + "/work", Ref: "nope"}, want: ErrRefNotFound},
		{name: "abbreviated hash", opts: GitOptions{URL: r.base + "/work", Ref: "deadbeef"}, want: ErrRefNotFound},
		{name: "unknown commit", opts: GitOptions{URL: r.base + "/work", Ref: strings.Repeat("ab", 20)}, want: ErrRefNotFound},
		{name: "unreachable commit", opts: GitOptions{URL: r.base + "/work", Ref: r.orphan}, want: ErrRefNotFound},
		{name: "invalid ref", opts: GitOptions{URL: r.base + "/work", Ref: "a..b"}, want: ErrRefNotFound},
		{name: "option ref", opts: GitOptions{URL: r.base + "/work", Ref: "--upload-pack=touch /tmp/x"}, want: ErrPolicy},
		{name: "missing repository", opts: GitOptions{URL: r.base + "/nope"}, want: ErrRepoNotFound},
		{name: "empty repository", opts: GitOptions{URL: r.base + "/empty.git"}, want: ErrRefNotFound},
		{name: "redirect to metadata", opts: GitOptions{URL: r.srv.URL + "/moved/work",
			Policy: Policy{AllowHTTP: true, AllowPrivate: true, AllowHosts: []string{"127.0.0.1"}}}, want: ErrPolicy},
		{name: "ext transport", opts: GitOptions{URL: "ext::sh -c touch% /tmp/pwned"}, want: ErrPolicy},
		{name: "file URL without AllowFile", opts: GitOptions{URL: "file://" + r.bare, Policy: Policy{AllowHTTP: true}}, want: ErrPolicy},
		{name: "credentials in URL", opts: GitOptions{URL: "http://user:" + gitTestToken + "@" + r.srv.Listener.Addr().String() + "/git/work"},
			want: ErrPolicy, secret: gitTestToken},
		{name: "loopback literal without AllowPrivate", opts: GitOptions{URL: r.base + "/work", Policy: Policy{AllowHTTP: true}}, want: ErrPolicy},
		{name: "localhost refused at dial time", opts: GitOptions{URL: "http://localhost:" + port + "/git/work", Policy: Policy{AllowHTTP: true}}, want: ErrPolicy},
		{name: "host not allowed", opts: GitOptions{URL: r.base + "/work", Policy: Policy{AllowHTTP: true, AllowPrivate: true, AllowHosts: []string{"github.com"}}}, want: ErrPolicy},
		{name: "pack over MaxBytes", opts: GitOptions{URL: r.base + "/work", MaxBytes: 600}, want: ErrRemoteTooLarge},
		{name: "object inflating over MaxBytes", opts: GitOptions{URL: r.base + "/work", MaxBytes: 20 << 10}, want: ErrRemoteTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := gitTestCloneErr(t, tt.opts)
			if err == nil {
				t.Fatalf("CloneGit succeeded (commit %s), want %v", g.Commit(), tt.want)
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestGitCloneAuth(t *testing.T) {
	r := gitTestSetup(t, true)
	t.Run("with token", func(t *testing.T) {
		g := gitTestClone(t, GitOptions{URL: r.base + "/work", Token: gitTestToken})
		if g.Commit() != r.c3 {
			t.Errorf("Commit() = %s, want %s", g.Commit(), r.c3)
		}
	})
	t.Run("without token", func(t *testing.T) {
		_, err := gitTestCloneErr(t, GitOptions{URL: r.base + "/work"})
		if !errors.Is(err, ErrRepoNotFound) {
			t.Fatalf("error %v, want ErrRepoNotFound", err)
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		_, err := gitTestCloneErr(t, GitOptions{URL: r.base + "/work", Token: "wrong-" + gitTestToken})
		if !errors.Is(err, ErrRepoNotFound) {
			t.Fatalf("error %v, want ErrRepoNotFound", err)
		}
		if strings.Contains(err.Error(), gitTestToken) {
			t.Errorf("error %q contains the token", err)
		}
	})
	t.Run("server echoes the token", func(t *testing.T) {
		// A server that echoes the credential into its error body: the
		// error must still not show it.
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			_, pw, _ := req.BasicAuth()
			http.Error(w, "bad credential "+pw, http.StatusForbidden)
		}))
		t.Cleanup(echo.Close)
		_, err := gitTestCloneErr(t, GitOptions{URL: echo.URL + "/repo", Token: gitTestToken})
		if !errors.Is(err, ErrRepoNotFound) {
			t.Fatalf("error %v, want ErrRepoNotFound", err)
		}
		t.Logf("error: %v", err)
		if strings.Contains(err.Error(), gitTestToken) || !strings.Contains(err.Error(), "bad credential REDACTED") {
			t.Errorf("error %q: want the echoed token replaced by REDACTED", err)
		}
	})
}

func TestGitCloneCancel(t *testing.T) {
	r := gitTestSetup(t, false)
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := CloneGit(ctx, GitOptions{URL: r.base + "/work", Dir: t.TempDir(), Policy: gitTestPolicy})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
	})
	t.Run("server hangs", func(t *testing.T) {
		var started atomic.Bool
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			started.Store(true)
			<-req.Context().Done()
		}))
		t.Cleanup(hang.Close)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := CloneGit(ctx, GitOptions{URL: hang.URL + "/repo", Dir: t.TempDir(), Policy: gitTestPolicy})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want context.DeadlineExceeded", err)
		}
		if !started.Load() {
			t.Error("the request never reached the server")
		}
	})
}

func TestGitWalkLimits(t *testing.T) {
	r := gitTestSetup(t, false)
	t.Run("MaxFiles", func(t *testing.T) {
		g := gitTestClone(t, GitOptions{URL: r.base + "/work", MaxFiles: 3})
		err := g.Walk(context.Background(), func(File) error { return nil })
		if !errors.Is(err, ErrRemoteTooLarge) {
			t.Fatalf("Walk: %v, want ErrRemoteTooLarge", err)
		}
	})
	t.Run("MaxFileSize", func(t *testing.T) {
		g := gitTestClone(t, GitOptions{URL: r.base + "/work", MaxFileSize: gitTestBig})
		_, data := gitTestWalk(t, g)
		if len(data["big.bin"]) != gitTestBig {
			t.Errorf("big.bin has %d bytes, want %d", len(data["big.bin"]), gitTestBig)
		}
	})
	t.Run("fn error stops the walk", func(t *testing.T) {
		g := gitTestClone(t, GitOptions{URL: r.base + "/work"})
		stop := errors.New("stop")
		n := 0
		err := g.Walk(context.Background(), func(File) error { n++; return stop })
		if err != stop || n != 1 {
			t.Fatalf("Walk = %v after %d calls, want the fn's error as is after 1", err, n)
		}
	})
	t.Run("cancelled walk", func(t *testing.T) {
		g := gitTestClone(t, GitOptions{URL: r.base + "/work"})
		ctx, cancel := context.WithCancel(context.Background())
		err := g.Walk(ctx, func(File) error { cancel(); return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Walk: %v, want context.Canceled", err)
		}
	})
}

func TestGitCloneProgress(t *testing.T) {
	r := gitTestSetup(t, false)
	var last int64
	calls := 0
	gitTestClone(t, GitOptions{URL: r.base + "/work", Progress: func(n int64) {
		if n < last {
			t.Errorf("progress went back from %d to %d", last, n)
		}
		last = n
		calls++
	}})
	if calls == 0 || last == 0 {
		t.Errorf("progress: %d calls, last %d bytes", calls, last)
	}
}

func TestGitDeltaSize(t *testing.T) {
	// source size 5, target size 300 (0xac 0x02)
	hdr := []byte{0x05, 0xac, 0x02, 0x90}
	for split := 0; split <= len(hdr); split++ {
		d := &gitDeltaSize{max: 299}
		_, err1 := d.Write(hdr[:split])
		_, err2 := d.Write(hdr[split:])
		if !errors.Is(errors.Join(err1, err2), ErrRemoteTooLarge) {
			t.Errorf("split %d: %v %v, want ErrRemoteTooLarge", split, err1, err2)
		}
		d = &gitDeltaSize{max: 300}
		if _, err := d.Write(hdr[:split]); err != nil {
			t.Errorf("split %d: %v", split, err)
		}
		if _, err := d.Write(hdr[split:]); err != nil {
			t.Errorf("split %d: %v", split, err)
		}
	}
	if _, err := (&gitDeltaSize{max: 1}).Write(bytes.Repeat([]byte{0xff}, 40)); err == nil {
		t.Error("endless varint accepted")
	}
}

// gitTestStore writes a commit whose root tree has entries (in the given,
// possibly unsorted order) to a fresh object store and returns a Git for it.
func gitTestStore(t *testing.T, entries []object.TreeEntry, blobs map[string]string) *Git {
	t.Helper()
	st := filesystem.NewStorage(osfs.New(t.TempDir()), cache.NewObjectLRUDefault())
	t.Cleanup(func() { _ = st.Close() })
	put := func(o interface {
		Encode(plumbing.EncodedObject) error
	}) plumbing.Hash {
		obj := st.NewEncodedObject()
		if err := o.Encode(obj); err != nil {
			t.Fatal(err)
		}
		h, err := st.SetEncodedObject(obj)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	for i, e := range entries {
		if content, ok := blobs[e.Name]; ok {
			obj := st.NewEncodedObject()
			obj.SetType(plumbing.BlobObject)
			w, _ := obj.Writer()
			_, _ = w.Write([]byte(content))
			_ = w.Close()
			h, err := st.SetEncodedObject(obj)
			if err != nil {
				t.Fatal(err)
			}
			entries[i].Hash = h
		}
	}
	// Raw tree bytes: go-git's encoder refuses unsorted or odd names.
	var raw bytes.Buffer
	for _, e := range entries {
		fmt.Fprintf(&raw, "%o %s\x00", uint32(e.Mode), e.Name)
		raw.Write(e.Hash[:])
	}
	tobj := st.NewEncodedObject()
	tobj.SetType(plumbing.TreeObject)
	tw, _ := tobj.Writer()
	_, _ = tw.Write(raw.Bytes())
	_ = tw.Close()
	tree, err := st.SetEncodedObject(tobj)
	if err != nil {
		t.Fatal(err)
	}
	commit := put(&object.Commit{TreeHash: tree, Message: "hostile"})
	return &Git{url: "test", st: st, commit: commit, maxFileSize: 1 << 20, maxFiles: 100, maxBytes: 1 << 20}
}

func TestGitWalkHostileTree(t *testing.T) {
	t.Run("unsorted and duplicate entries", func(t *testing.T) {
		g := gitTestStore(t, []object.TreeEntry{
			{Name: "z.txt", Mode: filemode.Regular},
			{Name: "a.txt", Mode: filemode.Regular},
			{Name: "a.txt", Mode: filemode.Executable},
			{Name: "m", Mode: filemode.Symlink},
		}, map[string]string{"z.txt": "z", "a.txt": "a", "m": "/etc/passwd"})
		got, _ := gitTestWalk(t, g)
		want := []string{"a.txt", "m [symlink]", "z.txt"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("Walk = %q, want %q", got, want)
		}
	})
	for _, name := range []string{"..", ".", "a/b", "", "/abs"} {
		t.Run("entry "+strconv.Quote(name), func(t *testing.T) {
			g := gitTestStore(t, []object.TreeEntry{{Name: name, Mode: filemode.Regular}}, map[string]string{name: "x"})
			err := g.Walk(context.Background(), func(f File) error {
				t.Errorf("yielded %q", f.Path)
				return nil
			})
			if err == nil {
				t.Fatal("Walk accepted the entry")
			}
		})
	}
}

// gitTestText returns about n bytes of text, distinct per seed.
func gitTestText(n int, seed string) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s: line %d of the text\n", seed, i)
	}
	return b.String()
}

// TestGitCloneDropsLargeBlobs: blobs over MaxFileSize (alone, or as a
// delta of one) are left out of the stored pack, so go-git never inflates
// them into memory, and Walk yields them as too large; a delta whose base
// lies before a dropped blob still resolves.
func TestGitCloneDropsLargeBlobs(t *testing.T) {
	const huge = 32 << 20 // zeros: a pack of a few KiB
	mid := gitTestText(40<<10, "mid")
	files := map[string]string{
		"a-mid.txt":   mid,
		"b-huge.bin":  strings.Repeat("\x00", huge),
		"c-mid2.txt":  mid + "changed\n", // git stores it as a delta of a-mid.txt, past b-huge.bin
		"d-huge2.bin": strings.Repeat("\x00", huge) + "x",
		"small.txt":   "hi\n",
	}
	repo := gittest.New(t, files)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g := gitTestClone(t, GitOptions{URL: repo.URL, MaxFileSize: 64 << 10})
	runtime.ReadMemStats(&after)

	got, data := gitTestWalk(t, g)
	want := []string{"a-mid.txt", "b-huge.bin [too-large]", "c-mid2.txt", "d-huge2.bin [too-large]", "small.txt"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Walk:\n got %q\nwant %q", got, want)
	}
	for _, p := range []string{"a-mid.txt", "c-mid2.txt", "small.txt"} {
		if data[p] != files[p] {
			t.Errorf("%s: %d bytes, want %d", p, len(data[p]), len(files[p]))
		}
	}
	if g.dropped != 2 {
		t.Errorf("dropped = %d, want 2", g.dropped)
	}
	for _, p := range []string{"b-huge.bin", "d-huge2.bin"} {
		h := plumbing.ComputeHash(plumbing.BlobObject, []byte(files[p]))
		if err := g.st.HasEncodedObject(h); !errors.Is(err, plumbing.ErrObjectNotFound) {
			t.Errorf("%s (%s) is in the object store: %v", p, h, err)
		}
	}
	t.Logf("CloneGit allocated %d KiB", (after.TotalAlloc-before.TotalAlloc)>>10)
	// go-git would have held each huge blob whole (32 MiB) while indexing.
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("CloneGit allocated %d MiB for a repository of two %d MiB blobs", n>>20, huge>>20)
	}
}

// TestGitFilterPack runs gitCheckPack and gitWritePack on packs with OFS
// and REF deltas, and stores the result with go-git.
func TestGitFilterPack(t *testing.T) {
	big := gitTestText(300<<10, "big")
	small := gitTestText(10<<10, "small")
	contents := []string{big, big + "tail\n", small, small + "more\n", "tiny\n", gitTestText(20<<10, "other")}
	dropped := map[int]bool{0: true, 1: true}
	for _, refDeltas := range []bool{false, true} {
		t.Run(fmt.Sprintf("ref deltas %v", refDeltas), func(t *testing.T) {
			src := memory.NewStorage()
			var hashes []plumbing.Hash
			for _, c := range contents {
				o := src.NewEncodedObject()
				o.SetType(plumbing.BlobObject)
				w, _ := o.Writer()
				_, _ = w.Write([]byte(c))
				_ = w.Close()
				h, err := src.SetEncodedObject(o)
				if err != nil {
					t.Fatal(err)
				}
				hashes = append(hashes, h)
			}
			var buf bytes.Buffer
			if _, err := packfile.NewEncoder(&buf, src, refDeltas).Encode(hashes, 10); err != nil {
				t.Fatal(err)
			}
			in := gitTestFile(t, buf.Bytes())
			pack, err := gitCheckPack(context.Background(), in, gitPackLimits{maxBlob: 64 << 10, maxObject: 1 << 30, maxTotal: 1 << 30, maxObjects: 100})
			if err != nil {
				t.Fatal(err)
			}
			if pack.dropped != 2 {
				t.Fatalf("dropped %d entries, want 2: %+v", pack.dropped, pack.entries)
			}
			var out bytes.Buffer
			if err := gitWritePack(&out, in, pack.entries); err != nil {
				t.Fatal(err)
			}
			deltas := 0
			s := packfile.NewScanner(bytes.NewReader(out.Bytes()))
			_, n, err := s.Header()
			for range n {
				oh, err := s.NextObjectHeader()
				if err != nil {
					t.Fatal(err)
				}
				if oh.Type.IsDelta() {
					deltas++
				}
			}
			if err != nil || n != uint32(len(contents)-2) || deltas == 0 {
				t.Fatalf("written pack: %d objects (%d deltas), %v; want %d objects, some deltas", n, deltas, err, len(contents)-2)
			}
			dst := filesystem.NewStorage(osfs.New(t.TempDir()), cache.NewObjectLRUDefault())
			t.Cleanup(func() { _ = dst.Close() })
			if err := packfile.UpdateObjectStorage(dst, bytes.NewReader(out.Bytes())); err != nil {
				t.Fatal(err)
			}
			for i, h := range hashes {
				obj, err := dst.EncodedObject(plumbing.BlobObject, h)
				if dropped[i] {
					if !errors.Is(err, plumbing.ErrObjectNotFound) {
						t.Errorf("object %d (%d bytes): %v, want it dropped", i, len(contents[i]), err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("object %d: %v", i, err)
				}
				r, _ := obj.Reader()
				b, err := io.ReadAll(r)
				if err != nil || string(b) != contents[i] {
					t.Errorf("object %d: %d bytes, %v; want %d bytes", i, len(b), err, len(contents[i]))
				}
			}
		})
	}
}

// TestGitCheckPackUnknownDelta: a REF delta on a delta has no known type;
// over the file size limit it could be a blob, and the pack is refused
// from its delta header.
func TestGitCheckPackUnknownDelta(t *testing.T) {
	big := gitTestText(300<<10, "big")
	src := memory.NewStorage()
	var hashes []plumbing.Hash
	for _, c := range []string{big + "12\n", big + "1\n", big} { // a chain: each a delta of the next larger
		o := src.NewEncodedObject()
		o.SetType(plumbing.BlobObject)
		w, _ := o.Writer()
		_, _ = w.Write([]byte(c))
		_ = w.Close()
		h, err := src.SetEncodedObject(o)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	var buf bytes.Buffer
	if _, err := packfile.NewEncoder(&buf, src, true).Encode(hashes, 10); err != nil {
		t.Fatal(err)
	}
	lim := gitPackLimits{maxBlob: 64 << 10, maxObject: 1 << 30, maxTotal: 1 << 30, maxObjects: 100}
	_, err := gitCheckPack(context.Background(), gitTestFile(t, buf.Bytes()), lim)
	t.Logf("err: %v", err)
	if !errors.Is(err, ErrRemoteTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("limit %d", lim.maxBlob)) {
		t.Fatalf("err = %v, want ErrRemoteTooLarge at the file size limit", err)
	}
}

func gitTestFile(t *testing.T, b []byte) *os.File {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.pack")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

// TestGitOfsDelta round-trips OFS delta distances through go-git's
// decoder.
func TestGitOfsDelta(t *testing.T) {
	for _, ofs := range []int64{1, 127, 128, 129, 16511, 16512, 1 << 20, 1<<35 + 3} {
		got, err := gitbinary.ReadVariableWidthInt(bytes.NewReader(gitOfsDelta(ofs)))
		if err != nil || got != ofs {
			t.Errorf("%d: decoded as %d, %v", ofs, got, err)
		}
	}
}
