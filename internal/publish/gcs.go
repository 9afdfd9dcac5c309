package publish

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
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
	"unicode"
)

// gs:// is served by this small driver over the Cloud Storage JSON API
// with plain net/http, instead of cloud.google.com/go/storage (which links
// gRPC, xDS and the envoy protobuf registries) or gocloud.dev's gcsblob
// built on it: their package initialisation cost every keyctl command
// several milliseconds (docs/performance.md, Start-up). keyctl needs only
// four calls: download, metadata, a one-request multipart upload with a
// generation precondition, and delete.

type gcsDriver struct {
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

func openGCS(bucket string, client *http.Client) *gcsDriver {
	return &gcsDriver{name: bucket, base: gcsEndpoint(), client: client}
}

func (b *gcsDriver) objectURL(key string, q url.Values) string {
	return b.base + "/storage/v1/b/" + url.PathEscape(b.name) + "/o/" + url.PathEscape(key) + "?" + q.Encode()
}

// do sends req; an answer other than 2xx is a *storageError. No redirect
// is followed, whatever b.client's CheckRedirect (redirect.go): a 3xx is a
// final *storageRedirectError.
func (b *gcsDriver) do(req *http.Request) (*http.Response, error) {
	c := *b.client
	c.CheckRedirect = noStorageRedirect
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 3 {
		resp.Body.Close()
		return nil, &storageError{Code: codeUnknown, Status: resp.StatusCode, Err: &storageRedirectError{
			Scheme: "gs", Status: resp.StatusCode, Host: req.URL.Host,
			To: redirectTarget(req.URL, resp.Header.Get("Location")),
		}}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		msg := ""
		if req.Method != http.MethodHead {
			msg = parseGCSError(io.LimitReader(resp.Body, maxGCSError))
		}
		se := httpStatusError(resp.StatusCode, msg)
		se.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		return nil, se
	}
	return resp, nil
}

// maxGCSError caps how much of an error answer is read.
const maxGCSError = 64 << 10

// parseGCSError returns the message of a JSON API error answer
// ({"error":{"code":403,"message":"..."}}), shortened and reduced to
// printable characters, or "" when there is none.
func parseGCSError(r io.Reader) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.NewDecoder(r).Decode(&e) != nil {
		return ""
	}
	msg := strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, e.Error.Message)
	if len(msg) > 300 {
		msg = strings.ToValidUTF8(msg[:300], "") + "..."
	}
	return msg
}

// gcsObject is the JSON API's object resource, the fields keyctl reads.
type gcsObject struct {
	Size         string `json:"size"`
	ContentType  string `json:"contentType"`
	CacheControl string `json:"cacheControl"`
	Generation   string `json:"generation"`
}

// maxMetadata caps an object resource read from the service.
const maxMetadata = 1 << 20

func (b *gcsDriver) Attributes(ctx context.Context, key string) (attributes, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.objectURL(key, url.Values{"projection": {"noAcl"}}), nil)
	if err != nil {
		return attributes{}, err
	}
	resp, err := b.do(req)
	if err != nil {
		return attributes{}, err
	}
	defer resp.Body.Close()
	a, err := parseGCSObject(resp.Body)
	if err != nil {
		return attributes{}, fmt.Errorf("read the metadata of %s: %w", key, err)
	}
	return a, nil
}

// parseGCSObject reads an object resource (at most maxMetadata bytes).
func parseGCSObject(r io.Reader) (attributes, error) {
	var o gcsObject
	if err := json.NewDecoder(io.LimitReader(r, maxMetadata)).Decode(&o); err != nil {
		return attributes{}, err
	}
	size, _ := strconv.ParseInt(o.Size, 10, 64)
	gen, _ := strconv.ParseInt(o.Generation, 10, 64)
	return attributes{
		Size:         size,
		ContentType:  o.ContentType,
		CacheControl: o.CacheControl,
		Version:      version{gen: gen},
	}, nil
}

func (b *gcsDriver) Read(ctx context.Context, key string, limit int64) ([]byte, version, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.objectURL(key, url.Values{"alt": {"media"}}), nil)
	if err != nil {
		return nil, version{}, err
	}
	resp, err := b.do(req)
	if err != nil {
		return nil, version{}, err
	}
	defer resp.Body.Close()
	gen, _ := strconv.ParseInt(resp.Header.Get("X-Goog-Generation"), 10, 64)
	data, err := readLimited(resp.Body, resp.ContentLength, limit)
	if err != nil {
		return nil, version{}, err
	}
	return data, version{gen: gen}, nil
}

// Write uploads the object in one multipart request: applied whole or not
// at all. The MD5 lets the service refuse bytes damaged in transit.
func (b *gcsDriver) Write(ctx context.Context, key string, data []byte, o writeOptions) (version, error) {
	sum := md5.Sum(data)
	meta := map[string]any{
		"name":        key,
		"contentType": o.ContentType,
		"md5Hash":     base64.StdEncoding.EncodeToString(sum[:]),
	}
	if o.CacheControl != "" {
		meta["cacheControl"] = o.CacheControl
	}
	mj, err := json.Marshal(meta)
	if err != nil {
		return version{}, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	pw, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"application/json; charset=UTF-8"}})
	pw.Write(mj)
	pw, _ = mw.CreatePart(textproto.MIMEHeader{"Content-Type": {o.ContentType}})
	pw.Write(data)
	if err := mw.Close(); err != nil {
		return version{}, err
	}
	q := url.Values{"uploadType": {"multipart"}, "projection": {"noAcl"}}
	switch o.Cond {
	case condIfNotExist:
		q.Set("ifGenerationMatch", "0")
	case condIfMatch:
		q.Set("ifGenerationMatch", strconv.FormatInt(o.Version.gen, 10))
	}
	u := b.base + "/upload/storage/v1/b/" + url.PathEscape(b.name) + "/o?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body.Bytes()))
	if err != nil {
		return version{}, err
	}
	req.Header.Set("Content-Type", "multipart/related; boundary="+mw.Boundary())
	resp, err := b.do(req)
	if err != nil {
		return version{}, err
	}
	defer resp.Body.Close()
	a, err := parseGCSObject(resp.Body)
	if err != nil {
		return version{}, fmt.Errorf("read the answer to the upload of %s: %w", key, err)
	}
	return a.Version, nil
}

func (b *gcsDriver) Delete(ctx context.Context, key string) error {
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

func (b *gcsDriver) Close() error { return nil }
