// Package release assembles one publish of a repository's governed keyring
// (docs/manifest.md): it exports pubkeys.pgp and revoked.pgp from the store, writes
// the manifest that binds them to a version, an expiry and the previous
// manifest, lays out the files root holders sign (directly, or offline
// through a signing directory), checks the gathered root signatures
// against the thresholds, and turns the signed set into a publish.Plan
// whose upload order keeps every client-visible state consistent.
//
// It also carries root rotations: the next root set is prepared, signed by
// a threshold of the current set and of the new one, and stored as the
// next link of the chain that clients walk.
package release

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"golang.org/x/mod/sumdb/note"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/page"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/tlog"
)

// In a signing directory a root set link is a flat file rootset-N.json
// (directory entries cannot hold '/'); it is published as
// root.RootSetPath(N).
const linkPrefix = "rootset-"

func linkFile(v uint64) string { return linkPrefix + strconv.FormatUint(v, 10) + ".json" }

func linkVersion(name string) (uint64, bool) {
	if !strings.HasPrefix(name, linkPrefix) || !strings.HasSuffix(name, ".json") {
		return 0, false
	}
	v, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, linkPrefix), ".json"), 10, 64)
	return v, err == nil && v > 0
}

// Bundle is what one publish puts up, before or after signing.
type Bundle struct {
	Manifest *root.Manifest
	// Files by signing-directory name: pubkeys.pgp, revoked.pgp,
	// keyctl-manifest.json and rootset-N.json for links not yet signed.
	Files map[string][]byte
}

// Prepare builds the next publish from the store: version = last published
// + 1, issued now, expiring after validity (0: root.DefaultManifestValidity).
func Prepare(s *ring.Store, validity time.Duration, now time.Time) (*Bundle, error) {
	if validity == 0 {
		validity = root.DefaultManifestValidity
	}
	if validity < time.Hour || validity > root.MaxManifestValidity {
		return nil, fail.Inputf("--expires %s is out of range", validity).
			WithHint(fmt.Sprintf("give between 1h and %dd; clients refuse an expired manifest (freeze protection)", int(root.MaxManifestValidity.Hours()/24)))
	}
	if err := requireExplained(s); err != nil {
		return nil, err
	}
	info, err := s.Info()
	if err != nil {
		return nil, err
	}
	links, err := s.RootLinks()
	if err != nil {
		return nil, err
	}
	if len(links) == 0 {
		return nil, fail.Inputf("the store has no root set").WithHint("run keyctl init first")
	}
	cur := links[len(links)-1]
	keys, err := s.List(true)
	if err != nil {
		return nil, err
	}
	pub, rev := ring.Keyring(keys, ring.Active), ring.Keyring(keys, ring.Removed)
	now = now.UTC().Truncate(time.Second)
	m := &root.Manifest{
		Repository: info.Repository,
		Version:    1,
		Issued:     now,
		Expires:    now.Add(validity),
		Root:       root.RootRef{Version: cur.Version, SHA256: root.Hash(cur.Data)},
		Files: []root.FileRef{
			{Name: root.PubkeysFile, SHA256: root.Hash(pub), Length: int64(len(pub))},
			{Name: root.RevokedFile, SHA256: root.Hash(rev), Length: int64(len(rev))},
		},
	}
	if p := info.Published; p != nil {
		m.Version = p.Version + 1
		m.Previous = p.SHA256
	}
	idx := ring.IndexKeyring(keys)
	if len(idx) > 0 {
		m.Files = append([]root.FileRef{{Name: root.IndexKeysFile, SHA256: root.Hash(idx), Length: int64(len(idx))}}, m.Files...)
	}
	for _, k := range keys {
		e := root.KeyEntry{Fingerprint: k.Fingerprint, Status: root.Active, Added: k.Added.UTC().Truncate(time.Second), Scopes: k.Scopes}
		if k.RoleOf() == ring.Index {
			e.Role = root.RoleIndex
		}
		if k.Status == ring.Removed {
			e.Status = root.Removed
			e.Reason = root.Reason(k.Removal.Reason)
			e.Effective = k.Removal.Effective.UTC().Truncate(time.Second)
		}
		m.Keys = append(m.Keys, e)
	}
	mb, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{
		root.PubkeysFile:  pub,
		root.RevokedFile:  rev,
		root.ManifestName: mb,
	}
	if len(idx) > 0 {
		files[root.IndexKeysFile] = idx
	}
	for _, l := range links {
		if len(l.Sigs) == 0 {
			files[linkFile(l.Version)] = l.Data
		}
	}
	return &Bundle{Manifest: m, Files: files}, nil
}

