package root

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

// PreviousManifest is the unsigned copy of the manifest currently
// published, written by publish --prepare next to the files to sign so
// that a root holder sees what changes. It is never signed nor uploaded;
// the new manifest binds it by hash (its previous field).
const PreviousManifest = "previous-manifest.json"

// Review is what a signing directory asks its root holders to sign,
// re-derived and checked from the directory itself (ReviewDir).
type Review struct {
	Prepared *Prepared
	// Manifest and Previous are set for a publish directory; Previous is
	// nil for version 1.
	Manifest, Previous *Manifest
	ManifestSHA256     string
	// Keys describes every maintainer key of the manifest's keyrings by
	// fingerprint.
	Keys map[string]KeyInfo
	// RootSets are the root sets to sign, by file name: the one set of a
	// rotation directory, or the not yet signed links of a publish.
	RootSets map[string]*RootSet
	// Sign lists exactly the files a holder signs, sorted.
	Sign []string
	// Anchor is set by Authenticate: the current root set the directory
	// was checked against.
	Anchor *Anchored
}

// KeyInfo is what a maintainer certificate says of itself.
type KeyInfo struct {
	UserIDs []string
	Expires time.Time // zero: never
}

func rootSetVersion(name string) (uint64, bool) {
	if !strings.HasPrefix(name, "rootset-") || !strings.HasSuffix(name, ".json") {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, "rootset-"), ".json"), 10, 64)
	return v, err == nil && v > 0
}

// ReviewDir loads a signing directory (LoadDir) and re-derives from it the
// one manifest, or for a rotation the one root set, that it may be signed
// for, refusing anything else:
//
//   - a publish directory holds keyctl-manifest.json, the pubkeys.pgp and
//     revoked.pgp it binds (hash and length), each key of those keyrings
//     listed in the manifest with the matching status and no other, at
//     most the manifest's own root set (rootset-N.json, bound by hash; an
//     older unsigned set is not bound by anything and refused), and from
//     version 2 on
//     previous-manifest.json, whose hash is the manifest's previous, for
//     the same repository and the version before;
//   - a rotation directory holds one rootset-N.json;
//   - nothing else is listed in prepare.json or present in the directory
//     but NAME.sig files and NAME.sigs/ directories of listed files.
func ReviewDir(dir string) (*Review, error) {
	p, err := LoadDir(dir)
	if err != nil {
		return nil, err
	}
	r := &Review{Prepared: p, Keys: map[string]KeyInfo{}, RootSets: map[string]*RootSet{}}
	refuse := func(name, why string) error {
		return fail.Inputf("%s: %s", escapeControl(filepath.Join(dir, name)), escapeControl(why)).
			WithHint("do not sign this directory: it is not what keyctl publish --prepare or keyctl root rotate --prepare writes; prepare a new one")
	}
	mf, isPublish := p.File(ManifestName)
	if !isPublish {
		if len(p.Files) != 1 {
			return nil, refuse(PrepareIndex, fmt.Sprintf("lists %d files without %s; a rotation directory holds one rootset-N.json", len(p.Files), ManifestName))
		}
		f := p.Files[0]
		v, ok := rootSetVersion(f.Name)
		if !ok {
			return nil, refuse(f.Name, "unexpected file: a signing directory holds a manifest with its keyrings, or one root set")
		}
		rs, err := ParseRootSet(f.Data)
		if err != nil {
			return nil, refuse(f.Name, err.Error())
		}
		if rs.Version != v {
			return nil, refuse(f.Name, fmt.Sprintf("holds root set version %d", rs.Version))
		}
		r.RootSets[f.Name] = rs
	} else {
		m, err := ParseManifest(mf.Data)
		if err != nil {
			return nil, refuse(ManifestName, err.Error())
		}
		r.Manifest, r.ManifestSHA256 = m, Hash(mf.Data)
		for _, f := range p.Files {
			switch f.Name {
			case ManifestName:
			case PubkeysFile, RevokedFile, IndexKeysFile:
				if err := m.CheckFile(f.Name, f.Data); err != nil {
					return nil, refuse(f.Name, "does not match the manifest's hash and length for it")
				}
			default:
				v, ok := rootSetVersion(f.Name)
				if !ok {
					return nil, refuse(f.Name, "unexpected file: a publish signs only "+ManifestName+", "+PubkeysFile+", "+RevokedFile+", "+IndexKeysFile+" and unsigned root sets")
				}
				rs, err := ParseRootSet(f.Data)
				if err != nil {
					return nil, refuse(f.Name, err.Error())
				}
				switch {
				case rs.Version != v:
					return nil, refuse(f.Name, fmt.Sprintf("holds root set version %d", rs.Version))
				case rs.Repository != m.Repository:
					return nil, refuse(f.Name, fmt.Sprintf("is for repository %q, the manifest for %q", rs.Repository, m.Repository))
				case v != m.Root.Version:
					// Only the manifest's own root set is bound (by hash); an
					// older unsigned one could be any set of keys, and a root
					// holder's signature would make clients trust it.
					return nil, fail.Inputf("%s: root set %d is not the manifest's root set %d, which alone it binds; it cannot be checked offline", escapeControl(filepath.Join(dir, f.Name)), v, m.Root.Version).
						WithHint("do not sign it; if the store really holds an unsigned root set " + strconv.FormatUint(v, 10) + ", publish once directly with keyctl publish --root-key")
				case Hash(f.Data) != m.Root.SHA256:
					return nil, refuse(f.Name, "is not the root set the manifest names (hash differs)")
				}
				r.RootSets[f.Name] = rs
			}
		}
		for _, n := range m.FileNames() {
			if _, ok := p.File(n); !ok {
				return nil, refuse(n, "missing: the manifest binds it")
			}
		}
		if err := r.checkKeyrings(); err != nil {
			return nil, refuse(PubkeysFile+", "+RevokedFile, err.Error())
		}
		if err := r.loadPrevious(dir); err != nil {
			return nil, err
		}
	}
	if err := checkPresent(dir, p, r.Previous != nil); err != nil {
		return nil, err
	}
	for _, f := range p.Files {
		r.Sign = append(r.Sign, f.Name)
	}
	return r, nil
}

