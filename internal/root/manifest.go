package root

import (
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
)

// Manifest limits and defaults.
const (
	ManifestFormat  = "keyctl-manifest/1"
	MaxManifestSize = 16 << 20
	MaxManifestKeys = 100000
	MaxScopes       = 64
	MaxScopeLen     = 256
	// DefaultManifestValidity is how long a published manifest is valid. It
	// bounds a freeze attack (serving an old, validly signed manifest) and
	// how long a removal can be hidden from a client, against the cost of
	// re-signing with offline root keys: a quarter gives the holders a
	// routine cadence, and keyctl status warns well before.
	DefaultManifestValidity = 90 * 24 * time.Hour
	// MaxManifestValidity is the longest validity a manifest may state.
	MaxManifestValidity = 400 * 24 * time.Hour
)

// Names of the files a manifest binds, in canonical order.
const (
	PubkeysFile = "pubkeys.pgp"
	RevokedFile = "revoked.pgp"
	// IndexKeysFile is the keyring of the active index keys. It is kept
	// apart from pubkeys.pgp so that `helm verify --keyring pubkeys.pgp`
	// never accepts a chart signed by an index key.
	IndexKeysFile = "indexkeys.pgp"
)

// manifestFiles are the files of format 1, sorted; indexFiles those of a
// manifest that names an active index key.
var (
	manifestFiles = []string{PubkeysFile, RevokedFile}
	indexFiles    = []string{IndexKeysFile, PubkeysFile, RevokedFile}
)

// FileNames returns the names of the files m must bind, in canonical order:
// pubkeys.pgp and revoked.pgp, and indexkeys.pgp first when m lists an
// active index key.
func (m *Manifest) FileNames() []string {
	if len(m.IndexKeys()) > 0 {
		return indexFiles
	}
	return manifestFiles
}

// Role of a key: what it may sign.
type Role string

const (
	// RoleMaintainer keys sign charts (the default; the manifest omits it).
	RoleMaintainer Role = "maintainer"
	// RoleIndex keys sign keyctl-index.json statements over index.yaml,
	// never charts.
	RoleIndex Role = "index"
)

// ParseRole checks a --role value.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case "", RoleMaintainer:
		return RoleMaintainer, nil
	case RoleIndex:
		return RoleIndex, nil
	}
	return "", fail.Inputf("unknown key role %q", s).
		WithHint("use --role maintainer (signs charts, the default) or --role index (signs keyctl-index.json, see docs/verify.md)")
}

// Or returns r, or RoleMaintainer when r is empty.
func (r Role) Or() Role {
	if r == "" {
		return RoleMaintainer
	}
	return r
}

// IndexKeys returns the entries of the active index keys.
func (m *Manifest) IndexKeys() []KeyEntry {
	var out []KeyEntry
	for _, k := range m.Keys {
		if k.Status == Active && k.Role == RoleIndex {
			out = append(out, k)
		}
	}
	return out
}

// Status of a maintainer key in the manifest.
type Status string

const (
	Active  Status = "active"
	Removed Status = "removed"
)

// Reason for a removal.
type Reason string

const (
	Compromised Reason = "compromised" // hard: every signature untrusted
	Retired     Reason = "retired"     // soft: signatures before Effective may stand
	Superseded  Reason = "superseded"  // soft, like retired
)

// FileRef binds a published file by hash and length.
type FileRef struct {
	Name   string
	SHA256 string // lower-case hex
	Length int64
}

// RootRef names the root set a manifest was made under.
type RootRef struct {
	Version uint64
	SHA256  string // hex SHA-256 of the root set's canonical bytes
}

// KeyEntry is one maintainer key in the manifest.
type KeyEntry struct {
	Fingerprint string
	Status      Status
	Reason      Reason    // removed keys only
	Added       time.Time // when the key entered the store
	Effective   time.Time // removed keys only: when the removal takes effect
	Scopes      []string  // chart-name globs (path.Match); empty: every chart
	// Role is "" (a maintainer key) or RoleIndex.
	Role Role
}

// Manifest is the signed statement of what a repository publishes. See the
// package documentation for the format.
type Manifest struct {
	Repository string
	Version    uint64
	Issued     time.Time
	Expires    time.Time
	Previous   string // hex SHA-256 of the previous manifest; "" for version 1
	Root       RootRef
	Files      []FileRef // PubkeysFile and RevokedFile
	Keys       []KeyEntry
}

