package jobs

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jetrun/jetrun/internal/redact"
)

// Worker environment variables through which secrets of indexing jobs
// arrive (resolved by the dispatcher from named credentials).
const (
	EnvGitToken    = "JETRUN_GIT_TOKEN"     // token for the repository's host
	EnvEmbedAPIKey = "JETRUN_EMBED_API_KEY" // API key of the dense embedding endpoint
)

// CredentialHostsEnv names the variable that binds a credential to hosts:
// JETRUN_CREDENTIAL_<NAME>_HOSTS (upper case, '-' as '_'), a comma list of
// hosts or *.suffixes. The dispatcher hands these to workers; a job may
// then send the credential only to those hosts.
func CredentialHostsEnv(name string) string {
	return "JETRUN_CREDENTIAL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_HOSTS"
}

// Worker environment variables of the source policy, set by the
// dispatcher (--source-* flags; all allowed with --dev).
const (
	EnvAllowHosts   = "JETRUN_SOURCE_ALLOW_HOSTS"   // comma-separated hosts or *.suffixes; empty: any public host
	EnvAllowHTTP    = "JETRUN_SOURCE_ALLOW_HTTP"    // "1": plain http URLs
	EnvAllowPrivate = "JETRUN_SOURCE_ALLOW_PRIVATE" // "1": loopback, private and link-local addresses
	EnvAllowLocal   = "JETRUN_SOURCE_ALLOW_LOCAL"   // "1": file:// URLs and local paths
)

// Embedding selects an indexing job's embedders. Both set means hybrid
// search (dense and sparse fused by RRF).
type Embedding struct {
	// Sparse is "bm25" (the default) or "none".
	Sparse string `json:"sparse,omitempty"`
	// Dense configures an OpenAI-compatible /v1/embeddings endpoint; nil
	// means no dense vectors.
	Dense *DenseEmbedding `json:"dense,omitempty"`
}

// DenseEmbedding is an OpenAI-compatible embedding endpoint (vLLM, TEI,
// Ollama, OpenAI): one the operator configured, named by Endpoint, or,
// where the dispatcher allows job-supplied URLs, BaseURL and Model.
type DenseEmbedding struct {
	// Endpoint names an embedding endpoint of the dispatcher's
	// configuration (JETRUN_EMBEDDER_<NAME>_URL, _MODEL, _KEY, ...): its
	// URL, model, key and limits are the operator's (added 2026-12).
	Endpoint string `json:"endpoint,omitempty"`
	// BaseURL ends before /embeddings, e.g. "http://tei:8080/v1". Only
	// where the dispatcher accepts job-supplied embedding URLs
	// (--embed-allow-job-urls; on with --dev); the worker then dials it
	// under the source policy.
	BaseURL string `json:"base_url,omitempty"`
	// Model, e.g. "Qwen/Qwen3-Embedding-8B"; with Endpoint, the endpoint's.
	Model string `json:"model,omitempty"`
	// Dimensions requests that size (Matryoshka models); 0 = the model's.
	Dimensions int `json:"dimensions,omitempty"`
	// Credential names the API key in the dispatcher's configuration
	// (JETRUN_CREDENTIAL_<NAME>); it reaches the worker as a secret.
	Credential string `json:"credential,omitempty"`
	// QueryInstruction is prefixed to search queries only, as
	// instruction-tuned models such as Qwen3-Embedding expect.
	QueryInstruction string `json:"query_instruction,omitempty"`
	// BatchSize, BatchTokens (estimated, chars/3) and Concurrency bound
	// requests (0 = the embedder's defaults: 64, 8192, 4).
	BatchSize   int `json:"batch_size,omitempty"`
	BatchTokens int `json:"batch_tokens,omitempty"`
	Concurrency int `json:"concurrency,omitempty"`
}

// Sparse returns the sparse embedder's name, "" for none.
func (e Embedding) SparseName() string {
	if e.Sparse == "none" {
		return ""
	}
	return "bm25"
}

