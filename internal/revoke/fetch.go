package revoke

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/publish"
)

// source reads a chart repository: index.yaml and the files its entries
// point to. Directories and file:// are read from disk, http(s) with a
// streaming client, and what else publish.Open serves (gs://, s3://) through
// publish.Bucket.Get, which buffers one object (bounded by the size cap and
// the audit's concurrency).
type source struct {
	base    *url.URL // the repository's URL, path ending in "/"
	display string
	dir     string          // directories: the absolute root
	root    *os.Root        // directories: opened at dir; no path leaves it
	bucket  *publish.Bucket // gs://, s3://, mem://
	http    *http.Client
	retries int
	backoff time.Duration
	// maxThrottle bounds the time one fetch spends waiting out 429 and
	// 503 answers (Retry-After or backoff); those waits do not count
	// against retries, so a rate-limit storm slows the audit down
	// instead of failing it.
	maxThrottle time.Duration
	gate        gate
}

// gate holds every worker back while the server has asked for a pause: a
// 429 or 503 seen by one fetch delays the next request of all of them,
// so the audit backs off as a whole instead of each worker hammering on.
type gate struct {
	mu    sync.Mutex
	until time.Time
}

// pause makes the gate closed until t (if that is later than now).
func (g *gate) pause(t time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t.After(g.until) {
		g.until = t
	}
}

