package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/spf13/cobra"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/policy"
)

func (a *app) newIndexCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "index",
		Short: "Sign a repository's index.yaml with an index key (keyctl-index.json)",
	}
	var key, passFile, id, published, keyring string
	var charts []string
	var fresh bool
	var expires time.Duration
	sign := &cobra.Command{
		Use:   "sign DIR|index.yaml --key SECRETFILE [--published URL|DIR] [--charts DIR]... [--keyring FILE] [--expires D] [--id REPOSITORY] [--fresh]",
		Short: "Write keyctl-index.json and keyctl-index.json.sig next to index.yaml",
		Long: `index sign writes keyctl-index.json, a statement that binds the exact bytes of index.yaml
(SHA-256 and length) to the repository identity, an issue time and a short expiry, and
keyctl-index.json.sig, its detached signature by an index key (keyctl add KEYFILE --role index).

The statement also binds each release's .prov: for every release index.yaml lists, the .prov
next to its archive (the archive's file name + ".prov") is looked for in index.yaml's folder and
in each --charts folder (chart-releaser keeps new packages in .cr-release-packages), and its
SHA-256 is recorded with the time this index key first saw it. Those times carry over from the
keyctl-index.json in place, which must verify with this key for this repository: the same .prov keeps its first-seen time, a
new or re-signed .prov gets now, and a release whose .prov is not found here keeps its entry, as
does a release index.yaml no longer lists (so one left out for a run keeps its time; beyond the
cap of entries, the earliest-seen of those are dropped first, and the output says so). Signing
with a keyctl that writes the older statement format (keyctl-index/1) drops every entry: the
next run starts their first-seen times afresh (now). Clients take that first-seen time as trusted time
for exactly that .prov, like the ledger's: a signature by a key retired after it stays trusted.

A keyctl-index.json or keyctl-index.json.sig in place that does not verify with this key for this
repository (a run interrupted between its two renames, an edited file, another index key) is
refused (exit 1): restore the published pair (git checkout of the gh-pages files), or pass
--fresh to restart every first-seen time at now on purpose (releases signed by retired keys then
lose their trusted time). Rotating the index key needs --fresh once.

--published names the repository's public location, where clients read keyctl-index.json
(the GitHub Pages URL, a bucket, a folder). The published pair must then verify with this key for
this repository, and the later-issued of it and the pair in place is carried over: a pair in
place that is older than the published one, or missing, does not restart first-seen times. A
published pair that does not verify, or a location that cannot be read, is refused (--fresh
overrides). Without --published, a folder without a pair is a first run: every first-seen time
starts now, and the output says so.

A .prov is bound only when every signature in it verifies with a key of the governed keyring:
pubkeys.pgp next to index.yaml, or --keyring FILE, with the revoked.pgp next to it (a retired
key's old signature still verifies). Any other .prov is not bound (a carried entry stays) and the
output says so. With no keyring, .prov files are bound unchecked, and the output says so.

Run it in CI after helm repo index or chart-releaser, at every index change and on a schedule
shorter than --expires. When the repository's manifest names index keys, keyctl verify REPO/CHART,
audit and ledger record accept index.yaml only with a valid, unexpired statement that is not older
than the last one they saw; its chart URLs may then point at other hosts (GitHub Releases).
See docs/verify.md, "Signed index".

The repository identity comes from --id, else from keyctl-manifest.json in the same folder.

  keyctl index sign ./gh-pages --key "$INDEX_KEY_FILE" --passphrase-file "$PASS_FILE" --charts .cr-release-packages --published https://OWNER.github.io/REPO
  keyctl index sign public/index.yaml --key ci-index.gpg --expires 3d --id charts.example.org`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.indexSign(args[0], key, passFile, id, published, keyring, charts, expires, fresh)
		},
	}
	f := sign.Flags()
	f.StringVar(&key, "key", "", "the index key's secret key file (armored or binary)")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the key's passphrase")
	f.StringVar(&published, "published", "", "the repository's public location (URL or folder) where clients read keyctl-index.json: its pair is carried over when later than the one in place")
	f.StringVar(&keyring, "keyring", "", "the governed keyring the .prov files must verify with (default: pubkeys.pgp next to index.yaml; revoked.pgp next to it counts too)")
	f.StringArrayVar(&charts, "charts", nil, "another folder holding the releases' .prov files (repeatable), e.g. .cr-release-packages")
	f.StringVar(&id, "id", "", "repository identity (default: the one keyctl-manifest.json next to index.yaml names)")
	durationFlag(f, &expires, "expires", indexsig.DefaultValidity, "validity of the statement, e.g. 7d (at most 90d)")
	f.BoolVar(&fresh, "fresh", false, "restart every first-seen time at now when the statement in place does not verify with this key (loses the trusted time of releases by retired keys)")
	c.AddCommand(sign)
	return c
}

