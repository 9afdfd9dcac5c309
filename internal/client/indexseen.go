package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/indexsig"
)

// A signed index's first-seen times are written by the index key's holder.
// A client that follows a repository bounds how far back a new entry may
// lie: a (release, .prov digest) that the previous statement it saw did
// not list was seen by the index key after that statement was issued, so
// a new entry with an earlier first_seen (a leaked index key backdating a
// .prov written later) gives no trusted time, now or in any later
// statement that carries it. The client keeps, next to its signed index
// record, the entries it accepted and refused (repo-<hash>.index-releases.json),
// with the index keys that vouch for each ("by": the signers of the
// statements its recorded time or refusal rests on; "signers": those of
// the statement the view is for):
//
//	{
//	  "format": "keyctl-client-index-releases/1",
//	  "issued": "2026-03-01T12:00:00Z",
//	  "statement_sha256": "<hex SHA-256 of keyctl-index.json>",
//	  "signers": ["<index key fingerprint>"],
//	  "releases": [
//	    {"name": "alpha", "version": "1.0.0", "prov_sha256": "<hex>", "first_seen": "2026-02-20T08:00:00Z", "by": ["<fingerprint>"]},
//	    {"name": "beta", "version": "2.0.0", "prov_sha256": "<hex>", "first_seen": "2026-02-28T08:00:00Z", "refused": true, "by": ["<fingerprint>"]}
//	  ]
//	}
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

// IndexReleasesFormat is the format line of the client's view of a signed
// index's releases.
const IndexReleasesFormat = "keyctl-client-index-releases/1"

// maxVouchers caps the index keys recorded for one entry (and for the
// view): an entry needs one of them still active; beyond the cap it is at
// worst learned again from a later statement, as on first use.
const maxVouchers = 8

// MaxIndexReleasesSize caps that file.
const MaxIndexReleasesSize = indexsig.MaxSize + 2<<20 + indexsig.MaxReleases*maxVouchers*72

type releasesView struct {
	Format   string        `json:"format"`
	Issued   string        `json:"issued"`
	SHA256   string        `json:"statement_sha256"`
	Signers  []string      `json:"signers"`
	Releases []viewRelease `json:"releases"`
}

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

// view is a parsed releases view.
type view struct {
	issued  time.Time
	sum     string
	signers []string
	m       map[viewKey]viewEntry
}

// IndexReleasesPath is the client's view of the signed index releases of
// location under dir.
func IndexReleasesPath(dir, location string) string {
	return strings.TrimSuffix(StatePath(dir, location), ".json") + ".index-releases.json"
}

