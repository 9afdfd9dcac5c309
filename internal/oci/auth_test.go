package oci

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/testutil/ociregistry"
)

// bearerFront puts the distribution token protocol in front of a real
// registry: every request needs "Bearer" with a token the front's token
// service issued for the right scope; the token service takes user ci,
// password s3cret-pw (GET, Basic) or the identity token id-tok (POST,
// refresh_token grant).
type bearerFront struct {
	host       string // the registry as keyctl reaches it
	tokenCalls atomic.Int32
	mu         sync.Mutex
	issued     map[string]string // token → scope
	asked      [][]string        // the scopes of each token request
}

func startBearerFront(t *testing.T) *bearerFront {
	reg := ociregistry.Start(t, ociregistry.Options{})
	target, _ := url.Parse("http://" + reg.Host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	f := &bearerFront{issued: map[string]string{}}
	tokens := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.tokenCalls.Add(1)
		var scopes []string
		switch r.Method {
		case http.MethodGet:
			u, p, ok := r.BasicAuth()
			if !ok || u != "ci" || p != "s3cret-pw" {
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`, http.StatusUnauthorized)
				return
			}
			scopes = r.URL.Query()["scope"]
		case http.MethodPost:
			if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != "id-tok" {
				http.Error(w, "bad grant", http.StatusUnauthorized)
				return
			}
			scopes = strings.Fields(r.PostForm.Get("scope"))
		}
		if r.URL.Query().Get("service") != "test-registry" && r.PostForm.Get("service") != "test-registry" {
			http.Error(w, "bad service", http.StatusBadRequest)
			return
		}
		tok := "tok-" + base64.RawURLEncoding.EncodeToString([]byte(strings.Join(scopes, " ")))
		f.mu.Lock()
		f.asked = append(f.asked, scopes)
		f.issued[tok] = strings.Join(scopes, " ")
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			_, _ = w.Write([]byte(`{"access_token":"` + tok + `"}`))
		} else {
			_, _ = w.Write([]byte(`{"token":"` + tok + `"}`))
		}
	}))
	t.Cleanup(tokens.Close)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		repo, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/v2/"), "/manifests/")
		repo, _, _ = strings.Cut(repo, "/blobs/")
		repo, _, _ = strings.Cut(repo, "/tags/")
		need := "repository:" + repo + ":pull"
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			need = "repository:" + repo + ":pull,push"
		}
		if r.URL.Path == "/v2/_catalog" {
			need = "registry:catalog:*"
		}
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		granted, ok := f.issued[tok]
		f.mu.Unlock()
		if !ok || !strings.Contains(" "+granted+" ", " "+need+" ") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+tokens.URL+`/token",service="test-registry",scope="`+need+`"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	f.host = strings.TrimPrefix(front.URL, "http://")
	return f
}

func writeConfig(t *testing.T, js string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(js), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBearerTokenAuth: a registry behind the token protocol is read and
// written with a token got with the stored user name and password, or
// with an identity token; tokens are reused per scope; a wrong password
// fails with the login hint and no secret in the message.
func TestBearerTokenAuth(t *testing.T) {
	f := startBearerFront(t)
	ctx := context.Background()
	basic := writeConfig(t, `{"auths":{"`+f.host+`":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("ci:s3cret-pw"))+`"}}}`)
	identity := writeConfig(t, `{"auths":{"http://`+f.host+`/v1/":{"identitytoken":"id-tok"}}}`)
	for name, o := range map[string]Options{"basic": {HelmRegistryConfig: basic}, "identitytoken": {DockerConfig: identity}} {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, o)
			before := f.tokenCalls.Load()
			d := pushChart(t, c, f.host, "charts/"+name, "1.0.0", name, "1.0.0", []byte("archive"), []byte("prov"))
			ref, _ := ParseRef("oci://"+f.host+"/charts/"+name+"@"+d.Digest, false)
			ch, err := c.ResolveChart(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if a, err := c.FetchArchive(ctx, ch); err != nil || string(a) != "archive" {
				t.Fatalf("%q %v", a, err)
			}
			if tags, err := c.Tags(ctx, f.host, "charts/"+name); err != nil || len(tags) != 1 {
				t.Fatalf("%v %v", tags, err)
			}
			if names, ok, err := c.Charts(ctx, f.host, "charts"); err != nil || !ok || len(names) == 0 {
				t.Fatalf("catalog %v %v %v", names, ok, err)
			}
			// One token for push, one for pull, one for the catalog.
			if n := f.tokenCalls.Load() - before; n != 3 {
				t.Errorf("%d token requests: tokens are not reused", n)
			}
			// Each asked for the scope its request needed, and no other.
			f.mu.Lock()
			for _, a := range f.asked {
				if len(a) != 1 {
					t.Errorf("a token request asked for %q", a)
				}
			}
			f.asked = nil
			f.mu.Unlock()
		})
	}
	bad := newClient(t, Options{HelmRegistryConfig: writeConfig(t, `{"auths":{"`+f.host+`":{"username":"ci","password":"wrong-pw"}}}`)})
	_, err := bad.Tags(ctx, f.host, "charts/basic")
	if err == nil || strings.Contains(err.Error(), "wrong-pw") || !strings.Contains(strings.Join(fail.HintsOf(err), " "), "helm registry login") {
		t.Fatalf("wrong password: %v %v", err, fail.HintsOf(err))
	}
	anon := newClient(t, Options{})
	if _, err := anon.Tags(ctx, f.host, "charts/basic"); err == nil {
		t.Fatal("an anonymous token read a private repository")
	}
}

// TestNoCredentialsOverPlainHTTP: over HTTPS, a token service on plain
// HTTP, an upload location on plain HTTP and a redirect to plain HTTP
// are refused, and nothing secret reaches the plain HTTP server.
func TestNoCredentialsOverPlainHTTP(t *testing.T) {
	var leaked atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" || r.URL.Query().Get("refresh_token") != "" {
			leaked.Add(1)
		}
		_, _ = w.Write([]byte(`{"token":"t"}`))
	}))
	defer plain.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/tags/list"):
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+plain.URL+`/token",service="s"`)
			w.WriteHeader(http.StatusUnauthorized)
		case strings.HasSuffix(r.URL.Path, "/blobs/uploads/"):
			w.Header().Set("Location", plain.URL+"/upload")
			w.WriteHeader(http.StatusAccepted)
		case strings.Contains(r.URL.Path, "/blobs/"):
			http.Redirect(w, r, plain.URL+"/blob", http.StatusTemporaryRedirect)
		}
	}))
	defer tls.Close()
	host := strings.TrimPrefix(tls.URL, "https://")
	hc := tls.Client()
	hc.CheckRedirect = checkRedirect
	cfg := writeConfig(t, `{"auths":{"`+host+`":{"username":"ci","password":"pw"}}}`)
	client := func() *Client {
		c, err := New(Options{HTTPClient: hc, HelmRegistryConfig: cfg, DockerConfig: filepath.Join(t.TempDir(), "none")})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	if _, err := client().Tags(ctx, host, "charts/app"); err == nil || !strings.Contains(err.Error(), "plain HTTP") {
		t.Errorf("token service on plain HTTP: %v", err)
	}
	r, _ := client().repository(host, "charts/app")
	if err := r.pushBlob(ctx, DescriptorFor("x", []byte("x")), []byte("x")); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("upload location on plain HTTP: %v", err)
	}
	if _, err := r.fetchBlob(ctx, DescriptorFor("x", []byte("x")), 10); err == nil || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("redirect to plain HTTP: %v", err)
	}
	if n := leaked.Load(); n != 0 {
		t.Fatalf("%d requests reached the plain HTTP server with credentials", n)
	}
}

