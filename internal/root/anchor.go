package root

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

// AnchorDir is the subdirectory of a signing directory that carries what a
// root holder authenticates the directory against (it is never signed):
// the store's root set chain, rootset-N.json with its signatures
// rootset-N.json.sig, and the root signatures of the manifest published
// now, previous-manifest.json.sig. See Review.Authenticate.
const AnchorDir = "anchor"

// Anchor is what publish --prepare and root rotate --prepare put into
// AnchorDir.
type Anchor struct {
	Chain        []AnchorLink // the store's root sets, oldest first
	PreviousSigs []byte       // signatures of previous-manifest.json
}

// AnchorLink is one root set of the chain and its signatures (nil: none).
type AnchorLink struct {
	Version    uint64
	Data, Sigs []byte
}

func writeAnchor(dir string, a *Anchor) error {
	ad := filepath.Join(dir, AnchorDir)
	if err := os.Mkdir(ad, 0o755); err != nil {
		return fail.Inputf("creating %s", ad).Wrap(err)
	}
	for _, l := range a.Chain {
		name := "rootset-" + strconv.FormatUint(l.Version, 10) + ".json"
		if err := writeNew(filepath.Join(ad, name), l.Data); err != nil {
			return err
		}
		if len(l.Sigs) > 0 {
			if err := writeNew(filepath.Join(ad, name+SigSuffix), l.Sigs); err != nil {
				return err
			}
		}
	}
	if len(a.PreviousSigs) > 0 {
		return writeNew(filepath.Join(ad, PreviousManifest+SigSuffix), a.PreviousSigs)
	}
	return nil
}

