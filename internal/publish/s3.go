package publish

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/keyctl/keyctl/internal/s3"
)

// s3:// is served by this driver over keyctl's own S3 client
// (internal/s3: SigV4 over net/http, the usual AWS credential chain): one
// request per operation, no retries of its own. It replaced the AWS SDK v2,
// whose package initialisation every keyctl command paid for at start-up
// (docs/performance.md, Start-up).

type s3Driver struct {
	client *s3.Client
	bucket string
}

// openS3 opens an s3:// bucket with the query parameters documented in
// docs/manifest.md ("s3:// buckets: parameters and credentials"), read by
// s3.ConfigFromURL. Nothing is sent before the first operation: the
// credential chain is walked then.
func openS3(_ context.Context, loc location) (*s3Driver, error) {
	u, err := url.Parse(loc.url)
	if err != nil {
		return nil, err
	}
	if err := s3blobCompat(u); err != nil {
		return nil, err
	}
	cfg, err := s3.ConfigFromURL(u)
	if err != nil {
		return nil, err
	}
	// No timeout on the client: retry.go bounds each attempt with its
	// context. s3.HTTPClient adds AWS_CA_BUNDLE's certificates.
	hc, err := s3.HTTPClient(cfg, &http.Client{Transport: poolTransport()})
	if err != nil {
		return nil, err
	}
	c, err := s3.New(cfg, hc)
	if err != nil {
		return nil, err
	}
	return &s3Driver{client: c, bucket: cfg.Bucket}, nil
}

// s3blobCompat removes from u's query what keyctl accepted before its own
// S3 client and that means nothing now: gocloud.dev s3blob's own
// parameters given empty (unset, as s3blob read them), and
// rate_limiter_capacity (it sized the SDK retryer's token bucket; retries
// are retry.go's), still checked to be a number.
func s3blobCompat(u *url.URL) error {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fmt.Errorf("s3://%s: query string: %w", u.Host, err)
	}
	for _, key := range []string{"accelerate", "disable_https", "use_path_style", "s3ForcePathStyle", "ssetype", "kmskeyid"} {
		if vs, ok := q[key]; ok && len(vs) == 1 && vs[0] == "" {
			q.Del(key)
		}
	}
	if vs, ok := q["rate_limiter_capacity"]; ok {
		if _, err := strconv.ParseInt(vs[0], 10, 32); err != nil || len(vs) > 1 {
			return fmt.Errorf("s3://%s: invalid value for %q: %q is not a number", u.Host, "rate_limiter_capacity", vs[0])
		}
		q.Del("rate_limiter_capacity")
	}
	u.RawQuery = q.Encode()
	return nil
}

// errNoSuchBucket marks an answer saying the bucket itself does not exist:
// a wrong location, never "the object is not published" (opError adds a
// hint).
var errNoSuchBucket = errors.New("the bucket does not exist (NoSuchBucket)")

// s3Error gives an S3 answer its meaning; connection and credential
// failures stay as they are, for retry.go to judge.
func s3Error(err error) error {
	if err == nil {
		return nil
	}
	var tl *s3.TooLargeError
	if errors.As(err, &tl) {
		return errTooLarge
	}
	var e *s3.Error
	if !errors.As(err, &e) {
		return err
	}
	c := statusCode(e.StatusCode)
	switch {
	case e.Code == "NoSuchBucket":
		return &storageError{Code: codeUnknown, Status: e.StatusCode, Err: fmt.Errorf("%w: %w", errNoSuchBucket, err)}
	case s3.IsNotFound(err):
		c = codeNotFound
	case s3.IsPreconditionFailed(err):
		c = codePreconditionFailed
	case s3.IsNotImplemented(err):
		c = codeUnimplemented
	case s3.IsAccessDenied(err):
		c = codePermissionDenied
	case s3.IsTransient(err):
		c = codeTransient
	}
	return &storageError{Code: c, Status: e.StatusCode, Err: err}
}

func (d *s3Driver) Read(ctx context.Context, key string, limit int64) ([]byte, version, error) {
	if limit <= 0 {
		return nil, version{}, errTooLarge
	}
	data, etag, err := d.client.Get(ctx, key, limit)
	if err != nil {
		return nil, version{}, s3Error(err)
	}
	return data, version{etag: etag}, nil
}

func (d *s3Driver) Attributes(ctx context.Context, key string) (attributes, error) {
	i, err := d.client.Stat(ctx, key)
	if err != nil {
		return attributes{}, s3Error(err)
	}
	return attributes{
		Size:         i.Size,
		ContentType:  i.ContentType,
		CacheControl: i.CacheControl,
		Version:      version{etag: i.ETag},
	}, nil
}

// Write is one PUT. S3's conditional writes: If-None-Match: * for
// create-only, If-Match with the ETag read before for the pointer.
func (d *s3Driver) Write(ctx context.Context, key string, data []byte, o writeOptions) (version, error) {
	po := s3.PutOptions{ContentType: o.ContentType, CacheControl: o.CacheControl}
	switch o.Cond {
	case condIfNotExist:
		po.IfNoneMatchStar = true
	case condIfMatch:
		if o.Version.etag == "" {
			return version{}, errors.New("internal error: conditional S3 write without an ETag")
		}
		po.IfMatch = o.Version.etag
	}
	etag, err := d.client.Put(ctx, key, data, po)
	if err != nil {
		return version{}, s3Error(err)
	}
	return version{etag: etag}, nil
}

func (d *s3Driver) Delete(ctx context.Context, key string) error {
	return s3Error(d.client.Delete(ctx, key))
}

func (d *s3Driver) Close() error { return nil }
