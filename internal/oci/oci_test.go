package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	hexpkg "encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/testutil/ociregistry"
)

func newClient(t *testing.T, o Options) *Client {
	t.Helper()
	o.PlainHTTP = true
	if o.HelmRegistryConfig == "" {
		o.HelmRegistryConfig = filepath.Join(t.TempDir(), "none.json")
	}
	if o.DockerConfig == "" {
		o.DockerConfig = filepath.Join(t.TempDir(), "none.json")
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pushChart pushes a chart as helm push lays it out.
func pushChart(t *testing.T, c *Client, host, repo, tag string, name, version string, archive, prov []byte) Descriptor {
	t.Helper()
	ctx := context.Background()
	r, err := c.repository(host, repo)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]string{"apiVersion": "v2", "name": name, "version": version})
	put := func(mt string, data []byte) Descriptor {
		d := DescriptorFor(mt, data)
		if err := r.pushBlob(ctx, d, data); err != nil {
			t.Fatal(err)
		}
		return d
	}
	m := Manifest{SchemaVersion: 2, MediaType: MediaTypeImageManifest,
		Config: put(MediaTypeHelmConfig, cfg), Layers: []Descriptor{put(MediaTypeHelmChart, archive)}}
	if prov != nil {
		m.Layers = append(m.Layers, put(MediaTypeHelmProv, prov))
	}
	data, _ := json.Marshal(m)
	d := DescriptorFor(MediaTypeImageManifest, data)
	if err := r.pushManifest(ctx, tag, d.MediaType, data); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestResolveChartRealRegistry(t *testing.T) {
	reg := ociregistry.Start(t, ociregistry.Options{})
	c := newClient(t, Options{})
	ctx := context.Background()
	d := pushChart(t, c, reg.Host, "charts/demo", "1.0.0", "demo", "1.0.0", []byte("archive"), []byte("prov"))
	for _, s := range []string{"oci://" + reg.Host + "/charts/demo:1.0.0", "oci://" + reg.Host + "/charts/demo@" + d.Digest} {
		ref, err := ParseRef(s, false)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := c.ResolveChart(ctx, ref)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		a, err := c.FetchArchive(ctx, ch)
		if err != nil || string(a) != "archive" {
			t.Fatalf("archive %q %v", a, err)
		}
		p, err := c.FetchProv(ctx, ch)
		if err != nil || string(p) != "prov" {
			t.Fatalf("prov %q %v", p, err)
		}
		cfg, err := c.FetchConfig(ctx, ch)
		if err != nil || cfg.Name != "demo" || cfg.Version != "1.0.0" {
			t.Fatalf("config %+v %v", cfg, err)
		}
	}
	tags, err := c.Tags(ctx, reg.Host, "charts/demo")
	if err != nil || len(tags) != 1 || tags[0] != "1.0.0" {
		t.Fatalf("tags %v %v", tags, err)
	}
	names, ok, err := c.Charts(ctx, reg.Host, "charts")
	if err != nil || !ok || len(names) != 1 || names[0] != "demo" {
		t.Fatalf("catalog %v %v %v", names, ok, err)
	}
	// A missing tag is a clear input error.
	ref, _ := ParseRef("oci://"+reg.Host+"/charts/demo:9.9.9", false)
	if _, err := c.ResolveChart(ctx, ref); err == nil || !strings.Contains(err.Error(), "no such chart") {
		t.Fatalf("missing tag: %v", err)
	}
}

func TestFetchSizeCap(t *testing.T) {
	reg := ociregistry.Start(t, ociregistry.Options{})
	c := newClient(t, Options{})
	pushChart(t, c, reg.Host, "charts/big", "1.0.0", "big", "1.0.0", []byte("a"), bytes.Repeat([]byte("p"), 1<<20+1))
	ref, _ := ParseRef("oci://"+reg.Host+"/charts/big:1.0.0", false)
	ch, err := c.ResolveChart(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchProv(context.Background(), ch); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("an oversized .prov layer was read: %v", err)
	}
}

func TestBasicAuthFromHelmAndDockerConfig(t *testing.T) {
	reg := ociregistry.Start(t, ociregistry.Options{User: "ci", Password: "s3cret-pw"})
	ctx := context.Background()
	cfg := func(user, pw string) string {
		p := filepath.Join(t.TempDir(), "config.json")
		js := `{"auths":{"` + reg.Host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte(user+":"+pw)) + `"}}}`
		if err := os.WriteFile(p, []byte(js), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Anonymous: refused, with a hint to log in, and no secret in the message.
	anon := newClient(t, Options{})
	_, err := anon.Tags(ctx, reg.Host, "charts/demo")
	if err == nil || !strings.Contains(strings.Join(fail.HintsOf(err), " "), "helm registry login") {
		t.Fatalf("anonymous: %v %v", err, fail.HintsOf(err))
	}
	for _, o := range []Options{{HelmRegistryConfig: cfg("ci", "s3cret-pw")}, {DockerConfig: cfg("ci", "s3cret-pw")}} {
		c := newClient(t, o)
		pushChart(t, c, reg.Host, "charts/demo", "1.0.0", "demo", "1.0.0", []byte("x"), nil)
		if _, err := c.Tags(ctx, reg.Host, "charts/demo"); err != nil {
			t.Fatalf("%+v: %v", o, err)
		}
	}
	bad := newClient(t, Options{HelmRegistryConfig: cfg("ci", "wrong-pw")})
	_, err = bad.Tags(ctx, reg.Host, "charts/demo")
	if err == nil || strings.Contains(err.Error(), "wrong-pw") || strings.Contains(err.Error(), base64.StdEncoding.EncodeToString([]byte("ci:wrong-pw"))) {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestSetPublishAndRead(t *testing.T) {
	reg := ociregistry.Start(t, ociregistry.Options{})
	c := newClient(t, Options{})
	ctx := context.Background()
	ns := "oci://" + reg.Host + "/charts"
	b, err := c.OpenSet(ns)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "m.json", 100); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("empty namespace: %v", err)
	}
	plan1 := publish.Plan{Version: 1,
		Blobs:   []publish.Object{{Name: "keyctl/sha256/aa", Data: []byte("blob1")}},
		Pointer: publish.Object{Name: "m.json", Data: []byte("manifest 1")},
		Files:   []publish.Object{{Name: "pubkeys.pgp", Data: []byte("keys 1")}}}
	if err := b.Publish(ctx, plan1); err != nil {
		t.Fatal(err)
	}
	sum := func(s string) []byte {
		h, _ := hexDecode(encoded(DigestOf([]byte(s))))
		return h
	}
	plan2 := publish.Plan{Version: 2, ExpectPrevious: sum("manifest 1"),
		Blobs:   []publish.Object{{Name: "keyctl/sha256/bb", Data: []byte("blob2")}},
		Pointer: publish.Object{Name: "m.json", Data: []byte("manifest 2")},
		Files:   []publish.Object{{Name: "pubkeys.pgp", Data: []byte("keys 2")}}}
	b2, _ := c.OpenSet(ns)
	if err := b2.Publish(ctx, plan2); err != nil {
		t.Fatal(err)
	}
	r, _ := c.OpenSet(ns)
	for name, want := range map[string]string{"m.json": "manifest 2", "pubkeys.pgp": "keys 2", "keyctl/sha256/aa": "blob1", "keyctl/sha256/bb": "blob2"} {
		got, err := r.Get(ctx, name, 100)
		if err != nil || string(got) != want {
			t.Fatalf("%s: %q %v", name, got, err)
		}
	}
	if _, err := r.Get(ctx, "m.json", 3); err == nil {
		t.Fatal("the size limit was not applied")
	}
	// Both versions are tagged; v1 still serves version 1.
	set, _ := c.Set(ns)
	rr, _ := c.repository(reg.Host, set.repoName())
	_, m1, err := set.readTag(ctx, rr, VersionTag(1))
	if err != nil || m1 == nil || m1.version != 1 {
		t.Fatalf("v1: %+v %v", m1, err)
	}
	// A publish built on version 1 now conflicts, and changes nothing.
	b3, _ := c.OpenSet(ns)
	stale := plan2
	stale.Pointer.Data = []byte("manifest 2 bis")
	stale.ExpectPrevious = sum("manifest 1")
	err = b3.Publish(ctx, stale)
	var ce *publish.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("stale publish: %v", err)
	}
	r2, _ := c.OpenSet(ns)
	if got, _ := r2.Get(ctx, "m.json", 100); string(got) != "manifest 2" {
		t.Fatalf("a conflicting publish changed the live set: %q", got)
	}
	// A content-addressed object with other bytes is refused as tampering.
	b4, _ := c.OpenSet(ns)
	evil := publish.Plan{Version: 3, ExpectPrevious: sum("manifest 2"),
		Blobs:   []publish.Object{{Name: "keyctl/sha256/aa", Data: []byte("other")}},
		Pointer: publish.Object{Name: "m.json", Data: []byte("manifest 3")}}
	if err := b4.Publish(ctx, evil); fail.KindOf(err) != fail.Security {
		t.Fatalf("changed content-addressed object: %v", err)
	}
}

func hexDecode(s string) ([]byte, error) { return hexpkg.DecodeString(s) }

// TestSetPublishRefusesMovedCurrent: another publish moves `current`
// while this one uploads; this one must not tag over it, and says so.
func TestSetPublishRefusesMovedCurrent(t *testing.T) {
	for _, step := range []string{"3", "4"} {
		t.Run("step"+step, func(t *testing.T) { testMovedCurrent(t, step) })
	}
}

func testMovedCurrent(t *testing.T, step string) {
	reg := ociregistry.Start(t, ociregistry.Options{})
	c := newClient(t, Options{})
	ctx := context.Background()
	ns := "oci://" + reg.Host + "/team"
	first, _ := c.OpenSet(ns)
	if err := first.Publish(ctx, publish.Plan{Version: 1, Pointer: publish.Object{Name: "m.json", Data: []byte("manifest 1")}}); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte("manifest 1"))
	ours, _ := c.Set(ns)
	ours.hook = func(at string) {
		if at != step {
			return
		}
		other, _ := c.OpenSet(ns)
		if err := other.Publish(ctx, publish.Plan{Version: 2, ExpectPrevious: h[:], Pointer: publish.Object{Name: "m.json", Data: []byte("manifest 2, theirs")}}); err != nil {
			t.Fatal(err)
		}
	}
	err := publish.OpenRemote(ours).Publish(ctx, publish.Plan{Version: 2, ExpectPrevious: h[:], Pointer: publish.Object{Name: "m.json", Data: []byte("manifest 2, ours")}})
	var ce *publish.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("publish over a moved current: %v", err)
	}
	r, _ := c.OpenSet(ns)
	if got, _ := r.Get(ctx, "m.json", 100); string(got) != "manifest 2, theirs" {
		t.Fatalf("current is %q, want the other publisher's", got)
	}
	// And v2 names theirs: ours never went live.
	set, _ := c.Set(ns)
	rr, _ := c.repository(reg.Host, set.repoName())
	_, m2, err := set.readTag(ctx, rr, VersionTag(2))
	if err != nil || m2 == nil {
		t.Fatal(err)
	}
	d := m2.layers["m.json"]
	if d.Digest != DigestOf([]byte("manifest 2, theirs")) {
		t.Fatalf("v2 names %s, not the live set", d.Digest)
	}
}

