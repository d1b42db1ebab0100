package source

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// OpenDir returns a source yielding the files under the directory root, or
// the one regular file root names (yielded under its base name). A
// symbolic link is followed for root itself and never below it. Only
// policy decides whether a job may read local paths (--dev); OpenDir does
// not check it.
func OpenDir(root string, lim Limits) (Source, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("open dir: %w", err)
	}
	lim = lim.withDefaults()
	switch {
	case st.IsDir():
		return &dirSource{root: root, lim: lim}, nil
	case st.Mode().IsRegular():
		return &dirSource{root: root, file: true, lim: lim}, nil
	}
	return nil, fmt.Errorf("open dir %s: not a directory or a regular file (%v)", root, st.Mode().Type())
}

// dirSource walks a directory through an os.Root, so that no path it opens
// resolves outside root even if the tree changes during the walk.
type dirSource struct {
	root string
	file bool // root is a regular file
	lim  Limits
}

var _ Source = (*dirSource)(nil)

// Walk yields the tree in byte order of the paths, as a git source does,
// except that each directory's .gitignore comes first, so that a Selector
// has learnt it before it decides on the directory's other files. The
// .git directory is left out. Symbolic links yield SkipSymlink, devices,
// pipes and sockets SkipNotRegular, files over MaxFileSize SkipTooLarge
// (unread).
func (d *dirSource) Walk(ctx context.Context, fn func(File) error) error {
	if d.file {
		return d.walkFile(fn)
	}
	r, err := os.OpenRoot(d.root)
	if err != nil {
		return fmt.Errorf("walk dir: %w", err)
	}
	defer r.Close()
	w := &dirWalker{d: d, fn: fn}
	return w.walk(ctx, r, "", 0)
}

func (d *dirSource) walkFile(fn func(File) error) error {
	name := filepath.Base(d.root)
	f, err := os.Open(d.root)
	if err != nil {
		return fmt.Errorf("walk file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("walk file: %w", err)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("walk file %q: name is not UTF-8", d.root)
	}
	if !st.Mode().IsRegular() {
		return fn(File{Path: name, Skip: SkipNotRegular})
	}
	if st.Size() > d.lim.MaxFileSize {
		return fn(File{Path: name, Skip: SkipTooLarge})
	}
	data, tooLarge, err := archReadLimited(f, st.Size(), d.lim.MaxFileSize)
	if err != nil {
		return fmt.Errorf("walk file: %w", err)
	}
	if tooLarge {
		return fn(File{Path: name, Skip: SkipTooLarge})
	}
	return fn(File{Path: name, Data: data})
}

type dirWalker struct {
	d       *dirSource
	fn      func(File) error
	entries int
	total   int64
}

func (w *dirWalker) limitf(format string, args ...any) error {
	return fmt.Errorf("walk dir %s: %w: %s", w.d.root, ErrArchiveLimit, fmt.Sprintf(format, args...))
}

// walk yields the directory r, whose path is rel ("" for the top). Each
// directory is opened as an os.Root of its own, so that a file is opened
// by its name alone (one openat) and nothing resolves outside the top.
func (w *dirWalker) walk(ctx context.Context, r *os.Root, rel string, depth int) error {
	d, err := r.Open(".")
	if err != nil {
		return fmt.Errorf("walk dir %s: %w", w.d.root, err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("walk dir %s: %s: %w", w.d.root, rel, err)
	}
	// Order as git does (a directory sorts as "name/"), which yields the
	// tree in byte order of the paths, but .gitignore first.
	key := func(e fs.DirEntry) string {
		switch {
		case e.Name() == ".gitignore":
			return ""
		case e.IsDir():
			return e.Name() + "/"
		}
		return e.Name()
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(key(a), key(b)) })
	depth++
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := e.Name()
		if name == ".git" {
			continue
		}
		p := name
		if rel != "" {
			p = rel + "/" + name
		}
		if w.entries++; w.entries > w.d.lim.MaxEntries {
			return w.limitf("MaxEntries %d", w.d.lim.MaxEntries)
		}
		switch {
		case len(p) > w.d.lim.MaxPathLen:
			return w.limitf("MaxPathLen %d: %q", w.d.lim.MaxPathLen, p)
		case depth > w.d.lim.MaxDepth:
			return w.limitf("MaxDepth %d: %q", w.d.lim.MaxDepth, p)
		case !utf8.ValidString(name):
			return fmt.Errorf("walk dir %s: path %q is not UTF-8", w.d.root, p)
		}
		t := e.Type()
		switch {
		case t&fs.ModeSymlink != 0:
			err = w.fn(File{Path: p, Skip: SkipSymlink})
		case t.IsDir():
			err = w.subdir(ctx, r, name, p, depth)
		case !t.IsRegular():
			err = w.fn(File{Path: p, Skip: SkipNotRegular})
		default:
			err = w.file(r, name, p)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *dirWalker) subdir(ctx context.Context, r *os.Root, name, p string, depth int) error {
	sub, err := r.OpenRoot(name)
	if err != nil {
		return fmt.Errorf("walk dir %s: %w", w.d.root, err)
	}
	defer sub.Close()
	return w.walk(ctx, sub, p, depth)
}

func (w *dirWalker) file(r *os.Root, name, p string) error {
	f, err := r.Open(name)
	if err != nil {
		return fmt.Errorf("walk dir %s: %w", w.d.root, err)
	}
	defer f.Close()
	// The entry may have been replaced since it was listed.
	st, err := f.Stat()
	switch {
	case err != nil || !st.Mode().IsRegular():
		return w.fn(File{Path: p, Skip: SkipNotRegular})
	case st.Size() > w.d.lim.MaxFileSize:
		return w.fn(File{Path: p, Skip: SkipTooLarge})
	}
	data, tooLarge, err := archReadLimited(f, st.Size(), w.d.lim.MaxFileSize)
	if err != nil {
		return fmt.Errorf("walk dir %s: %s: %w", w.d.root, p, err)
	}
	if tooLarge {
		return w.fn(File{Path: p, Skip: SkipTooLarge})
	}
	if w.total += int64(len(data)); w.total > w.d.lim.MaxTotalBytes {
		return w.limitf("MaxTotalBytes %d", w.d.lim.MaxTotalBytes)
	}
	return w.fn(File{Path: p, Data: data})
}