func (a *app) indexSign(target, keyFile, passFile, id, published, keyringFile string, charts []string, validity time.Duration, fresh bool) error {
	if keyFile == "" {
		return fail.Inputf("--key is required").WithHint("give the index key's secret key file: gpg --export-secret-keys FPR > index-key.gpg")
	}
	dir, indexPath := target, filepath.Join(target, client.IndexName)
	if st, err := os.Stat(target); err == nil && !st.IsDir() {
		dir, indexPath = filepath.Dir(target), target
		if filepath.Base(target) != client.IndexName {
			return fail.Inputf("%s is not an index.yaml", target).WithHint("give the folder that holds index.yaml, or index.yaml itself")
		}
	}
	index, err := a.readInput(indexPath, client.MaxIndexSize)
	if err != nil {
		return err
	}
	ix, err := client.ParseIndex(index)
	if err != nil {
		return fail.Hint(err, "keyctl signs only an index.yaml it can read: regenerate it with helm repo index")
	}
	if id == "" {
		if m, err := os.ReadFile(filepath.Join(dir, root.ManifestName)); err == nil {
			if pm, perr := root.ParseManifest(m); perr == nil {
				id = pm.Repository
			}
		}
	}
	if id == "" {
		return fail.Inputf("no repository identity: no readable %s next to %s", root.ManifestName, client.IndexName).
			WithHint("give --id REPOSITORY, the identity given to keyctl init (keyctl status shows it)")
	}
	keyData, err := a.readInput(keyFile, pgpkey.MaxCertSize)
	if err != nil {
		return err
	}
	signer, err := client.LoadSigner(keyData, a.passphrase(passFile, "key "+filepath.Base(keyFile)))
	if err != nil {
		return err
	}
	now := a.now().UTC().Truncate(time.Second)
	out := filepath.Join(dir, indexsig.Name)
	refuse := func(why string) error {
		return fail.Untrustedf("refused to sign: %s, so its releases' first-seen times cannot be carried over", why).WithHint(
			"a run interrupted between writing "+filepath.Base(out)+root.SigSuffix+" and "+filepath.Base(out)+" (or an edit) leaves a pair that does not verify: restore the published pair (e.g. git checkout -- "+filepath.Base(out)+" "+filepath.Base(out)+root.SigSuffix+" in the gh-pages worktree) and sign again",
			"to restart every first-seen time at now on purpose (a new index key, a lost pair), pass --fresh: releases signed by retired keys then lose their trusted time on every client (docs/verify.md, Signed index)")
	}
	old, err := os.ReadFile(out)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail.Inputf("cannot read %s", out).Wrap(errors.Unwrap(err))
	}
	sigs, serr := os.ReadFile(out + root.SigSuffix)
	if serr != nil && !errors.Is(serr, fs.ErrNotExist) {
		return fail.Inputf("cannot read %s", out+root.SigSuffix).Wrap(errors.Unwrap(serr))
	}
	// Issue times only grow: clients refuse an older statement than the
	// one they saw, so a statement dated at or before the one in place
	// (a CI clock behind the last signer's) would lock them out. The one
	// in place counts even when it does not verify (--fresh over another
	// index key's statement, which clients may have seen).
	inPlace, perr := indexsig.Parse(old)
	if old != nil && perr == nil && !now.After(inPlace.Issued) {
		return fail.Inputf("%s in place was issued %s, not before now (%s): issue times only grow", out, inPlace.Issued.Format(time.RFC3339), now.Format(time.RFC3339)).
			WithHint("check this machine's clock; wait a second and sign again")
	}
	if perr != nil {
		inPlace = nil
	}
	pv := previousVerifier{id: id, now: now, signer: pgpkey.Fingerprint(signer)}
	pv.cert, pv.certErr = publicCert(signer)
	prev, carried, why := pv.verify(out, "in place", old, inPlace, sigs)
	prevFrom := "in-place" // which statement's first-seen times carry over (JSON "previous")
	if why != "" {
		if !fresh {
			return refuse(why)
		}
		tprintf(a.stderr, "keyctl: note: %s; --fresh: the first-seen times of the releases start fresh (now)\n", why)
	}
	if published != "" {
		pold, psigs, where, err := fetchPublished(published)
		switch {
		case err != nil && !fresh:
			return fail.Untrustedf("refused to sign: cannot read the published %s at %s, so the first-seen times it carries cannot be checked", indexsig.Name, where).Wrap(err).WithHint(
				"check the network and that --published is the repository's public location, where clients read "+indexsig.Name+" (e.g. the GitHub Pages URL), and sign again",
				"to sign without it on purpose, pass --fresh: first-seen times then carry over only from the pair in place")
		case err != nil:
			tprintf(a.stderr, "keyctl: note: cannot read the published %s at %s; --fresh: carrying over from the pair in place only\n", indexsig.Name, where)
		case pold != nil || psigs != nil:
			pprev, pcarried, pwhy := pv.verify("the published "+indexsig.Name, "at "+where, pold, nil, psigs)
			switch {
			case pwhy != "" && !fresh:
				return refuse(pwhy)
			case pwhy != "":
				tprintf(a.stderr, "keyctl: note: %s; --fresh: not carried over\n", pwhy)
			case prev == nil:
				tprintf(a.stderr, "keyctl: note: no verifying %s in place: carrying over the first-seen times of the published one (issued %s)\n", out, pprev.Issued.Format(time.RFC3339))
				prev, carried, prevFrom = pprev, pcarried, "published"
			case pprev.Issued.After(prev.Issued):
				tprintf(a.stderr, "keyctl: note: %s in place (issued %s) is older than the published one (issued %s): carrying over the published one's first-seen times\n",
					out, prev.Issued.Format(time.RFC3339), pprev.Issued.Format(time.RFC3339))
				prev, carried, prevFrom = pprev, pcarried, "published"
			}
		}
	}
	if prev == nil {
		prevFrom = "none"
	}
	if prev == nil && why == "" {
		if published != "" {
			tprintf(a.stderr, "keyctl: warning: no previous statement (none in place, none published at the --published location): every first-seen time starts now\n")
		} else {
			tprintf(a.stderr, "keyctl: warning: no previous statement: every first-seen time starts now (if the repository has published one, pass --published URL so that its first-seen times carry over; docs/verify.md, Signed index)\n")
		}
	}
	if prevFrom == "published" && !now.After(prev.Issued) {
		return fail.Inputf("the published %s was issued %s, not before now (%s): issue times only grow", indexsig.Name, prev.Issued.Format(time.RFC3339), now.Format(time.RFC3339)).
			WithHint("check this machine's clock; wait a second and sign again")
	}
	keyring, err := a.governedKeyring(dir, keyringFile)
	if err != nil {
		return err
	}
	if keyring == nil {
		tprintf(a.stderr, "keyctl: note: no %s next to %s (--keyring): the .prov files are bound without checking their signatures\n", root.PubkeysFile, client.IndexName)
	}
	releases, n, err := bindReleases(ix, dir, charts, carried, keyring, now)
	if err != nil {
		return err
	}
	for _, nb := range n.NotBound {
		tprintf(a.stderr, "keyctl: warning: not bound: %s (its signature does not verify with %s)\n", nb, keyringName(keyringFile))
	}
	s, err := indexsig.New(id, index, releases, now, validity)
	if err != nil {
		return err
	}
	data, sig, err := indexsig.Sign(s, signer)
	if err != nil {
		return err
	}
	// Both written in full to temporary files first; then the signature
	// is renamed into place, then the statement. A run that dies between
	// the two renames leaves the new signature next to the old statement:
	// the next run refuses that pair (above) until it is restored.
	if err := writePair(out, data, sig); err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(map[string]any{"statement": out, "signature": out + root.SigSuffix, "repository": s.Repository,
			"index_sha256": s.IndexSHA256, "index_length": s.IndexLength, "issued": s.Issued, "expires": s.Expires, "signer": pgpkey.Fingerprint(signer),
			"releases_bound": len(s.Releases), "releases_new": n.New, "releases_carried": n.Carried,
			"releases_unlisted_kept": n.Absent, "releases_unlisted_dropped": n.Dropped,
			"previous": prevFrom, "releases_not_bound": append([]string{}, n.NotBound...)})
	}
	tprintf(a.stdout, "signed %s (%d bytes, sha256 %s) for repository %s\n", indexPath, s.IndexLength, s.IndexSHA256, s.Repository)
	tprintf(a.stdout, "  bound the .prov of %d of %d releases (%d new or changed, %d carried over)\n", len(s.Releases)-n.Absent, countReleases(ix), n.New, n.Carried)
	if n.Absent > 0 {
		tprintf(a.stdout, "  kept the first-seen times of %d releases index.yaml does not list (carried over)\n", n.Absent)
	}
	if n.Dropped > 0 {
		tprintf(a.stdout, "  dropped the %d earliest-seen releases index.yaml does not list: a statement binds at most %d\n", n.Dropped, indexsig.MaxReleases)
	}
	tprintf(a.stdout, "  wrote %s and %s, by index key %s, expires %s\n", out, filepath.Base(out)+root.SigSuffix, pgpkey.Fingerprint(signer), s.Expires.Format(time.RFC3339))
	tprintf(a.stdout, "  publish both with index.yaml; re-sign before it expires (valid for %s)\n", policy.Duration(validity))
	return nil
}

