package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// indexFixture is a CI folder (pages) holding index.yaml and the .prov of
// the releases named, each signed by the key given, and an index key.
type indexFixture struct {
	dir, pages, sec string
	provs           map[string][]byte
}

func newIndexFixture(t *testing.T, signers map[string]maintainer) *indexFixture {
	t.Helper()
	dir := t.TempDir()
	f := &indexFixture{dir: dir, pages: filepath.Join(dir, "pages"), provs: map[string][]byte{}}
	if err := os.MkdirAll(f.pages, 0o755); err != nil {
		t.Fatal(err)
	}
	f.sec = secretKeyFile(t, newMaintainer(t, dir, "Index"), dir)
	var ix strings.Builder
	ix.WriteString("apiVersion: v1\nentries:\n")
	for name, m := range signers {
		archive, err := charts.Archive(charts.Spec{Name: name, Version: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		prov, err := charts.SignBytes(m.entity, name+"-1.0.0.tgz", archive, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, f.pages, name+"-1.0.0.tgz.prov", prov)
		f.provs[name] = prov
		ix.WriteString("  " + name + ":\n  - name: " + name + "\n    version: 1.0.0\n    urls: [" + name + "-1.0.0.tgz]\n")
	}
	writeFile(t, f.pages, "index.yaml", []byte(ix.String()))
	return f
}

func (f *indexFixture) sign(t *testing.T, extra ...string) (*indexsig.Statement, int, string) {
	t.Helper()
	time.Sleep(1100 * time.Millisecond) // issue times only grow, to the second
	out, errs, code := runIn(append([]string{"index", "sign", f.pages, "--key", f.sec, "--id", "charts.example.org"}, extra...)...)
	data, err := os.ReadFile(filepath.Join(f.pages, indexsig.Name))
	if err != nil {
		return nil, code, out + errs
	}
	s, err := indexsig.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return s, code, out + errs
}

func (f *indexFixture) removePair(t *testing.T) {
	t.Helper()
	for _, name := range []string{indexsig.Name, indexsig.SigName} {
		if err := os.Remove(filepath.Join(f.pages, name)); err != nil {
			t.Fatal(err)
		}
	}
}

// Without --published, a folder without a pair is a first run, and the
// output says plainly that every first-seen time starts now.
func TestIndexSignWarnsWithoutPreviousStatement(t *testing.T) {
	f := newIndexFixture(t, map[string]maintainer{"alpha": newMaintainer(t, t.TempDir(), "Maint")})
	const warning = "no previous statement: every first-seen time starts now"
	_, code, out := f.sign(t)
	if code != 0 || !strings.Contains(out, warning) || !strings.Contains(out, "--published") {
		t.Fatalf("first run: exit %d, want 0 and the warning %q naming --published\n%s", code, warning, out)
	}
	if !strings.Contains(out, "bound without checking their signatures") {
		t.Errorf("no pubkeys.pgp: the output does not say the .prov files are bound unchecked\n%s", out)
	}
	if _, code, out = f.sign(t); code != 0 || strings.Contains(out, "no previous statement") {
		t.Fatalf("a run carrying over the pair in place: exit %d, or warns of no previous statement\n%s", code, out)
	}
	f.removePair(t)
	if _, code, out = f.sign(t); code != 0 || !strings.Contains(out, warning) {
		t.Fatalf("the pair deleted, no --published: exit %d, want 0 and the warning %q\n%s", code, warning, out)
	}
}

// --published over HTTP: the published pair is carried over when the one
// in place is gone; a published pair by another index key, or a location
// that cannot be read, is refused unless --fresh.
func TestIndexSignPublishedOverHTTP(t *testing.T) {
	f := newIndexFixture(t, map[string]maintainer{"alpha": newMaintainer(t, t.TempDir(), "Maint")})
	site := filepath.Join(f.dir, "site")
	srv := httptest.NewServer(http.FileServer(http.Dir(site)))
	defer srv.Close()

	s1, code, out := f.sign(t, "--published", srv.URL)
	if code != 0 || !strings.Contains(out, "no previous statement") {
		t.Fatalf("first run with nothing published: exit %d, want 0 and a warning\n%s", code, out)
	}
	first := s1.FirstSeen("alpha", "1.0.0", indexsig.Hash(f.provs["alpha"]))
	if first == nil {
		t.Fatal("fixture: alpha not bound")
	}
	publishPair(t, f.pages, site)
	f.removePair(t)
	s2, code, out := f.sign(t, "--published", srv.URL)
	if code != 0 {
		t.Fatalf("pair in place deleted, published one readable: exit %d\n%s", code, out)
	}
	if got := s2.FirstSeen("alpha", "1.0.0", indexsig.Hash(f.provs["alpha"])); got == nil || !got.Equal(*first) {
		t.Errorf("alpha first seen %v, want %s carried over from the published pair\n%s", got, first.Format(time.RFC3339), out)
	}
	if !strings.Contains(out, "carrying over the first-seen times of the published one") {
		t.Errorf("the output does not say the published pair was carried over\n%s", out)
	}

	// The published pair by another index key: refused, files untouched.
	other := newIndexFixture(t, map[string]maintainer{"alpha": newMaintainer(t, t.TempDir(), "Maint")})
	if _, code, out := other.sign(t); code != 0 {
		t.Fatalf("fixture: %s", out)
	}
	publishPair(t, other.pages, site)
	before, _ := os.ReadFile(filepath.Join(f.pages, indexsig.Name))
	if _, code, out = f.sign(t, "--published", srv.URL); code != 1 || !strings.Contains(out, "published") || !strings.Contains(out, "does not verify") || !strings.Contains(out, "--fresh") {
		t.Fatalf("a published pair by another index key: exit %d, want 1 naming the published pair and --fresh\n%s", code, out)
	}
	if after, _ := os.ReadFile(filepath.Join(f.pages, indexsig.Name)); !bytes.Equal(before, after) {
		t.Fatal("the refused run changed the statement in place")
	}
	if _, code, out = f.sign(t, "--published", srv.URL, "--fresh"); code != 0 {
		t.Fatalf("--fresh over a published pair that does not verify: exit %d\n%s", code, out)
	}

	// Unreachable: refused with a hint, --fresh signs anyway.
	srv.Close()
	if _, code, out = f.sign(t, "--published", srv.URL); code != 1 || !strings.Contains(out, "network") || !strings.Contains(out, "--fresh") {
		t.Fatalf("unreachable --published: exit %d, want 1 with a hint on the network and --fresh\n%s", code, out)
	}
	if _, code, out = f.sign(t, "--published", srv.URL, "--fresh"); code != 0 {
		t.Fatalf("unreachable --published with --fresh: exit %d\n%s", code, out)
	}
}

// With a governed keyring, a .prov binds only when its signatures verify
// with a key of pubkeys.pgp or revoked.pgp (a retired key's old signature
// still does); another is not bound and the output says so.
func TestIndexSignBindsOnlyGovernedProv(t *testing.T) {
	keys := t.TempDir()
	maint, retired, stranger := newMaintainer(t, keys, "Maint"), newMaintainer(t, keys, "Retired"), newMaintainer(t, keys, "Stranger")
	f := newIndexFixture(t, map[string]maintainer{"alpha": maint, "beta": retired, "gamma": stranger})
	// Retired after it signed beta, with a self-revocation that gives no
	// reason (which OpenPGP reads as hard): clients check a removed key's
	// signature without its own revocations and let its removal decide
	// (docs/verify.md), so index sign binds it the same way.
	time.Sleep(1100 * time.Millisecond)
	if err := retired.entity.Revoke(packet.NoReason, "", nil); err != nil {
		t.Fatal(err)
	}
	var rev bytes.Buffer
	if err := retired.entity.Serialize(&rev); err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(maint.file)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.pages, root.PubkeysFile, pub)
	writeFile(t, f.pages, root.RevokedFile, rev.Bytes())
	s, code, out := f.sign(t)
	if code != 0 {
		t.Fatalf("index sign: exit %d\n%s", code, out)
	}
	for _, name := range []string{"alpha", "beta"} {
		if s.FirstSeen(name, "1.0.0", indexsig.Hash(f.provs[name])) == nil {
			t.Errorf("%s 1.0.0's .prov, signed by a key of the governed keyring, is not bound\n%s", name, out)
		}
	}
	if s.FirstSeen("gamma", "1.0.0", indexsig.Hash(f.provs["gamma"])) != nil {
		t.Errorf("gamma 1.0.0's .prov, signed by a key outside the keyring, is bound")
	}
	want := "not bound: " + filepath.Join(f.pages, "gamma-1.0.0.tgz.prov") + " (its signature does not verify with pubkeys.pgp)"
	if !strings.Contains(out, want) || strings.Contains(out, "without checking") {
		t.Errorf("output lacks %q (or says the keyring is missing)\n%s", want, out)
	}
}
