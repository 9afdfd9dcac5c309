package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/testutil/s3emu"
)

const (
	testKeyID  = "AKIDTESTKEYID"
	testSecret = "test-secret-3f9c1e7a"
	testToken  = "test-session-token-8d2b"
)

// verifier sits in front of the emulator and checks every request's SigV4
// signature as S3 does: from the bytes on the wire (the request line's
// path, the headers named in SignedHeaders, the body's SHA-256).
type verifier struct {
	t     *testing.T
	creds Credentials // zero: requests must be unsigned
	next  http.Handler

	mu   sync.Mutex
	seen []*http.Request
}

func (v *verifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	v.mu.Lock()
	v.seen = append(v.seen, r.Clone(context.Background()))
	v.mu.Unlock()
	if err := v.check(r, body); err != nil {
		v.t.Errorf("%s %s: %v", r.Method, r.RequestURI, err)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<Error><Code>SignatureDoesNotMatch</Code><Message>test verifier</Message></Error>`)
		return
	}
	v.next.ServeHTTP(w, r)
}

func (v *verifier) check(r *http.Request, body []byte) error {
	auth := r.Header.Get("Authorization")
	if v.creds.AccessKeyID == "" {
		if auth != "" || r.Header.Get("X-Amz-Date") != "" {
			return errors.New("anonymous request is signed")
		}
		return nil
	}
	rest, ok := strings.CutPrefix(auth, sigAlgorithm+" ")
	if !ok {
		return errors.New("no SigV4 Authorization")
	}
	f := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(part, "=")
		f[k] = val
	}
	wantScope := testKeyID + "/" + r.Header.Get("X-Amz-Date")[:8] + "/us-east-1/s3/aws4_request"
	if f["Credential"] != wantScope {
		return errors.New("credential scope " + f["Credential"])
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:])
	if r.Header.Get("X-Amz-Content-Sha256") != hash {
		return errors.New("x-amz-content-sha256 is not the body's SHA-256")
	}
	if v.creds.SessionToken != "" && r.Header.Get("X-Amz-Security-Token") != v.creds.SessionToken {
		return errors.New("no session token")
	}
	signed := strings.Split(f["SignedHeaders"], ";")
	for _, must := range []string{"host", "x-amz-content-sha256", "x-amz-date"} {
		if !contains(signed, must) {
			return errors.New(must + " is not signed")
		}
	}
	for name := range r.Header {
		ln := strings.ToLower(name)
		if (strings.HasPrefix(ln, "x-amz-") || ln == "content-md5" || ln == "content-type" || ln == "if-match" || ln == "if-none-match") && !contains(signed, ln) {
			return errors.New(ln + " is sent but not signed")
		}
	}
	var hdr strings.Builder
	for _, h := range signed {
		val := r.Header.Get(h)
		if h == "host" {
			val = r.Host
		}
		hdr.WriteString(h + ":" + strings.Join(strings.Fields(val), " ") + "\n")
	}
	path, query, _ := strings.Cut(r.RequestURI, "?")
	q, _ := url.ParseQuery(query)
	canon := strings.Join([]string{r.Method, path, canonicalQuery(q), hdr.String(), f["SignedHeaders"], hash}, "\n")
	date := r.Header.Get("X-Amz-Date")
	key := signingKey(v.creds.SecretAccessKey, date[:8], "us-east-1", "s3")
	if got := signature(key, date, strings.TrimPrefix(f["Credential"], testKeyID+"/"), canon); got != f["Signature"] {
		return errors.New("signature mismatch; canonical request as received:\n" + canon)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (v *verifier) requests() []*http.Request {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]*http.Request(nil), v.seen...)
}

// emulated starts the emulator with bucket "bkt" behind a verifier and
// returns a path-style client for it.
func emulated(t *testing.T, creds Provider) (*Client, *s3emu.Server, *verifier) {
	t.Helper()
	srv := s3emu.Start(t, "bkt")
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := creds.Retrieve(context.Background())
	v := &verifier{t: t, next: httputil.NewSingleHostReverseProxy(target)}
	if !c.anonymous {
		v.creds = c
	}
	front := httptest.NewServer(v)
	t.Cleanup(front.Close)
	cl, err := New(Config{Bucket: "bkt", Region: "us-east-1", Endpoint: front.URL, PathStyle: true, Credentials: creds}, front.Client())
	if err != nil {
		t.Fatal(err)
	}
	return cl, srv, v
}

func testCreds() Provider {
	return Static(Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testToken, Source: "test"})
}

func TestPutGetHeadDelete(t *testing.T) {
	ctx := context.Background()
	c, srv, v := emulated(t, testCreds())
	data := []byte("hello, bucket\n")
	etag, err := c.Put(ctx, "charts/a b+c$.yaml", data, PutOptions{ContentType: "application/yaml", CacheControl: "no-cache"})
	if err != nil {
		t.Fatal(err)
	}
	if etag == "" {
		t.Fatal("no ETag from Put")
	}
	got, getTag, err := c.Get(ctx, "charts/a b+c$.yaml", 100)
	if err != nil || !bytes.Equal(got, data) || getTag != etag {
		t.Fatalf("Get = %q, %s, %v; want %q, %s", got, getTag, err, data, etag)
	}
	// The emulator stored it under the key as given (srv.Get does not
	// escape keys, so a plain one is checked there).
	if _, err := c.Put(ctx, "charts/plain.yaml", data, PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if raw, err := srv.Get("bkt", "charts/plain.yaml"); err != nil || !bytes.Equal(raw, data) {
		t.Fatalf("emulator holds %q, %v", raw, err)
	}
	size, headTag, err := c.Head(ctx, "charts/a b+c$.yaml")
	if err != nil || size != int64(len(data)) || headTag != etag {
		t.Fatalf("Head = %d, %s, %v", size, headTag, err)
	}
	info, err := c.Stat(ctx, "charts/a b+c$.yaml")
	// (The emulator keeps no Cache-Control: TestStatHeaders checks it.)
	if err != nil || info.ContentType != "application/yaml" || info.Size != int64(len(data)) || info.ETag != etag {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
	put := v.requests()[0]
	if put.Header.Get("Content-Type") != "application/yaml" || put.Header.Get("Cache-Control") != "no-cache" || put.Header.Get("Content-Md5") == "" {
		t.Fatalf("put headers %v", put.Header)
	}
	if err := c.Delete(ctx, "charts/a b+c$.yaml"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "charts/a b+c$.yaml", 100); !IsNotFound(err) {
		t.Fatalf("Get after Delete: %v, want not found", err)
	}
	if _, _, err := c.Head(ctx, "charts/a b+c$.yaml"); !IsNotFound(err) {
		t.Fatalf("Head after Delete: %v, want not found", err)
	}
}

func TestGetLimit(t *testing.T) {
	ctx := context.Background()
	c, _, _ := emulated(t, testCreds())
	if _, err := c.Put(ctx, "big", make([]byte, 101), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Get(ctx, "big", 100)
	var tl *TooLargeError
	if !errors.As(err, &tl) || tl.Limit != 100 {
		t.Fatalf("Get over the limit: %v", err)
	}
	if data, _, err := c.Get(ctx, "big", 101); err != nil || len(data) != 101 {
		t.Fatalf("Get at the limit: %d, %v", len(data), err)
	}
}

func TestConditionalCreateTwice(t *testing.T) {
	ctx := context.Background()
	c, _, v := emulated(t, testCreds())
	if _, err := c.Put(ctx, "ptr", []byte("one"), PutOptions{IfNoneMatchStar: true}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Put(ctx, "ptr", []byte("two"), PutOptions{IfNoneMatchStar: true})
	if !IsPreconditionFailed(err) {
		t.Fatalf("second create: %v, want precondition failed", err)
	}
	if got, _, _ := c.Get(ctx, "ptr", 10); string(got) != "one" {
		t.Fatalf("object holds %q", got)
	}
	if r := v.requests()[1]; r.Header.Get("If-None-Match") != "*" {
		t.Fatalf("If-None-Match %q", r.Header.Get("If-None-Match"))
	}
}

func TestIfMatch(t *testing.T) {
	ctx := context.Background()
	c, _, _ := emulated(t, testCreds())
	etag, err := c.Put(ctx, "ptr", []byte("one"), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, "ptr", []byte("x"), PutOptions{IfMatch: `"0123456789abcdef0123456789abcdef"`}); !IsPreconditionFailed(err) {
		t.Fatalf("wrong ETag: %v, want precondition failed", err)
	}
	etag2, err := c.Put(ctx, "ptr", []byte("two"), PutOptions{IfMatch: etag})
	if err != nil {
		t.Fatalf("right ETag: %v", err)
	}
	if etag2 == etag {
		t.Fatal("ETag unchanged by a new content")
	}
	if _, err := c.Put(ctx, "ptr", []byte("three"), PutOptions{IfMatch: etag}); !IsPreconditionFailed(err) {
		t.Fatalf("stale ETag: %v, want precondition failed", err)
	}
	if _, err := c.Put(ctx, "missing", []byte("x"), PutOptions{IfMatch: etag}); err == nil {
		t.Fatal("If-Match on a missing object succeeded")
	}
}

func TestAnonymousRequestsAreUnsigned(t *testing.T) {
	ctx := context.Background()
	c, _, v := emulated(t, Anonymous)
	if _, err := c.Put(ctx, "k", []byte("v"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, r := range v.requests() {
		if r.Header.Get("Authorization") != "" {
			t.Fatal("anonymous request carries Authorization")
		}
	}
}

func TestFaultsAreClassifiedAndNotRetried(t *testing.T) {
	ctx := context.Background()
	c, srv, v := emulated(t, testCreds())
	srv.FailNext(1, s3emu.Unavailable)
	_, _, err := c.Get(ctx, "k", 10)
	if !IsTransient(err) || IsNotFound(err) {
		t.Fatalf("503: %v, want transient", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != "SlowDown" || e.StatusCode != 503 {
		t.Fatalf("503: %#v", err)
	}
	srv.FailNext(1, s3emu.TooManyRequests)
	if _, err := c.Put(ctx, "k", []byte("v"), PutOptions{}); !IsTransient(err) {
		t.Fatalf("429: %v, want transient", err)
	}
	srv.FailNext(1, s3emu.NotImplemented)
	if _, err := c.Put(ctx, "k", []byte("v"), PutOptions{IfMatch: `"x"`}); !IsNotImplemented(err) || IsTransient(err) {
		t.Fatalf("501: %v, want not implemented", err)
	}
	if n := len(v.requests()); n != 3 {
		t.Fatalf("%d requests for 3 calls: the client must not retry", n)
	}
	if srv.Pending() != 0 {
		t.Fatal("a fault was not delivered")
	}
}

func TestMissingBucketIsNotNotFound(t *testing.T) {
	c, _, _ := emulated(t, testCreds())
	c.cfg.Bucket = "nobkt"
	_, _, err := c.Get(context.Background(), "k", 10)
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != 404 || IsNotFound(err) {
		t.Fatalf("missing bucket: %v, want a 404 that is not IsNotFound", err)
	}
}

func TestVirtualHostedRequest(t *testing.T) {
	// A virtual-hosted request names the bucket in Host and not in the path.
	var host, path string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, path = r.Host, r.URL.EscapedPath()
		w.Header().Set("ETag", `"e"`)
		io.WriteString(w, "data")
	}))
	defer ts.Close()
	u, _ := url.Parse(ts.URL)
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, u.Host)
		},
	}}
	c, err := New(Config{Bucket: "bkt", Region: "us-east-1", Endpoint: "http://s3.test:" + u.Port(), Credentials: testCreds()}, hc)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(context.Background(), "dir/x y", 10); err != nil {
		t.Fatal(err)
	}
	if host != "bkt.s3.test:"+u.Port() || path != "/dir/x%20y" {
		t.Fatalf("Host %s path %s", host, path)
	}
}

func TestRetryAfterAndRequestID(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.Header().Set("X-Amz-Request-Id", "REQ123")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `<?xml version="1.0"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
	}))
	defer ts.Close()
	c, err := New(Config{Bucket: "bkt", Region: "us-east-1", Endpoint: ts.URL, PathStyle: true, Credentials: testCreds()}, ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Get(context.Background(), "k", 10)
	var e *Error
	if !errors.As(err, &e) || e.RetryAfter != 7*time.Second || e.RequestID != "REQ123" || !IsTransient(err) {
		t.Fatalf("%#v", err)
	}
	if !strings.Contains(err.Error(), "SlowDown: Please reduce your request rate.") {
		t.Fatalf("message %q", err)
	}
}

