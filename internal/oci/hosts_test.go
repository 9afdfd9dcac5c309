package oci

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyctl/keyctl/internal/fail"
)

// Credentials and plain HTTP are per registry host (doc.go, "Registry
// access"): these tests pin the rules the rt5 findings asked for, beyond
// the attack tests themselves.

// TestRedirectTargetChallengeIsAnError: a 401 from a host the registry
// redirected to is an error that names that host, with a hint; nothing
// is sent to it with credentials, and its challenge is not remembered as
// the registry's.
func TestRedirectTargetChallengeIsAnError(t *testing.T) {
	var mu sync.Mutex
	var storageAuth []string
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		storageAuth = append(storageAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="storage"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer storage.Close()
	storageLocal := strings.Replace(storage.URL, "127.0.0.1", "localhost", 1)
	registry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, storageLocal+"/blob", http.StatusTemporaryRedirect)
	}))
	defer registry.Close()
	host := strings.TrimPrefix(registry.URL, "http://")
	cfg := writeConfig(t, `{"auths":{"`+host+`":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("alice:pw"))+`"}}}`)
	c := newClient(t, Options{HelmRegistryConfig: cfg})
	ch := &Chart{Ref: Ref{Host: host, Repository: "charts/app", Tag: "1.0.0"},
		Manifest: &ChartManifest{Chart: DescriptorFor(MediaTypeHelmChart, []byte("x"))}}
	_, err := c.FetchArchive(context.Background(), ch)
	var ra *RedirectAuthError
	if !errors.As(err, &ra) || ra.Host != strings.TrimPrefix(storageLocal, "http://") || ra.Registry != host {
		t.Fatalf("a 401 from the redirect target: %v", err)
	}
	if !strings.Contains(err.Error(), strings.TrimPrefix(storageLocal, "http://")) ||
		!strings.Contains(strings.Join(fail.HintsOf(err), " "), "never to a host it redirects to") {
		t.Errorf("the error does not name the host or say what to do: %v %v", err, fail.HintsOf(err))
	}
	c.mu.Lock()
	_, remembered := c.challenges[host]
	c.mu.Unlock()
	if remembered {
		t.Error("the storage host's challenge was remembered as the registry's")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range storageAuth {
		if a != "" {
			t.Fatalf("the storage host received credentials: %q", storageAuth)
		}
	}
}

// TestRedirectDropsAuthorizationOnOtherPort: Go keeps the Authorization
// header on a redirect to the same host name on another port; keyctl
// drops it (checkRedirect): credentials go to the registry's host[:port]
// only.
func TestRedirectDropsAuthorizationOnOtherPort(t *testing.T) {
	var mu sync.Mutex
	var storageAuth []string
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		storageAuth = append(storageAuth, r.Header.Get("Authorization"))
		mu.Unlock()
		_, _ = w.Write([]byte("x"))
	}))
	defer storage.Close()
	registry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, storage.URL+"/blob", http.StatusTemporaryRedirect) // 127.0.0.1, another port
	}))
	defer registry.Close()
	host := strings.TrimPrefix(registry.URL, "http://")
	cfg := writeConfig(t, `{"auths":{"`+host+`":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("alice:pw"))+`"}}}`)
	c := newClient(t, Options{HelmRegistryConfig: cfg})
	r, _ := c.repository(host, "charts/app")
	if _, err := r.fetchBlob(context.Background(), DescriptorFor("x", []byte("x")), 10); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(storageAuth) == 0 {
		t.Fatal("the redirect was not followed")
	}
	for _, a := range storageAuth {
		if a != "" {
			t.Fatalf("the registry's credentials followed a redirect to another port: %q", storageAuth)
		}
	}
}

// TestUploadLocationStaysOnRegistryHost: an upload Location is resolved
// against the registry's URL and must name its scheme and host.
func TestUploadLocationStaysOnRegistryHost(t *testing.T) {
	base, _ := url.Parse("https://reg.example:5000/v2/charts/keyctl/blobs/uploads/")
	for loc, ok := range map[string]bool{
		"/v2/charts/keyctl/blobs/uploads/abc":                         true,
		"https://reg.example:5000/v2/charts/keyctl/blobs/uploads/abc": true,
		"https://REG.example:5000/v2/charts/keyctl/blobs/uploads/abc": true,
		"abc?state=x": true,
		"https://other.example/v2/charts/keyctl/blobs/uploads/abc":     false,
		"https://reg.example:5001/v2/charts/keyctl/blobs/uploads/abc":  false,
		"https://reg.example/v2/charts/keyctl/blobs/uploads/abc":       false,
		"http://reg.example:5000/v2/charts/keyctl/blobs/uploads/abc":   false,
		"https://u:p@reg.example:5000/v2/charts/keyctl/blobs/uploads/": false,
		"": false,
	} {
		u, err := uploadLocation(base, loc)
		if (err == nil) != ok {
			t.Errorf("uploadLocation(%q) = %v, %v", loc, u, err)
		}
	}
	_, err := uploadLocation(base, "https://other.example/upload")
	if !errors.Is(err, errUploadElsewhere) || !strings.Contains(err.Error(), "other.example") {
		t.Errorf("another host: %v", err)
	}
	c := newClient(t, Options{})
	if h := strings.Join(fail.HintsOf(c.wrap(err, "reg.example:5000", "upload x")), " "); !strings.Contains(h, "uploads only to the registry") {
		t.Errorf("hint: %q", h)
	}
}

// TestPlainHTTPPerHost: PlainHTTPHosts makes those hosts plain HTTP and
// no other: the scheme, credentials over HTTP and an HTTP token service
// are allowed for them only.
func TestPlainHTTPPerHost(t *testing.T) {
	c, err := New(Options{PlainHTTPHosts: []string{"LocalHost:5000", "docker.io"},
		HelmRegistryConfig: filepath.Join(t.TempDir(), "none"), DockerConfig: filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{
		"localhost:5000":       "http://localhost:5000/v2/",
		"localhost:5001":       "https://localhost:5001/v2/",
		"ghcr.io":              "https://ghcr.io/v2/",
		"docker.io":            "http://registry-1.docker.io/v2/",
		"registry-1.docker.io": "http://registry-1.docker.io/v2/",
	} {
		if got := c.baseURL(host).String(); got != want {
			t.Errorf("baseURL(%s) = %s, want %s", host, got, want)
		}
	}
	if err := c.mayCarryCredentials(&url.URL{Scheme: "http", Host: "localhost:5000"}); err != nil {
		t.Errorf("credentials to the plain HTTP host: %v", err)
	}
	if err := c.mayCarryCredentials(&url.URL{Scheme: "http", Host: "ghcr.io"}); err == nil {
		t.Error("credentials over plain HTTP to a host not named plain")
	}
	if _, err := c.checkRealm("http://localhost:5001/token", "localhost:5000"); err != nil {
		t.Errorf("a plain HTTP token service of the plain HTTP registry: %v", err)
	}
	if _, err := c.checkRealm("http://localhost:5000/token", "ghcr.io"); err == nil {
		t.Error("a plain HTTP token service of an HTTPS registry")
	}
	all, err := New(Options{PlainHTTP: true,
		HelmRegistryConfig: filepath.Join(t.TempDir(), "none"), DockerConfig: filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	if got := all.baseURL("ghcr.io").Scheme; got != "http" {
		t.Errorf("PlainHTTP: %s", got)
	}
}
