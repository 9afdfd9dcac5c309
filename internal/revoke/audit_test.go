package revoke

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

var auditNow = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func audit(t *testing.T, repo string, ks *KeySet, mod func(*Options)) *Report {
	t.Helper()
	o := Options{Repository: repo, Keys: ks, Now: func() time.Time { return auditNow }, Backoff: time.Millisecond}
	if mod != nil {
		mod(&o)
	}
	rep, err := Audit(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// serve serves dir on 127.0.0.1; fail, when set, may answer instead.
func serve(t *testing.T, dir string, fail func(w http.ResponseWriter, r *http.Request) bool) string {
	t.Helper()
	fs := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail != nil && fail(w, r) {
			return
		}
		fs.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

func TestAuditClassifiesEveryRelease(t *testing.T) {
	r := buildRepo(t, 300, 0)
	ks := r.keySet(t, nil)
	for _, loc := range []string{r.dir, "file://" + r.dir, serve(t, r.dir, nil)} {
		rep := audit(t, loc, ks, nil)
		if rep.Total != 300 || rep.Listed != 300 {
			t.Fatalf("%s: total %d listed %d, want 300", loc, rep.Total, rep.Listed)
		}
		got := byKey(rep)
		seen := map[Status]int{}
		for _, rel := range r.releases {
			res, want := got[rel.key()], r.want(rel)
			seen[want]++
			if res.Status != want {
				t.Errorf("%s: %s %s: status %s (%s), want %s", loc, rel.chart, rel.version, res.Status, res.Detail, want)
			}
			if want == Trusted && (res.Signer != rel.signer.fpr() || !res.SignerVerified || res.SignedAt == nil || !res.SignedAt.Equal(rel.signedAt)) {
				t.Errorf("%s %s: signer %s at %v, want %s at %v", rel.chart, rel.version, res.Signer, res.SignedAt, rel.signer.fpr(), rel.signedAt)
			}
		}
		for _, s := range []Status{Trusted, Unsigned, HashMismatch, ChartMismatch, UnknownSigner, OutOfScope} {
			if seen[s] == 0 || rep.Counts[s] != seen[s] {
				t.Errorf("%s: %d releases %s, want %d (and more than 0)", loc, rep.Counts[s], s, seen[s])
			}
		}
		if rep.AllTrusted() {
			t.Error("AllTrusted with broken releases")
		}
		if len(rep.Worklist) != 300-rep.Counts[Trusted] {
			t.Errorf("worklist has %d items, want %d", len(rep.Worklist), 300-rep.Counts[Trusted])
		}
	}
}

func TestAuditKeyListsExactlyTheCompromisedKeysReleases(t *testing.T) {
	r := buildRepo(t, 300, 0)
	ks := r.keySet(t, map[*maintainer]ring.Removal{r.bob: {Reason: ring.Compromised, Effective: auditNow.Add(-time.Hour)}})
	url := serve(t, r.dir, nil)
	for _, q := range []string{r.bob.fpr(), pgpkey.KeyID(r.bob.public.PrimaryKey)} {
		rep := audit(t, url, ks, func(o *Options) { o.Match = []string{q} })
		got := byKey(rep)
		n := 0
		for _, rel := range r.releases {
			res, listed := got[rel.key()]
			if r.signerUnknown(rel) {
				// Unsigned, or signed by a key not in the set: nothing
				// tells who signed it, so --key cannot exclude it.
				n++
				if !listed || !res.SignerUnknown {
					t.Errorf("--key %s: %s %s (signer cannot be determined) listed=%v signer_unknown=%v", q, rel.chart, rel.version, listed, res.SignerUnknown)
				}
				continue
			}
			if rel.signer != r.bob {
				if listed {
					t.Errorf("--key %s lists %s %s signed by %v", q, rel.chart, rel.version, rel.signer)
				}
				continue
			}
			n++
			if !listed {
				t.Errorf("--key %s misses %s %s", q, rel.chart, rel.version)
				continue
			}
			// A compromised signer is reported before a tampered archive
			// or another release's .prov (client.Decide's order).
			want := Compromised
			if res.Status != want || res.Reason != "compromised" || !res.Removed {
				t.Errorf("%s %s: %s reason %q, want %s", rel.chart, rel.version, res.Status, res.Reason, want)
			}
		}
		if n < 80 || rep.Listed != n || len(rep.Worklist) != n || rep.AllTrusted() {
			t.Fatalf("--key %s: listed %d, worklist %d, want %d", q, rep.Listed, len(rep.Worklist), n)
		}
	}
	// --removed gives the same set; without a filter the others stay.
	rep := audit(t, r.dir, ks, func(o *Options) { o.RemovedOnly = true })
	if rep.Listed == 0 || rep.Counts[Compromised] == 0 || rep.Counts[Trusted] != 0 {
		t.Fatalf("--removed: %+v", rep.Counts)
	}
	for _, res := range rep.Results {
		if res.Signer != r.bob.fpr() && !res.SignerUnknown {
			t.Errorf("--removed lists %s %s by %s", res.Chart, res.Version, res.Signer)
		}
	}
}

func TestAuditKeyMatchesSubkeysAndUnknownKeys(t *testing.T) {
	r := buildRepo(t, 60, 0)
	ks := r.keySet(t, nil)
	sub := pgpkey.KeyID(r.alice.public.Subkeys[len(r.alice.public.Subkeys)-1].PublicKey)
	for _, c := range []struct {
		query string
		who   *maintainer
	}{{sub, r.alice}, {r.alice.fpr(), r.alice}, {r.mallory.fpr(), r.mallory}} {
		rep := audit(t, r.dir, ks, func(o *Options) { o.Match = []string{c.query} })
		want, unknown := 0, 0
		for _, rel := range r.releases {
			if rel.signer == c.who {
				want++
			} else if r.signerUnknown(rel) {
				unknown++ // listed: its signer cannot be determined
			}
		}
		if want == 0 || rep.Listed != want+unknown {
			t.Errorf("--key %s: %d releases, want %d signed by it and %d whose signer cannot be determined", c.query, rep.Listed, want, unknown)
		}
		for _, res := range rep.Results {
			if res.SignerUnknown {
				continue
			}
			if c.who == r.alice && (res.Signer != r.alice.fpr() || res.SigningKey == r.alice.fpr()) {
				t.Errorf("alice's subkey signature: signer %s signing key %s", res.Signer, res.SigningKey)
			}
		}
	}
}

func TestAuditSoftRemovalNeedsTheLedger(t *testing.T) {
	r := buildRepo(t, 120, 0)
	eff := r.t0.Add(60 * time.Hour) // releases 0..59 signed before, 60.. after
	ks := r.keySet(t, map[*maintainer]ring.Removal{r.alice: {Reason: ring.Retired, Effective: eff}})
	rep := audit(t, r.dir, ks, nil)
	ledger := map[[2]string]ring.LedgerEntry{}
	for _, res := range rep.Results {
		// First seen an hour after signing, except c00 (no record).
		if res.Chart == "c00" {
			continue
		}
		i := indexOf(t, r, res.Chart, res.Version)
		ledger[[2]string{res.Chart, res.Version}] = ring.LedgerEntry{Chart: res.Chart, Version: res.Version, ArchiveSHA256: res.ArchiveSHA256, ProvSHA256: res.ProvSHA256, FirstSeen: r.releases[i].signedAt.Add(time.Hour)}
	}
	// c01 1.0.3 has a record of other bytes: its time does not count.
	e := ledger[[2]string{"c01", "1.0.3"}]
	e.ArchiveSHA256 = strings.Repeat("0", 64)
	ledger[[2]string{"c01", "1.0.3"}] = e

	rep = audit(t, r.dir, ks, func(o *Options) { o.Ledger = ledger })
	got := byKey(rep)
	checked := map[string]int{}
	for i, rel := range r.releases {
		if rel.signer != r.alice || r.want(rel) != Trusted {
			continue
		}
		res := got[rel.key()]
		firstSeen := rel.signedAt.Add(time.Hour)
		switch {
		case rel.chart == "c00" || (rel.chart == "c01" && rel.version == "1.0.3"):
			checked["unverified"]++
			if res.Status != RemovedKey || res.TimeSource != TimeSignature || !strings.Contains(res.Detail, "unverified") {
				t.Errorf("%s %s without a matching ledger record: %s %s %q", rel.chart, rel.version, res.Status, res.TimeSource, res.Detail)
			}
		case firstSeen.Before(eff):
			checked["before"]++
			if res.Status != Trusted || res.TimeSource != TimeLedger || !res.Removed || res.FirstSeen == nil {
				t.Errorf("%d %s %s first seen before the retirement: %s %s", i, rel.chart, rel.version, res.Status, res.Detail)
			}
		default:
			checked["after"]++
			if res.Status != RemovedKey || res.TimeSource != TimeLedger || res.Reason != "retired" {
				t.Errorf("%s %s first seen after the retirement: %s %s", rel.chart, rel.version, res.Status, res.Detail)
			}
		}
	}
	if checked["unverified"] == 0 || checked["before"] == 0 || checked["after"] == 0 {
		t.Fatalf("the repository does not exercise every case: %v", checked)
	}
}

func indexOf(t *testing.T, r *testRepo, chart, version string) int {
	t.Helper()
	for i, rel := range r.releases {
		if rel.chart == chart && rel.version == version {
			return i
		}
	}
	t.Fatalf("the audit reported %s %s, which the test repository does not hold", chart, version)
	return -1
}

func TestAuditHTTPRetriesAndUnreachable(t *testing.T) {
	r := buildRepo(t, 30, 0)
	ks := r.keySet(t, nil)
	var mu sync.Mutex
	seen := map[string]bool{}
	url := serve(t, r.dir, func(w http.ResponseWriter, req *http.Request) bool {
		if strings.HasSuffix(req.URL.Path, "c01-1.0.1.tgz") {
			http.Error(w, "down", http.StatusInternalServerError)
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		if !seen[req.URL.Path] { // every object fails once
			seen[req.URL.Path] = true
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	rep := audit(t, url, ks, nil)
	got := byKey(rep)
	for _, rel := range r.releases {
		want := r.want(rel)
		if rel.chart == "c01" && rel.version == "1.0.1" {
			want = Unreachable
		}
		if res := got[rel.key()]; res.Status != want {
			t.Errorf("%s %s: %s (%s), want %s", rel.chart, rel.version, res.Status, res.Detail, want)
		}
	}
}

func TestAuditUnreadableIndexIsAnInputError(t *testing.T) {
	dir := t.TempDir()
	ks, _ := NewKeySet(nil)
	for name, setup := range map[string]func() string{
		"missing":  func() string { return dir },
		"http 404": func() string { return serve(t, dir, nil) },
		"garbage": func() string {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, "index.yaml"), []byte("apiVersion: v1\nentries: [\n"), 0o644)
			return d
		},
	} {
		_, err := Audit(context.Background(), Options{Repository: setup(), Keys: ks, Retries: 1})
		if err == nil || fail.ExitCode(err) != 2 {
			t.Errorf("%s: %v (exit %d), want an input error", name, err, fail.ExitCode(err))
		}
	}
}

func TestAuditProvOnlySkipsArchives(t *testing.T) {
	r := buildRepo(t, 40, 0)
	// Without archives, a tampered archive is not noticed, but nothing is fetched.
	for _, rel := range r.releases {
		os.Remove(filepath.Join(r.dir, "charts", rel.chart+"-"+rel.version+".tgz"))
	}
	rep := audit(t, r.dir, r.keySet(t, nil), func(o *Options) { o.ProvOnly = true })
	if rep.Counts[Unreachable] != 0 || rep.Counts[Trusted] == 0 || rep.Counts[HashMismatch] != 0 {
		t.Fatalf("--prov-only: %v", rep.Counts)
	}
	for _, res := range rep.Results {
		if res.Status == Trusted && !strings.Contains(res.Detail, "--prov-only") {
			t.Errorf("%s %s: detail %q does not say the archive was skipped", res.Chart, res.Version, res.Detail)
		}
	}
}

func TestLedgerRecordAlarmsOnReupload(t *testing.T) {
	r := buildRepo(t, 30, 0)
	st, err := ring.Open(filepath.Join(t.TempDir(), "keyctl.db"), ring.Options{Now: func() time.Time { return auditNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Init("example.org/charts", ring.RootLink{Version: 1, Data: []byte(`{"root":1}`)}, "", "tester"); err != nil {
		t.Fatal(err)
	}
	ks := r.keySet(t, nil)
	res, err := Record(st, audit(t, r.dir, ks, nil), ks, "tester")
	if err != nil || res.Added != 30 || len(res.Alarms) != 0 {
		t.Fatalf("first record: %+v %v", res, err)
	}
	// The same repository again: nothing new, no alarm.
	res, err = Record(st, audit(t, r.dir, ks, nil), ks, "tester")
	if err != nil || res.Added != 0 || res.Known != 30 || len(res.Alarms) != 0 {
		t.Fatalf("second record: %+v %v", res, err)
	}
	// c01 1.0.2 re-uploaded with other bytes, validly signed by its signer.
	rel := r.releases[12]
	name := rel.chart + "-" + rel.version + ".tgz"
	data, err := charts.Archive(charts.Spec{Name: rel.chart, Version: rel.version, AppVersion: "6.6.6"})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := charts.SignBytes(rel.signer.secret, name, data, auditNow)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(r.dir, "charts", name), data, 0o644)
	os.WriteFile(filepath.Join(r.dir, "charts", name+".prov"), prov, 0o644)
	// c02 1.0.1 re-signed by another maintainer over the same bytes.
	other := r.releases[21]
	oname := other.chart + "-" + other.version + ".tgz"
	odata, _ := os.ReadFile(filepath.Join(r.dir, "charts", oname))
	oprov, err := charts.SignBytes(r.carol.secret, oname, odata, auditNow)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(r.dir, "charts", oname+".prov"), oprov, 0o644)

	rep := audit(t, r.dir, ks, nil)
	if got := byKey(rep)[rel.key()]; got.Status != Trusted {
		t.Fatalf("the re-upload verifies on its own (%s): only the ledger can tell", got.Status)
	}
	res, err = Record(st, rep, ks, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Alarms) != 2 || res.Added != 0 {
		t.Fatalf("alarms %+v, want 2", res.Alarms)
	}
	if a := res.Alarms[0]; a.Chart != "c01" || !strings.Contains(a.What, "archive bytes changed") {
		t.Errorf("alarm %+v", a)
	}
	if a := res.Alarms[1]; a.Chart != "c02" || !strings.Contains(a.What, "signer changed") {
		t.Errorf("alarm %+v", a)
	}
	// The first-seen record is unchanged.
	le, _ := st.LedgerGet(rel.chart, rel.version)
	if le == nil || le.ArchiveSHA256 == got(rep, rel).ArchiveSHA256 {
		t.Fatalf("ledger record was overwritten: %+v", le)
	}
}

func got(rep *Report, rel release) Result { return byKey(rep)[rel.key()] }

func TestLedgerResignAfterCompromiseIsNoAlarm(t *testing.T) {
	r := buildRepo(t, 12, 0)
	st, err := ring.Open(filepath.Join(t.TempDir(), "keyctl.db"), ring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Init("example.org/charts", ring.RootLink{Version: 1, Data: []byte(`{"root":1}`)}, "", "tester")
	ks := r.keySet(t, nil)
	if _, err := Record(st, audit(t, r.dir, ks, nil), ks, "tester"); err != nil {
		t.Fatal(err)
	}
	removed := r.keySet(t, map[*maintainer]ring.Removal{r.bob: {Reason: ring.Compromised, Effective: auditNow}})
	rep := audit(t, r.dir, removed, func(o *Options) { o.Match = []string{r.bob.fpr()} })
	if rep.Listed == 0 {
		t.Fatal("bob signed nothing")
	}
	for _, w := range rep.Worklist {
		name := w.Chart + "-" + w.Version + ".tgz"
		data, _ := os.ReadFile(filepath.Join(r.dir, "charts", name))
		prov, err := charts.SignBytes(r.alice.secret, name, data, auditNow)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(r.dir, "charts", name+".prov"), prov, 0o644)
	}
	res, err := Record(st, audit(t, r.dir, removed, nil), removed, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Alarms) != 0 || len(res.Resigned) != rep.Listed {
		t.Fatalf("re-sign: alarms %+v, resigned %d, want 0 and %d", res.Alarms, len(res.Resigned), rep.Listed)
	}
	// The re-sign is now the record's current signer: recording again is
	// quiet, and the first-seen time and archive are kept.
	res, err = Record(st, audit(t, r.dir, removed, nil), removed, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Alarms) != 0 || len(res.Resigned) != 0 {
		t.Fatalf("second record after the re-sign: alarms %d, resigned %d, want 0 and 0", len(res.Alarms), len(res.Resigned))
	}
	w := rep.Worklist[0]
	le, err := st.LedgerGet(w.Chart, w.Version)
	if err != nil || le == nil || len(le.Resigns) != 1 || le.Current().Signer != r.alice.fpr() || le.Signer == r.alice.fpr() {
		t.Fatalf("ledger record after the re-sign: %+v %v", le, err)
	}
	// A later change of the .prov by anyone else is an alarm again.
	name := w.Chart + "-" + w.Version + ".tgz"
	data, _ := os.ReadFile(filepath.Join(r.dir, "charts", name))
	prov, err := charts.SignBytes(r.bob.secret, name, data, auditNow)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(r.dir, "charts", name+".prov"), prov, 0o644)
	res, err = Record(st, audit(t, r.dir, removed, nil), removed, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Alarms) != 1 {
		t.Fatalf("a compromised key's signature over a re-signed release: alarms %+v", res.Alarms)
	}
}

func TestAuditRefusesABadKeyQuery(t *testing.T) {
	r := buildRepo(t, 3, 0)
	for _, q := range []string{"alice", "0123", strings.Repeat("G", 40)} {
		_, err := Audit(context.Background(), Options{Repository: r.dir, Keys: r.keySet(t, nil), Match: []string{q}})
		if err == nil || fail.ExitCode(err) != 2 || !strings.Contains(err.Error(), "--key") {
			t.Errorf("--key %q: %v", q, err)
		}
	}
}