// parseReleasesView parses the view strictly: size cap, no unknown
// fields, the format line, valid times, digests and fingerprints (at most
// maxVouchers each), entries as a statement allows them, none twice. why
// says what is wrong ("" when nothing).
func parseReleasesView(data []byte) (v view, why string) {
	if len(data) > MaxIndexReleasesSize {
		return v, fmt.Sprintf("larger than %d bytes", MaxIndexReleasesSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rv releasesView
	if err := dec.Decode(&rv); err != nil {
		return v, "not valid JSON"
	}
	if _, err := dec.Token(); err != io.EOF {
		return v, "data after the JSON object"
	}
	if rv.Format != IndexReleasesFormat {
		return v, fmt.Sprintf("format %q, want %q", rv.Format, IndexReleasesFormat)
	}
	issued, err := time.Parse(time.RFC3339, rv.Issued)
	if err != nil || !isHex64(rv.SHA256) {
		return v, "issued or statement_sha256 is malformed"
	}
	if !validFingerprints(rv.Signers) {
		return v, "signers are malformed"
	}
	if len(rv.Releases) > indexsig.MaxReleases {
		return v, fmt.Sprintf("more than %d releases", indexsig.MaxReleases)
	}
	m := make(map[viewKey]viewEntry, len(rv.Releases))
	for i, r := range rv.Releases {
		fs, err := time.Parse(time.RFC3339, r.FirstSeen)
		k := viewKey{r.Name, r.Version, r.ProvSHA256}
		_, dup := m[k]
		switch {
		case err != nil || !indexsig.ValidChartName(r.Name) || !indexsig.ValidVersion(r.Version) || !isHex64(r.ProvSHA256) || !validFingerprints(r.By):
			return v, fmt.Sprintf("release %d is malformed", i)
		case dup:
			return v, fmt.Sprintf("release %d is listed twice", i)
		}
		m[k] = viewEntry{firstSeen: fs.UTC(), refused: r.Refused, by: r.By}
	}
	return view{issued: issued.UTC(), sum: rv.SHA256, signers: rv.Signers, m: m}, ""
}

func isHex64(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
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
// the client accepts (see above), and the view to record; it runs under
// recordIndex's lock, which writes the view after the record that names
// its SHA-256. signers are the index keys that signed s, active the
// manifest's active index keys, retired those removed as retired or
// superseded (fingerprints). rec is the signed index record (nil: no
// statement was recorded for location before). prevSum is the SHA-256 of
// the view read (the one on disk, "" when none counts).
//
// The record names the view it was written with (and the one before, so
// that a crash between the two writes loses nothing). A view that is
// missing or names neither, while the record names one, was edited,
// replaced or lost: it counts as a view listing nothing for a statement
// issued when the recorded one was, so every entry dated before that is
// refused. A record without that SHA-256 (written by an older keyctl)
// takes the view as found, or a missing one as first use for the
// releases.
func acceptReleases(dir, location string, s *indexsig.Statement, sum string, signers, active, retired []string, rec *indexState, damaged func(string) error) (accepted *indexsig.Statement, out []byte, prevSum string, err error) {
	path := IndexReleasesPath(dir, location)
	isActive := make(map[string]bool, len(active))
	counts := make(map[string]bool, len(active)+len(retired))
	for _, f := range active {
		isActive[f], counts[f] = true, true
	}
	for _, f := range retired {
		counts[f] = true
	}
	sg := vouchers(isActive, signers, nil)
	var prev *view
	if rec != nil {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			v, why := parseReleasesView(data)
			h := indexsig.Hash(data)
			switch {
			case why != "":
				return nil, nil, "", damaged(path + ": " + why)
			case rec.ReleasesSHA256 != "" && h != rec.ReleasesSHA256 && h != rec.PreviousReleasesSHA256:
				// Not the view this client wrote: lost (below).
			case v.sum != sum && !s.Issued.After(v.issued):
				return nil, nil, "", damaged(fmt.Sprintf("%s is for a statement issued %s, not before the one served now", path, v.issued.Format(time.RFC3339)))
			default:
				prev, prevSum = &v, h
			}
		case errors.Is(err, fs.ErrNotExist):
			// Lost (below), or recorded by an older keyctl: first use for
			// the releases.
		default:
			return nil, nil, "", fail.Inputf("cannot read client index record %s", path).Wrap(errors.Unwrap(err))
		}
		if prev == nil && rec.ReleasesSHA256 != "" {
			// The view is lost: nothing listed as of the recorded statement,
			// vouched for by the keys signing now.
			issued, _ := time.Parse(time.RFC3339, rec.Issued)
			prev = &view{issued: issued.UTC(), sum: rec.SHA256, signers: sg, m: map[viewKey]viewEntry{}}
		}
	}
	// The previous statement's issue time bounds new entries while one of
	// its signers counts (active, or retired or superseded: honest).
	var bound []string
	if prev != nil {
		bound = vouchers(counts, prev.signers, nil)
	}
	next := make(map[viewKey]viewEntry, len(s.Releases))
	v := releasesView{Format: IndexReleasesFormat, Issued: s.Issued.UTC().Format(time.RFC3339), SHA256: sum, Signers: sg, Releases: []viewRelease{}}
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
		v.Releases = append(v.Releases, viewRelease{Name: r.Name, Version: r.Version, ProvSHA256: r.ProvSHA256,
			FirstSeen: e.firstSeen.Format(time.RFC3339), Refused: e.refused, By: e.by})
	}
	if out, err = json.MarshalIndent(v, "", "  "); err != nil {
		return nil, nil, "", err
	}
	return filterReleases(s, next), append(out, '\n'), prevSum, nil
}

// filterReleases returns a copy of s with the accepted releases of m, at
// their accepted first-seen times. The view is an unsigned local file: it
// may only tighten what s states. An entry it refuses or does not list
// gives no time, and the time used is never earlier than s's own
// first_seen for the entry, so an edit of the view cannot backdate it.
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
