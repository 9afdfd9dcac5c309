package revoke

import (
	"fmt"

	"github.com/keyctl/keyctl/internal/ring"
)

// LedgerEntries are the first-seen records of an audit's releases: every
// release whose archive was fetched, with its .prov's digest and signer
// when it has one. Unreachable releases are left out (nothing was seen).
func LedgerEntries(rep *Report) []ring.LedgerEntry {
	var out []ring.LedgerEntry
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.ArchiveSHA256 == "" || r.Status == MissingFromIndex {
			continue
		}
		out = append(out, ring.LedgerEntry{
			Chart: r.Chart, Version: r.Version,
			ArchiveSHA256: r.ArchiveSHA256, ProvSHA256: r.ProvSHA256,
			Signer: r.Signer, Source: rep.Repository,
		})
	}
	return out
}

// Alarm is a release that reappeared with other bytes or another signer
// than its first-seen record.
type Alarm struct {
	Chart    string           `json:"chart"`
	Version  string           `json:"version"`
	What     string           `json:"what"`
	Recorded ring.LedgerEntry `json:"recorded"`
	Seen     ring.LedgerEntry `json:"seen"`
}

// LedgerResult is what recording found.
type LedgerResult struct {
	Added int `json:"added"`
	Known int `json:"known"`
	// Alarms: same name and version, different bytes or signer.
	Alarms []Alarm `json:"alarms"`
	// Resigned: the same archive with a new .prov by an active key, where
	// the recorded signer is a removed key: the re-sign of the compromise
	// runbook, not an attack (an attacker holding a removed key cannot sign
	// as an active one); likewise a release first seen unsigned that is now
	// signed by an active key. The record keeps the first-seen time.
	Resigned []Alarm `json:"resigned"`
}

// Recorder is the part of the store the ledger writes to.
type Recorder interface {
	LedgerRecord(entries []ring.LedgerEntry, actor string) (int, []ring.LedgerConflict, error)
	LedgerResign(entries []ring.LedgerEntry, actor string) error
}

// Record stores the releases of rep not seen before and sorts the others'
// differences into alarms and expected re-signs. The store is append-only:
// no record changes.
func Record(st Recorder, rep *Report, ks *KeySet, actor string) (*LedgerResult, error) {
	entries := LedgerEntries(rep)
	added, conflicts, err := st.LedgerRecord(entries, actor)
	if err != nil {
		return nil, err
	}
	res := &LedgerResult{Added: added, Known: len(entries) - added, Alarms: []Alarm{}, Resigned: []Alarm{}}
	byRelease := map[[2]string]*Result{}
	for i := range rep.Results {
		byRelease[[2]string{rep.Results[i].Chart, rep.Results[i].Version}] = &rep.Results[i]
	}
	var resigned []ring.LedgerEntry
	for _, c := range conflicts {
		rec, seen := c.Recorded.Current(), c.Seen
		if rec.ArchiveSHA256 == seen.ArchiveSHA256 && rec.ProvSHA256 == seen.ProvSHA256 {
			// Same bytes: the signer was only named differently (a key
			// learnt since, so a fingerprint where a key ID was).
			continue
		}
		a := Alarm{Chart: seen.Chart, Version: seen.Version, Recorded: rec, Seen: seen}
		switch {
		case rec.ArchiveSHA256 != seen.ArchiveSHA256:
			a.What = fmt.Sprintf("archive bytes changed (sha256 %s, first seen %s; now %s)", short(rec.ArchiveSHA256), rec.FirstSeen.UTC().Format("2006-01-02T15:04:05Z"), short(seen.ArchiveSHA256))
		case rec.Signer != seen.Signer:
			a.What = fmt.Sprintf("signer changed from %s to %s", orNone(rec.Signer), orNone(seen.Signer))
		default:
			a.What = fmt.Sprintf("the .prov changed (sha256 %s; now %s)", short(rec.ProvSHA256), short(seen.ProvSHA256))
		}
		if rec.ArchiveSHA256 == seen.ArchiveSHA256 && isResign(ks, rec, byRelease[[2]string{seen.Chart, seen.Version}]) {
			res.Resigned = append(res.Resigned, a)
			resigned = append(resigned, seen)
			continue
		}
		res.Alarms = append(res.Alarms, a)
	}
	// Accepted re-signs become the records' current signer, so the next
	// record run is quiet and a later re-sign is judged against this one.
	if len(resigned) > 0 {
		if err := st.LedgerResign(resigned, actor); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func isResign(ks *KeySet, rec ring.LedgerEntry, now *Result) bool {
	if now == nil || now.Status != Trusted || now.Removed || !now.SignerVerified {
		return false
	}
	if rec.Signer == "" && rec.ProvSHA256 == "" {
		return true // first seen unsigned, now signed by an active key
	}
	old := ks.Lookup(rec.Signer)
	return old != nil && !old.Active
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return "(none)"
	}
	return h
}

func orNone(s string) string {
	if s == "" {
		return "(unsigned)"
	}
	return s
}
