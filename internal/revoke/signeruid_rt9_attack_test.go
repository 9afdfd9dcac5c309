package revoke

import (
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

// Attack (low; no attacker key: a maintainer whose user ID self-signature
// lapsed and was renewed, judged by a key set that outlives one instant,
// e.g. a library caller or a long-lived process running Audit twice with
// one KeySet): KeySet.SignerUID memoises the user ID with the time of
// its first call and ignores now afterwards, while client.Decide through
// verify's *Trusted names the signer at each call's own now
// (client.SignerUID). The refreshed key below has no valid user ID on day
// 15 and a valid one on day 25: an audit on day 25 with a key set first
// asked on day 15 reports no signer name, verify on day 25 reports it.
// Rule: verify and audit give the same signer name on the same input at
// the same time (signerNamer.SignerUID(fpr, now) answers for now).
// Fix: key the memo by now (or drop it when now differs from the one memoised).
func TestAttackAuditSignerUIDMemoIgnoresNow(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	_, public := refreshedKey(t, "refreshed", t0)
	ks, err := NewKeySet([]*Key{{Entity: public, Active: true}})
	if err != nil {
		t.Fatal(err)
	}
	fpr := pgpkey.Fingerprint(public)
	early, late := t0.Add(15*day), t0.Add(25*day)
	if got, want := ks.SignerUID(fpr, early), client.SignerUID(public, early); got != want {
		t.Fatalf("day 15: audit names %q, verify %q", got, want)
	}
	want := client.SignerUID(public, late)
	if want == "" {
		t.Fatal("fixture: the renewed user ID should be valid on day 25")
	}
	if got := ks.SignerUID(fpr, late); got != want {
		t.Fatalf("day 25: audit's key set names the signer %q (memoised on day 15), verify names %q: the same input gets two signer names", got, want)
	}
}
