package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client reads and writes objects of one bucket. It makes exactly one HTTP
// request per call: retries are the caller's. It is safe for concurrent
// use.
type Client struct {
	cfg  Config
	http *http.Client
	now  func() time.Time
}

// New returns a client for cfg that sends its requests through a copy of
// hc (http.DefaultClient if nil) that follows no redirect: the S3 API
// answers an object request itself, and a redirect followed would carry
// the signed request (X-Amz-Security-Token, and Authorization to the same
// host name even from https to http) wherever it points. A 3xx answer is
// an *Error (IsRedirect).
func New(cfg Config, hc *http.Client) (*Client, error) {
	if cfg.Credentials == nil {
		return nil, errors.New("s3: Config.Credentials is nil: use DefaultChain, Static or Anonymous")
	}
	if err := validBucket(cfg.Bucket); err != nil {
		return nil, err
	}
	if _, err := cfg.objectURL("k"); err != nil {
		return nil, err
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	c := *hc
	c.CheckRedirect = noRedirect
	return &Client{cfg: cfg, http: &c, now: time.Now}, nil
}

// noRedirect is the client's CheckRedirect: the 3xx answer is returned as
// it is, and nothing is sent to where it points.
func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// PutOptions are the headers and preconditions of a Put.
type PutOptions struct {
	ContentType  string
	CacheControl string
	// IfNoneMatchStar makes the write fail (IsPreconditionFailed) when the
	// object exists.
	IfNoneMatchStar bool
	// IfMatch, when set, is the ETag the object must have for the write to
	// happen.
	IfMatch string
}

func checkKey(key string) error {
	if key == "" || len(key) > 1024 {
		return fmt.Errorf("s3: object key must have 1 to 1024 bytes (got %d)", len(key))
	}
	return nil
}

// do builds, signs and sends one request.
func (c *Client) do(ctx context.Context, op, method, key string, body []byte, hdr http.Header) (*http.Response, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	u, err := c.cfg.objectURL(key)
	if err != nil {
		return nil, err
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("s3 %s %s: %w", op, key, err)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("s3 %s %s: %w", op, key, err)
	}
	req.URL = u // keep our RawPath, whatever String/Parse would make of it
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	if !creds.anonymous {
		sign(req, creds, c.cfg.Region, "s3", payloadHash(body), c.now())
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("s3 %s %s: %w", op, key, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, responseError(op, key, resp, c.now())
	}
	return resp, nil
}

// Get returns the content of key, at most limit bytes (a larger object is a
// *TooLargeError), and its ETag as the service sent it (quotes included).
func (c *Client) Get(ctx context.Context, key string, limit int64) ([]byte, string, error) {
	if limit <= 0 {
		return nil, "", fmt.Errorf("s3 get %s: size limit %d is not positive", key, limit)
	}
	resp, err := c.do(ctx, "get", http.MethodGet, key, nil, nil)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	if resp.ContentLength > limit {
		return nil, "", &TooLargeError{Key: key, Limit: limit}
	}
	var buf bytes.Buffer
	buf.Grow(int(min(max(resp.ContentLength, 0), limit)) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1)); err != nil {
		return nil, "", fmt.Errorf("s3 get %s: %w", key, err)
	}
	if int64(buf.Len()) > limit {
		return nil, "", &TooLargeError{Key: key, Limit: limit}
	}
	return buf.Bytes(), resp.Header.Get("ETag"), nil
}

// Info is what Stat tells of an object.
type Info struct {
	Size         int64
	ETag         string // as the service sent it, quotes included
	ContentType  string
	CacheControl string
}

// Stat returns the metadata of key (one HEAD request).
func (c *Client) Stat(ctx context.Context, key string) (Info, error) {
	resp, err := c.do(ctx, "head", http.MethodHead, key, nil, nil)
	if err != nil {
		return Info{}, err
	}
	resp.Body.Close()
	size := resp.ContentLength
	if size < 0 {
		size, err = strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
		if err != nil {
			return Info{}, fmt.Errorf("s3 head %s: no usable Content-Length in the answer", key)
		}
	}
	return Info{
		Size:         size,
		ETag:         resp.Header.Get("ETag"),
		ContentType:  resp.Header.Get("Content-Type"),
		CacheControl: resp.Header.Get("Cache-Control"),
	}, nil
}

// Head returns the size and ETag of key.
func (c *Client) Head(ctx context.Context, key string) (int64, string, error) {
	i, err := c.Stat(ctx, key)
	return i.Size, i.ETag, err
}

// Put writes data to key in one request (Content-MD5 and the signed
// SHA-256 guard it in transit) and returns the new ETag.
func (c *Client) Put(ctx context.Context, key string, data []byte, o PutOptions) (string, error) {
	if o.IfNoneMatchStar && o.IfMatch != "" {
		return "", fmt.Errorf("s3 put %s: IfNoneMatchStar and IfMatch exclude each other", key)
	}
	if strings.ContainsAny(o.IfMatch+o.ContentType+o.CacheControl, "\r\n") {
		return "", fmt.Errorf("s3 put %s: a header value holds a line break", key)
	}
	if data == nil {
		data = []byte{}
	}
	sum := md5.Sum(data)
	h := http.Header{}
	h.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
	if o.ContentType != "" {
		h.Set("Content-Type", o.ContentType)
	}
	if o.CacheControl != "" {
		h.Set("Cache-Control", o.CacheControl)
	}
	if o.IfNoneMatchStar {
		h.Set("If-None-Match", "*")
	}
	if o.IfMatch != "" {
		h.Set("If-Match", o.IfMatch)
	}
	if c.cfg.SSEType != "" {
		h.Set("X-Amz-Server-Side-Encryption", c.cfg.SSEType)
	}
	if c.cfg.KMSKeyID != "" {
		h.Set("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", c.cfg.KMSKeyID)
	}
	resp, err := c.do(ctx, "put", http.MethodPut, key, data, h)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	return resp.Header.Get("ETag"), nil
}

// Delete removes key. Deleting a missing object succeeds, as S3 answers.
func (c *Client) Delete(ctx context.Context, key string) error {
	resp, err := c.do(ctx, "delete", http.MethodDelete, key, nil, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