// requireExplained refuses to build or check a publish from a store that
// its change log does not explain (ring.Store.VerifyLog): a key record
// edited behind keyctl's back, for example a compromised key turned active
// again, must never be signed back into the manifest.
func requireExplained(s *ring.Store) error {
	if _, err := s.VerifyLog(); err != nil {
		return (&fail.Error{Kind: fail.Untrusted, Msg: "refusing to publish: the store is not what its change log explains", Err: err}).
			WithHint("nothing was signed or uploaded; the team lead should restore the store from a backup and investigate before publishing (docs/manifest.md, section Store integrity)")
	}
	return nil
}

// checkCurrent refuses a signed directory that is not the next publish of
// the store as it is now: one prepared before a later publish (its version
// or previous manifest no longer follow), before a key was added or
// removed, or a root rotation (its keys, keyrings or root set differ), or
// one that has expired. Publishing such a directory would put back keys
// the store has removed since. The directory that is already live (a re-run
// that completes an interrupted publish) is let through.
func checkCurrent(s *ring.Store, info *ring.Info, m *root.Manifest, mb []byte, links []ring.RootLink, f *root.Manifest, now time.Time) error {
	if p := info.Published; p != nil && root.Hash(mb) == p.SHA256 {
		return nil
	}
	stale := func(why string) error {
		return fail.Inputf("the signing directory is stale: %s", why).
			WithHint("prepare it again from the store as it is now: keyctl publish --prepare NEWDIR, and have the root holders sign that")
	}
	var wantV uint64 = 1
	wantPrev := ""
	if p := info.Published; p != nil {
		wantV, wantPrev = p.Version+1, p.SHA256
	}
	if m.Version != wantV || m.Previous != wantPrev {
		return stale(fmt.Sprintf("it holds manifest version %d, the next publish of this store is version %d", m.Version, wantV))
	}
	if newest := links[len(links)-1]; m.Root.Version != newest.Version {
		return stale(fmt.Sprintf("it names root set %d, the store's current root set is %d", m.Root.Version, newest.Version))
	}
	if !now.Before(m.Expires) {
		return stale("its manifest expired at " + m.Expires.UTC().Format(time.RFC3339))
	}
	if f == nil {
		fresh, err := Prepare(s, 0, now)
		if err != nil {
			return err
		}
		f = fresh.Manifest
	}
	if len(f.Files) != len(m.Files) {
		return stale("its keyrings differ from the store's")
	}
	for i := range f.Files {
		if f.Files[i] != m.Files[i] {
			return stale(fmt.Sprintf("its %s differs from the store's (keys were added, updated or removed since it was prepared)", m.Files[i].Name))
		}
	}
	if len(f.Keys) != len(m.Keys) {
		return stale(fmt.Sprintf("it lists %d keys, the store holds %d", len(m.Keys), len(f.Keys)))
	}
	for i := range f.Keys {
		a, b := f.Keys[i], m.Keys[i]
		if a.Fingerprint != b.Fingerprint || a.Status != b.Status || a.Reason != b.Reason || !a.Effective.Equal(b.Effective) ||
			!a.Added.Equal(b.Added) || strings.Join(a.Scopes, ",") != strings.Join(b.Scopes, ",") || a.Role != b.Role {
			return stale(fmt.Sprintf("key %s is %s in the store but %s in the directory", a.Fingerprint, a.Status, b.Status))
		}
	}
	return nil
}

// Signed is a bundle with every file's signatures, checked.
type Signed struct {
	Manifest *root.Manifest
	Files    map[string][]byte
	Sigs     map[string][]byte
	Signers  map[string][]string
	// Links are every root set link to publish, with signatures; new ones
	// (signed in this round) are to be stored back.
	Links    []ring.RootLink
	NewLinks []ring.RootLink

	// LogSigner signs the transparency log's checkpoint (internal/tlog);
	// Upload requires it when the manifest's root set names a log key.
	LogSigner note.Signer
	// Logged is the log's tree after Upload: its size and whether this
	// upload appended the manifest (false when an earlier run had).
	LogSize  int64
	Appended bool

	// PublicURL, when set, is the http(s) address people read the set from;
	// the trust page fills it into its commands instead of the bucket's
	// location.
	PublicURL string

	// sets are the store's root sets by version, to judge signatures
	// already in the bucket (Upload).
	sets map[uint64]*root.RootSet
}