type manifestJSON struct {
	Format     string         `json:"format"`
	Repository string         `json:"repository"`
	Version    uint64         `json:"version"`
	Issued     string         `json:"issued"`
	Expires    string         `json:"expires"`
	Previous   string         `json:"previous"`
	Root       rootRefJSON    `json:"root"`
	Files      []fileRefJSON  `json:"files"`
	Keys       []keyEntryJSON `json:"keys"`
}

type rootRefJSON struct {
	Version uint64 `json:"version"`
	SHA256  string `json:"sha256"`
}

type fileRefJSON struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Length int64  `json:"length"`
}

type keyEntryJSON struct {
	Fingerprint string   `json:"fingerprint"`
	Status      string   `json:"status"`
	Reason      string   `json:"reason,omitempty"`
	Added       string   `json:"added"`
	Effective   string   `json:"effective,omitempty"`
	Scopes      []string `json:"scopes,omitempty"`
	Role        string   `json:"role,omitempty"`
}

const timeLayout = "2006-01-02T15:04:05Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// minTime is the earliest time a manifest may mention.
var minTime = time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC)

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil || t.Format(timeLayout) != s {
		return time.Time{}, fail.Inputf("manifest: %s %q is not a UTC time like 2006-01-02T15:04:05Z", field, s)
	}
	if t.Before(minTime) {
		return time.Time{}, fail.Inputf("manifest: %s %s is before 1990", field, s)
	}
	return t, nil
}

// ValidHex256 reports whether s is a SHA-256 digest as keyctl writes one:
// 64 lower-case hex digits.
func ValidHex256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func validScope(s string) error {
	if s == "" || len(s) > MaxScopeLen {
		return fmt.Errorf("scope must be 1 to %d bytes", MaxScopeLen)
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r > 0x7e {
			return fmt.Errorf("scope %q must be printable ASCII without spaces", s)
		}
	}
	if _, err := path.Match(s, ""); err != nil {
		return fmt.Errorf("scope %q is not a valid glob", s)
	}
	return nil
}

// canonical returns a copy with times truncated to seconds in UTC and keys
// and scopes sorted.
func (m *Manifest) canonical() *Manifest {
	cp := *m
	trunc := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return t.UTC().Truncate(time.Second)
	}
	cp.Issued, cp.Expires = trunc(m.Issued), trunc(m.Expires)
	cp.Files = append([]FileRef(nil), m.Files...)
	sort.Slice(cp.Files, func(i, j int) bool { return cp.Files[i].Name < cp.Files[j].Name })
	cp.Keys = make([]KeyEntry, len(m.Keys))
	for i, k := range m.Keys {
		k.Added, k.Effective = trunc(k.Added), trunc(k.Effective)
		k.Scopes = append([]string(nil), k.Scopes...)
		sort.Strings(k.Scopes)
		if k.Role == RoleMaintainer {
			k.Role = ""
		}
		cp.Keys[i] = k
	}
	sort.Slice(cp.Keys, func(i, j int) bool { return cp.Keys[i].Fingerprint < cp.Keys[j].Fingerprint })
	return &cp
}

