package client

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/tlog"
)

// State is what a client remembers of one repository location: the
// identity it trusted first, and the newest manifest and root set it
// trusted. The state file is UTF-8 JSON written by MarshalState:
//
//	{
//	  "format": "keyctl-client-state/1",
//	  "location": "https://charts.example.org",
//	  "repository": "charts.example.org",
//	  "version": 7,
//	  "manifest_sha256": "<hex>",
//	  "issued": "2026-03-01T12:00:00Z",
//	  "root_version": 2,
//	  "root_sha256": "<hex>",
//	  "compromised": [{"fingerprint": "<FPR>", "version": 5, "subkeys": ["<FPR>"]}]
//	}
//
// root_version and root_sha256 name the root set the manifest named (the
// hash of its roots/N.json bytes): Load re-fetches that set, checks it by
// this hash, and walks only forward from it. root_sha256 is absent in files
// written before it was recorded; Load then resolves from the pins as on
// first use (they must name the whole root set exactly) and records it.
// compromised (optional, absent when empty and in files written before it
// was recorded) lists the keys a trusted manifest listed as removed for
// compromise, each with the version of the first manifest that did: a
// later manifest that lists one of them as active, with a softer reason,
// or not at all is refused (CheckCompromised). Each entry also lists the
// fingerprints of the subkeys its published certificate carried
// (optional, absent in files written before they were recorded): a
// manifest whose keyrings bind one of them, or the compromised primary
// key itself, to another certificate is refused too.
type State struct {
	Location       string    `json:"location"`
	Repository     string    `json:"repository"`
	Version        uint64    `json:"version"`
	ManifestSHA256 string    `json:"manifest_sha256"`
	Issued         time.Time `json:"issued"`
	RootVersion    uint64    `json:"root_version"`
	RootSHA256     string    `json:"root_sha256,omitempty"`
	// Compromised is sorted by fingerprint, without duplicates.
	Compromised []CompromisedKey `json:"compromised,omitempty"`
	// Log is the newest transparency log checkpoint (a signed note,
	// internal/tlog) this client checked; empty when the repository keeps
	// no log. The next checkpoint must be consistent with it.
	Log string `json:"log,omitempty"`
}

// CompromisedKey is a key a trusted manifest listed as compromised.
type CompromisedKey struct {
	Fingerprint string `json:"fingerprint"`
	// Version is the first trusted manifest that listed it compromised.
	Version uint64 `json:"version"`
	// Subkeys are the fingerprints of the subkeys its certificate carried
	// in the published keyrings of the manifests that listed it
	// compromised, sorted, without duplicates; nil in older files.
	Subkeys []string `json:"subkeys,omitempty"`
}

// MaxCompromisedSubkeys caps the subkeys recorded for one compromised key.
const MaxCompromisedSubkeys = 256

func (c CompromisedKey) equal(o CompromisedKey) bool {
	return c.Fingerprint == o.Fingerprint && c.Version == o.Version && slices.Equal(c.Subkeys, o.Subkeys)
}

// Equal reports whether s and o record the same thing.
func (s State) Equal(o State) bool {
	return s.Location == o.Location && s.Repository == o.Repository && s.Version == o.Version &&
		s.ManifestSHA256 == o.ManifestSHA256 && s.Issued.Equal(o.Issued) && s.RootVersion == o.RootVersion &&
		s.RootSHA256 == o.RootSHA256 && slices.EqualFunc(s.Compromised, o.Compromised, CompromisedKey.equal) && s.Log == o.Log
}

