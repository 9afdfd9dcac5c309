package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/indexsig"
)

// Role: the repository host, or whoever edits the CI folder the statement
// is signed from (the gh-pages checkout chart-releaser merges into).
//
// index sign drops the entry of a release index.yaml no longer lists, and
// carries first-seen times only from the statement in place. So hiding a
// release from index.yaml for one CI run, then putting it back, erases
// the time the index key saw its .prov: the next statement dates the same,
// unchanged .prov "now". For a release whose signer has retired since,
// that turns a correctly signed, long-published chart untrusted on every
// client for good (fail-closed, but permanent, unlike a host that merely
// stops serving), with no signer or key change. docs/verify.md says the
// first-seen time is "the time this index key first saw it"; the key did
// see these exact bytes long before.
func TestAttackHiddenOnceReleaseLosesFirstSeen(t *testing.T) {
	f := newIndexFixture(t, map[string]maintainer{"alpha": newMaintainer(t, t.TempDir(), "Maint")})
	prov := f.provs["alpha"]
	alpha := "  alpha:\n  - name: alpha\n    version: 1.0.0\n    urls: [alpha-1.0.0.tgz]\n"
	other := "  other:\n  - name: other\n    version: 0.1.0\n    urls: [other-0.1.0.tgz]\n"
	sign := func(index string) *indexsig.Statement {
		t.Helper()
		writeFile(t, f.pages, "index.yaml", []byte("apiVersion: v1\nentries:\n"+index))
		return f.mustSign(t)
	}
	first := sign(alpha).FirstSeen("alpha", "1.0.0", indexsig.Hash(prov))
	if first == nil {
		t.Fatal("fixture: alpha not bound")
	}
	sign(other)                                                           // alpha hidden from index.yaml for one run
	again := sign(alpha).FirstSeen("alpha", "1.0.0", indexsig.Hash(prov)) // and back, same .prov bytes
	if again == nil || !again.Equal(*first) {
		t.Errorf("the unchanged .prov of alpha 1.0.0, first seen %s by this index key, is now dated %v: hiding the release from index.yaml for one CI run erased its trusted time for good",
			first.Format(time.RFC3339), again)
	}
}

// Carried entries of releases index.yaml does not list are kept up to the
// statement's cap; beyond it, the earliest seen of them are dropped first,
// never a listed release's.
func TestBindReleasesKeepsUnlistedUpToCap(t *testing.T) {
	dir := t.TempDir()
	ix, err := client.ParseIndex([]byte("apiVersion: v1\nentries:\n  alpha:\n  - name: alpha\n    version: 1.0.0\n    urls: [alpha-1.0.0.tgz]\n"))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	carried := map[[2]string]indexsig.Release{
		{"alpha", "1.0.0"}: {Name: "alpha", Version: "1.0.0", ProvSHA256: indexsig.Hash([]byte("a")), FirstSeen: t0.Add(-time.Hour)},
	}
	for i := range indexsig.MaxReleases + 1 {
		v := fmt.Sprintf("0.0.%d", i)
		carried[[2]string{"gone", v}] = indexsig.Release{Name: "gone", Version: v, ProvSHA256: indexsig.Hash([]byte(v)), FirstSeen: t0.Add(time.Duration(i) * time.Second)}
	}
	out, n, err := bindReleases(ix, dir, nil, carried, nil, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != indexsig.MaxReleases || n.Carried != 1 || n.Absent != indexsig.MaxReleases-1 || n.Dropped != 2 {
		t.Fatalf("bound %d (%+v), want %d with 2 unlisted dropped", len(out), n, indexsig.MaxReleases)
	}
	kept := map[string]bool{}
	for _, r := range out {
		kept[r.Name+" "+r.Version] = true
	}
	if !kept["alpha 1.0.0"] || kept["gone 0.0.0"] || kept["gone 0.0.1"] || !kept["gone 0.0.2"] {
		t.Errorf("want alpha and all but the two earliest-seen unlisted releases kept")
	}
	if _, err := indexsig.New("charts.example.org", []byte("i"), out, t0.Add(24*time.Hour), 0); err != nil {
		t.Errorf("the releases do not make a statement: %v", err)
	}
}
