package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// TestAttackStoreEditBackdatesLedgerForRetiredKeyInAudit: bob's key is
// retired; a release signed with it afterwards (by whoever kept or stole
// the retired key) is not trusted, because the store's ledger never saw
// it before the retirement. Someone who can write the store file adds a
// first-seen record dated before the retirement. No log record wrote it,
// so keyctl log --verify and publish refuse the store, but keyctl audit
// reads the ledger as it is and reports the release trusted (time source
// "ledger", which docs/verify.md says a signer cannot forge).
func TestAttackStoreEditBackdatesLedgerForRetiredKeyInAudit(t *testing.T) {
	st := newAttackStore(t)
	k, mustRun, made, alice, repo := st.args, st.mustRun, st.made, st.alice, st.repo
	bob := st.addKey("bob", "--reason", "maintainer")
	publishRelease(t, repo, charts.Spec{Name: "app", Version: "1.0.0"}, alice, made.Add(time.Hour))
	writeIndex(t, repo)
	mustRun("ledger", "record", "--repo", repo)
	mustRun("remove", bob.fpr, "--reason", "retired")

	// After the retirement: a release signed with bob's retired key.
	publishRelease(t, repo, charts.Spec{Name: "app", Version: "6.6.6"}, bob, made.Add(2*time.Hour))
	writeIndex(t, repo)
	if d := auditJSONRun(t, 1, k("audit", "--repo", repo)...); d.Summary.Trusted != 1 {
		t.Fatalf("before the edit: %+v", d.Summary)
	}

	sum := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	tgz := filepath.Join(repo, "charts", "app-6.6.6.tgz")
	entry, _ := json.Marshal(map[string]any{"chart": "app", "version": "6.6.6", "archive_sha256": sum(tgz), "prov_sha256": sum(tgz + ".prov"),
		"signer": bob.fpr, "first_seen": made.Add(3 * time.Hour).UTC().Format(time.RFC3339)})
	editStore(t, st.store, func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte("ledger")).Put([]byte("app\x006.6.6"), entry)
	})
	if _, _, code := keyctlRun(t, k("log", "--verify")...); code != 1 {
		t.Fatalf("log --verify accepts the edited store: exit %d", code)
	}
	got, _, errs, code := st.auditJSON()
	for _, r := range got.Releases {
		if r.Version == "6.6.6" && r.Status == "trusted" {
			t.Errorf("audit trusts a retired key's post-retirement release on a forged ledger record (exit %d): %+v", code, r)
		}
	}
	if code == 0 {
		t.Errorf("audit on a ledger its change log does not explain exits 0\n%s", errs)
	}
}