// previousVerifier checks the statements whose first-seen times carry
// over, against the index key signing now (its public certificate made
// once).
type previousVerifier struct {
	id      string
	now     time.Time
	signer  string // fingerprint, for messages
	cert    *openpgp.Entity
	certErr error
}

// publicCert is signer's public certificate, as a verifier reads it.
func publicCert(signer *openpgp.Entity) (*openpgp.Entity, error) {
	pub, err := pgpkey.SerializePublic(signer, true)
	if err != nil {
		return nil, err
	}
	return pgpkey.ReadCert(pub)
}

// verify checks a previous statement (old; parsed, when the caller has
// parsed it already) and its signature (sigs), named name and where in
// messages (nil: not there): when either is there, the pair must parse,
// verify with the signing key, the key signing now, and be for the
// repository. It returns the statement and its releases to carry over,
// or why it cannot (empty: nothing there, or a pair that verifies).
func (v previousVerifier) verify(name, where string, old []byte, parsed *indexsig.Statement, sigs []byte) (*indexsig.Statement, map[[2]string]indexsig.Release, string) {
	sigName := indexsig.SigName
	switch {
	case old == nil && sigs == nil:
		return nil, nil, ""
	case old == nil:
		return nil, nil, fmt.Sprintf("%s is %s without %s", sigName, where, name)
	case sigs == nil:
		return nil, nil, fmt.Sprintf("%s %s has no readable %s", name, where, sigName)
	}
	prev := parsed
	if prev == nil {
		var err error
		if prev, err = indexsig.Parse(old); err != nil {
			return nil, nil, fmt.Sprintf("%s %s does not parse", name, where)
		}
	}
	if v.certErr != nil {
		return nil, nil, fmt.Sprintf("cannot read the public key of %s", v.signer)
	}
	if by, err := root.VerifyBy(old, sigs, openpgp.EntityList{v.cert}, v.now); err != nil || len(by) == 0 {
		return nil, nil, fmt.Sprintf("%s %s does not verify with %s and index key %s", name, where, sigName, v.signer)
	}
	if prev.Repository != v.id {
		return nil, nil, fmt.Sprintf("%s %s is for repository %s, not %s", name, where, prev.Repository, v.id)
	}
	m := make(map[[2]string]indexsig.Release, len(prev.Releases))
	for _, r := range prev.Releases {
		m[[2]string{r.Name, r.Version}] = r
	}
	return prev, m, ""
}