func TestStatHeaders(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			t.Errorf("method %s", r.Method)
		}
		w.Header().Set("ETag", `"abc"`)
		w.Header().Set("Content-Type", "application/pgp-keys")
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("Content-Length", "1234")
	}))
	defer ts.Close()
	c, err := New(Config{Bucket: "bkt", Region: "us-east-1", Endpoint: ts.URL, PathStyle: true, Credentials: testCreds()}, ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Stat(context.Background(), "k")
	want := Info{Size: 1234, ETag: `"abc"`, ContentType: "application/pgp-keys", CacheControl: "public, max-age=31536000, immutable"}
	if err != nil || info != want {
		t.Fatalf("%+v, %v", info, err)
	}
}

func TestConfigFromEmulatorLocation(t *testing.T) {
	isolate(t)
	srv := s3emu.Start(t, "bkt")
	u := mustURL(t, srv.Location("bkt", "charts"))
	cfg, err := ConfigFromURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.Put(ctx, "charts/x", []byte("x"), PutOptions{IfNoneMatchStar: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := srv.Get("bkt", "charts/x"); string(got) != "x" {
		t.Fatalf("emulator holds %q", got)
	}
}

func TestWrongRegionSaysWhichRegion(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region><RequestId>R</RequestId></Error>`)
	}))
	defer ts.Close()
	c, err := New(Config{Bucket: "bkt", Region: "us-east-1", Endpoint: ts.URL, PathStyle: true, Credentials: testCreds()}, ts.Client())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.Get(context.Background(), "k", 10)
	if err == nil || !strings.Contains(err.Error(), "use ?region=eu-west-1") {
		t.Fatalf("%v", err)
	}
}

// The client follows no redirect, whatever its http.Client would do: a
// redirected signed request would take X-Amz-Security-Token to any host,
// and Authorization too when only the scheme or port changes. The 3xx is
// an *Error that names both hosts, not the Location's path or query.
func TestRedirectIsNotFollowed(t *testing.T) {
	var reached sync.Mutex
	hits := 0
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Lock()
		hits++
		reached.Unlock()
		io.WriteString(w, "other host")
	}))
	defer other.Close()
	for _, code := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", other.URL+"/bkt/k?X-Amz-Signature=secret\u202e")
			w.WriteHeader(code)
		}))
		c, err := New(Config{Bucket: "bkt", Region: "us-east-1", Endpoint: ts.URL, PathStyle: true, Credentials: testCreds()}, &http.Client{})
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range []func() error{
			func() error { _, _, err := c.Get(context.Background(), "k", 10); return err },
			func() error { _, err := c.Stat(context.Background(), "k"); return err },
			func() error { _, err := c.Put(context.Background(), "k", []byte("x"), PutOptions{}); return err },
			func() error { return c.Delete(context.Background(), "k") },
		} {
			err := op()
			if !IsRedirect(err) || IsTransient(err) {
				t.Fatalf("HTTP %d: %v, want a final redirect error", code, err)
			}
			msg := err.Error()
			host := strings.TrimPrefix(ts.URL, "http://")
			if !strings.Contains(msg, "from "+host) || !strings.Contains(msg, "to "+other.URL) || !strings.Contains(msg, "not followed") {
				t.Errorf("message %q does not name both hosts and say the redirect was not followed", msg)
			}
			if strings.Contains(msg, "secret") || strings.Contains(msg, "\u202e") {
				t.Errorf("message %q carries the Location's query or control characters", msg)
			}
		}
		ts.Close()
	}
	if hits != 0 {
		t.Fatalf("%d request(s) reached the redirect's target", hits)
	}
}

// A redirect's host is the server's text: shown escaped when it is not
// plain ASCII.
func TestRedirectTargetIsEscaped(t *testing.T) {
	from := &url.URL{Scheme: "https", Host: "s3.example"}
	for loc, want := range map[string]string{
		"":                               "",
		"/other/path?sig=x":              "https://s3.example",
		"HTTP://Other.example:81/k?q=s":  "http://Other.example:81",
		"https://evil\u202eelpmaxe.com/": `"https://evil\u202eelpmaxe.com"`,
		"https://%zz/":                   "an unreadable Location",
	} {
		if got := redirectTarget(from, loc); got != want {
			t.Errorf("redirectTarget(%q) = %q, want %q", loc, got, want)
		}
	}
}
