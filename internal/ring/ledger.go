package ring

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// LedgerEntry is the first-seen record of one chart release: what its
// archive and .prov were and who signed it when keyctl first saw it. The
// first-seen time is the store's clock, which a signer cannot forge, so it
// backs the soft-removal rule of docs/verify.md.
type LedgerEntry struct {
	Chart         string    `json:"chart"`
	Version       string    `json:"version"`
	ArchiveSHA256 string    `json:"archive_sha256"`
	ProvSHA256    string    `json:"prov_sha256,omitempty"`
	Signer        string    `json:"signer,omitempty"`
	FirstSeen     time.Time `json:"first_seen"`
	Source        string    `json:"source,omitempty"`
	// Resigns are later signatures of the same archive taken in on
	// purpose (the compromise runbook's re-sign), oldest first. The
	// record's own fields stay as first seen; Current applies these.
	Resigns []LedgerResign `json:"resigns,omitempty"`
}

// LedgerResign is one accepted re-sign of a recorded release.
type LedgerResign struct {
	ProvSHA256 string    `json:"prov_sha256"`
	Signer     string    `json:"signer"`
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor,omitempty"`
}

// Current is the record as it stands now: the first-seen archive and time,
// with the .prov and signer of the latest accepted re-sign.
func (e LedgerEntry) Current() LedgerEntry {
	if n := len(e.Resigns); n > 0 {
		e.ProvSHA256, e.Signer = e.Resigns[n-1].ProvSHA256, e.Resigns[n-1].Signer
	}
	return e
}

func ledgerKey(chart, version string) []byte {
	return []byte(chart + "\x00" + version)
}

// LedgerConflict is a release whose bytes or signer differ from its
// first-seen record: a re-upload, which is an alarm.
type LedgerConflict struct {
	Recorded LedgerEntry
	Seen     LedgerEntry
}

// LedgerRecord stores entries not seen before (FirstSeen set to now) and
// returns how many were added and which differ from their record. Existing
// records are never changed.
func (s *Store) LedgerRecord(entries []LedgerEntry, actor string) (added int, conflicts []LedgerConflict, err error) {
	now := s.Now()
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if err := requireInit(tx); err != nil {
			return err
		}
		b := tx.Bucket(bLedger)
		rec := LogRecord{Time: now, Action: "ledger", Actor: actor}
		for _, e := range entries {
			k := ledgerKey(e.Chart, e.Version)
			if v := b.Get(k); v != nil {
				var rec LedgerEntry
				if err := json.Unmarshal(v, &rec); err != nil {
					return fmt.Errorf("ledger record %s %s is damaged: %w", e.Chart, e.Version, err)
				}
				cur := rec.Current()
				if cur.ArchiveSHA256 != e.ArchiveSHA256 || (e.ProvSHA256 != "" && cur.ProvSHA256 != e.ProvSHA256) || (e.Signer != "" && cur.Signer != e.Signer) {
					conflicts = append(conflicts, LedgerConflict{Recorded: rec, Seen: e})
				}
				continue
			}
			e.FirstSeen = now
			v, err := json.Marshal(e)
			if err != nil {
				return err
			}
			if err := b.Put(k, v); err != nil {
				return err
			}
			bind(tx, &rec, bLedger, k)
			added++
		}
		if added > 0 {
			rec.Detail = fmt.Sprintf("%d releases first seen", added)
			return appendLog(tx, rec)
		}
		return nil
	})
	return added, conflicts, err
}

// Ledger returns every first-seen record keyed by chart and version.
func (s *Store) Ledger() (map[[2]string]LedgerEntry, error) {
	out := map[[2]string]LedgerEntry{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bLedger).ForEach(func(k, v []byte) error {
			var rec LedgerEntry
			if err := json.Unmarshal(v, &rec); err != nil {
				i := bytes.IndexByte(k, 0)
				return fmt.Errorf("ledger record %q is damaged: %w", k[:max(i, 0)], err)
			}
			out[[2]string{rec.Chart, rec.Version}] = rec
			return nil
		})
	})
	return out, err
}

// LedgerGet returns the record of one release, or nil.
func (s *Store) LedgerGet(chart, version string) (*LedgerEntry, error) {
	var out *LedgerEntry
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bLedger).Get(ledgerKey(chart, version))
		if v == nil {
			return nil
		}
		var rec LedgerEntry
		if err := json.Unmarshal(v, &rec); err != nil {
			return err
		}
		out = &rec
		return nil
	})
	return out, err
}

// LedgerResign appends an accepted re-sign to the records of releases whose
// archive is unchanged (the caller has judged it a re-sign, not an attack):
// the first-seen time and bytes stay, the new .prov and signer become
// current. A release that is not recorded, or whose archive differs, is an
// error; nothing is changed then.
func (s *Store) LedgerResign(entries []LedgerEntry, actor string) error {
	now := s.Now()
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := requireInit(tx); err != nil {
			return err
		}
		b := tx.Bucket(bLedger)
		for _, e := range entries {
			k := ledgerKey(e.Chart, e.Version)
			v := b.Get(k)
			if v == nil {
				return fmt.Errorf("ledger has no record of %s %s to re-sign", e.Chart, e.Version)
			}
			var rec LedgerEntry
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("ledger record %s %s is damaged: %w", e.Chart, e.Version, err)
			}
			if rec.ArchiveSHA256 != e.ArchiveSHA256 {
				return fmt.Errorf("ledger record %s %s has other archive bytes: a re-sign keeps the archive", e.Chart, e.Version)
			}
			cur := rec.Current()
			if cur.ProvSHA256 == e.ProvSHA256 && cur.Signer == e.Signer {
				continue
			}
			rec.Resigns = append(rec.Resigns, LedgerResign{ProvSHA256: e.ProvSHA256, Signer: e.Signer, Time: now, Actor: actor})
			nv, err := json.Marshal(rec)
			if err != nil {
				return err
			}
			if err := b.Put(k, nv); err != nil {
				return err
			}
			lr := LogRecord{Time: now, Action: "ledger-resign", Fingerprint: e.Signer, Actor: actor,
				Detail: fmt.Sprintf("%s %s re-signed (prov sha256:%s)", e.Chart, e.Version, e.ProvSHA256)}
			bind(tx, &lr, bLedger, k)
			if err := appendLog(tx, lr); err != nil {
				return err
			}
		}
		return nil
	})
}
