package source

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Archive errors. Each is permanent: retrying the job cannot help.
var (
	// ErrUnknownArchive: OpenArchive was given content that is neither
	// zip, tar nor tar.gz.
	ErrUnknownArchive = errors.New("not a zip, tar or tar.gz archive")
	// ErrUnsafeArchive: an entry's name is absolute, climbs out with "..",
	// names a Windows drive, or holds a NUL or invalid UTF-8. The whole
	// archive is refused.
	ErrUnsafeArchive = errors.New("unsafe archive")
	// ErrArchiveLimit: a Limits cap was exceeded (entries, bytes read,
	// compression ratio, path length or depth). Directory sources use it
	// too.
	ErrArchiveLimit = errors.New("archive limit exceeded")
	// ErrCorruptArchive: the archive is truncated or malformed, or an
	// entry fails its checksum.
	ErrCorruptArchive = errors.New("corrupt archive")
)

// Archive kinds, as returned by Kind.
const (
	KindZip   = "zip"
	KindTar   = "tar"
	KindTarGz = "tar.gz"
)

// Skip reasons of archive entries, in addition to those of source.go.
const (
	SkipDuplicate   = "duplicate"   // a later entry with an earlier entry's path: the first one wins
	SkipUnsupported = "unsupported" // an encrypted zip entry or an unsupported compression method
)

// archRatioGrace is the number of decompressed bytes below which the ratio
// limit is not checked: tar headers and small, repetitive files compress
// far better than MaxRatio without being bombs, and the compressed side is
// only known to a read-ahead buffer's precision.
const archRatioGrace = 1 << 20

// Limits caps what a source may read. A zero or negative field takes its
// DefaultLimits value.
type Limits struct {
	// MaxEntries caps the number of entries (files, directories, links)
	// of an archive or directory tree; more fails the walk.
	MaxEntries int
	// MaxFileSize caps one file's content; a larger file is yielded with
	// SkipTooLarge.
	MaxFileSize int64
	// MaxTotalBytes caps the bytes actually read or decompressed over the
	// whole walk: for tar the whole tar stream (headers and the data of
	// skipped entries included), for zip and directories the content of
	// the entries read. More fails the walk.
	MaxTotalBytes int64
	// MaxRatio caps decompressed/compressed bytes, per entry and overall,
	// once more than 1 MiB has been decompressed. More fails the walk.
	MaxRatio float64
	// MaxPathLen caps the length in bytes of an entry's name.
	MaxPathLen int
	// MaxDepth caps the number of components of an entry's path.
	MaxDepth int
}

// DefaultLimits returns the limits used for a zero Limits field.
func DefaultLimits() Limits {
	return Limits{
		MaxEntries:    100_000,
		MaxFileSize:   10 << 20,
		MaxTotalBytes: 2 << 30,
		MaxRatio:      200,
		MaxPathLen:    1024,
		MaxDepth:      64,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = d.MaxFileSize
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = d.MaxTotalBytes
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = d.MaxRatio
	}
	if l.MaxPathLen <= 0 {
		l.MaxPathLen = d.MaxPathLen
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	return l
}

// Kind reports the archive kind of the file at path (KindZip, KindTar or
// KindTarGz) from its content; the name is not consulted. It returns ""
// for any other content, including a gzip stream that does not hold a
// tar; an error for a file it cannot read, or gzip magic with an invalid
// gzip header (ErrCorruptArchive).
func Kind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("archive kind: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("archive kind: %w", err)
	}
	kind, err := archDetect(f, st.Size())
	if err != nil {
		return "", fmt.Errorf("archive %s: %w", filepath.Base(path), err)
	}
	return kind, nil
}

