package revoke

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/keyctl/keyctl/internal/testutil/ociregistry"
)

// TestAuditLyingManifestDigestIsInvalid: a registry whose answer for a
// tag names another digest (Docker-Content-Digest) than the manifest
// bytes it serves is refused as untrusted by ResolveChart (as verify
// refuses it); audit files that release `invalid`, on the re-sign
// worklist, not `unreachable` (the rule of
// TestAttackAuditCallsTamperedProvLayerUnreachable, for the manifest).
func TestAuditLyingManifestDigestIsInvalid(t *testing.T) {
	reg := ociregistry.Start(t, ociregistry.Options{})
	r := buildRepo(t, 2, 0)
	ks := r.keySet(t, nil)
	pushRepo(t, reg.Host, r)
	var rel release
	for _, x := range r.releases {
		if r.want(x) == Trusted {
			rel = x
			break
		}
	}
	if rel.chart == "" {
		t.Fatal("no trusted release")
	}
	target, _ := url.Parse("http://" + reg.Host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if strings.HasSuffix(resp.Request.URL.Path, "/"+rel.chart+"/manifests/"+rel.version) {
			resp.Header.Set("Docker-Content-Digest", "sha256:"+strings.Repeat("0", 64))
		}
		return nil
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	ns := "oci://" + strings.TrimPrefix(srv.URL, "http://") + "/ns"
	c := ociClient(t)
	rep := audit(t, ns, ks, func(o *Options) { o.Registry = c })
	res := byKey(rep)[rel.key()]
	if res.Status != Invalid {
		t.Fatalf("%s %s with a manifest that is not the digest the registry names: %s (%s), want invalid", rel.chart, rel.version, res.Status, res.Detail)
	}
	inWork := false
	for _, w := range rep.Worklist {
		inWork = inWork || (w.Chart == rel.chart && w.Version == rel.version)
	}
	if !inWork {
		t.Error("the release is not on the re-sign worklist")
	}
}
