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
// backs the soft-removal rule of SPEC §3.5.
type LedgerEntry struct {
	Chart         string    `json:"chart"`
	Version       string    `json:"version"`
	ArchiveSHA256 string    `json:"archive_sha256"`
	ProvSHA256    string    `json:"prov_sha256,omitempty"`
	Signer        string    `json:"signer,omitempty"`
	FirstSeen     time.Time `json:"first_seen"`
	Source        string    `json:"source,omitempty"`
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
		for _, e := range entries {
			k := ledgerKey(e.Chart, e.Version)
			if v := b.Get(k); v != nil {
				var rec LedgerEntry
				if err := json.Unmarshal(v, &rec); err != nil {
					return fmt.Errorf("ledger record %s %s is damaged: %w", e.Chart, e.Version, err)
				}
				if rec.ArchiveSHA256 != e.ArchiveSHA256 || (e.ProvSHA256 != "" && rec.ProvSHA256 != e.ProvSHA256) || (e.Signer != "" && rec.Signer != e.Signer) {
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
			added++
		}
		if added > 0 {
			return appendLog(tx, LogRecord{Time: now, Action: "ledger", Actor: actor, Detail: fmt.Sprintf("%d releases first seen", added)})
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