// wait returns when the gate is open or ctx is done.
func (g *gate) wait(ctx context.Context) error {
	for {
		g.mu.Lock()
		d := time.Until(g.until)
		g.mu.Unlock()
		if d <= 0 {
			return nil
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// throttledError is a 429 or 503 answer; after is its Retry-After (0 when
// it had none or an unreadable one).
type throttledError struct {
	code  int
	after time.Duration
}

func (e *throttledError) Error() string {
	if e.after > 0 {
		return fmt.Sprintf("HTTP %d (retry after %s)", e.code, e.after)
	}
	return fmt.Sprintf("HTTP %d", e.code)
}

// DefaultRemoteConcurrency is the audit's concurrency for http(s), gs://
// and s3:// repositories when none is given: fetches wait on the network
// far more than on the CPU, so more of them are in flight than there are
// cores (measured in docs/performance.md).
const DefaultRemoteConcurrency = 16

// newHTTPClient is the audit's default client: keep-alive connections,
// as many kept idle per host as fetches run at once (net/http keeps 2 by
// default, so most connections would be closed and opened again).
func newHTTPClient(concurrency int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = max(concurrency, 2)
	t.MaxIdleConns = max(t.MaxIdleConns, 2*concurrency)
	return &http.Client{Timeout: 2 * time.Minute, Transport: t}
}

// errNotFound says an object does not exist (an unsigned release's .prov).
var errNotFound = errors.New("not found")

// errOverCap: an object is over its size cap. It was fetched (or its size
// was told): it is content keyctl refuses, not a failure to fetch.
var errOverCap = errors.New("over the size limit")

// fetchError is a failure to fetch (not a property of the content).
type fetchError struct {
	URL string
	Err error
}

func (e *fetchError) Error() string { return fmt.Sprintf("fetch %s: %v", e.URL, e.Err) }
func (e *fetchError) Unwrap() error { return e.Err }

func openSource(ctx context.Context, location string, opts Options) (*source, error) {
	s := &source{http: opts.HTTPClient, retries: opts.Retries, backoff: opts.Backoff, maxThrottle: opts.MaxThrottle}
	if s.http == nil {
		s.http = newHTTPClient(opts.Concurrency)
	}
	if s.maxThrottle <= 0 {
		s.maxThrottle = 5 * time.Minute
	}
	// A chart URL is checked to be on the repository's host before it is
	// fetched; the redirects of that fetch are held to the same rule here.
	s.http = opts.Redirects.Client(s.http)
	if s.retries <= 0 {
		s.retries = 4
	}
	if s.backoff <= 0 {
		s.backoff = 250 * time.Millisecond
	}
	switch {
	case !strings.Contains(location, "://") || strings.HasPrefix(strings.ToLower(location), "file://"):
		dir := location
		if strings.Contains(location, "://") {
			u, err := url.Parse(location)
			if err != nil || (u.Host != "" && u.Host != "localhost") || !strings.HasPrefix(u.Path, "/") {
				return nil, fail.Inputf("repository %q is not a valid file:// URL", location).WithHint("use file:///abs/dir or a directory path")
			}
			dir = filepath.FromSlash(u.Path)
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, fail.Inputf("repository %s", location).Wrap(err)
		}
		st, err := os.Stat(abs)
		if err != nil || !st.IsDir() {
			return nil, fail.Inputf("repository %s is not a directory", abs).
				WithHint("give the directory that holds index.yaml, or an http(s):// or gs:// URL")
		}
		root, err := os.OpenRoot(abs)
		if err != nil {
			return nil, fail.Inputf("repository %s", abs).Wrap(err)
		}
		s.dir, s.display, s.root = abs, abs, root
		s.base = &url.URL{Scheme: "file", Path: filepath.ToSlash(abs) + "/"}
	case strings.HasPrefix(strings.ToLower(location), "http://"), strings.HasPrefix(strings.ToLower(location), "https://"):
		u, err := url.Parse(location)
		if err != nil || u.Host == "" {
			return nil, fail.Inputf("repository %q is not a valid URL", location)
		}
		u.Path = strings.TrimSuffix(u.Path, "/") + "/"
		u.RawPath = ""
		u.Fragment = ""
		s.base, s.display = u, u.Redacted()
	default:
		b, err := publish.Open(ctx, location, &publish.Options{MaxAttempts: s.retries, InitialBackoff: s.backoff, Redirects: opts.Redirects})
		if err != nil {
			return nil, err
		}
		u, err := url.Parse(location)
		if err != nil {
			return nil, fail.Inputf("repository %q is not a valid URL", location)
		}
		u.Path = strings.TrimSuffix(u.Path, "/") + "/"
		s.bucket, s.base, s.display = b, u, b.Location()
	}
	return s, nil
}

func (s *source) close() {
	if s.bucket != nil {
		s.bucket.Close()
	}
	if s.root != nil {
		s.root.Close()
	}
}

// readAll fetches a small object whole, with a cap.
func (s *source) readAll(ctx context.Context, u *url.URL, limit int64) ([]byte, error) {
	var data []byte
	err := s.open(ctx, u, limit, func(r io.Reader) error {
		d, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			return err
		}
		if int64(len(d)) > limit {
			return fmt.Errorf("%w: larger than %d bytes", errOverCap, limit)
		}
		data = d
		return nil
	})
	return data, err
}

// open fetches u and hands its content, streaming, to use. Transient
// failures (connection errors, HTTP 5xx and 429, a body cut short) are
// retried with backoff, calling use again from the start; errNotFound and
// errors of use itself are final. Fetch failures come as *fetchError.
//
// 429 and 503 answers are the server asking for less: they are waited out
// (Retry-After when given, else the backoff, up to maxThrottle in all) and
// do not use up the attempts, and they close the source's gate so that
// every worker pauses, not just this one.
func (s *source) open(ctx context.Context, u *url.URL, limit int64, use func(io.Reader) error) error {
	wait := s.backoff
	throttleWait := s.backoff
	var throttled time.Duration
	attempt := 0
	for {
		if err := s.gate.wait(ctx); err != nil {
			return &fetchError{URL: redact(u), Err: err}
		}
		err, transient := s.openOnce(ctx, u, limit, use)
		if err == nil {
			return nil
		}
		if !transient || ctx.Err() != nil {
			return err
		}
		var te *throttledError
		var d time.Duration
		if errors.As(err, &te) {
			d = te.after
			if d == 0 {
				d = throttleWait
				throttleWait = min(2*throttleWait, 30*time.Second)
			}
			if throttled+d > s.maxThrottle {
				return fmt.Errorf("%w (the server kept asking to slow down for %s)", err, throttled.Round(time.Second))
			}
			throttled += d
			s.gate.pause(time.Now().Add(d))
		} else {
			attempt++
			if attempt >= s.retries {
				return err
			}
			d = wait
			wait *= 2
		}
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return &fetchError{URL: redact(u), Err: ctx.Err()}
		}
	}
}

// netReader records the first error of the underlying stream, so that a
// body cut short is told apart from content that use refuses.
type netReader struct {
	r   io.Reader
	err error
}

func (n *netReader) Read(p []byte) (int, error) {
	c, err := n.r.Read(p)
	if err != nil && err != io.EOF && n.err == nil {
		n.err = err
	}
	return c, err
}

func (s *source) openOnce(ctx context.Context, u *url.URL, limit int64, use func(io.Reader) error) (err error, transient bool) {
	fe := func(e error) error { return &fetchError{URL: redact(u), Err: e} }
	switch {
	case u.Scheme == "file" && s.dir != "":
		p := filepath.Clean(filepath.FromSlash(u.Path))
		if p != s.dir && !strings.HasPrefix(p, s.dir+string(filepath.Separator)) {
			return fe(errors.New("outside the repository directory")), false
		}
		rel, err := filepath.Rel(s.dir, p)
		if err != nil {
			return fe(errors.New("outside the repository directory")), false
		}
		// Through the root: a symbolic link may not lead out of the
		// repository; only regular files are opened (a FIFO would block).
		st, err := s.root.Stat(rel)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fe(errNotFound), false
			}
			return fe(stripPath(err)), false
		}
		if !st.Mode().IsRegular() {
			return fe(errors.New("not a regular file")), false
		}
		f, err := s.root.Open(rel)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fe(errNotFound), false
			}
			return fe(stripPath(err)), false
		}
		defer f.Close()
		st, err = f.Stat()
		if err != nil {
			return fe(stripPath(err)), false
		}
		if !st.Mode().IsRegular() {
			return fe(errors.New("not a regular file")), false
		}
		if st.Size() > limit {
			return fe(fmt.Errorf("%w: larger than %d bytes", errOverCap, limit)), false
		}
		nr := &netReader{r: f}
		if err := use(nr); err != nil {
			if nr.err != nil {
				return fe(nr.err), false
			}
			return err, false
		}
		return nil, false
	case u.Scheme == "http" || u.Scheme == "https":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return fe(err), false
		}
		resp, err := s.http.Do(req)
		if re, ok := publish.AsRedirectError(err); ok {
			return fe(re), false
		}
		if err != nil {
			return fe(stripURL(err)), true
		}
		defer func() {
			// Read what is left (within reason) so that the connection
			// goes back to the pool instead of being closed.
			_, _ = io.CopyN(io.Discard, resp.Body, 256<<10)
			resp.Body.Close()
		}()
		switch {
		case resp.StatusCode == http.StatusOK:
		case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
			return fe(errNotFound), false
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
			return fe(&throttledError{code: resp.StatusCode, after: publish.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}), true
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
			return fe(fmt.Errorf("HTTP %d", resp.StatusCode)), true
		default:
			return fe(fmt.Errorf("HTTP %d", resp.StatusCode)), false
		}
		if resp.ContentLength > limit {
			return fe(fmt.Errorf("%w: larger than %d bytes", errOverCap, limit)), false
		}
		nr := &netReader{r: resp.Body}
		if err := use(nr); err != nil {
			if nr.err != nil {
				return fe(stripURL(nr.err)), true
			}
			return err, false
		}
		return nil, false
	case s.bucket != nil && sameBucket(s.base, u):
		name := strings.TrimPrefix(u.Path, s.base.Path)
		data, err := s.bucket.Get(ctx, name, limit)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fe(errNotFound), false
			}
			return fe(err), false // publish retried already
		}
		return use(bytes.NewReader(data)), false
	}
	return fe(fmt.Errorf("cannot fetch %s URLs from a %s repository", u.Scheme, s.base.Scheme)), false
}

func sameBucket(base, u *url.URL) bool {
	return strings.EqualFold(base.Scheme, u.Scheme) && base.Host == u.Host && strings.HasPrefix(u.Path, base.Path) && len(u.Path) > len(base.Path)
}

// redact is a URL as messages show it: without userinfo and query.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	if c.Scheme == "file" {
		return filepath.FromSlash(c.Path)
	}
	return c.String()
}

// stripPath is a file error without the path (the caller names it).
func stripPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// stripURL drops the URL that net/http puts in its errors (it may carry a
// query with credentials); the caller names the URL itself.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if ne, ok := ue.Err.(net.Error); ok && ne.Timeout() {
			return errors.New("timeout")
		}
		return ue.Err
	}
	return err
}
