package embed

import "context"

// SparseVector is a sparse embedding: parallel indices and values,
// indices unique. BM25 returns them sorted ascending, with empty (not
// nil) slices for a text without tokens.
type SparseVector struct {
	Indices []uint32
	Values  []float32
}

// Sparse embeds texts into sparse vectors (offline, deterministic).
type Sparse interface {
	// Model names the model, e.g. "Qdrant/bm25"; it is recorded in the
	// collection's metadata.
	Model() string
	// Documents embeds texts to be stored.
	Documents(texts []string) []SparseVector
	// Query embeds a search query.
	Query(text string) SparseVector
}

// Dense embeds texts into dense vectors, usually through a server.
type Dense interface {
	// Model names the model, e.g. "Qwen/Qwen3-Embedding-8B".
	Model() string
	// Dimensions is the vector size: configured, or learned from the
	// first response (0 before it).
	Dimensions() int
	// Documents embeds texts to be stored, in order. OpenAI reports an
	// input the server rejects on its own as an *InputError.
	Documents(ctx context.Context, texts []string) ([][]float32, error)
	// Query embeds a search query (with the configured instruction prefix).
	Query(ctx context.Context, text string) ([]float32, error)
}
