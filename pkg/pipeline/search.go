package pipeline

import (
	"context"
	"fmt"

	"github.com/jetrun/jetrun/pkg/embed"
	"github.com/jetrun/jetrun/pkg/qdrantstore"
)

// Searcher is what Search needs of the vector store.
type Searcher interface {
	Search(ctx context.Context, collection string, q qdrantstore.Query) ([]qdrantstore.Hit, error)
}

// SearchOptions describe one search.
type SearchOptions struct {
	Collection string
	Query      string
	// Sparse and Dense embed the query; at least one. Both = hybrid (RRF).
	Sparse embed.Sparse
	Dense  embed.Dense
	Limit  int
	// Path and Language restrict the hits ("" = any).
	Path, Language string
}

// Hit is one search result, with the chunk's place in its file.
type Hit struct {
	Score     float32 `json:"score"`
	Source    string  `json:"source"`
	Path      string  `json:"path"`
	Language  string  `json:"language,omitempty"`
	StartLine int     `json:"start_line"`
	EndLine   int     `json:"end_line"`
	Symbol    string  `json:"symbol,omitempty"`
	Commit    string  `json:"commit,omitempty"`
	Text      string  `json:"text"`
}

// Search embeds the query with the given embedders and searches the
// collection: hybrid (dense and sparse fused by RRF) when both are given.
func Search(ctx context.Context, st Searcher, o SearchOptions) ([]Hit, error) {
	if o.Sparse == nil && o.Dense == nil {
		return nil, ErrNoEmbedder
	}
	var q qdrantstore.Query
	q.Limit = o.Limit
	if o.Sparse != nil {
		v := o.Sparse.Query(o.Query)
		if len(v.Indices) > 0 {
			q.Sparse = &qdrantstore.SparseVector{Indices: v.Indices, Values: v.Values}
		}
	}
	if o.Dense != nil {
		v, err := o.Dense.Query(ctx, o.Query)
		if err != nil {
			return nil, fmt.Errorf("embed the query: %w", err)
		}
		q.Dense = v
	}
	if q.Sparse == nil && q.Dense == nil {
		return nil, nil // only stopwords and punctuation: nothing to match
	}
	if o.Path != "" {
		q.Filter.Must = append(q.Filter.Must, qdrantstore.Eq(qdrantstore.KeyPath, o.Path))
	}
	if o.Language != "" {
		q.Filter.Must = append(q.Filter.Must, qdrantstore.Eq(qdrantstore.KeyLanguage, o.Language))
	}
	hits, err := st.Search(ctx, o.Collection, q)
	if err != nil {
		return nil, err
	}
	out := make([]Hit, len(hits))
	for i, h := range hits {
		str := func(k string) string { s, _ := h.Payload[k].(string); return s }
		num := func(k string) int {
			switch v := h.Payload[k].(type) {
			case int64:
				return int(v)
			case float64:
				return int(v)
			case int:
				return v
			}
			return 0
		}
		out[i] = Hit{Score: h.Score, Source: str(qdrantstore.KeySource), Path: str(qdrantstore.KeyPath), Language: str(qdrantstore.KeyLanguage),
			StartLine: num(qdrantstore.KeyStartLine), EndLine: num(qdrantstore.KeyEndLine), Symbol: str(qdrantstore.KeySymbol),
			Commit: str(qdrantstore.KeyCommit), Text: str(qdrantstore.KeyText)}
	}
	return out, nil
}
