package source

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// archEntry describes one entry of a test archive.
type archEntry struct {
	name string
	body []byte
	// typ is a tar typeflag (0 = regular); for zip, TypeSymlink,
	// TypeFifo and TypeChar become the matching file modes and TypeDir a
	// directory.
	typ byte
	// zip only: method (default Deflate), flags, raw (write body as the
	// already compressed data, with size as the uncompressed size).
	method uint16
	flags  uint16
	raw    bool
	size   uint64
}

func archReg(name, body string) archEntry { return archEntry{name: name, body: []byte(body)} }

// archBuild returns an archive of the given kind holding entries.
func archBuild(t testing.TB, kind string, entries ...archEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch kind {
	case KindZip:
		zw := zip.NewWriter(&buf)
		for _, e := range entries {
			h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Flags: e.flags}
			if e.method != 0 {
				h.Method = e.method
			}
			switch e.typ {
			case tar.TypeSymlink:
				h.SetMode(fs.ModeSymlink | 0o777)
			case tar.TypeFifo:
				h.SetMode(fs.ModeNamedPipe | 0o644)
			case tar.TypeChar:
				h.SetMode(fs.ModeDevice | fs.ModeCharDevice | 0o644)
			case tar.TypeDir:
				h.SetMode(fs.ModeDir | 0o755)
			default:
				h.SetMode(0o644)
			}
			var w io.Writer
			var err error
			if e.raw {
				h.CompressedSize64 = uint64(len(e.body))
				h.UncompressedSize64 = e.size
				w, err = zw.CreateRaw(h)
			} else {
				w, err = zw.CreateHeader(h)
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(e.body); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	case KindTar, KindTarGz:
		var w io.Writer = &buf
		var zw *gzip.Writer
		if kind == KindTarGz {
			zw = gzip.NewWriter(&buf)
			w = zw
		}
		tw := tar.NewWriter(w)
		for _, e := range entries {
			h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Format: tar.FormatPAX}
			if h.Typeflag == 0 {
				h.Typeflag = tar.TypeReg
			}
			switch h.Typeflag {
			case tar.TypeReg:
				h.Size = int64(len(e.body))
			case tar.TypeSymlink, tar.TypeLink:
				h.Linkname = "/etc/passwd"
			}
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			if h.Size > 0 {
				if _, err := tw.Write(e.body); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		if zw != nil {
			if err := zw.Close(); err != nil {
				t.Fatal(err)
			}
		}
	default:
		t.Fatalf("kind %q", kind)
	}
	return buf.Bytes()
}

func archWrite(t testing.TB, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// archCollect opens data as an archive and returns what a walk yields.
func archCollect(t testing.TB, data []byte, lim Limits) ([]File, error) {
	t.Helper()
	src, err := OpenArchive(archWrite(t, data), lim)
	if err != nil {
		return nil, err
	}
	var files []File
	err = src.Walk(context.Background(), func(f File) error {
		files = append(files, f)
		return nil
	})
	return files, err
}

var archKinds = []string{KindZip, KindTar, KindTarGz}

func TestArchiveKind(t *testing.T) {
	tgz := archBuild(t, KindTarGz, archReg("a", "x"))
	zipData := archBuild(t, KindZip, archReg("a", "x"))
	tarData := archBuild(t, KindTar, archReg("a", "x"))
	v7 := bytes.Clone(tarData)
	// Strip the ustar magic and version, recompute the checksum: a V7
	// header, recognised by its checksum alone.
	for i := 257; i < 265; i++ {
		v7[i] = 0
	}
	copy(v7[148:156], "        ")
	sum := 0
	for _, c := range v7[:512] {
		sum += int(c)
	}
	copy(v7[148:156], fmt.Sprintf("%06o\x00 ", sum))
	var gzText bytes.Buffer
	zw := gzip.NewWriter(&gzText)
	zw.Write(bytes.Repeat([]byte("hello\n"), 200))
	zw.Close()
	emptyZip := archBuild(t, KindZip)

	tests := []struct {
		name string
		data []byte
		want string
		err  error
	}{
		{"tar.gz", tgz, KindTarGz, nil},
		{"zip", zipData, KindZip, nil},
		{"empty zip", emptyZip, KindZip, nil},
		{"self-extracting zip", append(bytes.Repeat([]byte("#!/bin/sh\n"), 100), zipData...), KindZip, nil},
		{"tar", tarData, KindTar, nil},
		{"v7 tar", v7, KindTar, nil},
		{"empty tar", make([]byte, 1024), KindTar, nil},
		{"text", []byte(strings.Repeat("not an archive\n", 100)), "", nil},
		{"gzip of text", gzText.Bytes(), "", nil},
		{"empty file", nil, "", nil},
		{"bad gzip header", []byte("\x1f\x8b\x09garbage"), "", ErrCorruptArchive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The name says zip whatever the content: it is not consulted.
			p := filepath.Join(t.TempDir(), "x.zip")
			if err := os.WriteFile(p, tt.data, 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := Kind(p)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("Kind = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
	t.Run("OpenArchive of text", func(t *testing.T) {
		if _, err := OpenArchive(archWrite(t, gzText.Bytes()), Limits{}); !errors.Is(err, ErrUnknownArchive) {
			t.Fatalf("err = %v, want ErrUnknownArchive", err)
		}
	})
	t.Run("v7 walk", func(t *testing.T) {
		files, err := archCollect(t, v7, Limits{})
		if err != nil || len(files) != 1 || string(files[0].Data) != "x" {
			t.Fatalf("walk = %+v, %v", files, err)
		}
	})
	t.Run("self-extracting walk", func(t *testing.T) {
		files, err := archCollect(t, append([]byte("MZ stub\x00"), zipData...), Limits{})
		if err != nil || len(files) != 1 || string(files[0].Data) != "x" {
			t.Fatalf("walk = %+v, %v", files, err)
		}
	})
}

func TestArchiveWalk(t *testing.T) {
	for _, kind := range archKinds {
		t.Run(kind, func(t *testing.T) {
			data := archBuild(t, kind,
				archEntry{name: "./", typ: tar.TypeDir},
				archEntry{name: "./src/", typ: tar.TypeDir},
				archReg("./src/main.go", "package main\n"),
				archReg("README.md", "# hi\n"),
				archReg("a//b/./c.txt", "c\n"),
				archReg(`win\path.txt`, "w\n"),
				archReg("empty", ""),
			)
			files, err := archCollect(t, data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			want := []File{
				{Path: "src/main.go", Data: []byte("package main\n")},
				{Path: "README.md", Data: []byte("# hi\n")},
				{Path: "a/b/c.txt", Data: []byte("c\n")},
				{Path: "win/path.txt", Data: []byte("w\n")},
				{Path: "empty", Data: []byte{}},
			}
			archSame(t, files, want)
		})
	}
}

func archSame(t *testing.T, got, want []File) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d files, want %d:\n%s", len(got), len(want), archDump(got))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Path != w.Path || g.Skip != w.Skip || !bytes.Equal(g.Data, w.Data) || (g.Skip != "" && g.Data != nil) {
			t.Fatalf("file %d = %s, want %s", i, archDump(got[i:i+1]), archDump(want[i:i+1]))
		}
	}
}

func archDump(files []File) string {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "  %q skip=%q data=%q\n", f.Path, f.Skip, f.Data[:min(len(f.Data), 40)])
	}
	return b.String()
}

func TestArchiveHostile(t *testing.T) {
	zeros := make([]byte, 10<<20)
	random := make([]byte, 50<<10)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(random)
	innerZip := archBuild(t, KindZip, archReg("x", "y"))

	type tc struct {
		name    string
		kinds   []string // default: all
		entries []archEntry
		lim     Limits
		err     error  // wanted error, or nil
		errText string // in the error's text
		want    []File // when err is nil
	}
	tests := []tc{
		{name: "zip slip", entries: []archEntry{archReg("ok.txt", "ok"), archReg("../../etc/passwd", "root")}, err: ErrUnsafeArchive, errText: "parent directory"},
		{name: "zip slip inside", entries: []archEntry{archReg("a/../../x", "x")}, err: ErrUnsafeArchive},
		{name: "dot dot that stays inside", entries: []archEntry{archReg("a/../b", "x")}, err: ErrUnsafeArchive},
		{name: "absolute", entries: []archEntry{archReg("/etc/passwd", "root")}, err: ErrUnsafeArchive, errText: "absolute"},
		{name: "windows drive", entries: []archEntry{archReg(`C:\x`, "x")}, err: ErrUnsafeArchive, errText: "drive"},
		{name: "backslash slip", entries: []archEntry{archReg(`..\..\x`, "x")}, err: ErrUnsafeArchive},
		{name: "unc", entries: []archEntry{archReg(`\\server\share\x`, "x")}, err: ErrUnsafeArchive},
		{name: "nul", kinds: []string{KindZip}, entries: []archEntry{archReg("a\x00.txt", "x")}, err: ErrUnsafeArchive},
		{name: "not utf-8", kinds: []string{KindZip}, entries: []archEntry{archReg("caf\xe9.txt", "x")}, err: ErrUnsafeArchive},
		{name: "unsafe symlink name", entries: []archEntry{{name: "../l", typ: tar.TypeSymlink, body: []byte("/etc")}}, err: ErrUnsafeArchive},
		{
			name:    "symlink",
			entries: []archEntry{{name: "link", typ: tar.TypeSymlink, body: []byte("/etc/passwd")}, archReg("a", "a")},
			want:    []File{{Path: "link", Skip: SkipSymlink}, {Path: "a", Data: []byte("a")}},
		},
		{
			name:    "hard link",
			kinds:   []string{KindTar, KindTarGz},
			entries: []archEntry{archReg("a", "a"), {name: "h", typ: tar.TypeLink}},
			want:    []File{{Path: "a", Data: []byte("a")}, {Path: "h", Skip: SkipSymlink}},
		},
		{
			name:    "devices and fifos",
			entries: []archEntry{{name: "fifo", typ: tar.TypeFifo}, {name: "dev", typ: tar.TypeChar}},
			want:    []File{{Path: "fifo", Skip: SkipNotRegular}, {Path: "dev", Skip: SkipNotRegular}},
		},
		// A plain tar is never a bomb: it holds what it yields.
		{name: "bomb", kinds: []string{KindZip, KindTarGz}, entries: []archEntry{{name: "zeros", body: zeros}}, err: ErrArchiveLimit, errText: "MaxRatio"},
		{
			// Each entry below the per-entry grace: the overall ratio stops it.
			name:  "bomb in pieces",
			kinds: []string{KindZip, KindTarGz},
			entries: func() []archEntry {
				var es []archEntry
				for i := range 40 {
					es = append(es, archEntry{name: fmt.Sprint("z", i), body: zeros[:512<<10]})
				}
				return es
			}(),
			err: ErrArchiveLimit, errText: "MaxRatio",
		},
		{
			// A bomb too large to be read is skipped in zip and plain tar;
			// tar.gz must decompress it to get past it, and the ratio stops that.
			name:    "bomb skipped",
			kinds:   []string{KindZip, KindTar},
			entries: []archEntry{{name: "zeros", body: zeros}, archReg("a", "a")},
			lim:     Limits{MaxFileSize: 1 << 20},
			want:    []File{{Path: "zeros", Skip: SkipTooLarge}, {Path: "a", Data: []byte("a")}},
		},
		{
			name:    "bomb skipped tar.gz",
			kinds:   []string{KindTarGz},
			entries: []archEntry{{name: "zeros", body: zeros}, archReg("a", "a")},
			lim:     Limits{MaxFileSize: 1 << 20},
			err:     ErrArchiveLimit, errText: "MaxRatio",
		},
		{
			name: "too many entries",
			entries: func() []archEntry {
				var es []archEntry
				for i := range 11 {
					es = append(es, archReg(fmt.Sprint("f", i), "x"))
				}
				return es
			}(),
			lim: Limits{MaxEntries: 10},
			err: ErrArchiveLimit, errText: "MaxEntries",
		},
		{
			name:    "total bytes",
			entries: []archEntry{{name: "r1", body: random}, {name: "r2", body: random}, {name: "r3", body: random}},
			lim:     Limits{MaxTotalBytes: 120 << 10},
			err:     ErrArchiveLimit, errText: "MaxTotalBytes",
		},
		{
			name:    "oversized file",
			entries: []archEntry{archReg("small", "s"), {name: "big", body: random}, archReg("after", "a")},
			lim:     Limits{MaxFileSize: 1 << 10},
			want:    []File{{Path: "small", Data: []byte("s")}, {Path: "big", Skip: SkipTooLarge}, {Path: "after", Data: []byte("a")}},
		},
		{
			name:    "path too long",
			entries: []archEntry{archReg(strings.Repeat("a", 300), "x")},
			lim:     Limits{MaxPathLen: 256},
			err:     ErrArchiveLimit, errText: "MaxPathLen",
		},
		{
			name:    "too deep",
			entries: []archEntry{archReg(strings.Repeat("d/", 10)+"f", "x")},
			lim:     Limits{MaxDepth: 10},
			err:     ErrArchiveLimit, errText: "MaxDepth",
		},
		{
			name:    "nested archives",
			entries: []archEntry{{name: "inner.zip", body: innerZip}, {name: "inner.txt", body: innerZip}, archReg("lib.jar", "PK"), archReg("a", "a")},
			want:    []File{{Path: "inner.zip", Skip: SkipArchive}, {Path: "inner.txt", Skip: SkipArchive}, {Path: "lib.jar", Skip: SkipArchive}, {Path: "a", Data: []byte("a")}},
		},
		{
			name:    "duplicates",
			entries: []archEntry{archReg("a.txt", "first"), archReg("./a.txt", "second"), archReg("b//a.txt", "b"), archReg("b/a.txt", "b2")},
			want:    []File{{Path: "a.txt", Data: []byte("first")}, {Path: "a.txt", Skip: SkipDuplicate}, {Path: "b/a.txt", Data: []byte("b")}, {Path: "b/a.txt", Skip: SkipDuplicate}},
		},
		{
			name:    "encrypted",
			kinds:   []string{KindZip},
			entries: []archEntry{{name: "secret.txt", body: []byte("garbage"), flags: 0x1, raw: true, size: 7}, archReg("a", "a")},
			want:    []File{{Path: "secret.txt", Skip: SkipUnsupported}, {Path: "a", Data: []byte("a")}},
		},
		{
			name:    "unknown method",
			kinds:   []string{KindZip},
			entries: []archEntry{{name: "lzma.txt", body: []byte("garbage"), method: 14, raw: true, size: 7}, archReg("a", "a")},
			want:    []File{{Path: "lzma.txt", Skip: SkipUnsupported}, {Path: "a", Data: []byte("a")}},
		},
		{
			// The header says 3 bytes; the data inflates to more.
			name:    "lying size",
			kinds:   []string{KindZip},
			entries: []archEntry{{name: "liar", body: archDeflate(t, []byte("much more than three")), method: zip.Deflate, raw: true, size: 3}},
			err:     ErrCorruptArchive,
		},
	}
	for _, tt := range tests {
		kinds := tt.kinds
		if kinds == nil {
			kinds = archKinds
		}
		for _, kind := range kinds {
			t.Run(tt.name+"/"+kind, func(t *testing.T) {
				files, err := archCollect(t, archBuild(t, kind, tt.entries...), tt.lim)
				if tt.err != nil {
					t.Logf("err: %v", err)
					if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.errText) {
						t.Fatalf("err = %v, want %v with %q", err, tt.err, tt.errText)
					}
					if kind == KindZip && (errors.Is(err, ErrUnsafeArchive) || strings.Contains(tt.errText, "MaxEntries")) && len(files) > 0 {
						t.Fatalf("zip yielded %d files before failing", len(files))
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				archSame(t, files, tt.want)
			})
		}
	}
}

func archDeflate(t testing.TB, b []byte) []byte {
	t.Helper()
	// A stored zip entry's data is the raw bytes; for deflate, reuse
	// the writer of a one-entry zip and lift the compressed bytes.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "x", Method: zip.Deflate})
	w.Write(b)
	zw.Close()
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	off, _ := zr.File[0].DataOffset()
	return buf.Bytes()[off : off+int64(zr.File[0].CompressedSize64)]
}

func TestArchiveCorrupt(t *testing.T) {
	text := []byte(strings.Repeat("some text that compresses\n", 4000))
	for _, kind := range archKinds {
		data := archBuild(t, kind, archEntry{name: "a.txt", body: text}, archEntry{name: "b.txt", body: text})
		t.Run("truncated/"+kind, func(t *testing.T) {
			_, err := archCollect(t, data[:len(data)/2], Limits{})
			if !errors.Is(err, ErrCorruptArchive) {
				t.Fatalf("err = %v, want ErrCorruptArchive", err)
			}
		})
		t.Run("flipped/"+kind, func(t *testing.T) {
			bad := bytes.Clone(data)
			// In the first entry's data, away from the headers.
			i := map[string]int{KindZip: 100, KindTar: 700, KindTarGz: len(data) / 3}[kind]
			bad[i] ^= 0x55
			_, err := archCollect(t, bad, Limits{})
			if kind == KindTar {
				// Plain tar has no checksum over data: a flipped data
				// byte goes unnoticed, which is not an error.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrCorruptArchive) {
				t.Fatalf("err = %v, want ErrCorruptArchive", err)
			}
		})
	}
	t.Run("bad crc", func(t *testing.T) {
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "a", Method: zip.Store})
		w.Write([]byte("hello world"))
		zw.Close()
		bad := bytes.Replace(buf.Bytes(), []byte("hello world"), []byte("hello there"), 1)
		_, err := archCollect(t, bad, Limits{})
		if !errors.Is(err, ErrCorruptArchive) || !strings.Contains(err.Error(), "checksum") {
			t.Fatalf("err = %v, want ErrCorruptArchive (checksum)", err)
		}
	})
}

func TestArchiveWalkStops(t *testing.T) {
	for _, kind := range archKinds {
		data := archBuild(t, kind, archReg("a", "a"), archReg("b", "b"))
		src, err := OpenArchive(archWrite(t, data), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		t.Run("callback error/"+kind, func(t *testing.T) {
			stop := errors.New("stop")
			n := 0
			err := src.Walk(context.Background(), func(File) error { n++; return stop })
			if err != stop || n != 1 {
				t.Fatalf("err = %v after %d files, want the callback's error as is after 1", err, n)
			}
		})
		t.Run("cancelled/"+kind, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := src.Walk(ctx, func(File) error { return nil }); !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
		})
		t.Run("walk twice/"+kind, func(t *testing.T) {
			for range 2 {
				n := 0
				if err := src.Walk(context.Background(), func(File) error { n++; return nil }); err != nil || n != 2 {
					t.Fatalf("walk: %d files, %v", n, err)
				}
			}
		})
	}
}

// FuzzArchive walks arbitrary bytes as an archive: it must never panic,
// never yield a path that is not clean and local, never yield more than
// the limits allow.
func FuzzArchive(f *testing.F) {
	for _, kind := range archKinds {
		f.Add(archBuild(f, kind, archReg("a/b.txt", "hello"), archEntry{name: "l", typ: tar.TypeSymlink}, archReg("c", strings.Repeat("x", 3000))))
		f.Add(archBuild(f, kind, archReg("../x", "y")))
	}
	f.Add(archBuild(f, KindTarGz, archEntry{name: "z", body: make([]byte, 200<<10)}))
	lim := Limits{MaxEntries: 20, MaxFileSize: 4 << 10, MaxTotalBytes: 64 << 10, MaxRatio: 50, MaxPathLen: 64, MaxDepth: 4}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-done:
			case <-time.After(10 * time.Second): // a hang becomes a recorded crasher
				panic(fmt.Sprintf("HANG %x", data))
			}
		}()
		r := bytes.NewReader(data)
		kind, err := archDetect(r, r.Size())
		if err != nil || kind == "" {
			return
		}
		n, total := 0, 0
		err = archWalk(context.Background(), r, r.Size(), kind, lim, "fuzz", func(f File) error {
			n++
			p := f.Path
			if !filepath.IsLocal(p) || !utf8.ValidString(p) || strings.ContainsAny(p, "\\\x00") || len(p) > lim.MaxPathLen {
				t.Fatalf("bad path %q", p)
			}
			for elem := range strings.SplitSeq(p, "/") {
				if elem == "" || elem == "." || elem == ".." {
					t.Fatalf("unclean path %q", p)
				}
			}
			if strings.Count(p, "/")+1 > lim.MaxDepth {
				t.Fatalf("path %q deeper than %d", p, lim.MaxDepth)
			}
			if f.Skip != "" && f.Data != nil {
				t.Fatalf("%q: skipped (%s) with data", p, f.Skip)
			}
			if int64(len(f.Data)) > lim.MaxFileSize {
				t.Fatalf("%q: %d bytes > MaxFileSize", p, len(f.Data))
			}
			total += len(f.Data)
			return nil
		})
		if n > lim.MaxEntries || int64(total) > lim.MaxTotalBytes {
			t.Fatalf("%d entries, %d bytes: over the limits", n, total)
		}
		if err != nil && !errors.Is(err, ErrCorruptArchive) && !errors.Is(err, ErrUnsafeArchive) && !errors.Is(err, ErrArchiveLimit) {
			t.Fatalf("unclassified error: %v", err)
		}
	})
}

