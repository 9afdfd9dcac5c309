package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/root"
)

// Signed index (docs/verify.md, "Signed index"). When the manifest names
// active index keys, index.yaml is read only together with
// keyctl-index.json and its signatures (internal/indexsig): the statement
// must verify with an active index key, be for this repository, bind the
// exact bytes of index.yaml, not have expired, and not be older than the
// newest statement this client saw (recorded next to the client state,
// atomically). index.yaml is then authenticated: its chart URLs may lead to
// other hosts, redirects to other hosts are followed (publish.RedirectPolicy
// CrossHost: capped, never from https to http, no credentials), the newest
// version is taken from it, and its digest of a release must be the
// archive's. Without index keys the same-host rule of CheckChartURL stands.

// SignedIndex is a repository's index.yaml as read by ReadIndex.
type SignedIndex struct {
	Data []byte
	// Statement is the verified keyctl-index.json (nil: the manifest names
	// no index keys, and index.yaml is not authenticated).
	Statement *indexsig.Statement
	// Signers are the index keys that signed the statement.
	Signers []string
}

// IndexKeys returns the certificates of the manifest's active index keys
// (from indexkeys.pgp).
func (t *Trusted) IndexKeys() (openpgp.EntityList, error) {
	var out openpgp.EntityList
	for _, k := range t.Manifest.IndexKeys() {
		e, err := t.entity(k.Fingerprint)
		if err != nil {
			return nil, fail.Untrustedf("index key %s of the published %s does not parse", k.Fingerprint, root.IndexKeysFile).Wrap(err)
		}
		if e != nil {
			out = append(out, e)
		}
	}
	return out, nil
}

// maintainerKeys returns the active maintainer certificates: a statement
// that only they signed is a wrong role.
func (t *Trusted) maintainerKeys() openpgp.EntityList {
	var out openpgp.EntityList
	for _, fpr := range t.order {
		if entry, ok := t.Manifest.Key(fpr); ok && entry.Status == root.Active && entry.Role != root.RoleIndex {
			if e, err := t.entity(fpr); err == nil && e != nil {
				out = append(out, e)
			}
		}
	}
	return out
}

// IndexTrust is what a signed index is checked against: the active index
// keys, the keys of other roles (a statement only they signed is a wrong
// role), the repository identity and the time.
type IndexTrust struct {
	Keys, Others openpgp.EntityList
	Repository   string
	Now          time.Time
	// Retired are the index keys removed as retired or superseded: their
	// statements were honest, so the client's view keeps the bounds and
	// refusals they vouch for. Any other index key that is not active
	// (removed as compromised, or no longer listed) stops vouching.
	Retired []string
}

// active returns the fingerprints of the active index keys.
func (it IndexTrust) active() []string {
	out := make([]string, 0, len(it.Keys))
	for _, e := range it.Keys {
		out = append(out, pgpkey.Fingerprint(e))
	}
	return out
}

// retiredKeys returns the fingerprints of the manifest's keys removed as
// retired or superseded (IndexTrust.Retired).
func (t *Trusted) retiredKeys() []string {
	var out []string
	for _, k := range t.Manifest.Keys {
		if k.Status == root.Removed && (k.Reason == root.Retired || k.Reason == root.Superseded) {
			out = append(out, k.Fingerprint)
		}
	}
	return out
}

// IndexTrust returns the index trust of t's manifest; ok is false when the
// manifest names no active index key (index.yaml is then not signed).
func (t *Trusted) IndexTrust() (it IndexTrust, ok bool, err error) {
	if len(t.Manifest.IndexKeys()) == 0 {
		return IndexTrust{}, false, nil
	}
	keys, err := t.IndexKeys()
	if err != nil {
		return IndexTrust{}, false, err
	}
	return IndexTrust{Keys: keys, Others: t.maintainerKeys(), Repository: t.Manifest.Repository, Now: t.Now, Retired: t.retiredKeys()}, true, nil
}