// Validate checks every field of a manifest as ParseManifest does (for a
// manifest in canonical order: see Marshal).
func (m *Manifest) Validate() error {
	if err := validRepository(m.Repository); err != nil {
		return fail.Inputf("manifest: %v", err)
	}
	if m.Version == 0 {
		return fail.Inputf("manifest: version must be 1 or more")
	}
	if m.Issued.Before(minTime) || m.Expires.Before(minTime) {
		return fail.Inputf("manifest: issue and expiry times are required")
	}
	if !m.Expires.After(m.Issued) {
		return fail.Inputf("manifest: expires %s is not after issued %s", fmtTime(m.Expires), fmtTime(m.Issued))
	}
	if m.Expires.Sub(m.Issued) > MaxManifestValidity {
		return fail.Inputf("manifest: valid for %s, more than the limit of %d days", m.Expires.Sub(m.Issued), int(MaxManifestValidity/(24*time.Hour))).
			WithHint("publish with a shorter --expires")
	}
	if m.Version == 1 && m.Previous != "" {
		return fail.Inputf("manifest: version 1 names a previous manifest")
	}
	if m.Version > 1 && !ValidHex256(m.Previous) {
		return fail.Inputf("manifest: version %d needs the previous manifest's SHA-256 (64 lower-case hex digits)", m.Version)
	}
	if m.Root.Version == 0 || !ValidHex256(m.Root.SHA256) {
		return fail.Inputf("manifest: root reference needs a version and a SHA-256 (64 lower-case hex digits)")
	}
	names := m.FileNames()
	if len(m.Files) != len(names) {
		return fail.Inputf("manifest: %d files, want %v", len(m.Files), names)
	}
	for i, f := range m.Files {
		if f.Name != names[i] {
			return fail.Inputf("manifest: file %q where %q belongs", f.Name, names[i])
		}
		if !ValidHex256(f.SHA256) {
			return fail.Inputf("manifest: %s: SHA-256 must be 64 lower-case hex digits", f.Name)
		}
		if f.Length < 0 || f.Length > 1<<40 {
			return fail.Inputf("manifest: %s: length %d is out of range", f.Name, f.Length)
		}
	}
	if len(m.Keys) > MaxManifestKeys {
		return fail.Inputf("manifest: %d keys, more than %d", len(m.Keys), MaxManifestKeys)
	}
	for i, k := range m.Keys {
		if !validFingerprint(k.Fingerprint) {
			return fail.Inputf("manifest: key %q is not an upper-case hex fingerprint", k.Fingerprint)
		}
		if i > 0 && m.Keys[i-1].Fingerprint >= k.Fingerprint {
			return fail.Inputf("manifest: keys must be sorted by fingerprint without duplicates (%s)", k.Fingerprint)
		}
		if k.Added.Before(minTime) {
			return fail.Inputf("manifest: key %s needs the time it was added", k.Fingerprint)
		}
		if k.Added.After(m.Issued) {
			return fail.Inputf("manifest: key %s added at %s, after the manifest was issued", k.Fingerprint, fmtTime(k.Added))
		}
		switch k.Status {
		case Active:
			if k.Reason != "" || !k.Effective.IsZero() {
				return fail.Inputf("manifest: active key %s has a removal reason or time", k.Fingerprint)
			}
		case Removed:
			switch k.Reason {
			case Compromised, Retired, Superseded:
			default:
				return fail.Inputf("manifest: removed key %s: reason %q is not compromised, retired or superseded", k.Fingerprint, k.Reason)
			}
			if k.Effective.Before(minTime) {
				return fail.Inputf("manifest: removed key %s needs an effective time", k.Fingerprint)
			}
			if k.Effective.After(m.Issued) {
				return fail.Inputf("manifest: removed key %s: effective %s is after the manifest was issued", k.Fingerprint, fmtTime(k.Effective))
			}
		default:
			return fail.Inputf("manifest: key %s: status %q is not active or removed", k.Fingerprint, k.Status)
		}
		switch k.Role {
		case "":
		case RoleIndex:
			if len(k.Scopes) > 0 {
				return fail.Inputf("manifest: index key %s has chart scopes; an index key signs no chart", k.Fingerprint)
			}
		default:
			return fail.Inputf("manifest: key %s: role %q is not maintainer (omitted) or index", k.Fingerprint, k.Role)
		}
		if len(k.Scopes) > MaxScopes {
			return fail.Inputf("manifest: key %s has %d scopes, more than %d", k.Fingerprint, len(k.Scopes), MaxScopes)
		}
		for j, s := range k.Scopes {
			if err := validScope(s); err != nil {
				return fail.Inputf("manifest: key %s: %v", k.Fingerprint, err)
			}
			if j > 0 && k.Scopes[j-1] >= s {
				return fail.Inputf("manifest: key %s: scopes must be sorted without duplicates", k.Fingerprint)
			}
		}
	}
	return nil
}

// Marshal returns the canonical bytes of m: times in UTC to the second,
// files, keys and scopes sorted. These bytes are what the roots sign and
// what the next manifest's Previous hashes.
func (m *Manifest) Marshal() ([]byte, error) { return m.marshal(0) }

// marshal is Marshal with room for size bytes (ParseManifest passes the
// length it compares against, so the encoding is built in one buffer).
func (m *Manifest) marshal(size int) ([]byte, error) {
	c := m.canonical()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	j := manifestJSON{
		Format:     ManifestFormat,
		Repository: c.Repository,
		Version:    c.Version,
		Issued:     fmtTime(c.Issued),
		Expires:    fmtTime(c.Expires),
		Previous:   c.Previous,
		Root:       rootRefJSON{Version: c.Root.Version, SHA256: c.Root.SHA256},
		Files:      make([]fileRefJSON, 0, len(c.Files)),
		Keys:       make([]keyEntryJSON, 0, len(c.Keys)),
	}
	for _, f := range c.Files {
		j.Files = append(j.Files, fileRefJSON{Name: f.Name, SHA256: f.SHA256, Length: f.Length})
	}
	for _, k := range c.Keys {
		j.Keys = append(j.Keys, keyEntryJSON{
			Fingerprint: k.Fingerprint, Status: string(k.Status), Reason: string(k.Reason),
			Added: fmtTime(k.Added), Effective: fmtTime(k.Effective), Scopes: k.Scopes, Role: string(k.Role),
		})
	}
	if size <= 0 {
		size = 512 + 64*len(j.Files) + 256*len(j.Keys)
	}
	if b, ok := appendManifest(make([]byte, 0, size), &j); ok {
		return b, nil
	}
	return encodeCanonical(j)
}

