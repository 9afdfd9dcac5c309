package publish

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
	"google.golang.org/api/googleapi"
)

// gs:// is served by this small gocloud.dev/blob driver over the Cloud
// Storage JSON API with plain net/http, instead of gocloud's gcsblob: that
// one is built on cloud.google.com/go/storage, which links gRPC, xDS and
// the envoy protobuf registries, whose package initialisation every keyctl
// command paid for (docs/performance.md, Start-up). keyctl needs only five
// calls: download, metadata, a one-request multipart upload with a
// generation precondition, and delete.

// gcsInfo is what the driver tells of an object beyond gocloud's
// attributes: its generation. Reader.As and Attributes.As fill a *gcsInfo.
type gcsInfo struct {
	Generation int64
}

// gcsWrite is reached through WriterOptions.BeforeWrite's as(**gcsWrite):
// a generation precondition to set, and the written object's generation
// after Close.
type gcsWrite struct {
	// IfGenerationMatch, when set, is the generation the object must have
	// (0: it must not exist).
	IfGenerationMatch *int64
	// Generation is the written object's generation, set by Close.
	Generation int64
}

type gcsBucket struct {
	name   string
	base   string // https://storage.googleapis.com, or the emulator's URL
	client *http.Client
}

// gcsEndpoint is the JSON API's base URL: STORAGE_EMULATOR_HOST when set
// (host:port or a URL), else Google's.
func gcsEndpoint() string {
	h := os.Getenv("STORAGE_EMULATOR_HOST")
	switch {
	case h == "":
		return "https://storage.googleapis.com"
	case strings.Contains(h, "://"):
		return strings.TrimSuffix(h, "/")
	}
	return "http://" + h
}

func openGCS(bucket string, client *http.Client) *blob.Bucket {
	return blob.NewBucket(&gcsBucket{name: bucket, base: gcsEndpoint(), client: client})
}

func (b *gcsBucket) objectURL(key string, q url.Values) string {
	return b.base + "/storage/v1/b/" + url.PathEscape(b.name) + "/o/" + url.PathEscape(key) + "?" + q.Encode()
}

func (b *gcsBucket) do(req *http.Request) (*http.Response, error) {
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	if err := googleapi.CheckResponse(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

func (b *gcsBucket) ErrorCode(err error) gcerrors.ErrorCode {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return gcerrors.Unknown
	}
	switch c := ge.Code; {
	case c == http.StatusNotFound:
		return gcerrors.NotFound
	case c == http.StatusPreconditionFailed:
		return gcerrors.FailedPrecondition
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		return gcerrors.PermissionDenied
	case c == http.StatusTooManyRequests:
		return gcerrors.ResourceExhausted
	case c == http.StatusBadRequest:
		return gcerrors.InvalidArgument
	case c == http.StatusNotImplemented:
		return gcerrors.Unimplemented
	case c >= 500:
		return gcerrors.Internal
	}
	return gcerrors.Unknown
}

func (b *gcsBucket) As(any) bool { return false }

func (b *gcsBucket) ErrorAs(err error, i any) bool { return errors.As(err, i) }

// gcsObject is the JSON API's object resource, the fields keyctl reads.
type gcsObject struct {
	Size         string            `json:"size"`
	ContentType  string            `json:"contentType"`
	CacheControl string            `json:"cacheControl"`
	Generation   string            `json:"generation"`
	MD5Hash      string            `json:"md5Hash"`
	ETag         string            `json:"etag"`
	Updated      time.Time         `json:"updated"`
	Created      time.Time         `json:"timeCreated"`
	Metadata     map[string]string `json:"metadata"`
}

// maxMetadata caps an object resource read from the service.
const maxMetadata = 1 << 20

func (b *gcsBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.objectURL(key, url.Values{"projection": {"noAcl"}}), nil)
	if err != nil {
		return nil, err
	}
	resp, err := b.do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	attrs, err := parseGCSObject(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read the metadata of %s: %w", key, err)
	}
	return attrs, nil
}

// parseGCSObject reads an object resource (at most maxMetadata bytes).
func parseGCSObject(r io.Reader) (*driver.Attributes, error) {
	var o gcsObject
	if err := json.NewDecoder(io.LimitReader(r, maxMetadata)).Decode(&o); err != nil {
		return nil, err
	}
	size, _ := strconv.ParseInt(o.Size, 10, 64)
	gen, _ := strconv.ParseInt(o.Generation, 10, 64)
	md5, _ := base64.StdEncoding.DecodeString(o.MD5Hash)
	return &driver.Attributes{
		CacheControl: o.CacheControl,
		ContentType:  o.ContentType,
		Metadata:     o.Metadata,
		CreateTime:   o.Created,
		ModTime:      o.Updated,
		Size:         size,
		MD5:          md5,
		ETag:         o.ETag,
		AsFunc: func(i any) bool {
			p, ok := i.(*gcsInfo)
			if ok {
				p.Generation = gen
			}
			return ok
		},
	}, nil
}

// contentRangeSize is the object size of a Content-Range header
// ("bytes 0-9/1234"), or def when there is none to read.
func contentRangeSize(cr string, def int64) int64 {
	if i := strings.LastIndexByte(cr, '/'); i >= 0 && len(cr) < 128 {
		if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil && n >= 0 {
			return n
		}
	}
	return def
}