// Check verifies index.yaml's bytes against keyctl-index.json (stmt, nil
// when the repository serves none) and its signatures (sigs, nil when
// none), and records the statement for location in stateDir (empty: not
// recorded). Each refusal is an *indexsig.Error: tamper, wrong role,
// freeze or rollback.
func (it IndexTrust) Check(index, stmt, sigs []byte, location, stateDir string) (*SignedIndex, error) {
	if stmt == nil {
		return nil, &indexsig.Error{Kind: indexsig.ErrTamper,
			Msg: fmt.Sprintf("the repository names index keys, but it serves no %s next to index.yaml", indexsig.Name),
			Hints: []string{"the repository's CI signs index.yaml with keyctl index sign after helm repo index or chart-releaser; ask its team lead",
				"an unsigned index.yaml is refused: it could hide newer releases or point at other archives"}}
	}
	if sigs == nil {
		return nil, &indexsig.Error{Kind: indexsig.ErrTamper, Msg: fmt.Sprintf("%s has no signatures (%s is missing)", indexsig.Name, indexsig.SigName),
			Hints: []string{"a CI run may be uploading the index: retry; if it persists, tell the repository's team lead"}}
	}
	s, signers, err := indexsig.Verify(stmt, sigs, it.Keys, it.Others, it.Repository, it.Now)
	if err != nil {
		return nil, err
	}
	if err := s.CheckIndex(index); err != nil {
		return nil, err
	}
	if stateDir != "" {
		// The statement as this client accepts its releases' first-seen
		// times (acceptReleases).
		if s, err = recordIndex(stateDir, location, it.Repository, s, indexsig.Hash(stmt), signers, it.active(), it.Retired...); err != nil {
			return nil, err
		}
	}
	return &SignedIndex{Data: index, Statement: s, Signers: signers}, nil
}

// ReadIndex reads index.yaml at the repository b (whose base URL is base)
// and, when the manifest names index keys, checks it against the signed
// statement (IndexTrust.Check).
func (t *Trusted) ReadIndex(ctx context.Context, b *publish.Bucket, base, stateDir string) (*SignedIndex, error) {
	data, err := readRepoFile(ctx, b, base, IndexName, MaxIndexSize)
	if err != nil {
		return nil, err
	}
	it, ok, err := t.IndexTrust()
	if err != nil {
		return nil, err
	}
	if !ok {
		return &SignedIndex{Data: data}, nil
	}
	stmt, err := readOptional(ctx, b, base, indexsig.Name, indexsig.MaxSize)
	if err != nil {
		return nil, err
	}
	var sigs []byte
	if stmt != nil {
		if sigs, err = readOptional(ctx, b, base, indexsig.SigName, root.MaxSigSize); err != nil {
			return nil, err
		}
	}
	return it.Check(data, stmt, sigs, b.Location(), stateDir)
}

// readOptional is readRepoFile with a missing file as nil, and one over
// the limit as an index tamper.
func readOptional(ctx context.Context, b *publish.Bucket, base, name string, limit int64) ([]byte, error) {
	data, err := readRepoFile(ctx, b, base, name, limit)
	var tl *publish.TooLargeError
	switch {
	case err == nil:
		if data == nil {
			data = []byte{}
		}
		return data, nil
	case isNotFound(err) || errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case errors.As(err, &tl) || strings.Contains(err.Error(), "larger than"):
		return nil, &indexsig.Error{Kind: indexsig.ErrTamper, Msg: fmt.Sprintf("%s is larger than %d bytes", name, limit), Detail: err}
	}
	return nil, err
}

// readRepoFile reads name at the repository's root: a folder through an
// os.Root (no symbolic link out, regular files only), anything else
// through b.
func readRepoFile(ctx context.Context, b *publish.Bucket, base, name string, limit int64) ([]byte, error) {
	if dir, ok := localDir(base); ok {
		rt, err := os.OpenRoot(dir)
		if err != nil {
			return nil, fail.Inputf("repository %s is not a readable folder", dir).Wrap(err).
				WithHint("give the folder that holds index.yaml")
		}
		defer rt.Close()
		return readRegular(rt, dir, name, limit)
	}
	return b.Get(ctx, name, limit)
}

// IndexStateFormat is the format line of the signed index record.
// Records of format IndexStateFormatV1 (an older keyctl) hold no releases
// view: they are read as first use for the releases.
const (
	IndexStateFormat   = "keyctl-client-index/2"
	IndexStateFormatV1 = "keyctl-client-index/1"
)

