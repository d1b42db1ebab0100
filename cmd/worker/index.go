package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jetrun/jetrun/internal/textutil"
	"github.com/jetrun/jetrun/pkg/embed"
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/messages"
	"github.com/jetrun/jetrun/pkg/pipeline"
	"github.com/jetrun/jetrun/pkg/pipeline/source"
	"github.com/jetrun/jetrun/pkg/progress"
	"github.com/jetrun/jetrun/pkg/qdrantstore"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// errPermanent marks a failure that retrying cannot fix: the worker exits
// with jobs.ExitPermanent and the dispatcher does not retry.
var errPermanent = errors.New("refused")

// permanent reports whether err comes from refused input, which no retry
// can fix: a policy denial, an unsafe or corrupt archive, a missing ref,
// repository, object or collection, a schema mismatch, invalid params, an
// input or request the embedding endpoint refuses (4xx other than 408
// and 429), a download answered 4xx.
func permanent(err error) bool {
	for _, target := range []error{errPermanent, source.ErrPolicy, source.ErrUnsafeArchive, source.ErrArchiveLimit,
		source.ErrRefNotFound, source.ErrRepoNotFound, source.ErrRemoteTooLarge, source.ErrCorruptArchive, source.ErrUnknownArchive,
		qdrantstore.ErrSchemaMismatch, qdrantstore.ErrInvalid, qdrantstore.ErrNotFound, jobs.ErrInvalidParams,
		embed.ErrInputRejected, embed.ErrConfig, embed.ErrCredential} {
		if errors.Is(err, target) {
			return true
		}
	}
	clientError := func(code int) bool { return code >= 400 && code < 500 && code != 408 && code != 429 }
	var se *embed.StatusError
	if errors.As(err, &se) && clientError(se.Status) {
		return true
	}
	var he *source.HTTPError
	return errors.As(err, &he) && clientError(he.StatusCode)
}

// indexOp runs one of the indexing operations (upload_repo, upload_file,
// collection): parse --params, run, print the summary as JSON on stdout,
// and map the outcome to the exit code.
func indexOp(op string, args []string, getenv func(string) string, stdout, stderr io.Writer, log zerolog.Logger) int {
	fs := flag.NewFlagSet(op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	raw := fs.String("params", "", "the job's params (JSON)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	pub := progress.FromEnv(getenv, log)
	defer pub.Close()

	w := &worker{getenv: getenv, stdout: stdout, log: log, pub: pub}
	var result any
	var err error
	switch op {
	case "upload_repo":
		var p jobs.UploadRepoParams
		if err = decodeStrict(*raw, &p); err == nil {
			if err = p.Validate(); err == nil {
				result, err = w.uploadRepo(ctx, p)
			}
		}
	case "upload_file":
		var p jobs.UploadFileParams
		if err = decodeStrict(*raw, &p); err == nil {
			if err = p.Validate(); err == nil {
				result, err = w.uploadFile(ctx, p)
			}
		}
	case "collection":
		var p jobs.CollectionParams
		if err = decodeStrict(*raw, &p); err == nil {
			if err = p.Validate(); err == nil {
				result, err = w.collection(ctx, p)
			}
		}
	}
	if result != nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(result)
	}
	if err != nil {
		msg := source.Redact(err.Error())
		fmt.Fprintf(stderr, "worker %s: %s\n", op, msg)
		log.Error().Str("op", op).Msg(msg)
		pub.Report(context.WithoutCancel(ctx), messages.Progress{Message: "failed: " + textutil.Truncate(msg, 900)})
		if ctx.Err() != nil {
			return 128 + int(syscall.SIGTERM)
		}
		if permanent(err) {
			return jobs.ExitPermanent
		}
		return 1
	}
	return 0
}

func decodeStrict(raw string, v any) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: --params: %v", jobs.ErrInvalidParams, err)
	}
	return nil
}

type worker struct {
	getenv func(string) string
	stdout io.Writer
	log    zerolog.Logger
	pub    *progress.Publisher
}

// policy is the source policy the dispatcher handed down.
func (w *worker) policy() source.Policy {
	var hosts []string
	for _, h := range strings.Split(w.getenv(jobs.EnvAllowHosts), ",") {
		if h = strings.TrimSpace(h); h != "" {
			hosts = append(hosts, h)
		}
	}
	return source.Policy{
		AllowHosts:   hosts,
		AllowHTTP:    w.getenv(jobs.EnvAllowHTTP) == "1",
		AllowPrivate: w.getenv(jobs.EnvAllowPrivate) == "1",
		AllowFile:    w.getenv(jobs.EnvAllowLocal) == "1",
	}
}

