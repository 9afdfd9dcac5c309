package provenance

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"path"
	"strings"
)

// Limits bound what reading a chart archive may cost. The zero value of a
// field means its default.
type Limits struct {
	MaxArchive      int64 // compressed bytes; default 100 MiB
	MaxUncompressed int64 // all files together, decompressed; default 100 MiB (Helm's)
	MaxFileSize     int64 // one file, decompressed; default 5 MiB (Helm's)
	MaxFiles        int   // entries of any type; default 10,000
}

// DefaultLimits are Helm's (loader.MaxDecompressedChartSize and
// MaxDecompressedFileSize) plus caps on the compressed size and entry count.
var DefaultLimits = Limits{MaxArchive: 100 << 20, MaxUncompressed: 100 << 20, MaxFileSize: 5 << 20, MaxFiles: 10000}

// WithDefaults fills every zero or negative limit from DefaultLimits.
func (l Limits) WithDefaults() Limits {
	if l.MaxArchive <= 0 {
		l.MaxArchive = DefaultLimits.MaxArchive
	}
	if l.MaxUncompressed <= 0 {
		l.MaxUncompressed = DefaultLimits.MaxUncompressed
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = DefaultLimits.MaxFileSize
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	return l
}

// Archive is what ReadArchive learned from a chart archive (.tgz).
type Archive struct {
	Name    string // from Chart.yaml
	Version string // from Chart.yaml
	Dir     string // the archive's top-level directory (Helm writes the chart name)
	// ChartYAML is <Dir>/Chart.yaml as stored; RequirementsYAML is
	// <Dir>/requirements.yaml (nil when absent), which Helm merges into the
	// metadata of apiVersion v1 charts.
	ChartYAML        []byte
	RequirementsYAML []byte
	SHA256           [32]byte // of the archive file's bytes
	Size             int64    // of the archive file
	// Files maps each regular file's path, relative to Dir, to the SHA-256
	// of its content.
	Files map[string][32]byte
	// Metadata is ChartYAML (with requirements.yaml) parsed as Helm does.
	Metadata *Metadata

	pluginYAML []byte // <Dir>/plugin.yaml, for ReadPlugin
}

// ArchiveError is a chart archive that keyctl refuses to read.
type ArchiveError struct {
	Entry  string // the tar entry concerned, when there is one
	Reason string
}

func (e *ArchiveError) Error() string {
	if e.Entry != "" {
		return fmt.Sprintf("chart archive entry %q: %s", e.Entry, e.Reason)
	}
	return "chart archive: " + e.Reason
}

// isDrivePath reports whether name starts with a Windows drive letter and
// a colon ("C:"), which Helm's loader refuses as an absolute path. A byte
// test instead of a package-level regular expression: that one was
// compiled in every keyctl process, for every command.
func isDrivePath(name string) bool {
	if len(name) < 2 || name[1] != ':' {
		return false
	}
	c := name[0] | 0x20 // ASCII lower case; other bytes stay outside a-z
	return 'a' <= c && c <= 'z'
}

// countingReader counts the bytes read and fails past a limit.
type countingReader struct {
	r     io.Reader
	h     hash.Hash
	n     int64
	limit int64
	err   error // returned past limit
}

var (
	errArchiveTooLarge      = errors.New("archive too large")
	errUncompressedTooLarge = errors.New("decompressed content too large")
)

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.h != nil {
		c.h.Write(p[:n])
	}
	if c.n > c.limit {
		return n, c.err
	}
	return n, err
}

// DigestArchive returns the SHA-256 and length of at most max bytes from r
// (more is an error): what audit needs to check a .prov's files: entry.
func DigestArchive(r io.Reader, max int64) ([32]byte, int64, error) {
	var sum [32]byte
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(r, max+1))
	if err != nil {
		return sum, n, err
	}
	if n > max {
		return sum, n, input(&ArchiveError{Reason: fmt.Sprintf("larger than %d bytes", max)})
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, nil
}

// ReadArchive reads a chart archive once, streaming: it hashes the raw bytes,
// gunzips and untars under lim, and refuses what Helm's `helm package` never
// writes and an attacker might: absolute paths, "..", unclean or backslash
// paths, entries outside one top-level directory, links and special files,
// duplicate entries, and data after the archive. It requires
// <Dir>/Chart.yaml and parses it as Helm does.
func ReadArchive(r io.Reader, lim Limits) (*Archive, error) {
	return readChecked(r, lim, true)
}

