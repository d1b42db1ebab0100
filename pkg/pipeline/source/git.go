package source

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/jetrun/jetrun/internal/textutil"
)

// Defaults for the zero values of GitOptions' limits.
const (
	DefaultGitMaxFileSize int64 = 1 << 20 // 1 MiB
	DefaultGitMaxFiles          = 100_000
	DefaultGitMaxBytes    int64 = 1 << 30 // 1 GiB
)

// DefaultGitUsername is the user name sent with a token when
// GitOptions.Username is empty. GitHub accepts any user name with a token;
// "x-access-token" is what it documents for app tokens. GitLab wants
// "oauth2" (or any name) with a personal or project token; Bitbucket wants
// "x-token-auth" for access tokens: set Username for those.
const DefaultGitUsername = "x-access-token"

var (
	// ErrRefNotFound: the ref (branch, tag or commit) does not exist in
	// the repository, or the repository is empty.
	ErrRefNotFound = errors.New("git ref not found")
	// ErrRepoNotFound: the server answered that the repository does not
	// exist or that the credentials do not give access to it. Hosts like
	// GitHub answer both cases the same way, so they cannot be told apart.
	ErrRepoNotFound = errors.New("repository not found or access denied")
	// ErrRemoteTooLarge: a remote input exceeded one of its bounds (bytes
	// downloaded, objects, an object's size, files or bytes of a checkout).
	ErrRemoteTooLarge = errors.New("remote input exceeds its limit")
)

// Bounds that are not options: they only stop inputs no real repository has.
const (
	gitMaxTreeDepth     = 256  // nested directories
	gitMaxPathLen       = 4096 // bytes of a path
	gitMaxErrorBody     = 4 << 10
	gitProgressEvery    = 256 << 10
	gitMaxTagChain      = 8
	gitExtraAdvertBytes = 1 << 20
)

// GitOptions configures CloneGit.
type GitOptions struct {
	// URL is the repository: https://host/path (see Policy for what else
	// may be allowed). Credentials in the URL are refused.
	URL string
	// Ref is a branch or tag name (tried as refs/heads/<Ref>, then
	// refs/tags/<Ref>), a full ref name ("refs/..."), a full 40-hex commit
	// hash, or "" for the remote's default branch (HEAD).
	Ref string
	// Dir is the job's work directory, created by the caller. CloneGit
	// keeps a bare object store there and writes nothing outside it.
	Dir string
	// Policy decides which URLs and addresses may be contacted.
	Policy Policy
	// Username and Token authenticate over http(s) with basic auth. They
	// come from a named credential resolved by the caller and never
	// appear in an error. Username defaults to DefaultGitUsername when a
	// Token is set.
	Username, Token string
	// MaxFileSize is the largest file Walk reads; bigger ones are yielded
	// with Skip = SkipTooLarge. CloneGit drops their blobs from the
	// fetched pack before go-git indexes it (go-git would hold each one
	// in memory whole): they are streamed through once, to find where
	// the next object starts, and never stored nor held in memory.
	// Default DefaultGitMaxFileSize.
	MaxFileSize int64
	// MaxFiles bounds the entries Walk yields (skipped ones included).
	// Default DefaultGitMaxFiles.
	MaxFiles int
	// MaxBytes bounds the checkout: the pack downloaded, the bytes all
	// its objects inflate to together (blobs over MaxFileSize included),
	// any one object other than a blob, and the total of the file contents
	// Walk yields. Default DefaultGitMaxBytes.
	MaxBytes int64
	// Depth is the number of commits fetched; default 1 (the commit
	// itself). A larger depth only costs more. File URLs (go-git's
	// in-process server, which has no shallow support) always fetch the
	// whole history.
	Depth int
	// Progress, if set, is called with the number of pack bytes received
	// so far, every 256 KiB and once at the end of each download.
	Progress func(received int64)
}

// Git is a fetched commit of a git repository. Its files are read from the
// commit's tree in the object store: no work tree is checked out.
type Git struct {
	url         string // redacted, for errors
	st          *filesystem.Storage
	commit      plumbing.Hash
	maxFileSize int64
	maxFiles    int
	maxBytes    int64
	// dropped counts the blobs over maxFileSize that CloneGit left out
	// of the object store: when it is not 0, Walk takes a missing blob
	// for one of them.
	dropped int
}

var _ Source = (*Git)(nil)

