package revoke

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/oci"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/testutil/charts"
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

// TestAttackVerifyAndAuditDisagreeOnUnderscoreVersion: a maintainer (one
// maintainer key, within its scope) signs chart app version "1.0.0_1" (not
// SemVer, but nothing in keyctl refuses it) and pushes it under the tag
// "1.0.0_1". keyctl verify oci://HOST/ns/app:1.0.0_1 trusts it
// (CheckOCIArchive accepts a tag equal to the version as well as Helm's
// '_' for '+'), while audit reads the tag as version "1.0.0+1" and calls
// the same release chart-mismatch. docs/verify.md: one engine for verify
// and audit; the tag rule is "the archive's version must be the tag (Helm
// writes SemVer's + as _)". Both must read a tag the same way.
func TestAttackVerifyAndAuditDisagreeOnUnderscoreVersion(t *testing.T) {
	reg := ociregistry.Start(t, ociregistry.Options{})
	alice := newMaintainer(t, "alice", false)
	const chart, version = "app", "1.0.0_1"
	data, err := charts.Archive(charts.Spec{Name: chart, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := charts.SignBytes(alice.secret, chart+"-"+version+".tgz", data, keyTime.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	manifestDigest, _ := ociregistry.PushChart(t, reg.Host, "ns/"+chart, version, chart, version, data, prov)
	ks, err := NewKeySet([]*Key{{Entity: alice.public, Active: true}})
	if err != nil {
		t.Fatal(err)
	}

	// verify's checks, in verify's order (client.Verify on an oci:// tag).
	ref, err := oci.ParseRef("oci://"+reg.Host+"/ns/"+chart+":"+version, false)
	if err != nil {
		t.Fatal(err)
	}
	ar, err := provenance.ReadArchive(bytes.NewReader(data), provenance.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	p, err := provenance.Parse(prov)
	if err != nil {
		t.Fatal(err)
	}
	verifyTrusted := false
	if err := client.CheckOCIArchive(ref, manifestDigest, ar); err == nil {
		d := client.Decide(ks, auditNow, client.Candidate{Prov: p, ArchiveName: ar.Name + "-" + ar.Version + ".tgz", Archive: ar})
		verifyTrusted = d.Trusted
	}

	c := ociClient(t)
	rep := audit(t, "oci://"+reg.Host+"/ns", ks, func(o *Options) { o.Registry, o.Charts = c, []string{chart} })
	if len(rep.Results) != 1 {
		t.Fatalf("%d results", len(rep.Results))
	}
	res := rep.Results[0]
	if verifyTrusted != (res.Status == Trusted) {
		t.Fatalf("the same oci:// release: verify trusted=%v, audit %s %s: %s (%s)", verifyTrusted, res.Chart, res.Version, res.Status, res.Detail)
	}
}
