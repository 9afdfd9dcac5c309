package publish

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// dirDriver stores objects as plain files under a directory: object
// "keyctl/manifest.json" is the file keyctl/manifest.json, so that the
// directory can be served as it is by any web server. No sidecar files are
// written (a web server picks content types from extensions; sidecars would
// be published as junk objects next to index.yaml), so content types and
// Cache-Control are not kept.
//
// A write goes to a temporary file next to its final path (so that the
// final rename never crosses file systems) and is renamed into place: a
// reader sees the old file or the new one, never a part. A create-only
// write (condIfNotExist) hard-links the temporary file to the final path
// instead, which fails if the path exists: atomic even between processes.
type dirDriver struct {
	dir string // absolute, cleaned

	// mu serialises the create-only writes of this driver on a file
	// system without hard links (see createOnly).
	mu sync.Mutex
}

func (d *dirDriver) path(name string) (string, error) {
	p := filepath.Join(d.dir, filepath.FromSlash(name))
	// checkName already refused ".." and absolute names; this is a second
	// fence in the one place that touches the file system.
	if !strings.HasPrefix(p, d.dir+string(filepath.Separator)) && d.dir != string(filepath.Separator) {
		return "", fmt.Errorf("object name %q escapes %s", name, d.dir)
	}
	return p, nil
}

// fileError gives a missing file its meaning.
func fileError(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &storageError{Code: codeNotFound, Err: err}
	}
	return err
}

func (d *dirDriver) Read(ctx context.Context, name string, limit int64) ([]byte, version, error) {
	p, err := d.path(name)
	if err != nil {
		return nil, version{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, version{}, fileError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, version{}, err
	}
	if fi.IsDir() {
		return nil, version{}, fileError(&fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist})
	}
	data, err := readLimited(f, fi.Size(), limit)
	return data, version{}, err
}

func (d *dirDriver) Attributes(ctx context.Context, name string) (attributes, error) {
	p, err := d.path(name)
	if err != nil {
		return attributes{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return attributes{}, fileError(err)
	}
	if fi.IsDir() {
		return attributes{}, fileError(&fs.PathError{Op: "stat", Path: p, Err: fs.ErrNotExist})
	}
	return attributes{Size: fi.Size()}, nil
}

func (d *dirDriver) Write(ctx context.Context, name string, data []byte, o writeOptions) (version, error) {
	if o.Cond == condIfMatch {
		return version{}, &storageError{Code: codeUnimplemented, Err: errors.New("a directory has no object versions")}
	}
	p, err := d.path(name)
	if err != nil {
		return version{}, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o777); err != nil {
		return version{}, err
	}
	f, err := createTemp(p)
	if err != nil {
		return version{}, err
	}
	tmp := f.Name()
	// Gone in every case: renamed (then this fails harmlessly), linked, or
	// abandoned.
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return version{}, err
	}
	if err := ctx.Err(); err != nil {
		return version{}, err // interrupted: leave the object as it was
	}
	if o.Cond == condIfNotExist {
		return version{}, d.createOnly(tmp, p)
	}
	return version{}, os.Rename(tmp, p)
}

// createOnly puts the complete file tmp at p unless p exists. os.Link
// fails with EEXIST if p exists, atomically, whoever else writes the
// directory. On a file system without hard links it falls back to a check
// and a rename, serialised within this process only.
func (d *dirDriver) createOnly(tmp, p string) error {
	err := os.Link(tmp, p)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrExist):
		return &storageError{Code: codePreconditionFailed, Err: fmt.Errorf("%s already exists", p)}
	}
	// Any other failure (EPERM or ENOTSUP where the file system has no
	// hard links): the check and rename below meet the same cause, if it is
	// not that, and report it.
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := os.Lstat(p); err == nil {
		return &storageError{Code: codePreconditionFailed, Err: fmt.Errorf("%s already exists", p)}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(tmp, p)
}

// createTemp creates a new file next to p, named p.HEX.tmp.
func createTemp(p string) (*os.File, error) {
	for try := 0; ; try++ {
		name := p + "." + strconv.FormatInt(time.Now().UnixNano(), 16) + ".tmp"
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) && try < 10000 {
			continue
		}
		return f, err
	}
}

func (d *dirDriver) Delete(ctx context.Context, name string) error {
	p, err := d.path(name)
	if err != nil {
		return err
	}
	return fileError(os.Remove(p))
}

func (d *dirDriver) Close() error { return nil }