// fetchPublished reads the published keyctl-index.json and its .sig at
// location (publish.Open), capped as clients cap them; a missing file is
// nil.
// where is the location as messages show it (no credentials).
func fetchPublished(location string) (stmt, sigs []byte, where string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := publish.Open(ctx, location, nil)
	if err != nil {
		return nil, nil, "the --published location", err
	}
	defer b.Close()
	where = b.Location()
	get := func(name string, limit int64) ([]byte, error) {
		data, err := b.Get(ctx, name, limit)
		switch {
		case err == nil && data == nil:
			return []byte{}, nil
		case errors.Is(err, fs.ErrNotExist):
			return nil, nil
		}
		return data, err
	}
	if stmt, err = get(indexsig.Name, indexsig.MaxSize); err != nil {
		return nil, nil, where, err
	}
	if sigs, err = get(indexsig.SigName, root.MaxSigSize); err != nil {
		return nil, nil, where, err
	}
	return stmt, sigs, where, nil
}

// governedKeyring returns the keys a .prov must verify with to be bound:
// file (default: pubkeys.pgp in dir; nil when that is missing) and the
// revoked.pgp next to it, each without its primary key's revocations (a
// retired key's signature made before still verifies; binding a .prov
// gives no trust by itself, clients judge the key).
func (a *app) governedKeyring(dir, file string) (openpgp.EntityList, error) {
	explicit := file != ""
	if !explicit {
		file = filepath.Join(dir, root.PubkeysFile)
	}
	data, err := readCapped(filepath.Dir(file), filepath.Base(file), pgpkey.MaxKeyringSize)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		return nil, nil
	case err != nil:
		return nil, fail.Inputf("cannot read the keyring %s", file).Wrap(err).
			WithHint("give the repository's pubkeys.pgp (keyctl publish writes it next to index.yaml)")
	}
	list, err := pgpkey.ReadKeyring(data, pgpkey.MaxKeyringSize)
	if err != nil && !errors.Is(err, pgpkey.ErrEmpty) {
		return nil, fail.Inputf("cannot read the keyring %s", file).Wrap(err).
			WithHint("give the repository's pubkeys.pgp (keyctl publish writes it next to index.yaml)")
	}
	revFile := filepath.Join(filepath.Dir(file), root.RevokedFile)
	if rdata, rerr := readCapped(filepath.Dir(revFile), root.RevokedFile, pgpkey.MaxKeyringSize); rerr == nil {
		rlist, err := pgpkey.ReadKeyring(rdata, pgpkey.MaxKeyringSize)
		if err != nil && !errors.Is(err, pgpkey.ErrEmpty) {
			return nil, fail.Inputf("cannot read %s", revFile).Wrap(err).WithHint("give the repository's revoked.pgp, or remove it")
		}
		list = append(list, rlist...)
	} else if !errors.Is(rerr, fs.ErrNotExist) {
		return nil, fail.Inputf("cannot read %s", revFile).Wrap(rerr)
	}
	// Not nil even when both are empty: then no .prov binds.
	out := make(openpgp.EntityList, 0, len(list))
	for _, e := range list {
		out = append(out, provenance.WithoutKeyRevocations(e))
	}
	return out, nil
}

