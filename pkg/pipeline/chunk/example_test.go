package chunk_test

import (
	"fmt"

	"github.com/jetrun/jetrun/pkg/pipeline/chunk"
)

func ExampleSplit() {
	src := []byte(`package shapes

import "math"

// Circle is a round shape.
type Circle struct{ R float64 }

// Area returns the circle's area.
func (c *Circle) Area() float64 {
	return math.Pi * c.R * c.R
}
`)
	lang := chunk.Language("shapes/circle.go", src)
	for _, c := range chunk.Split("shapes/circle.go", lang, src, chunk.Options{MinTokens: -1}) {
		fmt.Printf("%d-%d %q\n", c.StartLine, c.EndLine, c.Symbol)
	}
	// Output:
	// 1-3 ""
	// 5-6 "Circle"
	// 8-11 "Circle.Area"
}

func ExampleLanguage() {
	fmt.Println(chunk.Language("src/app.tsx", nil))
	fmt.Println(chunk.Language("include/geo.h", []byte("namespace geo {\n}\n")))
	fmt.Println(chunk.Language("bin/deploy", []byte("#!/usr/bin/env bash\n")))
	// Output:
	// tsx
	// cpp
	// shell
}
