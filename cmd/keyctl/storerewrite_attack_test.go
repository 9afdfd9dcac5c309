package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// TestAttackStoreLogRewriteReactivatesCompromisedKey: the change log's
// hash chain is keyed by nothing and anchored only in the same file
// (meta/loghead). Someone who can write the store file turns bob's
// "remove ... compromised" record into an "update", re-binds his
// reactivated key record, and recomputes every later prev hash and the
// log head: keyctl log --verify then passes, and keyctl audit reports the
// compromised key's release trusted, while the root-signed manifest the
// store published (and keyctl verify) still lists bob as removed.
func TestAttackStoreLogRewriteReactivatesCompromisedKey(t *testing.T) {
	st := newAttackStore(t)
	k, mustRun, made, alice, repo := st.args, st.mustRun, st.made, st.alice, st.repo
	bob := st.addKey("bob", "--reason", "maintainer")
	mustRun("remove", bob.fpr, "--reason", "compromised")
	mustRun("publish", "--to", filepath.Join(st.work, "site"), "--root-key", st.rootKey)
	publishRelease(t, repo, charts.Spec{Name: "app", Version: "1.0.0"}, alice, made.Add(time.Hour))
	publishRelease(t, repo, charts.Spec{Name: "app", Version: "6.6.6"}, bob, made.Add(2*time.Hour))
	writeIndex(t, repo)
	if d := auditJSONRun(t, 1, k("audit", "--repo", repo)...); d.Summary.Trusted != 1 {
		t.Fatalf("before the edit: %+v", d.Summary)
	}

	hexSum := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	editStore(t, st.store, func(tx *bbolt.Tx) error {
		kv, err := editKeyRecord(tx, bob.fpr, func(rec map[string]any) {
			rec["status"] = "active"
			delete(rec, "removal")
		})
		if err != nil {
			return err
		}
		log := tx.Bucket([]byte("log"))
		prev := ""
		c := log.Cursor()
		type kvp struct{ k, v []byte }
		var out []kvp
		for lk, lv := c.First(); lk != nil; lk, lv = c.Next() {
			var r map[string]any
			if err := json.Unmarshal(lv, &r); err != nil {
				return err
			}
			if r["action"] == "remove" && r["fingerprint"] == bob.fpr {
				r["action"], r["detail"] = "update", "certificate refreshed"
				delete(r, "reason")
				r["records"].(map[string]any)["keys/"+bob.fpr] = hexSum(kv)
			}
			if prev != "" {
				r["prev"] = prev
			}
			nv, _ := json.Marshal(r)
			out = append(out, kvp{append([]byte(nil), lk...), nv})
			prev = hexSum(nv)
		}
		for _, p := range out {
			if err := log.Put(p.k, p.v); err != nil {
				return err
			}
		}
		h, _ := hex.DecodeString(prev)
		return tx.Bucket([]byte("meta")).Put([]byte("loghead"), h)
	})
	if o, e, c := keyctlRun(t, k("log", "--verify")...); c != 0 {
		t.Fatalf("the rewritten log does not verify (the attack setup is wrong): exit %d\n%s%s", c, o, e)
	}
	got, _, errs, code := st.auditJSON()
	for _, r := range got.Releases {
		if r.Version == "6.6.6" && r.Status == "trusted" {
			t.Errorf("audit trusts a release of a key the published root-signed manifest lists as compromised (exit %d): %+v", code, r)
		}
	}
	if code == 0 {
		t.Errorf("audit disagrees with the published manifest and exits 0\n%s", errs)
	}
}
