package revoke

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/oci"
	"github.com/keyctl/keyctl/internal/testutil/ociregistry"
)

func ociClient(t *testing.T) *oci.Client {
	t.Helper()
	c, err := oci.New(oci.Options{PlainHTTP: true, HelmRegistryConfig: filepath.Join(t.TempDir(), "none"), DockerConfig: filepath.Join(t.TempDir(), "none")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pushRepo pushes every release of r to HOST/ns/CHART:VERSION, as helm
// push would have from the repository folder.
func pushRepo(t *testing.T, host string, r *testRepo) map[[2]string]string {
	t.Helper()
	digests := map[[2]string]string{}
	for _, rel := range r.releases {
		name := rel.chart + "-" + rel.version + ".tgz"
		archive, err := os.ReadFile(filepath.Join(r.dir, "charts", name))
		if err != nil {
			t.Fatal(err)
		}
		prov, err := os.ReadFile(filepath.Join(r.dir, "charts", name+".prov"))
		if err != nil {
			prov = nil
		}
		_, chart := ociregistry.PushChart(t, host, "ns/"+rel.chart, rel.version, rel.chart, rel.version, archive, prov)
		digests[rel.key()] = string(chart.Digest)
	}
	return digests
}

// TestAuditOCIAgreesWithIndex audits the same releases served through
// index.yaml and pushed to a real registry: the one engine gives the same
// status to each, with and without --prov-only (where the registry's layer
// digest still catches a changed archive).
func TestAuditOCIAgreesWithIndex(t *testing.T) {
	reg := ociregistry.Start(t, ociregistry.Options{})
	r := buildRepo(t, 80, 0)
	ks := r.keySet(t, nil)
	pushRepo(t, reg.Host, r)
	c := ociClient(t)
	ns := "oci://" + reg.Host + "/ns"
	for _, provOnly := range []bool{false, true} {
		rep := audit(t, ns, ks, func(o *Options) { o.Registry, o.ProvOnly = c, provOnly })
		if rep.Total != 80 || rep.Repository != ns {
			t.Fatalf("prov-only %v: %d releases of %s, want 80 of %s", provOnly, rep.Total, rep.Repository, ns)
		}
		got := byKey(rep)
		seen := map[Status]int{}
		for _, rel := range r.releases {
			res, want := got[rel.key()], r.want(rel)
			seen[want]++
			if res.Status != want {
				t.Errorf("prov-only %v: %s %s: %s (%s), want %s", provOnly, rel.chart, rel.version, res.Status, res.Detail, want)
			}
			if !strings.HasPrefix(res.URL, ns+"/"+rel.chart+":") {
				t.Errorf("URL %s", res.URL)
			}
		}
		for _, s := range []Status{Trusted, Unsigned, HashMismatch, ChartMismatch, UnknownSigner} {
			if seen[s] == 0 || rep.Counts[s] != seen[s] {
				t.Errorf("prov-only %v: %d %s, want %d (and more than 0)", provOnly, rep.Counts[s], s, seen[s])
			}
		}
	}
}

// TestAuditOCIProvOnlyFetchesNoChartLayer deletes a chart layer from the
// registry: --prov-only still judges the release (trusted), the full audit
// reports it unreachable.
func TestAuditOCIProvOnlyFetchesNoChartLayer(t *testing.T) {
	reg := ociregistry.Start(t, ociregistry.Options{})
	r := buildRepo(t, 3, 0)
	ks := r.keySet(t, nil)
	c := ociClient(t)
	pushRepo(t, reg.Host, r)
	rel := r.releases[1]
	if r.want(rel) != Trusted {
		t.Fatalf("release 1 is %s", r.want(rel))
	}
	_, chart := ociregistry.PushChart(t, reg.Host, "ns/"+rel.chart, rel.version, rel.chart, rel.version, mustRead(t, r, rel, ""), mustRead(t, r, rel, ".prov"))
	ociregistry.DeleteBlob(t, reg.Host, "ns/"+rel.chart, chart)
	ns := "oci://" + reg.Host + "/ns"
	rep := audit(t, ns, ks, func(o *Options) { o.Registry, o.ProvOnly = c, true })
	if s := byKey(rep)[rel.key()]; s.Status != Trusted {
		t.Fatalf("--prov-only: %s (%s)", s.Status, s.Detail)
	}
	rep = audit(t, ns, ks, func(o *Options) { o.Registry = c })
	if s := byKey(rep)[rel.key()]; s.Status != Unreachable {
		t.Fatalf("full audit of a release whose chart layer is gone: %s (%s)", s.Status, s.Detail)
	}
}

func mustRead(t *testing.T, r *testRepo, rel release, ext string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, "charts", rel.chart+"-"+rel.version+".tgz"+ext))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuditOCIWithoutCatalog: a registry that does not answer its catalog
// (most hosted ones) needs --chart, and says so.
func TestAuditOCIWithoutCatalog(t *testing.T) {
	reg := ociregistry.Start(t, ociregistry.Options{})
	r := buildRepo(t, 12, 0)
	ks := r.keySet(t, nil)
	pushRepo(t, reg.Host, r)
	target, _ := url.Parse("http://" + reg.Host)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/v2/_catalog") {
			http.Error(w, `{"errors":[{"code":"UNSUPPORTED"}]}`, http.StatusNotFound)
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	ns := "oci://" + strings.TrimPrefix(srv.URL, "http://") + "/ns"
	c := ociClient(t)
	_, err := Audit(t.Context(), Options{Repository: ns, Keys: ks, Registry: c, Now: func() time.Time { return auditNow }})
	if err == nil || !strings.Contains(strings.Join(fail.HintsOf(err), " "), "--chart NAME") {
		t.Fatalf("no catalog: %v %v", err, fail.HintsOf(err))
	}
	rep := audit(t, ns, ks, func(o *Options) { o.Registry, o.Charts = c, []string{"c01"} })
	if rep.Total != 2 {
		t.Fatalf("--chart c01: %d releases, want 2", rep.Total)
	}
}
