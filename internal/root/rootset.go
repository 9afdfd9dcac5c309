package root

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

// Root set limits.
const (
	RootSetFormat  = "keyctl-rootset/1"
	MaxRootSetSize = 4 << 20 // bytes of one root set
	MaxRootKeys    = 32      // keys in one root set
	MaxRootKeySize = 64 << 10
	// MaxRepositoryLen bounds the repository identity.
	MaxRepositoryLen = 256
)

// RootKey is one root public key in a root set: its primary fingerprint and
// its public certificate (binary, minimized, no secret material).
type RootKey struct {
	Fingerprint string
	Public      []byte
}

// RootSet is the set of root keys that may sign for a repository, with the
// number of distinct keys whose signatures are needed. Version 1 is the set
// pinned at init; each rotation makes version N+1.
type RootSet struct {
	Repository string
	Version    uint64
	Threshold  int
	// Log is the public key (signed-note vkey, Ed25519) of the
	// repository's transparency log (internal/tlog); its name is the log's
	// origin. Empty: the repository keeps no log.
	Log  string
	Keys []RootKey // sorted by fingerprint

	entities openpgp.EntityList // parsed Keys, same order; built lazily
}

type rootSetJSON struct {
	Format     string        `json:"format"`
	Repository string        `json:"repository"`
	Version    uint64        `json:"version"`
	Threshold  int           `json:"threshold"`
	Log        string        `json:"log,omitempty"`
	Keys       []rootKeyJSON `json:"keys"`
}

type rootKeyJSON struct {
	Fingerprint string `json:"fingerprint"`
	Public      string `json:"public"`
}

// NewRootSet makes root set version 1 for repository from public keys,
// which must be usable as roots at now.
func NewRootSet(repository string, keys []*openpgp.Entity, threshold int, now time.Time) (*RootSet, error) {
	s := &RootSet{Repository: repository, Version: 1, Threshold: threshold}
	if err := s.setKeys(keys, now); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *RootSet) setKeys(keys []*openpgp.Entity, now time.Time) error {
	s.Keys = nil
	s.entities = nil
	for _, e := range keys {
		if err := checkRootKey(e, now); err != nil {
			return err
		}
		pub, err := pgpkey.SerializePublic(e, true)
		if err != nil {
			return fail.Inputf("serializing root key %s", pgpkey.Fingerprint(e)).Wrap(err)
		}
		s.Keys = append(s.Keys, RootKey{Fingerprint: pgpkey.Fingerprint(e), Public: pub})
	}
	sort.Slice(s.Keys, func(i, j int) bool { return s.Keys[i].Fingerprint < s.Keys[j].Fingerprint })
	return nil
}

// Fingerprints returns the root fingerprints, sorted.
func (s *RootSet) Fingerprints() []string {
	out := make([]string, len(s.Keys))
	for i, k := range s.Keys {
		out[i] = k.Fingerprint
	}
	return out
}

// Entities returns the parsed root public keys.
func (s *RootSet) Entities() (openpgp.EntityList, error) {
	ks, err := s.keyset()
	return ks.list, err
}

func (s *RootSet) keyset() (keyset, error) {
	if s == nil {
		return keyset{}, fail.Inputf("no root set")
	}
	if s.entities == nil || len(s.entities) != len(s.Keys) {
		list := make(openpgp.EntityList, 0, len(s.Keys))
		for _, k := range s.Keys {
			e, err := parseRootKey(k)
			if err != nil {
				return keyset{}, err
			}
			list = append(list, e)
		}
		if err := uniqueKeyIDs(list); err != nil {
			return keyset{}, err
		}
		s.entities = list
	}
	return keyset{list: s.entities, fprs: s.Fingerprints()}, nil
}

