package client

import (
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/root"
)

// Attack (holder of a retired maintainer key, after its retirement): the
// signed index's issue time backs soft removals (docs/verify.md, Signed
// index: "a release the signed index listed with the archive's digest
// existed at that time, so a signature by a key retired ... after it stays
// trusted"). But FetchRelease sets Download.IndexedAt from the ARCHIVE's
// digest alone: keyctl-index.json / index.yaml bind no .prov, so the
// statement proves the archive existed at its issue time, never that the
// signature did. (The ledger, the other trusted time, binds the .prov:
// revoke.ledgerMatches refuses a record with other .prov bytes.)
//
// Here an archive the signed index listed at T was never signed by bob
// (an unsigned chart-releaser upload, or one signed by an index key:
// wrong-role). Bob retires at T+1h; afterwards his retired key leaks
// (retired, so never removed as compromised). The holder writes a new
// .prov for that listed archive, backdated to before the retirement, and
// serves it next to the archive (the .prov is fetched from the archive
// host, unbound). Without the signed index the signature is refused; with
// it the forged signature is trusted, time_source signed-index.
func TestAttackSignedIndexTimeBacksForgedProv(t *testing.T) {
	rk := newRootKey(t, "root")
	f := newFixture(t, t.TempDir(), "charts.example.org", rk)
	f.add(newMaintainer(t, "alice"))
	bob := newMaintainer(t, "bob")
	mb := f.add(bob)

	indexedAt := t0                       // the signed index lists the archive (by digest)
	retiredAt := t0.Add(time.Hour)        // bob retires
	forgedAt := t0.Add(-30 * time.Minute) // the date the attacker writes into the new .prov
	mb.status, mb.reason, mb.effective = root.Removed, root.Retired, retiredAt
	f.publish(retiredAt.Add(time.Minute))
	tr, err := f.load(t, "", retiredAt.Add(48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// The same archive bytes the index listed, with a .prov signed after the
	// retirement by bob's leaked key but dated before it.
	a, p, _ := chart(t, bob, "app", "6.6.6", forgedAt)

	plain := Decide(tr, tr.Now, Candidate{Prov: p, ArchiveName: "app-6.6.6.tgz", Archive: a})
	if plain.Trusted {
		t.Fatalf("fixture: a backdated signature by a retired key is trusted without any time source: %s", plain.Reason)
	}
	// What FetchRelease hands Decide for that archive: IndexedAt set because
	// the archive's sha256 is the digest index.yaml lists, whatever .prov.
	d := Decide(tr, tr.Now, Candidate{Prov: p, ArchiveName: "app-6.6.6.tgz", Archive: a, IndexedAt: &indexedAt})
	if d.Trusted {
		t.Errorf("a .prov forged after the retirement by the retired key's holder is trusted on the signed index's time (%s), which binds only the archive, not the signature: %s",
			d.TimeSource, d.Reason)
	}
}
