package client

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/root"
)

// A signed index's first-seen times are written by the index key's holder.
// A client that follows a repository bounds how far back a new entry may
// lie: a (release, .prov digest) that the previous statement it saw did
// not list was seen by the index key after that statement was issued, so
// a new entry with an earlier first_seen (a leaked index key backdating a
// .prov written later) gives no trusted time, now or in any later
// statement that carries it. The client keeps, in its signed index record
// (repo-<hash>.index.json, indexState: one file, written atomically), the
// entries it accepted and refused, with the index keys that vouch for
// each ("by": the signers of the statements its recorded time or refusal
// rests on; "signers": those of the recorded statement).
//
// On first use (no record) every entry is accepted. An entry already
// accepted keeps the later of its recorded and its new first-seen time; a
// refused one stays refused. Both only while an index key that vouches for
// it still counts: an index key that is active, or was removed as retired
// or superseded (its statements were honest, so the bounds and refusals
// they rest on stay). A key removed as compromised, or that the manifest
// no longer lists, stops counting: an entry only such keys vouch for is
// dropped and learned again from the statement served now, and the
// previous statement's issue time bounds new entries only while one of
// its signers still counts.

// maxVouchers caps the index keys recorded for one entry (and for the
// record): an entry needs one of them still active; beyond the cap it is
// at worst learned again from a later statement, as on first use.
const maxVouchers = 8

type viewRelease struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	ProvSHA256 string   `json:"prov_sha256"`
	FirstSeen  string   `json:"first_seen"`
	Refused    bool     `json:"refused,omitempty"`
	By         []string `json:"by"`
}

type viewKey struct{ name, version, prov string }

type viewEntry struct {
	firstSeen time.Time
	refused   bool
	by        []string // sorted index key fingerprints
}

// view is the parsed releases part of a signed index record.
type view struct {
	issued  time.Time
	signers []string
	m       map[viewKey]viewEntry
}

// parseView checks the releases part of a record: fingerprints (at most
// maxVouchers each), entries as a statement allows them, none twice. why
// says what is wrong ("" when nothing).
func parseView(issued time.Time, signers []string, releases []viewRelease) (v view, why string) {
	if !validFingerprints(signers) {
		return v, "signers are malformed"
	}
	if len(releases) > indexsig.MaxReleases {
		return v, fmt.Sprintf("more than %d releases", indexsig.MaxReleases)
	}
	m := make(map[viewKey]viewEntry, len(releases))
	for i, r := range releases {
		fs, err := time.Parse(time.RFC3339, r.FirstSeen)
		k := viewKey{r.Name, r.Version, r.ProvSHA256}
		_, dup := m[k]
		switch {
		case err != nil || !indexsig.ValidChartName(r.Name) || !indexsig.ValidVersion(r.Version) || !root.ValidHex256(r.ProvSHA256) || !validFingerprints(r.By):
			return v, fmt.Sprintf("release %d is malformed", i)
		case dup:
			return v, fmt.Sprintf("release %d is listed twice", i)
		}
		m[k] = viewEntry{firstSeen: fs.UTC(), refused: r.Refused, by: r.By}
	}
	return view{issued: issued.UTC(), signers: signers, m: m}, ""
}

// validFingerprints accepts at most maxVouchers distinct OpenPGP
// fingerprints (upper-case hex, v4 or v6), sorted.
func validFingerprints(fprs []string) bool {
	if len(fprs) > maxVouchers {
		return false
	}
	for i, f := range fprs {
		if (len(f) != 40 && len(f) != 64) || strings.Trim(f, "0123456789ABCDEF") != "" || (i > 0 && fprs[i-1] >= f) {
			return false
		}
	}
	return true
}

// vouchers returns the sorted, distinct fingerprints of a and b that
// count, at most maxVouchers.
func vouchers(counts map[string]bool, a, b []string) []string {
	set := map[string]bool{}
	for _, f := range append(append([]string(nil), a...), b...) {
		if counts[f] {
			set[f] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	if len(out) > maxVouchers {
		out = out[:maxVouchers]
	}
	return out
}

// acceptReleases returns s with only the releases whose first-seen time
// the client accepts (see above), and the signers and releases to record
// with s; it runs under recordIndex's lock. signers are the index keys
// that signed s, active the manifest's active index keys, retired those
// removed as retired or superseded (fingerprints). prev is the recorded
// view (nil: no statement was recorded for the location before, or the
// record was written by an older keyctl, which kept no view in it: first
// use for the releases).
func acceptReleases(s *indexsig.Statement, signers, active, retired []string, prev *view) (accepted *indexsig.Statement, sg []string, out []viewRelease) {
	isActive := make(map[string]bool, len(active))
	counts := make(map[string]bool, len(active)+len(retired))
	for _, f := range active {
		isActive[f], counts[f] = true, true
	}
	for _, f := range retired {
		counts[f] = true
	}
	sg = vouchers(isActive, signers, nil)
	// The previous statement's issue time bounds new entries while one of
	// its signers counts (active, or retired or superseded: honest).
	var bound []string
	if prev != nil {
		bound = vouchers(counts, prev.signers, nil)
	}
	next := make(map[viewKey]viewEntry, len(s.Releases))
	out = []viewRelease{}
	for _, r := range s.Releases {
		k := viewKey{r.Name, r.Version, r.ProvSHA256}
		e := viewEntry{firstSeen: r.FirstSeen.UTC(), by: sg}
		var old viewEntry
		listed := false
		if prev != nil {
			old, listed = prev.m[k]
		}
		if oldBy := vouchers(counts, old.by, nil); listed && len(oldBy) > 0 {
			switch {
			case old.refused:
				e = viewEntry{firstSeen: old.firstSeen, refused: true, by: oldBy}
			case old.firstSeen.After(e.firstSeen):
				e = viewEntry{firstSeen: old.firstSeen, by: oldBy}
			case old.firstSeen.Equal(e.firstSeen):
				e.by = vouchers(counts, oldBy, sg)
			}
		} else if !listed && len(bound) > 0 && e.firstSeen.Before(prev.issued) {
			// New since the last statement, yet dated before it.
			e = viewEntry{firstSeen: e.firstSeen, refused: true, by: bound}
		}
		// Otherwise first use, a new entry dated after the previous
		// statement, or an entry only keys removed as compromised (or no
		// longer listed) vouched for: as s
		// states it.
		next[k] = e
		out = append(out, viewRelease{Name: r.Name, Version: r.Version, ProvSHA256: r.ProvSHA256,
			FirstSeen: e.firstSeen.Format(time.RFC3339), Refused: e.refused, By: e.by})
	}
	return filterReleases(s, next), sg, out
}

// filterReleases returns a copy of s with the accepted releases of m, at
// their accepted first-seen times. The record is an unsigned local file:
// its view may only tighten what s states. An entry it refuses or does not list
// gives no time, and the time used is never earlier than s's own
// first_seen for the entry, so an edit or an older copy of the record cannot backdate it.
func filterReleases(s *indexsig.Statement, m map[viewKey]viewEntry) *indexsig.Statement {
	c := *s
	c.Releases = nil
	for _, r := range s.Releases {
		if e, ok := m[viewKey{r.Name, r.Version, r.ProvSHA256}]; ok && !e.refused {
			if e.firstSeen.After(r.FirstSeen) {
				r.FirstSeen = e.firstSeen
			}
			c.Releases = append(c.Releases, r)
		}
	}
	return &c
}