// Check verifies that the bundle is the store's next publish (see
// checkCurrent) and that every file carries a threshold of valid root
// signatures: manifest and keyrings by the root set the manifest names,
// the first root set link by itself, a later link by its predecessor and
// itself (VerifyLink). It refuses a bundle below a threshold with the
// missing holders named.
//
// fresh, when not nil, is the manifest Prepare just built from the store
// (a direct publish); nil makes Check build it to compare with.
func Check(s *ring.Store, files, sigs map[string][]byte, fresh *root.Manifest, now time.Time) (*Signed, error) {
	if fresh == nil { // Prepare checked the store it built fresh from
		if err := requireExplained(s); err != nil {
			return nil, err
		}
	}
	mb, ok := files[root.ManifestName]
	if !ok {
		return nil, fail.Inputf("the signing directory has no %s", root.ManifestName).WithHint("prepare it with keyctl publish --prepare DIR")
	}
	m, err := root.ParseManifest(mb)
	if err != nil {
		return nil, err
	}
	links, err := s.RootLinks()
	if err != nil {
		return nil, err
	}
	sets := map[uint64]*root.RootSet{}
	byVersion := map[uint64]ring.RootLink{}
	for _, l := range links {
		rs, err := root.ParseRootSet(l.Data)
		if err != nil {
			return nil, fmt.Errorf("stored root set %d: %w", l.Version, err)
		}
		sets[l.Version] = rs
		byVersion[l.Version] = l
	}
	set, ok := sets[m.Root.Version]
	if !ok || root.Hash(byVersion[m.Root.Version].Data) != m.Root.SHA256 {
		return nil, fail.Inputf("the manifest names root set %d, which this store does not hold", m.Root.Version).
			WithHint("prepare the publish again from this store")
	}
	info, err := s.Info()
	if err != nil {
		return nil, err
	}
	if m.Repository != info.Repository {
		return nil, fail.Inputf("the manifest is for repository %q, this store for %q", m.Repository, info.Repository)
	}
	if err := checkCurrent(s, info, m, mb, links, fresh, now); err != nil {
		return nil, err
	}
	out := &Signed{Manifest: m, Files: files, Sigs: sigs, Signers: map[string][]string{}, sets: sets}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	newSigs := map[uint64][]byte{}
	for _, n := range names {
		data := files[n]
		vset := set
		if v, isLink := linkVersion(n); isLink {
			l, ok := byVersion[v]
			if !ok || string(l.Data) != string(data) {
				return nil, fail.Inputf("%s is not root set %d of this store", n, v)
			}
			if len(l.Sigs) > 0 {
				// A signed link is never replaced: new signatures could only
				// make it weaker (say, signed by the new set alone).
				return nil, fail.Inputf("%s is already signed in the store", n).WithHint("prepare the publish again from this store")
			}
			if v > 1 {
				// Links after the first must follow from their predecessor
				// (threshold of the old set and of the new).
				if _, err := root.VerifyLink(sets[v-1], data, sigs[n], now); err != nil {
					return nil, err
				}
				out.Signers[n] = nil
				newSigs[v] = sigs[n]
				continue
			}
			vset = sets[v]
			newSigs[v] = sigs[n]
		} else if n == root.PubkeysFile || n == root.RevokedFile || n == root.IndexKeysFile {
			if err := m.CheckFile(n, data); err != nil {
				return nil, err
			}
		} else if n != root.ManifestName {
			return nil, fail.Inputf("unexpected file %s in the signing directory", n)
		}
		signers, err := root.Verify(data, sigs[n], vset, now)
		if err != nil {
			var te *root.ThresholdError
			if errors.As(err, &te) {
				e := fail.Untrustedf("%s has %d valid root signature(s) of %d needed (root set %d)", n, te.Have, te.Need, vset.Version)
				if len(te.Missing) > 0 {
					e.WithHint("ask the holders of these root keys to sign: " + strings.Join(te.Missing, ", "))
				}
				return nil, e.WithHint("each root holder signs with: keyctl root sign DIR --root-key FILE (or gpg, see docs/manifest.md)")
			}
			return nil, err
		}
		out.Signers[n] = signers
		// Publish exactly one valid signature per signing root key: a holder
		// who signed twice, or a stray signature by another key, would make
		// gpgv (which fails on any signature it cannot check) refuse the file.
		pruned, err := onePerSigner(data, sigs[n], vset, now)
		if err != nil {
			return nil, err
		}
		sigs[n] = pruned
		if v, isLink := linkVersion(n); isLink {
			newSigs[v] = pruned
		}
	}
	for _, l := range links {
		if s, ok := newSigs[l.Version]; ok {
			l.Sigs = s
			out.NewLinks = append(out.NewLinks, l)
		}
		if len(l.Sigs) == 0 {
			return nil, fail.Inputf("root set %d has never been signed", l.Version).WithHint("prepare the publish again from this store")
		}
		out.Links = append(out.Links, l)
	}
	for _, n := range m.FileNames() {
		if _, ok := files[n]; !ok {
			return nil, fail.Inputf("the signing directory has no %s", n)
		}
	}
	return out, nil
}

