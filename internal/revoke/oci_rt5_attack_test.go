package revoke

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/keyctl/keyctl/internal/testutil/ociregistry"
)

// TestAttackAuditCallsTamperedProvLayerUnreachable: the registry host
// serves, for one release, a provenance layer whose bytes are not the
// digest its manifest names (a swapped or altered .prov). keyctl verify
// refuses that chart as untrusted ("does not match its digest ... do not
// use this chart"); audit files it as `unreachable` ("could not be
// fetched", docs/json.md), which is left out of the re-sign worklist and
// reads as an outage, not tampering. The archive layer gets the right
// treatment (oci.go: an Untrusted fetch error is Invalid); the .prov layer
// does not. Audit and verify must agree: tampered bytes are not an outage.
func TestAttackAuditCallsTamperedProvLayerUnreachable(t *testing.T) {
	reg := ociregistry.Start(t, ociregistry.Options{})
	r := buildRepo(t, 3, 0)
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
	sum := sha256.Sum256(mustRead(t, r, rel, ".prov"))
	provPath := "/blobs/sha256:" + hex.EncodeToString(sum[:])

	target, _ := url.Parse("http://" + reg.Host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, provPath) {
			_, _ = w.Write([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nnot the bytes the manifest names\n"))
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	ns := "oci://" + strings.TrimPrefix(srv.URL, "http://") + "/ns"
	c := ociClient(t)
	for _, provOnly := range []bool{false, true} {
		rep := audit(t, ns, ks, func(o *Options) { o.Registry, o.ProvOnly = c, provOnly })
		res := byKey(rep)[rel.key()]
		if res.Status == Unreachable || res.Status == Trusted {
			t.Errorf("prov-only %v: %s %s with a .prov layer that does not match its digest: %s (%s); verify says untrusted",
				provOnly, rel.chart, rel.version, res.Status, res.Detail)
		}
		inWork := false
		for _, w := range rep.Worklist {
			if w.Chart == rel.chart && w.Version == rel.version {
				inWork = true
			}
		}
		if !inWork {
			t.Errorf("prov-only %v: the tampered release is not on the re-sign worklist", provOnly)
		}
	}
}