// CheckCompromised refuses a manifest that brings back a key the state
// recorded as compromised: the key must stay listed as removed for
// compromise in every later manifest. Hard removal is forever (see
// docs/verify.md); a manifest that undoes it was signed from a store that
// was tampered with or by root keys acting against the team lead.
//
// With t (the set m belongs to, its keyrings indexed), it also refuses a
// certificate of t other than the compromised one that holds the
// compromised primary key or one of its recorded subkeys: a compromised
// signing subkey bound under a new primary would sign again.
func (s State) CheckCompromised(m *root.Manifest, t *Trusted) error {
	if len(s.Compromised) == 0 {
		return nil
	}
	listed := make(map[string]root.KeyEntry, len(m.Keys))
	for _, k := range m.Keys {
		listed[k.Fingerprint] = k
	}
	for _, c := range s.Compromised {
		k, ok := listed[c.Fingerprint]
		var now string
		switch {
		case !ok:
			now = "drops it"
		case k.Status != root.Removed:
			now = "lists it as " + string(k.Status)
		case k.Reason != root.Compromised:
			now = "lists it as removed (" + string(k.Reason) + ")"
		default:
			continue
		}
		return &fail.Error{Kind: fail.Security, Msg: fmt.Sprintf(
			"key %s was listed compromised in manifest v%d; manifest v%d brings it back (it %s)", c.Fingerprint, c.Version, m.Version, now),
			Hints: []string{"nothing was trusted: a compromised key stays removed in every later manifest",
				"report it to the repository's team lead: the manifest was signed from a store that was changed behind keyctl's back, or by root keys acting without them",
				"keep the client state file as evidence"}}
	}
	if t == nil {
		return nil
	}
	for _, c := range s.Compromised {
		for i, k := range append([]string{c.Fingerprint}, c.Subkeys...) {
			p, ok := t.primaryOf[k]
			if !ok || p == c.Fingerprint {
				continue
			}
			what := "subkey " + k + " of key " + c.Fingerprint
			if i == 0 {
				what = "key " + k
			}
			return &fail.Error{Kind: fail.Security, Msg: fmt.Sprintf(
				"%s was listed compromised in manifest v%d; manifest v%d binds it to another key, %s (%s)", what, c.Version, m.Version, p, t.certs[p].status),
				Hints: []string{"nothing was trusted: a compromised key and its subkeys stay untrusted under every primary key",
					"report it to the repository's team lead: whoever holds the compromised secret key bound it to a certificate of their own",
					"keep the client state file as evidence"}}
		}
	}
	return nil
}

// withCompromised returns s with the keys m lists as compromised added
// (first version seen kept; the subkeys t's keyrings give them merged in)
// and those of other merged in. t may be nil.
func (s State) withCompromised(m *root.Manifest, t *Trusted, other []CompromisedKey) State {
	seen := map[string]uint64{}
	subs := map[string]map[string]bool{}
	add := func(f string, v uint64, sk []string) {
		if old, ok := seen[f]; !ok || v < old {
			seen[f] = v
		}
		if subs[f] == nil {
			subs[f] = map[string]bool{}
		}
		for _, k := range sk {
			subs[f][k] = true
		}
	}
	for _, c := range s.Compromised {
		add(c.Fingerprint, c.Version, c.Subkeys)
	}
	for _, c := range other {
		add(c.Fingerprint, c.Version, c.Subkeys)
	}
	if m != nil {
		for _, k := range m.Keys {
			if k.Status == root.Removed && k.Reason == root.Compromised {
				add(k.Fingerprint, m.Version, t.subkeysOf(k.Fingerprint))
			}
		}
	}
	out := make([]CompromisedKey, 0, len(seen))
	for f, v := range seen {
		var sk []string
		for k := range subs[f] {
			sk = append(sk, k)
		}
		slices.Sort(sk)
		out = append(out, CompromisedKey{Fingerprint: f, Version: v, Subkeys: sk})
	}
	slices.SortFunc(out, func(a, b CompromisedKey) int { return strings.Compare(a.Fingerprint, b.Fingerprint) })
	if len(out) == 0 {
		out = nil
	}
	s.Compromised = out
	return s
}

// StateFormat is the first field of a state file.
const StateFormat = "keyctl-client-state/1"

// MaxStateSize caps a state file: room for the compromised keys of the
// largest manifest (about 110 bytes each).
const MaxStateSize = 8 << 20

type stateJSON struct {
	Format         string `json:"format"`
	Location       string `json:"location"`
	Repository     string `json:"repository"`
	Version        uint64 `json:"version"`
	ManifestSHA256 string `json:"manifest_sha256"`
	Issued         string `json:"issued"`
	RootVersion    uint64 `json:"root_version"`
	RootSHA256     string `json:"root_sha256,omitempty"`
	// Compromised is optional: files written before it was recorded
	// have none.
	Compromised []CompromisedKey `json:"compromised,omitempty"`
	// Log is optional: repositories without a transparency log, and
	// files written before it was recorded, have none.
	Log string `json:"log,omitempty"`
}