// ParseManifest parses and validates manifest bytes: at most
// MaxManifestSize, the format line, no unknown fields, every field checked
// (Validate), and canonical form (exactly the bytes Marshal writes, so one
// manifest has one encoding). Call it only on bytes whose signatures
// VerifyManifest checked, or use VerifyManifest.
func ParseManifest(data []byte) (*Manifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fail.Inputf("manifest is larger than %d bytes", MaxManifestSize)
	}
	// json.Unmarshal reads data in place, where a json.Decoder (for its
	// unknown-field check) copies it into a buffer that grows to twice its
	// size. Unknown fields cannot pass anyway: the canonical check below
	// refuses any byte Marshal would not write, and names them then.
	var j manifestJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fail.Inputf("manifest is not valid").Wrap(err)
	}
	if j.Format != ManifestFormat {
		return nil, fail.Inputf("manifest format is %q, want %q", j.Format, ManifestFormat).WithHint("a newer keyctl may be needed")
	}
	if len(j.Keys) > MaxManifestKeys {
		return nil, fail.Inputf("manifest: %d keys, more than %d", len(j.Keys), MaxManifestKeys)
	}
	m := &Manifest{Repository: j.Repository, Version: j.Version, Previous: j.Previous,
		Root: RootRef{Version: j.Root.Version, SHA256: j.Root.SHA256}}
	var err error
	if m.Issued, err = parseTime("issued", j.Issued); err != nil {
		return nil, err
	}
	if m.Expires, err = parseTime("expires", j.Expires); err != nil {
		return nil, err
	}
	for _, f := range j.Files {
		m.Files = append(m.Files, FileRef{Name: f.Name, SHA256: f.SHA256, Length: f.Length})
	}
	for _, k := range j.Keys {
		e := KeyEntry{Fingerprint: k.Fingerprint, Status: Status(k.Status), Reason: Reason(k.Reason), Scopes: k.Scopes, Role: Role(k.Role)}
		if e.Added, err = parseTime("added", k.Added); err != nil {
			return nil, err
		}
		if k.Effective != "" {
			if e.Effective, err = parseTime("effective", k.Effective); err != nil {
				return nil, err
			}
		}
		m.Keys = append(m.Keys, e)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	canon, err := m.marshal(len(data) + 1)
	if err != nil {
		return nil, err
	}
	if string(canon) != string(data) {
		if err := decodeStrict(data, &manifestJSON{}); err != nil {
			return nil, fail.Inputf("manifest is not valid").Wrap(err)
		}
		return nil, fail.Inputf("manifest is not in canonical form").WithHint("manifests are written by keyctl and must not be edited")
	}
	return m, nil
}

// File returns the reference for name, if the manifest binds it.
func (m *Manifest) File(name string) (FileRef, bool) {
	for _, f := range m.Files {
		if f.Name == name {
			return f, true
		}
	}
	return FileRef{}, false
}

// Key returns the entry for a full fingerprint.
func (m *Manifest) Key(fpr string) (KeyEntry, bool) {
	i := sort.Search(len(m.Keys), func(i int) bool { return m.Keys[i].Fingerprint >= fpr })
	if i < len(m.Keys) && m.Keys[i].Fingerprint == fpr {
		return m.Keys[i], true
	}
	return KeyEntry{}, false
}

// ExpiredError is a manifest past its expiry (a freeze: someone serves an
// old manifest, or the team lead has not re-published).
type ExpiredError struct {
	Version uint64
	Expires time.Time
	Now     time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("manifest version %d expired at %s", e.Version, fmtTime(e.Expires))
}

// Unwrap makes the error an Untrusted *fail.Error.
func (e *ExpiredError) Unwrap() error {
	return &fail.Error{Kind: fail.Untrusted, Hints: []string{
		"the repository's keyring has not been re-published in time, or an old copy is being served",
		"ask the repository's team lead to run keyctl publish",
	}}
}

