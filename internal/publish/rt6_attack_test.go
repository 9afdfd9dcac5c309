package publish

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// rt6: red-team tests. Each fails on the code it was written against and
// passes once the rule it names holds.

// sink is a server that records what reached it and answers 200.
type sink struct {
	*httptest.Server
	mu   sync.Mutex
	seen []http.Header
}

func newSink(t *testing.T, tls bool) *sink {
	s := &sink{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Header.Clone())
		s.mu.Unlock()
		w.Write([]byte("served by the other host"))
	})
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *sink) requests() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.seen...)
}

// rt6Redirect answers every request with a 307 to target + the request's
// path.
func rt6Redirect(target string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target+r.URL.Path, http.StatusTemporaryRedirect)
	})
}

// s3Env gives the s3:// chain static credentials with a session token, and
// nothing else.
func s3Env(t *testing.T) {
	t.Helper()
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": "AKIDRT6", "AWS_SECRET_ACCESS_KEY": "secret-rt6", "AWS_SESSION_TOKEN": "SESSION-TOKEN-RT6",
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_S3": "", "AWS_CA_BUNDLE": "",
		"AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
	} {
		t.Setenv(k, v)
	}
}

func s3Loc(endpoint string) string {
	q := url.Values{"endpoint": {endpoint}, "region": {"us-east-1"}, "use_path_style": {"true"}}
	return "s3://bkt/charts?" + q.Encode()
}

// TestAttackS3ReadFollowsRedirectToOtherHostWithSessionToken: the s3://
// endpoint answers a read of the keyring with a 307 to another host. The
// driver's client is net/http's default (10 redirects, anywhere): it
// follows, net/http drops Authorization but not X-Amz-Security-Token, so
// the session token goes to the other host, and what that host serves is
// read as the published object. docs/verify.md: every read of the
// published keyring and manifest follows redirects only on the
// repository's own scheme and host.
func TestAttackS3ReadFollowsRedirectToOtherHostWithSessionToken(t *testing.T) {
	s3Env(t)
	other := newSink(t, false)
	endpoint := httptest.NewServer(rt6Redirect(other.URL))
	t.Cleanup(endpoint.Close)
	b := open(t, s3Loc(endpoint.URL), nil)
	data, err := b.Get(context.Background(), "pubkeys.pgp", 1<<20)
	reqs := other.requests()
	for _, h := range reqs {
		if h.Get("X-Amz-Security-Token") != "" {
			t.Errorf("the session token went to another host: X-Amz-Security-Token: %s", h.Get("X-Amz-Security-Token"))
		}
	}
	if err == nil {
		t.Errorf("a redirect to another host was followed: read %q from %s", data, other.URL)
	}
	if len(reqs) != 0 {
		t.Errorf("%d request(s) reached the other host", len(reqs))
	}
}

// TestAttackS3RedirectDowngradesToPlainHTTPWithSignature: an https s3://
// endpoint redirects to http:// on the same IP (another port). net/http
// keeps Authorization for the same host name whatever the scheme and port,
// so the SigV4 Authorization header and the session token cross the
// network in clear text, to another service. A redirect may never leave
// https (docs/verify.md).
func TestAttackS3RedirectDowngradesToPlainHTTPWithSignature(t *testing.T) {
	s3Env(t)
	plain := newSink(t, false) // http://127.0.0.1:P2
	endpoint := httptest.NewTLSServer(rt6Redirect(plain.URL))
	t.Cleanup(endpoint.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: endpoint.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", ca)
	b := open(t, s3Loc(endpoint.URL), nil)
	_, err := b.Get(context.Background(), "pubkeys.pgp", 1<<20)
	for _, h := range plain.requests() {
		if a := h.Get("Authorization"); a != "" {
			t.Errorf("the signed Authorization header was sent over plain http after a redirect from https: %s", a)
		}
		if h.Get("X-Amz-Security-Token") != "" {
			t.Errorf("the session token was sent over plain http after a redirect from https")
		}
	}
	if err == nil {
		t.Errorf("a redirect from https to http was followed")
	}
}

// TestAttackGCSRedirectCarriesBearerToken: the gs:// driver's client is an
// oauth2.Transport under net/http's default redirect policy. The transport
// sets Authorization on every request it sends, redirected ones included,
// so net/http's stripping of credentials on a cross-host redirect does
// nothing: the OAuth access token goes to whatever host the storage
// endpoint redirects to (and over http too). Built exactly as openDriver
// builds it, with the endpoint pointed at a test server.
func TestAttackGCSRedirectCarriesBearerToken(t *testing.T) {
	other := newSink(t, false)
	endpoint := httptest.NewServer(rt6Redirect(other.URL))
	t.Cleanup(endpoint.Close)
	client := &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "ya29.RT6-ACCESS-TOKEN"})),
		Base:   poolTransport()}}
	d := &gcsDriver{name: "bkt", base: endpoint.URL, client: client}
	data, _, err := d.Read(context.Background(), "charts/pubkeys.pgp", 1<<20)
	for _, h := range other.requests() {
		if a := h.Get("Authorization"); strings.Contains(a, "RT6-ACCESS-TOKEN") {
			t.Errorf("the OAuth access token went to another host after a redirect: %s", a)
		}
	}
	if err == nil {
		t.Errorf("a redirect to another host was followed: read %q", data)
	}
}

