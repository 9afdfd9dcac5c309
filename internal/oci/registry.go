package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/keyctl/keyctl/internal/termsafe"
)

// The distribution API (OCI distribution-spec v1.1) that keyctl needs:
// manifests by tag or digest, blobs, monolithic blob upload, tag and
// catalog listings. Everything a registry answers is untrusted: bodies are
// read up to a cap, content fetched by digest is checked against it, and
// error texts are cut short.

const userAgent = "keyctl"

// Limits on registry answers other than manifests and blobs.
const (
	// MaxListPage caps one page of a tag list or catalog.
	MaxListPage = 8 << 20
	// maxListPages bounds the pages of one listing.
	maxListPages = 10000
	// maxErrorBody caps an error answer that is read for its message.
	maxErrorBody = 64 << 10
)

// manifestAccept is the Accept header of manifest requests.
const manifestAccept = MediaTypeImageManifest + ", " + MediaTypeImageIndex

// ResponseError is a registry answer with an unexpected status: the
// request (method and URL, never credentials) and the registry's error
// codes.
type ResponseError struct {
	Method     string
	URL        string
	StatusCode int
	Errors     []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (e *ResponseError) Error() string {
	s := fmt.Sprintf("%s %s: response status code %d: %s", e.Method, e.URL, e.StatusCode, strings.ToLower(http.StatusText(e.StatusCode)))
	for i, x := range e.Errors {
		if i == 3 {
			s += "; ..."
			break
		}
		s += "; " + trunc(strings.ToLower(x.Code))
		if x.Message != "" {
			s += ": " + trunc(x.Message)
		}
	}
	return s
}

// responseError reads resp's error body (capped) into a ResponseError.
func responseError(resp *http.Response) error {
	e := &ResponseError{Method: resp.Request.Method, URL: redact(resp.Request.URL), StatusCode: resp.StatusCode}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = json.Unmarshal(data, e)
	return e
}

// repository is HOST/NAME on a Client.
type repository struct {
	c    *Client
	host string
	name string
}

// baseURL is host's /v2/: HTTPS, or plain HTTP for a host the user
// named for it (plainHTTP).
func (c *Client) baseURL(host string) *url.URL {
	scheme := "https"
	if c.plainHTTP(host) {
		scheme = "http"
	}
	return &url.URL{Scheme: scheme, Host: endpoint(host), Path: "/v2/"}
}

func (r *repository) url(parts ...string) *url.URL {
	u := r.c.baseURL(r.host)
	u.Path += r.name + "/" + strings.Join(parts, "/")
	return u
}

// request is one API call, replayable (its body is in memory).
type request struct {
	method string
	url    *url.URL
	header http.Header
	body   []byte
	repo   string // the scope's repository; "" for the catalog
	write  bool   // the scope needs push
}

// do sends rq, authenticating as the registry asks (auth.go). The caller
// closes the answer's body.
func (c *Client) do(ctx context.Context, rq request) (*http.Response, error) {
	host := rq.url.Host
	scope := scopeFor(rq.repo, rq.write)
	build := func() (*http.Request, error) {
		var body io.Reader
		if rq.body != nil {
			body = bytes.NewReader(rq.body)
		}
		req, err := http.NewRequestWithContext(ctx, rq.method, rq.url.String(), body)
		if err != nil {
			return nil, err
		}
		for k, v := range rq.header {
			req.Header[k] = v
		}
		req.Header.Set("User-Agent", userAgent)
		return req, nil
	}
	req, err := build()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	ch, known := c.challenges[host]
	c.mu.Unlock()
	if known {
		if err := c.authorize(ctx, req, host, ch, scope, false); err != nil {
			return nil, fmt.Errorf("%s %s: %w", rq.method, redact(rq.url), err)
		}
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusUnauthorized {
		return resp, nil
	}
	if answered := resp.Request.URL.Host; !strings.EqualFold(answered, host) {
		// A host the registry redirected to (its storage) asks for a
		// login. Its challenge is not the registry's: answering it would
		// send the registry's credentials to that host's token service,
		// and remembering it would do so on every later request.
		resp.Body.Close()
		return nil, &RedirectAuthError{Method: rq.method, URL: redact(rq.url), Host: answered, Registry: host}
	}
	h := resp.Header.Get("Www-Authenticate")
	if h == "" {
		return resp, nil // a 401 without a challenge: the caller reports it
	}
	ch, err = parseChallenge(h)
	if err != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %w", rq.method, redact(rq.url), err)
	}
	resp.Body.Close()
	// Remembered for the host's next requests without the scope, which
	// belongs to this request.
	keep := challenge{scheme: ch.scheme, params: map[string]string{}}
	for k, v := range ch.params {
		if k != "scope" {
			keep.params[k] = v
		}
	}
	c.mu.Lock()
	c.challenges[host] = keep
	c.mu.Unlock()
	if req, err = build(); err != nil {
		return nil, err
	}
	if err := c.authorize(ctx, req, host, ch, scope, true); err != nil {
		return nil, fmt.Errorf("%s %s: %w", rq.method, redact(rq.url), err)
	}
	if resp, err = c.send(req); err != nil {
		return nil, err
	}
	if answered := resp.Request.URL.Host; resp.StatusCode == http.StatusUnauthorized && !strings.EqualFold(answered, host) {
		resp.Body.Close()
		return nil, &RedirectAuthError{Method: rq.method, URL: redact(rq.url), Host: answered, Registry: host}
	}
	return resp, nil
}

// RedirectAuthError: the registry redirected a request to another host,
// which answered 401. keyctl authenticates only to the registry host
// itself (credentials are per registry host), so the request fails.
type RedirectAuthError struct {
	Method, URL string
	Host        string // the host that answered 401
	Registry    string // the registry host the request was for
}

func (e *RedirectAuthError) Error() string {
	return fmt.Sprintf("%s %s: the registry redirected it to %s, which asks for a login (status 401): keyctl sends credentials only to the registry host %s, never to a host it redirects to",
		e.Method, e.URL, termsafe.String(e.Host), e.Registry)
}

// send is c.http.Do with the URL in an error cut to scheme, host and
// path: a redirect's query can be a signed URL, which is a credential.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	var ue *url.Error
	if err != nil && errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			ue.URL = redact(u)
		} else {
			ue.URL = "(a URL that does not parse)"
		}
	}
	return resp, err
}

