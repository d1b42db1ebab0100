package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jetrun/jetrun/pkg/client"
	"github.com/jetrun/jetrun/pkg/embed"
	"github.com/jetrun/jetrun/pkg/jobs"
	"github.com/jetrun/jetrun/pkg/pipeline"
	"github.com/jetrun/jetrun/pkg/qdrantstore"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// embeddingFlags are the embedding options shared by upload-repo,
// upload-file and search.
type embeddingFlags struct {
	batch, batchTokens, concurrency int
	sparse                          string
	denseEndpoint                   string
	denseURL                        string
	denseModel                      string
	denseDims                       int
	credential                      string
	instruction                     string
}

func (e *embeddingFlags) register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&e.sparse, "sparse", envOr(getenv, "JETRUN_EMBED_SPARSE", "bm25"), "sparse embedder: bm25 or none (env JETRUN_EMBED_SPARSE)")
	fs.StringVar(&e.denseEndpoint, "dense-endpoint", getenv("JETRUN_EMBED_ENDPOINT"), "name of an embedding endpoint the operator configured on the dispatcher (JETRUN_EMBEDDER_<NAME>_URL, _MODEL, _KEY): its URL, model and key; instead of --dense-url (env JETRUN_EMBED_ENDPOINT)")
	fs.StringVar(&e.denseURL, "dense-url", getenv("JETRUN_EMBED_BASE_URL"), "OpenAI-compatible embeddings base URL, e.g. http://tei:8080/v1; empty: no dense vectors (env JETRUN_EMBED_BASE_URL)")
	fs.StringVar(&e.denseModel, "dense-model", getenv("JETRUN_EMBED_MODEL"), "dense model, e.g. Qwen/Qwen3-Embedding-8B (env JETRUN_EMBED_MODEL)")
	dims, _ := strconv.Atoi(getenv("JETRUN_EMBED_DIMENSIONS"))
	fs.IntVar(&e.denseDims, "dense-dimensions", dims, "request this vector size; 0: the model's (env JETRUN_EMBED_DIMENSIONS)")
	fs.StringVar(&e.credential, "dense-credential", getenv("JETRUN_EMBED_CREDENTIAL"), "name of the dispatcher credential holding the API key (env JETRUN_EMBED_CREDENTIAL)")
	fs.IntVar(&e.batch, "dense-batch", 0, "inputs per embedding request (0: the embedder's default, 64)")
	fs.IntVar(&e.batchTokens, "dense-batch-tokens", 0, "estimated tokens (chars/3) per embedding request (0: the embedder's default, 8192)")
	fs.IntVar(&e.concurrency, "dense-concurrency", 0, "embedding requests in flight (0: the embedder's default, 4)")
	fs.StringVar(&e.instruction, "query-instruction", getenv("JETRUN_EMBED_QUERY_INSTRUCTION"), "instruction prefixed to search queries, e.g. for Qwen3-Embedding (env JETRUN_EMBED_QUERY_INSTRUCTION)")
}

func (e embeddingFlags) embedding() jobs.Embedding {
	out := jobs.Embedding{Sparse: e.sparse}
	if e.sparse == "bm25" {
		out.Sparse = ""
	}
	switch {
	case e.denseEndpoint != "":
		// Model, URL and key are the endpoint's: the job's validation
		// refuses --dense-url, --dense-model or --dense-credential with it.
		out.Dense = &jobs.DenseEmbedding{Endpoint: e.denseEndpoint, BaseURL: e.denseURL, Model: e.denseModel, Credential: e.credential,
			Dimensions: e.denseDims, QueryInstruction: e.instruction, BatchSize: e.batch, BatchTokens: e.batchTokens, Concurrency: e.concurrency}
	case e.denseURL != "":
		out.Dense = &jobs.DenseEmbedding{BaseURL: e.denseURL, Model: e.denseModel, Dimensions: e.denseDims, Credential: e.credential,
			QueryInstruction: e.instruction, BatchSize: e.batch, BatchTokens: e.batchTokens, Concurrency: e.concurrency}
	}
	return out
}

