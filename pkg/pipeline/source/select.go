package source

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"
)

// ErrBadPattern: an Include or Exclude pattern does not parse.
var ErrBadPattern = errors.New("bad pattern")

// SelectOptions configures a Selector.
type SelectOptions struct {
	// Include, when not empty, keeps only the files that match one of its
	// patterns. Patterns use .gitignore syntax, without "!": "*.go"
	// matches a base name at any depth; a pattern with a slash, such as
	// "cmd/**/*.go" or "/README.md", matches from the root; "**" matches
	// any number of directories; "docs/" matches a directory, and so
	// everything under it.
	Include []string
	// Exclude skips the files that match one of its patterns (same
	// syntax as Include).
	Exclude []string
	// MaxFileSize skips larger files (SkipTooLarge). Zero means
	// DefaultLimits().MaxFileSize; negative, no limit but the source's.
	MaxFileSize int64
	// NoGitignore turns .gitignore files off. The files of a git checkout
	// are the tracked ones, which can include files a .gitignore matches
	// (added with "git add -f"); a git source may want to keep them.
	NoGitignore bool
}

// Selector decides which files are indexed. It learns the .gitignore files
// that pass through Decide, so it holds the state of one walk: use one
// Selector per walk, from one goroutine, in the source's order.
type Selector struct {
	include, exclude []selPattern
	maxSize          int64
	gitignore        bool
	ignores          map[string][]selPattern // directory ("" = root) → its .gitignore's patterns
	dirIgnored       map[string]bool         // directory → excluded by the .gitignore files
}

// NewSelector returns a Selector; a pattern that does not parse is an error
// wrapping ErrBadPattern.
func NewSelector(opts SelectOptions) (*Selector, error) {
	s := &Selector{
		maxSize:    opts.MaxFileSize,
		gitignore:  !opts.NoGitignore,
		ignores:    make(map[string][]selPattern),
		dirIgnored: make(map[string]bool),
	}
	if s.maxSize == 0 {
		s.maxSize = DefaultLimits().MaxFileSize
	}
	for _, list := range []struct {
		src []string
		dst *[]selPattern
	}{{opts.Include, &s.include}, {opts.Exclude, &s.exclude}} {
		for _, raw := range list.src {
			p, ok, err := selParse(raw)
			switch {
			case err != nil:
				return nil, fmt.Errorf("%w: %q: %w", ErrBadPattern, raw, err)
			case !ok:
				return nil, fmt.Errorf("%w: %q: empty", ErrBadPattern, raw)
			case p.negate:
				return nil, fmt.Errorf("%w: %q: negation is only for .gitignore files", ErrBadPattern, raw)
			}
			*list.dst = append(*list.dst, p)
		}
	}
	return s, nil
}

// Decide returns the reason f is not indexed, or "" to index it. A File a
// source already skipped keeps its reason. Otherwise the first that applies
// of, in order: SkipSecret (by name), SkipIgnored, SkipVendored,
// SkipLockfile, SkipArchive and SkipBinary (by extension), SkipGenerated (by
// name), SkipTooLarge, SkipEmpty, SkipArchive and SkipBinary (by content),
// SkipSecret (a private key in the content), SkipGenerated (by header or
// line lengths). A .gitignore file is learnt before it is decided on, and
// is itself indexed like any text file.
func (s *Selector) Decide(f File) string {
	if f.Skip != "" {
		return f.Skip
	}
	p := f.Path
	base := p[strings.LastIndexByte(p, '/')+1:]
	if s.gitignore && base == ".gitignore" {
		s.learn(selParent(p), f.Data)
	}
	switch {
	case selSecretName(base):
		return SkipSecret
	case s.ignored(p):
		return SkipIgnored
	case selVendored(p):
		return SkipVendored
	case selLockfile(base):
		return SkipLockfile
	case archIsArchiveName(base):
		return SkipArchive
	case selBinaryName(base):
		return SkipBinary
	case selGeneratedName(base):
		return SkipGenerated
	case s.maxSize > 0 && int64(len(f.Data)) > s.maxSize:
		return SkipTooLarge
	case len(bytes.TrimSpace(f.Data)) == 0:
		return SkipEmpty
	case archIsArchiveMagic(f.Data):
		return SkipArchive
	case selLooksBinary(f.Data):
		return SkipBinary
	case selPrivateKey(f.Data):
		return SkipSecret
	case selGeneratedHeader(f.Data), selMinified(f.Data):
		return SkipGenerated
	}
	return ""
}