// checkKeyrings reads pubkeys.pgp, revoked.pgp and indexkeys.pgp: each
// must hold exactly the manifest's active maintainer keys, removed keys,
// resp. active index keys.
func (r *Review) checkKeyrings() error {
	want := map[string]Status{}
	for _, k := range r.Manifest.Keys {
		want[k.Fingerprint] = k.Status
		if k.Status == Active && k.Role == RoleIndex {
			want[k.Fingerprint] = "active index"
		}
	}
	seen := map[string]bool{}
	for _, pair := range []struct {
		name string
		st   Status
	}{{PubkeysFile, Active}, {RevokedFile, Removed}, {IndexKeysFile, "active index"}} {
		f, ok := r.Prepared.File(pair.name)
		if !ok || len(f.Data) == 0 {
			continue
		}
		list, err := pgpkey.ReadKeyring(f.Data, pgpkey.MaxKeyringSize)
		if err != nil {
			return fmt.Errorf("%s: %v", pair.name, err)
		}
		for _, e := range list {
			fpr := pgpkey.Fingerprint(e)
			if want[fpr] != pair.st {
				return fmt.Errorf("%s holds key %s, which the manifest does not list as %s", pair.name, fpr, pair.st)
			}
			if seen[fpr] {
				return fmt.Errorf("%s holds key %s twice", pair.name, fpr)
			}
			seen[fpr] = true
			r.Keys[fpr] = keyInfo(e, r.Manifest.Issued)
		}
	}
	for fpr, st := range want {
		if !seen[fpr] {
			return fmt.Errorf("the manifest lists key %s as %s, but its keyring does not hold it", fpr, st)
		}
	}
	return nil
}

func keyInfo(e *openpgp.Entity, at time.Time) KeyInfo {
	exp, _ := pgpkey.Expiry(e, at, nil)
	return KeyInfo{UserIDs: pgpkey.ValidUserIDs(e, at, nil), Expires: exp}
}

func (r *Review) loadPrevious(dir string) error {
	m := r.Manifest
	path := filepath.Join(dir, PreviousManifest)
	b, err := readCapped(path, MaxPreparedLen)
	if m.Previous == "" {
		if err == nil {
			return fail.Inputf("%s: manifest version %d has no previous manifest, yet the directory holds one", path, m.Version).
				WithHint("do not sign this directory; prepare a new one")
		}
		return nil
	}
	if err != nil {
		return fail.Inputf("manifest version %d follows manifest %s, but %s cannot be read", m.Version, m.Previous, path).Wrap(err).
			WithHint("keyctl publish --prepare writes it: prepare the directory again with this version of keyctl")
	}
	if Hash(b) != m.Previous {
		return fail.Inputf("%s is not the manifest this one follows (its hash is not %s)", path, m.Previous).
			WithHint("do not sign this directory; prepare a new one")
	}
	prev, err := ParseManifest(b)
	if err != nil {
		return fail.Inputf("reading %s", path).Wrap(err)
	}
	if prev.Repository != m.Repository || prev.Version+1 != m.Version {
		return fail.Inputf("%s is version %d for %q; manifest version %d for %q cannot follow it", path, prev.Version, prev.Repository, m.Version, m.Repository).
			WithHint("do not sign this directory; prepare a new one")
	}
	r.Previous = prev
	return nil
}