// searchDense returns the dense embedder's URL, model and key for a
// search: --dense-url (key JETRUN_EMBED_API_KEY) or a named endpoint
// resolved from this process's JETRUN_EMBEDDER_<NAME>_* variables (the
// dispatcher's configuration is not visible to the CLI). ok is false when
// neither is given.
func (e embeddingFlags) searchDense(getenv func(string) string) (baseURL, model, key string, ok bool, err error) {
	if e.denseEndpoint == "" {
		return e.denseURL, e.denseModel, getenv(jobs.EnvEmbedAPIKey), e.denseURL != "", nil
	}
	if e.denseURL != "" {
		return "", "", "", false, fmt.Errorf("--dense-endpoint and --dense-url: give one")
	}
	ep, found := jobs.EndpointsFromEnv(getenv)(e.denseEndpoint)
	if !found {
		return "", "", "", false, fmt.Errorf("--dense-endpoint %s: set %s and %s where submit search runs (the dispatcher's endpoints are not visible to the CLI), or give --dense-url",
			e.denseEndpoint, jobs.EndpointEnv(e.denseEndpoint, "URL"), jobs.EndpointEnv(e.denseEndpoint, "MODEL"))
	}
	model = ep.Model
	if e.denseModel != "" {
		model = e.denseModel
	}
	return ep.URL, model, getenv(jobs.EndpointEnv(e.denseEndpoint, "KEY")), true, nil
}

func (a *app) uploadRepo(ctx context.Context, args []string) int {
	fs := a.flags("upload-repo")
	var s submission
	s.register(fs)
	var e embeddingFlags
	e.register(fs, a.getenv)
	var p jobs.UploadRepoParams
	var include, exclude listFlag
	fs.StringVar(&p.Ref, "ref", "", "branch, tag or commit (default: the default branch)")
	fs.StringVar(&p.Collection, "collection", "", "collection to index into (created if missing)")
	fs.Var(&include, "include", "index only paths matching this glob, ** spans directories (repeatable)")
	fs.Var(&exclude, "exclude", "skip paths matching this glob (repeatable)")
	fs.StringVar(&p.Credential, "credential", "", "name of the dispatcher credential holding a token for a private repository")
	fs.StringVar(&p.Username, "username", "", "user name sent with the token (default x-access-token)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: submit upload-repo URL --collection C [flags]\n\nIndexes one ref of a git repository (shallow clone) into a Qdrant collection.\nRe-running it re-embeds only files whose content changed.\n\nflags:\n")
		fs.PrintDefaults()
	}
	url, args := leadingArg(args)
	if code, ok := a.parse(fs, args); !ok {
		return code
	}
	if url == "" && fs.NArg() == 1 {
		url = fs.Arg(0)
	} else if fs.NArg() > 0 || url == "" {
		fmt.Fprintln(a.stderr, "submit upload-repo: want exactly one repository URL")
		return exitUsage
	}
	if !strings.Contains(url, "://") {
		// A local repository: the worker resolves paths in its own
		// directory, so send an absolute one.
		if abs, err := filepath.Abs(url); err == nil {
			url = abs
		}
	}
	p.RepoURL = url
	p.Include, p.Exclude = include, exclude
	p.Embedding = e.embedding()
	if err := p.Validate(); err != nil {
		return a.fail(err)
	}
	params, _ := json.Marshal(p)
	return a.submit(ctx, "upload_repo", params, &s)
}

func (a *app) uploadFile(ctx context.Context, args []string) int {
	fs := a.flags("upload-file")
	var s submission
	s.register(fs)
	var e embeddingFlags
	e.register(fs, a.getenv)
	var p jobs.UploadFileParams
	var include, exclude listFlag
	local := fs.Bool("local", false, "hand the worker the path instead of uploading it (the worker must run on this machine and allow local paths, as dispatcher --dev does)")
	fs.StringVar(&p.Collection, "collection", "", "collection to index into (created if missing)")
	fs.StringVar(&p.Source, "source", "", "source name in the payload; re-indexing the same source replaces its points (default upload:<name> or the URL)")
	fs.Var(&include, "include", "index only archive paths matching this glob (repeatable)")
	fs.Var(&exclude, "exclude", "skip archive paths matching this glob (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: submit upload-file PATH|URL --collection C [flags]\n\nIndexes one file or archive (zip, tar, tar.gz). A local PATH is uploaded to\nthe JETRUN_UPLOADS object store, so a worker on any runtime can fetch it.\n\nflags:\n")
		fs.PrintDefaults()
	}
	input, args := leadingArg(args)
	if code, ok := a.parse(fs, args); !ok {
		return code
	}
	if input == "" && fs.NArg() == 1 {
		input = fs.Arg(0)
	} else if fs.NArg() > 0 || input == "" {
		fmt.Fprintln(a.stderr, "submit upload-file: want exactly one path or URL")
		return exitUsage
	}
	p.Include, p.Exclude = include, exclude
	p.Embedding = e.embedding()
	switch {
	case strings.HasPrefix(input, "https://") || strings.HasPrefix(input, "http://"):
		p.URL = input
	case *local:
		abs, err := filepath.Abs(input)
		if err != nil {
			return a.fail(err)
		}
		p.Path = abs
	default:
		nc, c, err := a.connect()
		if err != nil {
			return a.fail(err)
		}
		ref, err := c.Upload(ctx, input)
		nc.Close()
		if err != nil {
			return a.fail(err)
		}
		fmt.Fprintf(a.stderr, "uploaded %s as %s (%d bytes, sha256 %s…)\n", input, ref.Name, ref.Size, ref.SHA256[:12])
		p.Object = &ref
	}
	if err := p.Validate(); err != nil {
		return a.fail(err)
	}
	params, _ := json.Marshal(p)
	return a.submit(ctx, "upload_file", params, &s)
}