// archDetect sniffs the archive kind: gzip magic (and a tar inside),
// zip's local-header or end-of-directory magic at the start, a tar header
// ("ustar" at 257, or a valid checksum), or an end-of-central-directory
// record near the end (a zip with a prefix, such as a self-extractor).
func archDetect(ra io.ReaderAt, size int64) (string, error) {
	head := make([]byte, 512)
	n, err := ra.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return "", err
	}
	head = head[:n]
	switch {
	case len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		zr, err := gzip.NewReader(io.NewSectionReader(ra, 0, size))
		if err != nil {
			return "", fmt.Errorf("%w: gzip: %w", ErrCorruptArchive, err)
		}
		block := make([]byte, 512)
		if _, err := io.ReadFull(zr, block); err != nil || !archIsTarHeader(block) {
			return "", nil // gzip, but not of a tar
		}
		return KindTarGz, nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return KindZip, nil
	case archIsTarHeader(head):
		return KindTar, nil
	case archHasEOCD(ra, size):
		return KindZip, nil
	}
	return "", nil
}

// archIsTarHeader reports whether b starts with a tar header block: the
// ustar magic, a valid (unsigned or signed) header checksum as V7 tar
// writes it, or a zero block (an empty archive).
func archIsTarHeader(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	b = b[:512]
	if string(b[257:262]) == "ustar" {
		return true
	}
	if bytes.Count(b, []byte{0}) == 512 {
		return true
	}
	field := strings.Trim(string(b[148:156]), " \x00")
	if field == "" {
		return false
	}
	var want int64
	for _, c := range field {
		if c < '0' || c > '7' {
			return false
		}
		want = want*8 + int64(c-'0')
	}
	var unsigned, signed int64
	for i, c := range b {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return want == unsigned || want == signed
}

// archHasEOCD reports whether a zip end-of-central-directory record
// signature occurs in the last 64 KiB + 22 bytes (its maximal distance
// from the end).
func archHasEOCD(ra io.ReaderAt, size int64) bool {
	const maxTail = 22 + 65535
	n := min(size, maxTail)
	if n < 22 {
		return false
	}
	tail := make([]byte, n)
	if _, err := ra.ReadAt(tail, size-n); err != nil && err != io.EOF {
		return false
	}
	return bytes.LastIndex(tail, []byte("PK\x05\x06")) >= 0
}

// OpenArchive returns a source yielding the regular files of the zip, tar
// or tar.gz archive at path, whose kind is detected from its content
// (other content: ErrUnknownArchive). Each Walk reads the archive again,
// streaming: nothing is extracted to disk. See the package documentation
// for the limits and the handling of hostile entries.
func OpenArchive(path string, lim Limits) (Source, error) {
	kind, err := Kind(path)
	if err != nil {
		return nil, err
	}
	if kind == "" {
		return nil, fmt.Errorf("archive %s: %w", filepath.Base(path), ErrUnknownArchive)
	}
	return &archSource{path: path, kind: kind, lim: lim.withDefaults()}, nil
}

type archSource struct {
	path string
	kind string
	lim  Limits
}

var _ Source = (*archSource)(nil)

func (a *archSource) Walk(ctx context.Context, fn func(File) error) error {
	f, err := os.Open(a.path)
	if err != nil {
		return fmt.Errorf("archive %s: %w", filepath.Base(a.path), err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("archive %s: %w", filepath.Base(a.path), err)
	}
	return archWalk(ctx, f, st.Size(), a.kind, a.lim, filepath.Base(a.path), fn)
}

// archWalk walks the archive of the given kind held by ra. name only
// labels errors.
func archWalk(ctx context.Context, ra io.ReaderAt, size int64, kind string, lim Limits, name string, fn func(File) error) error {
	w := &archWalker{name: name, lim: lim, fn: fn, seen: make(map[string]struct{})}
	switch kind {
	case KindZip:
		return w.zip(ctx, ra, size)
	case KindTar, KindTarGz:
		return w.tar(ctx, ra, size, kind == KindTarGz)
	}
	return fmt.Errorf("archive %s: %w: kind %q", name, ErrUnknownArchive, kind)
}

// archWalker is the state of one walk over an archive.
type archWalker struct {
	name    string
	lim     Limits
	fn      func(File) error
	entries int
	total   int64 // bytes decompressed so far
	seen    map[string]struct{}
	limit   error // the first limit error, sticky: readers may wrap it
}

func (w *archWalker) fail(err error) error {
	return fmt.Errorf("archive %s: %w", w.name, err)
}

func (w *archWalker) limitf(format string, args ...any) error {
	if w.limit == nil {
		w.limit = w.fail(fmt.Errorf("%w: %s", ErrArchiveLimit, fmt.Sprintf(format, args...)))
	}
	return w.limit
}

// readErr turns an error met while reading the archive into the walk's
// error: the limit that stopped a read, or else corruption.
func (w *archWalker) readErr(err error) error {
	if w.limit != nil {
		return w.limit
	}
	return w.fail(fmt.Errorf("%w: %w", ErrCorruptArchive, err))
}

func (w *archWalker) countEntry() error {
	w.entries++
	if w.entries > w.lim.MaxEntries {
		return w.limitf("MaxEntries %d", w.lim.MaxEntries)
	}
	return nil
}

// claim records the path of a regular file and reports whether it is the
// first regular file with it.
func (w *archWalker) claim(p string) bool {
	if _, dup := w.seen[p]; dup {
		return false
	}
	w.seen[p] = struct{}{}
	return true
}

// archCleanName normalises an entry name ("./a//b" → "a/b", backslashes
// → slashes) and refuses a name that is not local: absolute, with a ".."
// element, a Windows drive letter, a NUL, invalid UTF-8. dir reports a
// trailing slash. An empty result names the archive's root.
func archCleanName(raw string, lim Limits) (name string, dir bool, err error) {
	unsafe := func(why string) error {
		return fmt.Errorf("%w: entry %q: %s", ErrUnsafeArchive, raw, why)
	}
	if len(raw) > lim.MaxPathLen {
		return "", false, fmt.Errorf("%w: MaxPathLen %d: entry name of %d bytes", ErrArchiveLimit, lim.MaxPathLen, len(raw))
	}
	if strings.IndexByte(raw, 0) >= 0 {
		return "", false, unsafe("NUL in name")
	}
	if !utf8.ValidString(raw) {
		return "", false, unsafe("name is not UTF-8")
	}
	s := strings.ReplaceAll(raw, `\`, "/")
	if strings.HasPrefix(s, "/") {
		return "", false, unsafe("absolute path")
	}
	if len(s) >= 2 && s[1] == ':' && ('a' <= s[0]|0x20 && s[0]|0x20 <= 'z') {
		return "", false, unsafe("Windows drive path")
	}
	dir = strings.HasSuffix(s, "/")
	var b strings.Builder
	b.Grow(len(s))
	depth := 0
	for elem := range strings.SplitSeq(s, "/") {
		switch elem {
		case "", ".":
			continue
		case "..":
			return "", false, unsafe("parent directory element")
		}
		if depth++; depth > lim.MaxDepth {
			return "", false, fmt.Errorf("%w: MaxDepth %d: entry %q", ErrArchiveLimit, lim.MaxDepth, raw)
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(elem)
	}
	name = b.String()
	if name != "" && !filepath.IsLocal(name) {
		return "", false, unsafe("not a local path")
	}
	return name, dir, nil
}

// archRatioExceeded reports whether out bytes from in exceed ratio, once
// past the grace.
func archRatioExceeded(out, in int64, ratio float64) bool {
	return out > archRatioGrace && float64(out) > ratio*float64(max(in, 1))
}

// --- zip ---

// archCountingReaderAt counts the bytes read from the archive file, the
// compressed side of the zip ratio.
type archCountingReaderAt struct {
	r io.ReaderAt
	n int64
}

func (c *archCountingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

func (w *archWalker) zip(ctx context.Context, ra io.ReaderAt, size int64) error {
	if err := w.zipCheckDirectory(ra, size); err != nil {
		return err
	}
	cra := &archCountingReaderAt{r: ra}
	zr, err := zip.NewReader(cra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return w.fail(fmt.Errorf("%w: %w", ErrCorruptArchive, err))
	}
	// The central directory is in memory: check every name and the count
	// before yielding anything.
	if len(zr.File) > w.lim.MaxEntries {
		return w.limitf("MaxEntries %d: the directory lists %d entries", w.lim.MaxEntries, len(zr.File))
	}
	names := make([]string, len(zr.File))
	dirs := make([]bool, len(zr.File))
	for i, f := range zr.File {
		if names[i], dirs[i], err = archCleanName(f.Name, w.lim); err != nil {
			return w.fail(err)
		}
	}
	for i, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, mode := names[i], f.Mode()
		if dirs[i] || mode.IsDir() {
			continue
		}
		if name == "" {
			return w.fail(fmt.Errorf("%w: entry %q: empty name", ErrUnsafeArchive, f.Name))
		}
		var skip string
		switch {
		case mode&fs.ModeSymlink != 0:
			skip = SkipSymlink
		case !mode.IsRegular():
			skip = SkipNotRegular
		case !w.claim(name):
			skip = SkipDuplicate
		case archIsArchiveName(name):
			skip = SkipArchive
		case f.Flags&0x1 != 0:
			skip = SkipUnsupported
		case f.UncompressedSize64 > uint64(w.lim.MaxFileSize):
			skip = SkipTooLarge
		}
		if skip != "" {
			if err := w.fn(File{Path: name, Skip: skip}); err != nil {
				return err
			}
			continue
		}
		data, skip, err := w.zipEntry(f, name, cra, size)
		if err != nil {
			return w.readErr(fmt.Errorf("entry %q: %w", name, err))
		}
		if err := w.fn(File{Path: name, Data: data, Skip: skip}); err != nil {
			return err
		}
	}
	return nil
}

// Bounds of the central directory, checked before archive/zip reads it.
//
// zip.NewReader holds the whole central directory in memory (a *zip.File,
// its name, extra field and comment per record) before the walk can count
// the entries, so a zip of millions of tiny records would cost hundreds of
// megabytes before MaxEntries refuses it. Worse, archive/zip does not
// trust the end record's counts: it reads records from the directory's
// start until one is not a record and compares their number with the
// declared one only modulo 65536. So zipCheckDirectory reads the end
// record (and the zip64 one) itself, refuses declared counts over the
// limits, then counts the records as archive/zip will read them, in
// constant memory.
//
// A record is 46 bytes plus its name, extra field and comment (up to 64
// KiB each). Real records take about 100 bytes (a name, a timestamp and
// unix ids in the extra field), and names over MaxPathLen are refused
// anyway, so archZipDirBytesPerEntry (1 KiB) per entry of MaxEntries, on
// average, plus archZipDirSlack (room for a few long names under a small
// cap), admits every real archive and bounds the directory to 100 MiB
// under DefaultLimits. The 46 + 3 × 65535 bytes a record may take would
// allow 19 GiB.
const (
	archZipDirBytesPerEntry = 1 << 10
	archZipDirSlack         = 64 << 10
)

// archZipEnd is what the end of central directory record (or its zip64
// version) declares.
type archZipEnd struct {
	records  uint64 // entries in the central directory
	dirSize  uint64 // bytes of the central directory
	dirStart []int64
}

// archReadZipEnd finds and reads the end record as archive/zip does (the
// last signature whose comment fits, in the last 1 KiB, else the last 65
// KiB; the zip64 locator and record when a field is saturated). ok is
// false when there is none or it is malformed: archive/zip then refuses
// the file on its own, without reading a directory.
func archReadZipEnd(ra io.ReaderAt, size int64) (end archZipEnd, ok bool) {
	const eocdLen, locLen, eocd64Len = 22, 20, 56
	var buf []byte
	var endOff int64 = -1
	for _, n := range []int64{1024, 65 * 1024} {
		n = min(n, size)
		buf = make([]byte, n)
		if _, err := ra.ReadAt(buf, size-n); err != nil && err != io.EOF {
			return end, false
		}
		for i := len(buf) - eocdLen; i >= 0; i-- {
			if string(buf[i:i+4]) == "PK\x05\x06" {
				if i+eocdLen+int(binary.LittleEndian.Uint16(buf[i+20:])) <= len(buf) {
					endOff, buf = size-n+int64(i), buf[i:]
				}
				break // archive/zip takes the last signature, or none
			}
		}
		if endOff >= 0 || n == size {
			break
		}
	}
	if endOff < 0 {
		return end, false
	}
	le := binary.LittleEndian
	end.records = uint64(le.Uint16(buf[10:]))
	end.dirSize = uint64(le.Uint32(buf[12:]))
	dirOff := uint64(le.Uint32(buf[16:]))
	if end.records == 0xffff || end.dirSize == 0xffff || dirOff == 0xffffffff {
		// zip64: a locator just before the end record points at the
		// zip64 end record, which holds the real values.
		loc := make([]byte, locLen)
		if endOff >= locLen {
			if _, err := ra.ReadAt(loc, endOff-locLen); err == nil &&
				string(loc[:4]) == "PK\x06\x07" && le.Uint32(loc[4:]) == 0 && le.Uint32(loc[16:]) == 1 {
				p := int64(le.Uint64(loc[8:]))
				rec := make([]byte, eocd64Len)
				if p < 0 || p > size-eocd64Len {
					return end, false
				}
				if _, err := ra.ReadAt(rec, p); err != nil || string(rec[:4]) != "PK\x06\x06" {
					return end, false
				}
				end.records, end.dirSize, dirOff = le.Uint64(rec[32:]), le.Uint64(rec[40:]), le.Uint64(rec[48:])
				endOff = p
			}
		}
	}
	if end.dirSize > math.MaxInt64 || dirOff > math.MaxInt64 {
		return end, false
	}
	// archive/zip starts the directory at base + offset, where base is
	// what precedes the archive (a self-extractor's stub), unless a
	// record is found at the offset itself: count from both.
	base := endOff - int64(end.dirSize) - int64(dirOff)
	end.dirStart = []int64{base + int64(dirOff)}
	if base > 0 {
		end.dirStart = append(end.dirStart, int64(dirOff))
	}
	return end, true
}

// zipCheckDirectory refuses, with ErrArchiveLimit, a zip whose central
// directory declares or holds more than MaxEntries records, or more bytes
// than the bound above, before archive/zip reads it.
func (w *archWalker) zipCheckDirectory(ra io.ReaderAt, size int64) error {
	end, ok := archReadZipEnd(ra, size)
	if !ok {
		return nil
	}
	maxEntries := w.lim.MaxEntries
	maxDir := int64(maxEntries)*archZipDirBytesPerEntry + archZipDirSlack
	if end.records > uint64(maxEntries) {
		return w.limitf("MaxEntries %d: the end of central directory declares %d entries", maxEntries, end.records)
	}
	if end.dirSize > uint64(maxDir) {
		return w.limitf("MaxEntries %d: the end of central directory declares a central directory of %d bytes, more than %d", maxEntries, end.dirSize, maxDir)
	}
	for _, start := range end.dirStart {
		if start < 0 || start >= size {
			continue
		}
		br := bufio.NewReader(io.NewSectionReader(ra, start, size-start))
		var hdr [46]byte
		var records, dirBytes int64
		for {
			if _, err := io.ReadFull(br, hdr[:]); err != nil || string(hdr[:4]) != "PK\x01\x02" {
				break // where archive/zip stops too
			}
			n := int(binary.LittleEndian.Uint16(hdr[28:])) + int(binary.LittleEndian.Uint16(hdr[30:])) + int(binary.LittleEndian.Uint16(hdr[32:]))
			if _, err := br.Discard(n); err != nil {
				break
			}
			records++
			dirBytes += int64(len(hdr) + n)
			switch {
			case records > int64(maxEntries):
				return w.limitf("MaxEntries %d: the central directory holds more than %d records (its end record declares %d)", maxEntries, maxEntries, end.records)
			case dirBytes > maxDir:
				return w.limitf("MaxEntries %d: the central directory holds more than %d bytes", maxEntries, maxDir)
			}
		}
	}
	return nil
}

func (w *archWalker) zipEntry(f *zip.File, name string, cra *archCountingReaderAt, size int64) ([]byte, string, error) {
	in0 := cra.n
	rc, err := f.Open()
	if errors.Is(err, zip.ErrAlgorithm) {
		return nil, SkipUnsupported, nil
	}
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	m := &archMeter{
		r: rc,
		check: func(entryOut int64) error {
			switch {
			case w.total > w.lim.MaxTotalBytes:
				return w.limitf("MaxTotalBytes %d", w.lim.MaxTotalBytes)
			case archRatioExceeded(entryOut, cra.n-in0, w.lim.MaxRatio):
				return w.limitf("MaxRatio %g: entry %q decompressed %d bytes from %d", w.lim.MaxRatio, name, entryOut, cra.n-in0)
			case archRatioExceeded(w.total, size, w.lim.MaxRatio):
				return w.limitf("MaxRatio %g: %d bytes decompressed from an archive of %d", w.lim.MaxRatio, w.total, size)
			}
			return nil
		},
		total: &w.total,
	}
	return w.readEntry(m, int64(f.UncompressedSize64))
}

// readEntry reads one entry's content, at most MaxFileSize+1 bytes. A
// larger entry gives SkipTooLarge; a nested archive gives SkipArchive.
func (w *archWalker) readEntry(r io.Reader, hint int64) ([]byte, string, error) {
	data, tooLarge, err := archReadLimited(r, hint, w.lim.MaxFileSize)
	if err != nil {
		return nil, "", err
	}
	switch {
	case tooLarge:
		return nil, SkipTooLarge, nil
	case archIsArchiveMagic(data):
		return nil, SkipArchive, nil
	}
	return data, "", nil
}

// archReadLimited reads r to its end, or limit+1 bytes, whichever comes
// first; tooLarge reports more than limit bytes. hint, the expected size,
// sizes the buffer: when it is right, nothing is copied.
func archReadLimited(r io.Reader, hint, limit int64) (data []byte, tooLarge bool, err error) {
	if hint < 0 || hint > limit {
		hint = limit
	}
	buf := make([]byte, 0, hint+1) // +1: room for the read that meets EOF
	lr := io.LimitReader(r, limit+1)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false, err
		}
	}
	if int64(len(buf)) > limit {
		return nil, true, nil
	}
	return buf, false, nil
}

// archMeter counts the bytes read through it into *total and its own
// count, and fails a read once check reports a limit.
type archMeter struct {
	r     io.Reader
	n     int64
	total *int64
	check func(n int64) error
}

func (m *archMeter) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	m.n += int64(n)
	*m.total += int64(n)
	if lerr := m.check(m.n); lerr != nil {
		return 0, lerr
	}
	return n, err
}

// --- tar ---

// archCounter counts the bytes read from the archive file, the compressed
// side of the tar.gz ratio.
type archCounter struct {
	r *io.SectionReader
	n int64
}

func (c *archCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// archSeekMeter is the archMeter over a plain tar, which can seek: then
// tar.Reader skips an entry's data by seeking, and an entry too large to
// be read is not read at all.
type archSeekMeter struct {
	*archMeter
	s io.Seeker
}

func (m *archSeekMeter) Seek(off int64, whence int) (int64, error) { return m.s.Seek(off, whence) }

func (w *archWalker) tar(ctx context.Context, ra io.ReaderAt, size int64, gz bool) error {
	in := &archCounter{r: io.NewSectionReader(ra, 0, size)}
	stream := &archMeter{total: &w.total}
	stream.check = func(int64) error {
		switch {
		case w.total > w.lim.MaxTotalBytes:
			return w.limitf("MaxTotalBytes %d", w.lim.MaxTotalBytes)
		case archRatioExceeded(w.total, in.n, w.lim.MaxRatio):
			return w.limitf("MaxRatio %g: %d bytes decompressed from %d", w.lim.MaxRatio, w.total, in.n)
		}
		return nil
	}
	var tr *tar.Reader
	if gz {
		zr, err := gzip.NewReader(in)
		if err != nil {
			return w.fail(fmt.Errorf("%w: gzip: %w", ErrCorruptArchive, err))
		}
		stream.r = zr
		tr = tar.NewReader(stream)
	} else {
		stream.r = in
		tr = tar.NewReader(&archSeekMeter{archMeter: stream, s: in.r})
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return w.readErr(err)
		}
		if err := w.countEntry(); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name, dir, err := archCleanName(hdr.Name, w.lim)
		if err != nil {
			return w.fail(err)
		}
		if hdr.Typeflag == tar.TypeDir || (dir && hdr.Typeflag == tar.TypeReg) {
			continue
		}
		if name == "" {
			return w.fail(fmt.Errorf("%w: entry %q: empty name", ErrUnsafeArchive, hdr.Name))
		}
		var skip string
		switch hdr.Typeflag {
		case tar.TypeSymlink, tar.TypeLink:
			skip = SkipSymlink
		case tar.TypeReg, tar.TypeCont:
			if archIsSparse(hdr) {
				skip = SkipNotRegular
			}
		default:
			skip = SkipNotRegular
		}
		if skip == "" {
			switch {
			case !w.claim(name):
				skip = SkipDuplicate
			case archIsArchiveName(name):
				skip = SkipArchive
			case hdr.Size > w.lim.MaxFileSize:
				skip = SkipTooLarge
			}
		}
		if skip != "" {
			if err := w.fn(File{Path: name, Skip: skip}); err != nil {
				return err
			}
			continue
		}
		in0 := in.n
		m := &archMeter{r: tr, total: new(int64), check: func(out int64) error {
			if archRatioExceeded(out, in.n-in0, w.lim.MaxRatio) {
				return w.limitf("MaxRatio %g: entry %q decompressed %d bytes from %d", w.lim.MaxRatio, name, out, in.n-in0)
			}
			return nil
		}}
		data, skip, err := w.readEntry(m, hdr.Size)
		if err != nil {
			return w.readErr(fmt.Errorf("entry %q: %w", name, err))
		}
		if err := w.fn(File{Path: name, Data: data, Skip: skip}); err != nil {
			return err
		}
	}
	if gz {
		// Read the rest of the gzip stream (the tar's padding and the
		// gzip trailer) so that its checksum is verified. Bytes after the
		// last gzip member are ignored, as gzip(1) does.
		if _, err := io.Copy(io.Discard, stream); err != nil && !errors.Is(err, gzip.ErrHeader) {
			return w.readErr(err)
		}
	}
	return nil
}

// archIsSparse reports a GNU sparse file, whose holes would decompress from
// nothing: it is yielded as SkipNotRegular.
func archIsSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// archExts are the name extensions of archives and compressed files: a
// nested one is yielded with SkipArchive and never opened.
var archExts = map[string]bool{
	".zip": true, ".jar": true, ".war": true, ".ear": true, ".aar": true,
	".apk": true, ".whl": true, ".egg": true, ".nupkg": true, ".vsix": true,
	".xpi": true, ".crx": true,
	".tar": true, ".tgz": true, ".tbz": true, ".tbz2": true, ".txz": true,
	".tzst": true, ".gz": true, ".bz2": true, ".xz": true, ".zst": true,
	".lz": true, ".lz4": true, ".lzma": true, ".z": true, ".7z": true,
	".rar": true, ".cab": true, ".cpio": true, ".deb": true, ".rpm": true,
	".iso": true, ".dmg": true,
}

// archIsArchiveName reports a name with an archive extension.
func archIsArchiveName(name string) bool {
	return archExts[strings.ToLower(archExt(name))]
}

// archExt is path.Ext of a slash path's last element.
func archExt(name string) string {
	for i := len(name) - 1; i >= 0 && name[i] != '/'; i-- {
		if name[i] == '.' {
			return name[i:]
		}
	}
	return ""
}

// archIsArchiveMagic reports content that starts like an archive or a
// compressed stream: gzip, zip, tar (a valid header checksum), bzip2, xz,
// zstd, 7z, rar.
func archIsArchiveMagic(b []byte) bool {
	for _, m := range [...]string{
		"\x1f\x8b",                 // gzip
		"PK\x03\x04", "PK\x05\x06", // zip
		"\xfd7zXZ\x00",     // xz
		"\x28\xb5\x2f\xfd", // zstd
		"7z\xbc\xaf\x27\x1c",
		"Rar!\x1a\x07",
	} {
		if bytes.HasPrefix(b, []byte(m)) {
			return true
		}
	}
	if len(b) >= 10 && string(b[:3]) == "BZh" && '1' <= b[3] && b[3] <= '9' && string(b[4:10]) == "1AY&SY" {
		return true
	}
	return len(b) >= 512 && bytes.Count(b[:512], []byte{0}) < 512 && archIsTarHeader(b)
}
