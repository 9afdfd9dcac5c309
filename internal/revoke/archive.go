package revoke

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/keyctl/keyctl/internal/provenance"
)

// An audit needs two things from an archive: the SHA-256 of its bytes (the
// .prov's files: entry) and the name and version of its Chart.yaml (which
// must be the .prov's). headArchive reads the raw stream once for the hash
// but decompresses only up to Chart.yaml, which `helm package` writes first:
// inflating every file would cost several times the hashing, and a chart
// whose hash matches its .prov is, byte for byte, what its signer signed.
// `keyctl verify` reads the whole archive (provenance.ReadArchive).

// hashReader hashes and counts every byte read through it.
type hashReader struct {
	r     io.Reader
	h     hash.Hash
	n     int64
	limit int64
}

var errTooLarge = errors.New("archive too large")

func (c *hashReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if c.n > c.limit {
		return n, errTooLarge
	}
	return n, err
}

type archiveHead struct {
	SHA256  [32]byte
	Size    int64
	Name    string
	Version string
}

// headArchive streams r: hashes all of it (at most lim.MaxArchive bytes) and
// reads the top-level Chart.yaml (at most lim.MaxFileSize, found within
// lim.MaxFiles entries and lim.MaxUncompressed bytes).
func headArchive(r io.Reader, lim provenance.Limits) (*archiveHead, error) {
	lim = lim.WithDefaults()
	hr := &hashReader{r: r, h: sha256.New(), limit: lim.MaxArchive}
	// Most archives give Chart.yaml within their first few KiB: inflate
	// only those, in memory. Otherwise (or when they do not decode on
	// their own) scan again from the start, streaming.
	buf := prefixPool.Get().(*[headPrefix]byte)
	defer prefixPool.Put(buf)
	prefix := buf[:]
	n, err := io.ReadFull(hr, prefix)
	switch {
	case errors.Is(err, errTooLarge):
		return nil, &provenance.ArchiveError{Reason: fmt.Sprintf("larger than %d bytes", lim.MaxArchive)}
	case err != nil && err != io.EOF && err != io.ErrUnexpectedEOF:
		return nil, err
	}
	prefix = prefix[:n]
	name, version, err := chartOf(bytes.NewReader(prefix), lim)
	if err != nil {
		if name, version, err = chartOf(io.MultiReader(bytes.NewReader(prefix), hr), lim); err != nil {
			return nil, err
		}
	}
	// The rest of the file is hashed without being inflated.
	if _, err := io.Copy(io.Discard, hr); err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, &provenance.ArchiveError{Reason: fmt.Sprintf("larger than %d bytes", lim.MaxArchive)}
		}
		return nil, err
	}
	a := &archiveHead{Size: hr.n, Name: name, Version: version}
	copy(a.SHA256[:], hr.h.Sum(nil))
	return a, nil
}

// headPrefix is how much of an archive is first tried on its own.
const headPrefix = 8 << 10

// Inflaters (each with its 32 KiB window) and prefix buffers are reused
// across releases: an audit allocates per release in flight, not per
// release audited.
var (
	gzipPool   = sync.Pool{New: func() any { return new(gzip.Reader) }}
	prefixPool = sync.Pool{New: func() any { return new([headPrefix]byte) }}
)

// chartOf reads the name and version of the top-level Chart.yaml from a
// gzipped tar stream, reading no further than that entry.
func chartOf(r io.Reader, lim provenance.Limits) (name, version string, err error) {
	bad := func(format string, args ...any) error {
		return &provenance.ArchiveError{Reason: fmt.Sprintf(format, args...)}
	}
	zr := gzipPool.Get().(*gzip.Reader)
	defer gzipPool.Put(zr)
	if err := zr.Reset(r); err != nil {
		if errors.Is(err, errTooLarge) {
			return "", "", bad("larger than %d bytes", lim.MaxArchive)
		}
		return "", "", bad("not a gzip file: %v", err)
	}
	zr.Multistream(false)
	tr := tar.NewReader(io.LimitReader(zr, lim.MaxUncompressed))
	var chartYAML []byte
	for n := 0; chartYAML == nil; n++ {
		if n >= lim.MaxFiles {
			return "", "", bad("no Chart.yaml within %d entries", lim.MaxFiles)
		}
		hd, err := tr.Next()
		if err == io.EOF {
			return "", "", bad("no Chart.yaml")
		}
		if err != nil {
			if errors.Is(err, errTooLarge) {
				return "", "", bad("larger than %d bytes", lim.MaxArchive)
			}
			return "", "", bad("corrupt archive: %v", err)
		}
		top, rest, ok := strings.Cut(hd.Name, "/")
		if !ok || rest != "Chart.yaml" || top == "" || top == "." || top == ".." {
			continue
		}
		if hd.Typeflag != tar.TypeReg && hd.Typeflag != tar.TypeRegA {
			return "", "", bad("%s is not a regular file", hd.Name)
		}
		if hd.Size < 0 || hd.Size > lim.MaxFileSize {
			return "", "", bad("%s is larger than %d bytes", hd.Name, lim.MaxFileSize)
		}
		if chartYAML, err = io.ReadAll(tr); err != nil {
			return "", "", bad("corrupt archive: %v", err)
		}
	}
	var md struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := yaml.Unmarshal(chartYAML, &md); err != nil || md.Name == "" || md.Version == "" {
		return "", "", bad("Chart.yaml has no valid name and version")
	}
	return md.Name, md.Version, nil
}
