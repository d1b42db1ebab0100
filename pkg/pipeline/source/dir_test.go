package source

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// dirTree writes files (path → content) under a new temporary directory.
func dirTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func dirWalkAll(t *testing.T, root string, lim Limits) ([]File, error) {
	t.Helper()
	src, err := OpenDir(root, lim)
	if err != nil {
		t.Fatal(err)
	}
	var files []File
	err = src.Walk(context.Background(), func(f File) error {
		files = append(files, f)
		return nil
	})
	return files, err
}

func dirSummary(files []File) []string {
	var out []string
	for _, f := range files {
		s := f.Path
		if f.Skip != "" {
			s += " [" + f.Skip + "]"
		}
		out = append(out, s)
	}
	return out
}

func TestDirWalk(t *testing.T) {
	root := dirTree(t, map[string]string{
		"b.txt":          "b",
		"a.txt":          "a",
		"a/z.go":         "package a",
		"a-b/c":          "c",
		"!first":         "bang",
		".gitignore":     "*.log\n",
		"sub/#x":         "hash",
		"sub/.gitignore": "",
		"sub/-y":         "dash",
		".git/config":    "[core]",
		".git/HEAD":      "ref: refs/heads/main",
		"mod/.git":       "gitdir: ../.git/modules/mod",
		"mod/m.go":       "package m",
		"big.bin":        strings.Repeat("x", 2000),
	})
	outside := dirTree(t, map[string]string{"secret": "s"})
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(root, "link")); err != nil {
		t.Skipf("symlinks: %v", err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "linkdir")); err != nil {
		t.Fatal(err)
	}
	fifo := exec.Command("mkfifo", filepath.Join(root, "fifo")).Run() == nil

	files, err := dirWalkAll(t, root, Limits{MaxFileSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// Byte order of the paths ("a-b/c" < "a.txt" < "a/z.go"), each
	// directory's .gitignore first; .git left out.
	want := []string{
		".gitignore", "!first", "a-b/c", "a.txt", "a/z.go", "b.txt", "big.bin [too-large]",
	}
	if fifo {
		want = append(want, "fifo [not-regular]")
	}
	want = append(want, "link [symlink]", "linkdir [symlink]", "mod/m.go",
		"sub/.gitignore", "sub/#x", "sub/-y")
	if got := dirSummary(files); !reflect.DeepEqual(got, want) {
		t.Fatalf("walk:\n got %q\nwant %q", got, want)
	}
	for _, f := range files {
		if f.Path == "a/z.go" && string(f.Data) != "package a" {
			t.Fatalf("a/z.go = %q", f.Data)
		}
	}
}

func TestDirRootSymlinkFollowed(t *testing.T) {
	target := dirTree(t, map[string]string{"a.txt": "a"})
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(target, link); err != nil {
		t.Skipf("symlinks: %v", err)
	}
	files, err := dirWalkAll(t, link, Limits{})
	if err != nil || !reflect.DeepEqual(dirSummary(files), []string{"a.txt"}) {
		t.Fatalf("walk = %q, %v", dirSummary(files), err)
	}
}

func TestDirSingleFile(t *testing.T) {
	root := dirTree(t, map[string]string{"dir/main.go": "package main\n", "dir/big": strings.Repeat("x", 100)})
	files, err := dirWalkAll(t, filepath.Join(root, "dir", "main.go"), Limits{})
	if err != nil || len(files) != 1 || files[0].Path != "main.go" || string(files[0].Data) != "package main\n" {
		t.Fatalf("walk = %+v, %v", files, err)
	}
	files, err = dirWalkAll(t, filepath.Join(root, "dir", "big"), Limits{MaxFileSize: 10})
	if err != nil || !reflect.DeepEqual(dirSummary(files), []string{"big [too-large]"}) {
		t.Fatalf("walk = %q, %v", dirSummary(files), err)
	}
}

func TestDirLimits(t *testing.T) {
	root := dirTree(t, map[string]string{
		"a": strings.Repeat("a", 600), "b": strings.Repeat("b", 600), "c/d/e/f": "f",
	})
	tests := []struct {
		name    string
		lim     Limits
		errText string
	}{
		{"entries", Limits{MaxEntries: 3}, "MaxEntries"},
		{"total bytes", Limits{MaxTotalBytes: 1000}, "MaxTotalBytes"},
		{"depth", Limits{MaxDepth: 3}, "MaxDepth"},
		{"path length", Limits{MaxPathLen: 5}, "MaxPathLen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dirWalkAll(t, root, tt.lim)
			if !errors.Is(err, ErrArchiveLimit) || !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("err = %v, want ErrArchiveLimit %s", err, tt.errText)
			}
		})
	}
	t.Run("within", func(t *testing.T) {
		files, err := dirWalkAll(t, root, Limits{MaxEntries: 6, MaxTotalBytes: 1201, MaxDepth: 4, MaxPathLen: 7})
		if err != nil || len(files) != 3 {
			t.Fatalf("walk = %q, %v", dirSummary(files), err)
		}
	})
}

func TestDirErrors(t *testing.T) {
	if _, err := OpenDir(filepath.Join(t.TempDir(), "missing"), Limits{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: err = %v", err)
	}
	root := dirTree(t, map[string]string{"a": "a", "b": "b"})
	src, err := OpenDir(root, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	if err := src.Walk(context.Background(), func(File) error { return stop }); err != stop {
		t.Fatalf("callback error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := src.Walk(ctx, func(File) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// TestDirGitignoreFirst: names that sort before ".gitignore" ('!', '#',
// '-', ...) are still decided after it, because the directory source
// yields it first.
func TestDirGitignoreFirst(t *testing.T) {
	root := dirTree(t, map[string]string{
		".gitignore": "*.log\n", "!a.log": "x", "#b.log": "x", "-c.log": "x", "d.log": "x", "keep.txt": "x",
		"sub/.gitignore": "!-keep.log\n", "sub/-keep.log": "x", "sub/+drop.log": "x",
	})
	sel, err := NewSelector(SelectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := dirWalkAll(t, root, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		if r := sel.Decide(f); r != "" {
			got = append(got, f.Path+" ["+r+"]")
		} else {
			got = append(got, f.Path)
		}
	}
	want := []string{
		".gitignore", "!a.log [ignored]", "#b.log [ignored]", "-c.log [ignored]", "d.log [ignored]", "keep.txt",
		"sub/.gitignore", "sub/+drop.log [ignored]", "sub/-keep.log",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("\n got %q\nwant %q", got, want)
	}
}
