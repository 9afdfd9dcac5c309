// Package indexsig is keyctl's signed statement over a chart repository's
// index.yaml: keyctl-index.json and its detached signatures,
// keyctl-index.json.sig, written next to index.yaml by
// `keyctl index sign` (in CI, after `helm repo index` or chart-releaser)
// and checked by clients before they read index.yaml (internal/client,
// signedindex.go). docs/manifest.md and docs/verify.md describe where it
// sits; this documentation is the format's specification.
//
// # Statement
//
// keyctl-index.json is UTF-8 JSON written by Statement.Marshal: two-space
// indent, fields in this order, one final newline, no other form accepted
// (Parse re-encodes and compares, so one statement has one encoding), at
// most MaxSize bytes:
//
//		{
//		  "format": "keyctl-index/2",
//		  "repository": "charts.example.org",
//		  "index_sha256": "<lower-case hex SHA-256 of index.yaml>",
//		  "index_length": 123456,
//		  "releases": [
//		    {
//		      "name": "alpha",
//		      "version": "1.0.0",
//		      "prov_sha256": "<lower-case hex SHA-256 of alpha-1.0.0.tgz.prov>",
//		      "first_seen": "2026-02-20T08:00:00Z"
//		    }
//		  ],
//		  "issued": "2026-03-01T12:00:00Z",
//		  "expires": "2026-03-08T12:00:00Z"
//		}
//
//	  - format: "keyctl-index/2", or "keyctl-index/1" for a statement
//	    written by an older keyctl, which has no releases field (and so
//	    never gives trusted time); another value is refused.
//	  - repository: the repository identity the root set and manifest name
//	    (1 to 256 printable ASCII bytes without spaces); a statement for
//	    another repository is refused (replay).
//	  - index_sha256, index_length: the exact bytes of index.yaml; other
//	    bytes are refused (tamper). index_length is at most MaxIndexLength.
//	  - releases (format 2 only; [] when none): at most MaxReleases
//	    entries, sorted by name, then version (byte order), no (name,
//	    version) twice. Each says: the index key's holder saw the .prov
//	    whose exact bytes hash to prov_sha256 (64 lower-case hex digits) for
//	    this release first at first_seen (same time layout as issued, and
//	    not after issued). name is a chart name as index.yaml accepts it
//	    (ValidChartName), version a release version (ValidVersion). A client
//	    judging that release with exactly those .prov bytes takes first_seen
//	    as trusted time, like the ledger's first-seen record
//	    (Statement.FirstSeen): a .prov with other bytes (re-signed, or
//	    forged later and backdated) gets none from the statement. Entries
//	    may name releases index.yaml does not list (keyctl index sign
//	    keeps them, so that a release left out for a run keeps its time).
//	  - issued, expires: UTC, to the second, "2006-01-02T15:04:05Z";
//	    issued < expires <= issued + MaxValidity (default validity
//	    DefaultValidity, 7 days). A statement is refused at or after expires
//	    (freeze: an old index served forever) and when issued lies more than
//	    root.ClockSkew ahead. Issue times only grow: a client refuses a
//	    statement issued before the newest one it has seen (rollback: an
//	    older index that hides newer releases), and a different statement
//	    with the same issue time (equivocation).
//
// # Signatures
//
// keyctl-index.json.sig holds one or more binary OpenPGP signature packets
// (document type 0x00, SHA-256 or stronger), each a detached signature over
// the exact bytes of keyctl-index.json, at most root.MaxSigSize bytes. A
// statement is trusted when at least one signature verifies with an active
// index key of the repository's manifest (role "index"), valid now.
// Signatures by other keys are ignored; a statement that only a maintainer
// key signed is refused as a wrong role, never trusted.
package indexsig

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