// expect sends rq and returns its answer when the status is one of ok;
// any other status is a ResponseError.
func (c *Client) expect(ctx context.Context, rq request, ok ...int) (*http.Response, error) {
	resp, err := c.do(ctx, rq)
	if err != nil {
		return nil, err
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	defer resp.Body.Close()
	return nil, responseError(resp)
}

// errTooLong: an answer ran past its cap.
var errTooLong = errors.New("the answer is too long")

// readBody reads at most limit bytes of an answer; more is an error
// (errTooLong).
func readBody(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: larger than %d bytes", errTooLong, limit)
	}
	return data, nil
}

// fetchManifest GETs a manifest by tag or digest. The descriptor's digest
// is computed from the bytes read; a registry that names another digest
// (Docker-Content-Digest), or another than the one asked for, is refused.
func (r *repository) fetchManifest(ctx context.Context, reference string) (Descriptor, []byte, error) {
	resp, err := r.c.expect(ctx, request{method: http.MethodGet, url: r.url("manifests", reference),
		header: http.Header{"Accept": {manifestAccept}}, repo: r.name}, http.StatusOK)
	if err != nil {
		return Descriptor{}, nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > MaxManifestSize {
		return Descriptor{}, nil, fmt.Errorf("the manifest %s is %d bytes, more than %d", reference, resp.ContentLength, MaxManifestSize)
	}
	data, err := readBody(resp.Body, MaxManifestSize)
	if err != nil {
		return Descriptor{}, nil, fmt.Errorf("the manifest %s: %w", reference, err)
	}
	mt, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	d := DescriptorFor(strings.TrimSpace(mt), data)
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && ValidDigest(h) && h != d.Digest {
		return Descriptor{}, nil, &DigestError{What: "the manifest " + reference, Want: h, Got: d.Digest}
	}
	if ValidDigest(reference) && reference != d.Digest {
		return Descriptor{}, nil, &DigestError{What: "the manifest " + reference, Want: reference, Got: d.Digest}
	}
	return d, data, nil
}

// DigestError says content does not match the digest it was fetched by.
type DigestError struct {
	What, Want, Got string
	Longer          int64 // > 0: the content ran past this many bytes (Got unknown)
}

func (e *DigestError) Error() string {
	if e.Longer > 0 || e.Got == "" {
		return fmt.Sprintf("%s is longer than the %d bytes named with digest %s", e.What, e.Longer, e.Want)
	}
	return fmt.Sprintf("%s has digest %s, not %s", e.What, e.Got, e.Want)
}

// pushManifest PUTs a manifest under reference (its digest or a tag).
func (r *repository) pushManifest(ctx context.Context, reference, mediaType string, data []byte) error {
	resp, err := r.c.expect(ctx, request{method: http.MethodPut, url: r.url("manifests", reference),
		header: http.Header{"Content-Type": {mediaType}}, body: data, repo: r.name, write: true}, http.StatusCreated, http.StatusOK)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" && ValidDigest(h) && h != DigestOf(data) {
		return &DigestError{What: "the manifest the registry stored as " + reference, Want: DigestOf(data), Got: h}
	}
	return nil
}

