package ring

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// TestAttackSchemaDowngradeLaundersTampering: someone who can write the
// store file widens an active key's scopes and backdates a ledger
// first-seen time (what keeps a retired key's releases trusted in audit),
// then writes meta/schema = 1 and nothing else: the log, which already
// carries record hashes, is left as it is. The next command that opens the
// store for writing runs the 1 -> 2 migration (bindExisting), which checks
// only status and removal reason (explain(tx, false)) and binds the
// altered records; keyctl log --verify and publish then pass.
//
// docs/manifest.md (Store integrity): changing a key or ledger record
// must be caught unless the whole log is rewritten consistently. A log
// whose records already carry hashes is not a schema 1 log: secure
// behaviour is to refuse the "upgrade" (or check the hashes), not bind.
func TestAttackSchemaDowngradeLaundersTampering(t *testing.T) {
	path, _, bob := tamperStore(t)
	editDB(t, path, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bKeys).Get([]byte(bob))
		nv := strings.Replace(string(v), `"status":"active"`, `"status":"active","scopes":["*"]`, 1)
		if err := tx.Bucket(bKeys).Put([]byte(bob), []byte(nv)); err != nil {
			return err
		}
		k := ledgerKey("nginx", "1.0.0")
		var e LedgerEntry
		if err := json.Unmarshal(tx.Bucket(bLedger).Get(k), &e); err != nil {
			return err
		}
		e.FirstSeen = e.FirstSeen.Add(-365 * 24 * time.Hour)
		lv, _ := json.Marshal(e)
		if err := tx.Bucket(bLedger).Put(k, lv); err != nil {
			return err
		}
		return tx.Bucket(bMeta).Put(kSchema, u64(1))
	})
	s, err := Open(path, Options{})
	if err != nil {
		return // refused: secure
	}
	defer s.Close()
	if _, err := s.VerifyLog(); err == nil {
		t.Errorf("a schema downgrade bound an altered key record (scopes widened) and a backdated ledger entry; VerifyLog passes")
	}
}