// NotYetValidError is a manifest issued in the future (beyond ClockSkew).
type NotYetValidError struct {
	Version uint64
	Issued  time.Time
	Now     time.Time
}

func (e *NotYetValidError) Error() string {
	return fmt.Sprintf("manifest version %d is issued at %s, in the future", e.Version, fmtTime(e.Issued))
}

// Unwrap makes the error an Untrusted *fail.Error.
func (e *NotYetValidError) Unwrap() error {
	return &fail.Error{Kind: fail.Untrusted, Hints: []string{"check this machine's clock"}}
}

// RootMismatchError is a manifest that names another root set than the one
// the client trusts.
type RootMismatchError struct {
	Manifest RootRef
	Trusted  RootRef
}

func (e *RootMismatchError) Error() string {
	return fmt.Sprintf("manifest names root set %d (sha256 %.12s), the trusted root set is %d (sha256 %.12s)",
		e.Manifest.Version, e.Manifest.SHA256, e.Trusted.Version, e.Trusted.SHA256)
}

// Unwrap makes the error an Untrusted *fail.Error.
func (e *RootMismatchError) Unwrap() error {
	return &fail.Error{Kind: fail.Untrusted, Hints: []string{"a publish may be in progress: retry; if it persists the root history and the manifest disagree"}}
}

// VerifyManifest checks that sigs carry valid signatures by a threshold of
// the root set over data (keys valid at now), then parses the manifest and
// checks that it is for the set's repository (*RepositoryError), names this
// root set (*RootMismatchError), is not issued in the future
// (*NotYetValidError) and has not expired (*ExpiredError).
func VerifyManifest(data, sigs []byte, set *RootSet, now time.Time) (*Manifest, error) {
	if err := verifyManifestSigs(data, sigs, set, now); err != nil {
		return nil, err
	}
	m, err := ParseManifest(data)
	if err != nil {
		return nil, err
	}
	if err := m.checkTrusted(set, now); err != nil {
		return nil, err
	}
	return m, nil
}

// VerifyParsed is VerifyManifest for a caller that has already parsed data
// with ParseManifest (a client reads the manifest first to learn which root
// set it names): it makes every check of VerifyManifest on m without
// parsing the bytes again. m must be what ParseManifest returned for data.
func VerifyParsed(m *Manifest, data, sigs []byte, set *RootSet, now time.Time) error {
	if err := verifyManifestSigs(data, sigs, set, now); err != nil {
		return err
	}
	return m.checkTrusted(set, now)
}

func verifyManifestSigs(data, sigs []byte, set *RootSet, now time.Time) error {
	if len(data) > MaxManifestSize {
		return fail.Inputf("manifest is larger than %d bytes", MaxManifestSize)
	}
	_, err := set.verify(ManifestName, data, sigs, now, atNow)
	return err
}

// checkTrusted makes the checks of a signed manifest against the root set
// that signed it and the clock.
func (m *Manifest) checkTrusted(set *RootSet, now time.Time) error {
	if err := m.CheckRepository(set.Repository); err != nil {
		return err
	}
	setBytes, err := set.Marshal()
	if err != nil {
		return err
	}
	trusted := RootRef{Version: set.Version, SHA256: Hash(setBytes)}
	if m.Root != trusted {
		return &RootMismatchError{Manifest: m.Root, Trusted: trusted}
	}
	if m.Issued.After(now.Add(ClockSkew)) {
		return &NotYetValidError{Version: m.Version, Issued: m.Issued, Now: now}
	}
	if !now.Before(m.Expires) {
		return &ExpiredError{Version: m.Version, Expires: m.Expires, Now: now}
	}
	return nil
}

// MismatchError is a file whose hash or length differs from the manifest
// (mix-and-match).
type MismatchError struct {
	Name                  string
	WantSHA256, GotSHA256 string
	WantLength, GotLength int64
}

func (e *MismatchError) Error() string {
	if e.WantLength != e.GotLength {
		return fmt.Sprintf("%s is %d bytes, the manifest says %d", e.Name, e.GotLength, e.WantLength)
	}
	return fmt.Sprintf("%s has sha256 %s, the manifest says %s", e.Name, e.GotSHA256, e.WantSHA256)
}

