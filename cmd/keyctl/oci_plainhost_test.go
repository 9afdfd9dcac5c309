package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestRegistryPlainHTTPIsPerHost: a repository added with --plain-http
// (plain_http: true) is still reached over plain HTTP without the flag:
// its own registry host is plain HTTP (the other half of
// TestAttackPlainHTTPOfOneRepoAppliesToEveryRegistry, where another
// host stays HTTPS).
func TestRegistryPlainHTTPIsPerHost(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer local.Close()
	host := strings.TrimPrefix(local.URL, "http://")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(`repositories:
  - name: local
    url: oci://`+host+`/test
    root_set: sha256:`+strings.Repeat("ab", 32)+`
    plain_http: true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", filepath.Join(dir, "docker"))
	t.Setenv("HELM_REGISTRY_CONFIG", filepath.Join(dir, "none.json"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	var out, errb bytes.Buffer
	code := run([]string{"--config", cfg, "verify", "oci://" + host + "/test/app:1.0.0", "--repo", "local"},
		strings.NewReader(""), &out, &errb)
	t.Logf("exit %d\n%s%s", code, out.String(), errb.String())
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatalf("the registry of repository local (plain_http: true) was not reached over plain HTTP: %s", errb.String())
	}
}