// readAnchorFile reads one file of AnchorDir; a missing file is nil, nil.
func readAnchorFile(dir, name string, limit int64) ([]byte, error) {
	b, err := readCapped(filepath.Join(dir, AnchorDir, name), limit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// anchorFetch serves the root set chain of AnchorDir as a Fetch.
func anchorFetch(dir string) Fetch {
	return func(v uint64) ([]byte, []byte, error) {
		name := "rootset-" + strconv.FormatUint(v, 10) + ".json"
		data, err := readAnchorFile(dir, name, MaxRootSetSize)
		if err != nil {
			return nil, nil, err
		}
		if data == nil {
			return nil, nil, ErrNotFound
		}
		sigs, err := readAnchorFile(dir, name+SigSuffix, MaxSigSize)
		if err != nil {
			return nil, nil, err
		}
		return data, sigs, nil
	}
}

// Anchored is the current root set a review was authenticated against.
type Anchored struct {
	// Pinned is false when no pin was given: the chain was followed from
	// the directory's own root set 1, which proves nothing.
	Pinned bool
	// Sets are the root sets of the chain from the pinned one to the
	// newest (Current), each checked as a link of the one before; Hashes
	// their hashes, by version.
	Sets    map[uint64]*RootSet
	Hashes  map[uint64]string
	Current *RootSet
	// PreviousSigners are the root keys whose valid signatures on
	// previous-manifest.json were counted.
	PreviousSigners []string
}

// Authenticate checks the directory against the holder's pins: the anchor
// chain must hold the pinned root set (Pins: by hash, or by all its
// fingerprints and threshold), and from it every later root set must be a
// valid rotation link (VerifyLink), up to the current set. Then:
//
//   - a rotation's new set must be the current set's version + 1;
//   - a publish's previous-manifest.json must carry valid signatures by a
//     threshold of the root set it names, which must be in that chain,
//     and the new manifest's root set must be in the chain too;
//   - a first publish (no previous manifest) has nothing to authenticate
//     against but the pin: a pinned hash must be the manifest's root set.
//
// With zero pins, the chain is followed from the directory's own root set
// 1 and the result is marked not Pinned: a summary for reading, never a
// basis to sign on (root sign refuses it).
func (r *Review) Authenticate(pins Pins, now time.Time) error {
	dir := r.Prepared.Dir
	fprs, need, perr := pins.normalize()
	pinned := perr == nil
	refuse := func(format string, args ...any) error {
		return fail.Untrustedf(format, args...).
			WithHint("do not sign this directory: it does not match the root set you pinned; check the pin with the team lead (out of band) and prepare a new directory")
	}
	if r.Manifest != nil && r.Previous == nil {
		if pinned && pins.RootSetSHA256 != "" && pins.RootSetSHA256 != r.Manifest.Root.SHA256 {
			return refuse("first publish: the manifest names root set %d (sha256:%s), not the pinned root set sha256:%s", r.Manifest.Root.Version, r.Manifest.Root.SHA256, pins.RootSetSHA256)
		}
		if pinned && len(fprs) > 0 {
			if rs := r.RootSets["rootset-"+strconv.FormatUint(r.Manifest.Root.Version, 10)+".json"]; rs == nil || !pins.match(rs, nil, fprs, need) {
				return refuse("first publish: the manifest's root set %d is not the pinned root set", r.Manifest.Root.Version)
			}
		}
		r.Anchor = &Anchored{Pinned: pinned}
		return nil
	}
	fetch := anchorFetch(dir)
	missing := func(what string) error {
		return fail.Inputf("%s: %s is missing, so the directory cannot be checked against your pinned root set", filepath.Join(dir, AnchorDir), what).
			WithHint("prepare the directory again with this version of keyctl (publish --prepare or root rotate --prepare write " + AnchorDir + "/)")
	}
	// Find the pinned set in the chain (or take root set 1 unpinned).
	var cur *RootSet
	var curHash string
	for v := uint64(1); ; v++ {
		if v > DefaultMaxLinks {
			return &ChainTooLongError{From: 1, Max: DefaultMaxLinks}
		}
		data, _, err := fetch(v)
		if errors.Is(err, ErrNotFound) {
			if v == 1 {
				return missing("the current root set chain (rootset-1.json, ...)")
			}
			return refuse("no root set of the directory's chain (versions 1 to %d) is the pinned root set", v-1)
		}
		if err != nil {
			return fail.Inputf("reading the root set chain").Wrap(err)
		}
		set, err := ParseRootSet(data)
		if err != nil {
			return fail.Inputf("%s", filepath.Join(dir, AnchorDir, "rootset-"+strconv.FormatUint(v, 10)+".json")).Wrap(err)
		}
		if set.Version != v {
			return refuse("the chain's root set %d says it is version %d", v, set.Version)
		}
		if !pinned || pins.match(set, data, fprs, need) {
			cur, curHash = set, Hash(data)
			break
		}
	}
	a := &Anchored{Pinned: pinned, Sets: map[uint64]*RootSet{cur.Version: cur}, Hashes: map[uint64]string{cur.Version: curHash}}
	for {
		data, sigs, err := fetch(cur.Version + 1)
		if errors.Is(err, ErrNotFound) {
			break
		}
		if err != nil {
			return fail.Inputf("reading the root set chain").Wrap(err)
		}
		if cur.Version >= DefaultMaxLinks {
			return &ChainTooLongError{From: 1, Max: DefaultMaxLinks}
		}
		next, err := VerifyLink(cur, data, sigs, now)
		if err != nil {
			return err
		}
		cur = next
		a.Sets[cur.Version], a.Hashes[cur.Version] = cur, Hash(data)
	}
	a.Current = cur
	if r.Manifest == nil {
		for _, rs := range r.RootSets {
			if rs.Version != cur.Version+1 || rs.Repository != cur.Repository {
				return refuse("the new root set is version %d for %q, but the current root set is version %d for %q", rs.Version, rs.Repository, cur.Version, cur.Repository)
			}
		}
		r.Anchor = a
		return nil
	}
	m, prev := r.Manifest, r.Previous
	ps := a.Sets[prev.Root.Version]
	if ps == nil || a.Hashes[prev.Root.Version] != prev.Root.SHA256 {
		return refuse("the published manifest version %d names root set %d, which is not the pinned root set or one that follows it", prev.Version, prev.Root.Version)
	}
	if m.Root.Version != cur.Version || m.Root.SHA256 != a.Hashes[cur.Version] {
		return refuse("the new manifest names root set %d (sha256:%s), not the current root set %d of the chain", m.Root.Version, m.Root.SHA256, cur.Version)
	}
	sigs, err := readAnchorFile(dir, PreviousManifest+SigSuffix, MaxSigSize)
	if err != nil {
		return fail.Inputf("reading the published manifest's signatures").Wrap(err)
	}
	if sigs == nil {
		return fail.Inputf("%s: %s is missing, so the published manifest the changes are shown against cannot be authenticated", filepath.Join(dir, AnchorDir), PreviousManifest+SigSuffix).
			WithHint("the team lead copies the live keyctl/sha256/" + m.Previous + ".sig there (a store of an older keyctl does not hold it), or prepares the directory again with this version of keyctl")
	}
	pb, err := readCapped(filepath.Join(dir, PreviousManifest), MaxPreparedLen)
	if err != nil {
		return fail.Inputf("reading %s", PreviousManifest).Wrap(err)
	}
	signers, err := ps.verify(PreviousManifest, pb, sigs, now, atSigTime)
	if err != nil {
		return fail.Hint(err, "previous-manifest.json is not the manifest root set "+strconv.FormatUint(ps.Version, 10)+" signed: do not sign this directory, its change summary would be against a forged baseline")
	}
	a.PreviousSigners = signers
	r.Anchor = a
	return nil
}

// describeRootKeys returns the quoted user IDs of each key of set, by
// fingerprint.
func describeRootKeys(set *RootSet) map[string]string {
	out := map[string]string{}
	ents, _ := set.Entities()
	for _, e := range ents {
		info := keyInfo(e, time.Now())
		s := ""
		for i, u := range info.UserIDs {
			if i > 0 {
				s += ", "
			}
			s += q(u)
		}
		out[pgpkey.Fingerprint(e)] = s
	}
	return out
}

// rootSetChange prints the change from root set old to root set next: keys
// kept, dropped, added, and the threshold.
func rootSetChange(old, next *RootSet) []string {
	was, now := describeRootKeys(old), describeRootKeys(next)
	var lines []string
	lines = append(lines, fmt.Sprintf("root set change %d -> %d: threshold %d of %d -> %d of %d", old.Version, next.Version, old.Threshold, len(old.Keys), next.Threshold, len(next.Keys)))
	for _, f := range old.Fingerprints() {
		if _, ok := now[f]; ok {
			lines = append(lines, "  = kept     "+f+" "+now[f])
		}
	}
	for _, f := range old.Fingerprints() {
		if _, ok := now[f]; !ok {
			lines = append(lines, "  - DROPPED  "+f+" "+was[f])
		}
	}
	for _, f := range next.Fingerprints() {
		if _, ok := was[f]; !ok {
			lines = append(lines, "  + ADDED    "+f+" "+now[f])
		}
	}
	switch {
	case old.Log != next.Log:
		lines = append(lines, fmt.Sprintf("  ~ CHANGED  transparency log key %s -> %s", logKeyOrNone(old.Log), logKeyOrNone(next.Log)))
	case old.Log != "":
		lines = append(lines, "  = kept     transparency log key "+q(old.Log))
	}
	return lines
}

func logKeyOrNone(k string) string {
	if k == "" {
		return "none"
	}
	return q(k)
}
