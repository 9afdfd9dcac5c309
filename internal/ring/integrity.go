package ring

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/keyctl/keyctl/internal/fail"
)

// UnexplainedError names a stored record that the change log does not
// explain: written, altered, added or deleted outside keyctl.
type UnexplainedError struct {
	// Record is the record's name as in LogRecord.Records, e.g.
	// "keys/<FPR>" or "ledger/<chart>/<version>".
	Record string
	// Fingerprint is the key concerned, when the record is a key's.
	Fingerprint string
	Reason      string
}

func (e *UnexplainedError) Error() string {
	if e.Fingerprint != "" {
		return fmt.Sprintf("key %s: the store record is not what the change log explains: %s", e.Fingerprint, e.Reason)
	}
	return fmt.Sprintf("store record %s is not what the change log explains: %s", e.Record, e.Reason)
}

var unexplainedHints = []string{
	"the store was changed outside keyctl: do not publish from it",
	"restore the store from a backup and investigate who changed it (compare keyctl log and keyctl list --all with the backup)",
}

func unexplained(e *UnexplainedError) error {
	return (&fail.Error{Kind: fail.Untrusted, Err: e}).WithHint(unexplainedHints...)
}

type bound struct {
	hash string
	seq  uint64
}

// explain checks that the key, key-ID and ledger records in tx are what
// the change log says: each key's status follows its newest add, update or
// remove record (removed keys with the logged reason), and, with hashes,
// every key and ledger record hashes to the value the newest log record
// naming it bound (LogRecord.Records), and no bound record is missing. It
// returns nil or an *UnexplainedError for the first record (in key order)
// that is not explained. The caller has checked the hash chain.
func explain(tx *bbolt.Tx, hashes bool) *UnexplainedError {
	last := map[string]*LogRecord{}
	roles := map[string]Role{} // the role each key's add record gave it
	want := map[string]bound{}
	err := tx.Bucket(bLog).ForEach(func(_, v []byte) error {
		r, err := ParseLogRecord(v)
		if err != nil {
			return err
		}
		switch r.Action {
		case "add", "update", "remove":
			if r.Fingerprint != "" {
				last[r.Fingerprint] = r
			}
		}
		if r.Action == "add" && r.Fingerprint != "" {
			roles[r.Fingerprint] = r.Role
		}
		for name, h := range r.Records {
			want[name] = bound{hash: h, seq: r.Seq}
		}
		return nil
	})
	if err != nil {
		return &UnexplainedError{Record: "log", Reason: err.Error()}
	}
	seen := map[string]bool{}
	ids := map[string]string{}
	var bad *UnexplainedError
	_ = tx.Bucket(bKeys).ForEach(func(k, v []byte) error {
		name := RecordName(bKeys, k)
		seen[name] = true
		fpr := string(k)
		var key struct {
			Fingerprint string   `json:"fingerprint"`
			KeyID       string   `json:"key_id"`
			SubkeyIDs   []string `json:"subkey_ids"`
			Status      Status   `json:"status"`
			Removal     *Removal `json:"removal"`
			Role        Role     `json:"role"`
		}
		if err := json.Unmarshal(v, &key); err != nil {
			bad = &UnexplainedError{Record: name, Fingerprint: fpr, Reason: "the record is damaged: " + err.Error()}
			return errStop
		}
		if key.Fingerprint != fpr {
			bad = &UnexplainedError{Record: name, Fingerprint: fpr, Reason: fmt.Sprintf("the record holds key %s", key.Fingerprint)}
			return errStop
		}
		r := last[fpr]
		switch {
		case r == nil:
			bad = &UnexplainedError{Record: name, Fingerprint: fpr, Reason: fmt.Sprintf("it is %s, but no log record adds it", key.Status)}
		case r.Action == "remove" && key.Status != Removed:
			bad = &UnexplainedError{Record: name, Fingerprint: fpr, Reason: fmt.Sprintf("it is %s, but log record %d removed it as %s", key.Status, r.Seq, r.Reason)}
		case r.Action == "remove" && (key.Removal == nil || string(key.Removal.Reason) != r.Reason):
			got := "no removal"
			if key.Removal != nil {
				got = "removal reason " + string(key.Removal.Reason)
			}
			bad = &UnexplainedError{Record: name, Fingerprint: fpr, Reason: fmt.Sprintf("it records %s, but log record %d removed it as %s", got, r.Seq, r.Reason)}
		case r.Action != "remove" && key.Status != Active:
			bad = &UnexplainedError{Record: name, Fingerprint: fpr, Reason: fmt.Sprintf("it is %s, but the newest log record of the key (%d, %s) leaves it active", key.Status, r.Seq, r.Action)}
		case (&Key{Role: key.Role}).RoleOf() != (&Key{Role: roles[fpr]}).RoleOf():
			// A role is given at add and never changes: a maintainer key
			// turned into an index key (or back) is not explained.
			bad = &UnexplainedError{Record: name, Fingerprint: fpr, Reason: fmt.Sprintf("it has role %s, but the log added it as %s", (&Key{Role: key.Role}).RoleOf(), (&Key{Role: roles[fpr]}).RoleOf())}
		case hashes:
			if w, ok := want[name]; !ok {
				bad = &UnexplainedError{Record: name, Fingerprint: fpr, Reason: "no log record wrote it"}
			} else if w.hash != recordHash(v) {
				bad = &UnexplainedError{Record: name, Fingerprint: fpr, Reason: fmt.Sprintf("it differs from what log record %d wrote (now %s)", w.seq, key.Status)}
			}
		}
		if bad != nil {
			return errStop
		}
		for _, id := range append([]string{key.KeyID}, key.SubkeyIDs...) {
			ids[id] = fpr
		}
		return nil
	})
	if bad != nil {
		return bad
	}
	// The key-ID index is derived from the key records: exactly their IDs.
	// An ID a certificate no longer lists (a subkey dropped as invalid by
	// an update) may stay, pointing at its own stored key.
	_ = tx.Bucket(bKeyIDs).ForEach(func(k, v []byte) error {
		fpr, ok := ids[string(k)]
		if (ok && fpr != string(v)) || (!ok && tx.Bucket(bKeys).Get(v) == nil) {
			bad = &UnexplainedError{Record: RecordName(bKeyIDs, k), Reason: fmt.Sprintf("key ID %s points at %s, which the stored key records do not explain", k, v)}
			return errStop
		}
		delete(ids, string(k))
		return nil
	})
	if bad != nil {
		return bad
	}
	for id, fpr := range ids {
		return &UnexplainedError{Record: RecordName(bKeyIDs, []byte(id)), Fingerprint: fpr, Reason: fmt.Sprintf("its key ID %s is missing from the key-ID index", id)}
	}
	if !hashes {
		return nil
	}
	_ = tx.Bucket(bLedger).ForEach(func(k, v []byte) error {
		name := RecordName(bLedger, k)
		seen[name] = true
		if w, ok := want[name]; !ok {
			bad = &UnexplainedError{Record: name, Reason: "no log record wrote it"}
		} else if w.hash != recordHash(v) {
			bad = &UnexplainedError{Record: name, Reason: fmt.Sprintf("it differs from what log record %d wrote", w.seq)}
		}
		if bad != nil {
			return errStop
		}
		return nil
	})
	if bad != nil {
		return bad
	}
	var missing []string
	for name := range want {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		e := &UnexplainedError{Record: missing[0], Reason: fmt.Sprintf("log record %d wrote it, and it is gone", want[missing[0]].seq)}
		if fpr, ok := strings.CutPrefix(missing[0], string(bKeys)+"/"); ok {
			e.Fingerprint = fpr
		}
		return e
	}
	return nil
}