// MarshalState returns the canonical bytes of s.
func MarshalState(s State) ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	j := stateJSON{Format: StateFormat, Location: s.Location, Repository: s.Repository, Version: s.Version,
		ManifestSHA256: s.ManifestSHA256, Issued: s.Issued.UTC().Format(time.RFC3339), RootVersion: s.RootVersion, RootSHA256: s.RootSHA256, Compromised: s.Compromised, Log: s.Log}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseState parses a state file strictly: size cap, the format line, no
// unknown fields, every field checked.
func ParseState(data []byte) (State, error) {
	if len(data) > MaxStateSize {
		return State{}, fmt.Errorf("larger than %d bytes", MaxStateSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var j stateJSON
	if err := dec.Decode(&j); err != nil {
		return State{}, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return State{}, errors.New("data after the JSON object")
	}
	if j.Format != StateFormat {
		return State{}, fmt.Errorf("format %q, want %q", j.Format, StateFormat)
	}
	issued, err := time.Parse(time.RFC3339, j.Issued)
	if err != nil {
		return State{}, fmt.Errorf("issued %q is not an RFC 3339 time", j.Issued)
	}
	s := State{Location: j.Location, Repository: j.Repository, Version: j.Version, ManifestSHA256: j.ManifestSHA256,
		Issued: issued.UTC(), RootVersion: j.RootVersion, RootSHA256: j.RootSHA256, Compromised: j.Compromised, Log: j.Log}
	if err := s.validate(); err != nil {
		return State{}, err
	}
	return s, nil
}

func (s State) validate() error {
	switch {
	case s.Location == "" || len(s.Location) > 4096:
		return errors.New("location must be 1 to 4096 bytes")
	case s.Repository == "" || len(s.Repository) > 256 || strings.ContainsAny(s.Repository, " \t\r\n"):
		return errors.New("repository must be 1 to 256 bytes without spaces")
	case s.Version == 0:
		return errors.New("version must be 1 or more")
	case s.RootVersion == 0:
		return errors.New("root_version must be 1 or more")
	case len(s.ManifestSHA256) != 64 || strings.Trim(s.ManifestSHA256, "0123456789abcdef") != "":
		return errors.New("manifest_sha256 must be 64 lower-case hex digits")
	case s.RootSHA256 != "" && (len(s.RootSHA256) != 64 || strings.Trim(s.RootSHA256, "0123456789abcdef") != ""):
		return errors.New("root_sha256 must be 64 lower-case hex digits")
	case s.Issued.IsZero():
		return errors.New("issued is missing")
	}
	if s.Log != "" {
		if _, err := tlog.ParseCheckpoint([]byte(s.Log)); err != nil {
			return fmt.Errorf("log checkpoint: %v", err)
		}
	}
	for i, c := range s.Compromised {
		switch {
		case (len(c.Fingerprint) != 40 && len(c.Fingerprint) != 64) || strings.Trim(c.Fingerprint, "0123456789ABCDEF") != "":
			return fmt.Errorf("compromised key %q is not an upper-case hex fingerprint", c.Fingerprint)
		case c.Version == 0 || c.Version > s.Version:
			return fmt.Errorf("compromised key %s: version %d is not between 1 and %d", c.Fingerprint, c.Version, s.Version)
		case i > 0 && s.Compromised[i-1].Fingerprint >= c.Fingerprint:
			return errors.New("compromised keys must be sorted by fingerprint without duplicates")
		case len(c.Subkeys) > MaxCompromisedSubkeys:
			return fmt.Errorf("compromised key %s: more than %d subkeys", c.Fingerprint, MaxCompromisedSubkeys)
		}
		for j, k := range c.Subkeys {
			switch {
			case (len(k) != 40 && len(k) != 64) || strings.Trim(k, "0123456789ABCDEF") != "":
				return fmt.Errorf("compromised key %s: subkey %q is not an upper-case hex fingerprint", c.Fingerprint, k)
			case j > 0 && c.Subkeys[j-1] >= k:
				return fmt.Errorf("compromised key %s: subkeys must be sorted without duplicates", c.Fingerprint)
			}
		}
	}
	return nil
}

// stateFile is the state of one location: DIR/<sha256(location)[:20]>.json.
type stateFile struct {
	dir, path, location string
}

// StatePath returns the state file of location (as publish.Bucket.Location
// shows it) under dir.
func StatePath(dir, location string) string {
	sum := sha256.Sum256([]byte(location))
	return filepath.Join(dir, "repo-"+hex.EncodeToString(sum[:10])+".json")
}

func newStateFile(dir, location string) *stateFile {
	return &stateFile{dir: dir, path: StatePath(dir, location), location: location}
}

func (f *stateFile) damaged(why string) error {
	return fail.Inputf("client state %s is damaged: %s", f.path, why).WithHint(
		"nothing was trusted; keyctl refuses to guess what it saw before",
		"to start over, move it away (mv "+f.path+" "+f.path+".bad); the next run trusts the repository's current manifest as on first use, so check the repository first")
}

// read returns the state, the zero State when there is none.
func (f *stateFile) read() (State, error) {
	fh, err := openRegular(f.path, os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fail.Inputf("cannot read client state %s", f.path).Wrap(unwrapPath(err))
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxStateSize+1))
	if err != nil {
		return State{}, fail.Inputf("cannot read client state %s", f.path).Wrap(err)
	}
	s, err := ParseState(data)
	if err != nil {
		return State{}, f.damaged(err.Error())
	}
	if s.Location != f.location {
		return State{}, f.damaged(fmt.Sprintf("it is for location %s, not %s", s.Location, f.location))
	}
	return s, nil
}

// write replaces the state atomically: a temporary file in the same
// directory, written, synced, mode 0600, renamed over the old one, and the
// directory synced. See writeChecked.
func (f *stateFile) write(s State) error { return f.writeChecked(s, nil) }

// writeChecked is write under an exclusive flock of PATH.lock, held around
// read-compare-rename so that concurrent runs cannot lose or mix records.
// Under the lock the state is read again (a damaged file fails closed) and:
//
//   - a newer version recorded meanwhile by another run is kept, after
//     check (when not nil) passed: the caller must not trust s unless it
//     agrees with that record (its history passes through s's manifest,
//     its log checkpoint is consistent with the one s's run checked);
//   - the same version with another manifest hash, or the same root set
//     version with another root set hash, is equivocation (a Security
//     error), never overwritten;
//   - a record of another repository identity is not replaced;
//   - a record of a newer root set than s names is never replaced, and s
//     is refused (rollback): another run trusted the newer set meanwhile;
//   - otherwise, when the record differs from what Load started from
//     (another run wrote an intermediate version), check (when not nil)
//     is asked whether s still descends from it, and the compromised keys
//     that record holds are kept in s.
//
// check is called with every record of another version or content than s
// (a newer one too); it compares it with what Load started from itself.
func (f *stateFile) writeChecked(s State, check func(cur State) error) error {
	if _, err := MarshalState(s); err != nil {
		return fail.Inputf("client state for %s", f.location).Wrap(err)
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return fail.Inputf("cannot create the client state folder %s", f.dir).Wrap(errors.Unwrap(err))
	}
	unlock, err := f.lock()
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := f.read()
	if err != nil {
		return err
	}
	if cur.Version != 0 {
		if err := compareState(cur, s); err != nil {
			return err
		}
		if check != nil {
			if err := check(cur); err != nil {
				return err
			}
		}
		if cur.Version > s.Version {
			return nil // a concurrent run got further (and check passed); keep its record
		}
		// Keys another run recorded as compromised are never forgotten.
		s = s.withCompromised(nil, nil, cur.Compromised)
		// Nor is a larger log checkpoint (check made s's consistent with it).
		s.Log = largerLog(s.Log, cur.Log)
	}
	data, err := MarshalState(s)
	if err != nil {
		return fail.Inputf("client state for %s", f.location).Wrap(err)
	}
	return writeAtomic(f.dir, f.path, data)
}

// readChecked is writeChecked for a run with nothing to write (s is the
// state it started from): under a shared flock of PATH.lock the state is
// read again and, when another run recorded something meanwhile, compared
// with s (compareState) and passed to check, which must refuse s unless
// it agrees with that record. Nothing is written. When the lock file
// cannot be opened (a read-only state folder without one), the state is
// read without the lock: writers replace the file by rename, so the read
// still sees every record completed before it.
func (f *stateFile) readChecked(s State, check func(cur State) error) error {
	if unlock, err := f.lockHow(os.O_RDONLY, syscall.LOCK_SH); err == nil {
		defer unlock()
	} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) && !errors.Is(err, syscall.EROFS) {
		return err
	}
	cur, err := f.read()
	if err != nil {
		return err
	}
	if cur.Version == 0 {
		return nil // moved away meanwhile: nothing to compare with
	}
	if err := compareState(cur, s); err != nil {
		return err
	}
	if check != nil {
		return check(cur)
	}
	return nil
}