// --- ignore rules ---

// selVCSDirs hold version control metadata, never indexed (a directory
// source leaves .git out; an archive of a working tree may hold it).
var selVCSDirs = map[string]bool{".git": true, ".hg": true, ".svn": true, ".bzr": true}

// ignored applies the version control directories, Exclude, Include and
// the .gitignore files.
func (s *Selector) ignored(p string) bool {
	if selUnder(p, selVCSDirs) {
		return true
	}
	for _, pat := range s.exclude {
		if pat.matchTree(p) {
			return true
		}
	}
	if len(s.include) > 0 {
		in := false
		for _, pat := range s.include {
			if pat.matchTree(p) {
				in = true
				break
			}
		}
		if !in {
			return true
		}
	}
	if len(s.ignores) == 0 {
		return false
	}
	if d := selParent(p); d != "" && s.dirExcluded(d) {
		return true
	}
	return s.gitMatch(p, false)
}

// learn records the patterns of the .gitignore of directory dir.
func (s *Selector) learn(dir string, data []byte) {
	var pats []selPattern
	for line := range strings.SplitSeq(string(data), "\n") {
		p, ok, err := selParse(strings.TrimSuffix(line, "\r"))
		if ok && err == nil { // git ignores a pattern it cannot parse
			pats = append(pats, p)
		}
	}
	s.ignores[dir] = pats
	clear(s.dirIgnored)
}

// dirExcluded reports whether directory d is excluded by the .gitignore
// files: a file under an excluded directory cannot be re-included.
func (s *Selector) dirExcluded(d string) bool {
	if v, ok := s.dirIgnored[d]; ok {
		return v
	}
	v := false
	if pd := selParent(d); pd != "" && s.dirExcluded(pd) {
		v = true
	} else {
		v = s.gitMatch(d, true)
	}
	s.dirIgnored[d] = v
	return v
}

// gitMatch applies the .gitignore files of p's ancestors, the deepest
// first, each file's patterns last first: the first match decides.
func (s *Selector) gitMatch(p string, isDir bool) bool {
	d := p
	for d != "" {
		d = selParent(d)
		pats, ok := s.ignores[d]
		if !ok {
			continue
		}
		rel := p
		if d != "" {
			rel = p[len(d)+1:]
		}
		for i := len(pats) - 1; i >= 0; i-- {
			if pats[i].match(rel, isDir) {
				return !pats[i].negate
			}
		}
	}
	return false
}

// selParent is the directory of slash path p, "" at the top.
func selParent(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// selPattern is one .gitignore-syntax pattern.
type selPattern struct {
	segs    []string // path.Match patterns, one per path element; "**" = any number of elements
	base    bool     // no slash: segs[0] matches the last element
	dirOnly bool     // trailing slash: matches directories only
	negate  bool     // leading "!"
}

// selParse parses a .gitignore line; ok is false for a blank or comment
// line.
func selParse(line string) (p selPattern, ok bool, err error) {
	if line == "" || line[0] == '#' {
		return p, false, nil
	}
	if line[0] == '!' {
		p.negate = true
		line = line[1:]
	}
	// Trailing spaces go unless escaped with a backslash.
	for strings.HasSuffix(line, " ") && !strings.HasSuffix(line, `\ `) {
		line = line[:len(line)-1]
	}
	if strings.HasSuffix(line, "/") {
		p.dirOnly = true
		line = strings.TrimRight(line, "/")
	}
	if line == "" {
		return p, false, nil
	}
	if !strings.Contains(line, "/") {
		p.base = true
	}
	for seg := range strings.SplitSeq(line, "/") {
		switch {
		case seg == "":
			continue // a leading slash anchors, which any slash does
		case seg == "**":
			if n := len(p.segs); n > 0 && p.segs[n-1] == "**" {
				continue
			}
		default:
			seg = selClass(seg)
			if _, err := path.Match(seg, ""); err != nil {
				return p, false, err
			}
		}
		p.segs = append(p.segs, seg)
	}
	return p, true, nil
}

// selClass turns .gitignore's "[!...]" into path.Match's "[^...]".
func selClass(seg string) string {
	if !strings.Contains(seg, "[!") {
		return seg
	}
	b := []byte(seg)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '[':
			if i+1 < len(b) && b[i+1] == '!' {
				b[i+1] = '^'
			}
		}
	}
	return string(b)
}

