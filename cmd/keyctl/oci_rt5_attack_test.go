package main

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestAttackPlainHTTPOfOneRepoAppliesToEveryRegistry: a repository added
// with `keyctl repo add --plain-http` (a local test registry) makes the
// registry client plain HTTP for every host of the command. Verifying a
// chart of another registry with --repo naming that repository then talks
// plain HTTP to that other registry and, when it (or anyone on the path)
// asks with a 401, sends its stored credentials in clear. docs/verify.md:
// "Credentials are never sent over plain HTTP unless --plain-http was
// given"; `plain_http: true` is recorded for one repository's registry,
// not for the chart's. The chart's registry must be reached over HTTPS
// (plain HTTP only for the host that was added with --plain-http).
func TestAttackPlainHTTPOfOneRepoAppliesToEveryRegistry(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	// The chart's registry, as reached over plain HTTP (port 80 of a
	// real registry host: whoever answers there, or sniffs the path).
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" auth="+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer other.Close()
	otherHost := strings.TrimPrefix(other.URL, "http://")

	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(`repositories:
  - name: local
    url: oci://127.0.0.1:1/test
    root_set: sha256:`+strings.Repeat("ab", 32)+`
    plain_http: true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	docker := filepath.Join(dir, "docker")
	if err := os.MkdirAll(docker, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(docker, "config.json"), []byte(`{"auths":{"`+otherHost+`":{"auth":"`+
		base64.StdEncoding.EncodeToString([]byte("ci:registry-secret"))+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", docker)
	t.Setenv("HELM_REGISTRY_CONFIG", filepath.Join(dir, "none.json"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))

	var out, errb bytes.Buffer
	code := run([]string{"--config", cfg, "verify", "oci://" + otherHost + "/charts/app:1.0.0", "--repo", "local"},
		strings.NewReader(""), &out, &errb)
	t.Logf("exit %d\n%s%s", code, out.String(), errb.String())

	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 0 {
		t.Fatalf("without --plain-http, keyctl talked plain HTTP to %s (plain_http belongs to repository local's registry): %q", otherHost, seen)
	}
}