// largerLog returns the checkpoint of the larger tree of a and b.
func largerLog(a, b string) string {
	ca, ea := tlog.ParseCheckpoint([]byte(a))
	cb, eb := tlog.ParseCheckpoint([]byte(b))
	switch {
	case a == "" || ea != nil:
		return b
	case b == "" || eb != nil:
		return a
	case cb.N > ca.N:
		return b
	}
	return a
}

// compareState refuses to replace the record cur by s when they disagree
// on what one version was.
func compareState(cur, s State) error {
	switch {
	case cur.Repository != s.Repository:
		return fail.Inputf("client state of %s now records repository %q, not %q (another run wrote it)", RedactURL(s.Location), cur.Repository, s.Repository).
			WithHint("check the repository identity; run again")
	case cur.Version == s.Version && cur.ManifestSHA256 != s.ManifestSHA256:
		return &fail.Error{Kind: fail.Security, Msg: fmt.Sprintf(
			"two different manifests carry version %d: recorded sha256 %s, now sha256 %s", s.Version, cur.ManifestSHA256, s.ManifestSHA256),
			Hints: equivocationHints}
	case cur.RootVersion == s.RootVersion && cur.RootSHA256 != "" && s.RootSHA256 != "" && cur.RootSHA256 != s.RootSHA256:
		return rootEquivocation(s.RootVersion, cur.RootSHA256, s.RootSHA256)
	case cur.RootVersion > s.RootVersion:
		// Another run sharing this state trusted a newer root set while
		// this one decided under an older set: a root key that has left
		// the set may have signed what this run saw (rollback). The newer
		// record is kept and nothing this run read is trusted.
		return fail.Untrustedf("root set %d was trusted by another keyctl run sharing this client state while this run checked the repository under root set %d (rollback)", cur.RootVersion, s.RootVersion).
			WithHint("nothing was trusted and the newer record was kept: retry",
				"if it persists, an old copy of the repository (hiding a root rotation) is being served: try another mirror; tell the repository's team lead")
	}
	return nil
}

