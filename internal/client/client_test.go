package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/testutil/gcsemu"
)

func TestCheckStatuses(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	alice, bob, eve := newMaintainer(t, "alice"), newMaintainer(t, "bob"), newMaintainer(t, "eve")
	f.add(alice, "web-*")
	f.add(bob)
	f.publish(t0)
	tr, err := f.load(t, t.TempDir(), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	active, aerr := tr.Active()
	removed, rerr := tr.Removed()
	if aerr != nil || rerr != nil || len(active) != 2 || len(removed) != 0 {
		t.Fatalf("active %d removed %d (%v %v), want 2 and 0", len(active), len(removed), aerr, rerr)
	}

	a, p, _ := chart(t, alice, "web-app", "1.0.0", t0)
	d := tr.Check(p, "web-app-1.0.0.tgz", a, nil)
	if !d.Trusted || d.Status != StatusTrusted || d.Signer != pgpkey.Fingerprint(alice) || d.SignerUID == "" {
		t.Fatalf("alice web-app: %+v", d)
	}
	a, p, _ = chart(t, alice, "db", "1.0.0", t0)
	if d := tr.Check(p, "db-1.0.0.tgz", a, nil); d.Trusted || d.Status != StatusOutOfScope {
		t.Fatalf("alice db: %+v", d)
	}
	a, p, _ = chart(t, eve, "web-app", "1.0.0", t0)
	if d := tr.Check(p, "web-app-1.0.0.tgz", a, nil); d.Trusted || d.Status != StatusUnknownSigner || len(d.Issuers) == 0 {
		t.Fatalf("eve: %+v", d)
	}
	a, p, _ = chart(t, bob, "db", "1.0.0", t0)
	wrong := make([]byte, 32)
	if d := tr.CheckDigest(p, "db-1.0.0.tgz", wrong, nil); d.Trusted || d.Status != StatusHashMismatch {
		t.Fatalf("bob, wrong digest: %+v", d)
	}
	if d := tr.CheckDigest(p, "db-1.0.0.tgz", nil, nil); !d.Trusted || d.ArchiveChecked {
		t.Fatalf("bob, prov only: %+v", d)
	}
	if d := tr.Check(nil, "db-1.0.0.tgz", a, nil); d.Trusted || d.Status != StatusUnsigned {
		t.Fatalf("unsigned: %+v", d)
	}
	// A .prov whose metadata names another chart than the archive holds,
	// with the archive's true hash: a signer's lie, caught by the name check.
	other, _, _ := chart(t, nil, "db", "9.9.9", t0)
	forged := *other
	forged.SHA256 = a.SHA256
	pd, err := provenance.Sign(bob, &forged, "db-1.0.0.tgz", t0)
	if err != nil {
		t.Fatal(err)
	}
	fp, err := provenance.Parse(pd)
	if err != nil {
		t.Fatal(err)
	}
	if d := tr.Check(fp, "db-1.0.0.tgz", a, nil); d.Trusted || d.Status != StatusNameMismatch {
		t.Fatalf("name mismatch: %+v", d)
	}
	// A changed signature byte.
	bad := *p
	bad.Signatures = append([]byte(nil), p.Signatures...)
	bad.Signatures[len(bad.Signatures)-5] ^= 1
	raw := rearmor(t, p, bad.Signatures)
	bp, err := provenance.Parse(raw)
	if err != nil {
		t.Fatalf("re-armored .prov: %v", err)
	}
	if d := tr.Check(bp, "db-1.0.0.tgz", a, nil); d.Trusted || d.Status != StatusBadSignature || d.Signer != pgpkey.Fingerprint(bob) {
		t.Fatalf("bad signature: %+v", d)
	}

	// (sub)key → primary.
	for _, sk := range alice.Subkeys {
		got, ok := tr.Primary(pgpkey.FormatFingerprint(sk.PublicKey.Fingerprint))
		if !ok || got != pgpkey.Fingerprint(alice) {
			t.Fatalf("Primary(subkey) = %s %v", got, ok)
		}
		if e, ok := tr.Entry(pgpkey.KeyID(sk.PublicKey)); !ok || e.Fingerprint != pgpkey.Fingerprint(alice) {
			t.Fatalf("Entry(key id) = %+v %v", e, ok)
		}
	}
	if _, ok := tr.Primary(pgpkey.Fingerprint(eve)); ok {
		t.Fatal("an unknown key maps to a primary")
	}
}

// rearmor rebuilds a .prov with other signature bytes.
func rearmor(t *testing.T, p *provenance.Prov, sig []byte) []byte {
	t.Helper()
	arm, err := pgpkey.Armor("PGP SIGNATURE", sig)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\n")
	b.Write(p.Plaintext)
	if !bytes.HasSuffix(p.Plaintext, []byte("\n")) {
		b.WriteString("\n")
	}
	b.Write(arm)
	return b.Bytes()
}

func TestRemovalSemantics(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	ret, comp := newMaintainer(t, "retired"), newMaintainer(t, "compromised")
	mr, mc := f.add(ret), f.add(comp)
	a1, p1, _ := chart(t, ret, "app", "1.0.0", t0)
	a2, p2, _ := chart(t, comp, "app", "1.0.0", t0)
	eff := t0.Add(24 * time.Hour)
	mr.status, mr.reason, mr.effective = root.Removed, root.Retired, eff
	mc.status, mc.reason, mc.effective = root.Removed, root.Compromised, eff
	f.publish(t0.Add(48 * time.Hour))
	tr, err := f.load(t, "", t0.Add(49*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	before, after := t0.Add(time.Hour), t0.Add(30*time.Hour)

	cases := []struct {
		name      string
		a         *provenance.Archive
		p         *provenance.Prov
		firstSeen *time.Time
		status    string
		trusted   bool
		source    string
	}{
		{"retired, ledger before", a1, p1, &before, StatusRemovedRetired, true, TimeLedger},
		{"retired, ledger after", a1, p1, &after, StatusRemovedRetired, false, TimeLedger},
		{"retired, signature time only", a1, p1, nil, StatusRemovedRetired, false, TimeSelfAsserted},
		{"compromised, ledger before", a2, p2, &before, StatusRemovedCompromised, false, ""},
		{"compromised", a2, p2, nil, StatusRemovedCompromised, false, ""},
	}
	for _, c := range cases {
		d := tr.Check(c.p, "app-1.0.0.tgz", c.a, c.firstSeen)
		if d.Status != c.status || d.Trusted != c.trusted || d.TimeSource != c.source {
			t.Errorf("%s: got %s trusted=%v source=%q (%s), want %s %v %q", c.name, d.Status, d.Trusted, d.TimeSource, d.Reason, c.status, c.trusted, c.source)
		}
		if d.Signer == "" || !strings.Contains(d.Reason, d.Signer) {
			t.Errorf("%s: no signer named: %+v", c.name, d)
		}
	}
	d := tr.Check(p1, "app-1.0.0.tgz", a1, nil)
	if !strings.Contains(d.Reason, "no ledger record or signed index entry for this .prov backs it") {
		t.Errorf("self-asserted time: reason %q does not say why", d.Reason)
	}
	// A signature made after the removal is refused even with an early ledger time.
	_, p3, _ := chart(t, ret, "app", "1.0.0", t0.Add(40*time.Hour))
	if d := tr.Check(p3, "app-1.0.0.tgz", a1, &before); d.Trusted {
		t.Errorf("signature after the removal trusted: %+v", d)
	}
}

func TestLoadRefusals(t *testing.T) {
	rk := newRootKey(t, "root")
	dir := t.TempDir()
	f := newFixture(t, dir, "charts.example.org", rk)
	f.add(newMaintainer(t, "alice"))
	h1 := f.publish(t0)
	st := t.TempDir()
	if _, err := f.load(t, st, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(StatePath(st, f.b.Location()))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(StatePath(st, f.b.Location())); fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	unchanged := func(what string) {
		t.Helper()
		now, err := os.ReadFile(StatePath(st, f.b.Location()))
		if err != nil || !bytes.Equal(now, saved) {
			t.Errorf("%s: state changed", what)
		}
	}

	// Wrong pin, threshold above the pins.
	other := newRootKey(t, "other")
	_, err = Load(context.Background(), Options{Bucket: f.b, Pins: root.Pins{Fingerprints: []string{pgpkey.Fingerprint(other.pub)}}, StateDir: st, Now: func() time.Time { return t0 }})
	var pe *root.PinError
	if !errors.As(err, &pe) || fail.ExitCode(err) != 1 {
		t.Errorf("wrong pin: %v", err)
	}
	var te *root.ThresholdError
	unchanged("wrong pin")

	// Expected identity differs from the one recorded: replay, not trusted.
	_, err = Load(context.Background(), Options{Bucket: f.b, Pins: f.pins(), StateDir: st, Repository: "x.example.org", Now: func() time.Time { return t0 }})
	if err == nil || fail.ExitCode(err) != 1 || !strings.Contains(err.Error(), "was trusted as") {
		t.Errorf("identity conflict: %v", err)
	}

	// Fork: the state saw h1 at version 1; another history of the same root
	// reaches version 3 without passing through h1.
	g := newFixture(t, t.TempDir(), "charts.example.org", rk)
	g.add(newMaintainer(t, "mallory"))
	g.publish(t0)
	g.publish(t0.Add(time.Minute))
	g.publish(t0.Add(2 * time.Minute))
	prev, err := ReadState(st, f.b.Location())
	if err != nil || prev.ManifestSHA256 != h1 {
		t.Fatalf("state %+v %v", prev, err)
	}
	gs := t.TempDir()
	prev.Location = g.b.Location()
	if err := newStateFile(gs, g.b.Location()).write(prev); err != nil {
		t.Fatal(err)
	}
	_, err = g.load(t, gs, t0.Add(time.Hour))
	if fail.KindOf(err) != fail.Security || !strings.Contains(err.Error(), "two different histories") || !strings.Contains(err.Error(), h1) {
		t.Errorf("fork: %v", err)
	}
	// The honest history moves on: v2 follows h1 and is accepted.
	f.publish(t0.Add(time.Minute))
	f.publish(t0.Add(2 * time.Minute))
	tr, err := f.load(t, st, t0.Add(time.Hour))
	if err != nil || tr.Manifest.Version != 3 || tr.Previous.Version != 1 {
		t.Fatalf("v3 after v1: %v", err)
	}

	// A manifest signed by a key that is not the root: tamper.
	f.publish(t0.Add(3*time.Minute), other)
	saved, _ = os.ReadFile(StatePath(st, f.b.Location()))
	if _, err := f.load(t, st, t0.Add(time.Hour)); !errors.As(err, &te) {
		t.Errorf("manifest signed by a stranger: %v", err)
	}
	unchanged("stranger's manifest")
}

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	sf := newStateFile(dir, "/srv/charts")
	s := State{Location: "/srv/charts", Repository: "charts.example.org", Version: 3, ManifestSHA256: strings.Repeat("ab", 32), Issued: t0, RootVersion: 1}
	if err := sf.write(s); err != nil {
		t.Fatal(err)
	}
	got, err := sf.read()
	if err != nil || !got.Equal(s) {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// An older record does not replace a newer one written meanwhile.
	older := s
	older.Version = 2
	if err := sf.write(older); err != nil {
		t.Fatal(err)
	}
	if got, _ := sf.read(); got.Version != 3 {
		t.Fatalf("older state replaced a newer one: %+v", got)
	}
	for name, data := range map[string]string{
		"empty":     "",
		"truncated": `{"format": "keyctl-client-state/1", "location"`,
		"unknown":   `{"format": "keyctl-client-state/1", "x": 1}`,
		"format":    `{"format": "keyctl-client-state/9"}`,
		"zero":      `{"format": "keyctl-client-state/1", "location": "/srv/charts", "repository": "r", "version": 0, "manifest_sha256": "` + strings.Repeat("ab", 32) + `", "issued": "2026-01-01T00:00:00Z", "root_version": 1}`,
		"trailing":  string(mustMarshal(t, s)) + "{}",
	} {
		if err := os.WriteFile(sf.path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := sf.read()
		if err == nil || !strings.Contains(err.Error(), "is damaged") || len(fail.HintsOf(err)) == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A state file of another location under this name.
	os.WriteFile(sf.path, mustMarshal(t, State{Location: "/elsewhere", Repository: "r", Version: 1, ManifestSHA256: strings.Repeat("ab", 32), Issued: t0, RootVersion: 1}), 0o600)
	if _, err := sf.read(); err == nil {
		t.Error("state of another location accepted")
	}
}

func mustMarshal(t *testing.T, s State) []byte {
	b, err := MarshalState(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gs:// through the GCS emulator: Load and the content-addressed fallback.
func TestLoadGCS(t *testing.T) {
	emu := gcsemu.Start(t, "charts")
	rk := newRootKey(t, "root")
	f := newFixture(t, "gs://charts/repo", "charts.example.org", rk)
	alice := newMaintainer(t, "alice")
	f.add(alice)
	f.publish(t0)
	st := t.TempDir()
	tr, err := Load(context.Background(), Options{Location: "gs://charts/repo", Pins: f.pins(), StateDir: st, Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	a, p, _ := chart(t, alice, "app", "1.0.0", t0)
	if d := tr.Check(p, "app-1.0.0.tgz", a, nil); !d.Trusted {
		t.Fatalf("%+v", d)
	}
	if emu.Fired() != 0 {
		t.Fatal("no faults were set")
	}
	// pubkeys.pgp replaced at its fixed name: the content-addressed copy wins.
	put(t, f.b, root.PubkeysFile, []byte("not a keyring"))
	tr, err = Load(context.Background(), Options{Location: "gs://charts/repo", Pins: f.pins(), StateDir: st, Now: func() time.Time { return t0.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if act, _ := tr.Active(); len(tr.Fallbacks) != 1 || tr.Fallbacks[0] != root.PubkeysFile || len(act) != 1 {
		t.Fatalf("fallback: %v %+v", err, tr)
	}
	// Both replaced: mix-and-match.
	ref, _ := tr.Manifest.File(root.PubkeysFile)
	put(t, f.b, root.ContentPath(ref.SHA256), []byte("not a keyring either"))
	_, err = Load(context.Background(), Options{Location: "gs://charts/repo", Pins: f.pins(), StateDir: st, Now: func() time.Time { return t0.Add(time.Hour) }})
	var mm *root.MismatchError
	if !errors.As(err, &mm) || fail.ExitCode(err) != 1 || !strings.Contains(err.Error(), "mix-and-match") {
		t.Fatalf("mix-and-match: %v", err)
	}
}

func TestResolveURL(t *testing.T) {
	for _, c := range []struct{ base, ref, want string }{
		{"https://charts.example.org", "app-1.0.0.tgz", "https://charts.example.org/app-1.0.0.tgz"},
		{"https://charts.example.org/sub/", "app-1.0.0.tgz", "https://charts.example.org/sub/app-1.0.0.tgz"},
		{"https://charts.example.org/sub", "charts/app-1.0.0.tgz", "https://charts.example.org/sub/charts/app-1.0.0.tgz"},
		{"https://charts.example.org/sub", "/abs/app-1.0.0.tgz", "https://charts.example.org/abs/app-1.0.0.tgz"},
		{"https://charts.example.org/sub", "https://cdn.example.org/app-1.0.0.tgz", "https://cdn.example.org/app-1.0.0.tgz"},
		{"file:///srv/charts", "app-1.0.0.tgz", "file:///srv/charts/app-1.0.0.tgz"},
	} {
		got, err := ResolveURL(c.base, c.ref)
		if err != nil || got != c.want {
			t.Errorf("ResolveURL(%q, %q) = %q, %v; want %q", c.base, c.ref, got, err, c.want)
		}
	}
}

// Charts fetched over HTTP through index.yaml, relative and absolute URLs.
func TestFetchChartHTTP(t *testing.T) {
	root := t.TempDir()
	alice := newMaintainer(t, "alice")
	_, _, data := chart(t, alice, "app", "1.0.0", t0)
	os.MkdirAll(filepath.Join(root, "repo"), 0o755)
	os.MkdirAll(filepath.Join(root, "cdn"), 0o755)
	for _, d := range []string{"repo", "cdn"} {
		os.WriteFile(filepath.Join(root, d, "app-1.0.0.tgz"), data, 0o644)
		os.WriteFile(filepath.Join(root, d, "app-1.0.0.tgz.prov"), []byte("prov of "+d), 0o644)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(root)))
	defer srv.Close()
	if !strings.HasPrefix(srv.Listener.Addr().String(), "127.0.0.1:") {
		t.Fatal("test server not on 127.0.0.1")
	}
	index := func(url string) {
		os.WriteFile(filepath.Join(root, "repo", "index.yaml"), []byte(`apiVersion: v1
entries:
  app:
  - name: app
    version: 1.0.0
    urls: [`+url+`]
  - name: app
    version: 2.0.0-rc.1
    urls: [nowhere.tgz]
  - name: app
    version: 0.9.0
    urls: [nowhere.tgz]
`), 0o644)
	}
	ctx := context.Background()
	b, err := publish.Open(ctx, srv.URL+"/repo", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ url, want string }{
		{"app-1.0.0.tgz", "repo"},
		{srv.URL + "/cdn/app-1.0.0.tgz", "cdn"},
		{"../cdn/app-1.0.0.tgz", "cdn"},
	} {
		index(c.url)
		d, err := FetchChart(ctx, b, srv.URL+"/repo", "app", "")
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if !bytes.Equal(d.Archive, data) || string(d.Prov) != "prov of "+c.want || d.Release.Version != "1.0.0" || d.Name != "app-1.0.0.tgz" {
			t.Errorf("%s: got %s version %s prov %q", c.url, d.URL, d.Release.Version, d.Prov)
		}
	}
	index("app-1.0.0.tgz")
	os.Remove(filepath.Join(root, "repo", "app-1.0.0.tgz.prov"))
	d, err := FetchChart(ctx, b, srv.URL+"/repo", "app", "1.0.0")
	if err != nil || d.Prov != nil {
		t.Errorf("no .prov: %v %q", err, d.Prov)
	}
	if _, err := FetchChart(ctx, b, srv.URL+"/repo", "app", "3.0.0"); err == nil {
		t.Error("missing version found")
	}
}

func TestParseIndex(t *testing.T) {
	for name, data := range map[string]string{
		"no apiVersion": "entries: {}\n",
		"no url":        "apiVersion: v1\nentries:\n  a:\n  - version: 1.0.0\n",
		"not yaml":      "apiVersion: [v1\n",
		"null entry":    "apiVersion: v1\nentries:\n  a:\n  - null\n",
	} {
		if _, err := ParseIndex([]byte(data)); err == nil || fail.ExitCode(err) != 2 {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseIndex(make([]byte, MaxIndexSize+1)); err == nil {
		t.Error("oversized index accepted")
	}
}

func TestInScopeIsRingRule(t *testing.T) {
	for _, c := range []struct {
		scopes []string
		chart  string
	}{{nil, "x"}, {[]string{"web-*"}, "web-app"}, {[]string{"web-*"}, "db"}, {[]string{"a", "b?"}, "bc"}, {[]string{"[a-"}, "a"}} {
		if InScope(c.scopes, c.chart) != ring.InScope(c.scopes, c.chart) {
			t.Errorf("InScope(%v, %q) differs from ring.InScope", c.scopes, c.chart)
		}
	}
}

func BenchmarkVerifyChart(b *testing.B) {
	rk := newRootKey(b, "root")
	f := newFixture(b, b.TempDir(), "charts.example.org", rk)
	alice := newMaintainer(b, "alice")
	f.add(alice)
	for i := 0; i < 50; i++ {
		f.add(newMaintainer(b, "m"))
	}
	f.publish(t0)
	tr, err := f.load(b, "", t0.Add(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	_, p, data := chart(b, alice, "app", "1.0.0", t0)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a, err := provenance.ReadArchive(bytes.NewReader(data), provenance.DefaultLimits)
		if err != nil {
			b.Fatal(err)
		}
		if d := tr.Check(p, "app-1.0.0.tgz", a, nil); !d.Trusted {
			b.Fatal(d.Reason)
		}
	}
}

// Load over http(s), as a chart repository is usually served, with the
// fixed-name keyring copies missing (only content-addressed copies).
func TestLoadHTTP(t *testing.T) {
	dir := t.TempDir()
	rk := newRootKey(t, "root")
	f := newFixture(t, dir, "charts.example.org", rk)
	alice := newMaintainer(t, "alice")
	f.add(alice)
	f.publish(t0)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	opts := Options{Location: srv.URL, Pins: f.pins(), StateDir: t.TempDir(), Now: func() time.Time { return t0.Add(time.Hour) }}
	tr, err := Load(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	a, p, _ := chart(t, alice, "app", "1.0.0", t0)
	if d := tr.Check(p, "app-1.0.0.tgz", a, nil); !d.Trusted || tr.Location != srv.URL {
		t.Fatalf("%+v at %s", d, tr.Location)
	}
	os.Remove(filepath.Join(dir, root.PubkeysFile))
	tr, err = Load(context.Background(), opts)
	active, _ := tr.Active()
	if err != nil || len(tr.Fallbacks) != 1 || len(active) != 1 {
		t.Fatalf("without pubkeys.pgp: %v", err)
	}
	// Served by a repository that never published: an input error (exit 2).
	empty := httptest.NewServer(http.NotFoundHandler())
	defer empty.Close()
	opts.Location = empty.URL
	if _, err := Load(context.Background(), opts); err == nil || fail.ExitCode(err) != 2 {
		t.Fatalf("empty repository: %v", err)
	}
}

// Chart URLs from the unsigned index.yaml must stay in the repository.
func TestCheckChartURL(t *testing.T) {
	for _, c := range []struct {
		base, ref string
		ok        bool
	}{
		{"https://charts.example.org/sub", "app-1.0.0.tgz", true},
		{"https://charts.example.org/sub", "../other/app-1.0.0.tgz", true},
		{"https://charts.example.org/sub", "https://CHARTS.example.org/x/app.tgz", true},
		{"http://charts.example.org", "https://charts.example.org/app.tgz", true},
		{"https://user:tok@charts.example.org", "app.tgz", true},
		{"https://charts.example.org", "http://charts.example.org/app.tgz", false},
		{"https://charts.example.org", "https://cdn.example.org/app.tgz", false},
		{"https://charts.example.org", "http://169.254.169.254/latest/meta-data", false},
		{"https://charts.example.org", "https://charts.example.org:8443/app.tgz", false},
		{"https://charts.example.org", "file:///etc/passwd", false},
		{"https://charts.example.org", "gs://bucket/app.tgz", false},
		{"https://charts.example.org", "s3://bucket/app.tgz", false},
		{"https://charts.example.org", "https://u:p@charts.example.org/app.tgz", false},
		{"gs://bucket/charts", "app.tgz", true},
		{"gs://bucket/charts", "gs://bucket/other/app.tgz", true},
		{"gs://bucket/charts", "gs://evil/app.tgz", false},
		{"gs://bucket/charts", "s3://bucket/app.tgz", false},
		{"gs://bucket/charts", "file:///etc/passwd", false},
		{"s3://bucket", "https://bucket.s3.amazonaws.com/app.tgz", false},
		{"file:///srv/charts", "app.tgz", true},
		{"file:///srv/charts", "sub/app.tgz", true},
		{"file:///srv/charts", "../../etc/passwd", false},
		{"file:///srv/charts", "sub/%2e%2e/%2e%2e/etc/x.tgz", false},
		{"file:///srv/charts", "file:///etc/passwd", false},
		{"file:///srv/charts", "file:///srv/charts-evil/app.tgz", false},
		{"file:///srv/charts", "file:///srv/charts/app.tgz", true},
		{"file:///srv/charts", "file://host/srv/charts/app.tgz", false},
		{"file:///srv/charts", "https://charts.example.org/app.tgz", false},
	} {
		u, err := ResolveURL(c.base, c.ref)
		if err != nil {
			t.Fatalf("%s + %s: %v", c.base, c.ref, err)
		}
		if err := CheckChartURL(c.base, u); (err == nil) != c.ok {
			t.Errorf("CheckChartURL(%q, %q) = %v; want ok=%v", c.base, u, err, c.ok)
		}
	}
}

func TestFetchChartRefusesEscapes(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "repo")
	os.MkdirAll(repo, 0o755)
	os.WriteFile(filepath.Join(dir, "secret.tgz"), []byte("secret"), 0o644)
	ctx := context.Background()
	b, err := publish.Open(ctx, repo, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	base, _ := BaseURL(repo)
	for _, u := range []string{"../secret.tgz", "file://" + filepath.ToSlash(dir) + "/secret.tgz", "gs://b/x.tgz", "http://169.254.169.254/x.tgz"} {
		os.WriteFile(filepath.Join(repo, "index.yaml"), []byte("apiVersion: v1\nentries:\n  app:\n  - name: app\n    version: 1.0.0\n    urls: ['"+u+"']\n"), 0o644)
		_, err := FetchChart(ctx, b, base, "app", "")
		if err == nil || fail.ExitCode(err) != 2 || !strings.Contains(err.Error(), "chart app 1.0.0") || !strings.Contains(err.Error(), "refused") {
			t.Errorf("%s: %v", u, err)
		}
	}
	// Credentials of the repository are not echoed.
	if _, err := ResolveURL("https://user:s3cret@h.example/r", "x.tgz"); err != nil {
		t.Fatal(err)
	}
	err = CheckChartURL("https://user:s3cret@h.example/r", "https://user:s3cret@evil.example/x.tgz")
	msg := fmt.Sprint(err, RedactURL("https://user:s3cret@evil.example/x.tgz"), RedactURL("https://tok3n@h.example/"))
	if err == nil || strings.Contains(msg, "s3cret") || strings.Contains(msg, "tok3n") {
		t.Errorf("credentials: %s", msg)
	}
}

// The archive index.yaml leads to must be the release asked for.
func TestCheckArchive(t *testing.T) {
	alice := newMaintainer(t, "alice")
	a1, _, _ := chart(t, alice, "app", "1.0.0", t0)
	other, _, _ := chart(t, alice, "other", "1.0.0", t0)
	d := func(name, version string) *Download {
		return &Download{Name: "x.tgz", Release: &ChartVersion{Name: name, Version: version}}
	}
	if err := d("app", "1.0.0").CheckArchive("app", "", a1); err != nil {
		t.Error(err)
	}
	if err := d("app", "1.0.0").CheckArchive("app", "v1.0.0", a1); err != nil {
		t.Error(err)
	}
	for what, err := range map[string]error{
		"newer version entry": d("app", "2.0.0").CheckArchive("app", "2.0.0", a1),
		"no --version":        d("app", "2.0.0").CheckArchive("app", "", a1),
		"other chart":         d("app", "1.0.0").CheckArchive("app", "1.0.0", other),
		"entry of other name": d("other", "1.0.0").CheckArchive("app", "", other),
		"--version differs":   d("app", "1.0.0").CheckArchive("app", "1.0.1", a1),
	} {
		if err == nil || fail.ExitCode(err) != 1 {
			t.Errorf("%s: %v", what, err)
		}
	}
}

// A repository URL with credentials: they appear in no output field.
func TestCredentialsRedacted(t *testing.T) {
	dir := t.TempDir()
	rk := newRootKey(t, "root")
	f := newFixture(t, dir, "charts.example.org", rk)
	alice := newMaintainer(t, "alice")
	f.add(alice)
	f.publish(t0)
	_, _, data := chart(t, alice, "app", "1.0.0", t0)
	os.WriteFile(filepath.Join(dir, "app-1.0.0.tgz"), data, 0o644)
	os.WriteFile(filepath.Join(dir, "index.yaml"), []byte("apiVersion: v1\nentries:\n  app:\n  - name: app\n    version: 1.0.0\n    urls: [app-1.0.0.tgz]\n"), 0o644)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()
	for _, loc := range []string{strings.Replace(srv.URL, "://", "://user:s3cret@", 1), strings.Replace(srv.URL, "://", "://t0ken@", 1)} {
		ctx := context.Background()
		tr, err := Load(ctx, Options{Location: loc, Pins: f.pins(), StateDir: t.TempDir(), Now: func() time.Time { return t0.Add(time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		b, err := publish.Open(ctx, loc, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := FetchChart(ctx, b, loc, "app", "")
		b.Close()
		if err != nil {
			t.Fatal(err)
		}
		out := tr.Location + " " + d.URL + " " + d.Location
		if strings.Contains(out, "s3cret") || strings.Contains(out, "t0ken") || !strings.Contains(d.URL, "/app-1.0.0.tgz") {
			t.Errorf("%s: output shows credentials: %s", loc, out)
		}
	}
}

// A manifest too far past the one seen to walk the history: not trusted.
func TestHistoryTooFarFailsClosed(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	f.add(newMaintainer(t, "alice"))
	f.version, f.prevHash = MaxBackLinks+1, strings.Repeat("cd", 32)
	f.publish(t0)
	st := t.TempDir()
	seen := State{Location: f.b.Location(), Repository: "charts.example.org", Version: 1, ManifestSHA256: strings.Repeat("ab", 32), Issued: t0, RootVersion: 1}
	if err := newStateFile(st, f.b.Location()).write(seen); err != nil {
		t.Fatal(err)
	}
	_, err := f.load(t, st, t0.Add(time.Hour))
	if err == nil || fail.ExitCode(err) != 1 || !strings.Contains(strings.Join(fail.HintsOf(err), " "), StatePath(st, f.b.Location())) {
		t.Fatalf("history beyond the walk limit: %v", err)
	}
	if s, _ := ReadState(st, f.b.Location()); !s.Equal(seen) {
		t.Errorf("state changed: %+v", s)
	}
}

// A root set published ahead of the manifest that names it (a rotation's
// publish window, or a publish that failed after the root set went up)
// makes the live manifest stale: it is refused with a hint to retry, and
// the state is left as it was (a manifest under a rotated-away root set
// may be signed by a key that left it). Its signatures not yet up: the
// link is refused, with the same hint. Once the manifest names it, it is
// used, and a manifest naming an older root set than the state is a
// rollback.
func TestRootSetAheadOfManifest(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	f.add(newMaintainer(t, "alice"))
	f.publish(t0)
	st := t.TempDir()
	if _, err := f.load(t, st, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Root set 2 goes up, the manifest does not follow.
	rk2 := newRootKey(t, "root2")
	set2, err := root.Rotate(f.set, []*openpgp.Entity{rk2.pub}, nil, 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	sb2, err := set2.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var sigs [][]byte
	for _, k := range []rootKey{rk, rk2} {
		sig, err := root.Sign(k.sec, sb2, t0)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, sig)
	}
	sig2, err := root.Merge(sigs...)
	if err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(StatePath(st, f.b.Location()))
	if err != nil {
		t.Fatal(err)
	}
	retry := func(what string, err error) {
		t.Helper()
		if err == nil || fail.ExitCode(err) != 1 || !strings.Contains(strings.Join(fail.HintsOf(err), " "), "retry") {
			t.Errorf("%s: %v (hints %q)", what, err, fail.HintsOf(err))
		}
		if now, _ := os.ReadFile(StatePath(st, f.b.Location())); string(now) != string(saved) {
			t.Errorf("%s: state changed:\n%s", what, now)
		}
	}
	if err := f.b.Publish(context.Background(), publish.Plan{Pointer: publish.Object{Name: root.RootSetPath(2), Data: sb2}}); err != nil {
		t.Fatal(err)
	}
	_, err = f.load(t, st, t0.Add(time.Hour))
	var le *root.LinkError
	if !errors.As(err, &le) || le.To != 2 {
		t.Errorf("root set 2 up without its signatures: %v", err)
	}
	retry("root set 2 without signatures", err)
	if err := f.b.Publish(context.Background(), publish.Plan{Pointer: publish.Object{Name: root.RootSetPath(2) + root.SigSuffix, Data: sig2}}); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{st, t.TempDir()} {
		_, err = f.load(t, dir, t0.Add(time.Hour))
		if err == nil || !strings.Contains(err.Error(), "stale root set: the manifest names root set 1, but root set 2 is published") {
			t.Errorf("live manifest naming root set 1 while root set 2 is up: %v", err)
		}
	}
	retry("manifest naming root set 1, root set 2 up", err)
	// The manifest now names root set 2.
	v1 := mustGet(t, f.b, root.ManifestName)
	f.set, f.setBytes, f.setSigs = set2, sb2, sig2
	f.publish(t0.Add(time.Minute))
	tr, err := f.load(t, st, t0.Add(time.Hour))
	if err != nil || tr.RootSet.Version != 2 {
		t.Fatalf("manifest naming root set 2: %v", err)
	}
	// An old copy naming root set 1 again: rollback, whatever its version.
	put(t, f.b, root.ManifestName, v1)
	_, err = f.load(t, st, t0.Add(time.Hour))
	if err == nil || fail.ExitCode(err) != 1 || !strings.Contains(err.Error(), "rollback") {
		t.Fatalf("manifest naming an older root set: %v", err)
	}
	// A root set that does not parse: not trusted, not an input error.
	g := newFixture(t, t.TempDir(), "charts.example.org", rk)
	g.add(newMaintainer(t, "bob"))
	g.publish(t0)
	put(t, g.b, root.RootSetPath(1), append(mustGet(t, g.b, root.RootSetPath(1)), '}'))
	if _, err := g.load(t, t.TempDir(), t0.Add(time.Hour)); err == nil || fail.ExitCode(err) != 1 {
		t.Fatalf("tampered root set: %v", err)
	}
}

// State writes: equivocation at one version is refused under the lock, never
// overwritten; concurrent writers keep the newest record.
func TestStateWriteLocked(t *testing.T) {
	dir := t.TempDir()
	sf := newStateFile(dir, "/srv/charts")
	s := State{Location: "/srv/charts", Repository: "charts.example.org", Version: 3, ManifestSHA256: strings.Repeat("ab", 32), Issued: t0, RootVersion: 1, RootSHA256: strings.Repeat("01", 32)}
	if err := sf.write(s); err != nil {
		t.Fatal(err)
	}
	other := s
	other.ManifestSHA256 = strings.Repeat("cd", 32)
	if err := sf.write(other); fail.KindOf(err) != fail.Security {
		t.Errorf("same version, other hash: %v", err)
	}
	otherRoot := s
	otherRoot.Version, otherRoot.ManifestSHA256, otherRoot.RootSHA256 = 4, strings.Repeat("ef", 32), strings.Repeat("02", 32)
	if err := sf.write(otherRoot); fail.KindOf(err) != fail.Security {
		t.Errorf("same root version, other root set: %v", err)
	}
	if got, _ := sf.read(); !got.Equal(s) {
		t.Errorf("state overwritten: %+v", got)
	}
	// A state file without root_sha256 (written before it was recorded) reads.
	old := s
	old.RootSHA256 = ""
	os.WriteFile(sf.path, mustMarshal(t, old), 0o600)
	if got, err := sf.read(); err != nil || !got.Equal(old) {
		t.Errorf("state without root_sha256: %+v %v", got, err)
	}

	// Concurrent runs recording successive versions: the newest stands.
	cdir := t.TempDir()
	const n = 32
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		go func(v int) {
			st := State{Location: "/srv/charts", Repository: "charts.example.org", Version: uint64(v), ManifestSHA256: fmt.Sprintf("%064x", v), Issued: t0, RootVersion: 1}
			errs <- newStateFile(cdir, "/srv/charts").write(st)
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got, err := ReadState(cdir, "/srv/charts"); err != nil || got.Version != n {
		t.Errorf("after concurrent writes: %+v %v", got, err)
	}
}

// A root set other than the one recorded at the same root version: security.
func TestLoadRootSetEquivocation(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	f.add(newMaintainer(t, "alice"))
	f.publish(t0)
	st := t.TempDir()
	if _, err := f.load(t, st, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s, err := ReadState(st, f.b.Location())
	if err != nil || s.RootSHA256 != root.Hash(f.setBytes) {
		t.Fatalf("root_sha256 not recorded: %+v %v", s, err)
	}
	s.RootSHA256 = strings.Repeat("77", 32)
	os.WriteFile(StatePath(st, f.b.Location()), mustMarshal(t, s), 0o600)
	if _, err := f.load(t, st, t0.Add(time.Hour)); fail.KindOf(err) != fail.Security || !strings.Contains(err.Error(), "two different root sets") {
		t.Errorf("other root set at version 1: %v", err)
	}
}

// A record of a newer root set is never replaced by one of an older set,
// whichever manifest version either names: the run that decided under the
// older set is refused (another run trusted the newer set meanwhile).
func TestStateWriteNeverRollsBackRootSet(t *testing.T) {
	sf := newStateFile(t.TempDir(), "/srv/charts")
	cur := State{Location: "/srv/charts", Repository: "charts.example.org", Version: 5, ManifestSHA256: strings.Repeat("ab", 32), Issued: t0, RootVersion: 2, RootSHA256: strings.Repeat("02", 32)}
	if err := sf.write(cur); err != nil {
		t.Fatal(err)
	}
	for _, v := range []uint64{4, 6} {
		older := State{Location: "/srv/charts", Repository: "charts.example.org", Version: v, ManifestSHA256: fmt.Sprintf("%064x", v), Issued: t0, RootVersion: 1, RootSHA256: strings.Repeat("01", 32)}
		err := sf.write(older)
		if fail.KindOf(err) != fail.Untrusted || !strings.Contains(err.Error(), "rollback") {
			t.Errorf("manifest v%d under root set 1 over a record of root set 2: %v", v, err)
		}
		if got, _ := sf.read(); !got.Equal(cur) {
			t.Errorf("manifest v%d under root set 1 replaced the record of root set 2: %+v", v, got)
		}
	}
}