// Names and limits.
const (
	Format = "keyctl-index/2"
	// FormatV1 is the format before releases: still read, never written,
	// and it never gives trusted time.
	FormatV1 = "keyctl-index/1"
	Name     = "keyctl-index.json"
	SigName  = Name + root.SigSuffix
	MaxSize  = 8 << 20
	// MaxReleases caps the releases a statement binds (about 200 bytes
	// each).
	MaxReleases = 30000
	// MaxIndexLength is the largest index.yaml a statement may bind.
	MaxIndexLength = 64 << 20
	// DefaultValidity is short: the statement is re-signed by CI at every
	// index change and on a schedule, and its expiry bounds how long an
	// old index can be served (freeze).
	DefaultValidity = 7 * 24 * time.Hour
	// MaxValidity is the longest validity a statement may state.
	MaxValidity = 90 * 24 * time.Hour
)

const timeLayout = "2006-01-02T15:04:05Z"

// Statement is what keyctl-index.json says.
type Statement struct {
	// V1 is set on a statement parsed from format keyctl-index/1 (it then
	// has no Releases); Marshal writes it back in that format.
	V1          bool
	Repository  string
	IndexSHA256 string // lower-case hex
	IndexLength int64
	// Releases are sorted by name, then version (SortReleases).
	Releases []Release
	Issued   time.Time
	Expires  time.Time
}

// Release is one entry of a statement's releases: the index key's holder
// saw the .prov whose bytes hash to ProvSHA256 for Name Version first at
// FirstSeen.
type Release struct {
	Name, Version string
	ProvSHA256    string // lower-case hex
	FirstSeen     time.Time
}

type statementJSON struct {
	Format      string         `json:"format"`
	Repository  string         `json:"repository"`
	IndexSHA256 string         `json:"index_sha256"`
	IndexLength int64          `json:"index_length"`
	Releases    *[]releaseJSON `json:"releases,omitempty"`
	Issued      string         `json:"issued"`
	Expires     string         `json:"expires"`
}

type releaseJSON struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	ProvSHA256 string `json:"prov_sha256"`
	FirstSeen  string `json:"first_seen"`
}

// New returns the statement over index bytes binding releases (sorted
// here), issued at now (to the second) and valid for validity (0:
// DefaultValidity).
func New(repository string, index []byte, releases []Release, now time.Time, validity time.Duration) (*Statement, error) {
	if validity == 0 {
		validity = DefaultValidity
	}
	now = now.UTC().Truncate(time.Second)
	rs := make([]Release, len(releases))
	for i, r := range releases {
		r.FirstSeen = r.FirstSeen.UTC().Truncate(time.Second)
		rs[i] = r
	}
	SortReleases(rs)
	s := &Statement{Repository: repository, IndexSHA256: hash(index), IndexLength: int64(len(index)), Releases: rs, Issued: now, Expires: now.Add(validity)}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// SortReleases sorts releases by name, then version, the statement's order.
func SortReleases(rs []Release) {
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Name != rs[j].Name {
			return rs[i].Name < rs[j].Name
		}
		return rs[i].Version < rs[j].Version
	})
}

// FirstSeen is the first-seen time the statement gives release name
// version with .prov bytes hashing to provSHA256 (lower-case hex); nil
// when it lists no such release or another .prov for it (a format 1
// statement lists none). Call it only on a verified statement.
func (s *Statement) FirstSeen(name, version, provSHA256 string) *time.Time {
	if s == nil || provSHA256 == "" {
		return nil
	}
	i := sort.Search(len(s.Releases), func(i int) bool {
		r := s.Releases[i]
		return r.Name > name || (r.Name == name && r.Version >= version)
	})
	if i < len(s.Releases) && s.Releases[i].Name == name && s.Releases[i].Version == version && s.Releases[i].ProvSHA256 == provSHA256 {
		t := s.Releases[i].FirstSeen
		return &t
	}
	return nil
}