// CloneGit fetches one ref of the repository at opts.URL into opts.Dir: a
// shallow fetch of a single commit, without tags or submodules, over a
// client that enforces opts.Policy (see Policy.HTTPClient). The URL is
// checked before anything is sent.
//
// A commit hash is fetched directly ("want <hash>"), which works when the
// server allows fetching a reachable commit that is not a branch or tag
// tip: git http-backend (smart HTTP, stateless) does, as do GitHub, GitLab
// and Bitbucket. If the server refuses, CloneGit fetches the default
// branch's whole history (bounded by MaxBytes) and looks for the commit
// there.
//
// Errors name the operation and the redacted URL and wrap ErrPolicy,
// ErrRepoNotFound, ErrRefNotFound or ErrRemoteTooLarge where they apply
// (also context.Canceled / DeadlineExceeded); anything else is a network
// or server failure that may be retried.
func CloneGit(ctx context.Context, opts GitOptions) (*Git, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	u, err := opts.Policy.CheckURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("git clone: %w", err)
	}
	if err := checkGitRef(opts.Ref); err != nil {
		return nil, fmt.Errorf("git clone %s: %w", RedactURL(u), err)
	}
	c := &gitClone{opts: opts, u: u, url: RedactURL(u)}
	return c.run(ctx)
}

func (o *GitOptions) defaults() error {
	if o.Dir == "" {
		return errors.New("git clone: no work directory")
	}
	if o.MaxFileSize < 0 || o.MaxFiles < 0 || o.MaxBytes < 0 || o.Depth < 0 {
		return errors.New("git clone: negative limit")
	}
	if o.MaxFileSize == 0 {
		o.MaxFileSize = DefaultGitMaxFileSize
	}
	if o.MaxFiles == 0 {
		o.MaxFiles = DefaultGitMaxFiles
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultGitMaxBytes
	}
	if o.Depth == 0 {
		o.Depth = 1
	}
	if o.Token != "" && o.Username == "" {
		o.Username = DefaultGitUsername
	}
	return nil
}

// checkGitRef refuses refs that could be taken for options and names git
// would refuse (git check-ref-format), so that they fail early and clearly.
func checkGitRef(ref string) error {
	if ref == "" {
		return nil
	}
	if strings.HasPrefix(ref, "-") {
		return fmt.Errorf("%w: ref must not start with %q", ErrPolicy, "-")
	}
	bad := len(ref) > 255 || strings.Contains(ref, "..") || strings.Contains(ref, "@{") ||
		strings.Contains(ref, "//") || strings.HasPrefix(ref, "/") || strings.HasSuffix(ref, "/") ||
		strings.HasSuffix(ref, ".") || strings.HasSuffix(ref, ".lock") || ref == "@"
	for _, r := range ref {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%w: invalid ref name %q", ErrRefNotFound, textutil.Truncate(ref, 64))
	}
	return nil
}

