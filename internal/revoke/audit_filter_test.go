package revoke

import (
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/ring"
)

// Under --key and --removed, a release whose .prov could not be fetched or
// read names no signer: it is listed, so the audit does not pass.
func TestAuditFiltersKeepUnattributedReleases(t *testing.T) {
	r := buildRepo(t, 6, 0)
	ks := r.keySet(t, map[*maintainer]ring.Removal{r.bob: {Reason: ring.Compromised, Effective: auditNow.Add(-time.Hour)}})
	invalid, unreachable := r.releases[2], r.releases[5]
	os.WriteFile(chartPath(r, invalid)+".prov", []byte("garbage\n"), 0o644)
	down := unreachable.chart + "-" + unreachable.version + ".tgz.prov"
	url := serve(t, r.dir, func(w http.ResponseWriter, req *http.Request) bool {
		if strings.HasSuffix(req.URL.Path, down) {
			http.Error(w, "down", http.StatusInternalServerError)
			return true
		}
		return false
	})
	for name, mod := range map[string]func(*Options){
		"--key":     func(o *Options) { o.Match = []string{r.bob.fpr()}; o.Retries = 1 },
		"--removed": func(o *Options) { o.RemovedOnly = true; o.Retries = 1 },
	} {
		rep := audit(t, url, ks, mod)
		for rel, want := range map[release]Status{invalid: Invalid, unreachable: Unreachable} {
			res, ok := byKey(rep)[rel.key()]
			if !ok || res.Status != want || !strings.Contains(res.Detail, "could not be attributed") {
				t.Errorf("%s: %s %s listed=%v %s (%s), want listed as %s", name, rel.chart, rel.version, ok, res.Status, res.Detail, want)
			}
		}
		if rep.AllTrusted() || rep.Counts[Compromised] == 0 {
			t.Errorf("%s: %+v", name, rep.Counts)
		}
		// An alice release stays out.
		if _, ok := byKey(rep)[r.releases[3].key()]; ok {
			t.Errorf("%s lists alice's release", name)
		}
	}
}