func TestParseNamespaceAndRef(t *testing.T) {
	for in, want := range map[string]string{
		"oci://h.example:5000/charts":    "h.example:5000|charts",
		"oci://h.example/charts/team/":   "h.example|charts/team",
		"oci://h.example":                "h.example|",
		"oci://127.0.0.1:5000":           "127.0.0.1:5000|",
		"oci://h.example/charts:1.0":     "error",
		"oci://h.example/a@sha256:00":    "error",
		"oci://h.example/Charts":         "error",
		"https://h.example/charts":       "error",
		"oci://h.example/charts?x=1":     "error",
		"oci://user:pw@h.example/charts": "error",
	} {
		host, path, err := ParseNamespace(in)
		got := host + "|" + path
		if err != nil {
			got = "error"
		}
		if got != want {
			t.Errorf("ParseNamespace(%q) = %q, want %q", in, got, want)
		}
	}
	r, err := ParseRef("oci://h.example:5000/charts/team/app:1.2.0_b1", false)
	if err != nil || r.Host != "h.example:5000" || r.Repository != "charts/team/app" || r.Tag != "1.2.0_b1" || r.Name() != "app" || r.Namespace() != "oci://h.example:5000/charts/team" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{"oci://h.example/app", "oci://h.example/app:1@sha256:" + strings.Repeat("0", 64), "oci://h.example:1.0", "oci://h.example/app@sha512:" + strings.Repeat("0", 128)} {
		if _, err := ParseRef(bad, false); err == nil {
			t.Errorf("ParseRef(%q) accepted", bad)
		}
	}
}