// checkPresent refuses any directory entry that is not the index, a listed
// file, its NAME.sig or NAME.sigs/, or (withPrevious) previous-manifest.json.
func checkPresent(dir string, p *Prepared, withPrevious bool) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fail.Inputf("reading %s", dir).Wrap(err)
	}
	ok := map[string]bool{PrepareIndex: true}
	if st, err := os.Lstat(filepath.Join(dir, AnchorDir)); err == nil && st.IsDir() {
		ok[AnchorDir] = true
	}
	if withPrevious {
		ok[PreviousManifest] = true
	}
	for _, f := range p.Files {
		ok[f.Name], ok[f.Name+SigSuffix] = true, true
	}
	for _, e := range ents {
		n := e.Name()
		if ok[n] {
			continue
		}
		if strings.HasSuffix(n, SigsDirSuffix) && e.IsDir() {
			if _, listed := p.File(strings.TrimSuffix(n, SigsDirSuffix)); listed {
				continue
			}
		}
		return fail.Inputf("%s: unexpected file in the signing directory", escapeControl(filepath.Join(dir, n))).
			WithHint("a signing directory holds only what prepare.json lists, their .sig files and .sigs/ directories; if you put it there, move it away; otherwise do not sign and prepare a new directory")
	}
	return nil
}

// escapeControl escapes control and non-printable characters in text that
// reaches the terminal in an error (file names, parse errors), leaving
// plain text as it is.
func escapeControl(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strconv.IsPrint(r) {
			b.WriteRune(r)
			continue
		}
		qr := strconv.QuoteRune(r)
		b.WriteString(qr[1 : len(qr)-1])
	}
	return b.String()
}

// q prints text from the directory (user IDs, reasons, scopes) with every
// control character escaped, so that it cannot rewrite the terminal.
func q(s string) string { return strconv.Quote(s) }

func fmtTimeOrNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func (r *Review) describeKey(fpr string) string {
	info, ok := r.Keys[fpr]
	if !ok || len(info.UserIDs) == 0 {
		return fpr + " (no user ID in the keyrings)"
	}
	ids := make([]string, len(info.UserIDs))
	for i, u := range info.UserIDs {
		ids[i] = q(u)
	}
	return fpr + " " + strings.Join(ids, ", ") + ", key expires " + fmtTimeOrNever(info.Expires)
}

func describeEntry(k KeyEntry) string {
	s := string(k.Status) + " (in the store since " + fmtTimeOrNever(k.Added) + ")"
	if k.Status == Removed {
		s += fmt.Sprintf(", reason %s, effective %s", q(string(k.Reason)), fmtTimeOrNever(k.Effective))
	}
	if k.Role == RoleIndex {
		return s + ", role index: signs keyctl-index.json, never a chart"
	}
	s += ", scope " + describeScopes(k.Scopes)
	return s
}

func describeScopes(sc []string) string {
	if len(sc) == 0 {
		return "every chart"
	}
	out := make([]string, len(sc))
	for i, s := range sc {
		out[i] = q(s)
	}
	return strings.Join(out, " ")
}

