// Package s3emu runs an S3 emulator (github.com/johannesboyne/gofakes3 on
// its in-memory backend) inside a test, so that s3:// code paths are
// exercised without the network or credentials (docs/reliability.md).
//
// Start serves the emulator on 127.0.0.1 (random port, plain HTTP) behind a
// small fault-injecting front handler, like internal/testutil/gcsemu does
// for gs://. Server.Location builds the s3:// URL that points keyctl's
// s3:// driver at it (path-style addressing, anonymous requests: the emulator
// checks no signatures). FailNext makes the "bucket" answer 503, 429, 501
// or drop the connection.
package s3emu

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Fault is what an injected failure does to a request.
type Fault int

const (
	// Unavailable answers HTTP 503 SlowDown without passing the request on.
	Unavailable Fault = iota
	// TooManyRequests answers HTTP 429 without passing the request on.
	TooManyRequests
	// DropConn reads the request, never passes it on, and closes the
	// connection without a response.
	DropConn
	// DropResponse passes the request to the emulator (so a write lands)
	// and then closes the connection instead of answering.
	DropResponse
	// NotImplemented answers HTTP 501 NotImplemented, as an S3-compatible
	// service without conditional writes answers If-Match or If-None-Match.
	NotImplemented
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
	case NotImplemented:
		return "501"
	}
	return "unknown fault"
}

// Request is what a Match sees of an incoming request.
type Request struct {
	Method string
	// Bucket and Object come from the path-style URL /bucket/object.
	Bucket, Object string
	// Upload is true for PUT of an object.
	Upload bool
	// Conditional is true when the request carries If-Match or
	// If-None-Match.
	Conditional bool
}

// Match selects the requests a fault applies to.
type Match func(Request) bool

// Upload matches uploads of object (full name in the bucket).
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

// Conditional matches uploads that carry If-Match or If-None-Match.
func Conditional() Match { return func(r Request) bool { return r.Upload && r.Conditional } }

// Server is a running emulator.
type Server struct {
	// URL is the front's base URL, http://127.0.0.1:PORT.
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

// Start starts the emulator with the named buckets and stops it when the
// test ends.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatalf("s3emu: create bucket %s: %v", b, err)
		}
	}
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	s := &Server{t: t, inner: faker.Server()}
	ts := httptest.NewUnstartedServer(s)
	addr := ts.Listener.Addr().String()
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		ts.Close()
		t.Fatalf("s3emu: listener is on %s, want 127.0.0.1", addr)
	}
	ts.Start()
	s.URL = ts.URL
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	return s
}

// Location returns the s3:// location of bucket/prefix on this emulator.
func (s *Server) Location(bucket, prefix string) string {
	loc := "s3://" + bucket
	if prefix != "" {
		loc += "/" + prefix
	}
	q := url.Values{}
	q.Set("endpoint", s.URL)
	q.Set("region", "us-east-1")
	q.Set("use_path_style", "true")
	q.Set("anonymous", "true")
	return loc + "?" + q.Encode()
}

// FailNext makes the next n requests that satisfy every match fail with
// fault. Rules are tried in the order they were added.
func (s *Server) FailNext(n int, fault Fault, match ...Match) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = append(s.rules, &rule{left: n, fault: fault, match: match})
}

// Pending is the number of injected failures not yet delivered.
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
		s3Error(w, http.StatusServiceUnavailable, "SlowDown", "injected: please reduce your request rate")
	case TooManyRequests:
		_, _ = io.Copy(io.Discard, r.Body)
		s3Error(w, http.StatusTooManyRequests, "TooManyRequests", "injected: rate limit exceeded")
	case NotImplemented:
		_, _ = io.Copy(io.Discard, r.Body)
		s3Error(w, http.StatusNotImplemented, "NotImplemented", "injected: a header you provided implies functionality that is not implemented")
	case DropConn:
		_, _ = io.Copy(io.Discard, r.Body)
		s.hangUp(w)
	case DropResponse:
		s.inner.ServeHTTP(httptest.NewRecorder(), r)
		s.hangUp(w)
	}
}

func s3Error(w http.ResponseWriter, code int, s3code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(code)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, s3code, msg)
}

// hangUp closes the connection without an answer, or fails the test when
// it cannot.
func (s *Server) hangUp(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		s.t.Errorf("s3emu: cannot drop the connection: the response writer cannot be hijacked")
		http.Error(w, "s3emu: cannot drop the connection", http.StatusInternalServerError)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		s.t.Errorf("s3emu: cannot drop the connection: %v", err)
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

func describe(r *http.Request) Request {
	req := Request{Method: r.Method}
	p := strings.TrimPrefix(r.URL.Path, "/")
	req.Bucket, req.Object, _ = strings.Cut(p, "/")
	req.Upload = r.Method == http.MethodPut && req.Object != "" && r.Header.Get("X-Amz-Copy-Source") == ""
	req.Conditional = r.Header.Get("If-Match") != "" || r.Header.Get("If-None-Match") != ""
	return req
}

// Get reads bucket/key from the emulator past the fault-injecting front
// (no fault is delivered, no request recorded): how a test looks at what
// clients would see.
func (s *Server) Get(bucket, key string) ([]byte, error) {
	req := httptest.NewRequest(http.MethodGet, "/"+bucket+"/"+key, nil)
	rec := httptest.NewRecorder()
	s.inner.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("GET %s/%s: HTTP %d", bucket, key, rec.Code)
	}
	return rec.Body.Bytes(), nil
}