func (b *gcsBucket) ListPaged(context.Context, *driver.ListOptions) (*driver.ListPage, error) {
	return nil, unimplemented("listing")
}

func (b *gcsBucket) NewRangeReader(ctx context.Context, key string, offset, length int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.objectURL(key, url.Values{"alt": {"media"}}), nil)
	if err != nil {
		return nil, err
	}
	switch {
	case length == 0:
		req.Method = http.MethodHead
	case offset > 0 && length < 0:
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	case length > 0:
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	}
	resp, err := b.do(req)
	if err != nil {
		return nil, err
	}
	gen, _ := strconv.ParseInt(resp.Header.Get("X-Goog-Generation"), 10, 64)
	size := contentRangeSize(resp.Header.Get("Content-Range"), resp.ContentLength)
	mod, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
	body := resp.Body
	if length == 0 {
		body.Close()
		body = http.NoBody
	}
	return &gcsReader{body: body, gen: gen, attrs: driver.ReaderAttributes{
		ContentType: resp.Header.Get("Content-Type"), ModTime: mod, Size: size,
	}}, nil
}

type gcsReader struct {
	body  io.ReadCloser
	gen   int64
	attrs driver.ReaderAttributes
}

func (r *gcsReader) Read(p []byte) (int, error)           { return r.body.Read(p) }
func (r *gcsReader) Close() error                         { return r.body.Close() }
func (r *gcsReader) Attributes() *driver.ReaderAttributes { return &r.attrs }
func (r *gcsReader) As(i any) bool {
	p, ok := i.(*gcsInfo)
	if ok {
		p.Generation = r.gen
	}
	return ok
}

func (b *gcsBucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	w := &gcsWriter{ctx: ctx, b: b, key: key, meta: map[string]any{
		"name":        key,
		"contentType": contentType,
	}}
	if opts.CacheControl != "" {
		w.meta["cacheControl"] = opts.CacheControl
	}
	if len(opts.ContentMD5) > 0 {
		w.meta["md5Hash"] = base64.StdEncoding.EncodeToString(opts.ContentMD5)
	}
	if len(opts.Metadata) > 0 {
		w.meta["metadata"] = opts.Metadata
	}
	if opts.IfNotExist {
		zero := int64(0)
		w.opts.IfGenerationMatch = &zero
	}
	if opts.BeforeWrite != nil {
		err := opts.BeforeWrite(func(i any) bool {
			p, ok := i.(**gcsWrite)
			if ok {
				*p = &w.opts
			}
			return ok
		})
		if err != nil {
			return nil, err
		}
	}
	return w, nil
}

// gcsWriter buffers the object (keyctl's are small and in memory anyway)
// and uploads it in one request on Close: applied whole or not at all.
type gcsWriter struct {
	ctx  context.Context
	b    *gcsBucket
	key  string
	meta map[string]any
	opts gcsWrite
	buf  bytes.Buffer
}

func (w *gcsWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }

func (w *gcsWriter) Upload(r io.Reader) error {
	_, err := io.Copy(&w.buf, r)
	if err != nil {
		return err
	}
	return w.Close()
}

func (w *gcsWriter) Close() error {
	if err := w.ctx.Err(); err != nil {
		return err // aborted by blob (or the caller): write nothing
	}
	meta, err := json.Marshal(w.meta)
	if err != nil {
		return err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	jh := textproto.MIMEHeader{"Content-Type": {"application/json; charset=UTF-8"}}
	pw, _ := mw.CreatePart(jh)
	pw.Write(meta)
	ct, _ := w.meta["contentType"].(string)
	pw, _ = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {ct}})
	pw.Write(w.buf.Bytes())
	if err := mw.Close(); err != nil {
		return err
	}
	q := url.Values{"uploadType": {"multipart"}, "projection": {"noAcl"}}
	if g := w.opts.IfGenerationMatch; g != nil {
		q.Set("ifGenerationMatch", strconv.FormatInt(*g, 10))
	}
	u := w.b.base + "/upload/storage/v1/b/" + url.PathEscape(w.b.name) + "/o?" + q.Encode()
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, u, bytes.NewReader(body.Bytes()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "multipart/related; boundary="+mw.Boundary())
	resp, err := w.b.do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var o gcsObject
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxMetadata)).Decode(&o); err != nil {
		return fmt.Errorf("read the answer to the upload of %s: %w", w.key, err)
	}
	w.opts.Generation, _ = strconv.ParseInt(o.Generation, 10, 64)
	return nil
}

func (b *gcsBucket) Copy(context.Context, string, string, *driver.CopyOptions) error {
	return unimplemented("copy")
}

func (b *gcsBucket) Delete(ctx context.Context, key string, _ *driver.DeleteOptions) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, b.objectURL(key, nil), nil)
	if err != nil {
		return err
	}
	resp, err := b.do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (b *gcsBucket) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", unimplemented("signed URLs")
}

func (b *gcsBucket) Close() error { return nil }

func unimplemented(what string) error {
	return &googleapi.Error{Code: http.StatusNotImplemented, Message: "keyctl's gs:// driver does no " + what}
}
