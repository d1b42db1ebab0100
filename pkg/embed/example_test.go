package embed_test

import (
	"context"
	"fmt"

	"github.com/jetrun/jetrun/pkg/embed"
	"github.com/jetrun/jetrun/pkg/embed/embedtest"
)

func ExampleBM25() {
	m := embed.NewBM25()
	text := "Parsing the HTTP requests: parse_request() parses them!"
	fmt.Println(m.Tokens(text))
	doc := m.Document(text)
	for i, id := range doc.Indices {
		fmt.Printf("%d %.4f\n", id, doc.Values[i])
	}
	q := m.Query("parse a request")
	fmt.Println(q.Indices, q.Values)
	// Output:
	// [pars http request parse_request pars]
	// 853919296 1.8985
	// 884471572 1.6697
	// 1349830866 1.6697
	// 2064885619 1.6697
	// [853919296 2064885619] [1 1]
}

func ExampleOpenAI() {
	srv := embedtest.New(embedtest.Options{Dim: 8})
	defer srv.Close()
	e, err := embed.NewOpenAI(embed.OpenAIConfig{
		BaseURL:          srv.URL(),
		Model:            "Qwen/Qwen3-Embedding-8B",
		QueryInstruction: "Given a code search query, retrieve relevant code",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	vecs, err := e.Documents(context.Background(), []string{"func main() {}", "package main"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(vecs), e.Dimensions())
	fmt.Printf("%q\n", e.QueryText("where is main?"))
	// Output:
	// 2 8
	// "Instruct: Given a code search query, retrieve relevant code\nQuery:where is main?"
}