// indexState is what a client remembers of a repository's signed index,
// in DIR/repo-<hash>.index.json next to the state file (StatePath): the
// newest statement it saw and its view of that statement's releases
// (acceptReleases), in one file written atomically:
//
//	{
//	  "format": "keyctl-client-index/2",
//	  "location": "https://charts.example.org",
//	  "repository": "charts.example.org",
//	  "issued": "2026-03-01T12:00:00Z",
//	  "statement_sha256": "<hex SHA-256 of keyctl-index.json>",
//	  "signers": ["<index key fingerprint>"],
//	  "releases": [
//	    {"name": "alpha", "version": "1.0.0", "prov_sha256": "<hex>", "first_seen": "2026-02-20T08:00:00Z", "by": ["<fingerprint>"]},
//	    {"name": "beta", "version": "2.0.0", "prov_sha256": "<hex>", "first_seen": "2026-02-28T08:00:00Z", "refused": true, "by": ["<fingerprint>"]}
//	  ]
//	}
type indexState struct {
	Format     string `json:"format"`
	Location   string `json:"location"`
	Repository string `json:"repository"`
	Issued     string `json:"issued"`
	SHA256     string `json:"statement_sha256"`
	// Only in format /1 records (an older keyctl kept its view in a
	// separate file these named): read, and ignored.
	ReleasesSHA256         string `json:"releases_sha256,omitempty"`
	PreviousReleasesSHA256 string `json:"previous_releases_sha256,omitempty"`
	// Format /2: the signers of the recorded statement and the client's
	// view of its releases (both present, possibly empty).
	Signers  []string      `json:"signers"`
	Releases []viewRelease `json:"releases"`
}

// MaxIndexStateSize caps the signed index record: a statement's worth of
// releases (indexsig.MaxReleases) with maxVouchers fingerprints each.
const MaxIndexStateSize = indexsig.MaxSize + 2<<20 + indexsig.MaxReleases*maxVouchers*72