// TestChallengeParsing covers the WWW-Authenticate forms registries send.
func TestChallengeParsing(t *testing.T) {
	for in, want := range map[string]string{
		`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull"`: `bearer|https://auth.docker.io/token|registry.docker.io|repository:a/b:pull`,
		`Basic realm="keyctl-test"`:                        `basic|keyctl-test||`,
		`bearer Realm=https://h/t, Service=s`:              `bearer|https://h/t|s|`,
		`Bearer realm="https://h/t",scope="a b",error="x"`: `bearer|https://h/t||a b`,
		`Bearer realm="https://h/\"q\"",service="s"`:       `bearer|https://h/"q"|s|`,
		`Bearer realm="unterminated`:                       `error`,
		`Bearer realm`:                                     `error`,
		``:                                                 `error`,
		`Bearer realm="a" service="b"`:                     `error`,
		`Bearer realm="https://h/t",service="s", Basic realm="r"`: `bearer|https://h/t|s|`,
		`Bearer realm="https://h/t", Basic`:                       `error`,
	} {
		ch, err := parseChallenge(in)
		got := "error"
		if err == nil {
			got = ch.scheme + "|" + ch.params["realm"] + "|" + ch.params["service"] + "|" + ch.params["scope"]
		}
		if got != want {
			t.Errorf("parseChallenge(%q) = %q, want %q", in, got, want)
		}
	}
}