func (e Embedding) validate(kind string) error {
	switch e.Sparse {
	case "", "bm25", "none":
	default:
		return fmt.Errorf("%w: %s: embedding.sparse %q (want bm25 or none)", ErrInvalidParams, kind, e.Sparse)
	}
	if e.Sparse == "none" && e.Dense == nil {
		return fmt.Errorf("%w: %s: embedding: sparse is none and no dense embedder is configured", ErrInvalidParams, kind)
	}
	if d := e.Dense; d != nil && d.Endpoint != "" {
		switch {
		case !validCredential(d.Endpoint):
			return fmt.Errorf("%w: %s: embedding.dense.endpoint %q (letters, digits, - and _)", ErrInvalidParams, kind, d.Endpoint)
		case d.BaseURL != "" || d.Model != "" || d.Credential != "":
			return fmt.Errorf("%w: %s: embedding.dense: an endpoint brings its own base_url, model and key; set endpoint alone", ErrInvalidParams, kind)
		case len(d.QueryInstruction) > 1024:
			return fmt.Errorf("%w: %s: embedding.dense.query_instruction is over 1024 bytes", ErrInvalidParams, kind)
		case d.Dimensions < 0 || d.Dimensions > 65536 || d.BatchSize < 0 || d.BatchSize > 2048 || d.Concurrency < 0 || d.Concurrency > 64 || d.BatchTokens < 0 || d.BatchTokens > 1<<20:
			return fmt.Errorf("%w: %s: embedding.dense dimensions 0..65536, batch_size 0..2048, batch_tokens 0..1048576, concurrency 0..64", ErrInvalidParams, kind)
		}
		return nil
	}
	if d := e.Dense; d != nil {
		u, err := url.Parse(d.BaseURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return fmt.Errorf("%w: %s: embedding.dense.base_url %q (want http(s)://host[:port]/path)", ErrInvalidParams, kind, redact.URL(d.BaseURL))
		case u.User != nil:
			return fmt.Errorf("%w: %s: embedding.dense.base_url: credentials in the URL are not allowed; name a credential instead", ErrInvalidParams, kind)
		case d.Model == "" || len(d.Model) > 256:
			return fmt.Errorf("%w: %s: embedding.dense.model is required (at most 256 bytes)", ErrInvalidParams, kind)
		case d.Dimensions < 0 || d.Dimensions > 65536:
			return fmt.Errorf("%w: %s: embedding.dense.dimensions %d (want 0..65536)", ErrInvalidParams, kind, d.Dimensions)
		case d.Credential != "" && !validCredential(d.Credential):
			return fmt.Errorf("%w: %s: embedding.dense.credential %q (letters, digits, - and _)", ErrInvalidParams, kind, d.Credential)
		case len(d.QueryInstruction) > 1024:
			return fmt.Errorf("%w: %s: embedding.dense.query_instruction is over 1024 bytes", ErrInvalidParams, kind)
		case d.BatchSize < 0 || d.BatchSize > 2048 || d.Concurrency < 0 || d.Concurrency > 64 || d.BatchTokens < 0 || d.BatchTokens > 1<<20:
			return fmt.Errorf("%w: %s: embedding.dense batch_size 0..2048, batch_tokens 0..1048576, concurrency 0..64", ErrInvalidParams, kind)
		}
	}
	return nil
}

func (e Embedding) secrets() []SecretRef {
	if e.Dense != nil && e.Dense.Endpoint == "" && e.Dense.Credential != "" {
		return []SecretRef{{Credential: e.Dense.Credential, Env: EnvEmbedAPIKey, URL: e.Dense.BaseURL}}
	}
	return nil
}

// Selection narrows the files indexed, beyond the built-in rules.
type Selection struct {
	// Include keeps only paths matching one of these globs ("**" spans
	// directories), e.g. ["**/*.go", "docs/**"]. Empty keeps all.
	Include []string `json:"include,omitempty"`
	// Exclude drops paths matching one of these globs.
	Exclude []string `json:"exclude,omitempty"`
}

func (s Selection) validate(kind string) error {
	for name, globs := range map[string][]string{"include": s.Include, "exclude": s.Exclude} {
		if len(globs) > 100 {
			return fmt.Errorf("%w: %s: %s has %d globs (max 100)", ErrInvalidParams, kind, name, len(globs))
		}
		for _, g := range globs {
			if g == "" || len(g) > 256 || !utf8.ValidString(g) || strings.ContainsRune(g, 0) {
				return fmt.Errorf("%w: %s: %s glob %q (1..256 bytes of text)", ErrInvalidParams, kind, name, g)
			}
		}
	}
	return nil
}

