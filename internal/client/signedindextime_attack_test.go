package client

import (
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/root"
)

// The signed index's first-seen time is trusted time only for the exact
// .prov bytes it binds.
//
// Attack (holder of a retired maintainer key, after its retirement): an
// archive the signed index lists; the holder writes a new .prov for it,
// signed after the retirement but dated before it, and serves it next to
// the archive. The statement binds the .prov bob really published (its
// SHA-256), so the forged one gets no time from it and is refused; the
// genuine one, which the index key's holder saw before the retirement,
// stays trusted with time_source signed-index.
func TestAttackSignedIndexTimeBacksForgedProv(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	f.add(newMaintainer(t, "alice"))
	bob := newMaintainer(t, "bob")
	mb := f.add(bob)

	signedAt := t0.Add(-10 * time.Minute) // bob signs the release
	indexedAt := t0                       // the index key's holder sees its .prov
	retiredAt := t0.Add(time.Hour)        // bob retires
	forgedAt := t0.Add(-30 * time.Minute) // the date the attacker writes into a new .prov
	mb.status, mb.reason, mb.effective = root.Removed, root.Retired, retiredAt
	f.publish(retiredAt.Add(time.Minute))
	tr, err := f.load(t, "", retiredAt.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	a, _, _ := chart(t, nil, "app", "6.6.6", signedAt)
	sign := func(at time.Time) ([]byte, *provenance.Prov) {
		t.Helper()
		data, err := provenance.Sign(bob, a, "app-6.6.6.tgz", at)
		if err != nil {
			t.Fatal(err)
		}
		p, err := provenance.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		return data, p
	}
	genuine, gp := sign(signedAt)
	forged, fp := sign(forgedAt)
	if indexsig.Hash(genuine) == indexsig.Hash(forged) {
		t.Fatal("fixture: the forged .prov has the genuine one's bytes")
	}
	stmt, err := indexsig.New("charts.example.org", []byte("index"), []indexsig.Release{
		{Name: "app", Version: "6.6.6", ProvSHA256: indexsig.Hash(genuine), FirstSeen: indexedAt},
	}, indexedAt.Add(2*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	decide := func(data []byte, p *provenance.Prov, s *indexsig.Statement, ledger *time.Time) *Decision {
		return Decide(tr, tr.Now, Candidate{Prov: p, ArchiveName: "app-6.6.6.tgz", Archive: a, Index: s, ProvSHA256: indexsig.Hash(data), FirstSeen: fixedTime(ledger)})
	}

	if d := decide(genuine, gp, nil, nil); d.Trusted {
		t.Fatalf("fixture: a signature by a retired key is trusted without any trusted time: %s", d.Reason)
	}
	d := decide(genuine, gp, stmt, nil)
	if !d.Trusted || d.TimeSource != TimeSignedIndex || d.FirstSeen != indexedAt.Format(time.RFC3339) {
		t.Fatalf("the .prov the signed index saw before the retirement: trusted=%v source %q first seen %q: %s", d.Trusted, d.TimeSource, d.FirstSeen, d.Reason)
	}
	if d := decide(forged, fp, stmt, nil); d.Trusted || d.TimeSource == TimeSignedIndex {
		t.Errorf("a .prov forged after the retirement by the retired key's holder is trusted on the signed index's time (%s), which binds another .prov: %s", d.TimeSource, d.Reason)
	}
	// Only the .prov's digest counts: the genuine .prov's release under a
	// statement that binds the forged bytes is refused too.
	other, _ := indexsig.New("charts.example.org", []byte("index"), []indexsig.Release{
		{Name: "app", Version: "6.6.6", ProvSHA256: indexsig.Hash(forged), FirstSeen: indexedAt},
	}, indexedAt.Add(2*time.Hour), 0)
	if d := decide(genuine, gp, other, nil); d.Trusted {
		t.Errorf("a .prov the statement does not bind is trusted: %s", d.Reason)
	}
	// An entry seen after the retirement backs nothing.
	late, _ := indexsig.New("charts.example.org", []byte("index"), []indexsig.Release{
		{Name: "app", Version: "6.6.6", ProvSHA256: indexsig.Hash(genuine), FirstSeen: retiredAt.Add(time.Minute)},
	}, retiredAt.Add(2*time.Hour), 0)
	if d := decide(genuine, gp, late, nil); d.Trusted || d.TimeSource != TimeSignedIndex {
		t.Errorf("first seen after the retirement: trusted=%v source %q: %s", d.Trusted, d.TimeSource, d.Reason)
	}
	// The earlier of the ledger and the signed index decides.
	ledgerLate := retiredAt.Add(time.Minute)
	if d := decide(genuine, gp, stmt, &ledgerLate); !d.Trusted || d.TimeSource != TimeSignedIndex {
		t.Errorf("ledger after, index before the retirement: trusted=%v source %q: %s", d.Trusted, d.TimeSource, d.Reason)
	}
	ledgerEarly := indexedAt.Add(-time.Minute)
	if d := decide(genuine, gp, stmt, &ledgerEarly); !d.Trusted || d.TimeSource != TimeLedger {
		t.Errorf("ledger before the index: trusted=%v source %q: %s", d.Trusted, d.TimeSource, d.Reason)
	}
	// A compromised key stays untrusted whatever the signed index says.
	mb.reason = root.Compromised
	f.publish(retiredAt.Add(2 * time.Minute))
	tr2, err := f.load(t, "", retiredAt.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d := Decide(tr2, tr2.Now, Candidate{Prov: gp, ArchiveName: "app-6.6.6.tgz", Archive: a, Index: stmt, ProvSHA256: indexsig.Hash(genuine)}); d.Trusted {
		t.Errorf("compromised key trusted on the signed index's time: %s", d.Reason)
	}
}