func keyringName(file string) string {
	if file == "" {
		return root.PubkeysFile
	}
	return filepath.Base(file)
}

// writePair writes the statement (out) and its signature (out + .sig):
// both to synced temporary files in out's folder, then renames the
// signature into place, then the statement.
func writePair(out string, data, sig []byte) error {
	dir := filepath.Dir(out)
	var tmps []string
	defer func() {
		for _, t := range tmps {
			os.Remove(t)
		}
	}()
	for _, b := range [][]byte{sig, data} {
		tmp, err := os.CreateTemp(dir, ".keyctl-*.tmp")
		if err != nil {
			return fail.Inputf("cannot write in %s", dir).Wrap(errors.Unwrap(err))
		}
		tmps = append(tmps, tmp.Name())
		_, werr := tmp.Write(b)
		if werr == nil {
			werr = tmp.Chmod(0o644)
		}
		if werr == nil {
			werr = tmp.Sync()
		}
		if cerr := tmp.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fail.Inputf("cannot write in %s", dir).Wrap(werr)
		}
	}
	for i, path := range []string{out + root.SigSuffix, out} {
		if err := os.Rename(tmps[i], path); err != nil {
			return fail.Inputf("cannot write %s", path).Wrap(errors.Unwrap(err))
		}
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// boundReleases counts what bindReleases did.
type boundReleases struct {
	New, Carried int
	// Absent are the carried entries of releases index.yaml does not list
	// (kept), Dropped those dropped for the entry cap.
	Absent, Dropped int
	// NotBound names the .prov files not bound: their signatures do not
	// verify with the governed keyring.
	NotBound []string
}

// bindReleases returns the statement's releases for index ix: each
// release's .prov (its archive's file name + ".prov") is looked for in dir
// and in each of charts; a .prov carried (same bytes) keeps its first-seen
// time, another one is first seen now, and a release whose .prov is not
// found keeps its carried entry. A carried entry of a release ix does not
// list is kept too (a client takes its time only for that exact .prov, of
// that name and version): a release left out of index.yaml for a run
// keeps its first-seen time. Beyond indexsig.MaxReleases, the absent
// entries first seen earliest are dropped first.
func bindReleases(ix *client.Index, dir string, charts []string, carried map[[2]string]indexsig.Release, keyring openpgp.EntityList, now time.Time) (out []indexsig.Release, n boundReleases, err error) {
	dirs := append([]string{dir}, charts...)
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return nil, n, fail.Inputf("%s is not a readable folder", d).WithHint("--charts names a folder of packaged charts and their .prov files, e.g. .cr-release-packages")
		}
	}
	names := make([]string, 0, len(ix.Entries))
	for name := range ix.Entries {
		names = append(names, name)
	}
	sort.Strings(names)
	listed := map[[2]string]bool{}
	for _, name := range names {
		for _, cv := range ix.Entries[name] {
			key := [2]string{cv.Name, cv.Version}
			listed[key] = true
			sum, notBound, err := findProv(cv, dirs, keyring, now)
			if err != nil {
				return nil, n, err
			}
			n.NotBound = append(n.NotBound, notBound...)
			old, had := carried[key]
			switch {
			case sum == "" && had:
				out, n.Carried = append(out, old), n.Carried+1
			case sum == "":
			case had && old.ProvSHA256 == sum:
				out, n.Carried = append(out, old), n.Carried+1
			default:
				out, n.New = append(out, indexsig.Release{Name: cv.Name, Version: cv.Version, ProvSHA256: sum, FirstSeen: now}), n.New+1
			}
		}
	}
	var absent []indexsig.Release
	for key, r := range carried {
		if !listed[key] {
			absent = append(absent, r)
		}
	}
	// Newest first, so that the cap cuts the earliest seen.
	sort.Slice(absent, func(i, j int) bool {
		a, b := absent[i], absent[j]
		if !a.FirstSeen.Equal(b.FirstSeen) {
			return a.FirstSeen.After(b.FirstSeen)
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Version < b.Version
	})
	room := max(indexsig.MaxReleases-len(out), 0)
	if len(absent) > room {
		n.Dropped, absent = len(absent)-room, absent[:room]
	}
	n.Absent = len(absent)
	return append(out, absent...), n, nil
}