// workDir makes the job's scratch directory; everything the job writes
// stays inside it, and it is removed at the end.
func (w *worker) workDir() (string, func(), error) {
	base := w.getenv("JETRUN_WORK_DIR")
	if base == "" {
		base = os.TempDir()
	}
	dir, err := os.MkdirTemp(base, "jetrun-job-")
	if err != nil {
		return "", nil, fmt.Errorf("work dir: %w", err)
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

func (w *worker) store(ctx context.Context) (*qdrantstore.Store, error) {
	cfg, err := qdrantstore.FromEnv(w.getenv)
	if err != nil {
		return nil, err
	}
	return qdrantstore.Open(ctx, cfg)
}

// embedders builds the job's embedders.
func (w *worker) embedders(e jobs.Embedding) (embed.Sparse, embed.Dense, error) {
	var sparse embed.Sparse
	if e.SparseName() == "bm25" {
		sparse = embed.NewBM25()
	}
	if e.Dense == nil {
		return sparse, nil, nil
	}
	cfg := embed.OpenAIConfig{
		BaseURL:          e.Dense.BaseURL,
		Model:            e.Dense.Model,
		Dimensions:       e.Dense.Dimensions,
		QueryInstruction: e.Dense.QueryInstruction,
		BatchSize:        e.Dense.BatchSize,
		BatchTokens:      e.Dense.BatchTokens,
		Concurrency:      e.Dense.Concurrency,
	}
	if e.Dense.Endpoint != "" {
		// The operator's endpoint, resolved by the dispatcher: its URL,
		// model, limits and key.
		num := func(k string) int { n, _ := strconv.Atoi(w.getenv(k)); return n }
		cfg.BaseURL, cfg.Model = w.getenv(jobs.EnvEmbedURL), w.getenv(jobs.EnvEmbedModel)
		cfg.Dimensions, cfg.BatchSize = num(jobs.EnvEmbedDimensions), num(jobs.EnvEmbedBatchSize)
		cfg.BatchTokens, cfg.Concurrency = num(jobs.EnvEmbedBatchTokens), num(jobs.EnvEmbedConcurrency)
		cfg.APIKey = w.getenv(jobs.EnvEmbedAPIKey)
		if cfg.BaseURL == "" || cfg.Model == "" {
			return nil, nil, fmt.Errorf("%w: embedding endpoint %q: the dispatcher handed no URL or model", errPermanent, e.Dense.Endpoint)
		}
	} else {
		// A job-supplied URL: dialled under the source policy (allowed
		// hosts, no private addresses unless allowed, no proxies from the
		// environment, redirects re-checked).
		pol := w.policy()
		if _, err := pol.CheckURL(e.Dense.BaseURL); err != nil {
			return nil, nil, fmt.Errorf("embedding.dense.base_url: %w", err)
		}
		cfg.HTTPClient = pol.HTTPClient(0)
		key, err := w.credential(e.Dense.Credential, jobs.EnvEmbedAPIKey, e.Dense.BaseURL)
		if err != nil {
			return nil, nil, err
		}
		cfg.APIKey = key
	}
	d, err := embed.NewOpenAI(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: dense embedder: %v", errPermanent, err)
	}
	return sparse, d, nil
}

// credential returns the secret in env for the credential the job named,
// after checking that it may be sent to rawURL (jobs.CredentialMayReach).
// A job that names no credential gets none, whatever the worker's
// environment holds (a Batch job definition injects its secrets into
// every worker).
func (w *worker) credential(name, env, rawURL string) (string, error) {
	if name == "" {
		return "", nil
	}
	if err := jobs.CredentialMayReach(w.getenv, name, rawURL); err != nil {
		return "", fmt.Errorf("%w: %w", source.ErrPolicy, err)
	}
	return w.getenv(env), nil
}

// selector builds the job's file selection. A git checkout holds tracked
// files only, some force-added past a .gitignore: those are indexed, so
// git sources do not apply .gitignore.
func (w *worker) selector(s jobs.Selection, git bool) (*source.Selector, error) {
	sel, err := source.NewSelector(source.SelectOptions{Include: s.Include, Exclude: s.Exclude, NoGitignore: git})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errPermanent, err)
	}
	return sel, nil
}

// indexResult is what an indexing job prints: the pipeline's summary and
// the worker's peak memory.
type indexResult struct {
	pipeline.Summary
	MaxRSSMiB float64 `json:"max_rss_mib"`
}

// prepare builds a job's embedders and file selection before anything is
// fetched: a refused embedding URL or a bad pattern fails the job before
// it contacts its source.
func (w *worker) prepare(e jobs.Embedding, sel jobs.Selection, git bool) (pipeline.Options, error) {
	var o pipeline.Options
	var err error
	if o.Sparse, o.Dense, err = w.embedders(e); err != nil {
		return o, err
	}
	if o.Selector, err = w.selector(sel, git); err != nil {
		return o, err
	}
	return o, nil
}