// Write prints the review for a root holder: what is signed, and every
// change of the manifest against the one currently published. Text from
// the directory is escaped (strconv.Quote).
func (r *Review) Write(w io.Writer) {
	r.writeAnchor(w)
	if m := r.Manifest; m != nil {
		fmt.Fprintf(w, "manifest version %d for repository %s\n", m.Version, q(m.Repository))
		fmt.Fprintf(w, "  issued %s, expires %s, root set %d\n", fmtTimeOrNever(m.Issued), fmtTimeOrNever(m.Expires), m.Root.Version)
		fmt.Fprintf(w, "  sha256 %s\n", r.ManifestSHA256)
		prev := map[string]KeyEntry{}
		if r.Previous != nil {
			fmt.Fprintf(w, "changes against the published manifest version %d (sha256 %s, issued %s):\n", r.Previous.Version, m.Previous, fmtTimeOrNever(r.Previous.Issued))
			for _, k := range r.Previous.Keys {
				prev[k.Fingerprint] = k
			}
		} else {
			fmt.Fprintln(w, "first publish: nothing to compare (no manifest has been published before: every key is added)\n  if this repository has been published before, do not sign: the directory was altered to look like a first publish")
		}
		cur := map[string]bool{}
		changes := 0
		for _, k := range m.Keys {
			cur[k.Fingerprint] = true
			old, had := prev[k.Fingerprint]
			switch {
			case !had:
				fmt.Fprintf(w, "  + added    %s\n             %s\n", r.describeKey(k.Fingerprint), describeEntry(k))
				changes++
			case describeEntry(old) != describeEntry(k):
				fmt.Fprintf(w, "  ~ changed  %s\n             was %s\n             now %s\n", r.describeKey(k.Fingerprint), describeEntry(old), describeEntry(k))
				changes++
			}
		}
		if r.Previous != nil {
			for _, k := range r.Previous.Keys {
				if !cur[k.Fingerprint] {
					fmt.Fprintf(w, "  - dropped  %s (no longer listed at all)\n             was %s\n", k.Fingerprint, describeEntry(k))
					changes++
				}
			}
			for _, f := range m.Files {
				if old, ok := r.Previous.File(f.Name); ok && old != f {
					fmt.Fprintf(w, "  ~ %s changed (keys added or removed, or certificates updated: user IDs, subkeys, expiry)\n", f.Name)
					changes++
				}
			}
			if r.Previous.Root != m.Root {
				fmt.Fprintf(w, "  ~ root set %d -> %d\n", r.Previous.Root.Version, m.Root.Version)
				changes++
			}
			if changes == 0 {
				fmt.Fprintln(w, "  no key changes (a re-publish with a new expiry)")
			}
		}
		fmt.Fprintf(w, "keys after this publish: %d active, %d removed\n", countEntries(m, Active), countEntries(m, Removed))
		for _, k := range m.Keys {
			fmt.Fprintf(w, "  %s\n    %s\n", r.describeKey(k.Fingerprint), describeEntry(k))
		}
	}
	names := make([]string, 0, len(r.RootSets))
	for n := range r.RootSets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		rs := r.RootSets[n]
		if a := r.Anchor; a != nil && a.Current != nil && r.Manifest == nil {
			for _, l := range rootSetChange(a.Current, rs) {
				fmt.Fprintln(w, l)
			}
		}
		fmt.Fprintf(w, "root set %d for repository %s: %d of %d keys must sign\n", rs.Version, q(rs.Repository), rs.Threshold, len(rs.Keys))
		ents, _ := rs.Entities()
		for _, e := range ents {
			info := keyInfo(e, time.Now())
			ids := make([]string, len(info.UserIDs))
			for i, u := range info.UserIDs {
				ids[i] = q(u)
			}
			fmt.Fprintf(w, "  %s %s, key expires %s\n", pgpkey.Fingerprint(e), strings.Join(ids, ", "), fmtTimeOrNever(info.Expires))
		}
	}
	fmt.Fprintf(w, "files to sign (all of them, nothing else):\n")
	for _, n := range r.Sign {
		fmt.Fprintf(w, "  %s\n", n)
	}
}

func countEntries(m *Manifest, st Status) int {
	n := 0
	for _, k := range m.Keys {
		if k.Status == st {
			n++
		}
	}
	return n
}

// writeAnchor prints what the directory was authenticated against.
func (r *Review) writeAnchor(w io.Writer) {
	a := r.Anchor
	if a == nil {
		return
	}
	if !a.Pinned {
		fmt.Fprintln(w, "WARNING: no root set is pinned: what follows is compared against the root sets and manifest the directory itself carries, which prove nothing; pass --root-set sha256:HEX (or KEYCTL_ROOT_SET) to check them")
	}
	if a.Current == nil {
		return
	}
	how := "authenticated by your pinned root set"
	if !a.Pinned {
		how = "NOT authenticated"
	}
	fmt.Fprintf(w, "current root set %d (sha256:%s, %s): %d of %d keys\n", a.Current.Version, a.Hashes[a.Current.Version], how, a.Current.Threshold, len(a.Current.Keys))
	if m, prev := r.Manifest, r.Previous; m != nil && prev != nil {
		fmt.Fprintf(w, "the published manifest version %d is signed by %d of root set %d: %s\n", prev.Version, len(a.PreviousSigners), prev.Root.Version, strings.Join(a.PreviousSigners, ", "))
		if old := a.Sets[prev.Root.Version]; old != nil && prev.Root.Version != m.Root.Version {
			for _, l := range rootSetChange(old, a.Current) {
				fmt.Fprintln(w, l)
			}
		}
	}
}