// leadingArg splits off a first argument that is not a flag, so that
// "submit upload-repo URL --collection c" works as well as flags first.
func leadingArg(args []string) (string, []string) {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return args[0], args[1:]
	}
	return "", args
}

// collection runs a collection job and prints its result.
func (a *app) collection(ctx context.Context, args []string) int {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(a.stderr, "usage: submit collection create|delete|list|info [NAME] [flags]\n")
		return exitUsage
	}
	action := args[0]
	fs := a.flags("collection " + action)
	var s submission
	s.register(fs)
	var dense int
	var distance string
	var sparse bool
	if action == "create" {
		fs.IntVar(&dense, "dense", 0, "dense vector size (0: none)")
		fs.StringVar(&distance, "distance", "Cosine", "dense distance: Cosine, Dot, Euclid or Manhattan")
		fs.BoolVar(&sparse, "sparse", false, "a sparse (bm25) vector with the IDF modifier")
	}
	name, rest := leadingArg(args[1:])
	if code, ok := a.parse(fs, rest); !ok {
		return code
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	p := jobs.CollectionParams{Action: action, Collection: name, Sparse: sparse}
	if dense > 0 {
		p.Dense = &jobs.DenseVectors{Size: dense, Distance: distance}
	}
	if err := p.Validate(); err != nil {
		return a.fail(err)
	}
	params, _ := json.Marshal(p)
	// A collection job is quick: wait for it, then print its result (the
	// worker's JSON document) rather than its events.
	s.wait = true
	out, output := a.stdout, a.output
	var events bytes.Buffer
	a.stdout, a.output = &events, "text"
	id, code := a.submitJob(ctx, "collection", params, &s)
	a.stdout, a.output = out, output
	if code != exitOK || id == "" {
		fmt.Fprint(a.stdout, events.String())
		return code
	}
	nc, c, err := a.connect()
	if err != nil {
		return a.fail(err)
	}
	defer nc.Close()
	var logs bytes.Buffer
	if err := c.Logs(ctx, id, client.LogsOptions{}, &logs); err != nil {
		fmt.Fprintf(a.stderr, "submit: job %s succeeded, but its output is not available: %v\n", id, err)
		return exitOK
	}
	doc, ok := resultDocument(logs.String())
	if !ok {
		fmt.Fprintf(a.stderr, "submit: job %s succeeded; no result in its output (see 'submit logs %s')\n", id, id)
		return exitOK
	}
	fmt.Fprintln(a.stdout, doc)
	return exitOK
}

// resultDocument finds the worker's result in its output: an indented
// JSON document starting on a line of its own ("{" or "["); log lines
// (one-line JSON objects on stderr) are passed over.
func resultDocument(out string) (string, bool) {
	out = "\n" + out
	for _, open := range []string{"\n{\n", "\n[\n", "\n[]\n"} {
		i := strings.Index(out, open)
		if i < 0 {
			continue
		}
		var v json.RawMessage
		dec := json.NewDecoder(strings.NewReader(out[i+1:]))
		if dec.Decode(&v) == nil {
			var b bytes.Buffer
			json.Indent(&b, v, "", "  ")
			return b.String(), true
		}
	}
	return "", false
}

