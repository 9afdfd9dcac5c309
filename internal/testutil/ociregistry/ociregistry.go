// Package ociregistry starts the real OCI registry (distribution's
// cmd/registry, a peer: see internal/testutil/peers) on 127.0.0.1 for a
// test, with filesystem storage in a temporary folder and, on request,
// htpasswd basic auth. It is stopped when the test ends.
package ociregistry

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/keyctl/keyctl/internal/testutil/peers"
)

// Options for Start.
type Options struct {
	// User and Password, when set, turn on htpasswd basic auth.
	User, Password string
}

// Registry is a running registry.
type Registry struct {
	Host string // 127.0.0.1:PORT
	Dir  string // its storage
}

// Start runs a registry for t.
func Start(t testing.TB, o Options) *Registry {
	t.Helper()
	bin := peers.Registry(t)
	dir := t.TempDir()
	port := freePort(t)
	auth := ""
	if o.User != "" {
		h, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		pw := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(pw, []byte(o.User+":"+string(h)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: keyctl-test\n    path: %s\n", pw)
	}
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:%d
  secret: keyctl-test
%s`, filepath.Join(dir, "data"), port, auth)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the registry: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
	})
	host := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("the registry did not answer on %s within 20s: %v\n%s", host, err, strings.TrimSpace(string(log)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &Registry{Host: host, Dir: dir}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Descriptor is an OCI descriptor: what a test needs of one.
type Descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

type manifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

const mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"

func describe(mt string, data []byte) Descriptor {
	h := sha256.Sum256(data)
	return Descriptor{MediaType: mt, Digest: "sha256:" + hex.EncodeToString(h[:]), Size: int64(len(data))}
}

// call makes one anonymous plain-HTTP request of the distribution API
// (these registries run without auth unless a test asked for it, and
// then the test pushes through internal/oci) and returns the answer's
// headers and body; any status but want fails t.
func call(t testing.TB, method, u, contentType string, body []byte, want int) (http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", mediaTypeManifest)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s: %s", method, u, resp.Status, data)
	}
	return resp.Header, data
}

// pushBlob uploads data to HOST/REPO unless it is there.
func pushBlob(t testing.TB, host, repo string, d Descriptor, data []byte) {
	t.Helper()
	base := "http://" + host + "/v2/" + repo + "/blobs/"
	req, _ := http.NewRequest(http.MethodHead, base+d.Digest, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
	}
	h, _ := call(t, http.MethodPost, base+"uploads/", "", nil, http.StatusAccepted)
	loc, err := url.Parse("http://" + host + "/")
	if err != nil {
		t.Fatal(err)
	}
	if loc, err = loc.Parse(h.Get("Location")); err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	q.Set("digest", d.Digest)
	loc.RawQuery = q.Encode()
	call(t, http.MethodPut, loc.String(), "application/octet-stream", data, http.StatusCreated)
}

// PushChart pushes a chart to HOST/REPO:TAG over plain HTTP as helm push
// lays it out: Helm's config (name and version), the chart layer and, when
// prov is not nil, the provenance layer. It returns the manifest digest
// and the chart layer's descriptor.
func PushChart(t testing.TB, host, repo, tag, name, version string, archive, prov []byte) (string, Descriptor) {
	t.Helper()
	cfg, _ := json.Marshal(map[string]string{"apiVersion": "v2", "name": name, "version": version})
	put := func(mt string, data []byte) Descriptor {
		d := describe(mt, data)
		pushBlob(t, host, repo, d, data)
		return d
	}
	m := manifest{SchemaVersion: 2, MediaType: mediaTypeManifest,
		Config: put("application/vnd.cncf.helm.config.v1+json", cfg),
		Layers: []Descriptor{put("application/vnd.cncf.helm.chart.content.v1.tar+gzip", archive)}}
	if prov != nil {
		m.Layers = append(m.Layers, put("application/vnd.cncf.helm.chart.provenance.v1.prov", prov))
	}
	data, _ := json.Marshal(m)
	call(t, http.MethodPut, "http://"+host+"/v2/"+repo+"/manifests/"+tag, mediaTypeManifest, data, http.StatusCreated)
	return describe(mediaTypeManifest, data).Digest, m.Layers[0]
}

// DeleteBlob removes a blob from HOST/REPO (the registry runs with
// deletes enabled): a layer that can no longer be fetched.
func DeleteBlob(t testing.TB, host, repo string, d Descriptor) {
	t.Helper()
	call(t, http.MethodDelete, "http://"+host+"/v2/"+repo+"/blobs/"+d.Digest, "", nil, http.StatusAccepted)
}

// Copy points HOST/REPO2:TAG at the image manifest HOST/REPO:REF names,
// copying its blobs when the repositories differ, as a registry user with
// push rights can (a re-tag, a copy to another repository, a rollback).
// Both references are HOST/REPO:REF over plain HTTP.
func Copy(t testing.TB, src, dst string) {
	t.Helper()
	split := func(ref string) (host, repo, tag string) {
		host, rest, ok := strings.Cut(ref, "/")
		i := strings.LastIndex(rest, ":")
		if !ok || i < 0 {
			t.Fatalf("%q is not HOST/REPO:REF", ref)
		}
		return host, rest[:i], rest[i+1:]
	}
	sh, sr, stag := split(src)
	dh, dr, dtag := split(dst)
	h, data := call(t, http.MethodGet, "http://"+sh+"/v2/"+sr+"/manifests/"+stag, "", nil, http.StatusOK)
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	if sh != dh || sr != dr {
		for _, d := range append([]Descriptor{m.Config}, m.Layers...) {
			_, blob := call(t, http.MethodGet, "http://"+sh+"/v2/"+sr+"/blobs/"+d.Digest, "", nil, http.StatusOK)
			pushBlob(t, dh, dr, d, blob)
		}
	}
	call(t, http.MethodPut, "http://"+dh+"/v2/"+dr+"/manifests/"+dtag, h.Get("Content-Type"), data, http.StatusCreated)
}