// ValidChartName accepts what Helm accepts as a chart name, and nothing
// that could act as a path.
func ValidChartName(s string) bool {
	if s == "" || len(s) > 250 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// ValidVersion accepts a release version as index.yaml may list it: 1 to
// 256 bytes, no path separators, NUL or line breaks.
func ValidVersion(v string) bool {
	return v != "" && len(v) <= 256 && !strings.ContainsAny(v, "/\\\x00\n")
}

func hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// Validate checks every field.
func (s *Statement) Validate() error {
	switch {
	case s.Repository == "" || len(s.Repository) > 256 || strings.IndexFunc(s.Repository, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		return fail.Inputf("%s: repository %q must be 1 to 256 printable ASCII bytes without spaces", Name, s.Repository)
	case len(s.IndexSHA256) != 64 || strings.Trim(s.IndexSHA256, "0123456789abcdef") != "":
		return fail.Inputf("%s: index_sha256 must be 64 lower-case hex digits", Name)
	case s.IndexLength < 0 || s.IndexLength > MaxIndexLength:
		return fail.Inputf("%s: index_length %d is out of range (0 to %d)", Name, s.IndexLength, MaxIndexLength)
	case s.Issued.Year() < 1990 || s.Expires.Year() < 1990:
		return fail.Inputf("%s: issue and expiry times are required", Name)
	case !s.Expires.After(s.Issued):
		return fail.Inputf("%s: expires %s is not after issued %s", Name, fmtTime(s.Expires), fmtTime(s.Issued))
	case s.Expires.Sub(s.Issued) > MaxValidity:
		return fail.Inputf("%s: valid for %s, more than the limit of %d days", Name, s.Expires.Sub(s.Issued), int(MaxValidity/(24*time.Hour))).
			WithHint("sign with a shorter --expires")
	case s.V1 && len(s.Releases) > 0:
		return fail.Inputf("%s: format %s has no releases", Name, FormatV1)
	case len(s.Releases) > MaxReleases:
		return fail.Inputf("%s: %d releases, more than the limit of %d", Name, len(s.Releases), MaxReleases)
	}
	for i, r := range s.Releases {
		switch {
		case !ValidChartName(r.Name):
			return fail.Inputf("%s: release %d: chart name %q is not valid", Name, i, r.Name)
		case !ValidVersion(r.Version):
			return fail.Inputf("%s: release %d (%s): version %q is not valid", Name, i, r.Name, r.Version)
		case len(r.ProvSHA256) != 64 || strings.Trim(r.ProvSHA256, "0123456789abcdef") != "":
			return fail.Inputf("%s: release %s %s: prov_sha256 must be 64 lower-case hex digits", Name, r.Name, r.Version)
		case r.FirstSeen.Year() < 1990:
			return fail.Inputf("%s: release %s %s: first_seen is required", Name, r.Name, r.Version)
		case r.FirstSeen.After(s.Issued):
			return fail.Inputf("%s: release %s %s: first_seen %s is after issued %s", Name, r.Name, r.Version, fmtTime(r.FirstSeen), fmtTime(s.Issued))
		}
		if i > 0 {
			p := s.Releases[i-1]
			switch {
			case p.Name == r.Name && p.Version == r.Version:
				return fail.Inputf("%s: release %s %s is listed twice", Name, r.Name, r.Version)
			case p.Name > r.Name || (p.Name == r.Name && p.Version > r.Version):
				return fail.Inputf("%s: releases are not sorted by name, then version (%s %s before %s %s)", Name, p.Name, p.Version, r.Name, r.Version)
			}
		}
	}
	return nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Marshal returns the canonical bytes of s.
func (s *Statement) Marshal() ([]byte, error) {
	c := *s
	c.Issued, c.Expires = s.Issued.UTC().Truncate(time.Second), s.Expires.UTC().Truncate(time.Second)
	if err := c.Validate(); err != nil {
		return nil, err
	}
	j := statementJSON{Format: Format, Repository: c.Repository, IndexSHA256: c.IndexSHA256,
		IndexLength: c.IndexLength, Issued: fmtTime(c.Issued), Expires: fmtTime(c.Expires)}
	if c.V1 {
		j.Format = FormatV1
	} else {
		rs := make([]releaseJSON, len(c.Releases))
		for i, r := range c.Releases {
			rs[i] = releaseJSON{Name: r.Name, Version: r.Version, ProvSHA256: r.ProvSHA256, FirstSeen: fmtTime(r.FirstSeen)}
		}
		j.Releases = &rs
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse parses statement bytes strictly: at most MaxSize, the format line,
// no unknown fields, every field checked, canonical form. Call it on bytes
// whose signatures Verify checked, or use Verify.
func Parse(data []byte) (*Statement, error) {
	if len(data) > MaxSize {
		return nil, fail.Inputf("%s is larger than %d bytes", Name, MaxSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j statementJSON
	if err := dec.Decode(&j); err != nil {
		return nil, fail.Inputf("%s is not valid", Name).Wrap(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fail.Inputf("%s has data after the JSON object", Name)
	}
	if j.Format != Format && j.Format != FormatV1 {
		return nil, fail.Inputf("%s format is %q, want %q", Name, j.Format, Format).WithHint("a newer keyctl may be needed")
	}
	s := &Statement{V1: j.Format == FormatV1, Repository: j.Repository, IndexSHA256: j.IndexSHA256, IndexLength: j.IndexLength}
	if j.Releases != nil {
		if len(*j.Releases) > MaxReleases {
			return nil, fail.Inputf("%s: %d releases, more than the limit of %d", Name, len(*j.Releases), MaxReleases)
		}
		s.Releases = make([]Release, len(*j.Releases))
		for i, r := range *j.Releases {
			fs, err := parseTime("first_seen", r.FirstSeen)
			if err != nil {
				return nil, err
			}
			s.Releases[i] = Release{Name: r.Name, Version: r.Version, ProvSHA256: r.ProvSHA256, FirstSeen: fs}
		}
	}
	var err error
	if s.Issued, err = parseTime("issued", j.Issued); err != nil {
		return nil, err
	}
	if s.Expires, err = parseTime("expires", j.Expires); err != nil {
		return nil, err
	}
	canon, err := s.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, data) {
		return nil, fail.Inputf("%s is not in canonical form", Name).WithHint("it is written by keyctl index sign and must not be edited")
	}
	return s, nil
}

func parseTime(field, v string) (time.Time, error) {
	t, err := time.Parse(timeLayout, v)
	if err != nil || t.Format(timeLayout) != v {
		return time.Time{}, fail.Inputf("%s: %s %q is not a UTC time like 2006-01-02T15:04:05Z", Name, field, v)
	}
	return t, nil
}

// Sign returns keyctl-index.json's bytes and a binary detached signature
// (SHA-512) by signer, which must hold a decrypted secret key.
func Sign(s *Statement, signer *openpgp.Entity) (data, sig []byte, err error) {
	if data, err = s.Marshal(); err != nil {
		return nil, nil, err
	}
	cfg := &packet.Config{DefaultHash: crypto.SHA512, Time: func() time.Time { return s.Issued }}
	var buf bytes.Buffer
	if err := openpgp.DetachSign(&buf, []*openpgp.Entity{signer}, bytes.NewReader(data), cfg); err != nil {
		return nil, nil, fail.Inputf("signing %s with key %s", Name, pgpkey.Fingerprint(signer)).Wrap(err)
	}
	return data, buf.Bytes(), nil
}

// Errors a client reports, each with its own message (docs/verify.md).
var (
	// ErrTamper: the statement does not verify, does not parse, is for
	// another repository, or index.yaml is not the bytes it binds.
	ErrTamper = errors.New("index tamper")
	// ErrWrongRole: only keys that are not active index keys (maintainer
	// keys) signed it.
	ErrWrongRole = errors.New("index wrong role")
	// ErrFreeze: the statement has expired.
	ErrFreeze = errors.New("index freeze")
	// ErrRollback: the statement is older than one seen before.
	ErrRollback = errors.New("index rollback")
)

// Error is a refused statement; Is matches one of the Err values above.
type Error struct {
	Kind   error
	Msg    string
	Hints  []string
	Detail error
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Msg }

// Is makes errors.Is(err, ErrTamper) and the others work.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap makes the error an Untrusted *fail.Error.
func (e *Error) Unwrap() error {
	return &fail.Error{Kind: fail.Untrusted, Hints: e.Hints, Err: e.Detail}
}

func tamper(msg string, detail error) error {
	return &Error{Kind: ErrTamper, Msg: msg, Detail: detail, Hints: []string{
		"index.yaml or its keyctl-index.json was altered, replaced or half uploaded: do not use this repository's index",
		"if a CI run is updating the index, retry in a minute; otherwise tell the repository's team lead",
	}}
}

// Verify checks sigs over data: at least one valid signature (root.VerifyBy)
// by a key of index (the manifest's active index keys); then the statement
// parses, names repository, is not issued in the future and has not
// expired at now. other are keys of other roles: a statement that only
// they signed is an ErrWrongRole. It returns the statement and the index
// keys that signed it.
func Verify(data, sigs []byte, index, other openpgp.EntityList, repository string, now time.Time) (*Statement, []string, error) {
	if len(data) > MaxSize {
		return nil, nil, tamper(fmt.Sprintf("%s is larger than %d bytes", Name, MaxSize), nil)
	}
	signers, err := root.VerifyBy(data, sigs, index, now)
	if err != nil {
		return nil, nil, tamper(Name+".sig does not hold OpenPGP signatures", err)
	}
	if len(signers) == 0 {
		if others, _ := root.VerifyBy(data, sigs, other, now); len(others) > 0 {
			return nil, nil, &Error{Kind: ErrWrongRole, Msg: fmt.Sprintf("%s is signed by %s, which is not an index key of the repository: only an index key signs the index, a maintainer key never does", Name, strings.Join(others, ", ")),
				Hints: []string{"sign the index with a key added by keyctl add KEYFILE --role index (and published), in CI: keyctl index sign"}}
		}
		return nil, nil, tamper(fmt.Sprintf("%s carries no valid signature by an active index key of the repository", Name), nil)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, nil, tamper(Name+" does not parse", err)
	}
	if s.Repository != repository {
		return nil, nil, tamper(fmt.Sprintf("%s is for repository %q, not %q (replay)", Name, s.Repository, repository), nil)
	}
	if s.Issued.After(now.Add(root.ClockSkew)) {
		return nil, nil, tamper(fmt.Sprintf("%s is issued at %s, in the future", Name, fmtTime(s.Issued)), nil)
	}
	if !now.Before(s.Expires) {
		return nil, nil, &Error{Kind: ErrFreeze, Msg: fmt.Sprintf("%s issued %s expired at %s: the index is frozen, or an old copy is being served", Name, fmtTime(s.Issued), fmtTime(s.Expires)),
			Hints: []string{"the repository's CI re-signs the index (keyctl index sign) at every change and on a schedule; ask its team lead why it stopped", "a stale mirror or cache may serve an old copy: try again later"}}
	}
	return s, signers, nil
}

// CheckIndex checks index.yaml's bytes against the statement.
func (s *Statement) CheckIndex(index []byte) error {
	if int64(len(index)) != s.IndexLength || hash(index) != s.IndexSHA256 {
		return tamper(fmt.Sprintf("index.yaml (%d bytes, sha256 %.16s) is not the index %s signed (%d bytes, sha256 %.16s)",
			len(index), hash(index), Name, s.IndexLength, s.IndexSHA256), nil)
	}
	return nil
}

// CheckSeen compares s, whose bytes hash to sum, with the newest statement
// a client saw (issued seenIssued, hash seenSHA256; zero: none): an older
// one is an ErrRollback, the same issue time with other bytes too.
func (s *Statement) CheckSeen(sum string, seenIssued time.Time, seenSHA256 string) error {
	switch {
	case seenIssued.IsZero():
		return nil
	case s.Issued.Before(seenIssued):
		return &Error{Kind: ErrRollback, Msg: fmt.Sprintf("%s issued %s is older than the one issued %s seen before: an old index is being served, which may hide newer releases", Name, fmtTime(s.Issued), fmtTime(seenIssued)),
			Hints: []string{"a stale mirror or cache, or an attacker, serves an old index.yaml: try again later or another mirror"}}
	case s.Issued.Equal(seenIssued) && sum != seenSHA256:
		return &Error{Kind: ErrRollback, Msg: fmt.Sprintf("two different %s carry issue time %s: seen before sha256 %.16s, served now sha256 %.16s", Name, fmtTime(s.Issued), seenSHA256, sum),
			Hints: []string{"issue times only grow: the index keys signed two different indexes at once, or one is replayed; tell the repository's team lead"}}
	}
	return nil
}

// Hash is the lower-case hex SHA-256 of b.
func Hash(b []byte) string { return hash(b) }
