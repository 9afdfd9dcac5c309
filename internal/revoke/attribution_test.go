package revoke

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// recordLedger is runbook step 0: a store whose ledger saw every release
// of r while all keys were active.
func recordLedger(t *testing.T, r *testRepo) map[[2]string]ring.LedgerEntry {
	t.Helper()
	st, err := ring.Open(filepath.Join(t.TempDir(), "keyctl.db"), ring.Options{Now: func() time.Time { return auditNow.Add(-48 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Init("example.org/charts", ring.RootLink{Version: 1, Data: []byte(`{"root":1}`)}, "", "tester"); err != nil {
		t.Fatal(err)
	}
	active := r.keySet(t, nil)
	if _, err := Record(st, audit(t, r.dir, active, nil), active, "tester"); err != nil {
		t.Fatal(err)
	}
	l, err := st.Ledger()
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// firstBy is the first untampered release rel.signer == m, after skip.
func firstBy(t *testing.T, r *testRepo, m *maintainer, skip int) release {
	t.Helper()
	for _, rel := range r.releases {
		if rel.signer == m && !rel.tampered && !rel.chartMismatch {
			if skip == 0 {
				return rel
			}
			skip--
		}
	}
	t.Fatalf("the fixture has no untampered release number %d by %s", skip, m.name)
	return release{}
}

// With the ledger, a compromised key's release whose .prov was deleted, or
// replaced by one signed with a key in no key set, stays attributed to the
// compromised key: listed by --key and --removed as prov-missing or
// prov-changed, not as unsigned or unknown signer.
func TestAuditLedgerAttributesBrokenProvToRecordedSigner(t *testing.T) {
	r := buildRepo(t, 12, 0)
	ledger := recordLedger(t, r)
	gone, replaced := firstBy(t, r, r.bob, 0), firstBy(t, r, r.bob, 1)
	if err := os.Remove(chartPath(r, gone) + ".prov"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(chartPath(r, replaced))
	if err != nil {
		t.Fatal(err)
	}
	prov, err := charts.SignBytes(r.mallory.secret, filepath.Base(chartPath(r, replaced)), data, auditNow.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(chartPath(r, replaced)+".prov", prov, 0o644); err != nil {
		t.Fatal(err)
	}
	ks := r.keySet(t, map[*maintainer]ring.Removal{r.bob: {Reason: ring.Compromised, Effective: auditNow.Add(-time.Hour)}})
	for name, mod := range map[string]func(*Options){
		"--key":     func(o *Options) { o.Match = []string{r.bob.fpr()}; o.Ledger = ledger },
		"--removed": func(o *Options) { o.RemovedOnly = true; o.Ledger = ledger },
		"(all)":     func(o *Options) { o.Ledger = ledger },
	} {
		rep := audit(t, r.dir, ks, mod)
		for rel, want := range map[release]Status{gone: ProvMissing, replaced: ProvChanged} {
			res, ok := byKey(rep)[rel.key()]
			if !ok || res.Status != want || res.LedgerSigner != r.bob.fpr() || !res.Removed || res.Reason != "compromised" || res.SignerUnknown || res.Ledger == nil {
				t.Errorf("%s: %s %s listed=%v status %s ledger signer %q removed=%v (%s), want %s attributed to bob", name, rel.chart, rel.version, ok, res.Status, res.LedgerSigner, res.Removed, res.Detail, want)
			}
		}
		if rep.AllTrusted() || rep.Counts[ProvMissing] != 1 || rep.Counts[ProvChanged] != 1 {
			t.Errorf("%s: counts %v", name, rep.Counts)
		}
		in := map[[2]string]bool{}
		for _, w := range rep.Worklist {
			in[[2]string{w.Chart, w.Version}] = true
		}
		if !in[gone.key()] || !in[replaced.key()] {
			t.Errorf("%s: worklist misses the broken releases: %+v", name, rep.Worklist)
		}
	}
	// Release 0 was recorded unsigned and is unchanged: the ledger says
	// nobody signed it, so --key bob leaves it out.
	rep := audit(t, r.dir, ks, func(o *Options) { o.Match = []string{r.bob.fpr()}; o.Ledger = ledger })
	if res, ok := byKey(rep)[r.releases[0].key()]; ok {
		t.Errorf("--key bob lists %s %s, recorded unsigned with the same archive: %+v", res.Chart, res.Version, res)
	}
	// Without the ledger the same archive cannot be told apart: listed.
	rep = audit(t, r.dir, ks, func(o *Options) { o.Match = []string{r.bob.fpr()} })
	if res, ok := byKey(rep)[r.releases[0].key()]; !ok || !res.SignerUnknown {
		t.Errorf("--key bob without a ledger: unsigned %s %s listed=%v signer_unknown=%v", r.releases[0].chart, r.releases[0].version, ok, res.SignerUnknown)
	}
}

// A ledger record the index no longer lists is missing-from-index: an
// alarm (listed, in the worklist) when its signer is asked for with --key
// or is removed; otherwise only noted in Unlisted.
func TestAuditLedgerReleasesMissingFromIndex(t *testing.T) {
	r := buildRepo(t, 12, 0)
	ledger := recordLedger(t, r)
	bobs, alices := firstBy(t, r, r.bob, 0), firstBy(t, r, r.alice, 0)
	// The ledger knows one more release of bob and of alice than the
	// index lists (versions the host left out).
	extra := func(rel release, v string) {
		le := ledger[rel.key()]
		le.Version = v
		ledger[[2]string{rel.chart, v}] = le
	}
	extra(bobs, "9.9.9")
	extra(alices, "8.8.8")
	ks := r.keySet(t, map[*maintainer]ring.Removal{r.bob: {Reason: ring.Compromised, Effective: auditNow.Add(-time.Hour)}})
	find := func(rs []Result, chart, v string) *Result {
		for i := range rs {
			if rs[i].Chart == chart && rs[i].Version == v {
				return &rs[i]
			}
		}
		return nil
	}
	cases := []struct {
		name        string
		mod         func(*Options)
		alarm, note [2]string
	}{
		{"(all)", func(o *Options) {}, [2]string{bobs.chart, "9.9.9"}, [2]string{alices.chart, "8.8.8"}},
		{"--key alice", func(o *Options) { o.Match = []string{r.alice.fpr()} }, [2]string{alices.chart, "8.8.8"}, [2]string{bobs.chart, "9.9.9"}},
		{"--removed", func(o *Options) { o.RemovedOnly = true }, [2]string{bobs.chart, "9.9.9"}, [2]string{alices.chart, "8.8.8"}},
	}
	for _, c := range cases {
		rep := audit(t, r.dir, ks, func(o *Options) { c.mod(o); o.Ledger = ledger })
		res := find(rep.Results, c.alarm[0], c.alarm[1])
		if res == nil || res.Status != MissingFromIndex || res.Ledger == nil || res.FirstSeen == nil || res.LedgerSigner == "" {
			t.Errorf("%s: %v not reported missing-from-index: %+v", c.name, c.alarm, res)
		}
		if rep.AllTrusted() || rep.Counts[MissingFromIndex] != 1 {
			t.Errorf("%s: counts %v, all trusted %v", c.name, rep.Counts, rep.AllTrusted())
		}
		inWork := false
		for _, w := range rep.Worklist {
			inWork = inWork || (w.Chart == c.alarm[0] && w.Version == c.alarm[1])
		}
		if !inWork {
			t.Errorf("%s: %v not in the worklist", c.name, c.alarm)
		}
		if find(rep.Results, c.note[0], c.note[1]) != nil || find(rep.Unlisted, c.note[0], c.note[1]) == nil {
			t.Errorf("%s: %v should be noted, not listed: unlisted %+v", c.name, c.note, rep.Unlisted)
		}
	}
	// Recording again does not take the missing releases as seen.
	rep := audit(t, r.dir, ks, func(o *Options) { o.Ledger = ledger })
	for _, e := range LedgerEntries(rep) {
		if e.Version == "9.9.9" || e.Version == "8.8.8" {
			t.Errorf("ledger entries include a release not listed: %+v", e)
		}
	}
}

// An OCI audit limited with --chart did not list the ledger's other
// charts: only the charts in scope can be missing from the listing.
func TestMissingFromIndexKeepsToTheChartsAudited(t *testing.T) {
	r := buildRepo(t, 3, 0)
	ledger := map[[2]string]ring.LedgerEntry{
		{"app", "1.0.0"}: {Chart: "app", Version: "1.0.0", ArchiveSHA256: "aa", Signer: r.bob.fpr()},
		{"web", "1.0.0"}: {Chart: "web", Version: "1.0.0", ArchiveSHA256: "bb", Signer: r.bob.fpr()},
	}
	opts := Options{Keys: r.keySet(t, nil), Ledger: ledger}
	got := missingFromIndex(map[[2]string]bool{}, opts, map[string]bool{"app": true})
	if len(got) != 1 || got[0].Chart != "app" || got[0].Status != MissingFromIndex || got[0].LedgerSigner != r.bob.fpr() {
		t.Errorf("scope app: %+v", got)
	}
	if got := missingFromIndex(map[[2]string]bool{{"web", "1.0.0"}: true}, opts, nil); len(got) != 1 || got[0].Chart != "app" {
		t.Errorf("web listed, no scope: %+v", got)
	}
}