// index runs the pipeline with o (from prepare, its source filled in).
func (w *worker) index(ctx context.Context, o pipeline.Options) (any, error) {
	st, err := w.store(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	o.Store = st
	if w.pub != nil {
		o.Progress = w.pub
	}
	sum, err := pipeline.Index(ctx, o)
	w.log.Info().Str("collection", o.Collection).Str("source", sum.Source).Int64("files", sum.Files).
		Int64("indexed", sum.Indexed).Int64("unchanged", sum.Unchanged).Int64("removed", sum.Removed).
		Int64("chunks", sum.Chunks).Interface("skipped", sum.Skipped).Dur("took", sum.Duration).Msg("index finished")
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return indexResult{Summary: sum, MaxRSSMiB: float64(ru.Maxrss) / 1024}, err // Maxrss is in KiB on Linux
}

func (w *worker) uploadRepo(ctx context.Context, p jobs.UploadRepoParams) (any, error) {
	o, err := w.prepare(p.Embedding, p.Selection, true)
	if err != nil {
		return nil, err
	}
	dir, cleanup, err := w.workDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	pol := w.policy()
	url := p.RepoURL
	if strings.HasPrefix(url, "/") || strings.HasPrefix(url, "./") {
		if !pol.AllowFile {
			return nil, fmt.Errorf("%w: repo_url: local paths are not allowed by this worker's policy (dispatcher --dev allows them)", source.ErrPolicy)
		}
		abs, err := filepath.Abs(url)
		if err != nil {
			return nil, err
		}
		url = "file://" + abs
	}
	username := p.Username
	token, err := w.credential(p.Credential, jobs.EnvGitToken, url)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	g, err := source.CloneGit(ctx, source.GitOptions{URL: url, Ref: p.Ref, Dir: dir, Policy: pol, Username: username, Token: token})
	if err != nil {
		return nil, err
	}
	defer g.Close()
	w.log.Info().Str("repo", source.Redact(p.RepoURL)).Str("commit", g.Commit()).Dur("took", time.Since(start)).Msg("cloned")
	id := sourceURL(p.RepoURL)
	if p.Ref != "" {
		id += "@" + p.Ref
	}
	o.Collection, o.SourceID, o.Commit, o.Source = p.Collection, id, g.Commit(), g
	return w.index(ctx, o)
}

// sourceURL names a URL source: without credentials, query or fragment
// (presigned URLs carry secrets there), so it can go in every payload.
func sourceURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return source.Redact(raw)
	}
	u.User, u.RawQuery, u.Fragment, u.ForceQuery = nil, "", "", false
	return u.String()
}

// maxUpload bounds a fetched or downloaded input.
const maxUpload = 2 << 30

func (w *worker) uploadFile(ctx context.Context, p jobs.UploadFileParams) (any, error) {
	o, err := w.prepare(p.Embedding, p.Selection, false)
	if err != nil {
		return nil, err
	}
	dir, cleanup, err := w.workDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	pol := w.policy()
	var local, name, id string
	switch {
	case p.Object != nil:
		// The object's name starts with a content hash; the source is the
		// file's own name, so re-uploading a changed file replaces it.
		name = path.Base(p.Object.Name)
		id = "upload:" + name
		local = filepath.Join(dir, "input")
		if err := w.fetchObject(ctx, *p.Object, local); err != nil {
			return nil, err
		}
	case p.URL != "":
		id = sourceURL(p.URL)
		name = path.Base(id)
		local = filepath.Join(dir, "input")
		if _, _, err := source.Fetch(ctx, p.URL, pol, local, maxUpload); err != nil {
			return nil, err
		}
	case p.Path != "":
		if !pol.AllowFile {
			return nil, fmt.Errorf("%w: path: local paths are not allowed by this worker's policy (dispatcher --dev allows them)", source.ErrPolicy)
		}
		abs, err := filepath.Abs(p.Path)
		if err != nil {
			return nil, err
		}
		local, name, id = abs, filepath.Base(abs), "file:"+abs
	}
	if p.FileName != "" {
		name = p.FileName
	}
	if p.Source != "" {
		id = p.Source
	}
	src, err := w.openInput(local, name, dir)
	if err != nil {
		return nil, err
	}
	o.Collection, o.SourceID, o.Source = p.Collection, id, src
	return w.index(ctx, o)
}

