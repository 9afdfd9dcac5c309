package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// driver is one kind of bucket: a directory (dir.go), mem:// (mem.go), gs://
// (gcs.go) or s3:// (s3.go). It moves whole objects; the order, the retries
// and what a failure means are Bucket's (bucket.go, publish.go, retry.go).
// Names are relative to the driver's root (a prefix is added by prefixed)
// and have passed checkName.
//
// Errors a caller must tell apart are *storageError values (see errorCode);
// anything else is an I/O or connection failure, which retry.go judges.
//
// keyctl needs five operations, so it has its own five-method interface
// instead of gocloud.dev/blob: gocloud's retry package links gax-go and
// gRPC, and its drivers OpenTelemetry and protobuf, whose package
// initialisation every keyctl command paid for (docs/performance.md,
// Start-up).
type driver interface {
	// Read returns the content of name and its version. An object larger
	// than limit bytes is errTooLarge, read no further than the limit.
	Read(ctx context.Context, name string, limit int64) ([]byte, version, error)
	// Attributes returns name's metadata without its content.
	Attributes(ctx context.Context, name string) (attributes, error)
	// Write stores data as name, whole or not at all, if o.Cond holds (else
	// codePreconditionFailed). It returns the new object's version where the
	// backend has versions.
	Write(ctx context.Context, name string, data []byte, o writeOptions) (version, error)
	// Delete removes name; a missing object may be codeNotFound or nil.
	Delete(ctx context.Context, name string) error
	Close() error
}

// attributes is what Attributes reports of an object.
type attributes struct {
	Size         int64
	ContentType  string // "" where the backend keeps none (directories)
	CacheControl string
	Version      version
}

// condition is the precondition of a write.
type condition int

const (
	condNone       condition = iota // overwrite whatever is there
	condIfNotExist                  // the object must not exist
	condIfMatch                     // the object must be at writeOptions.Version (GCS, S3)
)

type writeOptions struct {
	ContentType  string
	CacheControl string
	Cond         condition
	Version      version // for condIfMatch; never the zero version
}

// code is what a driver's error means to Publish and to the retry policy.
type code int

const (
	codeUnknown code = iota
	codeNotFound
	codePreconditionFailed
	codePermissionDenied
	codeTransient // worth another attempt: 5xx, 429, 408
	codeUnimplemented
)

// storageError is a failure the backend reported (an HTTP status, an S3
// error code, a missing file), with its meaning.
type storageError struct {
	Code   code
	Status int // the HTTP status, 0 when there was none
	// RetryAfter is the answer's Retry-After (ParseRetryAfter), 0 if none.
	RetryAfter time.Duration
	Err        error
}

func (e *storageError) Error() string { return e.Err.Error() }
func (e *storageError) Unwrap() error { return e.Err }

// errorCode is the meaning of err: codeUnknown unless a *storageError is
// in its chain.
func errorCode(err error) code {
	var se *storageError
	if errors.As(err, &se) {
		return se.Code
	}
	return codeUnknown
}

// statusCode maps an HTTP status to its meaning for a bucket operation.
func statusCode(status int) code {
	switch {
	case status == http.StatusNotFound:
		return codeNotFound
	case status == http.StatusPreconditionFailed:
		return codePreconditionFailed
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return codePermissionDenied
	case status == http.StatusNotImplemented:
		return codeUnimplemented
	case retryableStatus(status):
		return codeTransient
	}
	return codeUnknown
}

// httpStatusError is a storageError for an HTTP answer; msg is the
// service's own explanation ("" for none).
func httpStatusError(status int, msg string) *storageError {
	s := fmt.Sprintf("HTTP %d %s", status, http.StatusText(status))
	if msg != "" {
		s += ": " + msg
	}
	return &storageError{Code: statusCode(status), Status: status, Err: errors.New(s)}
}

// errTooLarge is what Read returns for an object over its limit; Bucket
// turns it into a *TooLargeError that names the object.
var errTooLarge = errors.New("object larger than the limit")

// readLimited reads r, whose announced size is size (negative: unknown),
// into one buffer: more than limit bytes is errTooLarge. The buffer is
// sized from the announcement: io.ReadAll would grow its slice a dozen
// times for a 1,000-key keyring or manifest, which was a tenth of keyctl
// verify's CPU (docs/performance.md).
func readLimited(r io.Reader, size, limit int64) ([]byte, error) {
	if size > limit {
		return nil, errTooLarge
	}
	var buf bytes.Buffer
	buf.Grow(int(min(max(size, 0), limit)) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, err
	}
	if int64(buf.Len()) > limit {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// prefixed serves a location's prefix (gs://bucket/charts): every name is
// relative to it.
type prefixed struct {
	driver
	prefix string
}

func (p prefixed) Read(ctx context.Context, name string, limit int64) ([]byte, version, error) {
	return p.driver.Read(ctx, p.prefix+name, limit)
}

func (p prefixed) Attributes(ctx context.Context, name string) (attributes, error) {
	return p.driver.Attributes(ctx, p.prefix+name)
}

func (p prefixed) Write(ctx context.Context, name string, data []byte, o writeOptions) (version, error) {
	return p.driver.Write(ctx, p.prefix+name, data, o)
}

func (p prefixed) Delete(ctx context.Context, name string) error {
	return p.driver.Delete(ctx, p.prefix+name)
}