// bindExisting is the schema 1 -> 2 migration. Schema 1 logged changes
// without the hash of the records they wrote, so the migration binds the
// records as they are: one "bind" log record carrying the hash of every
// key and ledger record. Before binding it checks what a schema 1 log can
// tell — each key's status and removal reason against its newest add,
// update or remove record — and refuses to migrate a store whose keys
// contradict their log (for example a key the log removed as compromised
// that is active again), so that a tampered key is never bound.
//
// A schema 1 log never carries record hashes. A log that does was written
// by schema 2, so a store that claims schema 1 over it had its schema
// number lowered by hand, to have this migration bind records altered
// since: it is refused, never bound.
func bindExisting(tx *bbolt.Tx, now time.Time) error {
	if bad := loggedBySchema2(tx); bad != nil {
		return unexplained(bad)
	}
	if bad := explain(tx, false); bad != nil {
		return unexplained(bad)
	}
	rec := LogRecord{Time: now, Action: "bind", Actor: "keyctl",
		Detail: "store schema 2: existing key and ledger records bound to the change log"}
	for _, b := range [][]byte{bKeys, bLedger} {
		if err := tx.Bucket(b).ForEach(func(k, _ []byte) error {
			bind(tx, &rec, b, k)
			return nil
		}); err != nil {
			return err
		}
	}
	if len(rec.Records) == 0 {
		return nil // nothing to bind (a new or empty store)
	}
	return appendLog(tx, rec)
}

// loggedBySchema2 reports the first log record that carries record hashes,
// which only schema 2 (and later) writes.
func loggedBySchema2(tx *bbolt.Tx) *UnexplainedError {
	var bad *UnexplainedError
	err := tx.Bucket(bLog).ForEach(func(k, v []byte) error {
		r, err := ParseLogRecord(v)
		if err != nil {
			return err
		}
		if len(r.Records) > 0 || r.Action == "bind" {
			bad = &UnexplainedError{Record: "meta/schema",
				Reason: fmt.Sprintf("the store says schema 1, but change log record %d (%s) was written by schema 2: the schema number was lowered outside keyctl, which would bind altered records", r.Seq, r.Action)}
			return errStop
		}
		return nil
	})
	if err != nil && err != errStop && bad == nil {
		return &UnexplainedError{Record: "log", Reason: "a change log record does not parse: " + err.Error()}
	}
	return bad
}
