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

	"github.com/keyctl/keyctl/internal/fail"
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
	var to, prepare, from, passFile string
	var rootKeys []string
	var expires time.Duration
	c := &cobra.Command{
		Use:   "publish --to URL --root-key FILE | --prepare DIR | --from DIR --to URL",
		Short: "Sign and upload pubkeys.pgp, revoked.pgp, their signatures and the manifest",
		Long: `publish builds what SPEC §2 lists from the store and uploads it to a bucket:
file:///dir, a plain directory, gs://bucket/prefix, s3://bucket/prefix.

Directly, with root secret key files at hand:
  keyctl publish --to gs://charts/ --root-key root.key

Offline, with the root keys elsewhere (M of N holders):
  keyctl publish --prepare DIR           # no secret needed
  keyctl root sign DIR --root-key FILE   # each holder, or gpg --detach-sign
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
			if from != "" {
				return a.publishFrom(from, to)
			}
			return a.publishDirect(to, rootKeys, passFile, expires)
		},
	}
	f := c.Flags()
	f.StringVar(&to, "to", "", "where to publish: a directory, file://, gs://bucket/prefix, s3://bucket/prefix")
	f.StringSliceVar(&rootKeys, "root-key", nil, "root secret key file (repeatable for M of N)")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the root key passphrase")
	f.StringVar(&prepare, "prepare", "", "write the files to sign into this new directory and stop")
	f.StringVar(&from, "from", "", "publish a directory prepared and signed offline")
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
	if err := root.WriteDir(dir, b.Files); err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(map[string]any{"dir": dir, "version": b.Manifest.Version, "files": sortedKeys(b.Files), "expires": b.Manifest.Expires})
	}
	fmt.Fprintf(a.stdout, "prepared manifest version %d in %s (expires %s)\n", b.Manifest.Version, dir, b.Manifest.Expires.Format(time.RFC3339))
	for _, n := range sortedKeys(b.Files) {
		fmt.Fprintf(a.stdout, "  %s\n", n)
	}
	fmt.Fprintf(a.stdout, "next: each root holder runs keyctl root sign %s --root-key FILE (or gpg, see docs/manifest.md),\nthen: keyctl publish --from %s --to URL\n", dir, dir)
	return nil
}

func (a *app) publishDirect(to string, keyFiles []string, passFile string, expires time.Duration) error {
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
	return a.upload(s, b.Files, sigs, b.Manifest, bucket)
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
	bucket, err := publish.Open(context.Background(), to, nil)
	if err != nil {
		return nil, err
	}
	v, err := release.Adopt(context.Background(), s, bucket, a.actor, a.now())
	if err != nil {
		bucket.Close()
		return nil, err
	}
	if v > 0 {
		a.info("recorded manifest version %d, which an earlier publish from this store put live at %s without recording it", v, bucket.Location())
	}
	return bucket, nil
}

func (a *app) publishFrom(dir, to string) error {
	p, err := root.LoadDir(dir)
	if err != nil {
		return err
	}
	files, sigs := map[string][]byte{}, map[string][]byte{}
	for _, f := range p.Files {
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
	return a.upload(s, files, sigs, nil, bucket)
}

func (a *app) upload(s *ring.Store, files, sigs map[string][]byte, fresh *root.Manifest, bucket *publish.Bucket) error {
	signed, err := release.Check(s, files, sigs, fresh, a.now())
	if err != nil {
		return err
	}
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
	if err := signed.Record(s, bucket.Location(), a.actor); err != nil {
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
			"expires": m.Expires, "signers": signed.Signers[root.ManifestName], "active_keys": countStatus(m, root.Active), "removed_keys": countStatus(m, root.Removed),
		})
	}
	fmt.Fprintf(a.stdout, "published manifest version %d to %s\n", m.Version, bucket.Location())
	fmt.Fprintf(a.stdout, "  %d active keys in %s, %d removed in %s\n", countStatus(m, root.Active), root.PubkeysFile, countStatus(m, root.Removed), root.RevokedFile)
	fmt.Fprintf(a.stdout, "  signed by %s\n", strings.Join(signed.Signers[root.ManifestName], ", "))
	fmt.Fprintf(a.stdout, "  expires %s\n", m.Expires.Format(time.RFC3339))
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
	return []*cobra.Command{a.newRootSignCmd(), a.newRootRotateCmd()}
}

func (a *app) newRootSignCmd() *cobra.Command {
	var keyFiles []string
	var passFile string
	c := &cobra.Command{
		Use:   "sign DIR --root-key FILE",
		Short: "Sign a directory written by publish --prepare or root rotate --prepare (offline)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(keyFiles) == 0 {
				return fail.Inputf("--root-key is required").WithHint("a holder with the key in gpg signs with gpg --detach-sign; see docs/manifest.md")
			}
			if err := a.describeSigningDir(args[0]); err != nil {
				return err
			}
			signers, err := a.loadRootSecrets(keyFiles, passFile)
			if err != nil {
				return err
			}
			var signed []string
			for _, e := range signers {
				names, err := root.SignDir(args[0], e, a.now())
				if err != nil {
					return err
				}
				signed = names
				if !a.json() {
					fmt.Fprintf(a.stdout, "signed %s with root key %s\n", strings.Join(names, ", "), pgpkey.Fingerprint(e))
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
	return c
}

// describeSigningDir says what a root holder is about to sign, from the
// directory's own files: a manifest's repository, version, expiry and key
// counts (removed keys by name), a root set's keys and threshold. Signing
// is the holder's decision; this is what it decides on.
func (a *app) describeSigningDir(dir string) error {
	p, err := root.LoadDir(dir)
	if err != nil {
		return err
	}
	w := a.stderr
	if a.json() {
		return nil
	}
	for _, f := range p.Files {
		switch {
		case f.Name == root.ManifestName:
			m, err := root.ParseManifest(f.Data)
			if err != nil {
				return err
			}
			var removed []string
			for _, k := range m.Keys {
				if k.Status == root.Removed {
					removed = append(removed, fmt.Sprintf("%s (%s)", k.Fingerprint, k.Reason))
				}
			}
			fmt.Fprintf(w, "keyctl: about to sign manifest version %d for %s, issued %s, expires %s: %d active, %d removed keys\n",
				m.Version, m.Repository, m.Issued.Format(time.RFC3339), m.Expires.Format(time.RFC3339), countStatus(m, root.Active), len(removed))
			for _, r := range removed {
				fmt.Fprintf(w, "keyctl:   removed %s\n", r)
			}
		case strings.HasPrefix(f.Name, "rootset-"):
			rs, err := root.ParseRootSet(f.Data)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "keyctl: about to sign root set %d for %s: %d of %s\n", rs.Version, rs.Repository, rs.Threshold, strings.Join(rs.Fingerprints(), ", "))
		}
	}
	return nil
}

func (a *app) newRootRotateCmd() *cobra.Command {
	var add, remove, keyFiles []string
	var threshold int
	var prepare, from, passFile string
	c := &cobra.Command{
		Use:   "rotate [--add PUBFILE]... [--remove FPR]... [--threshold N] (--root-key FILE... | --prepare DIR | --from DIR)",
		Short: "Add, replace or remove root keys; the new set is signed by a threshold of the old and of the new",
		Long: `rotate makes root set N+1. It must be signed by a threshold of the current set
and by a threshold of the new set, so clients pinned to an old root walk
forward to the new one through the published chain.

  keyctl root rotate --add new.pub --remove OLDFPR --root-key old.key --root-key new.key
or offline:
  keyctl root rotate --add new.pub --remove OLDFPR --prepare DIR
  keyctl root sign DIR --root-key FILE     # old and new holders
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
				if len(add)+len(remove) > 0 || threshold != 0 || len(keyFiles) > 0 {
					return fail.Inputf("--from takes no other rotation flags: the directory holds the new set")
				}
				p, err := root.LoadDir(from)
				if err != nil {
					return err
				}
				if len(p.Files) != 1 {
					return fail.Inputf("%s is not a rotation directory (it holds %d files)", from, len(p.Files)).WithHint("make one with keyctl root rotate --prepare DIR")
				}
				data, sigs = p.Files[0].Data, p.Files[0].Sigs
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
				if data, err = next.Marshal(); err != nil {
					return err
				}
				if prepare != "" {
					name := fmt.Sprintf("rootset-%d.json", next.Version)
					if err := root.WriteDir(prepare, map[string][]byte{name: data}); err != nil {
						return err
					}
					fmt.Fprintf(a.stdout, "prepared root set %d in %s: %d of %s\n", next.Version, prepare, next.Threshold, strings.Join(next.Fingerprints(), ", "))
					fmt.Fprintf(a.stdout, "next: a threshold of the current holders (%d of %s) and of the new set sign it with keyctl root sign %s --root-key FILE,\nthen: keyctl root rotate --from %s\n", cur.Threshold, strings.Join(cur.Fingerprints(), ", "), prepare, prepare)
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
				fmt.Sprintf("root set %d: %d of %s", next.Version, next.Threshold, strings.Join(next.Fingerprints(), ",")), a.actor); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(map[string]any{"version": next.Version, "threshold": next.Threshold, "root_fingerprints": next.Fingerprints()})
			}
			fmt.Fprintf(a.stdout, "root set %d is current: %d of %s\n", next.Version, next.Threshold, strings.Join(next.Fingerprints(), ", "))
			fmt.Fprintln(a.stdout, "next: keyctl publish (signed by the new root set); clients pinned to older roots follow the chain")
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
			for _, k := range keys {
				if k.Expires != nil && k.Expires.Before(limit) {
					expiring = append(expiring, soon{"maintainer key", k.Fingerprint, *k.Expires})
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
					"root_set": map[string]any{"version": rs.Version, "threshold": rs.Threshold, "fingerprints": rs.Fingerprints()},
					"expiring": expiring, "needs_action": len(actions) > 0, "log_records": info.LogRecords}
				if p := info.Published; p != nil {
					out["published"] = map[string]any{"version": p.Version, "location": p.Location, "time": p.Time, "expires": p.Expires, "sha256": p.SHA256}
				}
				if err := a.printJSON(out); err != nil {
					return err
				}
			} else {
				w := a.stdout
				fmt.Fprintf(w, "store        %s\n", info.Path)
				fmt.Fprintf(w, "repository   %s\n", info.Repository)
				fmt.Fprintf(w, "keys         %d active, %d removed\n", info.Active, info.Removed)
				fmt.Fprintf(w, "root set     %d: %d of %s\n", rs.Version, rs.Threshold, strings.Join(rs.Fingerprints(), ", "))
				if p := info.Published; p != nil {
					fmt.Fprintf(w, "published    version %d to %s on %s, expires %s\n", p.Version, p.Location, p.Time.Format(time.RFC3339), p.Expires.Format(time.RFC3339))
				} else {
					fmt.Fprintln(w, "published    never")
				}
				if len(actions) == 0 {
					fmt.Fprintf(w, "nothing expires within %s\n", policy.Duration(within))
				}
				for _, act := range actions {
					fmt.Fprintf(w, "needs action: %s\n", act)
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