// tag points tag at the manifest data (already pushed by digest).
func (r *repository) tag(ctx context.Context, d Descriptor, data []byte, tag string) error {
	return r.pushManifest(ctx, tag, d.MediaType, data)
}

// blobExists HEADs a blob.
func (r *repository) blobExists(ctx context.Context, digest string) (bool, error) {
	resp, err := r.c.do(ctx, request{method: http.MethodHead, url: r.url("blobs", digest), repo: r.name})
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		return false, nil
	}
	return false, responseError(resp)
}

// fetchBlob GETs a blob, reading at most limit bytes, and checks its size
// and digest against d.
func (r *repository) fetchBlob(ctx context.Context, d Descriptor, limit int64) ([]byte, error) {
	if !ValidDigest(d.Digest) {
		return nil, fmt.Errorf("the blob digest %q is not sha256:HEX", trunc(d.Digest))
	}
	if d.Size < 0 || d.Size > limit {
		return nil, fmt.Errorf("the blob is %d bytes, more than %d", d.Size, limit)
	}
	resp, err := r.c.expect(ctx, request{method: http.MethodGet, url: r.url("blobs", d.Digest), repo: r.name}, http.StatusOK)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := readBody(resp.Body, d.Size)
	if errors.Is(err, errTooLong) {
		return nil, &DigestError{What: "the blob", Want: d.Digest, Longer: d.Size}
	}
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redact(resp.Request.URL), err)
	}
	if int64(len(data)) != d.Size || DigestOf(data) != d.Digest {
		return nil, &DigestError{What: "the blob", Want: d.Digest, Got: DigestOf(data)}
	}
	return data, nil
}