// TestArchiveOverlappingZip: many central-directory entries point at the
// same compressed data, so each entry's own ratio looks honest while the
// archive as a whole expands far beyond its size.
func TestArchiveOverlappingZip(t *testing.T) {
	body := archDeflate(t, make([]byte, 1<<20)) // 1 MiB of zeros: at the per-entry grace, never over it
	crc := crc32.ChecksumIEEE(make([]byte, 1<<20))
	le := binary.LittleEndian
	var b []byte
	b = le.AppendUint32(b, 0x04034b50)
	b = le.AppendUint16(b, 20)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint16(b, zip.Deflate)
	b = le.AppendUint32(b, 0) // time, date
	b = le.AppendUint32(b, crc)
	b = le.AppendUint32(b, uint32(len(body)))
	b = le.AppendUint32(b, 1<<20)
	b = le.AppendUint16(b, 1) // name length
	b = le.AppendUint16(b, 0)
	b = append(b, 'x')
	b = append(b, body...)
	cdOff := len(b)
	const n = 100
	for i := range n {
		name := fmt.Sprintf("f%03d", i)
		b = le.AppendUint32(b, 0x02014b50)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, 20)
		b = le.AppendUint16(b, 0)
		b = le.AppendUint16(b, zip.Deflate)
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, crc)
		b = le.AppendUint32(b, uint32(len(body)))
		b = le.AppendUint32(b, 1<<20)
		b = le.AppendUint16(b, uint16(len(name)))
		b = le.AppendUint16(b, 0) // extra
		b = le.AppendUint16(b, 0) // comment
		b = le.AppendUint16(b, 0) // disk
		b = le.AppendUint16(b, 0) // internal attributes
		b = le.AppendUint32(b, 0) // external attributes
		b = le.AppendUint32(b, 0) // local header offset: all the same
		b = append(b, name...)
	}
	cdLen := len(b) - cdOff
	b = le.AppendUint32(b, 0x06054b50)
	b = le.AppendUint32(b, 0) // disks
	b = le.AppendUint16(b, n)
	b = le.AppendUint16(b, n)
	b = le.AppendUint32(b, uint32(cdLen))
	b = le.AppendUint32(b, uint32(cdOff))
	b = le.AppendUint16(b, 0)

	files, err := archCollect(t, b, Limits{})
	t.Logf("%d bytes of archive, %d files yielded, err: %v", len(b), len(files), err)
	if !errors.Is(err, ErrArchiveLimit) || !strings.Contains(err.Error(), "MaxRatio") {
		t.Fatalf("err = %v, want ErrArchiveLimit (MaxRatio)", err)
	}
	if len(files) == 0 {
		t.Fatal("the first entry should pass: the overlap is what trips the limit")
	}
}

