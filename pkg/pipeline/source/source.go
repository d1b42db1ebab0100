package source

import "context"

// File is one entry a source yields. Either Data holds the whole content
// (bounded by the source's per-file limit) or Skip says why it was left
// out; skipped entries are yielded too so that the job's summary can count
// them by reason.
type File struct {
	// Path is slash-separated, relative to the source's root, and passes
	// filepath.IsLocal: no "..", no leading "/", no empty or "." elements.
	Path string
	// Data is the file's content; nil when Skip is set.
	Data []byte
	// Skip is the reason the file is not indexed (one of the Skip*
	// constants), or "".
	Skip string
}

// Source yields the files of one input.
type Source interface {
	// Walk calls fn for every entry, in a deterministic order (by path for
	// directories and git checkouts, archive order for archives). An
	// error from fn stops the walk and is returned as is.
	Walk(ctx context.Context, fn func(File) error) error
}

// Reasons a file is skipped. Each is counted in the job's summary.
const (
	SkipSymlink    = "symlink"     // symbolic or hard link
	SkipNotRegular = "not-regular" // device, fifo, socket, ...
	SkipTooLarge   = "too-large"   // over the per-file size limit
	SkipBinary     = "binary"      // NUL byte in the first 8 KiB, or not UTF-8 text
	SkipArchive    = "archive"     // a nested archive: never opened
	SkipIgnored    = "ignored"     // matched a .gitignore or an exclude glob, or not an include glob
	SkipVendored   = "vendored"    // vendor/, node_modules/, third_party/, ...
	SkipGenerated  = "generated"   // "Code generated ... DO NOT EDIT", minified files, ...
	SkipLockfile   = "lockfile"    // go.sum, package-lock.json, Cargo.lock, ...
	SkipSecret     = "secret"      // .env, private keys, credentials files
	SkipEmpty      = "empty"       // no content, or whitespace only
)
