package jobs

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// Worker environment variables of an operator's embedding endpoint, set by
// Prepare when a job names one (embedding.dense.endpoint). Its key arrives
// as EnvEmbedAPIKey, a secret.
const (
	EnvEmbedURL         = "JETRUN_EMBED_URL"
	EnvEmbedModel       = "JETRUN_EMBED_MODEL"
	EnvEmbedDimensions  = "JETRUN_EMBED_DIMENSIONS"
	EnvEmbedBatchSize   = "JETRUN_EMBED_BATCH_SIZE"
	EnvEmbedBatchTokens = "JETRUN_EMBED_BATCH_TOKENS"
	EnvEmbedConcurrency = "JETRUN_EMBED_CONCURRENCY"
)

// Endpoint is an embedding endpoint of the operator's configuration: an
// OpenAI-compatible /v1/embeddings API, its model and key, and the limits
// of one job against it (a job may ask for less, never more).
type Endpoint struct {
	Name        string
	URL         string // ends before /embeddings
	Model       string
	Dimensions  int
	BatchSize   int
	BatchTokens int
	Concurrency int
	// HasKey says the endpoint has an API key; the dispatcher resolves it
	// as the credential EndpointCredential(Name).
	HasKey bool
}

// EndpointCredential is the credential name under which the dispatcher
// resolves an endpoint's key. Job credential names cannot take this form
// (they have no '/'), so a job cannot ask for an endpoint's key by name.
func EndpointCredential(endpoint string) string { return "endpoint/" + endpoint }

// resolveDense applies the operator's rules for dense embedding: a named
// endpoint becomes the worker's environment (and its key a secret bound to
// it); a job-supplied URL is refused unless the dispatcher allows them.
func resolveDense(p *Plan, opts Options) error {
	d := p.Dense
	if d == nil {
		return nil
	}
	if d.Endpoint == "" {
		if !opts.AllowJobEmbeddingURLs {
			return fmt.Errorf("embedding.dense.base_url: this dispatcher does not accept job-supplied embedding URLs; name one of its endpoints (embedding.dense.endpoint)")
		}
		return nil
	}
	var ep Endpoint
	ok := false
	if opts.Endpoints != nil {
		ep, ok = opts.Endpoints(d.Endpoint)
	}
	if !ok {
		return fmt.Errorf("embedding endpoint %q is not configured on this dispatcher", d.Endpoint)
	}
	env := map[string]string{EnvEmbedURL: ep.URL, EnvEmbedModel: ep.Model}
	limit := func(key string, job, max int) {
		v := max
		if job > 0 && (max == 0 || job < max) {
			v = job
		}
		if v > 0 {
			env[key] = strconv.Itoa(v)
		}
	}
	if ep.Dimensions > 0 {
		if d.Dimensions > 0 && d.Dimensions != ep.Dimensions {
			return fmt.Errorf("embedding.dense.dimensions %d: endpoint %q makes %d", d.Dimensions, d.Endpoint, ep.Dimensions)
		}
		env[EnvEmbedDimensions] = strconv.Itoa(ep.Dimensions)
	} else if d.Dimensions > 0 {
		env[EnvEmbedDimensions] = strconv.Itoa(d.Dimensions)
	}
	limit(EnvEmbedBatchSize, d.BatchSize, ep.BatchSize)
	limit(EnvEmbedBatchTokens, d.BatchTokens, ep.BatchTokens)
	limit(EnvEmbedConcurrency, d.Concurrency, ep.Concurrency)
	if p.Env == nil {
		p.Env = map[string]string{}
	}
	maps.Copy(p.Env, env)
	if ep.HasKey {
		p.Secrets = append(p.Secrets, SecretRef{Credential: EndpointCredential(ep.Name), Env: EnvEmbedAPIKey, URL: ep.URL, Endpoint: true})
	}
	return nil
}

// EndpointEnv names a variable of the named embedding endpoint:
// JETRUN_EMBEDDER_<NAME>_<WHAT> (upper case, '-' as '_').
func EndpointEnv(name, what string) string {
	return "JETRUN_EMBEDDER_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_" + what
}

// EndpointsFromEnv resolves embedding endpoints from
// JETRUN_EMBEDDER_<NAME>_URL and _MODEL (required), _KEY (a secret; only
// HasKey is set), _DIMENSIONS, _BATCH_SIZE, _BATCH_TOKENS and
// _CONCURRENCY (the most a job may use). The dispatcher reads its
// endpoints this way, and `submit search` the same variables where the
// operator runs it.
func EndpointsFromEnv(getenv func(string) string) func(string) (Endpoint, bool) {
	return func(name string) (Endpoint, bool) {
		num := func(what string) int { n, _ := strconv.Atoi(getenv(EndpointEnv(name, what))); return max(n, 0) }
		ep := Endpoint{Name: name, URL: getenv(EndpointEnv(name, "URL")), Model: getenv(EndpointEnv(name, "MODEL")),
			Dimensions: num("DIMENSIONS"), BatchSize: num("BATCH_SIZE"), BatchTokens: num("BATCH_TOKENS"), Concurrency: num("CONCURRENCY"),
			HasKey: getenv(EndpointEnv(name, "KEY")) != ""}
		return ep, ep.URL != "" && ep.Model != ""
	}
}