// openInput opens a fetched input: an archive's entries, a local
// directory's files, or a single file under its name.
func (w *worker) openInput(local, name, dir string) (source.Source, error) {
	fi, err := os.Stat(local)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is neither a regular file nor a directory", errPermanent, name)
	}
	if fi.Size() > maxUpload {
		return nil, fmt.Errorf("%w: %s is over %d bytes", errPermanent, name, int64(maxUpload))
	}
	if fi.IsDir() {
		return source.OpenDir(local, source.DefaultLimits())
	}
	kind, err := source.Kind(local)
	if err != nil {
		return nil, err
	}
	if kind != "" {
		return source.OpenArchive(local, source.DefaultLimits())
	}
	// One plain file: index it under its own name.
	if name == "" || name == "." || name == "/" || !filepath.IsLocal(name) {
		name = "input"
	}
	named := filepath.Join(dir, "file", name)
	if err := os.MkdirAll(filepath.Dir(named), 0o700); err != nil {
		return nil, err
	}
	if err := os.Link(local, named); err != nil {
		if err := copyFile(local, named); err != nil {
			return nil, err
		}
	}
	return source.OpenDir(filepath.Join(dir, "file"), source.DefaultLimits())
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// fetchObject copies an uploaded object from the uploads object store to
// dst and checks its SHA-256.
func (w *worker) fetchObject(ctx context.Context, ref jobs.ObjectRef, dst string) error {
	js := w.pub.JetStream()
	if js == nil {
		return errors.New("upload_file: the worker cannot reach NATS to fetch the uploaded object")
	}
	names, err := messages.NewNames(w.getenv(jobs.EnvPrefix))
	if err != nil {
		return err
	}
	obs, err := js.ObjectStore(ctx, names.UploadsBucket())
	if err != nil {
		return fmt.Errorf("uploads object store %s: %w", names.UploadsBucket(), err)
	}
	r, err := obs.Get(ctx, ref.Name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("%w: uploaded object %q is not in %s (expired, or uploaded to another installation?)", errPermanent, ref.Name, names.UploadsBucket())
	}
	if err != nil {
		return fmt.Errorf("fetch uploaded object %q: %w", ref.Name, err)
	}
	defer r.Close()
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, maxUpload+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fetch uploaded object %q: %w", ref.Name, err)
	}
	if n > maxUpload {
		return fmt.Errorf("%w: uploaded object %q is over %d bytes", errPermanent, ref.Name, int64(maxUpload))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != ref.SHA256 {
		return fmt.Errorf("%w: uploaded object %q has sha256 %s, the job expects %s", errPermanent, ref.Name, got, ref.SHA256)
	}
	return nil
}

// collectionInfo is what the collection job prints for info and list.
type collectionInfo struct {
	Name    string              `json:"name"`
	Status  string              `json:"status,omitempty"`
	Points  uint64              `json:"points"`
	Dense   *qdrantstore.Dense  `json:"dense,omitempty"`
	Sparse  *qdrantstore.Sparse `json:"sparse,omitempty"`
	Meta    map[string]string   `json:"metadata,omitempty"`
	Indexes map[string]string   `json:"indexes,omitempty"`
}

func (w *worker) collection(ctx context.Context, p jobs.CollectionParams) (any, error) {
	st, err := w.store(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	info := func(name string) (collectionInfo, error) {
		in, err := st.Info(ctx, name)
		if err != nil {
			return collectionInfo{}, err
		}
		return collectionInfo{Name: name, Status: in.Status, Points: in.Points, Dense: in.Schema.Dense, Sparse: in.Schema.Sparse, Meta: in.Schema.Metadata, Indexes: in.Indexes}, nil
	}
	switch p.Action {
	case "list":
		names, err := st.List(ctx)
		if err != nil {
			return nil, err
		}
		out := []collectionInfo{}
		for _, n := range names {
			in, err := info(n)
			if err != nil {
				return nil, err
			}
			out = append(out, in)
		}
		return out, nil
	case "info":
		return info(p.Collection)
	case "delete":
		if err := st.DropCollection(ctx, p.Collection); err != nil {
			return nil, err
		}
		return map[string]any{"deleted": p.Collection}, nil
	case "create":
		sc := qdrantstore.Schema{}
		if p.Dense != nil {
			dist := qdrantstore.Distance(p.Dense.Distance)
			if dist == "" {
				dist = qdrantstore.Cosine
			}
			sc.Dense = &qdrantstore.Dense{Name: qdrantstore.DefaultDenseName, Size: uint64(p.Dense.Size), Distance: dist}
		}
		if p.Sparse {
			sc.Sparse = &qdrantstore.Sparse{Name: qdrantstore.DefaultSparseName, IDF: true}
		}
		created, err := st.EnsureCollection(ctx, p.Collection, sc)
		if err != nil {
			return nil, err
		}
		in, err := info(p.Collection)
		if err != nil {
			return nil, err
		}
		if !created {
			w.log.Info().Str("collection", p.Collection).Msg("collection already existed with this shape")
		}
		return in, nil
	}
	return nil, fmt.Errorf("%w: action %q", errPermanent, p.Action)
}
