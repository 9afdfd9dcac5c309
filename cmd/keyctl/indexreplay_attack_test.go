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
	dir := t.TempDir()
	pages := filepath.Join(dir, "pages")
	if err := os.MkdirAll(pages, 0o755); err != nil {
		t.Fatal(err)
	}
	// The repository's public location (what clients read), published
	// from pages after each run; index sign reads it with --published.
	site := filepath.Join(dir, "site")
	key := newMaintainer(t, dir, "Index")
	sec := secretKeyFile(t, key, dir)
	signer := newMaintainer(t, dir, "Maint")
	provOf := func(name string) []byte {
		t.Helper()
		archive, err := charts.Archive(charts.Spec{Name: name, Version: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		prov, err := charts.SignBytes(signer.entity, name+"-1.0.0.tgz", archive, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, pages, name+"-1.0.0.tgz.prov", prov)
		return prov
	}
	alpha := provOf("alpha")
	writeFile(t, pages, "index.yaml", []byte("apiVersion: v1\nentries:\n  alpha:\n  - name: alpha\n    version: 1.0.0\n    urls: [alpha-1.0.0.tgz]\n"))
	stmtPath := filepath.Join(pages, indexsig.Name)
	sign := func() (*indexsig.Statement, int, string) {
		t.Helper()
		time.Sleep(1100 * time.Millisecond) // issue times only grow, to the second
		out, errs, code := runIn("index", "sign", pages, "--key", sec, "--id", "charts.example.org", "--published", site)
		if code == 0 {
			publishPair(t, pages, site)
		}
		data, _ := os.ReadFile(stmtPath)
		s, err := indexsig.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		return s, code, out + errs
	}
	if _, code, out := sign(); code != 0 {
		t.Fatalf("index sign: exit %d\n%s", code, out)
	}
	oldStmt, _ := os.ReadFile(stmtPath)
	oldSig, _ := os.ReadFile(stmtPath + root.SigSuffix)

	// A second release, bound by the next run.
	beta := provOf("beta")
	writeFile(t, pages, "index.yaml", []byte("apiVersion: v1\nentries:\n  alpha:\n  - name: alpha\n    version: 1.0.0\n    urls: [alpha-1.0.0.tgz]\n  beta:\n  - name: beta\n    version: 1.0.0\n    urls: [beta-1.0.0.tgz]\n"))
	s2, code, out := sign()
	if code != 0 {
		t.Fatalf("index sign: exit %d\n%s", code, out)
	}
	betaSeen := s2.FirstSeen("beta", "1.0.0", indexsig.Hash(beta))
	if betaSeen == nil || s2.FirstSeen("alpha", "1.0.0", indexsig.Hash(alpha)) == nil {
		t.Fatal("fixture: alpha or beta not bound")
	}
	published, _ := os.ReadFile(stmtPath)

	// The older genuine pair is put back; CI signs again.
	writeFile(t, pages, indexsig.Name, oldStmt)
	writeFile(t, pages, indexsig.SigName, oldSig)
	s3, code, out := sign()
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
	dir := t.TempDir()
	pages := filepath.Join(dir, "pages")
	if err := os.MkdirAll(pages, 0o755); err != nil {
		t.Fatal(err)
	}
	site := filepath.Join(dir, "site")
	key := newMaintainer(t, dir, "Index")
	sec := secretKeyFile(t, key, dir)
	signer := newMaintainer(t, dir, "Maint")
	archive, err := charts.Archive(charts.Spec{Name: "alpha", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := charts.SignBytes(signer.entity, "alpha-1.0.0.tgz", archive, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, pages, "alpha-1.0.0.tgz.prov", prov)
	writeFile(t, pages, "index.yaml", []byte("apiVersion: v1\nentries:\n  alpha:\n  - name: alpha\n    version: 1.0.0\n    urls: [alpha-1.0.0.tgz]\n"))
	stmtPath := filepath.Join(pages, indexsig.Name)
	sign := func() (*indexsig.Statement, int, string) {
		t.Helper()
		time.Sleep(1100 * time.Millisecond)
		out, errs, code := runIn("index", "sign", pages, "--key", sec, "--id", "charts.example.org", "--published", site)
		if code == 0 {
			publishPair(t, pages, site)
		}
		data, _ := os.ReadFile(stmtPath)
		if data == nil {
			return nil, code, out + errs
		}
		s, err := indexsig.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		return s, code, out + errs
	}
	s1, code, out := sign()
	if code != 0 {
		t.Fatalf("index sign: exit %d\n%s", code, out)
	}
	first := s1.FirstSeen("alpha", "1.0.0", indexsig.Hash(prov))
	if first == nil {
		t.Fatal("fixture: alpha not bound")
	}
	os.Remove(stmtPath)
	os.Remove(stmtPath + root.SigSuffix)
	s2, code, out := sign()
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
	dir := t.TempDir()
	pages := filepath.Join(dir, "pages")
	if err := os.MkdirAll(pages, 0o755); err != nil {
		t.Fatal(err)
	}
	key := newMaintainer(t, dir, "Index")
	sec := secretKeyFile(t, key, dir)
	signer := newMaintainer(t, dir, "Maint")
	other := newMaintainer(t, dir, "Attacker")
	archive, err := charts.Archive(charts.Spec{Name: "alpha", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	genuine, err := charts.SignBytes(signer.entity, "alpha-1.0.0.tgz", archive, time.Now())
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
	writeFile(t, pages, root.PubkeysFile, pub)
	writeFile(t, pages, "alpha-1.0.0.tgz.prov", genuine)
	writeFile(t, pages, "index.yaml", []byte("apiVersion: v1\nentries:\n  alpha:\n  - name: alpha\n    version: 1.0.0\n    urls: [alpha-1.0.0.tgz]\n"))
	stmtPath := filepath.Join(pages, indexsig.Name)
	sign := func() *indexsig.Statement {
		t.Helper()
		time.Sleep(1100 * time.Millisecond)
		out, errs, code := runIn("index", "sign", pages, "--key", sec, "--id", "charts.example.org")
		if code != 0 {
			t.Fatalf("index sign: exit %d\n%s%s", code, out, errs)
		}
		data, _ := os.ReadFile(stmtPath)
		s, err := indexsig.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := sign().FirstSeen("alpha", "1.0.0", indexsig.Hash(genuine))
	if first == nil {
		t.Fatal("fixture: alpha not bound")
	}
	writeFile(t, pages, "alpha-1.0.0.tgz.prov", swapped)
	sign()
	writeFile(t, pages, "alpha-1.0.0.tgz.prov", genuine)
	got := sign().FirstSeen("alpha", "1.0.0", indexsig.Hash(genuine))
	if got == nil || !got.Equal(*first) {
		t.Errorf("alpha 1.0.0's genuine .prov, first seen %s, is dated %v after another .prov lay in the CI folder for one run: its trusted time is lost for good",
			first.Format(time.RFC3339), got)
	}
}

// publishPair copies keyctl-index.json and its .sig from pages to site,
// as CI publishes them (the repository's public location).
func publishPair(t *testing.T, pages, site string) {
	t.Helper()
	if err := os.MkdirAll(site, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{indexsig.Name, indexsig.SigName} {
		data, err := os.ReadFile(filepath.Join(pages, name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, site, name, data)
	}
}
