package client

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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
// record, the entries it accepted and refused (repo-<hash>.index-releases.json):
//
//	{
//	  "format": "keyctl-client-index-releases/1",
//	  "issued": "2026-03-01T12:00:00Z",
//	  "statement_sha256": "<hex SHA-256 of keyctl-index.json>",
//	  "releases": [
//	    {"name": "alpha", "version": "1.0.0", "prov_sha256": "<hex>", "first_seen": "2026-02-20T08:00:00Z"},
//	    {"name": "beta", "version": "2.0.0", "prov_sha256": "<hex>", "first_seen": "2026-02-28T08:00:00Z", "refused": true}
//	  ]
//	}
//
// On first use (no record) every entry is accepted. An entry already
// accepted keeps the later of its recorded and its new first-seen time.

// IndexReleasesFormat is the format line of the client's view of a signed
// index's releases.
const IndexReleasesFormat = "keyctl-client-index-releases/1"

// MaxIndexReleasesSize caps that file.
const MaxIndexReleasesSize = indexsig.MaxSize + 2<<20

type releasesView struct {
	Format   string        `json:"format"`
	Issued   string        `json:"issued"`
	SHA256   string        `json:"statement_sha256"`
	Releases []viewRelease `json:"releases"`
}

type viewRelease struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	ProvSHA256 string `json:"prov_sha256"`
	FirstSeen  string `json:"first_seen"`
	Refused    bool   `json:"refused,omitempty"`
}

type viewKey struct{ name, version, prov string }

type viewEntry struct {
	firstSeen time.Time
	refused   bool
}

// IndexReleasesPath is the client's view of the signed index releases of
// location under dir.
func IndexReleasesPath(dir, location string) string {
	return strings.TrimSuffix(StatePath(dir, location), ".json") + ".index-releases.json"
}

// parseReleasesView parses the view strictly: size cap, no unknown
// fields, the format line, valid times and digests, entries as a statement
// allows them, none twice. why says what is wrong ("" when nothing).
func parseReleasesView(data []byte) (issued time.Time, sum string, m map[viewKey]viewEntry, why string) {
	if len(data) > MaxIndexReleasesSize {
		return issued, "", nil, fmt.Sprintf("larger than %d bytes", MaxIndexReleasesSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var v releasesView
	if err := dec.Decode(&v); err != nil {
		return issued, "", nil, "not valid JSON"
	}
	if _, err := dec.Token(); err != io.EOF {
		return issued, "", nil, "data after the JSON object"
	}
	if v.Format != IndexReleasesFormat {
		return issued, "", nil, fmt.Sprintf("format %q, want %q", v.Format, IndexReleasesFormat)
	}
	issued, err := time.Parse(time.RFC3339, v.Issued)
	if err != nil || !isHex64(v.SHA256) {
		return issued, "", nil, "issued or statement_sha256 is malformed"
	}
	if len(v.Releases) > indexsig.MaxReleases {
		return issued, "", nil, fmt.Sprintf("more than %d releases", indexsig.MaxReleases)
	}
	m = make(map[viewKey]viewEntry, len(v.Releases))
	for i, r := range v.Releases {
		fs, err := time.Parse(time.RFC3339, r.FirstSeen)
		k := viewKey{r.Name, r.Version, r.ProvSHA256}
		_, dup := m[k]
		switch {
		case err != nil || !indexsig.ValidChartName(r.Name) || !indexsig.ValidVersion(r.Version) || !isHex64(r.ProvSHA256):
			return issued, "", nil, fmt.Sprintf("release %d is malformed", i)
		case dup:
			return issued, "", nil, fmt.Sprintf("release %d is listed twice", i)
		}
		m[k] = viewEntry{firstSeen: fs.UTC(), refused: r.Refused}
	}
	return issued.UTC(), v.SHA256, m, ""
}

func isHex64(s string) bool {
	return len(s) == 64 && strings.Trim(s, "0123456789abcdef") == ""
}

// acceptReleases returns s with only the releases whose first-seen time
// the client accepts (see above), recording its view under dir; it runs
// under recordIndex's lock. firstUse: no statement was recorded for
// location before.
func acceptReleases(dir, location string, s *indexsig.Statement, sum string, firstUse bool, damaged func(string) error) (*indexsig.Statement, error) {
	path := IndexReleasesPath(dir, location)
	var prev map[viewKey]viewEntry
	var prevIssued time.Time
	if !firstUse {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			issued, psum, m, why := parseReleasesView(data)
			switch {
			case why != "":
				return nil, damaged(path + ": " + why)
			case psum == sum:
				return filterReleases(s, m), nil // the same statement again
			case !s.Issued.After(issued):
				return nil, damaged(fmt.Sprintf("%s is for a statement issued %s, not before the one served now", path, issued.Format(time.RFC3339)))
			}
			prev, prevIssued = m, issued
		case errors.Is(err, fs.ErrNotExist):
			// Recorded by an older keyctl: first use for the releases.
		default:
			return nil, fail.Inputf("cannot read client index record %s", path).Wrap(errors.Unwrap(err))
		}
	}
	next := make(map[viewKey]viewEntry, len(s.Releases))
	v := releasesView{Format: IndexReleasesFormat, Issued: s.Issued.UTC().Format(time.RFC3339), SHA256: sum, Releases: []viewRelease{}}
	for _, r := range s.Releases {
		k := viewKey{r.Name, r.Version, r.ProvSHA256}
		e := viewEntry{firstSeen: r.FirstSeen.UTC()}
		if old, ok := prev[k]; ok {
			e.refused = old.refused
			if old.firstSeen.After(e.firstSeen) {
				e.firstSeen = old.firstSeen
			}
		} else if prev != nil && e.firstSeen.Before(prevIssued) {
			e.refused = true // new since the last statement, yet dated before it
		}
		next[k] = e
		v.Releases = append(v.Releases, viewRelease{Name: r.Name, Version: r.Version, ProvSHA256: r.ProvSHA256,
			FirstSeen: e.firstSeen.Format(time.RFC3339), Refused: e.refused})
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(dir, path, append(out, '\n')); err != nil {
		return nil, err
	}
	return filterReleases(s, next), nil
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
