package publish

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// redirector answers /obj with a redirect to target(r) and serves
// /here/obj itself, counting requests and recording credentials seen.
type redirector struct {
	srv   *httptest.Server
	hits  atomic.Int32
	auth  atomic.Value // string: last Authorization seen by this server
	route func(r *http.Request) string
}

func newRedirector(t *testing.T, tls bool) *redirector {
	rd := &redirector{}
	rd.auth.Store("")
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rd.hits.Add(1)
		if a := r.Header.Get("Authorization"); a != "" {
			rd.auth.Store(a)
		}
		if strings.Contains(r.URL.Path, "/here/") {
			w.Write([]byte("content"))
			return
		}
		http.Redirect(w, r, rd.route(r), http.StatusFound)
	})
	if tls {
		rd.srv = httptest.NewTLSServer(h)
	} else {
		rd.srv = httptest.NewServer(h)
	}
	t.Cleanup(rd.srv.Close)
	return rd
}

func redirectGet(t *testing.T, base string, client *http.Client, p RedirectPolicy) ([]byte, error) {
	t.Helper()
	b, err := Open(context.Background(), base, &Options{MaxAttempts: 3, InitialBackoff: time.Millisecond, HTTPClient: client, Redirects: p})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	return b.Get(context.Background(), "obj", 1<<20)
}

func TestRedirectSameHostFollowed(t *testing.T) {
	a := newRedirector(t, false)
	a.route = func(*http.Request) string { return "/repo/here/obj" }
	data, err := redirectGet(t, a.srv.URL+"/repo", nil, RedirectPolicy{})
	if err != nil || string(data) != "content" {
		t.Fatalf("same-host redirect: %q, %v", data, err)
	}
}

func TestRedirectOtherHostRefused(t *testing.T) {
	other := newRedirector(t, false)
	a := newRedirector(t, false)
	a.route = func(*http.Request) string { return other.srv.URL + "/here/obj" }
	u := strings.Replace(a.srv.URL, "http://", "http://ci:s3cret@", 1) + "/repo"
	_, err := redirectGet(t, u, nil, RedirectPolicy{})
	if err == nil {
		t.Fatal("a redirect to another host was followed")
	}
	if other.hits.Load() != 0 {
		t.Fatalf("the other host was asked %d times", other.hits.Load())
	}
	if a.hits.Load() != 1 {
		t.Fatalf("a refused redirect was retried: %d requests", a.hits.Load())
	}
	if msg := err.Error(); !strings.Contains(msg, "must stay on") || strings.Contains(msg, "s3cret") {
		t.Fatalf("message: %s", msg)
	}
	// Allowed across hosts (a signed index), the credentials stay behind.
	if _, err := redirectGet(t, u, nil, RedirectPolicy{CrossHost: true}); err != nil {
		t.Fatalf("cross-host allowed: %v", err)
	}
	if got := a.auth.Load().(string); got == "" {
		t.Fatal("the first host did not get the URL's credentials (test is broken)")
	}
	if got := other.auth.Load().(string); got != "" {
		t.Fatalf("credentials were forwarded to another host: %q", got)
	}
}

func TestRedirectSchemesRefused(t *testing.T) {
	plain := newRedirector(t, false)
	plain.route = func(*http.Request) string { return "/here/obj" }
	secure := newRedirector(t, true)
	for name, target := range map[string]string{
		"https to http": plain.srv.URL + "/here/obj",
		"file":          "file:///etc/passwd",
	} {
		secure.route = func(*http.Request) string { return target }
		for _, p := range []RedirectPolicy{{}, {CrossHost: true}} {
			if _, err := redirectGet(t, secure.srv.URL+"/repo", secure.srv.Client(), p); err == nil {
				t.Errorf("%s (cross-host %v): followed", name, p.CrossHost)
			}
		}
	}
	if plain.hits.Load() != 0 {
		t.Fatalf("the http host was asked %d times", plain.hits.Load())
	}
}

func TestRedirectCapped(t *testing.T) {
	a := newRedirector(t, false)
	a.route = func(r *http.Request) string { return r.URL.Path + "x" }
	_, err := redirectGet(t, a.srv.URL+"/repo", nil, RedirectPolicy{})
	if err == nil || !strings.Contains(err.Error(), "more than 5 redirects") {
		t.Fatalf("loop: %v", err)
	}
	if n := a.hits.Load(); n != 6 {
		t.Fatalf("%d requests, want 6", n)
	}
}
