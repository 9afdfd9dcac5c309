package main

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

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
	cs := newCLIStore(t, "lead@example.org")
	work, k, mustRun := cs.work, cs.args, cs.mustRun
	mustRun("root", "create", "--name", "root", "--secret-out", filepath.Join(work, "root.key"), "--public-out", filepath.Join(work, "root.pub"), "--no-passphrase")
	mustRun("init", "--repository", "charts.example.org", "--root-key", filepath.Join(work, "root.pub"))
	made := time.Now().Add(-72 * time.Hour)
	alice := newAuditKey(t, work, "alice", made, false)
	ci := newAuditKey(t, work, "ci", made, false)
	mustRun("add", alice.file, "--reason", "maintainer")
	mustRun("add", ci.file, "--role", "index", "--reason", "CI signs index.yaml")
	repo := filepath.Join(work, "repo")
	publishRelease(t, repo, charts.Spec{Name: "app", Version: "1.0.0"}, alice, made.Add(time.Hour))
	publishRelease(t, repo, charts.Spec{Name: "app", Version: "6.6.6"}, ci, made.Add(2*time.Hour))
	writeIndex(t, repo)
	if _, _, code := keyctlRun(t, k("audit", "--repo", repo)...); code == 0 {
		t.Fatal("before the edit: audit trusts a chart signed by the index key")
	}

	editStore(t, cs.store, func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("keys"))
		var rec map[string]any
		if err := json.Unmarshal(b.Get([]byte(ci.fpr)), &rec); err != nil {
			return err
		}
		if rec["role"] != "index" {
			t.Fatalf("stored role %v", rec["role"])
		}
		delete(rec, "role")
		v, _ := json.Marshal(rec)
		return b.Put([]byte(ci.fpr), v)
	})
	if _, _, code := keyctlRun(t, k("log", "--verify")...); code != 1 {
		t.Fatalf("log --verify accepts the edited store: exit %d", code)
	}
	out, errs, code := keyctlRun(t, k("audit", "--repo", repo, "-o", "json")...)
	var got auditDoc
	_ = json.Unmarshal([]byte(out), &got)
	for _, r := range got.Releases {
		if r.Version == "6.6.6" && r.Status == "trusted" {
			t.Errorf("audit on an edited store trusts a chart signed by the index key (exit %d): %+v", code, r)
		}
	}
	if code == 0 {
		t.Errorf("audit on a store whose key role the change log does not explain exits 0 (no signed index required)\n%s", errs)
	}
}