func parseRootKey(k RootKey) (*openpgp.Entity, error) {
	if len(k.Public) > MaxRootKeySize {
		return nil, fail.Inputf("root key %s is larger than %d bytes", k.Fingerprint, MaxRootKeySize)
	}
	if pgpkey.IsArmored(k.Public) {
		return nil, fail.Inputf("root key %s must be binary, not armored", k.Fingerprint)
	}
	e, err := pgpkey.ReadCert(k.Public)
	if err != nil {
		return nil, fail.Inputf("root key %s", k.Fingerprint).Wrap(err)
	}
	if pgpkey.HasSecret(e) {
		return nil, fail.Inputf("root key %s carries secret key material", k.Fingerprint)
	}
	if got := pgpkey.Fingerprint(e); got != k.Fingerprint {
		return nil, fail.Inputf("root set names key %s but embeds key %s", k.Fingerprint, got)
	}
	if err := checkSubkeyBindings(e); err != nil {
		return nil, err
	}
	return e, nil
}

// checkSubkeyBindings refuses a root certificate with a subkey that has no
// binding signature, or one that does not verify against the primary key.
// go-crypto accepts such subkeys when it reads a certificate; in a root set
// one could carry a copy of another root's key and shadow it (see
// uniqueKeyIDs).
func checkSubkeyBindings(e *openpgp.Entity) error {
	fpr := pgpkey.Fingerprint(e)
	for _, sk := range e.Subkeys {
		if len(sk.Bindings) == 0 {
			return fail.Inputf("root key %s: subkey %s has no binding signature", fpr, pgpkey.KeyID(sk.PublicKey)).
				WithHint("export the root key again, or drop the subkey")
		}
		for _, b := range sk.Bindings {
			if b == nil || b.Packet == nil || e.PrimaryKey.VerifyKeySignature(sk.PublicKey, b.Packet) != nil {
				return fail.Inputf("root key %s: subkey %s has a binding signature that does not verify", fpr, pgpkey.KeyID(sk.PublicKey)).
					WithHint("export the root key again, or drop the subkey")
			}
		}
	}
	return nil
}

// uniqueKeyIDs refuses root keys that share a 64-bit key ID (primary or
// subkey). Signatures name their issuer by key ID; a root that holds
// another root's key ID could otherwise stand in the way of that root's
// signatures, or be confused with it.
func uniqueKeyIDs(list openpgp.EntityList) error {
	owner := map[uint64]string{}
	for _, e := range list {
		fpr := pgpkey.Fingerprint(e)
		seen := map[uint64]bool{}
		for _, id := range pgpkey.AllKeyIDs(e) {
			if seen[id] {
				continue
			}
			seen[id] = true
			if other, ok := owner[id]; ok {
				return fail.Inputf("root keys %s and %s share key ID %016X", other, fpr, id).
					WithHint("every root key and subkey of a root set must have its own key ID")
			}
			owner[id] = fpr
		}
	}
	return nil
}

func validRepository(id string) error {
	if id == "" || len(id) > MaxRepositoryLen {
		return fmt.Errorf("repository identity must be 1 to %d bytes", MaxRepositoryLen)
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r > 0x7e {
			return fmt.Errorf("repository identity %q must be printable ASCII without spaces", id)
		}
	}
	return nil
}