func object(name string, data []byte) publish.Object {
	o := publish.Object{Name: name, Data: data}
	switch {
	case strings.HasSuffix(name, root.SigSuffix):
		o.ContentType = "application/pgp-signature"
	case strings.HasSuffix(name, ".pgp"):
		o.ContentType = "application/pgp-keys"
	case strings.HasSuffix(name, ".json"):
		o.ContentType = "application/json"
	case name == page.Name:
		o.ContentType = page.ContentType
	default:
		o.ContentType = "application/octet-stream"
	}
	return o
}

// Page renders the trust page (internal/page) of this publish, for people
// reading the set at location: only from the checked manifest, the root set
// it names and the keyrings it binds.
func (sg *Signed) Page(location string, now time.Time) ([]byte, error) {
	m := sg.Manifest
	var rootSet []byte
	for _, l := range sg.Links {
		if l.Version == m.Root.Version {
			rootSet = l.Data
		}
	}
	return page.Render(page.Input{
		Manifest:  m,
		RootSet:   rootSet,
		Pubkeys:   sg.Files[root.PubkeysFile],
		Revoked:   sg.Files[root.RevokedFile],
		IndexKeys: sg.Files[root.IndexKeysFile],
		URL:       location,
		Now:       now,
	})
}

// PublishedPage renders the trust page of the store's last publish, for
// people reading it at the location it went to: the manifest the store
// recorded, the root set it names, and the keyrings the store exports now,
// which must still be the ones that manifest binds.
// publicURL, when not empty, replaces the location in the page's commands.
func PublishedPage(s *ring.Store, publicURL string, now time.Time) ([]byte, error) {
	if err := requireExplained(s); err != nil {
		return nil, err
	}
	info, err := s.Info()
	if err != nil {
		return nil, err
	}
	p := info.Published
	if p == nil {
		return nil, fail.Inputf("this store has not published yet: there is no signed manifest to show").
			WithHint("publish first (keyctl publish), or render a published set: keyctl page --repo URL --root-set sha256:HEX")
	}
	m, err := root.ParseManifest(p.Manifest)
	if err != nil || root.Hash(p.Manifest) != p.SHA256 {
		return nil, fail.Inputf("the store's record of manifest version %d is damaged", p.Version).
			WithHint("render the published set instead: keyctl page --repo " + p.Location + " --root-set sha256:HEX")
	}
	links, err := s.RootLinks()
	if err != nil {
		return nil, err
	}
	var rootSet []byte
	for _, l := range links {
		if l.Version == m.Root.Version {
			rootSet = l.Data
		}
	}
	keys, err := s.List(true)
	if err != nil {
		return nil, err
	}
	pub, rev := ring.Keyring(keys, ring.Active), ring.Keyring(keys, ring.Removed)
	if m.CheckFile(root.PubkeysFile, pub) != nil || m.CheckFile(root.RevokedFile, rev) != nil {
		return nil, fail.Inputf("keys were added, updated or removed since manifest version %d was published", m.Version).
			WithHint("publish them first (keyctl publish), or render what is published: keyctl page --repo " + p.Location + " --root-set sha256:HEX")
	}
	loc := p.Location
	if publicURL != "" {
		loc = publicURL
	}
	return page.Render(page.Input{Manifest: m, RootSet: rootSet, Pubkeys: pub, Revoked: rev, IndexKeys: ring.IndexKeyring(keys), URL: loc, Now: now})
}