// Qdrant's collection-name rule: 1 to 255 characters, none of these.
const forbiddenCollectionChars = "<>:\"/\\|?*\x00\x1f"

// ValidCollection reports whether name is a valid Qdrant collection name.
func ValidCollection(name string) bool {
	n := utf8.RuneCountInString(name)
	return n >= 1 && n <= 255 && utf8.ValidString(name) && !strings.ContainsAny(name, forbiddenCollectionChars) && name != "." && name != ".."
}

func validateCollection(kind, name string) error {
	if !ValidCollection(name) {
		return fmt.Errorf("%w: %s: collection %q (1..255 characters, none of < > : \" / \\ | ? *)", ErrInvalidParams, kind, name)
	}
	return nil
}

var credentialRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

func validCredential(name string) bool { return credentialRE.MatchString(name) }

// checkSourceURL is the submission-time check of a source URL. The worker
// applies the full policy (allowed hosts, private addresses, file access)
// again at fetch time, when it knows its configuration.
func checkSourceURL(kind, field, raw string, schemes ...string) error {
	if raw == "" || len(raw) > 2048 || strings.HasPrefix(raw, "-") || strings.ContainsAny(raw, "\x00\r\n") {
		return fmt.Errorf("%w: %s: %s %q", ErrInvalidParams, kind, field, redact.URL(raw))
	}
	if strings.Contains(raw, "::") && !strings.Contains(raw, "://") {
		return fmt.Errorf("%w: %s: %s: git transports such as ext:: are not allowed", ErrInvalidParams, kind, field)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %s: %s is not a URL", ErrInvalidParams, kind, field)
	}
	ok := false
	for _, s := range schemes {
		ok = ok || u.Scheme == s
	}
	if !ok {
		return fmt.Errorf("%w: %s: %s %q: scheme must be one of %v", ErrInvalidParams, kind, field, redact.URL(raw), schemes)
	}
	if u.User != nil {
		return fmt.Errorf("%w: %s: %s: credentials in the URL are not allowed; name a credential instead (%s)", ErrInvalidParams, kind, field, redact.URL(raw))
	}
	return nil
}

// paramsArgs renders params as the worker's command: [op, "--params", json].
func paramsArgs(op string, params any) []string {
	b, err := json.Marshal(params)
	if err != nil {
		panic(err) // plain structs always marshal
	}
	return []string{op, "--params", string(b)}
}

// UploadRepo indexes one ref of a git repository into a collection.
type UploadRepo struct{}

var _ Kind = UploadRepo{}

// UploadRepoParams are the upload_repo job's parameters.
type UploadRepoParams struct {
	// RepoURL is an https URL (http, file:// and local paths only where the
	// worker's policy allows them, as with dispatcher --dev). Never with
	// credentials: see Credential.
	RepoURL string `json:"repo_url"`
	// Ref is a branch, tag or full commit hash; "" is the default branch.
	Ref string `json:"ref,omitempty"`
	// Collection receives the chunks; created if missing.
	Collection string    `json:"collection"`
	Embedding  Embedding `json:"embedding,omitzero"`
	Selection
	// Credential names a token in the dispatcher's configuration for a
	// private repository (sent as HTTP basic auth password, user Username
	// or "x-access-token").
	Credential string `json:"credential,omitempty"`
	Username   string `json:"username,omitempty"`
}

// Name implements Kind.
func (UploadRepo) Name() string { return "upload_repo" }

// Defaults implements Kind: 2 CPU, 4Gi, 1 hour.
func (UploadRepo) Defaults() Resources {
	return Resources{CPUMilli: 2000, MemoryBytes: 4 << 30, Timeout: time.Hour}
}