// ScanArchive is ReadArchive, with every check, without hashing each file:
// the Archive's Files is nil. It is what an audit needs (the archive's own
// SHA-256, its Chart.yaml, and every refusal ReadArchive makes) at the cost
// of inflating the archive once.
func ScanArchive(r io.Reader, lim Limits) (*Archive, error) {
	return readChecked(r, lim, false)
}

func readChecked(r io.Reader, lim Limits, hashFiles bool) (*Archive, error) {
	a, err := readArchiveOpt(r, lim, nil, hashFiles)
	if err != nil {
		return nil, input(err, "a chart archive is the .tgz that `helm package` writes")
	}
	return a, nil
}

// readArchive does ReadArchive's work; when keep is non-nil it also receives
// each file's content (for subcharts in CompareSource).
func readArchive(r io.Reader, lim Limits, keep func(name string, data []byte)) (*Archive, error) {
	return readArchiveOpt(r, lim, keep, true)
}

func readArchiveOpt(r io.Reader, lim Limits, keep func(name string, data []byte), hashFiles bool) (*Archive, error) {
	a, err := readTarOpt(r, lim, keep, hashFiles)
	if err != nil {
		return nil, err
	}
	if a.ChartYAML == nil {
		if a.pluginYAML != nil {
			return nil, &ArchiveError{Reason: fmt.Sprintf("%s is a Helm plugin (plugin.yaml), not a chart", a.Dir)}
		}
		return nil, &ArchiveError{Reason: fmt.Sprintf("no %s/Chart.yaml", a.Dir)}
	}
	md, err := loadMetadata(a.ChartYAML, a.RequirementsYAML)
	if err != nil {
		return nil, &ArchiveError{Entry: a.Dir + "/Chart.yaml", Reason: err.Error()}
	}
	a.Metadata, a.Name, a.Version = md, md.Name, md.Version
	return a, nil
}

// readTar streams a .tgz under lim with every check of ReadArchive, hashing
// the raw bytes and every file, and keeps Chart.yaml, requirements.yaml and
// plugin.yaml of the top directory.
func readTar(r io.Reader, lim Limits, keep func(name string, data []byte)) (*Archive, error) {
	return readTarOpt(r, lim, keep, true)
}

