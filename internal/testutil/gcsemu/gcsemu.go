// Package gcsemu runs a Google Cloud Storage emulator
// (github.com/fsouza/fake-gcs-server) inside a test, so that gs:// code paths
// are exercised without the network or credentials (docs/reliability.md).
//
// Start serves the emulator on 127.0.0.1 (random port, plain HTTP) behind a
// small fault-injecting front handler and points STORAGE_EMULATOR_HOST at
// that port with t.Setenv. Every request — from keyctl's gs:// driver (internal/publish/gcs.go),
// from cloud.google.com/go/storage or from a child process the test starts —
// passes through the front, which is how FailNext can make the "bucket"
// answer 503, 429 or drop the connection. There is no second, fault-free
// port: the emulator itself runs without a listener (fakestorage NoListener)
// and Server.Emulator talks to it in memory, which is the way for a test to
// inspect objects without tripping injected faults.
//
// Because Start calls t.Setenv, tests that use it cannot call t.Parallel.
package gcsemu

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// Fault is what an injected failure does to a request.
type Fault int

const (
	// Unavailable answers HTTP 503 without passing the request on.
	Unavailable Fault = iota
	// TooManyRequests answers HTTP 429 without passing the request on.
	TooManyRequests
	// DropConn reads the request, never passes it on, and closes the
	// connection without a response: the client sees EOF or a reset.
	DropConn
	// DropResponse passes the request to the emulator (so a write lands)
	// and then closes the connection instead of sending the response: the
	// client cannot tell whether its request took effect.
	DropResponse
)

func (f Fault) String() string {
	switch f {
	case Unavailable:
		return "503"
	case TooManyRequests:
		return "429"
	case DropConn:
		return "dropped connection"
	case DropResponse:
		return "dropped response"
	}
	return "unknown fault"
}

// Request is what a Match sees of an incoming request.
type Request struct {
	Method string
	Path   string // unescaped URL path
	Query  url.Values
	// Upload is true for object uploads (POST/PUT under /upload/).
	Upload bool
	// Bucket and Object name the object the request is about, when the
	// front can tell: from the XML or JSON API path, from the name query
	// parameter of a media upload, or from the metadata part of a multipart
	// upload. Object is empty for bucket-level calls and for the data
	// requests of a resumable upload session.
	Bucket, Object string
}

// Match selects the requests a fault applies to.
type Match func(Request) bool

// Upload matches uploads of the object named object (a full object name in
// the bucket, prefix included).
func Upload(object string) Match {
	return func(r Request) bool { return r.Upload && r.Object == object }
}

// Download matches reads of object's content or metadata.
func Download(object string) Match {
	return func(r Request) bool {
		return !r.Upload && r.Object == object && (r.Method == http.MethodGet || r.Method == http.MethodHead)
	}
}

// AnyUpload matches every object upload.
func AnyUpload() Match { return func(r Request) bool { return r.Upload } }

// Server is a running emulator.
type Server struct {
	// Emulator is the fake-gcs-server instance. Its Client and Backend
	// reach it in memory, without the fault-injecting front.
	Emulator *fakestorage.Server
	// Host is host:port of the front, the value of STORAGE_EMULATOR_HOST.
	Host string
	// URL is "http://" + Host.
	URL string

	inner http.Handler
	t     testing.TB
	mu    sync.Mutex
	rules []*rule
	fired int
	seen  []Request
}

type rule struct {
	left  int
	fault Fault
	match []Match
}

// Start starts the emulator with the named buckets, sets
// STORAGE_EMULATOR_HOST to its front for the rest of the test, and stops it
// when the test ends.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	s := &Server{t: t}
	ts := httptest.NewUnstartedServer(s)
	// httptest listens on 127.0.0.1 by default; check it, so no test ever
	// binds a public interface.
	addr := ts.Listener.Addr().String()
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		ts.Close()
		t.Fatalf("gcsemu: listener is on %s, want 127.0.0.1", addr)
	}
	emu, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		NoListener: true,
		Scheme:     "http",
		// The storage library downloads through the XML API at
		// STORAGE_EMULATOR_HOST/bucket/object, which fake-gcs-server
		// routes only for requests addressed to its public host.
		PublicHost: addr,
		Writer:     io.Discard,
	})
	if err != nil {
		ts.Close()
		t.Fatalf("gcsemu: start fake-gcs-server: %v", err)
	}
	for _, b := range buckets {
		emu.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	s.Emulator, s.inner = emu, emu.HTTPHandler()
	ts.Start()
	s.URL = ts.URL
	s.Host = strings.TrimPrefix(ts.URL, "http://")
	t.Setenv("STORAGE_EMULATOR_HOST", s.Host)
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
		emu.Stop()
	})
	return s
}

