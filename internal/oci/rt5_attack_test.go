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