func rootEquivocation(v uint64, seen, now string) error {
	return &fail.Error{Kind: fail.Security, Msg: fmt.Sprintf(
		"two different root sets carry version %d: seen before sha256 %s, named now sha256 %s", v, seen, now),
		Hints: []string{"the root keys signed two different root sets for one version: report it to the repository's team lead",
			"keep the client state file as evidence"}}
}

// lock takes an exclusive flock on PATH.lock (created mode 0600) and
// returns its release.
func (f *stateFile) lock() (func(), error) { return f.lockHow(os.O_RDWR, syscall.LOCK_EX) }

// lockHow opens PATH.lock (created mode 0600 when missing) with mode
// (os.O_RDWR, os.O_RDONLY) and takes flock how (syscall.LOCK_EX,
// LOCK_SH) on it. Errors wrap the cause (fs.ErrPermission and the like).
func (f *stateFile) lockHow(mode, how int) (func(), error) {
	lf, err := openRegular(f.path+".lock", mode|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fail.Inputf("cannot lock client state %s", f.path).Wrap(unwrapPath(err))
	}
	for {
		err = syscall.Flock(int(lf.Fd()), how)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		lf.Close()
		return nil, fail.Inputf("cannot lock client state %s", f.path).Wrap(err)
	}
	return func() {
		syscall.Flock(int(lf.Fd()), syscall.LOCK_UN)
		lf.Close()
	}, nil
}

// openRegular opens a file of the state folder without blocking and
// refuses anything but a regular file: a FIFO or a device planted there
// by someone who can write the folder would otherwise hang every run in
// open or read.
func openRegular(path string, flag int, perm fs.FileMode) (*os.File, error) {
	fh, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, err
	}
	if st, err := fh.Stat(); err != nil || !st.Mode().IsRegular() {
		fh.Close()
		if err == nil {
			err = fmt.Errorf("not a regular file (%s)", st.Mode().Type())
		}
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return fh, nil
}

// unwrapPath is the cause of a *fs.PathError (the path is named by the
// message around it), or err itself.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ReadState returns the state recorded for location under dir (the zero
// State when none), failing on a damaged file as Load does.
func ReadState(dir, location string) (State, error) {
	return newStateFile(dir, location).read()
}