// Plan turns a checked bundle into the upload plan (see internal/publish
// for the order): content-addressed copies of the keyrings, the manifest
// and its signatures, and the root set chain go first; then the manifest
// at its fixed name, guarded by the hash of the manifest it replaces; then
// the convenience copies that helm verify --keyring and gpgv users read;
// last the trust page (keyctl/index.html), rendered for location at now.
func (sg *Signed) Plan(expectPrevious, location string, now time.Time) (publish.Plan, error) {
	p := publish.Plan{Version: sg.Manifest.Version}
	mb := sg.Files[root.ManifestName]
	mh := root.Hash(mb)
	for _, n := range sg.Manifest.FileNames() {
		d := sg.Files[n]
		p.Blobs = append(p.Blobs, object(root.ContentPath(root.Hash(d)), d))
	}
	p.Blobs = append(p.Blobs,
		object(root.ContentPath(mh), mb),
		object(root.ContentPath(mh)+root.SigSuffix, sg.Sigs[root.ManifestName]),
	)
	for _, l := range sg.Links {
		p.Blobs = append(p.Blobs, object(root.RootSetPath(l.Version), l.Data), object(root.RootSetPath(l.Version)+root.SigSuffix, l.Sigs))
	}
	seen := map[string]bool{}
	blobs := p.Blobs[:0]
	for _, o := range p.Blobs {
		if !seen[o.Name] { // empty pubkeys.pgp and revoked.pgp share one address
			seen[o.Name] = true
			blobs = append(blobs, o)
		}
	}
	p.Blobs = blobs
	p.Pointer = object(root.ManifestName, mb)
	if expectPrevious != "" {
		b, err := hex.DecodeString(expectPrevious)
		if err != nil {
			return p, fmt.Errorf("stored previous manifest hash is damaged: %w", err)
		}
		p.ExpectPrevious = b
	}
	for _, n := range append(append([]string(nil), sg.Manifest.FileNames()...), root.ManifestName) {
		if n != root.ManifestName {
			p.Files = append(p.Files, object(n, sg.Files[n]))
		}
		p.Files = append(p.Files, object(n+root.SigSuffix, sg.Sigs[n]))
	}
	html, err := sg.Page(location, now)
	if err != nil {
		return p, err
	}
	p.After = append(p.After, object(page.Name, html))
	return p, nil
}

// Upload publishes the plan to b, first recording it in s as pending (see
// Adopt). When the upload fails after the manifest went live (a
// convenience copy such as pubkeys.pgp kept failing), live is true: the
// publish happened and must be recorded, and a re-run (built on it)
// completes the copies.
func (sg *Signed) Upload(ctx context.Context, s *ring.Store, b *publish.Bucket, expectPrevious string, now time.Time) (live bool, err error) {
	loc := b.Location()
	if sg.PublicURL != "" {
		loc = sg.PublicURL
	}
	plan, err := sg.Plan(expectPrevious, loc, now)
	if err != nil {
		return false, err
	}
	if err := sg.keepPublishedSigs(ctx, b, &plan, now); err != nil {
		return false, err
	}
	if err := sg.appendLog(ctx, b, &plan); err != nil {
		return false, err
	}
	if err := s.SetPending(ring.Pending{Version: sg.Manifest.Version, SHA256: root.Hash(plan.Pointer.Data), Location: b.Location()}); err != nil {
		return false, err
	}
	err = b.Publish(ctx, plan)
	var le *publish.LiveError
	return err == nil || errors.As(err, &le), err
}

// appendLog adds the manifest to the repository's transparency log when
// the root set names a log key: the new tiles go up with the blobs, the
// new checkpoint before the manifest (so a reader of the new manifest finds
// it logged). A re-run finds the manifest already logged and appends
// nothing.
func (sg *Signed) appendLog(ctx context.Context, b *publish.Bucket, plan *publish.Plan) error {
	set := sg.sets[sg.Manifest.Root.Version]
	if set == nil || set.Log == "" {
		if sg.LogSigner != nil {
			return fail.Inputf("a log key was given, but root set %d names no transparency log", sg.Manifest.Root.Version).
				WithHint("name the log key in the root set with keyctl root rotate --log-key PUBFILE, or publish without --log-key")
		}
		return nil
	}
	v, err := tlog.NewLogVerifier(set.Log)
	if err != nil {
		return err
	}
	if sg.LogSigner == nil {
		return fail.Inputf("root set %d names the transparency log %s: publishing needs its secret key", set.Version, v.Name()).
			WithHint("give --log-key FILE (or log_key in the config); see docs/manifest.md, section Transparency log")
	}
	if sg.LogSigner.Name() != v.Name() || sg.LogSigner.KeyHash() != v.KeyHash() {
		return fail.Inputf("the log key given (%s) is not the one root set %d names (%s)", sg.LogSigner.Name(), set.Version, v.Name()).
			WithHint("give the log key whose public half is in the root set")
	}
	head, err := tlog.ReadHead(ctx, b, v, nil)
	if err != nil {
		return fail.Hint(err, "nothing was uploaded; the published log must verify before it is extended")
	}
	e := tlog.Entry{Version: sg.Manifest.Version, SHA256: root.Hash(plan.Pointer.Data)}
	if head != nil && head.N >= int64(e.Version) {
		if _, err := tlog.Include(ctx, b, head, e); err == nil {
			sg.LogSize = head.N
			return nil
		}
	}
	app, err := tlog.Append(ctx, b, head, [][]byte{e.Marshal()}, sg.LogSigner)
	if err != nil {
		return err
	}
	for _, o := range app.Tiles {
		plan.Blobs = append(plan.Blobs, publish.Object{Name: o.Name, Data: o.Data, ContentType: "application/octet-stream"})
	}
	plan.Before = append(plan.Before, publish.Object{Name: tlog.CheckpointPath, Data: app.Checkpoint, ContentType: "text/plain; charset=utf-8", CacheControl: "no-cache"})
	sg.LogSize, sg.Appended = app.Tree.N, true
	return nil
}

