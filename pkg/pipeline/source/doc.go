// Package source is the first stage of the indexing pipeline: it turns an
// input (a git repository, an uploaded archive, a local directory) into a
// stream of File values, and decides which of them are indexed.
//
// # Sources
//
// A Source walks its input and calls a function for every entry, in a
// deterministic order. Every entry that is not a directory is yielded:
// either with its content in Data, or with a Skip reason and no content,
// so that the job's summary can count what was left out and why.
//
//   - CloneGit: a shallow clone of one ref (git.go).
//   - OpenArchive: a zip, tar or tar.gz file, detected from its content.
//   - OpenDir: a local directory, or a single file, for --dev only (the
//     caller checks the policy). The tree is read through an os.Root and
//     yielded in byte order of the paths, as a git source yields it,
//     except that each directory's .gitignore comes first. .git
//     directories are left out; symbolic links are never followed below
//     the root.
//
// Paths are slash-separated, relative to the input's root, valid UTF-8,
// and pass filepath.IsLocal.
//
// # Archives and their limits
//
// Archives are streamed and never extracted: tar and tar.gz through
// archive/tar (over compress/gzip), zip through archive/zip, entries in
// central-directory order. The kind comes from the content: gzip magic
// with a tar inside, zip's "PK\x03\x04" (or an end-of-central-directory
// record near the end), a tar header ("ustar" at offset 257, or a valid
// V7 checksum). Each Walk reads the file again.
//
// Only regular files are read. Directories are not yielded; symbolic and
// hard links yield SkipSymlink; devices, fifos and sparse files
// SkipNotRegular; nested archives (by extension, or by magic once read)
// SkipArchive and are never opened; encrypted zip entries and unknown
// compression methods SkipUnsupported; a second regular file with an
// earlier one's path SkipDuplicate (the first one wins: point IDs derive
// from the path, and a stream cannot know what comes later; tar(1) would
// keep the last). Names are
// normalised ("./a//b" is "a/b"); a backslash is taken for a separator,
// as the Windows tools that write them mean it (the zip format requires
// "/"), so "..\x" is refused like "../x".
//
// Limits caps the walk (zero fields take DefaultLimits):
//
//	field           default   exceeded
//	MaxEntries      100 000   ErrArchiveLimit (zip: before anything is yielded)
//	MaxFileSize     10 MiB    that entry yields SkipTooLarge, unread where the header tells
//	MaxTotalBytes   2 GiB     ErrArchiveLimit; counts bytes actually decompressed
//	MaxRatio        200       ErrArchiveLimit; per entry and overall, past the first 1 MiB
//	MaxPathLen      1024      ErrArchiveLimit
//	MaxDepth        64        ErrArchiveLimit (path components)
//
// Bytes are counted as they are read, never taken from headers. For tar
// the count is the whole decompressed tar stream, so an entry skipped as
// too large still costs what was decompressed to get past it (a plain tar
// seeks past it instead). For zip it is the entries' decompressed bytes;
// the overall ratio is against the archive's size, which also bounds
// archives whose entries share compressed data. A directory source
// applies MaxEntries, MaxFileSize, MaxTotalBytes, MaxPathLen and MaxDepth.
//
// A legitimate file that compresses better than MaxRatio (megabytes of
// one repeated line) fails the archive: raise MaxRatio for such inputs.
//
// # Selection
//
// A Selector decides, for each File in walk order, whether it is indexed.
// Decide returns the first reason that applies, in this order (a source's
// own reason comes first and is kept):
//
//	reason        rule
//	secret        .env, .env.* (but .env.example/.sample/.template/.dist/.defaults),
//	              *.env, *.pem (certificates too: the name cannot tell), *.key,
//	              *.p12, *.pfx, *.jks, *.keystore, *.ppk,
//	              id_rsa, id_dsa, id_ecdsa, id_ed25519(_sk), .npmrc, .pypirc,
//	              .netrc, .git-credentials, .htpasswd, .pgpass, credentials.json
//	ignored       under .git/, .hg/, .svn/, .bzr/; an Exclude pattern; not an
//	              Include pattern (when any); a .gitignore
//	vendored      under vendor/, node_modules/, third_party/, bower_components/,
//	              jspm_packages/, .yarn/, .venv/, venv/, site-packages/,
//	              dist-packages/, __pycache__/, Pods/, Carthage/
//	lockfile      go.sum, package-lock.json, yarn.lock, pnpm-lock.yaml, Cargo.lock,
//	              poetry.lock, Pipfile.lock, composer.lock, Gemfile.lock, ... *.lock
//	archive       an archive extension (.zip, .jar, .tar, .gz, .7z, ...)
//	binary        a binary extension (.png, .pdf, .exe, .so, .class, .wasm, .woff, ...)
//	generated     *.min.js, *.min.css, *.js.map, *_pb2.py, *.pb.go, ...
//	too-large     over SelectOptions.MaxFileSize
//	empty         no content but whitespace
//	archive       archive magic (gzip, zip, tar, bzip2, xz, zstd, 7z, rar)
//	binary        a NUL or invalid UTF-8 in the first 8 KiB (a UTF-8 BOM is fine)
//	secret        a PEM private key block in the content
//	generated     a generated header: Go's "// Code generated ... DO NOT EDIT.",
//	              "@generated", "<auto-generated", or "do not edit" with
//	              "generated" among the leading comment lines; or at least half
//	              the bytes in lines over 4000 bytes, 200 bytes a line on
//	              average (minified code, source maps, base64, data tables)
//
// Not vendored, on purpose: build/, dist/, out/, target/, lib/: they hold
// real code in many repositories, and .gitignore excludes them where they
// do not.
//
// The Selector learns each .gitignore as it passes (its patterns apply to
// its directory and below, with git's semantics: "!" re-includes, a
// trailing "/" matches directories only, a slash anchors to the
// .gitignore's directory, "**" spans directories, and nothing under an
// excluded directory can be re-included). A .gitignore is indexed itself.
// It only applies to files that come after it: directory sources yield it
// first in its directory; in an archive, entries of the same directory
// that precede it are not affected. SelectOptions.NoGitignore turns
// .gitignore off, which suits a git checkout, whose files are the tracked
// ones.
//
// # Security
//
// What each hostile input does:
//
//	input                                   outcome
//	a name like "../../etc/passwd",         ErrUnsafeArchive: the walk fails (zip:
//	"/etc/passwd", "C:\x" or "..\x", or     before anything is yielded; tar: when
//	with a NUL or invalid UTF-8             the entry is reached)
//	symbolic or hard link entry             SkipSymlink; never followed
//	device, fifo, sparse entry              SkipNotRegular
//	decompression bomb                      ErrArchiveLimit (MaxRatio or MaxTotalBytes),
//	                                        whatever the headers say the sizes are
//	zip entries sharing compressed data     ErrArchiveLimit (overall ratio against
//	                                        the file's size)
//	more entries than MaxEntries            ErrArchiveLimit
//	huge entry                              SkipTooLarge, unread (zip, plain tar)
//	truncated or corrupt archive, bad CRC   ErrCorruptArchive
//	nested archive                          SkipArchive, never opened
//	duplicate path                          SkipDuplicate after the first
//	symlink in a local directory            SkipSymlink; os.Root keeps every open
//	                                        inside the root
//	private keys, credentials files         SkipSecret: never indexed
//
// Nothing is written to disk, so a hostile name can do no harm but fail
// the job. In a tar, entries before the offending one have already been
// yielded when the error comes: the pipeline must treat a walk's error as
// the job's failure.
//
// # Network sources
//
// See policy.go.
package source
