package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/spf13/cobra"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/page"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/release"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/policy"
)

// loadRootSecrets reads root secret key files, asking for each passphrase
// only when the key is protected.
func (a *app) loadRootSecrets(files []string, passFile string) ([]*openpgp.Entity, error) {
	var out []*openpgp.Entity
	for _, f := range files {
		data, err := a.readInput(f, pgpkey.MaxCertSize)
		if err != nil {
			return nil, err
		}
		e, err := root.LoadSecret(data, a.passphrase(passFile, "root key "+filepath.Base(f)))
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// signWith makes one detached signature over data per root key and merges
// them.
func (a *app) signWith(signers []*openpgp.Entity, data []byte) ([]byte, error) {
	var all [][]byte
	for _, e := range signers {
		sig, err := root.Sign(e, data, a.now())
		if err != nil {
			return nil, err
		}
		all = append(all, sig)
	}
	return root.Merge(all...)
}

func (a *app) newPublishCmd() *cobra.Command {
	var to, prepare, from, passFile, publicURL string
	var rootKeys []string
	var expires time.Duration
	c := &cobra.Command{
		Use:   "publish --to URL --root-key FILE | --prepare DIR | --from DIR --to URL",
		Short: "Sign and upload pubkeys.pgp, revoked.pgp, their signatures and the manifest",
		Long: `publish builds the signed keyring from the store (pubkeys.pgp, revoked.pgp,
their root signatures, the root sets and keyctl-manifest.json; see
docs/manifest.md) and uploads it, with the trust page keyctl/index.html built
from it, to a bucket: file:///dir, a plain directory, gs://bucket/prefix,
s3://bucket/prefix, or an OCI registry namespace oci://HOST/PATH (one
artifact in HOST/PATH/keyctl, tagged current and vN; see docs/manifest.md,
"OCI registries").

Directly, with root secret key files at hand:
  keyctl publish --to gs://charts/ --root-key root.key

Offline, with the root keys elsewhere (M of N holders):
  keyctl publish --prepare DIR           # no secret needed
  keyctl root review DIR --root-set sha256:HEX               # what changes, and the files to sign
  keyctl root sign DIR --root-set sha256:HEX --root-key FILE # each holder, or gpg --detach-sign of those files
  keyctl publish --from DIR --to URL     # refuses below the threshold`,
		RunE: func(cmd *cobra.Command, args []string) error {
			modes := 0
			for _, set := range []bool{prepare != "", from != "", len(rootKeys) > 0} {
				if set {
					modes++
				}
			}
			if modes != 1 {
				return fail.Inputf("give exactly one of --root-key, --prepare or --from").
					WithHint("keyctl publish --to URL --root-key FILE signs and uploads at once; --prepare/--from split it for offline root keys")
			}
			if prepare != "" {
				return a.publishPrepare(prepare, expires)
			}
			if to == "" {
				return fail.Inputf("--to is required").WithHint("e.g. --to ./site, --to file:///srv/charts or --to gs://bucket/charts")
			}
			if publicURL != "" {
				if err := page.CheckPublicURL(publicURL); err != nil {
					return err
				}
			}
			if from != "" {
				return a.publishFrom(from, to, publicURL)
			}
			return a.publishDirect(to, rootKeys, passFile, expires, publicURL)
		},
	}
	f := c.Flags()
	f.StringVar(&to, "to", "", "where to publish: a directory, file://, gs://bucket/prefix, s3://bucket/prefix, oci://HOST/PATH")
	f.StringSliceVar(&rootKeys, "root-key", nil, "root secret key file (repeatable for M of N)")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the root key passphrase")
	f.StringVar(&prepare, "prepare", "", "write the files to sign into this new directory and stop")
	f.StringVar(&from, "from", "", "publish a directory prepared and signed offline")
	f.StringVar(&a.logKeyFile, "log-key", "", "transparency log secret key file (needed when the root set names a log; see docs/manifest.md)")
	f.StringVar(&publicURL, "public-url", "", "the http(s) address people read the repository from, filled into the trust page's commands (default: the --to location)")
	durationFlag(f, &expires, "expires", root.DefaultManifestValidity, "how long the manifest is valid, e.g. 90d or 2160h; clients refuse it after that")
	return c
}

func (a *app) publishPrepare(dir string, expires time.Duration) error {
	s, err := a.openStore(true)
	if err != nil {
		return err
	}
	defer s.Close()
	b, err := release.Prepare(s, expires, a.now())
	if err != nil {
		return err
	}
	if err := a.warnExpiringKeys(s, b.Manifest.Expires); err != nil {
		return err
	}
	// The manifest published now goes along, unsigned, so that root holders
	// see what changes (keyctl root review); the new manifest binds it by hash.
	var previous []byte
	anchor, err := storeAnchor(s)
	if err != nil {
		return err
	}
	if b.Manifest.Previous != "" {
		info, err := s.Info()
		if err != nil {
			return err
		}
		if previous = info.Published.Manifest; root.Hash(previous) != b.Manifest.Previous {
			return fail.Inputf("the store does not hold the manifest it last published (version %d)", info.Published.Version).
				WithHint("publish directly once with --root-key, or restore the store from a backup")
		}
		// Its root signatures let holders authenticate it (root review).
		anchor.PreviousSigs = info.Published.ManifestSigs
		if len(anchor.PreviousSigs) == 0 {
			a.warn("the store does not hold the signatures of manifest version %d (it was published by an older keyctl): root holders cannot authenticate it until you copy the live keyctl/sha256/%s.sig to %s", info.Published.Version, b.Manifest.Previous, filepath.Join(dir, root.AnchorDir, root.PreviousManifest+root.SigSuffix))
		}
	}
	if err := root.WriteDirAnchored(dir, b.Files, previous, anchor); err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(map[string]any{"dir": dir, "version": b.Manifest.Version, "files": sortedKeys(b.Files), "expires": b.Manifest.Expires})
	}
	tprintf(a.stdout, "prepared manifest version %d in %s (expires %s)\n", b.Manifest.Version, dir, b.Manifest.Expires.Format(time.RFC3339))
	for _, n := range sortedKeys(b.Files) {
		tprintf(a.stdout, "  %s\n", n)
	}
	tprintf(a.stdout, "next: each root holder runs keyctl root sign %s --root-set %s --root-key FILE (or keyctl root review and gpg, see docs/manifest.md),\nthen: keyctl publish --from %s --to URL\n", dir, pinHint(anchor), dir)
	return nil
}

func (a *app) publishDirect(to string, keyFiles []string, passFile string, expires time.Duration, publicURL string) error {
	signers, err := a.loadRootSecrets(keyFiles, passFile)
	if err != nil {
		return err
	}
	s, err := a.openStore(false)
	if err != nil {
		return err
	}
	defer s.Close()
	bucket, err := a.openBucketAdopting(s, to)
	if err != nil {
		return err
	}
	defer bucket.Close()
	b, err := release.Prepare(s, expires, a.now())
	if err != nil {
		return err
	}
	if err := a.warnExpiringKeys(s, b.Manifest.Expires); err != nil {
		return err
	}
	sigs := map[string][]byte{}
	for name, data := range b.Files {
		if sigs[name], err = a.signWith(signers, data); err != nil {
			return err
		}
	}
	return a.upload(s, b.Files, sigs, b.Manifest, bucket, publicURL)
}

// expiryWarnWindow is how far ahead publish and status warn of a key's
// expiry at least (publish also warns of any expiry before the new
// manifest's own).
const expiryWarnWindow = 30 * 24 * time.Hour

// warnExpiringKeys warns of active keys that expire before the manifest
// being published does, or within expiryWarnWindow: once a key has
// expired, its signatures are trusted only with a ledger record from before
// the expiry (docs/verify.md), so it should be extended first.
func (a *app) warnExpiringKeys(s *ring.Store, until time.Time) error {
	keys, err := s.List(false)
	if err != nil {
		return err
	}
	now := a.now()
	if lim := now.Add(expiryWarnWindow); until.Before(lim) {
		until = lim
	}
	for _, k := range keys {
		if k.Expires == nil || !k.Expires.Before(until) {
			continue
		}
		verb := "expires"
		if k.Expires.Before(now) {
			verb = "has expired"
		}
		a.warn("maintainer key %s %s %s: after that, charts it signed are trusted only with a ledger record from before (extend it: gpg --quick-set-expire, then keyctl update; see docs/runbook.md)",
			k.Fingerprint, verb, k.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// openBucketAdopting opens the publish target and first records a publish
// of this store that went live there without being recorded (a publish
// killed after its manifest went up): release.Adopt.
func (a *app) openBucketAdopting(s *ring.Store, to string) (*publish.Bucket, error) {
	reg, err := a.registry(nil)
	if err != nil {
		return nil, err
	}
	bucket, err := client.OpenLocation(context.Background(), to, reg)
	if err != nil {
		return nil, err
	}
	v, err := release.Adopt(context.Background(), s, bucket, a.who(), a.now())
	if err != nil {
		bucket.Close()
		return nil, err
	}
	if v > 0 {
		a.info("recorded manifest version %d, which an earlier publish from this store put live at %s without recording it", v, bucket.Location())
	}
	return bucket, nil
}

func (a *app) publishFrom(dir, to, publicURL string) error {
	// The same review the holders saw: only the files it names, checked
	// against the manifest, are verified and uploaded.
	r, err := root.ReviewDir(dir)
	if err != nil {
		return err
	}
	if r.Manifest == nil {
		return fail.Inputf("%s is a rotation directory, not a publish", dir).WithHint("take it in with keyctl root rotate --from " + dir)
	}
	files, sigs := map[string][]byte{}, map[string][]byte{}
	for _, n := range r.Sign {
		f, _ := r.Prepared.File(n)
		files[f.Name], sigs[f.Name] = f.Data, f.Sigs
	}
	s, err := a.openStore(false)
	if err != nil {
		return err
	}
	defer s.Close()
	bucket, err := a.openBucketAdopting(s, to)
	if err != nil {
		return err
	}
	defer bucket.Close()
	return a.upload(s, files, sigs, nil, bucket, publicURL)
}

func (a *app) upload(s *ring.Store, files, sigs map[string][]byte, fresh *root.Manifest, bucket *publish.Bucket, publicURL string) error {
	signed, err := release.Check(s, files, sigs, fresh, a.now())
	if err != nil {
		return err
	}
	if a.logKeyFile != "" {
		if signed.LogSigner, err = readLogSigner(a.logKeyFile); err != nil {
			return err
		}
	}
	signed.PublicURL = publicURL
	info, err := s.Info()
	if err != nil {
		return err
	}
	ctx := context.Background()
	expect := ""
	if info.Published != nil && info.Published.Location == bucket.Location() {
		expect = info.Published.SHA256
	}
	live, uerr := signed.Upload(ctx, s, bucket, expect, a.now())
	if !live {
		return uerr
	}
	if err := signed.Record(s, bucket.Location(), a.who()); err != nil {
		return fail.Hint(err, "the publish is live, but the store did not record it; the next publish may report a conflict: re-run it")
	}
	if uerr != nil {
		return fail.Hint(uerr, fmt.Sprintf("manifest version %d is live and recorded; clients are consistent (they read the content-addressed copies)", signed.Manifest.Version),
			"run keyctl publish again to bring pubkeys.pgp, revoked.pgp and their .sig up to date for helm verify and gpgv users")
	}
	m := signed.Manifest
	if a.json() {
		return a.printJSON(map[string]any{
			"location": bucket.Location(), "version": m.Version, "manifest_sha256": root.Hash(files[root.ManifestName]),
			"expires": m.Expires, "log_size": signed.LogSize, "signers": signed.Signers[root.ManifestName], "active_keys": countStatus(m, root.Active), "removed_keys": countStatus(m, root.Removed),
		})
	}
	tprintf(a.stdout, "published manifest version %d to %s\n", m.Version, bucket.Location())
	tprintf(a.stdout, "  %d active keys in %s, %d removed in %s\n", countStatus(m, root.Active)-len(m.IndexKeys()), root.PubkeysFile, countStatus(m, root.Removed), root.RevokedFile)
	if n := len(m.IndexKeys()); n > 0 {
		tprintf(a.stdout, "  %d index key%s in %s (keyctl-index.json signers, never chart signers)\n", n, plural(n), root.IndexKeysFile)
	}
	tprintf(a.stdout, "  signed by %s\n", strings.Join(signed.Signers[root.ManifestName], ", "))
	tprintf(a.stdout, "  expires %s\n", m.Expires.Format(time.RFC3339))
	if signed.LogSize > 0 {
		tprintf(a.stdout, "  logged: transparency log of %d entries (keyctl/log/checkpoint)\n", signed.LogSize)
	}
	return nil
}

func countStatus(m *root.Manifest, st root.Status) int {
	n := 0
	for _, k := range m.Keys {
		if k.Status == st {
			n++
		}
	}
	return n
}

func (a *app) rootSubcommands() []*cobra.Command {
	return []*cobra.Command{a.newRootSignCmd(), a.newRootReviewCmd(), a.newRootRotateCmd()}
}

func (a *app) newRootSignCmd() *cobra.Command {
	var pins holderPins
	var keyFiles []string
	var passFile string
	c := &cobra.Command{
		Use:   "sign DIR --root-key FILE",
		Short: "Sign a directory written by publish --prepare or root rotate --prepare (offline)",
		Long: `sign checks the directory as root review does: it re-derives the one manifest
(or root set) the directory is for and refuses any other file, naming it.
It authenticates the directory against the root set you pin (--root-set
sha256:HEX or KEYCTL_ROOT_SET, or --root FPR... --threshold N; the same pin
clients use): the directory's root set chain must lead from the pinned set
to the current one, and the published manifest it compares against must be
signed by a threshold of its root set. Without a pin it refuses (except for
a first publish). It prints the full change against the published manifest
(for a rotation: every root key kept, dropped, added, and the threshold) on
stderr before it asks for a passphrase, then signs exactly the checked
files into NAME.sig. See docs/manifest.md, "Offline signing".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(keyFiles) == 0 {
				return fail.Inputf("--root-key is required").WithHint("a holder with the key in gpg signs with gpg --detach-sign; see docs/manifest.md")
			}
			// Review first, before any passphrase: the holder decides on the
			// full change, and exactly the reviewed bytes are signed.
			r, err := a.reviewAnchored(args[0], pins, true)
			if err != nil {
				return err
			}
			r.Write(a.stderr)
			signers, err := a.loadRootSecrets(keyFiles, passFile)
			if err != nil {
				return err
			}
			var signed []string
			for _, e := range signers {
				names, err := r.SignWith(e, a.now())
				if err != nil {
					return err
				}
				signed = names
				if !a.json() {
					tprintf(a.stdout, "signed %s with root key %s\n", strings.Join(names, ", "), pgpkey.Fingerprint(e))
				}
			}
			if a.json() {
				fprs := []string{}
				for _, e := range signers {
					fprs = append(fprs, pgpkey.Fingerprint(e))
				}
				return a.printJSON(map[string]any{"dir": args[0], "files": signed, "signers": fprs})
			}
			return nil
		},
	}
	c.Flags().StringSliceVar(&keyFiles, "root-key", nil, "root secret key file (repeatable)")
	c.Flags().StringVar(&passFile, "passphrase-file", "", "file holding the root key passphrase")
	pins.flags(c)
	return c
}

func (a *app) newRootReviewCmd() *cobra.Command {
	var pins holderPins
	var filesOnly bool
	c := &cobra.Command{
		Use:   "review DIR",
		Short: "Show what a signing directory asks root holders to sign, and which files (read-only, no key)",
		Long: `review checks a directory written by publish --prepare or root rotate --prepare
as root sign does, and prints the same summary: the manifest's repository,
version, issue time and expiry, every key added, dropped or changed against
the manifest published now (fingerprint, user IDs, status, scope, expiry),
the root sets to sign (for a rotation: every root key of the current set
kept, dropped or added, and the threshold), and exactly the files to sign.
Pass your pin (--root-set sha256:HEX, KEYCTL_ROOT_SET, or --root FPR...
--threshold N) to authenticate the comparison; without one the summary is
marked as not authenticated. A holder who signs
with gpg --detach-sign runs it first and signs those files only; see
docs/manifest.md. It exits 2 on a directory that holds anything else.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := a.reviewAnchored(args[0], pins, false)
			if err != nil {
				return err
			}
			if filesOnly {
				// For scripts (the gpg loop of docs/manifest.md): checked
				// names only; the summary goes to stderr.
				r.Write(a.stderr)
				for _, n := range r.Sign {
					tprintln(a.stdout, n)
				}
				return nil
			}
			if a.json() {
				out := map[string]any{"dir": args[0], "sign": r.Sign}
				if m := r.Manifest; m != nil {
					out["manifest"] = map[string]any{"repository": m.Repository, "version": m.Version, "issued": m.Issued, "expires": m.Expires, "sha256": r.ManifestSHA256}
					if r.Previous != nil {
						out["previous"] = map[string]any{"version": r.Previous.Version, "sha256": m.Previous}
					}
				}
				out["authenticated"] = r.Anchor.Pinned
				if c := r.Anchor.Current; c != nil {
					out["current_root_set"] = map[string]any{"version": c.Version, "threshold": c.Threshold, "fingerprints": c.Fingerprints(), "sha256": r.Anchor.Hashes[c.Version]}
				}
				return a.printJSON(out)
			}
			r.Write(a.stdout)
			tprintf(a.stdout, "with gpg, per file F of that list: gpg --local-user FPR --detach-sign --digest-algo SHA512 -o %s/F.sigs/NAME.sig %s/F\n", args[0], args[0])
			return nil
		},
	}
	c.Flags().BoolVar(&filesOnly, "files", false, "print only the names of the files to sign, one a line (summary on stderr)")
	pins.flags(c)
	return c
}

func (a *app) newRootRotateCmd() *cobra.Command {
	var add, remove, keyFiles []string
	var threshold int
	var prepare, from, passFile, logKey string
	c := &cobra.Command{
		Use:   "rotate [--add PUBFILE]... [--remove FPR]... [--threshold N] (--root-key FILE... | --prepare DIR | --from DIR)",
		Short: "Add, replace or remove root keys; the new set is signed by a threshold of the old and of the new",
		Long: `rotate makes root set N+1. It must be signed by a threshold of the current set
and by a threshold of the new set, so clients pinned to an old root walk
forward to the new one through the published chain.

  keyctl root rotate --add new.pub --remove OLDFPR --root-key old.key --root-key new.key
or offline:
  keyctl root rotate --add new.pub --remove OLDFPR --prepare DIR
  keyctl root sign DIR --root-set sha256:HEX --root-key FILE  # old and new holders
  keyctl root rotate --from DIR

The next keyctl publish publishes the chain and signs with the new set.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(false)
			if err != nil {
				return err
			}
			defer s.Close()
			links, err := s.RootLinks()
			if err != nil {
				return err
			}
			if len(links) == 0 {
				return fail.Inputf("the store has no root set").WithHint("run keyctl init first")
			}
			cur, err := root.ParseRootSet(links[len(links)-1].Data)
			if err != nil {
				return err
			}
			var data, sigs []byte
			if from != "" {
				if len(add)+len(remove) > 0 || threshold != 0 || len(keyFiles) > 0 || logKey != "" {
					return fail.Inputf("--from takes no other rotation flags: the directory holds the new set")
				}
				r, err := root.ReviewDir(from)
				if err != nil {
					return err
				}
				if r.Manifest != nil {
					return fail.Inputf("%s is not a rotation directory (it holds a manifest)", from).WithHint("make one with keyctl root rotate --prepare DIR")
				}
				f := r.Prepared.Files[0]
				data, sigs = f.Data, f.Sigs
			} else {
				ents, err := a.readRootPublics(add)
				if err != nil {
					return err
				}
				var rm []string
				for _, r := range remove {
					fpr, err := pgpkey.ParseFingerprint(r)
					if err != nil {
						return fail.Inputf("--remove: %v", err)
					}
					rm = append(rm, fpr)
				}
				next, err := root.Rotate(cur, ents, rm, threshold, a.now())
				if err != nil {
					return err
				}
				if logKey != "" {
					if next.Log, err = readLogPublic(logKey); err != nil {
						return err
					}
				}
				if data, err = next.Marshal(); err != nil {
					return err
				}
				if prepare != "" {
					name := fmt.Sprintf("rootset-%d.json", next.Version)
					anchor, err := storeAnchor(s)
					if err != nil {
						return err
					}
					if err := root.WriteDirAnchored(prepare, map[string][]byte{name: data}, nil, anchor); err != nil {
						return err
					}
					tprintf(a.stdout, "prepared root set %d in %s: %d of %s\n", next.Version, prepare, next.Threshold, strings.Join(next.Fingerprints(), ", "))
					tprintf(a.stdout, "next: a threshold of the current holders (%d of %s) and of the new set sign it with keyctl root sign %s --root-key FILE,\nthen: keyctl root rotate --from %s\n", cur.Threshold, strings.Join(cur.Fingerprints(), ", "), prepare+" --root-set "+pinHint(anchor), prepare)
					return nil
				}
				if len(keyFiles) == 0 {
					return fail.Inputf("give --root-key files (old and new holders) or --prepare DIR")
				}
				signers, err := a.loadRootSecrets(keyFiles, passFile)
				if err != nil {
					return err
				}
				if sigs, err = a.signWith(signers, data); err != nil {
					return err
				}
			}
			next, err := root.VerifyLink(cur, data, sigs, a.now())
			if err != nil {
				return err
			}
			if err := s.PutRootSet(ring.RootLink{Version: next.Version, Data: data, Sigs: sigs},
				fmt.Sprintf("root set %d: %d of %s", next.Version, next.Threshold, strings.Join(next.Fingerprints(), ",")), a.who()); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(map[string]any{"version": next.Version, "threshold": next.Threshold, "root_fingerprints": next.Fingerprints(), "root_set_pin": root.PinOf(data)})
			}
			tprintf(a.stdout, "root set %d is current: %d of %s\n", next.Version, next.Threshold, strings.Join(next.Fingerprints(), ", "))
			tprintf(a.stdout, "new clients pin it: keyctl verify --root-set %s\n", root.PinOf(data))
			tprintln(a.stdout, "next: keyctl publish (signed by the new root set); clients pinned to older root sets follow the chain")
			return nil
		},
	}
	f := c.Flags()
	f.StringSliceVar(&add, "add", nil, "root public key file to add (a key already in the set is replaced: refreshed expiry)")
	f.StringSliceVar(&remove, "remove", nil, "root fingerprint to remove")
	f.IntVar(&threshold, "threshold", 0, "signatures needed in the new set (default: unchanged)")
	f.StringSliceVar(&keyFiles, "root-key", nil, "root secret key files that sign the new set now (old and new holders)")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the root key passphrase")
	f.StringVar(&prepare, "prepare", "", "write the new root set into this new directory for offline signing")
	f.StringVar(&from, "from", "", "take in a rotation directory signed offline")
	f.StringVar(&logKey, "log-key", "", "transparency log public key file to name in the new set (keyctl log-key create)")
	return c
}

func (a *app) newStatusCmd() *cobra.Command {
	var within time.Duration
	c := &cobra.Command{
		Use:   "status [--within DURATION]",
		Short: "Store summary; what expires soon (exit 1 when something needs action)",
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := a.openStore(true)
			if err != nil {
				return err
			}
			defer s.Close()
			info, err := s.Info()
			if err != nil {
				return err
			}
			now := a.now()
			limit := now.Add(within)
			var actions []string
			keys, err := s.List(false)
			if err != nil {
				return err
			}
			type soon struct {
				What    string    `json:"what"`
				ID      string    `json:"id"`
				Expires time.Time `json:"expires"`
			}
			var expiring []soon
			roles := map[string]int{string(ring.Maintainer): 0, string(ring.Index): 0}
			for _, k := range keys {
				roles[string(k.RoleOf())]++
				if k.Expires != nil && k.Expires.Before(limit) {
					expiring = append(expiring, soon{string(k.RoleOf()) + " key", k.Fingerprint, *k.Expires})
				}
			}
			rs, err := root.ParseRootSet(info.RootSet)
			if err != nil {
				return err
			}
			ents, err := rs.Entities()
			if err != nil {
				return err
			}
			for _, e := range ents {
				if exp, ok := pgpkey.Expiry(e, now, nil); ok && !exp.IsZero() && exp.Before(limit) {
					expiring = append(expiring, soon{"root key", pgpkey.Fingerprint(e), exp})
				}
			}
			if p := info.Published; p != nil && p.Expires.Before(limit) {
				expiring = append(expiring, soon{"published manifest", fmt.Sprintf("version %d at %s", p.Version, p.Location), p.Expires})
			}
			sort.Slice(expiring, func(i, j int) bool { return expiring[i].Expires.Before(expiring[j].Expires) })
			for _, e := range expiring {
				verb := "expires"
				if e.Expires.Before(now) {
					verb = "expired"
				}
				actions = append(actions, fmt.Sprintf("%s %s %s %s", e.What, e.ID, verb, e.Expires.Format(time.RFC3339)))
			}
			if info.Published == nil {
				actions = append(actions, "nothing has been published from this store")
			}
			if a.json() {
				out := map[string]any{"store": info.Path, "repository": info.Repository, "active_keys": info.Active, "removed_keys": info.Removed,
					"active_keys_by_role": roles,
					"root_set":            map[string]any{"version": rs.Version, "threshold": rs.Threshold, "fingerprints": rs.Fingerprints(), "pin": root.PinOf(info.RootSet)},
					"expiring":            expiring, "needs_action": len(actions) > 0, "log_records": info.LogRecords}
				if p := info.Published; p != nil {
					out["published"] = map[string]any{"version": p.Version, "location": p.Location, "time": p.Time, "expires": p.Expires, "sha256": p.SHA256}
				}
				if err := a.printJSON(out); err != nil {
					return err
				}
			} else {
				w := a.stdout
				tprintf(w, "store        %s\n", info.Path)
				tprintf(w, "repository   %s\n", info.Repository)
				tprintf(w, "keys         %d active (%d maintainer, %d index), %d removed\n", info.Active, roles[string(ring.Maintainer)], roles[string(ring.Index)], info.Removed)
				tprintf(w, "root set     %d: %d of %s\n", rs.Version, rs.Threshold, strings.Join(rs.Fingerprints(), ", "))
				tprintf(w, "root pin     --root-set %s\n", root.PinOf(info.RootSet))
				if p := info.Published; p != nil {
					tprintf(w, "published    version %d to %s on %s, expires %s\n", p.Version, p.Location, p.Time.Format(time.RFC3339), p.Expires.Format(time.RFC3339))
				} else {
					tprintln(w, "published    never")
				}
				if len(actions) == 0 {
					tprintf(w, "nothing expires within %s\n", policy.Duration(within))
				}
				for _, act := range actions {
					tprintf(w, "needs action: %s\n", act)
				}
			}
			if len(actions) > 0 {
				return &fail.Error{Kind: fail.Untrusted, Msg: fmt.Sprintf("%d item(s) need action within %s", len(actions), policy.Duration(within)),
					Hints: []string{"extend keys with gpg --quick-set-expire and keyctl update (docs/runbook.md); once a key has expired, charts it signed are trusted only with a ledger record from before the expiry",
						"re-publish before the manifest expires"}}
			}
			return nil
		},
	}
	durationFlag(c.Flags(), &within, "within", expiryWarnWindow, "window for expiry warnings, e.g. 30d or 2w")
	return c
}