func countReleases(ix *client.Index) int {
	n := 0
	for _, cvs := range ix.Entries {
		n += len(cvs)
	}
	return n
}

// findProv returns the SHA-256 of release cv's .prov, found in one of
// dirs ("" when none holds it). With a keyring, a .prov any of whose
// signatures does not verify with it is skipped and named in notBound: a
// .prov put in the folder by someone without a governed key must not
// replace the entry of the genuine one (whose first-seen time would be
// lost when it comes back). Two different .prov files for one release
// are refused: which one is served is not known.
func findProv(cv *client.ChartVersion, dirs []string, keyring openpgp.EntityList, now time.Time) (sum string, notBound []string, err error) {
	where := ""
	if len(cv.URLs) == 0 {
		return "", nil, nil
	}
	u, perr := url.Parse(cv.URLs[0])
	if perr != nil {
		return "", nil, nil
	}
	base := path.Base(u.Path)
	if base == "." || base == "/" || base == ".." || base == "" {
		return "", nil, nil
	}
	file := base + ".prov"
	for _, d := range dirs {
		data, rerr := readCapped(d, file, provenance.MaxProvSize)
		if errors.Is(rerr, fs.ErrNotExist) {
			continue
		}
		if rerr != nil {
			return "", nil, fail.Inputf("cannot read %s", filepath.Join(d, file)).Wrap(rerr)
		}
		p, perr := provenance.Parse(data)
		if perr != nil {
			return "", nil, fail.Inputf("%s is not a valid provenance file", filepath.Join(d, file)).Wrap(perr).
				WithHint("remove it or sign the chart again (helm package --sign)")
		}
		if p.Name != cv.Name || p.Version != cv.Version {
			return "", nil, fail.Inputf("%s is the .prov of %s %s, but index.yaml lists that archive as %s %s", filepath.Join(d, file), p.Name, p.Version, cv.Name, cv.Version).
				WithHint("regenerate index.yaml (helm repo index, chart-releaser) from the packaged charts")
		}
		if keyring != nil && !verifiesWith(p, keyring, now) {
			notBound = append(notBound, filepath.Join(d, file))
			continue
		}
		h := indexsig.Hash(data)
		switch {
		case sum == "":
			sum, where = h, filepath.Join(d, file)
		case sum != h:
			return "", nil, fail.Inputf("%s and %s are two different .prov files for %s %s", where, filepath.Join(d, file), cv.Name, cv.Version).
				WithHint("keep only the .prov that is published next to the archive")
		}
	}
	return sum, notBound, nil
}

// verifiesWith reports whether every signature of p verifies with a key
// of keyring (as clients require of a .prov they trust).
func verifiesWith(p *provenance.Prov, keyring openpgp.EntityList, now time.Time) bool {
	res := p.VerifyEach(keyring, &packet.Config{Time: func() time.Time { return now }})
	for _, r := range res {
		if r.Sig == nil {
			return false
		}
	}
	return len(res) > 0
}

// readCapped reads dir/file (a base name, never a path) through os.Root,
// at most limit bytes.
func readCapped(dir, file string, limit int64) ([]byte, error) {
	rt, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	f, err := rt.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return data, nil
}