// archZipEOCD returns the offset of the end of central directory record
// of the zip b.
func archZipEOCD(t *testing.T, b []byte) int {
	t.Helper()
	i := bytes.LastIndex(b, []byte("PK\x05\x06"))
	if i < 0 {
		t.Fatal("no end of central directory record")
	}
	return i
}

// archZipWithZip64End rewrites the zip b (without a zip64 end) into one
// whose end record defers to a zip64 end record declaring records entries.
func archZipWithZip64End(t *testing.T, b []byte, records uint64) []byte {
	t.Helper()
	le := binary.LittleEndian
	e := archZipEOCD(t, b)
	dirSize, dirOff := le.Uint32(b[e+12:]), le.Uint32(b[e+16:])
	out := slices.Clone(b[:e])
	rec := len(out)
	out = le.AppendUint32(out, 0x06064b50)
	out = le.AppendUint64(out, 44) // size of the rest of the record
	out = le.AppendUint16(out, 45)
	out = le.AppendUint16(out, 45)
	out = le.AppendUint32(out, 0) // this disk
	out = le.AppendUint32(out, 0) // disk of the directory
	out = le.AppendUint64(out, records)
	out = le.AppendUint64(out, records)
	out = le.AppendUint64(out, uint64(dirSize))
	out = le.AppendUint64(out, uint64(dirOff))
	out = le.AppendUint32(out, 0x07064b50) // locator
	out = le.AppendUint32(out, 0)
	out = le.AppendUint64(out, uint64(rec))
	out = le.AppendUint32(out, 1)
	out = le.AppendUint32(out, 0x06054b50)
	out = le.AppendUint32(out, 0)
	out = le.AppendUint16(out, 0xffff)
	out = le.AppendUint16(out, 0xffff)
	out = le.AppendUint32(out, 0xffffffff)
	out = le.AppendUint32(out, 0xffffffff)
	out = le.AppendUint16(out, 0)
	return out
}