// parseIndexState parses a signed index record strictly: size cap, no
// unknown fields, the format line, an RFC 3339 issue time, a lower-case
// hex SHA-256, and (format /2) the view's signers and releases (parseView).
// v is nil for a format /1 record. why says what is wrong ("" when nothing).
func parseIndexState(data []byte) (st indexState, v *view, why string) {
	if len(data) > MaxIndexStateSize {
		return st, nil, fmt.Sprintf("larger than %d bytes", MaxIndexStateSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return st, nil, "not valid JSON"
	}
	if _, err := dec.Token(); err != io.EOF {
		return st, nil, "data after the JSON object"
	}
	issued, terr := time.Parse(time.RFC3339, st.Issued)
	switch {
	case st.Format != IndexStateFormat && st.Format != IndexStateFormatV1:
		return st, nil, fmt.Sprintf("format %q, want %q", st.Format, IndexStateFormat)
	case st.Location == "" || st.Repository == "":
		return st, nil, "location or repository is missing"
	case terr != nil || !root.ValidHex256(st.SHA256):
		return st, nil, "issued or statement_sha256 is malformed"
	case st.Format == IndexStateFormatV1:
		if (st.ReleasesSHA256 != "" && !root.ValidHex256(st.ReleasesSHA256)) || (st.PreviousReleasesSHA256 != "" && (st.ReleasesSHA256 == "" || !root.ValidHex256(st.PreviousReleasesSHA256))) {
			return st, nil, "releases_sha256 or previous_releases_sha256 is malformed"
		}
		if st.Signers != nil || st.Releases != nil {
			return st, nil, "signers or releases in a " + IndexStateFormatV1 + " record"
		}
		return st, nil, ""
	case st.ReleasesSHA256 != "" || st.PreviousReleasesSHA256 != "":
		return st, nil, "releases_sha256 or previous_releases_sha256 in a " + IndexStateFormat + " record"
	case st.Signers == nil || st.Releases == nil:
		return st, nil, "signers or releases is missing"
	}
	pv, why := parseView(issued, st.Signers, st.Releases)
	if why != "" {
		return st, nil, why
	}
	return st, &pv, ""
}

// IndexStatePath is the signed index record of location under dir.
func IndexStatePath(dir, location string) string {
	return strings.TrimSuffix(StatePath(dir, location), ".json") + ".index.json"
}

// legacyViewPath is where an older keyctl kept its releases view apart
// from the record; recordIndex removes a leftover one.
func legacyViewPath(dir, location string) string {
	return strings.TrimSuffix(StatePath(dir, location), ".json") + ".index-releases.json"
}

// writeIndexState writes the record; tests replace it to simulate a
// failed write (a crash, a full disk).
var writeIndexState = writeAtomic

// recordIndex compares s (whose bytes hash to sum) with the newest
// statement recorded for location and records s when it is newer, with
// the client's view of its releases, under an exclusive lock and
// atomically (one file: temporary file, sync, rename; a failed or
// interrupted write leaves the record as it was). An older statement is
// an index rollback; a damaged record fails closed. It returns s with the
// releases whose first-seen times the client accepts (acceptReleases);
// signers are the index keys that signed s, active the manifest's active
// index keys (fingerprints), retired the index keys removed as retired or
// superseded (IndexTrust.Retired).
func recordIndex(dir, location, repository string, s *indexsig.Statement, sum string, signers, active []string, retired ...string) (*indexsig.Statement, error) {
	path := IndexStatePath(dir, location)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fail.Inputf("cannot create the client state folder %s", dir).Wrap(errors.Unwrap(err))
	}
	unlock, err := lockFile(path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	damaged := func(why string) error {
		return fail.Inputf("client index record %s is damaged: %s", path, why).WithHint(
			"nothing was trusted; keyctl refuses to guess which index it saw before",
			"to start over, move it away (mv "+path+" "+path+".bad); the next run trusts the repository's current signed index as on first use")
	}
	var seenIssued time.Time
	var seenSum string
	var prev *view
	recData, err := os.ReadFile(path)
	if err == nil {
		cur, v, why := parseIndexState(recData)
		switch {
		case why != "":
			return nil, damaged(why)
		case cur.Location != location:
			return nil, damaged("it is for location " + cur.Location)
		case cur.Repository != repository:
			return nil, fail.Untrustedf("signed index of %s was recorded for repository %q, now %q (replay?)", RedactURL(location), cur.Repository, repository).
				WithHint("if the repository really changed its identity, move the record away: " + path)
		}
		seenIssued, _ = time.Parse(time.RFC3339, cur.Issued)
		seenIssued, seenSum = seenIssued.UTC(), cur.SHA256
		prev = v
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fail.Inputf("cannot read client index record %s", path).Wrap(errors.Unwrap(err))
	}
	if err := s.CheckSeen(sum, seenIssued, seenSum); err != nil {
		return nil, err
	}
	// CheckSeen passed: s is newer than the recorded statement, or the
	// same one again (same issue time and SHA-256).
	accepted, sg, releases := acceptReleases(s, signers, active, retired, prev)
	next := indexState{Format: IndexStateFormat, Location: location, Repository: repository,
		Issued: s.Issued.UTC().Format(time.RFC3339), SHA256: sum, Signers: sg, Releases: releases}
	out, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return nil, err
	}
	out = append(out, '\n')
	if !bytes.Equal(out, recData) {
		if err := writeIndexState(dir, path, out); err != nil {
			return nil, err
		}
	}
	// A view file left by an older keyctl is not read: drop it (at
	// worst it stays, unused).
	os.Remove(legacyViewPath(dir, location))
	return accepted, nil
}