// isFullHash reports whether s is a full SHA-1 commit hash.
func isFullHash(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// gitClone is the state of one CloneGit call.
type gitClone struct {
	opts     GitOptions
	u        *url.URL
	url      string
	limitHit atomic.Bool // a response body went over its bound
	received int64
	st       *filesystem.Storage
	dropped  int // blobs left out of the stored packs (see gitCheckPack)
}

func (c *gitClone) run(ctx context.Context) (g *Git, err error) {
	if info, err := os.Stat(c.opts.Dir); err != nil {
		return nil, fmt.Errorf("git clone %s: work directory: %w", c.url, err)
	} else if !info.IsDir() {
		return nil, fmt.Errorf("git clone %s: work directory %s is not a directory", c.url, c.opts.Dir)
	}
	sess, err := c.session()
	if err != nil {
		return nil, c.fail(ctx, "connect", err)
	}
	defer sess.Close()

	ar, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil {
		return nil, c.fail(ctx, "list refs", err)
	}
	want, byHash, err := resolveGitRef(ar, c.opts.Ref)
	if err != nil {
		return nil, fmt.Errorf("git clone %s: %w", c.url, err)
	}

	fs := osfs.New(c.opts.Dir, osfs.WithBoundOS())
	c.st = filesystem.NewStorageWithOptions(fs, cache.NewObjectLRU(16*cache.MiByte), filesystem.Options{
		LargeObjectThreshold: c.opts.MaxFileSize,
	})
	defer func() {
		if err != nil {
			_ = c.st.Close()
		}
	}()

	ferr := c.fetch(ctx, sess, ar, want, c.opts.Depth)
	if ferr == nil && !c.has(want) {
		ferr = fmt.Errorf("server did not send %s", want)
	}
	if ferr != nil {
		if !byHash || ctx.Err() != nil || c.limitHit.Load() || gitErrIs(ferr, ErrPolicy) || errors.Is(ferr, ErrRemoteTooLarge) {
			return nil, c.fail(ctx, "fetch", ferr)
		}
		// The server refused "want <commit>" (it only serves branch
		// and tag tips): fetch the default branch's history and look
		// for the commit there.
		if ar.Head == nil {
			return nil, fmt.Errorf("git clone %s: %w: commit %s: the server refused it and has no default branch", c.url, ErrRefNotFound, want)
		}
		if err := c.fetch(ctx, sess, ar, *ar.Head, 0); err != nil {
			return nil, c.fail(ctx, "fetch default branch", err)
		}
		if !c.has(want) {
			return nil, fmt.Errorf("git clone %s: %w: commit %s is not on the default branch (and the server refused to send it directly)", c.url, ErrRefNotFound, want)
		}
	}

	commit, err := c.peel(want)
	if err != nil {
		return nil, fmt.Errorf("git clone %s: %w", c.url, err)
	}
	return &Git{
		url:         c.url,
		st:          c.st,
		commit:      commit,
		maxFileSize: c.opts.MaxFileSize,
		maxFiles:    c.opts.MaxFiles,
		maxBytes:    c.opts.MaxBytes,
		dropped:     c.dropped,
	}, nil
}

// session opens an upload-pack session for the checked URL: over a
// per-call HTTP client for http(s) (go-git's global protocol registry is
// not used), or go-git's in-process server for file URLs.
func (c *gitClone) session() (transport.UploadPackSession, error) {
	if c.u.Scheme == "file" {
		// go-git's server opens the path as a git directory: for a
		// working copy that is its .git.
		p := c.u.Path
		if fi, err := os.Stat(filepath.Join(p, ".git")); err == nil && fi.IsDir() {
			p = filepath.Join(p, ".git")
		}
		ep, err := transport.NewEndpoint(p)
		if err != nil {
			return nil, err
		}
		return server.DefaultServer.NewUploadPackSession(ep, nil)
	}
	ep, err := transport.NewEndpoint(c.u.String())
	if err != nil {
		return nil, err
	}
	hc := c.opts.Policy.HTTPClient(0)
	hc.Transport = &gitBodyLimit{rt: hc.Transport, limit: c.opts.MaxBytes + gitExtraAdvertBytes, hit: &c.limitHit}
	tr := githttp.NewClientWithOptions(hc, &githttp.ClientOptions{RedirectPolicy: githttp.FollowInitialRedirects})
	var auth transport.AuthMethod
	if c.opts.Token != "" {
		auth = &githttp.BasicAuth{Username: c.opts.Username, Password: c.opts.Token}
	}
	return tr.NewUploadPackSession(ep, auth)
}

// resolveGitRef picks the object to fetch for ref from the advertised
// refs. byHash is true when ref is a commit hash that is not advertised.
func resolveGitRef(ar *packp.AdvRefs, ref string) (want plumbing.Hash, byHash bool, err error) {
	if ref == "" || ref == "HEAD" {
		if ar.Head == nil {
			return plumbing.ZeroHash, false, fmt.Errorf("%w: the remote has no default branch (HEAD)", ErrRefNotFound)
		}
		return *ar.Head, false, nil
	}
	if isFullHash(ref) {
		h := plumbing.NewHash(strings.ToLower(ref))
		for _, adv := range ar.References {
			if adv == h {
				return h, false, nil
			}
		}
		return h, true, nil
	}
	names := []string{"refs/heads/" + ref, "refs/tags/" + ref}
	if strings.HasPrefix(ref, "refs/") {
		names = []string{ref}
	}
	for _, n := range names {
		if h, ok := ar.References[n]; ok {
			return h, false, nil
		}
	}
	hint := ""
	if len(ref) >= 4 && len(ref) < 40 && isFullHash(ref+strings.Repeat("0", 40-len(ref))) {
		hint = " (abbreviated commit hashes are not supported: use the full 40-character hash)"
	}
	return plumbing.ZeroHash, false, fmt.Errorf("%w: no branch or tag %q%s", ErrRefNotFound, textutil.Truncate(ref, 64), hint)
}

// fetch asks for want (depth commits deep, 0 = all) and stores the pack.
func (c *gitClone) fetch(ctx context.Context, sess transport.UploadPackSession, ar *packp.AdvRefs, want plumbing.Hash, depth int) (err error) {
	req := packp.NewUploadPackRequestFromCapabilities(ar.Capabilities)
	req.Capabilities.Delete(capability.ThinPack) // nothing to complete a thin pack with
	req.Wants = []plumbing.Hash{want}
	if depth > 0 && ar.Capabilities.Supports(capability.Shallow) {
		req.Depth = packp.DepthCommits(depth)
		if err := req.Capabilities.Set(capability.Shallow); err != nil {
			return err
		}
	}
	if c.opts.Progress == nil && ar.Capabilities.Supports(capability.NoProgress) {
		if err := req.Capabilities.Set(capability.NoProgress); err != nil {
			return err
		}
	}
	resp, err := sess.UploadPack(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Close()

	var r io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		r = sideband.NewDemuxer(sideband.Sideband64k, resp)
	case req.Capabilities.Supports(capability.Sideband):
		r = sideband.NewDemuxer(sideband.Sideband, resp)
	}

	// The pack goes to a temporary file first so that its objects can be
	// checked against the limits before go-git inflates them (go-git
	// holds each object in memory, whole, while indexing).
	var temps []*os.File
	defer func() {
		for _, f := range temps {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	tempPack := func() (*os.File, error) {
		f, err := os.CreateTemp(c.opts.Dir, "incoming-*.pack")
		if err == nil {
			temps = append(temps, f)
		}
		return f, err
	}
	tmp, err := tempPack()
	if err != nil {
		return err
	}
	if err := c.download(ctx, tmp, r); err != nil {
		return err
	}
	_ = resp.Close()
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	pack, err := gitCheckPack(ctx, tmp, gitPackLimits{
		maxBlob:    c.opts.MaxFileSize,
		maxObject:  c.opts.MaxBytes,
		maxTotal:   c.opts.MaxBytes,
		maxObjects: uint32(min(int64(8*c.opts.MaxFiles+4096), 1<<31)),
	})
	if err != nil {
		return err
	}
	stored := tmp
	if pack.dropped > 0 {
		// Store the pack without the blobs too large to be read.
		if stored, err = tempPack(); err != nil {
			return err
		}
		if err := gitWritePack(stored, tmp, pack.entries); err != nil {
			return fmt.Errorf("filter pack: %w", err)
		}
		c.dropped += pack.dropped
	}
	if _, err := stored.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if err := packfile.UpdateObjectStorage(c.st, stored); err != nil {
		return fmt.Errorf("store pack: %w", err)
	}
	if len(resp.Shallows) > 0 {
		old, err := c.st.Shallow()
		if err != nil {
			return err
		}
		for _, h := range resp.Shallows {
			if !slices.Contains(old, h) {
				old = append(old, h)
			}
		}
		if err := c.st.SetShallow(old); err != nil {
			return err
		}
	}
	return nil
}

// download copies the pack stream to w, at most MaxBytes, reporting
// progress.
func (c *gitClone) download(ctx context.Context, w io.Writer, r io.Reader) error {
	buf := make([]byte, 64<<10)
	limit := c.opts.MaxBytes
	var n, reported int64
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		k, rerr := r.Read(buf)
		if k > 0 {
			n += int64(k)
			c.received += int64(k)
			if n > limit {
				return fmt.Errorf("%w: pack larger than %d bytes", ErrRemoteTooLarge, limit)
			}
			if _, err := w.Write(buf[:k]); err != nil {
				return err
			}
			if c.opts.Progress != nil && n-reported >= gitProgressEvery {
				reported = n
				c.opts.Progress(c.received)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("receive pack: %w", rerr)
		}
	}
	if c.opts.Progress != nil {
		c.opts.Progress(c.received)
	}
	if n == 0 {
		return errors.New("receive pack: empty response")
	}
	return nil
}

// has reports whether the object store holds h.
func (c *gitClone) has(h plumbing.Hash) bool {
	return c.st.HasEncodedObject(h) == nil
}

// peel follows annotated tags from h to a commit.
func (c *gitClone) peel(h plumbing.Hash) (plumbing.Hash, error) {
	for range gitMaxTagChain {
		obj, err := c.st.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("%w: object %s: %w", ErrRefNotFound, h, err)
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
			tag, err := object.DecodeTag(c.st, obj)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("tag %s: %w", h, err)
			}
			h = tag.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("%w: %s is a %s, not a commit", ErrRefNotFound, h, obj.Type())
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("%w: tag chain longer than %d", ErrRefNotFound, gitMaxTagChain)
}

// fail turns an error from go-git or the network into a CloneGit error:
// operation, redacted URL, the matching sentinel, and a message with no
// credential in it.
func (c *gitClone) fail(ctx context.Context, op string, err error) error {
	var kinds []error
	switch {
	case c.limitHit.Load() || errors.Is(err, ErrRemoteTooLarge):
		kinds = append(kinds, ErrRemoteTooLarge)
	case gitErrIs(err, ErrPolicy):
		kinds = append(kinds, ErrPolicy)
	case gitErrIs(err, transport.ErrRepositoryNotFound),
		gitErrIs(err, transport.ErrAuthenticationRequired),
		gitErrIs(err, transport.ErrAuthorizationFailed):
		kinds = append(kinds, ErrRepoNotFound)
	case gitErrIs(err, transport.ErrEmptyRemoteRepository):
		kinds = append(kinds, ErrRefNotFound)
	}
	if cerr := ctx.Err(); cerr != nil {
		kinds = append(kinds, cerr)
	}
	// go-git formats "<sentinel>: <server's reason>", with an empty
	// reason at times.
	msg := strings.TrimRight(textutil.Truncate(c.scrub(err.Error()), 512), ": \n")
	for _, k := range kinds {
		if !strings.Contains(msg, k.Error()) {
			msg = k.Error() + ": " + msg
		}
	}
	return &gitError{op: op, url: c.url, msg: msg, kinds: kinds, cause: err}
}

// scrub removes credentials from a message: URL userinfo, and the token
// and user name wherever a server may have echoed them.
func (c *gitClone) scrub(s string) string {
	s = Redact(s)
	if c.opts.Token != "" {
		s = strings.ReplaceAll(s, c.opts.Token, "REDACTED")
	}
	if len(c.opts.Username) >= 8 && c.opts.Username != DefaultGitUsername {
		s = strings.ReplaceAll(s, c.opts.Username, "REDACTED")
	}
	return s
}

// gitError is an error of CloneGit. Its message is scrubbed; errors.Is
// sees the sentinels in kinds and the original error.
type gitError struct {
	op, url, msg string
	kinds        []error
	cause        error
}

func (e *gitError) Error() string {
	return "git " + e.op + " " + e.url + ": " + e.msg
}

func (e *gitError) Unwrap() []error {
	return append(slices.Clip(e.kinds), e.cause)
}

// gitErrIs is errors.Is that also looks inside go-git's error wrappers,
// which have no Unwrap method.
func gitErrIs(err, target error) bool {
	for range 16 {
		if err == nil {
			return false
		}
		if errors.Is(err, target) {
			return true
		}
		var ue *plumbing.UnexpectedError
		var pe *plumbing.PermanentError
		switch {
		case errors.As(err, &ue):
			err = ue.Err
		case errors.As(err, &pe):
			err = pe.Err
		default:
			return false
		}
	}
	return false
}

// gitBodyLimit bounds HTTP response bodies: a success body to limit bytes
// (an error past it, recorded in hit, since go-git flattens the errors of
// its decoders into text), an error body silently to gitMaxErrorBody
// (go-git reads all of it into the error message).
type gitBodyLimit struct {
	rt    http.RoundTripper
	limit int64
	hit   *atomic.Bool
}

func (t *gitBodyLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(resp.Body, gitMaxErrorBody), resp.Body}
		return resp, nil
	}
	resp.Body = &gitLimitedBody{rc: resp.Body, left: t.limit, hit: t.hit}
	return resp, nil
}

type gitLimitedBody struct {
	rc   io.ReadCloser
	left int64
	hit  *atomic.Bool
}

func (b *gitLimitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Probe for one more byte: only a body that goes on is too large.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			b.hit.Store(true)
			return 0, fmt.Errorf("%w: response body", ErrRemoteTooLarge)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *gitLimitedBody) Close() error { return b.rc.Close() }

// gitPackLimits bound a pack before go-git indexes it.
type gitPackLimits struct {
	maxBlob    int64  // a larger blob is dropped from the pack (MaxFileSize)
	maxObject  int64  // a larger object of another type is refused (MaxBytes)
	maxTotal   int64  // the bytes the whole pack inflates to (MaxBytes)
	maxObjects uint32 // objects in the pack
}

// gitPack is what gitCheckPack learned of a pack.
type gitPack struct {
	entries []gitPackEntry // in pack order
	dropped int            // entries with drop set
}

// gitPackEntry is one object of a pack.
type gitPackEntry struct {
	off, end int64               // its bytes in the pack: [off, end)
	base     int                 // an OFS delta's base entry, else -1
	typ      plumbing.ObjectType // a delta's is its base's; 0 when unknown
	drop     bool                // a blob over maxBlob, or a delta of one
}

// gitCheckPack reads the pack in f, inflating each object as it streams
// by (nothing is held in memory), and refuses it past maxObjects objects,
// maxTotal bytes inflated in all, or a non-blob object (for a delta: the
// object it produces) over maxObject. It stops at the first offending
// header (for a delta: the header of its data), before inflating the rest
// of that object.
//
// It marks for dropping the blobs over maxBlob (their size is in their
// header) and the deltas of a dropped blob: go-git's indexer would inflate
// each of them into memory whole, and Walk would not read them. A delta's
// type is its base's, found by offset (OFS delta) or by hash (REF delta,
// whose base's hash is computed as it streams by); a delta over maxBlob
// whose type is unknown (a REF delta on a delta) is refused, since it
// could be a blob.
func gitCheckPack(ctx context.Context, f *os.File, lim gitPackLimits) (*gitPack, error) {
	s := packfile.NewScanner(f)
	_, count, err := s.Header()
	if err != nil {
		return nil, fmt.Errorf("pack header: %w", err)
	}
	if count > lim.maxObjects {
		return nil, fmt.Errorf("%w: pack has %d objects (limit %d)", ErrRemoteTooLarge, count, lim.maxObjects)
	}
	p := &gitPack{entries: make([]gitPackEntry, 0, min(count, 1<<16))}
	byHash := make(map[plumbing.Hash]int)
	var total int64
	for i := uint32(0); i < count; i++ {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		oh, err := s.NextObjectHeader()
		if err != nil {
			return nil, fmt.Errorf("pack object %d: %w", i, err)
		}
		if n := len(p.entries); n > 0 {
			p.entries[n-1].end = oh.Offset
		}
		e := gitPackEntry{off: oh.Offset, base: -1, typ: oh.Type}
		delta := oh.Type == plumbing.OFSDeltaObject || oh.Type == plumbing.REFDeltaObject
		switch oh.Type {
		case plumbing.OFSDeltaObject:
			j, ok := slices.BinarySearchFunc(p.entries, oh.OffsetReference, func(e gitPackEntry, off int64) int { return cmp.Compare(e.off, off) })
			if !ok {
				return nil, fmt.Errorf("pack object %d: no object at its delta base's offset %d", i, oh.OffsetReference)
			}
			e.base, e.typ, e.drop = j, p.entries[j].typ, p.entries[j].drop
		case plumbing.REFDeltaObject:
			e.typ = 0
			if j, ok := byHash[oh.Reference]; ok {
				e.typ, e.drop = p.entries[j].typ, p.entries[j].drop
			}
		}
		// oh.Length is what the object (for a delta: its delta data)
		// inflates to, here and in go-git's indexer.
		if total += oh.Length; total > lim.maxTotal {
			return nil, fmt.Errorf("%w: pack inflating to more than %d bytes", ErrRemoteTooLarge, lim.maxTotal)
		}
		switch {
		case delta:
		case e.typ == plumbing.BlobObject && oh.Length > lim.maxBlob:
			e.drop = true
		case oh.Length > lim.maxObject:
			return nil, fmt.Errorf("%w: pack object of %d bytes (limit %d)", ErrRemoteTooLarge, oh.Length, lim.maxObject)
		}
		var w io.Writer
		var hasher plumbing.Hasher
		dw := &gitDeltaSize{max: lim.maxObject}
		if delta && e.typ == 0 {
			dw.max = min(lim.maxObject, lim.maxBlob) // it could be a blob
		}
		if delta {
			w = dw
		} else {
			hasher = plumbing.NewHasher(oh.Type, oh.Length)
			w = hasher
		}
		if _, _, err := s.NextObject(w); err != nil {
			if errors.Is(err, ErrRemoteTooLarge) {
				return nil, err
			}
			return nil, fmt.Errorf("pack object %d: %w", i, err)
		}
		if !delta {
			byHash[hasher.Sum()] = len(p.entries)
		}
		if delta && e.typ == plumbing.BlobObject && dw.target > uint64(lim.maxBlob) {
			e.drop = true
		}
		if e.drop {
			p.dropped++
		}
		p.entries = append(p.entries, e)
	}
	if _, err := s.Checksum(); err != nil {
		return nil, fmt.Errorf("pack checksum: %w", err)
	}
	if n := len(p.entries); n > 0 {
		// The scanner is just past the 20-byte checksum.
		pos, err := s.SeekFromStart(0)
		if err != nil {
			return nil, err
		}
		p.entries[n-1].end = pos - 20
	}
	return p, nil
}

// gitWritePack writes the pack in src to dst without its dropped entries:
// a new object count, each kept entry's bytes as they are but for an OFS
// delta's distance to its base (entries dropped between them shorten it;
// a dropped base drops its deltas, so the base is there), and a new
// checksum.
func gitWritePack(dst io.Writer, src io.ReaderAt, entries []gitPackEntry) error {
	sum := sha1.New()
	w := bufio.NewWriter(io.MultiWriter(dst, sum))
	kept := 0
	for _, e := range entries {
		if !e.drop {
			kept++
		}
	}
	w.WriteString("PACK")
	_ = binary.Write(w, binary.BigEndian, [2]uint32{packfile.VersionSupported, uint32(kept)})
	at := make([]int64, len(entries)) // the kept entries' new offsets
	pos := int64(12)
	for i, e := range entries {
		if e.drop {
			continue
		}
		at[i] = pos
		r := bufio.NewReader(io.NewSectionReader(src, e.off, e.end-e.off))
		if e.base >= 0 {
			// Type and size (as they are), then the distance to the
			// base, re-encoded.
			head, err := gitReadVarint(r)
			if err != nil {
				return err
			}
			if _, err := gitReadVarint(r); err != nil {
				return err
			}
			ofs := gitOfsDelta(pos - at[e.base])
			w.Write(head)
			w.Write(ofs)
			pos += int64(len(head) + len(ofs))
		}
		n, err := io.Copy(w, r)
		if err != nil {
			return err
		}
		pos += n
	}
	if err := w.Flush(); err != nil {
		return err
	}
	_, err := dst.Write(sum.Sum(nil))
	return err
}

// gitReadVarint reads the bytes of one of a pack entry's varints (the
// type and size, or an OFS delta's distance): up to a byte without the
// high bit.
func gitReadVarint(r io.ByteReader) ([]byte, error) {
	var b []byte
	for len(b) < 10 {
		c, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		if b = append(b, c); c&0x80 == 0 {
			return b, nil
		}
	}
	return nil, errors.New("malformed pack entry header")
}

// gitOfsDelta encodes an OFS delta's distance to its base as git does
// (big-endian 7-bit groups, each but the last one less one).
func gitOfsDelta(ofs int64) []byte {
	var b [10]byte
	i := len(b) - 1
	b[i] = byte(ofs & 0x7f)
	for ofs >>= 7; ofs > 0; ofs >>= 7 {
		ofs--
		i--
		b[i] = 0x80 | byte(ofs&0x7f)
	}
	return b[i:]
}

// gitDeltaSize reads a delta's header (source size, target size, both
// LEB128) into target and fails once the target size is known to exceed
// max.
type gitDeltaSize struct {
	max    int64
	target uint64
	head   []byte
	done   bool
}

func (d *gitDeltaSize) Write(p []byte) (int, error) {
	if d.done {
		return len(p), nil
	}
	d.head = append(d.head, p[:min(len(p), 32-len(d.head))]...)
	rest := d.head
	var target uint64
	for field := 0; field < 2; field++ {
		v, n, ok := leb128(rest)
		if !ok {
			if len(d.head) >= 32 {
				return 0, errors.New("malformed delta header")
			}
			return len(p), nil // need more bytes
		}
		rest = rest[n:]
		target = v
	}
	d.done, d.target = true, target
	if target > uint64(d.max) {
		return 0, fmt.Errorf("%w: pack delta producing %d bytes (limit %d)", ErrRemoteTooLarge, target, d.max)
	}
	return len(p), nil
}

// leb128 decodes git's delta size varint.
func leb128(b []byte) (v uint64, n int, ok bool) {
	var shift uint
	for i, c := range b {
		if shift > 63 {
			return 0, 0, false
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, i + 1, true
		}
		shift += 7
	}
	return 0, 0, false
}

// Commit returns the full hash of the fetched commit.
func (g *Git) Commit() string { return g.commit.String() }

// Close releases the object store's files. Dir itself is the caller's.
func (g *Git) Close() error { return g.st.Close() }

// Walk yields the files of the commit's tree, by path (byte order), as
// Source requires: regular and executable files with their content;
// symbolic links as SkipSymlink, submodules (gitlinks) as SkipNotRegular
// and files over MaxFileSize as SkipTooLarge, all without content. It
// fails with ErrRemoteTooLarge past MaxFiles entries or MaxBytes of
// content, and on a tree entry whose name is not a single local path
// element ("..", "a/b", ...), which no honest git client writes.
func (g *Git) Walk(ctx context.Context, fn func(File) error) error {
	commit, err := object.GetCommit(g.st, g.commit)
	if err != nil {
		return fmt.Errorf("git walk %s: commit %s: %w", g.url, g.commit, err)
	}
	w := &gitWalker{g: g, fn: fn, maxEntries: 2*g.maxFiles + 1024}
	if err := w.tree(ctx, commit.TreeHash, "", 0); err != nil {
		var fe gitFnError
		if errors.As(err, &fe) {
			return fe.err // fn's error, as is
		}
		return fmt.Errorf("git walk %s: %w", g.url, err)
	}
	return nil
}

type gitWalker struct {
	g          *Git
	fn         func(File) error
	files      int
	entries    int
	maxEntries int
	bytes      int64
}

// gitFnError carries an error returned by the walk function.
type gitFnError struct{ err error }

func (e gitFnError) Error() string { return e.err.Error() }

func (w *gitWalker) yield(f File) error {
	w.files++
	if w.files > w.g.maxFiles {
		return fmt.Errorf("%w: more than %d files", ErrRemoteTooLarge, w.g.maxFiles)
	}
	if err := w.fn(f); err != nil {
		return gitFnError{err}
	}
	return nil
}

func (w *gitWalker) tree(ctx context.Context, h plumbing.Hash, dir string, depth int) error {
	if depth > gitMaxTreeDepth {
		return fmt.Errorf("%w: directories nested deeper than %d", ErrRemoteTooLarge, gitMaxTreeDepth)
	}
	t, err := object.GetTree(w.g.st, h)
	if err != nil {
		return fmt.Errorf("tree %q: %w", dir, err)
	}
	// Sort by the name git sorts by (a directory as "name/"), which walks
	// paths in byte order; a hostile tree need not be sorted.
	entries := slices.Clone(t.Entries)
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	slices.SortStableFunc(entries, func(a, b object.TreeEntry) int { return strings.Compare(key(a), key(b)) })
	for i, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if i > 0 && entries[i-1].Name == e.Name {
			continue // duplicate name in a hostile tree: first one wins
		}
		w.entries++
		if w.entries > w.maxEntries {
			return fmt.Errorf("%w: more than %d tree entries", ErrRemoteTooLarge, w.maxEntries)
		}
		if e.Name == "" || e.Name == "." || e.Name == ".." || strings.ContainsAny(e.Name, "/\x00") {
			return fmt.Errorf("tree %q: invalid entry name %q", dir, textutil.Truncate(e.Name, 64))
		}
		p := path.Join(dir, e.Name)
		if len(p) > gitMaxPathLen || !filepath.IsLocal(p) {
			return fmt.Errorf("tree %q: invalid path %q", dir, textutil.Truncate(p, 64))
		}
		switch e.Mode {
		case filemode.Dir:
			if err := w.tree(ctx, e.Hash, p, depth+1); err != nil {
				return err
			}
		case filemode.Regular, filemode.Executable, filemode.Deprecated:
			if err := w.blob(e.Hash, p); err != nil {
				return err
			}
		case filemode.Symlink:
			if err := w.yield(File{Path: p, Skip: SkipSymlink}); err != nil {
				return err
			}
		default: // filemode.Submodule and anything unknown
			if err := w.yield(File{Path: p, Skip: SkipNotRegular}); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *gitWalker) blob(h plumbing.Hash, p string) error {
	obj, err := w.g.st.EncodedObject(plumbing.BlobObject, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) && w.g.dropped > 0 {
		// CloneGit left it out of the store: over MaxFileSize, or a
		// delta of such a blob.
		return w.yield(File{Path: p, Skip: SkipTooLarge})
	}
	if err != nil {
		return fmt.Errorf("file %q: %w", p, err)
	}
	size := obj.Size()
	if size > w.g.maxFileSize {
		return w.yield(File{Path: p, Skip: SkipTooLarge})
	}
	if w.bytes+size > w.g.maxBytes {
		return fmt.Errorf("%w: files larger than %d bytes in total", ErrRemoteTooLarge, w.g.maxBytes)
	}
	r, err := obj.Reader()
	if err != nil {
		return fmt.Errorf("file %q: %w", p, err)
	}
	var buf bytes.Buffer
	buf.Grow(int(size))
	_, err = buf.ReadFrom(io.LimitReader(r, size+1))
	_ = r.Close()
	if err != nil {
		return fmt.Errorf("file %q: %w", p, err)
	}
	if int64(buf.Len()) != size {
		return fmt.Errorf("file %q: object %s has %d bytes, header says %d", p, h, buf.Len(), size)
	}
	w.bytes += size
	data := buf.Bytes()
	if data == nil {
		data = []byte{}
	}
	return w.yield(File{Path: p, Data: data})
}