// Plan implements Kind.
func (k UploadRepo) Plan(params json.RawMessage) (Plan, error) {
	var p UploadRepoParams
	if err := decodeParams(k.Name(), params, &p); err != nil {
		return Plan{}, err
	}
	if err := p.Validate(); err != nil {
		return Plan{}, err
	}
	plan := Plan{Command: paramsArgs(k.Name(), p), Secrets: p.Embedding.secrets(), Dense: p.Embedding.Dense}
	if p.Credential != "" {
		plan.Secrets = append(plan.Secrets, SecretRef{Credential: p.Credential, Env: EnvGitToken, URL: p.RepoURL})
	}
	return plan, nil
}

// Validate checks the params.
func (p UploadRepoParams) Validate() error {
	const kind = "upload_repo"
	isPath := strings.HasPrefix(p.RepoURL, "/") || strings.HasPrefix(p.RepoURL, "./")
	if !isPath {
		if err := checkSourceURL(kind, "repo_url", p.RepoURL, "https", "http", "file"); err != nil {
			return err
		}
	}
	if len(p.Ref) > 255 || strings.HasPrefix(p.Ref, "-") || strings.ContainsAny(p.Ref, " \t\r\n\x00~^:?*[\\") || strings.Contains(p.Ref, "..") {
		return fmt.Errorf("%w: %s: ref %q (a branch, tag or commit)", ErrInvalidParams, kind, p.Ref)
	}
	if err := validateCollection(kind, p.Collection); err != nil {
		return err
	}
	if p.Credential != "" && !validCredential(p.Credential) {
		return fmt.Errorf("%w: %s: credential %q (letters, digits, - and _)", ErrInvalidParams, kind, p.Credential)
	}
	if len(p.Username) > 256 || strings.ContainsAny(p.Username, ":@\x00\r\n") {
		return fmt.Errorf("%w: %s: username", ErrInvalidParams, kind)
	}
	if err := p.Selection.validate(kind); err != nil {
		return err
	}
	return p.Embedding.validate(kind)
}

// UploadFile indexes one file or archive: an object uploaded to the
// JETRUN_UPLOADS object store (submit upload-file), an http(s) URL, or a
// local path where the worker's policy allows it.
type UploadFile struct{}

var _ Kind = UploadFile{}

// ObjectRef names an object in the uploads object store.
type ObjectRef struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"` // hex; the worker verifies it
	Size   int64  `json:"size,omitempty"`
}

// UploadFileParams are the upload_file job's parameters. Exactly one of
// Object, URL and Path is set.
type UploadFileParams struct {
	Object *ObjectRef `json:"object,omitempty"`
	URL    string     `json:"url,omitempty"`
	Path   string     `json:"path,omitempty"`
	// FileName is the file's name when it is not an archive (for language
	// detection and the stored path); default: the object's or URL's base
	// name.
	FileName string `json:"file_name,omitempty"`
	// Source identifies the input in the payload (and so what a re-upload
	// replaces); default "upload:<name>" or the URL.
	Source     string    `json:"source,omitempty"`
	Collection string    `json:"collection"`
	Embedding  Embedding `json:"embedding,omitzero"`
	Selection
}

var sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Name implements Kind.
func (UploadFile) Name() string { return "upload_file" }

// Defaults implements Kind: 1 CPU, 2Gi, 30 minutes.
func (UploadFile) Defaults() Resources {
	return Resources{CPUMilli: 1000, MemoryBytes: 2 << 30, Timeout: 30 * time.Minute}
}

// Plan implements Kind.
func (k UploadFile) Plan(params json.RawMessage) (Plan, error) {
	var p UploadFileParams
	if err := decodeParams(k.Name(), params, &p); err != nil {
		return Plan{}, err
	}
	if err := p.Validate(); err != nil {
		return Plan{}, err
	}
	plan := Plan{Command: paramsArgs(k.Name(), p), Secrets: p.Embedding.secrets(), Dense: p.Embedding.Dense}
	if p.Object != nil {
		plan.Uploads = []string{p.Object.Name}
	}
	return plan, nil
}

