package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// Role: whoever edits the CI folder the statement is signed from, or the
// release host when that folder is its checkout (gh-pages): it puts back
// an older keyctl-index.json and .sig, genuine, by this very index key,
// for this repository (a stale checkout, or an old commit restored).
//
// index sign refuses a pair in place that does not verify, "so that
// first-seen times are never restarted silently" (docs/verify.md), and
// checks the issue time only against the pair in place. An older genuine
// pair verifies: the run carries over its entries only, so every release
// first bound since that pair is first seen again now (or, when its .prov
// is not in the folder, as for chart-releaser's older releases, loses its
// entry). Clients keep the later of their recorded and the new time, and
// refuse an entry dropped once and listed again with its old time: the
// trusted time of every release signed by a key retired since is lost for
// good on every client that follows the repository, without any error.
func TestAttackOlderGenuinePairRestartsFirstSeen(t *testing.T) {
	signer := newMaintainer(t, t.TempDir(), "Maint")
	f := newIndexFixture(t, map[string]maintainer{"alpha": signer})
	alpha := f.provs["alpha"]
	// The repository's public location (what clients read), published
	// from pages after each run; index sign reads it with --published.
	site := filepath.Join(f.dir, "site")
	stmtPath := filepath.Join(f.pages, indexsig.Name)
	if _, code, out := f.signAndPublish(t, site); code != 0 {
		t.Fatalf("index sign: exit %d\n%s", code, out)
	}
	oldStmt, _ := os.ReadFile(stmtPath)
	oldSig, _ := os.ReadFile(stmtPath + root.SigSuffix)

	// A second release, bound by the next run.
	beta := f.addProv(t, "beta", signer)
	writeFile(t, f.pages, "index.yaml", []byte("apiVersion: v1\nentries:\n  alpha:\n  - name: alpha\n    version: 1.0.0\n    urls: [alpha-1.0.0.tgz]\n  beta:\n  - name: beta\n    version: 1.0.0\n    urls: [beta-1.0.0.tgz]\n"))
	s2, code, out := f.signAndPublish(t, site)
	if code != 0 {
		t.Fatalf("index sign: exit %d\n%s", code, out)
	}
	betaSeen := s2.FirstSeen("beta", "1.0.0", indexsig.Hash(beta))
	if betaSeen == nil || s2.FirstSeen("alpha", "1.0.0", indexsig.Hash(alpha)) == nil {
		t.Fatal("fixture: alpha or beta not bound")
	}
	published, _ := os.ReadFile(stmtPath)

	// The older genuine pair is put back; CI signs again.
	writeFile(t, f.pages, indexsig.Name, oldStmt)
	writeFile(t, f.pages, indexsig.SigName, oldSig)
	s3, code, out := f.signAndPublish(t, site)
	if code != 0 {
		// A refusal that leaves the files alone is a fix too.
		if now, _ := os.ReadFile(stmtPath); string(now) != string(oldStmt) || string(now) == string(published) {
			t.Fatalf("refused run changed the statement in place\n%s", out)
		}
		return
	}
	got := s3.FirstSeen("beta", "1.0.0", indexsig.Hash(beta))
	if got == nil || !got.Equal(*betaSeen) {
		t.Errorf("beta 1.0.0's unchanged .prov, first seen %s by this index key, is now dated %v after an older genuine keyctl-index.json pair was put back in the CI folder: its trusted time restarted silently (exit 0)",
			betaSeen.Format(time.RFC3339), got)
	}
}

// Role: the same (CI folder editor, or the gh-pages host): it deletes
// keyctl-index.json and keyctl-index.json.sig before the CI run. index
// sign takes a folder without a pair as a first run and dates every
// .prov now, exit 0, without --fresh: the restart docs/verify.md says is
// "never silent" (a pair that does not verify is refused, but no pair at
// all is not), and every following client then keeps the later time.
func TestAttackDeletedPairRestartsFirstSeenSilently(t *testing.T) {
	f := newIndexFixture(t, map[string]maintainer{"alpha": newMaintainer(t, t.TempDir(), "Maint")})
	prov := f.provs["alpha"]
	site := filepath.Join(f.dir, "site")
	stmtPath := filepath.Join(f.pages, indexsig.Name)
	s1, code, out := f.signAndPublish(t, site)
	if code != 0 {
		t.Fatalf("index sign: exit %d\n%s", code, out)
	}
	first := s1.FirstSeen("alpha", "1.0.0", indexsig.Hash(prov))
	if first == nil {
		t.Fatal("fixture: alpha not bound")
	}
	os.Remove(stmtPath)
	os.Remove(stmtPath + root.SigSuffix)
	s2, code, out := f.signAndPublish(t, site)
	if code != 0 {
		return // refused without --fresh: the restart is not silent
	}
	if got := s2.FirstSeen("alpha", "1.0.0", indexsig.Hash(prov)); got == nil || !got.Equal(*first) {
		t.Errorf("after keyctl-index.json and its .sig were deleted from the CI folder, index sign (exit 0, no --fresh) dates alpha 1.0.0's unchanged .prov %v instead of %s: every release's trusted time restarted silently\n%s",
			got, first.Format(time.RFC3339), out)
	}
}

// Role: the gh-pages host or CI folder editor, no key: for one CI run it
// puts another .prov for a listed release next to index.yaml (any
// parseable one for that chart and version, e.g. signed by a key of its
// own; index sign does not verify it), then puts the genuine one back.
// The carried entry is keyed by name and version and keeps one digest:
// the swap replaces the genuine .prov's entry, and when the genuine
// .prov returns it is "new" and first seen now. Its trusted time (the
// one that keeps a release by a since-retired key trusted) is gone for
// good, on CI and on every client, though those exact bytes were seen
// long before.
func TestAttackSwappedProvForOneRunLosesFirstSeen(t *testing.T) {
	signer := newMaintainer(t, t.TempDir(), "Maint")
	f := newIndexFixture(t, map[string]maintainer{"alpha": signer})
	genuine := f.provs["alpha"]
	other := newMaintainer(t, f.dir, "Attacker")
	archive, err := charts.Archive(charts.Spec{Name: "alpha", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	swapped, err := charts.SignBytes(other.entity, "alpha-1.0.0.tgz", archive, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The governed keyring, as keyctl publish writes it next to index.yaml.
	pub, err := os.ReadFile(signer.file)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.pages, root.PubkeysFile, pub)
	first := f.mustSign(t).FirstSeen("alpha", "1.0.0", indexsig.Hash(genuine))
	if first == nil {
		t.Fatal("fixture: alpha not bound")
	}
	writeFile(t, f.pages, "alpha-1.0.0.tgz.prov", swapped)
	f.mustSign(t)
	writeFile(t, f.pages, "alpha-1.0.0.tgz.prov", genuine)
	got := f.mustSign(t).FirstSeen("alpha", "1.0.0", indexsig.Hash(genuine))
	if got == nil || !got.Equal(*first) {
		t.Errorf("alpha 1.0.0's genuine .prov, first seen %s, is dated %v after another .prov lay in the CI folder for one run: its trusted time is lost for good",
			first.Format(time.RFC3339), got)
	}
}