// TestHungRegistryTimesOut: a registry that accepts the connection and
// never answers cannot hang verify or audit.
func TestHungRegistryTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, Options{Timeout: 300 * time.Millisecond})
	ref, _ := ParseRef("oci://"+strings.TrimPrefix(srv.URL, "http://")+"/charts/app:1.0.0", false)
	start := time.Now()
	_, err := c.ResolveChart(context.Background(), ref)
	if err == nil {
		t.Fatal("a hung registry answered")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("gave up after %s", d)
	}
}

func TestLatest(t *testing.T) {
	for want, tags := range map[string][]string{
		"1.10.0":        {"1.2.0", "1.10.0", "1.9.9", "stable", "2.0.0-rc.1", "latest"},
		"v2.0.0":        {"v2.0.0", "1.0.0"},
		"1.0.0+build.2": {"1.0.0_build.2", "0.9.0"},
		"":              {"stable", "2.0.0-rc.1", "main"},
	} {
		if got := Latest(tags); got != want {
			t.Errorf("Latest(%v) = %q, want %q", tags, got, want)
		}
	}
}

// TestFlakyRegistry: a registry that answers 503 to the first try of every
// read (GET, HEAD) is ridden out by the retries, for publish (which reads
// `current`, tags and blobs) and for reads.
func TestFlakyRegistry(t *testing.T) {
	reg := ociregistry.Start(t, ociregistry.Options{})
	target, _ := url.Parse("http://" + reg.Host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	seen := map[string]bool{}
	failed := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + r.URL.String()
		mu.Lock()
		first := !seen[key] && (r.Method == http.MethodGet || r.Method == http.MethodHead)
		seen[key] = true
		if first {
			failed++
		}
		mu.Unlock()
		if first {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ociregistry.PushChart(t, reg.Host, "charts/app", "1.0.0", "app", "1.0.0", []byte("archive"), []byte("prov"))
	c := newClient(t, Options{})
	ctx := context.Background()
	ref, _ := ParseRef("oci://"+host+"/charts/app:1.0.0", false)
	ch, err := c.ResolveChart(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := c.FetchArchive(ctx, ch); err != nil || string(a) != "archive" {
		t.Fatalf("%q %v", a, err)
	}
	b, _ := c.OpenSet("oci://" + host + "/charts")
	if err := b.Publish(ctx, publish.Plan{Version: 1, Pointer: publish.Object{Name: "m.json", Data: []byte("manifest 1")},
		Files: []publish.Object{{Name: "pubkeys.pgp", Data: []byte("keys")}}}); err != nil {
		t.Fatal(err)
	}
	r, _ := c.OpenSet("oci://" + host + "/charts")
	if got, err := r.Get(ctx, "pubkeys.pgp", 100); err != nil || string(got) != "keys" {
		t.Fatalf("%q %v", got, err)
	}
	if failed < 5 {
		t.Fatalf("only %d requests failed: the test did not exercise the retries", failed)
	}
}