// match reports whether rel (slash path relative to the pattern's
// directory) matches.
func (p *selPattern) match(rel string, isDir bool) bool {
	if p.dirOnly && !isDir {
		return false
	}
	if p.base {
		ok, _ := path.Match(p.segs[0], rel[strings.LastIndexByte(rel, '/')+1:])
		return ok
	}
	return selMatchSegs(p.segs, rel)
}

// matchTree reports whether p matches the file at rel or one of its
// directories.
func (p *selPattern) matchTree(rel string) bool {
	if p.match(rel, false) {
		return true
	}
	for d := selParent(rel); d != ""; d = selParent(d) {
		if p.match(d, true) {
			return true
		}
	}
	return false
}

// selMatchSegs matches pattern elements against the elements of name. A
// "**" matches zero or more elements, or, last, one or more ("a/**" is
// what is inside a, not a).
func selMatchSegs(segs []string, name string) bool {
	for len(segs) > 0 {
		if segs[0] == "**" {
			rest := segs[1:]
			if len(rest) == 0 {
				return name != ""
			}
			for {
				if selMatchSegs(rest, name) {
					return true
				}
				i := strings.IndexByte(name, '/')
				if i < 0 {
					return false
				}
				name = name[i+1:]
			}
		}
		if name == "" {
			return false
		}
		elem, rest, _ := strings.Cut(name, "/")
		if ok, _ := path.Match(segs[0], elem); !ok {
			return false
		}
		segs, name = segs[1:], rest
	}
	return name == ""
}

// --- name rules ---

// selVendoredDirs are directories of third-party or tool-managed code. Not
// listed, on purpose: build/, dist/, out/, target/, lib/, which hold real
// sources in many repositories (and are usually in .gitignore when not).
var selVendoredDirs = map[string]bool{
	"vendor": true, "node_modules": true, "third_party": true,
	"bower_components": true, "jspm_packages": true, ".yarn": true,
	".venv": true, "venv": true, "site-packages": true, "dist-packages": true,
	"__pycache__": true, "Pods": true, "Carthage": true,
}

// selVendored reports a path under a vendored directory.
func selVendored(p string) bool { return selUnder(p, selVendoredDirs) }

// selUnder reports a path with a directory named in dirs.
func selUnder(p string, dirs map[string]bool) bool {
	for {
		i := strings.IndexByte(p, '/')
		if i < 0 {
			return false
		}
		if dirs[p[:i]] {
			return true
		}
		p = p[i+1:]
	}
}

var selLockfiles = map[string]bool{
	"go.sum": true, "go.work.sum": true, "package-lock.json": true,
	"npm-shrinkwrap.json": true, "yarn.lock": true, "pnpm-lock.yaml": true,
	"bun.lockb": true, "bun.lock": true, "Cargo.lock": true, "poetry.lock": true,
	"Pipfile.lock": true, "composer.lock": true, "Gemfile.lock": true,
	"mix.lock": true, "pubspec.lock": true, "Podfile.lock": true,
	"Package.resolved": true, "flake.lock": true, "packages.lock.json": true,
	"gradle.lockfile": true, "uv.lock": true, "pdm.lock": true,
	"deno.lock": true, "conda-lock.yml": true,
}