// keepPublishedSigs reuses signatures already in the bucket. The
// content-addressed signature objects (the manifest's, the root chain's)
// are immutable, but signatures are salted: signing the same bytes again
// (a re-run within the same second, a link signed again) gives other bytes,
// which the bucket would refuse as tampering. When the object there holds
// a threshold of valid root signatures over the same data, it is kept.
func (sg *Signed) keepPublishedSigs(ctx context.Context, b *publish.Bucket, plan *publish.Plan, now time.Time) error {
	mb := sg.Files[root.ManifestName]
	targets := map[string]struct {
		data []byte
		set  *root.RootSet
	}{}
	targets[root.ContentPath(root.Hash(mb))+root.SigSuffix] = struct {
		data []byte
		set  *root.RootSet
	}{mb, sg.sets[sg.Manifest.Root.Version]}
	for _, l := range sg.Links {
		targets[root.RootSetPath(l.Version)+root.SigSuffix] = struct {
			data []byte
			set  *root.RootSet
		}{l.Data, sg.sets[l.Version]}
	}
	for i, o := range plan.Blobs {
		t, ok := targets[o.Name]
		if !ok || t.set == nil {
			continue
		}
		cur, err := b.Get(ctx, o.Name, root.MaxSigSize)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return err
		}
		if bytes.Equal(cur, o.Data) {
			continue
		}
		if _, err := root.Verify(t.data, cur, t.set, now); err == nil {
			plan.Blobs[i].Data = cur
		}
		// Otherwise the bucket refuses the write: what is there is not a
		// valid signature over these bytes, which is worth an alarm.
	}
	return nil
}

// Record stores what was published: the new manifest as the store's last
// published one, and the root set links signed in this round.
func (sg *Signed) Record(s *ring.Store, location, actor string) error {
	for _, l := range sg.NewLinks {
		if err := s.PutRootSet(l, fmt.Sprintf("root set %d signed by %s", l.Version, strings.Join(sg.Signers[linkFile(l.Version)], ",")), actor); err != nil {
			return err
		}
	}
	mb := sg.Files[root.ManifestName]
	return s.SetPublished(ring.Published{
		Version:      sg.Manifest.Version,
		SHA256:       root.Hash(mb),
		Manifest:     mb,
		ManifestSigs: sg.Sigs[root.ManifestName],
		Location:     location,
		Expires:      sg.Manifest.Expires,
	}, actor)
}

// onePerSigner keeps, of the signatures in sigs, the first valid one by
// each key of set.
func onePerSigner(data, sigs []byte, set *root.RootSet, now time.Time) ([]byte, error) {
	single := *set
	single.Threshold = 1
	r := packet.NewReader(bytes.NewReader(sigs))
	seen := map[string]bool{}
	var out [][]byte
	for {
		p, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fail.Inputf("reading root signatures").Wrap(err)
		}
		sig, ok := p.(*packet.Signature)
		if !ok {
			continue
		}
		var buf bytes.Buffer
		if err := sig.Serialize(&buf); err != nil {
			return nil, err
		}
		signers, err := root.Verify(data, buf.Bytes(), &single, now)
		if err != nil || len(signers) != 1 || seen[signers[0]] {
			continue
		}
		seen[signers[0]] = true
		out = append(out, buf.Bytes())
	}
	return bytes.Join(out, nil), nil
}
