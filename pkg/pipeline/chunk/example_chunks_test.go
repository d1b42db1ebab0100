package chunk_test

import (
	"fmt"
	"os"

	"github.com/jetrun/jetrun/pkg/pipeline/chunk"
)

// The chunk stage of one file: its language, then its chunks.
func Example() {
	path := "shapes/circle.go"
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	lang := chunk.Language(path, data)
	for _, c := range chunk.Split(path, lang, data, chunk.Options{}) {
		fmt.Println(c.StartLine, c.EndLine, c.Symbol, len(c.Text))
	}
}