// TestAttackGCSEmulatorReadFollowsCrossHostRedirect: through the public
// path (Open with STORAGE_EMULATOR_HOST), a gs:// read of the keyring
// follows a redirect to another host and returns what it serves, although
// reads of the published set stay on the repository's host.
func TestAttackGCSEmulatorReadFollowsCrossHostRedirect(t *testing.T) {
	other := newSink(t, false)
	endpoint := httptest.NewServer(rt6Redirect(other.URL))
	t.Cleanup(endpoint.Close)
	t.Setenv("STORAGE_EMULATOR_HOST", endpoint.URL)
	b := open(t, "gs://bkt/charts", nil)
	data, err := b.Get(context.Background(), "pubkeys.pgp", 1<<20)
	if err == nil || len(other.requests()) != 0 {
		t.Errorf("gs:// read followed a redirect to another host (%d request(s) there, read %q, err %v)", len(other.requests()), data, err)
	}
}

// throttling answers 429 with Retry-After: 1 to every request during the
// first window after the first request, then serves body.
func throttling(window time.Duration, body string) (http.Handler, *atomic.Int32) {
	var start atomic.Int64
	var n atomic.Int32
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		start.CompareAndSwap(0, time.Now().UnixNano())
		if time.Since(time.Unix(0, start.Load())) < window {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte(body))
	}), &n
}

// TestAttackRetryAfterIgnoredFailsInsteadOfSlowing: a repository host
// (or bucket service) that throttles with 429 and Retry-After: 1 for 1.5 s
// gets all of keyctl's attempts within milliseconds (the backoff ignores
// Retry-After), and the read fails with "kept failing" although the
// operation's time budget (MaxElapsed, 10 s here) had room to wait as
// asked. The s3 client even parses Retry-After (s3.Error.RetryAfter);
// nothing reads it. A throttling service must slow keyctl down, not make
// it fail.
func TestAttackRetryAfterIgnoredFailsInsteadOfSlowing(t *testing.T) {
	opts := func() *Options {
		return &Options{MaxAttempts: 4, InitialBackoff: 10 * time.Millisecond, MaxElapsed: 10 * time.Second, AttemptTimeout: 5 * time.Second}
	}
	t.Run("https", func(t *testing.T) {
		h, n := throttling(1500*time.Millisecond, "keyring")
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		b, err := Open(context.Background(), srv.URL+"/charts", opts())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(context.Background(), "pubkeys.pgp", 1<<20); err != nil {
			t.Errorf("after %d requests: %v", n.Load(), err)
		}
	})
	t.Run("s3", func(t *testing.T) {
		s3Env(t)
		h, n := throttling(1500*time.Millisecond, "keyring")
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		b, err := Open(context.Background(), s3Loc(srv.URL), opts())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(context.Background(), "pubkeys.pgp", 1<<20); err != nil {
			t.Errorf("after %d requests: %v", n.Load(), err)
		}
	})
}
