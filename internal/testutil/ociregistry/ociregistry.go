// Package ociregistry starts the real OCI registry (distribution's
// cmd/registry, a peer: see internal/testutil/peers) on 127.0.0.1 for a
// test, with filesystem storage in a temporary folder and, on request,
// htpasswd basic auth. It is stopped when the test ends.
package ociregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/bcrypt"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"

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

// PushChart pushes a chart to HOST/REPO:TAG over plain HTTP as helm push
// lays it out: Helm's config (name and version), the chart layer and, when
// prov is not nil, the provenance layer. It returns the manifest digest
// and the chart layer's descriptor.
func PushChart(t testing.TB, host, repo, tag, name, version string, archive, prov []byte) (manifest string, chart ocispec.Descriptor) {
	t.Helper()
	ctx := context.Background()
	r, err := remote.NewRepository(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	cfg, _ := json.Marshal(map[string]string{"apiVersion": "v2", "name": name, "version": version})
	put := func(mt string, data []byte) ocispec.Descriptor {
		d := content.NewDescriptorFromBytes(mt, data)
		if ok, err := r.Blobs().Exists(ctx, d); err != nil {
			t.Fatal(err)
		} else if !ok {
			if err := r.Blobs().Push(ctx, d, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest,
		Config: put("application/vnd.cncf.helm.config.v1+json", cfg),
		Layers: []ocispec.Descriptor{put("application/vnd.cncf.helm.chart.content.v1.tar+gzip", archive)}}
	if prov != nil {
		m.Layers = append(m.Layers, put("application/vnd.cncf.helm.chart.provenance.v1.prov", prov))
	}
	data, _ := json.Marshal(m)
	d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, data)
	if err := r.Manifests().PushReference(ctx, d, bytes.NewReader(data), tag); err != nil {
		t.Fatal(err)
	}
	return string(d.Digest), m.Layers[0]
}

// DeleteBlob removes a blob from HOST/REPO (the registry runs with
// deletes enabled): a layer that can no longer be fetched.
func DeleteBlob(t testing.TB, host, repo string, d ocispec.Descriptor) {
	t.Helper()
	r, err := remote.NewRepository(host + "/" + repo)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	if err := r.Blobs().Delete(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}