func selLockfile(base string) bool {
	return selLockfiles[base] || strings.HasSuffix(base, ".lock")
}

var selSecretNames = map[string]bool{
	".env": true, ".npmrc": true, ".pypirc": true, ".netrc": true,
	"_netrc": true, ".git-credentials": true, ".htpasswd": true,
	".pgpass": true, "credentials.json": true, "id_rsa": true, "id_dsa": true,
	"id_ecdsa": true, "id_ed25519": true, "id_ecdsa_sk": true,
	"id_ed25519_sk": true,
}

var selSecretExts = map[string]bool{
	".pem": true, ".key": true, ".p12": true, ".pfx": true, ".jks": true,
	".keystore": true, ".ppk": true, ".env": true,
}

// selEnvTemplates are the .env.* suffixes of committed templates, which
// are indexed.
var selEnvTemplates = map[string]bool{
	"example": true, "sample": true, "template": true, "dist": true, "defaults": true,
}

func selSecretName(base string) bool {
	lower := strings.ToLower(base)
	if selSecretNames[lower] || selSecretExts[archExt(lower)] {
		return true
	}
	if suffix, ok := strings.CutPrefix(lower, ".env."); ok {
		return !selEnvTemplates[suffix]
	}
	return false
}

var selBinaryExts = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".bmp": true,
	".ico": true, ".icns": true, ".webp": true, ".tif": true, ".tiff": true,
	".psd": true, ".heic": true, ".avif": true,
	".pdf": true, ".doc": true, ".docx": true, ".xls": true, ".xlsx": true,
	".ppt": true, ".pptx": true, ".odt": true, ".ods": true, ".odp": true,
	".exe": true, ".dll": true, ".so": true, ".dylib": true, ".a": true,
	".o": true, ".obj": true, ".lib": true, ".class": true, ".pyc": true,
	".pyo": true, ".wasm": true, ".syso": true, ".bin": true,
	".woff": true, ".woff2": true, ".ttf": true, ".otf": true, ".eot": true,
	".mp3": true, ".mp4": true, ".m4a": true, ".wav": true, ".ogg": true,
	".flac": true, ".avi": true, ".mov": true, ".mkv": true, ".webm": true,
	".db": true, ".sqlite": true, ".sqlite3": true,
}

func selBinaryName(base string) bool {
	return selBinaryExts[strings.ToLower(archExt(base))] || base == ".DS_Store"
}

var selGeneratedSuffixes = []string{
	".min.js", ".min.mjs", ".min.css", ".js.map", ".css.map",
	"_pb2.py", "_pb2_grpc.py", "_pb2.pyi", ".pb.go", ".pb.cc", ".pb.h",
	".designer.cs", ".g.dart", ".freezed.dart",
}

func selGeneratedName(base string) bool {
	for _, s := range selGeneratedSuffixes {
		if strings.HasSuffix(base, s) {
			return true
		}
	}
	return false
}

// --- content rules ---

// selSniffLen is how much of the content the binary sniff reads.
const selSniffLen = 8 << 10

// selLooksBinary reports a NUL or invalid UTF-8 in the first 8 KiB (a
// UTF-8 BOM is valid; a rune cut by the 8 KiB boundary is not held
// against the file).
func selLooksBinary(data []byte) bool {
	w := data[:min(len(data), selSniffLen)]
	if bytes.IndexByte(w, 0) >= 0 {
		return true
	}
	if utf8.Valid(w) {
		return false
	}
	if len(data) > len(w) {
		for k := 1; k < utf8.UTFMax && k < len(w); k++ {
			if utf8.Valid(w[:len(w)-k]) {
				return false
			}
		}
	}
	return true
}

