package ring

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

// tamperStore builds a store with alice (removed as compromised), bob
// (active) and one ledger entry, closes it and returns its path.
func tamperStore(t *testing.T) (path, alice, bob string) {
	t.Helper()
	s, path := openInit(t)
	a, b := newKey(t, "alice"), newKey(t, "bob")
	if _, err := s.Add(a, AddRequest{Reason: "maintainer", Actor: "lead"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(b, AddRequest{Reason: "maintainer", Actor: "lead"}, nil); err != nil {
		t.Fatal(err)
	}
	alice, bob = pgpkey.Fingerprint(a), pgpkey.Fingerprint(b)
	if _, err := s.Remove(alice, RemoveRequest{Reason: Compromised, Actor: "lead"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LedgerRecord([]LedgerEntry{{Chart: "nginx", Version: "1.0.0", ArchiveSHA256: strings.Repeat("a", 64), Signer: bob}}, "lead"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.VerifyLog(); err != nil {
		t.Fatalf("untampered store: %v", err)
	}
	s.Close()
	return path, alice, bob
}

func editDB(t *testing.T, path string, f func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(f); err != nil {
		t.Fatal(err)
	}
}

// reactivate flips a removed key record back to active, as an attacker
// with the file would.
func reactivate(t *testing.T, tx *bbolt.Tx, fpr string) {
	t.Helper()
	var k map[string]any
	if err := json.Unmarshal(tx.Bucket(bKeys).Get([]byte(fpr)), &k); err != nil {
		t.Fatal(err)
	}
	k["status"] = "active"
	delete(k, "removal")
	v, _ := json.Marshal(k)
	if err := tx.Bucket(bKeys).Put([]byte(fpr), v); err != nil {
		t.Fatal(err)
	}
}

func verifyFails(t *testing.T, path, want string) *UnexplainedError {
	t.Helper()
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.VerifyLog()
	var ue *UnexplainedError
	if !errors.As(err, &ue) || fail.KindOf(err) != fail.Untrusted {
		t.Fatalf("VerifyLog after tampering: %v", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("VerifyLog error %q does not say %q", err, want)
	}
	return ue
}

func TestVerifyCatchesReactivatedKey(t *testing.T) {
	path, alice, _ := tamperStore(t)
	editDB(t, path, func(tx *bbolt.Tx) error { reactivate(t, tx, alice); return nil })
	ue := verifyFails(t, path, "key "+alice+": the store record is not what the change log explains: it is active, but log record 4 removed it as compromised")
	if ue.Fingerprint != alice {
		t.Fatalf("names %q", ue.Fingerprint)
	}
}

// A change that keeps status and reason but alters the record (scopes
// widened) is caught by the bound hash.
func TestVerifyCatchesAlteredKeyRecord(t *testing.T) {
	path, _, bob := tamperStore(t)
	editDB(t, path, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bKeys).Get([]byte(bob))
		nv := strings.Replace(string(v), `"status":"active"`, `"status":"active","scopes":["*"]`, 1)
		return tx.Bucket(bKeys).Put([]byte(bob), []byte(nv))
	})
	verifyFails(t, path, "key "+bob+": the store record is not what the change log explains: it differs from what log record 3 wrote")
}

func TestVerifyCatchesAlteredLedgerEntry(t *testing.T) {
	path, _, _ := tamperStore(t)
	editDB(t, path, func(tx *bbolt.Tx) error {
		k := ledgerKey("nginx", "1.0.0")
		v := tx.Bucket(bLedger).Get(k)
		var e LedgerEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		e.FirstSeen = e.FirstSeen.Add(-365 * 24 * time.Hour)
		nv, _ := json.Marshal(e)
		return tx.Bucket(bLedger).Put(k, nv)
	})
	verifyFails(t, path, "store record ledger/nginx/1.0.0 is not what the change log explains: it differs from what log record 5 wrote")
}

func TestVerifyCatchesUnloggedRecords(t *testing.T) {
	t.Run("ledger entry", func(t *testing.T) {
		path, _, _ := tamperStore(t)
		editDB(t, path, func(tx *bbolt.Tx) error {
			v, _ := json.Marshal(LedgerEntry{Chart: "evil", Version: "6.6.6", ArchiveSHA256: strings.Repeat("b", 64), FirstSeen: time.Unix(0, 0)})
			return tx.Bucket(bLedger).Put(ledgerKey("evil", "6.6.6"), v)
		})
		verifyFails(t, path, "store record ledger/evil/6.6.6 is not what the change log explains: no log record wrote it")
	})
	t.Run("key", func(t *testing.T) {
		path, _, _ := tamperStore(t)
		mallory := newKey(t, "mallory")
		fpr := pgpkey.Fingerprint(mallory)
		editDB(t, path, func(tx *bbolt.Tx) error {
			k, err := describe(mallory, time.Now())
			if err != nil {
				return err
			}
			k.Status, k.Reason, k.Added = Active, "maintainer", time.Now()
			return putKey(tx, &k)
		})
		verifyFails(t, path, "key "+fpr+": the store record is not what the change log explains: it is active, but no log record adds it")
	})
	t.Run("deleted ledger entry", func(t *testing.T) {
		path, _, _ := tamperStore(t)
		editDB(t, path, func(tx *bbolt.Tx) error { return tx.Bucket(bLedger).Delete(ledgerKey("nginx", "1.0.0")) })
		verifyFails(t, path, "store record ledger/nginx/1.0.0 is not what the change log explains: log record 5 wrote it, and it is gone")
	})
	t.Run("redirected key ID", func(t *testing.T) {
		path, alice, bob := tamperStore(t)
		editDB(t, path, func(tx *bbolt.Tx) error {
			return tx.Bucket(bKeyIDs).Put([]byte(bob[24:]), []byte(alice))
		})
		verifyFails(t, path, "key ID "+bob[24:]+" points at "+alice)
	})
}

// downgrade turns a schema 2 store into what schema 1 wrote: no record
// hashes in the log (the chain rebuilt), schema 1.
func downgrade(t *testing.T, tx *bbolt.Tx) {
	t.Helper()
	b := tx.Bucket(bLog)
	var prev string
	for seq := uint64(1); ; seq++ {
		v := b.Get(u64(seq))
		if v == nil {
			break
		}
		r, err := ParseLogRecord(v)
		if err != nil {
			t.Fatal(err)
		}
		r.Records, r.Prev = nil, prev
		nv, _ := json.Marshal(r)
		if err := b.Put(u64(seq), nv); err != nil {
			t.Fatal(err)
		}
		prev = recordHash(nv)
		h, _ := hex.DecodeString(prev)
		if err := tx.Bucket(bMeta).Put(kLogHead, h); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Bucket(bMeta).Put(kSchema, u64(1)); err != nil {
		t.Fatal(err)
	}
}

func TestMigrationBindsExistingRecords(t *testing.T) {
	path, _, _ := tamperStore(t)
	editDB(t, path, func(tx *bbolt.Tx) error { downgrade(t, tx); return nil })
	if _, err := Open(path, Options{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), "needs an upgrade to 2") {
		t.Fatalf("read-only open of a schema 1 store: %v", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.VerifyLog()
	if err != nil || n != 6 {
		t.Fatalf("after migration: %d records, %v", n, err)
	}
	recs, _ := s.Log()
	bind := recs[len(recs)-1]
	if bind.Action != "bind" || len(bind.Records) != 3 {
		t.Fatalf("bind record: %+v", bind)
	}
	s.Close()
	// Records are bound from then on.
	editDB(t, path, func(tx *bbolt.Tx) error {
		v, _ := json.Marshal(LedgerEntry{Chart: "nginx", Version: "1.0.0", ArchiveSHA256: strings.Repeat("c", 64)})
		return tx.Bucket(bLedger).Put(ledgerKey("nginx", "1.0.0"), v)
	})
	verifyFails(t, path, "it differs from what log record 6 wrote")
}

func TestMigrationRefusesReactivatedKey(t *testing.T) {
	path, alice, _ := tamperStore(t)
	editDB(t, path, func(tx *bbolt.Tx) error {
		downgrade(t, tx)
		reactivate(t, tx, alice)
		return nil
	})
	_, err := Open(path, Options{})
	if fail.KindOf(err) != fail.Untrusted || !strings.Contains(err.Error(), "key "+alice+": the store record is not what the change log explains: it is active, but log record 4 removed it as compromised") {
		t.Fatalf("migration of a store with a reactivated key: %v", err)
	}
	// Nothing was bound: the store is still schema 1.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bbolt.Tx) error {
		if v := binary.BigEndian.Uint64(tx.Bucket(bMeta).Get(kSchema)); v != 1 {
			t.Fatalf("schema %d after a refused migration", v)
		}
		return nil
	})
}