// pushBlob uploads data monolithically: POST an upload session, then PUT
// the bytes to its Location with ?digest=.
func (r *repository) pushBlob(ctx context.Context, d Descriptor, data []byte) error {
	u := r.url("blobs", "uploads") // the trailing slash matters to some registries
	u.Path += "/"
	resp, err := r.c.expect(ctx, request{method: http.MethodPost, url: u, repo: r.name, write: true}, http.StatusAccepted)
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc, err := uploadLocation(u, resp.Header.Get("Location"))
	if err != nil {
		return fmt.Errorf("POST %s: %w", redact(u), err)
	}
	q := loc.Query()
	q.Set("digest", d.Digest)
	loc.RawQuery = q.Encode()
	resp, err = r.c.expect(ctx, request{method: http.MethodPut, url: loc, body: data,
		header: http.Header{"Content-Type": {"application/octet-stream"}}, repo: r.name, write: true}, http.StatusCreated)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// errUploadElsewhere: an upload Location on another host than the
// registry's.
var errUploadElsewhere = errors.New("not the registry's host")

// uploadLocation resolves an upload's Location against the request URL;
// it must stay on the registry's scheme (no HTTPS to HTTP) and host: the
// PUT that follows carries the registry host's credentials when that host
// asks, and a Location on another host would have keyctl write there with
// that host's credentials, a registry the user never named.
func uploadLocation(base *url.URL, loc string) (*url.URL, error) {
	if loc == "" {
		return nil, errors.New("the registry gave no upload location")
	}
	u, err := base.Parse(loc)
	if err != nil || u.Host == "" {
		return nil, errors.New("the registry gave an upload location that is not a URL")
	}
	if u.Scheme != base.Scheme || u.User != nil {
		return nil, fmt.Errorf("the registry gave an upload location on %s://%s, refused (not the registry's scheme)", termsafe.String(u.Scheme), termsafe.String(u.Host))
	}
	if !strings.EqualFold(u.Host, base.Host) {
		return nil, fmt.Errorf("the registry gave an upload location on %s, refused (%w %s)", termsafe.String(u.Host), errUploadElsewhere, base.Host)
	}
	return u, nil
}

// list walks a paginated listing (tags or catalog) from first, following
// Link: <URL>; rel="next" on the same host, and hands each page's JSON to
// page.
func (c *Client) list(ctx context.Context, first *url.URL, repo string, page func([]byte) error) error {
	next := first
	for n := 0; next != nil; n++ {
		if n == maxListPages {
			return fmt.Errorf("the listing has more than %d pages", maxListPages)
		}
		resp, err := c.expect(ctx, request{method: http.MethodGet, url: next, repo: repo}, http.StatusOK)
		if err != nil {
			return err
		}
		data, err := readBody(resp.Body, MaxListPage)
		link := resp.Header.Get("Link")
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("GET %s: %w", redact(next), err)
		}
		if err := page(data); err != nil {
			return err
		}
		if next, err = nextLink(next, link); err != nil {
			return fmt.Errorf("GET %s: %w", redact(first), err)
		}
	}
	return nil
}

// nextLink parses a Link header's rel="next" target, resolved against the
// current URL; nil when there is none. It must stay on the same scheme and
// host.
func nextLink(cur *url.URL, header string) (*url.URL, error) {
	if header == "" {
		return nil, nil
	}
	if len(header) > maxChallenge {
		return nil, errors.New("the Link header is too long")
	}
	for _, l := range strings.Split(header, ",") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "<") {
			continue
		}
		end := strings.IndexByte(l, '>')
		if end < 0 {
			return nil, errors.New("the Link header is malformed")
		}
		target, params := l[1:end], l[end+1:]
		isNext := false
		for _, p := range strings.Split(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.EqualFold(strings.TrimSpace(k), "rel") && strings.Trim(strings.TrimSpace(v), `"`) == "next" {
				isNext = true
			}
		}
		if !isNext {
			continue
		}
		u, err := cur.Parse(target)
		if err != nil {
			return nil, errors.New("the Link header's next page is not a URL")
		}
		if u.Scheme != cur.Scheme || u.Host != cur.Host || u.User != nil {
			return nil, fmt.Errorf("the Link header's next page is on another host (%s://%s), refused", u.Scheme, u.Host)
		}
		return u, nil
	}
	return nil, nil
}

// tags lists the repository's tags, page by page.
func (r *repository) tags(ctx context.Context, each func([]string) error) error {
	return r.c.list(ctx, r.url("tags", "list"), r.name, func(data []byte) error {
		var p struct {
			Tags []string `json:"tags"`
		}
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("the tag list is not valid JSON: %s", shortErr(err))
		}
		return each(p.Tags)
	})
}

// repositories lists the registry's catalog, page by page.
func (c *Client) repositories(ctx context.Context, host string, each func([]string) error) error {
	u := c.baseURL(host)
	u.Path += "_catalog"
	return c.list(ctx, u, "", func(data []byte) error {
		var p struct {
			Repositories []string `json:"repositories"`
		}
		if err := json.Unmarshal(data, &p); err != nil {
			return fmt.Errorf("the catalog is not valid JSON: %s", shortErr(err))
		}
		return each(p.Repositories)
	})
}