// Validate checks the params.
func (p UploadFileParams) Validate() error {
	const kind = "upload_file"
	n := 0
	if p.Object != nil {
		n++
		if p.Object.Name == "" || len(p.Object.Name) > 1024 || strings.ContainsAny(p.Object.Name, "\x00\r\n") {
			return fmt.Errorf("%w: %s: object.name %q", ErrInvalidParams, kind, p.Object.Name)
		}
		if !sha256RE.MatchString(p.Object.SHA256) {
			return fmt.Errorf("%w: %s: object.sha256 %q (64 lower-case hex digits)", ErrInvalidParams, kind, p.Object.SHA256)
		}
		if p.Object.Size < 0 {
			return fmt.Errorf("%w: %s: object.size %d", ErrInvalidParams, kind, p.Object.Size)
		}
	}
	if p.URL != "" {
		n++
		if err := checkSourceURL(kind, "url", p.URL, "https", "http"); err != nil {
			return err
		}
	}
	if p.Path != "" {
		n++
		if len(p.Path) > 4096 || strings.ContainsRune(p.Path, 0) {
			return fmt.Errorf("%w: %s: path", ErrInvalidParams, kind)
		}
	}
	if n != 1 {
		return fmt.Errorf("%w: %s: exactly one of object, url and path is required (got %d)", ErrInvalidParams, kind, n)
	}
	if len(p.FileName) > 255 || strings.ContainsAny(p.FileName, "/\\\x00") || p.FileName == ".." {
		return fmt.Errorf("%w: %s: file_name %q (a base name)", ErrInvalidParams, kind, p.FileName)
	}
	if len(p.Source) > 1024 || strings.ContainsAny(p.Source, "\x00\r\n") {
		return fmt.Errorf("%w: %s: source", ErrInvalidParams, kind)
	}
	if err := validateCollection(kind, p.Collection); err != nil {
		return err
	}
	if err := p.Selection.validate(kind); err != nil {
		return err
	}
	return p.Embedding.validate(kind)
}

// Collection manages collections: create, delete, list, info.
type Collection struct{}

var _ Kind = Collection{}

// CollectionParams are the collection job's parameters.
type CollectionParams struct {
	// Action is create, delete, list or info.
	Action     string `json:"action"`
	Collection string `json:"collection,omitempty"`
	// Dense and Sparse shape a collection to create (at least one).
	Dense  *DenseVectors `json:"dense,omitempty"`
	Sparse bool          `json:"sparse,omitempty"`
}

// DenseVectors configures a collection's dense vectors.
type DenseVectors struct {
	Size     int    `json:"size"`
	Distance string `json:"distance,omitempty"` // Cosine (default), Dot, Euclid, Manhattan
}

// Name implements Kind.
func (Collection) Name() string { return "collection" }

// Defaults implements Kind: 0.25 CPU, 256Mi, 5 minutes.
func (Collection) Defaults() Resources {
	return Resources{CPUMilli: 250, MemoryBytes: 256 << 20, Timeout: 5 * time.Minute}
}

// Plan implements Kind.
func (k Collection) Plan(params json.RawMessage) (Plan, error) {
	var p CollectionParams
	if err := decodeParams(k.Name(), params, &p); err != nil {
		return Plan{}, err
	}
	if err := p.Validate(); err != nil {
		return Plan{}, err
	}
	return Plan{Command: paramsArgs(k.Name(), p)}, nil
}

// Validate checks the params.
func (p CollectionParams) Validate() error {
	const kind = "collection"
	switch p.Action {
	case "list":
		return nil
	case "delete", "info":
		return validateCollection(kind, p.Collection)
	case "create":
		if err := validateCollection(kind, p.Collection); err != nil {
			return err
		}
		if p.Dense == nil && !p.Sparse {
			return fmt.Errorf("%w: %s: create needs dense vectors, sparse vectors or both", ErrInvalidParams, kind)
		}
		if d := p.Dense; d != nil {
			if d.Size < 1 || d.Size > 65536 {
				return fmt.Errorf("%w: %s: dense.size %d (want 1..65536)", ErrInvalidParams, kind, d.Size)
			}
			switch d.Distance {
			case "", "Cosine", "Dot", "Euclid", "Manhattan":
			default:
				return fmt.Errorf("%w: %s: dense.distance %q (Cosine, Dot, Euclid or Manhattan)", ErrInvalidParams, kind, d.Distance)
			}
		}
		return nil
	default:
		return fmt.Errorf("%w: %s: action %q (create, delete, list or info)", ErrInvalidParams, kind, p.Action)
	}
}
