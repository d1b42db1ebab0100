package chunk

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// corpusFile is a file of $GOROOT/src.
type corpusFile struct {
	path string
	size int64
}

var gorootDir = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	return strings.TrimSpace(string(out)), err
})

// goroot returns $(go env GOROOT), skipping t when it has no sources.
func goroot(t testing.TB) string {
	t.Helper()
	root, err := gorootDir()
	if err == nil {
		_, err = os.Stat(filepath.Join(root, "src", "go", "parser"))
	}
	if err != nil {
		t.Skipf("no Go sources (GOROOT %q): %v", root, err)
	}
	return root
}

// corpus lists the files under $GOROOT/src/dir whose extension is in exts
// (all when exts is empty), in walk order.
func corpus(t testing.TB, dir string, exts ...string) []corpusFile {
	t.Helper()
	var out []corpusFile
	root := filepath.Join(goroot(t), "src", dir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if len(exts) > 0 {
			ext := strings.ToLower(filepath.Ext(p))
			ok := false
			for _, e := range exts {
				ok = ok || e == ext
			}
			if !ok {
				return nil
			}
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, corpusFile{path: p, size: info.Size()})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCorpusProperties checks the guarantees on real files: every text
// file of $GOROOT/src (Go, C, headers, assembly, Markdown, shell, JSON,
// YAML, test data of every kind; binaries, as the select stage sniffs
// them, are skipped), at the default budget and at a small one that
// forces splits. With -short, or under the race detector, it takes a
// sample.
func TestCorpusProperties(t *testing.T) {
	files := corpus(t, "")
	stride := 1
	switch {
	case testing.Short():
		stride = 16
	case raceEnabled:
		stride = 8
	}
	opts := []Options{{}, {MaxTokens: 48}}
	var (
		mu       sync.Mutex
		failures int
		langs    = map[string]int{}
		checked  int
	)
	work := make(chan corpusFile)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for cf := range work {
				data, err := os.ReadFile(cf.path)
				if err != nil {
					t.Error(err)
					continue
				}
				if bytes.IndexByte(head(data, 8<<10), 0) >= 0 {
					continue // binary
				}
				lang := Language(cf.path, data)
				for _, opt := range opts {
					chunks := Split(cf.path, lang, data, opt)
					if err := verify(data, chunks, opt); err != nil {
						mu.Lock()
						if failures++; failures <= 10 {
							t.Errorf("%s (%s, %+v): %v", cf.path, lang, opt, err)
						}
						mu.Unlock()
					}
				}
				mu.Lock()
				langs[lang]++
				checked++
				mu.Unlock()
			}
		})
	}
	for i, cf := range files {
		if i%stride == 0 {
			work <- cf
		}
	}
	close(work)
	wg.Wait()
	if failures > 10 {
		t.Errorf("… %d failures in all", failures)
	}
	t.Logf("checked %d of %d files, by language: %v", checked, len(files), langs)
}