// archZipStored returns a zip of n empty stored entries.
func archZipStored(t *testing.T, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		if _, err := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("f%06d", i), Method: zip.Store}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestArchiveZipDirectoryBound: a zip whose central directory declares or
// holds more entries (or bytes) than the limits allow is refused from its
// end record and a constant-memory count of its records, before
// archive/zip loads the directory.
func TestArchiveZipDirectoryBound(t *testing.T) {
	le := binary.LittleEndian
	small := archBuild(t, KindZip, archReg("a", "a"), archReg("b", "b"), archReg("c", "c"))
	patch := func(b []byte, f func(eocd []byte)) []byte {
		b = slices.Clone(b)
		f(b[archZipEOCD(t, b):])
		return b
	}
	// More than 65536 records, declared as 65537 mod 65536 = 1, in a
	// directory declared as 100 bytes: archive/zip accepts it, and would
	// load all of them.
	wrapped := archZipStored(t, 65537)
	{
		e := archZipEOCD(t, wrapped)
		rec := int(le.Uint64(wrapped[e-20+8:])) // the zip64 locator points at the zip64 record
		le.PutUint64(wrapped[rec+24:], 1)
		le.PutUint64(wrapped[rec+32:], 1)
		le.PutUint64(wrapped[rec+40:], 100)
		zr, err := zip.NewReader(bytes.NewReader(wrapped), int64(len(wrapped)))
		if err != nil || len(zr.File) != 65537 {
			t.Fatalf("archive/zip on the wrapped count: %v", err)
		}
	}
	withComments := func() []byte {
		// 5 records of 40 KiB each (comment), declared as a tiny directory.
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for i := range 5 {
			h := &zip.FileHeader{Name: fmt.Sprint("f", i), Method: zip.Store, Comment: strings.Repeat("c", 40<<10)}
			if _, err := zw.CreateHeader(h); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}()
	tests := []struct {
		name    string
		data    []byte
		lim     Limits
		errText string // "" = the walk succeeds
	}{
		{name: "declared count", lim: Limits{MaxEntries: 10},
			data:    patch(small, func(e []byte) { le.PutUint16(e[8:], 1000); le.PutUint16(e[10:], 1000) }),
			errText: "MaxEntries 10: the end of central directory declares 1000 entries"},
		{name: "zip64 declared count", data: archZipWithZip64End(t, small, 5_000_000),
			errText: "MaxEntries 100000: the end of central directory declares 5000000 entries"},
		{name: "declared directory size", lim: Limits{MaxEntries: 10},
			data:    patch(small, func(e []byte) { le.PutUint32(e[12:], 1<<30) }),
			errText: fmt.Sprintf("declares a central directory of %d bytes, more than %d", 1<<30, 10<<10+64<<10)},
		{name: "count wrapped modulo 65536", data: wrapped, lim: Limits{MaxEntries: 10},
			errText: "MaxEntries 10: the central directory holds more than 10 records (its end record declares 1)"},
		{name: "directory size that lies", lim: Limits{MaxEntries: 10},
			data:    patch(withComments, func(e []byte) { le.PutUint32(e[12:], 100) }),
			errText: fmt.Sprintf("MaxEntries 10: the central directory holds more than %d bytes", 10<<10+64<<10)},
		{name: "at the limits", data: small, lim: Limits{MaxEntries: 3}},
		{name: "zip64 end within the limits", data: archZipWithZip64End(t, small, 3), lim: Limits{MaxEntries: 3}},
		{name: "after a prefix", data: append(bytes.Repeat([]byte("#!/bin/sh\n"), 100), small...), lim: Limits{MaxEntries: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ra := &archCountingReaderAt{r: bytes.NewReader(tt.data)}
			var files []File
			err := archWalk(context.Background(), ra, int64(len(tt.data)), KindZip, tt.lim.withDefaults(), "test.zip", func(f File) error {
				files = append(files, f)
				return nil
			})
			if tt.errText == "" {
				if err != nil || len(files) != 3 {
					t.Fatalf("walk: %d files, %v; want 3 files", len(files), err)
				}
				return
			}
			t.Logf("err: %v", err)
			if !errors.Is(err, ErrArchiveLimit) || !strings.Contains(err.Error(), tt.errText) {
				t.Fatalf("err = %v, want ErrArchiveLimit with %q", err, tt.errText)
			}
			if len(files) > 0 {
				t.Fatalf("yielded %d files before refusing", len(files))
			}
			// The end record and a few records, not the directory.
			if ra.n > 200<<10 {
				t.Errorf("read %d bytes of a %d-byte archive before refusing it", ra.n, len(tt.data))
			}
		})
	}
}
