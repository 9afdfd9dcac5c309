package oci

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestAttackUploadLocationSpendsOtherHostsCredentials: the registry being
// published to (attacker: the registry host) answers the upload POST with
// a Location on another registry host the user is logged in to. keyctl
// PUTs the blob there and, when that host asks, authenticates with that
// host's stored credentials: the attacker makes the publisher spend its
// credentials for a registry it never named (a write into it with the
// user's push rights). docs/verify.md: credentials are used "per registry
// host, and only when the registry asks"; the Link rule already keeps
// listings on the registry's host. An upload location must stay on the
// registry's host, or at least carry no credentials of another host.
func TestAttackUploadLocationSpendsOtherHostsCredentials(t *testing.T) {
	var mu sync.Mutex
	var victimAuth []string
	victim := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			mu.Lock()
			victimAuth = append(victimAuth, r.Method+" "+r.URL.Path+" "+a)
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="victim"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer victim.Close()
	victimHost := strings.TrimPrefix(victim.URL, "http://")

	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") {
			// The victim registry's own upload endpoint, in a repository
			// of the attacker's choosing.
			w.Header().Set("Location", victim.URL+"/v2/victim/prod/blobs/uploads/session")
			w.WriteHeader(http.StatusAccepted)
			return
		}
		http.NotFound(w, r)
	}))
	defer attacker.Close()
	attackerHost := strings.TrimPrefix(attacker.URL, "http://")

	// The user is logged in to the victim registry only.
	cfg := writeConfig(t, `{"auths":{"`+victimHost+`":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("alice:victim-pw"))+`"}}}`)
	c := newClient(t, Options{HelmRegistryConfig: cfg})
	r, err := c.repository(attackerHost, "team/charts/keyctl")
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("published object")
	_ = r.pushBlob(context.Background(), DescriptorFor("application/json", data), data)

	mu.Lock()
	defer mu.Unlock()
	if len(victimAuth) > 0 {
		t.Fatalf("publishing to %s sent the stored credentials of %s to %s: %q", attackerHost, victimHost, victimHost, victimAuth)
	}
}

// TestAttackRedirectTargetChallengeGetsRegistryCredentials: the registry
// redirects a layer download to its storage on another host (a CDN,
// docs/verify.md: followed because every byte is checked against its
// digest, so that host need not be trusted). The storage host (attacker:
// a host the registry redirects to, serving whatever headers it likes)
// answers 401 with its own Bearer challenge. keyctl takes that challenge
// as the registry's and asks the storage host's token service for a token
// with the user's stored credentials for the registry. Go drops the
// Authorization header when a redirect leaves the host (client.go), and
// credentials are "per registry host, and only when the registry asks":
// a challenge must be honoured only from the registry's own host.
func TestAttackRedirectTargetChallengeGetsRegistryCredentials(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a := r.Header.Get("Authorization"); a != "" {
			mu.Lock()
			leaked = append(leaked, r.Method+" "+r.URL.Path+" "+a)
			mu.Unlock()
		}
		if r.URL.Path == "/token" {
			_, _ = w.Write([]byte(`{"token":"cdn-token"}`))
			return
		}
		// A host name other than the registry's (Go keeps Authorization
		// on a redirect to the same host name).
		w.Header().Set("WWW-Authenticate", `Bearer realm="http://localhost:`+portOf(r.Host)+`/token",service="cdn"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer storage.Close()
	storageLocal := strings.Replace(storage.URL, "127.0.0.1", "localhost", 1)

	registry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/") {
			// Anonymous pulls are allowed; layers live on the storage host.
			http.Redirect(w, r, storageLocal+"/bucket/blob", http.StatusTemporaryRedirect)
			return
		}
		http.NotFound(w, r)
	}))
	defer registry.Close()
	host := strings.TrimPrefix(registry.URL, "http://")

	// The user is logged in to the registry (a public chart, a private
	// login: ghcr.io and a personal access token, say).
	cfg := writeConfig(t, `{"auths":{"`+host+`":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("alice:registry-pat"))+`"}}}`)
	c := newClient(t, Options{HelmRegistryConfig: cfg})
	r, err := c.repository(host, "charts/app")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = r.fetchBlob(context.Background(), DescriptorFor("x", []byte("x")), 10)

	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Fatalf("the storage host the registry redirected to received the registry's credentials: %q", leaked)
	}
}

func portOf(hostport string) string {
	i := strings.LastIndex(hostport, ":")
	return hostport[i+1:]
}