// readTarOpt is readTar; without hashFiles it does not hash each file (and
// leaves Files nil).
func readTarOpt(r io.Reader, lim Limits, keep func(name string, data []byte), hashFiles bool) (*Archive, error) {
	lim = lim.WithDefaults()
	cr := &countingReader{r: r, h: sha256.New(), limit: lim.MaxArchive, err: errArchiveTooLarge}
	zr, err := newGunzip(cr)
	if err != nil {
		if errors.Is(err, errArchiveTooLarge) {
			return nil, &ArchiveError{Reason: fmt.Sprintf("larger than %d bytes", lim.MaxArchive)}
		}
		return nil, &ArchiveError{Reason: "not a gzip file: " + err.Error()}
	}
	defer zr.Close()
	// Everything decompressed counts against MaxUncompressed, tar headers
	// and padding included, so a gzip bomb stops early.
	zlim := &countingReader{r: zr, limit: lim.MaxUncompressed + 1<<20, err: errUncompressedTooLarge}
	tr := tar.NewReader(zlim)
	a := &Archive{}
	if hashFiles {
		a.Files = map[string][32]byte{}
	}
	remaining := lim.MaxUncompressed
	entries := 0
	seen := map[string]bool{}
	buf := make([]byte, 32<<10)
	for {
		hd, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, wrapReadErr(err, lim)
		}
		entries++
		if entries > lim.MaxFiles {
			return nil, &ArchiveError{Reason: fmt.Sprintf("more than %d entries", lim.MaxFiles)}
		}
		if hd.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name := hd.Name
		isDir := hd.Typeflag == tar.TypeDir
		if isDir {
			name = strings.TrimSuffix(name, "/")
		}
		top, rel, err := checkEntryName(name)
		if err != nil {
			return nil, &ArchiveError{Entry: hd.Name, Reason: err.Error()}
		}
		if a.Dir == "" {
			a.Dir = top
		} else if top != a.Dir {
			return nil, &ArchiveError{Entry: hd.Name, Reason: fmt.Sprintf("outside the chart directory %q", a.Dir)}
		}
		if isDir {
			continue
		}
		switch hd.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
		case tar.TypeSymlink, tar.TypeLink:
			return nil, &ArchiveError{Entry: hd.Name, Reason: "links are not allowed in a chart archive"}
		default:
			return nil, &ArchiveError{Entry: hd.Name, Reason: fmt.Sprintf("tar entry type %q is not a regular file", hd.Typeflag)}
		}
		if rel == "" {
			return nil, &ArchiveError{Entry: hd.Name, Reason: "a file outside the chart directory"}
		}
		if seen[rel] {
			return nil, &ArchiveError{Entry: hd.Name, Reason: "appears twice"}
		}
		seen[rel] = true
		if hd.Size < 0 || hd.Size > lim.MaxFileSize {
			return nil, &ArchiveError{Entry: hd.Name, Reason: fmt.Sprintf("larger than the %d-byte limit per file", lim.MaxFileSize)}
		}
		if hd.Size > remaining {
			return nil, &ArchiveError{Reason: fmt.Sprintf("decompressed content larger than %d bytes", lim.MaxUncompressed)}
		}
		var h hash.Hash
		var w io.Writer = io.Discard
		if hashFiles {
			h = sha256.New()
			w = h
		}
		var data []byte
		wantData := rel == "Chart.yaml" || rel == "requirements.yaml" || rel == "plugin.yaml" || keep != nil
		sink := &byteSink{}
		if wantData {
			if h != nil {
				w = io.MultiWriter(h, sink)
			} else {
				w = sink
			}
		}
		n, err := io.CopyBuffer(w, io.LimitReader(tr, hd.Size), buf)
		if err != nil {
			return nil, wrapReadErr(err, lim)
		}
		if n != hd.Size {
			return nil, &ArchiveError{Entry: hd.Name, Reason: "truncated"}
		}
		remaining -= n
		data = sink.b
		if h != nil {
			var sum [32]byte
			copy(sum[:], h.Sum(nil))
			a.Files[rel] = sum
		}
		switch rel {
		case "Chart.yaml":
			a.ChartYAML = data
		case "requirements.yaml":
			a.RequirementsYAML = data
		case "plugin.yaml":
			a.pluginYAML = data
		}
		if keep != nil {
			keep(rel, data)
		}
	}
	// Read to the end of the gzip stream and of the file: the hash must
	// cover every byte, and nothing may follow the archive.
	if _, err := io.CopyBuffer(io.Discard, zlim, buf); err != nil {
		if errors.Is(err, errArchiveTooLarge) || errors.Is(err, errUncompressedTooLarge) {
			return nil, wrapReadErr(err, lim)
		}
		return nil, &ArchiveError{Reason: "data after the tar archive: " + err.Error()}
	}
	if n, err := io.CopyBuffer(io.Discard, cr, buf); err != nil || n != 0 {
		if errors.Is(err, errArchiveTooLarge) {
			return nil, &ArchiveError{Reason: fmt.Sprintf("larger than %d bytes", lim.MaxArchive)}
		}
		return nil, &ArchiveError{Reason: "data after the gzip stream"}
	}
	if a.Dir == "" {
		return nil, &ArchiveError{Reason: "no files"}
	}
	copy(a.SHA256[:], cr.h.Sum(nil))
	a.Size = cr.n
	return a, nil
}

type byteSink struct{ b []byte }

func (s *byteSink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

func wrapReadErr(err error, lim Limits) error {
	if errors.Is(err, errArchiveTooLarge) {
		return &ArchiveError{Reason: fmt.Sprintf("larger than %d bytes", lim.MaxArchive)}
	}
	if errors.Is(err, errUncompressedTooLarge) {
		return &ArchiveError{Reason: fmt.Sprintf("decompressed content larger than %d bytes", lim.MaxUncompressed)}
	}
	return &ArchiveError{Reason: "corrupt archive: " + err.Error()}
}

// checkEntryName splits a tar entry name into the top-level directory and
// the path below it, refusing anything but a clean relative slash path.
func checkEntryName(name string) (top, rel string, err error) {
	switch {
	case name == "":
		return "", "", errors.New("empty name")
	case strings.ContainsRune(name, '\\'):
		return "", "", errors.New("backslash in path")
	case strings.ContainsRune(name, 0):
		return "", "", errors.New("NUL in path")
	case path.IsAbs(name), isDrivePath(name):
		return "", "", errors.New("absolute path")
	case path.Clean(name) != name:
		return "", "", errors.New("path is not clean (., .., or //)")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." || part == "." {
			return "", "", errors.New("path refers to a parent directory")
		}
	}
	top, rel, _ = strings.Cut(name, "/")
	return top, rel, nil
}

// Metadata block of the .prov Helm would write for this archive.
func (a *Archive) provMetadata() ([]byte, error) {
	md, err := loadMetadata(a.ChartYAML, a.RequirementsYAML)
	if err != nil {
		return nil, err
	}
	return md.render()
}