func lockFile(path string) (func(), error) {
	lf, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fail.Inputf("cannot lock %s", path).Wrap(errors.Unwrap(err))
	}
	for {
		err = syscall.Flock(int(lf.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		lf.Close()
		return nil, fail.Inputf("cannot lock %s", path).Wrap(err)
	}
	return func() {
		syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
		lf.Close()
	}, nil
}

// FetchOptions configure FetchRelease.
type FetchOptions struct {
	// StateDir records the newest signed index seen (empty: not recorded).
	StateDir string
	// Publish are the options chart locations on other hosts are opened
	// with (retries, an HTTP client); Redirects is set by FetchRelease.
	Publish *publish.Options
}

// FetchRelease is FetchChart under the trust of t: when t's manifest
// names index keys, index.yaml must carry a valid signed statement
// (ReadIndex) and is then authenticated: the release's URL may be on
// another host, redirects to other hosts are followed (capped, never from
// https to http, without credentials), and the archive must have the
// digest index.yaml gives it (Download.DigestChecked).
// Without index keys it is FetchChart.
func FetchRelease(ctx context.Context, t *Trusted, b *publish.Bucket, base, name, version string, o FetchOptions) (*Download, error) {
	if len(t.Manifest.IndexKeys()) == 0 {
		return FetchChart(ctx, b, base, name, version)
	}
	si, err := t.ReadIndex(ctx, b, base, o.StateDir)
	if err != nil {
		return nil, err
	}
	ix, err := ParseIndex(si.Data)
	if err != nil {
		return nil, err
	}
	cv, err := ix.Find(name, version)
	if err != nil {
		return nil, err
	}
	u, err := ResolveURL(base, cv.URLs[0])
	if err != nil {
		return nil, fail.Inputf("index.yaml: chart %s", cv).Wrap(err)
	}
	var d *Download
	if dir, ok := localDir(base); ok && CheckChartURL(base, u) == nil {
		rt, err := os.OpenRoot(dir)
		if err != nil {
			return nil, fail.Inputf("repository %s is not a readable folder", dir).Wrap(err)
		}
		defer rt.Close()
		if d, err = fetchLocalRelease(rt, dir, u, cv); err != nil {
			return nil, err
		}
	} else {
		if err := CheckSignedChartURL(base, u); err != nil {
			return nil, fail.Untrustedf("index.yaml: chart %s: URL %s is refused: %v", cv, RedactURL(u), err).
				WithHint("a signed index may point at other hosts over https (or http for an http repository), never at other schemes or with credentials")
		}
		dirURL, file, err := splitURL(u)
		if err != nil {
			return nil, err
		}
		var po publish.Options
		if o.Publish != nil {
			po = *o.Publish
		}
		po.Redirects = publish.RedirectPolicy{CrossHost: true}
		cb, err := publish.Open(ctx, dirURL, &po)
		if err != nil {
			return nil, err
		}
		defer cb.Close()
		d = &Download{URL: RedactURL(u), Name: file, Release: cv, Location: RedactURL(cb.Location())}
		if d.Archive, err = cb.Get(ctx, file, provenance.DefaultLimits.MaxArchive); err != nil {
			return nil, err
		}
		prov, err := cb.Get(ctx, file+".prov", provenance.MaxProvSize)
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		d.Prov = prov
	}
	d.Signed = si.Statement
	sum := sha256.Sum256(d.Archive)
	got := hex.EncodeToString(sum[:])
	if cv.Digest != "" {
		if !strings.EqualFold(strings.TrimPrefix(cv.Digest, "sha256:"), got) {
			return nil, fail.Untrustedf("%s: sha256 %s, but the signed index.yaml lists %s with digest %s (a substituted archive)", d.Name, got, cv, cv.Digest).
				WithHint("the archive host serves other bytes than the release the repository signed its index for: do not use it; tell the repository's team lead")
		}
		d.DigestChecked = true
	}
	return d, nil
}

// CheckSignedChartURL is the rule for a chart URL from a signed index:
// http(s) on any host, https only for an https repository, and no
// credentials in the URL. Other repository schemes keep CheckChartURL's
// rule, or may name https URLs.
func CheckSignedChartURL(base, u string) error {
	b, err := url.Parse(base)
	if err != nil {
		return errors.New("the repository URL is not valid")
	}
	c, err := url.Parse(u)
	if err != nil {
		return errors.New("it is not a valid URL")
	}
	bs, cs := strings.ToLower(b.Scheme), strings.ToLower(c.Scheme)
	if c.User != nil {
		if CheckChartURL(base, u) == nil {
			return nil // the repository's own location and credentials
		}
		return errors.New("it carries credentials")
	}
	switch {
	case cs == "https":
		return nil
	case cs == "http" && bs == "http":
		return nil
	case cs == "http":
		return fmt.Errorf("an http URL from a %s repository would downgrade to http", bs)
	}
	return CheckChartURL(base, u)
}

// hintIndexKeys adds, to FetchChart's refusal of a chart URL on another
// host, how a repository makes such URLs acceptable.
func hintIndexKeys(err error) error {
	if err == nil || !strings.Contains(err.Error(), "is not the repository's host") {
		return err
	}
	return fail.Hint(err, "archives on another host (GitHub Releases with chart-releaser, a CDN) are followed only from a signed index: the repository's team lead adds an index key (keyctl add KEY --role index), publishes, and CI signs index.yaml with keyctl index sign (docs/verify.md, Signed index)")
}
