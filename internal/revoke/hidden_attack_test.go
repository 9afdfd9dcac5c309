package revoke

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/ring"
)

// Attack (repository host, during a compromise response): bob's key is
// compromised and the responder runs the runbook's step 3 with the team
// lead's store, `keyctl audit --repo REPO --key BOB` (docs/runbook.md,
// "Find what the key signed"). The host serves the auditor an index.yaml
// without the releases bob signed (index.yaml is not signed; the host may
// serve the full index to everyone else, or put the entries back later),
// while the archives and .prov files stay where Helm users fetch them.
//
// The store's ledger recorded every one of those releases, with bob as the
// signer (keyctl ledger record after each release, runbook step 0). The
// audit never looks: it lists 0 releases, an empty re-sign worklist, and
// exits 0 ("every listed release trusted"), so the incident is closed with
// bob's releases neither re-signed nor checked. A release the ledger
// attributes to the key asked about, missing from the index, must be
// reported (and the audit must not pass).
func TestAttackHostHidesCompromisedReleasesFromAudit(t *testing.T) {
	r := buildRepo(t, 12, 0)
	st, err := ring.Open(filepath.Join(t.TempDir(), "keyctl.db"), ring.Options{Now: func() time.Time { return auditNow.Add(-48 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Init("example.org/charts", ring.RootLink{Version: 1, Data: []byte(`{"root":1}`)}, "", "tester"); err != nil {
		t.Fatal(err)
	}
	// Runbook step 0: the ledger saw every release while bob was active.
	active := r.keySet(t, nil)
	if _, err := Record(st, audit(t, r.dir, active, nil), active, "tester"); err != nil {
		t.Fatal(err)
	}
	ledger, err := st.Ledger()
	if err != nil {
		t.Fatal(err)
	}
	var bobs []string
	for _, le := range ledger {
		if le.Signer == r.bob.fpr() {
			bobs = append(bobs, le.Chart+" "+le.Version)
		}
	}
	if len(bobs) == 0 {
		t.Fatal("fixture: the ledger attributes no release to bob")
	}

	// The host's index.yaml for the auditor: bob's releases left out.
	var idx strings.Builder
	idx.WriteString("apiVersion: v1\nentries:\n")
	last := ""
	for _, rel := range r.releases {
		if rel.signer == r.bob {
			continue
		}
		if rel.chart != last {
			fmt.Fprintf(&idx, "  %s:\n", rel.chart)
			last = rel.chart
		}
		fmt.Fprintf(&idx, "  - apiVersion: v2\n    name: %s\n    version: %s\n    urls:\n    - charts/%s-%s.tgz\n", rel.chart, rel.version, rel.chart, rel.version)
	}
	url := serve(t, r.dir, func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == "/index.yaml" {
			w.Write([]byte(idx.String()))
			return true
		}
		return false
	})

	ks := r.keySet(t, map[*maintainer]ring.Removal{r.bob: {Reason: ring.Compromised, Effective: auditNow.Add(-time.Hour)}})
	rep := audit(t, url, ks, func(o *Options) {
		o.Match = []string{r.bob.fpr()}
		o.Ledger = ledger
	})
	if rep.AllTrusted() || rep.Listed < len(bobs) {
		t.Errorf("audit --key bob with the ledger: %d listed, %d in the worklist, all trusted=%v; the ledger records %d releases signed by bob (%s) that the served index.yaml hides",
			rep.Listed, len(rep.Worklist), rep.AllTrusted(), len(bobs), strings.Join(bobs, ", "))
	}
}

// Attack (whoever can write the repository: the host, or the holder of the
// compromised key with upload rights): delete, or stop serving, the .prov
// of a release the compromised key signed. The archive stays in index.yaml
// and Helm users who install without --verify still get it. docs/runbook.md
// promises that a release whose .prov "cannot be read or parsed
// (unreachable, too large, malformed)" is listed anyway under --key, "so
// the audit exits 1 and a compromised key cannot hide a release by
// breaking its .prov". A .prov that is simply missing is reported
// "unsigned", attributed to nobody, and dropped by the --key filter: the
// audit lists nothing and passes.
func TestAttackMissingProvHidesCompromisedReleaseFromAuditKey(t *testing.T) {
	r := buildRepo(t, 12, 0)
	var hidden release
	for _, rel := range r.releases {
		if rel.signer == r.bob && !rel.tampered {
			hidden = rel
			break
		}
	}
	ks := r.keySet(t, map[*maintainer]ring.Removal{r.bob: {Reason: ring.Compromised, Effective: auditNow.Add(-time.Hour)}})
	// Only that release's .prov goes missing; bob's others stay visible.
	provPath := "/charts/" + hidden.chart + "-" + hidden.version + ".tgz.prov"
	url := serve(t, r.dir, func(w http.ResponseWriter, req *http.Request) bool {
		if req.URL.Path == provPath {
			http.NotFound(w, req)
			return true
		}
		return false
	})
	rep := audit(t, url, ks, func(o *Options) { o.Match = []string{r.bob.fpr()} })
	if _, listed := byKey(rep)[hidden.key()]; !listed {
		t.Errorf("audit --key bob does not list %s %s, signed by bob (compromised), whose .prov is no longer served; %d of bob's releases listed",
			hidden.chart, hidden.version, rep.Listed)
	}
}