// Unwrap makes the error an Untrusted *fail.Error.
func (e *MismatchError) Unwrap() error {
	return &fail.Error{Kind: fail.Untrusted, Hints: []string{
		"fetch the content-addressed copy " + ContentPath(e.WantSHA256) + "; if that differs too, the file was tampered with",
	}}
}

// CheckFile checks data against the manifest's entry for name: an unbound
// name is an Input error, a different length or hash a *MismatchError.
func (m *Manifest) CheckFile(name string, data []byte) error {
	f, ok := m.File(name)
	if !ok {
		return fail.Inputf("the manifest does not bind a file named %q", name)
	}
	got := Hash(data)
	if int64(len(data)) != f.Length || got != f.SHA256 {
		return &MismatchError{Name: name, WantSHA256: f.SHA256, GotSHA256: got, WantLength: f.Length, GotLength: int64(len(data))}
	}
	return nil
}

// RepositoryError is a manifest for another repository (replay).
type RepositoryError struct{ Want, Got string }

func (e *RepositoryError) Error() string {
	return fmt.Sprintf("manifest is for repository %q, not %q", e.Got, e.Want)
}

// Unwrap makes the error an Untrusted *fail.Error.
func (e *RepositoryError) Unwrap() error {
	return &fail.Error{Kind: fail.Untrusted, Hints: []string{"check --repo and the configured repository identity"}}
}

// CheckRepository returns a *RepositoryError unless m is for repository id.
func (m *Manifest) CheckRepository(id string) error {
	if m.Repository != id {
		return &RepositoryError{Want: id, Got: m.Repository}
	}
	return nil
}

// SuccessorError is a manifest that does not directly follow another.
type SuccessorError struct {
	PrevVersion, Version   uint64
	WantPrevious, Previous string
}

func (e *SuccessorError) Error() string {
	if e.Version != e.PrevVersion+1 {
		return fmt.Sprintf("manifest version %d does not follow version %d", e.Version, e.PrevVersion)
	}
	return fmt.Sprintf("manifest version %d names previous manifest %.12s, not %.12s", e.Version, e.Previous, e.WantPrevious)
}

// Unwrap makes the error an Untrusted *fail.Error.
func (e *SuccessorError) Unwrap() error { return &fail.Error{Kind: fail.Untrusted} }

// CheckSuccessor checks that m directly follows prev, whose manifest bytes
// hash to prevHash: version prev.Version+1 and Previous == prevHash.
func (m *Manifest) CheckSuccessor(prev *Manifest, prevHash string) error {
	if m.Version != prev.Version+1 || m.Previous != prevHash {
		return &SuccessorError{PrevVersion: prev.Version, Version: m.Version, WantPrevious: prevHash, Previous: m.Previous}
	}
	return nil
}

// RollbackError is a manifest older than one the client has seen.
type RollbackError struct{ Seen, Got uint64 }

func (e *RollbackError) Error() string {
	return fmt.Sprintf("manifest version %d is older than version %d seen before", e.Got, e.Seen)
}

// Unwrap makes the error an Untrusted *fail.Error.
func (e *RollbackError) Unwrap() error {
	return &fail.Error{Kind: fail.Untrusted, Hints: []string{"an old copy of the repository is being served (rollback); try again later or another mirror"}}
}

// EquivocationError is a manifest with the version the client saw before
// but other content: the roots signed two different histories.
type EquivocationError struct {
	Version           uint64
	SeenHash, GotHash string
}

func (e *EquivocationError) Error() string {
	return fmt.Sprintf("security error: two different manifests carry version %d (sha256 %.12s and %.12s)", e.Version, e.SeenHash, e.GotHash)
}

// Unwrap makes the error a Security *fail.Error.
func (e *EquivocationError) Unwrap() error {
	return &fail.Error{Kind: fail.Security, Hints: []string{
		"the root keys signed two different manifests for one version: report it to the repository's team lead",
		"keep the client state file as evidence",
	}}
}

// CheckSeen compares a verified manifest whose bytes hash to hash with what
// a client last recorded (seenVersion 0: nothing yet): a lower version is a
// *RollbackError, the same version with another hash an
// *EquivocationError.
func (m *Manifest) CheckSeen(seenVersion uint64, seenHash, hash string) error {
	switch {
	case seenVersion == 0:
		return nil
	case m.Version < seenVersion:
		return &RollbackError{Seen: seenVersion, Got: m.Version}
	case m.Version == seenVersion && hash != seenHash:
		return &EquivocationError{Version: m.Version, SeenHash: seenHash, GotHash: hash}
	}
	return nil
}