// selPrivateKey reports a PEM private key block ("-----BEGIN ... PRIVATE
// KEY-----" followed by base64 within 512 bytes) anywhere in the content.
func selPrivateKey(data []byte) bool {
	const begin = "-----BEGIN "
	for {
		i := bytes.Index(data, []byte(begin))
		if i < 0 {
			return false
		}
		data = data[i+len(begin):]
		j := bytes.Index(data[:min(len(data), 80)], []byte("-----"))
		if j < 0 {
			continue
		}
		if label := data[:j]; !bytes.Contains(label, []byte("PRIVATE KEY")) || bytes.IndexByte(label, '\n') >= 0 {
			continue
		}
		if selBase64Run(data[j+5:min(len(data), j+5+512)], 40) {
			return true
		}
	}
}

// selBase64Run reports a run of at least n base64 characters in b.
func selBase64Run(b []byte, n int) bool {
	run := 0
	for _, c := range b {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' {
			if run++; run >= n {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// selGoGenerated is Go's convention for generated files
// (https://go.dev/s/generatedcode).
var selGoGenerated = regexp.MustCompile(`^// Code generated .* DO NOT EDIT\.$`)

// selCommentPrefixes start a comment line in the languages that matter; a
// header ends at the first line that starts otherwise.
var selCommentPrefixes = []string{
	"//", "#", "/*", "*", "--", ";", "<!--", "%", "(*", "{-", "'", `"""`, "'''", "<?", "@rem", "rem ", "REM ",
}

// selGeneratedHeader reports a generated file by its leading comments
// (blank and comment lines at the top, at most 64 lines or 16 KiB): a line
// that is Go's "// Code generated ... DO NOT EDIT.", an "@generated" or
// "<auto-generated" marker, or "do not edit" and "generated" both in the
// header (any case). Generators' own sources, which print such lines
// further down, are not caught.
func selGeneratedHeader(data []byte) bool {
	head := data[:min(len(data), 16<<10)]
	inBlock, doNotEdit, generated := false, false, false
	for n := 0; n < 64 && len(head) > 0; n++ {
		line, rest, _ := bytes.Cut(head, []byte("\n"))
		head = rest
		line = bytes.TrimSuffix(line, []byte("\r"))
		t := bytes.TrimSpace(line)
		if len(t) > 0 && !inBlock && !selIsComment(t) {
			break
		}
		if selGoGenerated.Match(line) {
			return true
		}
		switch {
		case bytes.HasPrefix(t, []byte("/*")) || bytes.HasPrefix(t, []byte("<!--")):
			inBlock = !bytes.Contains(t[2:], []byte("*/")) && !bytes.Contains(t, []byte("-->"))
		case inBlock:
			inBlock = !bytes.Contains(t, []byte("*/")) && !bytes.Contains(t, []byte("-->"))
		}
		if bytes.Contains(t, []byte("@generated")) {
			return true
		}
		lower := bytes.ToLower(t)
		if bytes.Contains(lower, []byte("<auto-generated")) {
			return true
		}
		doNotEdit = doNotEdit || bytes.Contains(lower, []byte("do not edit"))
		generated = generated || bytes.Contains(lower, []byte("generated"))
		if doNotEdit && generated {
			return true
		}
	}
	return false
}

func selIsComment(t []byte) bool {
	for _, p := range selCommentPrefixes {
		if bytes.HasPrefix(t, []byte(p)) {
			return true
		}
	}
	return false
}

// Minified code and data: at least half the bytes in lines longer than
// selLongLine bytes, and lines of selMinAvgLine bytes on average. The
// average spares a source file that embeds a few long lines of test
// vectors among many short ones; the length spares prose written one
// paragraph to a line.
const (
	selLongLine   = 4000
	selMinAvgLine = 200
)

// selMinified reports minified code, source maps, embedded base64 and
// data tables by their line lengths.
func selMinified(data []byte) bool {
	long, lines := 0, 0
	for rest := data; len(rest) > 0; lines++ {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			i = len(rest)
		}
		if i > selLongLine {
			long += i
		}
		rest = rest[min(i+1, len(rest)):]
	}
	return long > 0 && 2*long >= len(data) && len(data) >= selMinAvgLine*lines
}