// FailNext makes the next n requests that satisfy every match (all requests
// when none is given) fail with fault. Rules queue up: a request is handled
// by the first rule, in the order they were added, that still has failures
// left and matches it.
func (s *Server) FailNext(n int, fault Fault, match ...Match) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &rule{left: n, fault: fault, match: match})
}

// Pending is the number of injected failures not yet delivered. A test that
// expects its faults to have been hit checks that this is 0.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.rules {
		n += r.left
	}
	return n
}

// Fired is the number of injected failures delivered so far.
func (s *Server) Fired() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired
}

// Requests returns the requests seen so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.seen...)
}

// Reset drops undelivered faults and the request log.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
	s.seen = nil
}

// maxPeek caps how much of an upload body the front buffers to find the
// object name; test objects are far smaller.
const maxPeek = 64 << 20

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := describe(r)
	fault, hit := s.pick(req)
	if !hit {
		s.inner.ServeHTTP(w, r)
		return
	}
	switch fault {
	case Unavailable:
		_, _ = io.Copy(io.Discard, r.Body)
		http.Error(w, `{"error":{"code":503,"message":"injected: service unavailable"}}`, http.StatusServiceUnavailable)
	case TooManyRequests:
		_, _ = io.Copy(io.Discard, r.Body)
		http.Error(w, `{"error":{"code":429,"message":"injected: rate limit exceeded"}}`, http.StatusTooManyRequests)
	case DropConn:
		_, _ = io.Copy(io.Discard, r.Body)
		s.hangUp(w)
	case DropResponse:
		s.inner.ServeHTTP(httptest.NewRecorder(), r)
		s.hangUp(w)
	}
}

// hangUp closes the connection without an answer. If it cannot (not with
// httptest's HTTP/1.1 server), the test fails: a fault that was not
// injected must not pass for one that was.
func (s *Server) hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		s.t.Errorf("gcsemu: cannot drop the connection: the response writer cannot be hijacked")
		http.Error(w, "gcsemu: cannot drop the connection", http.StatusInternalServerError)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		s.t.Errorf("gcsemu: cannot drop the connection: %v", err)
		return
	}
	_ = conn.Close()
}

func (s *Server) pick(req Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, req)
	for _, ru := range s.rules {
		if ru.left == 0 || !matchAll(ru.match, req) {
			continue
		}
		ru.left--
		s.fired++
		return ru.fault, true
	}
	return 0, false
}

func matchAll(ms []Match, r Request) bool {
	for _, m := range ms {
		if !m(r) {
			return false
		}
	}
	return true
}

// describe works out which bucket and object r is about. For uploads it
// buffers the body (and puts it back) to read the object name from the
// multipart metadata.
func describe(r *http.Request) Request {
	req := Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query()}
	segs := splitEscaped(r.URL.EscapedPath())
	switch {
	case len(segs) >= 5 && segs[0] == "upload" && segs[1] == "storage" && segs[3] == "b":
		// /upload/storage/v1/b/{bucket}/o
		req.Upload = r.Method == http.MethodPost || r.Method == http.MethodPut
		req.Bucket = segs[4]
		req.Object = req.Query.Get("name")
		if req.Object == "" && r.Body != nil {
			req.Object = uploadName(r)
		}
	case len(segs) >= 7 && segs[0] == "download" && segs[1] == "storage" && segs[3] == "b" && segs[5] == "o":
		// /download/storage/v1/b/{bucket}/o/{object}
		req.Bucket, req.Object = segs[4], strings.Join(segs[6:], "/")
	case len(segs) >= 6 && segs[0] == "storage" && segs[2] == "b" && segs[4] == "o":
		// /storage/v1/b/{bucket}/o/{object}
		req.Bucket, req.Object = segs[3], strings.Join(segs[5:], "/")
	case len(segs) >= 4 && segs[0] == "storage" && segs[2] == "b":
		// /storage/v1/b/{bucket}: bucket-level calls
		req.Bucket = segs[3]
	case len(segs) >= 2 && segs[0] != "storage" && segs[0] != "upload" && segs[0] != "download":
		// XML API: /{bucket}/{object}
		req.Bucket, req.Object = segs[0], strings.Join(segs[1:], "/")
	}
	return req
}

func splitEscaped(p string) []string {
	var out []string
	for _, s := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
		out = append(out, s)
	}
	return out
}

// uploadName reads the object name from a multipart or resumable-initiation
// upload body, restoring the body for the emulator.
func uploadName(r *http.Request) string {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPeek))
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return ""
	}
	var meta struct {
		Name string `json:"name"`
	}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case err == nil && strings.HasPrefix(mt, "multipart/"):
		part, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).NextPart()
		if err != nil {
			return ""
		}
		if json.NewDecoder(part).Decode(&meta) != nil {
			return ""
		}
	case err == nil && mt == "application/json":
		if json.Unmarshal(body, &meta) != nil {
			return ""
		}
	}
	return meta.Name
}
