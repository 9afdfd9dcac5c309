package main

import (
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// TestAttackStoreEditTurnsIndexKeyIntoMaintainerInAudit: the CI's index
// key signs keyctl-index.json, never a chart. Someone who can write the
// team lead's store file (or who holds the CI key and that file) deletes
// the key record's role: the change log added the key as an index key, so
// keyctl log --verify and publish refuse the store, but keyctl audit takes
// the role from the record as it is. A chart the index key signed is then
// trusted, and with no index key left the audit no longer requires a
// signed index.yaml at all.
func TestAttackStoreEditTurnsIndexKeyIntoMaintainerInAudit(t *testing.T) {
	st := newAttackStore(t)
	k, made, alice, repo := st.args, st.made, st.alice, st.repo
	ci := st.addKey("ci", "--role", "index", "--reason", "CI signs index.yaml")
	publishRelease(t, repo, charts.Spec{Name: "app", Version: "1.0.0"}, alice, made.Add(time.Hour))
	publishRelease(t, repo, charts.Spec{Name: "app", Version: "6.6.6"}, ci, made.Add(2*time.Hour))
	writeIndex(t, repo)
	if _, _, code := keyctlRun(t, k("audit", "--repo", repo)...); code == 0 {
		t.Fatal("before the edit: audit trusts a chart signed by the index key")
	}

	editStoredKey(t, st.store, ci.fpr, func(rec map[string]any) {
		if rec["role"] != "index" {
			t.Fatalf("stored role %v", rec["role"])
		}
		delete(rec, "role")
	})
	if _, _, code := keyctlRun(t, k("log", "--verify")...); code != 1 {
		t.Fatalf("log --verify accepts the edited store: exit %d", code)
	}
	got, _, errs, code := st.auditJSON()
	for _, r := range got.Releases {
		if r.Version == "6.6.6" && r.Status == "trusted" {
			t.Errorf("audit on an edited store trusts a chart signed by the index key (exit %d): %+v", code, r)
		}
	}
	if code == 0 {
		t.Errorf("audit on a store whose key role the change log does not explain exits 0 (no signed index required)\n%s", errs)
	}
}