// search queries a collection directly in Qdrant (no job): bm25 when the
// collection has sparse vectors, the dense endpoint when it has dense ones
// and one is configured, both fused by RRF.
func (a *app) search(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("submit search", flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	qcfg, err := qdrantstore.FromEnv(a.getenv)
	if err != nil {
		return a.fail(err)
	}
	qcfg.RegisterFlags(fs)
	var e embeddingFlags
	e.register(fs, a.getenv)
	collection := fs.String("collection", "", "collection to search")
	limit := fs.Int("limit", 10, "results")
	path := fs.String("path", "", "only chunks of this file path")
	lang := fs.String("language", "", "only chunks of this language (go, python, ...)")
	fs.StringVar(&a.output, "output", "text", "output format: text or json")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "usage: submit search --collection C [flags] QUERY...\n\nSearches a collection in Qdrant (QDRANT_HOST/QDRANT_PORT; the --dev\ndispatcher's embedded server by default) and prints path, line range,\nscore and a snippet of each hit.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if code, ok := a.parse(fs, args); !ok {
		return code
	}
	query := strings.Join(fs.Args(), " ")
	if *collection == "" || strings.TrimSpace(query) == "" {
		fmt.Fprintln(a.stderr, "submit search: want --collection and a query")
		return exitUsage
	}
	st, err := qdrantstore.Open(ctx, qcfg)
	if err != nil {
		return a.fail(err)
	}
	defer st.Close()
	info, err := st.Info(ctx, *collection)
	if err != nil {
		return a.fail(err)
	}
	var sparse embed.Sparse
	if info.Schema.Sparse != nil && e.sparse != "none" {
		sparse = embed.NewBM25()
	}
	var dense embed.Dense
	denseURL, denseModel, denseKey, haveDense, err := e.searchDense(a.getenv)
	if err != nil {
		return a.fail(err)
	}
	if info.Schema.Dense != nil && haveDense {
		model, indexed := denseModel, info.Schema.Metadata[pipeline.MetaDense]
		if model == "" {
			model = indexed
		} else if indexed != "" && model != indexed {
			return a.fail(fmt.Errorf("collection %s was embedded with %q, not %q: query vectors would not be comparable", *collection, indexed, model))
		}
		// Ask for the collection's size only if indexing asked for a size.
		dims := 0
		if e.denseDims > 0 {
			dims = e.denseDims
		}
		dense, err = embed.NewOpenAI(embed.OpenAIConfig{BaseURL: denseURL, Model: model, Dimensions: dims,
			APIKey: denseKey, QueryInstruction: e.instruction})
		if err != nil {
			return a.fail(err)
		}
	}
	if sparse == nil && dense == nil {
		return a.fail(fmt.Errorf("collection %s: nothing to search with (it has %s; give --dense-url or --dense-endpoint for dense vectors)", *collection, describeSchema(info.Schema)))
	}
	if info.Schema.Dense != nil && dense == nil {
		fmt.Fprintln(a.stderr, "submit search: the collection also has dense vectors; give --dense-url or --dense-endpoint to search them too")
	}
	hits, err := pipeline.Search(ctx, st, pipeline.SearchOptions{Collection: *collection, Query: query, Sparse: sparse, Dense: dense, Limit: *limit, Path: *path, Language: *lang})
	if err != nil {
		return a.fail(err)
	}
	if a.output == "json" {
		a.printJSON(hits)
		return exitOK
	}
	if len(hits) == 0 {
		fmt.Fprintln(a.stdout, "no results")
		return exitOK
	}
	for i, h := range hits {
		loc := fmt.Sprintf("%s:%d-%d", h.Path, h.StartLine, h.EndLine)
		fmt.Fprintf(a.stdout, "%2d. %-50s  score %.4f", i+1, loc, h.Score)
		if h.Symbol != "" {
			fmt.Fprintf(a.stdout, "  %s", h.Symbol)
		}
		fmt.Fprintln(a.stdout)
		for _, line := range snippet(h.Text, 4, 110) {
			fmt.Fprintf(a.stdout, "      %s\n", line)
		}
	}
	return exitOK
}

func describeSchema(s qdrantstore.Schema) string {
	var parts []string
	if s.Dense != nil {
		parts = append(parts, fmt.Sprintf("dense %d-d", s.Dense.Size))
	}
	if s.Sparse != nil {
		parts = append(parts, "sparse")
	}
	if len(parts) == 0 {
		return "no vectors"
	}
	return strings.Join(parts, " and ") + " vectors"
}

// snippet returns the first non-blank lines of text, each cut to width.
func snippet(text string, lines, width int) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		l = strings.ReplaceAll(l, "\t", "    ")
		if len([]rune(l)) > width {
			l = string([]rune(l)[:width-1]) + "…"
		}
		out = append(out, l)
		if len(out) == lines {
			break
		}
	}
	return out
}