func validFingerprint(f string) bool {
	if len(f) != 40 && len(f) != 64 {
		return false
	}
	for _, c := range f {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func (s *RootSet) validate() error {
	if err := validRepository(s.Repository); err != nil {
		return fail.Inputf("root set: %v", err)
	}
	if s.Version == 0 {
		return fail.Inputf("root set: version must be 1 or more")
	}
	if len(s.Keys) == 0 || len(s.Keys) > MaxRootKeys {
		return fail.Inputf("root set: %d keys, want 1 to %d", len(s.Keys), MaxRootKeys)
	}
	if s.Threshold < 1 || s.Threshold > len(s.Keys) {
		return fail.Inputf("root set: threshold %d with %d keys", s.Threshold, len(s.Keys)).
			WithHint("the threshold is at least 1 and at most the number of root keys")
	}
	if s.Log != "" {
		if err := ValidLogKey(s.Log); err != nil {
			return err
		}
	}
	for i, k := range s.Keys {
		if !validFingerprint(k.Fingerprint) {
			return fail.Inputf("root set: %q is not an upper-case hex fingerprint", k.Fingerprint)
		}
		if i > 0 && s.Keys[i-1].Fingerprint >= k.Fingerprint {
			return fail.Inputf("root set: keys must be sorted by fingerprint without duplicates (%s)", k.Fingerprint)
		}
	}
	_, err := s.keyset()
	return err
}

// ValidLogKey checks a transparency log public key: a signed-note
// verifier key (NAME+HASH+KEY) of type Ed25519, at most 512 bytes.
func ValidLogKey(vkey string) error {
	if len(vkey) > 512 {
		return fail.Inputf("root set: the log key is longer than 512 bytes")
	}
	if _, err := note.NewVerifier(vkey); err != nil {
		return fail.Inputf("root set: the log key is not a signed-note Ed25519 public key (NAME+HASH+KEY)").
			WithHint("make the log key with keyctl log-key create")
	}
	return nil
}

// Marshal returns the canonical bytes of the root set (see the package
// documentation). These bytes are what root holders sign.
func (s *RootSet) Marshal() ([]byte, error) {
	cp := *s
	cp.Keys = append([]RootKey(nil), s.Keys...)
	sort.Slice(cp.Keys, func(i, j int) bool { return cp.Keys[i].Fingerprint < cp.Keys[j].Fingerprint })
	if err := cp.validate(); err != nil {
		return nil, err
	}
	j := rootSetJSON{Format: RootSetFormat, Repository: cp.Repository, Version: cp.Version, Threshold: cp.Threshold, Log: cp.Log}
	for _, k := range cp.Keys {
		j.Keys = append(j.Keys, rootKeyJSON{Fingerprint: k.Fingerprint, Public: base64.StdEncoding.EncodeToString(k.Public)})
	}
	return encodeCanonical(j)
}

// Hash returns the hex SHA-256 of b, the form every hash in keyctl's
// formats takes.
func Hash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func encodeCanonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// decodeStrict decodes exactly one JSON value with no unknown fields and
// nothing after it.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}

// ParseRootSet parses and validates a root set: size cap, the format line,
// no unknown fields, canonical form (the bytes must be exactly what Marshal
// writes), threshold between 1 and the number of keys, fingerprints sorted
// and unique, each key binary and public only, and its fingerprint the one
// named. It does not check signatures: see VerifyLink, Resolve.
func ParseRootSet(data []byte) (*RootSet, error) {
	if len(data) > MaxRootSetSize {
		return nil, fail.Inputf("root set is larger than %d bytes", MaxRootSetSize)
	}
	var j rootSetJSON
	if err := decodeStrict(data, &j); err != nil {
		return nil, fail.Inputf("root set is not valid").Wrap(err)
	}
	if j.Format != RootSetFormat {
		return nil, fail.Inputf("root set format is %q, want %q", j.Format, RootSetFormat).
			WithHint("a newer keyctl may be needed")
	}
	if len(j.Keys) > MaxRootKeys {
		return nil, fail.Inputf("root set: %d keys, more than %d", len(j.Keys), MaxRootKeys)
	}
	s := &RootSet{Repository: j.Repository, Version: j.Version, Threshold: j.Threshold, Log: j.Log}
	for _, k := range j.Keys {
		pub, err := base64.StdEncoding.Strict().DecodeString(k.Public)
		if err != nil {
			return nil, fail.Inputf("root set: key %s is not base64", k.Fingerprint)
		}
		s.Keys = append(s.Keys, RootKey{Fingerprint: k.Fingerprint, Public: pub})
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	canon, err := s.Marshal()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, data) {
		return nil, fail.Inputf("root set is not in canonical form").WithHint("root sets are written by keyctl and must not be edited")
	}
	return s, nil
}

// Rotate makes the successor of old: the keys in remove (fingerprints) are
// dropped, the keys in add are added (a key whose fingerprint is already in
// the set replaces it: that is how an extended expiry or a new signing
// subkey reaches clients), and the threshold is set (0 keeps the old one).
// The new set is version old.Version+1 and must be signed by a threshold of
// old and a threshold of itself (VerifyLink).
func Rotate(old *RootSet, add []*openpgp.Entity, remove []string, threshold int, now time.Time) (*RootSet, error) {
	if old == nil {
		return nil, fail.Inputf("rotation needs the current root set")
	}
	oldEnt, err := old.Entities()
	if err != nil {
		return nil, err
	}
	drop := map[string]bool{}
	for _, r := range remove {
		f, err := pgpkey.ParseFingerprint(r)
		if err != nil || len(f) == 16 {
			return nil, fail.Inputf("%q is not a full fingerprint", r)
		}
		found := false
		for _, k := range old.Keys {
			if k.Fingerprint == f {
				found = true
			}
		}
		if !found {
			return nil, fail.Inputf("root key %s is not in root set %d", f, old.Version)
		}
		drop[f] = true
	}
	byFpr := map[string]*openpgp.Entity{}
	var order []string
	for _, e := range oldEnt {
		f := pgpkey.Fingerprint(e)
		if !drop[f] {
			byFpr[f] = e
			order = append(order, f)
		}
	}
	for _, e := range add {
		f := pgpkey.Fingerprint(e)
		if drop[f] {
			return nil, fail.Inputf("root key %s is both added and removed", f)
		}
		if _, ok := byFpr[f]; !ok {
			order = append(order, f)
		}
		byFpr[f] = e
	}
	if threshold == 0 {
		threshold = old.Threshold
	}
	keys := make([]*openpgp.Entity, 0, len(order))
	for _, f := range order {
		keys = append(keys, byFpr[f])
	}
	if len(keys) == 0 {
		return nil, fail.Inputf("the rotation removes every root key").WithHint("add the new root keys in the same rotation")
	}
	s := &RootSet{Repository: old.Repository, Version: old.Version + 1, Threshold: threshold, Log: old.Log}
	if err := s.setKeys(keys, now); err != nil {
		return nil, err
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// LinkReason says why a rotation link was refused.
type LinkReason int

const (
	LinkVersion             LinkReason = iota + 1 // the new set is not prev.Version+1
	LinkRepository                                // the new set names another repository
	LinkNotSignedByPrevious                       // below the previous set's threshold
	LinkNotSignedByNew                            // below the new set's own threshold
)

// LinkError refuses a rotation link from root set From to root set To.
type LinkError struct {
	From, To  uint64
	Reason    LinkReason
	Threshold *ThresholdError // for the two signature reasons
	Detail    string
}

func (e *LinkError) Error() string {
	switch e.Reason {
	case LinkVersion:
		return fmt.Sprintf("root set %d cannot follow root set %d: %s", e.To, e.From, e.Detail)
	case LinkRepository:
		return fmt.Sprintf("root set %d is for another repository: %s", e.To, e.Detail)
	case LinkNotSignedByPrevious:
		return fmt.Sprintf("root set %d is not signed by a threshold of root set %d (%d of %d)", e.To, e.From, e.Threshold.Have, e.Threshold.Need)
	case LinkNotSignedByNew:
		return fmt.Sprintf("root set %d is not signed by a threshold of its own keys (%d of %d)", e.To, e.Threshold.Have, e.Threshold.Need)
	}
	return fmt.Sprintf("root set %d: invalid rotation link", e.To)
}

// Unwrap makes the error an Untrusted *fail.Error.
func (e *LinkError) Unwrap() error {
	fe := &fail.Error{Kind: fail.Untrusted}
	switch e.Reason {
	case LinkNotSignedByPrevious:
		fe.Hints = []string{"a rotation must be signed by the outgoing root keys; an attacker holding only new keys cannot rotate"}
		if e.Threshold != nil && len(e.Threshold.Missing) > 0 {
			fe.Hints = append(fe.Hints, "missing: "+strings.Join(e.Threshold.Missing, ", "))
		}
	case LinkNotSignedByNew:
		fe.Hints = []string{"the new root keys must sign their own root set, proving their holders have them"}
	}
	return fe
}

// VerifyLink checks that linkData is a root set that may follow prev: its
// version is prev.Version+1, it is for the same repository, and sigs holds
// valid signatures by a threshold of prev's keys and by a threshold of its
// own keys. Keys must have been valid when they signed: a link stays valid
// after its keys expire. It returns the new set.
func VerifyLink(prev *RootSet, linkData, sigs []byte, now time.Time) (*RootSet, error) {
	next, err := ParseRootSet(linkData)
	if err != nil {
		return nil, err
	}
	if next.Version != prev.Version+1 {
		return nil, &LinkError{From: prev.Version, To: next.Version, Reason: LinkVersion, Detail: fmt.Sprintf("want version %d", prev.Version+1)}
	}
	if next.Repository != prev.Repository {
		return nil, &LinkError{From: prev.Version, To: next.Version, Reason: LinkRepository, Detail: fmt.Sprintf("%q, not %q", next.Repository, prev.Repository)}
	}
	what := fmt.Sprintf("root set %d", next.Version)
	if _, err := prev.verify(what, linkData, sigs, now, atSigTime); err != nil {
		var te *ThresholdError
		if errors.As(err, &te) {
			return nil, &LinkError{From: prev.Version, To: next.Version, Reason: LinkNotSignedByPrevious, Threshold: te}
		}
		return nil, err
	}
	if _, err := next.verify(what, linkData, sigs, now, atSigTime); err != nil {
		var te *ThresholdError
		if errors.As(err, &te) {
			return nil, &LinkError{From: prev.Version, To: next.Version, Reason: LinkNotSignedByNew, Threshold: te}
		}
		return nil, err
	}
	return next, nil
}

// Pins is what a client is configured with. They must identify one root
// set exactly: by the hash of its bytes (RootSetSHA256), or by all of its
// key fingerprints and its threshold. A single root key of an M-of-N set
// can sign anything alone, so pinning fewer keys, or a lower threshold,
// than the set holds would let that one key vouch for a set of its own.
// Whole keys are not pinned; they come from the root set the pins name.
type Pins struct {
	Fingerprints []string
	Threshold    int // 0 means 1
	// RootSetSHA256 is the hex SHA-256 of the canonical root set bytes
	// (roots/N.json), as Hash returns it; see ParseRootSetPin.
	RootSetSHA256 string
}

// RootSetPinPrefix starts a root-set hash pin: sha256:<64 hex digits>.
const RootSetPinPrefix = "sha256:"

// ParseRootSetPin parses a root-set hash pin, "sha256:HEX" (or bare HEX),
// and returns the lower-case hex digest.
func ParseRootSetPin(s string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(s))
	h = strings.TrimPrefix(h, RootSetPinPrefix)
	if !ValidHex256(h) {
		return "", fail.Inputf("root set pin %q is not sha256: followed by 64 hex digits", s).
			WithHint("copy the root-set hash that keyctl init, keyctl status or keyctl root rotate prints")
	}
	return h, nil
}

// PinOf returns the root-set hash pin of canonical root set bytes: the
// string to pass to --root-set.
func PinOf(setBytes []byte) string { return RootSetPinPrefix + Hash(setBytes) }

// Validate checks the pins' syntax.
func (p Pins) Validate() error {
	_, _, err := p.normalize()
	return err
}

func (p Pins) normalize() ([]string, int, error) {
	if p.RootSetSHA256 != "" && !ValidHex256(p.RootSetSHA256) {
		return nil, 0, fail.Inputf("root set pin %q is not 64 lower-case hex digits", p.RootSetSHA256)
	}
	if len(p.Fingerprints) == 0 {
		if p.RootSetSHA256 != "" {
			return nil, 0, nil
		}
		return nil, 0, fail.Inputf("no root set is pinned").WithHint("pass --root-set sha256:HEX (printed by keyctl init and keyctl status), or every root fingerprint with --root and the threshold with --threshold")
	}
	seen := map[string]bool{}
	var fprs []string
	for _, f := range p.Fingerprints {
		n, err := pgpkey.ParseFingerprint(f)
		if err != nil || len(n) == 16 {
			return nil, 0, fail.Inputf("pinned root %q is not a full fingerprint", f).WithHint("pin the 40- or 64-digit fingerprint, not a key ID")
		}
		if !seen[n] {
			seen[n] = true
			fprs = append(fprs, n)
		}
	}
	sort.Strings(fprs)
	t := p.Threshold
	if t == 0 {
		t = 1
	}
	if t < 1 || t > len(fprs) {
		return nil, 0, fail.Inputf("root threshold %d with %d pinned fingerprints", p.Threshold, len(fprs)).
			WithHint("the threshold is at least 1 and at most the number of pinned roots")
	}
	return fprs, t, nil
}

// match reports whether set (whose canonical bytes are data) is the root
// set the pins name: the hash matches, and the fingerprints and threshold
// (when pinned) are exactly the set's.
func (p Pins) match(set *RootSet, data []byte, fprs []string, need int) bool {
	if p.RootSetSHA256 != "" && Hash(data) != p.RootSetSHA256 {
		return false
	}
	if len(fprs) == 0 {
		return true
	}
	have := set.Fingerprints()
	if len(have) != len(fprs) || set.Threshold != need {
		return false
	}
	for i := range have {
		if have[i] != fprs[i] {
			return false
		}
	}
	return true
}

// covers reports whether every pinned fingerprint is a key of set.
func covers(set *RootSet, fprs []string) bool {
	if len(fprs) == 0 {
		return false
	}
	in := map[string]bool{}
	for _, f := range set.Fingerprints() {
		in[f] = true
	}
	for _, f := range fprs {
		if !in[f] {
			return false
		}
	}
	return true
}

// PinReason says why pins matched no published root set.
type PinReason int

const (
	PinsIncomplete  PinReason = iota + 1 // fewer keys or a lower threshold than the set
	PinHashMismatch                      // no root set hashes to the pinned hash
	PinsNoMatch                          // no root set has the pinned keys and threshold
)

// PinError refuses pins that name no root set of the published history.
// Set is the newest set of that history the pins fall inside of (for
// PinsIncomplete) or the newest one (otherwise), SetSHA256 its hash.
type PinError struct {
	Reason       PinReason
	Fingerprints []string // pinned, normalized
	Threshold    int      // pinned, normalized
	PinnedSHA256 string
	Set          *RootSet
	SetSHA256    string
}

func (e *PinError) Error() string {
	switch e.Reason {
	case PinsIncomplete:
		return fmt.Sprintf("the pins do not cover the whole root set: %d of %d pinned root key%s, but root set %d holds %d keys and needs %d signatures; one root key must not vouch for a root set it shares",
			e.Threshold, len(e.Fingerprints), plural(len(e.Fingerprints)), e.Set.Version, len(e.Set.Keys), e.Set.Threshold)
	case PinHashMismatch:
		return fmt.Sprintf("root set hash mismatch: no published root set has the pinned hash sha256:%s", e.PinnedSHA256)
	}
	return fmt.Sprintf("no published root set is the pinned one (%d of %s)", e.Threshold, strings.Join(e.Fingerprints, ", "))
}

// Unwrap makes the error an Untrusted *fail.Error whose hints say what to pin.
func (e *PinError) Unwrap() error {
	fe := &fail.Error{Kind: fail.Untrusted}
	if e.Set == nil {
		return fe
	}
	var roots []string
	for _, f := range e.Set.Fingerprints() {
		roots = append(roots, "--root "+f)
	}
	if e.Reason != PinsIncomplete {
		fe.Hints = []string{
			"this is not the repository that was pinned, or it was rotated before it was pinned: check the pins with its team lead (out of band)",
			fmt.Sprintf("it publishes root set %d, sha256:%s (%d of %s); pin it only if its team lead confirms that value; see docs/verify.md",
				e.Set.Version, e.SetSHA256, e.Set.Threshold, strings.Join(e.Set.Fingerprints(), ", ")),
		}
		return fe
	}
	fe.Hints = []string{
		fmt.Sprintf("the root set holding the pinned keys is version %d: pin it with --root-set sha256:%s", e.Set.Version, e.SetSHA256),
		fmt.Sprintf("or with all its keys and its threshold: %s --threshold %d", strings.Join(roots, " "), e.Set.Threshold),
		"check these values with the repository's team lead (out of band) before pinning them; see docs/verify.md",
	}
	return fe
}

// Resolve finds the current root set from pins. It reads root set 1, which
// must be signed by a threshold of its own keys, and follows the rotation
// chain forward (each link checked with VerifyLink) until it reaches the
// root set the pins name exactly (Pins); from there it follows the chain
// on to the newest version. Every link of the history, before the pinned
// set and after it, must hold, so a root key that left the set cannot
// rejoin it by publishing a set of its own. At most max versions are
// fetched (0: DefaultMaxLinks).
func Resolve(pins Pins, fetch Fetch, max int, now time.Time) (*RootSet, error) {
	fprs, need, err := pins.normalize()
	if err != nil {
		return nil, err
	}
	if max <= 0 {
		max = DefaultMaxLinks
	}
	data, sigs, err := fetch(1)
	if isNotFound(err) {
		return nil, fail.Inputf("the repository publishes no root set").WithHint("publish the repository with keyctl publish first")
	}
	if err != nil {
		return nil, fail.Inputf("fetching root set 1").Wrap(err)
	}
	cur, err := ParseRootSet(data)
	if err != nil {
		return nil, err
	}
	if cur.Version != 1 {
		return nil, fail.Untrustedf("root set fetched as version 1 says it is version %d", cur.Version)
	}
	if _, err := cur.verify("root set 1", data, sigs, now, atSigTime); err != nil {
		return nil, err
	}
	var inside *RootSet // newest set holding every pinned key
	var insideHash string
	for {
		if pins.match(cur, data, fprs, need) {
			return walk(cur, fetch, max-int(cur.Version), now)
		}
		if covers(cur, fprs) {
			inside, insideHash = cur, Hash(data)
		}
		next, nsigs, err := fetch(cur.Version + 1)
		if isNotFound(err) {
			break
		}
		if err != nil {
			return nil, fail.Inputf("fetching root set %d", cur.Version+1).Wrap(err)
		}
		if cur.Version >= uint64(max) {
			return nil, &ChainTooLongError{From: 1, Max: uint64(max)}
		}
		set, err := VerifyLink(cur, next, nsigs, now)
		if err != nil {
			return nil, err
		}
		cur, data = set, next
	}
	pe := &PinError{Reason: PinsNoMatch, Fingerprints: fprs, Threshold: need, PinnedSHA256: pins.RootSetSHA256, Set: cur, SetSHA256: Hash(data)}
	switch {
	case pins.RootSetSHA256 != "":
		pe.Reason = PinHashMismatch
	case inside != nil:
		pe.Reason, pe.Set, pe.SetSHA256 = PinsIncomplete, inside, insideHash
	}
	return nil, pe
}

// ErrNotFound is what a fetch function returns (or wraps) when a root set
// version does not exist; fs.ErrNotExist is understood too.
var ErrNotFound = errors.New("not found")

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) || errors.Is(err, fs.ErrNotExist) }

// Fetch returns root set version v and its signatures.
type Fetch func(version uint64) (data, sigs []byte, err error)

// ChainTooLongError is returned when a walk would follow more links than
// allowed: a repository cannot make a client walk forever.
type ChainTooLongError struct{ From, Max uint64 }

func (e *ChainTooLongError) Error() string {
	return fmt.Sprintf("root history beyond root set %d is longer than %d links", e.From, e.Max)
}

// Unwrap makes the error an Untrusted *fail.Error.
func (e *ChainTooLongError) Unwrap() error {
	return &fail.Error{Kind: fail.Untrusted, Hints: []string{"pin a newer root fingerprint, or raise the walk limit"}}
}

// DefaultMaxLinks bounds a walk when the caller gives 0.
const DefaultMaxLinks = 1000

// WalkChain follows the rotation chain forward from the trusted set start,
// fetching start.Version+1, +2, ... until fetch reports ErrNotFound, checking
// each link with VerifyLink. It follows at most max links (0:
// DefaultMaxLinks) and returns the newest trusted set.
func WalkChain(start *RootSet, fetch Fetch, max int, now time.Time) (*RootSet, error) {
	if max <= 0 {
		max = DefaultMaxLinks
	}
	return walk(start, fetch, max, now)
}

// walk is WalkChain with an exact bound (0: no link may follow).
func walk(start *RootSet, fetch Fetch, max int, now time.Time) (*RootSet, error) {
	cur := start
	for i := 0; ; i++ {
		data, sigs, err := fetch(cur.Version + 1)
		if isNotFound(err) {
			return cur, nil
		}
		if err != nil {
			return nil, fail.Inputf("fetching root set %d", cur.Version+1).Wrap(err)
		}
		if i == max {
			return nil, &ChainTooLongError{From: start.Version, Max: uint64(max)}
		}
		next, err := VerifyLink(cur, data, sigs, now)
		if err != nil {
			return nil, err
		}
		cur = next
	}
}
