package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/policy"
)

func (a *app) newIndexCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "index",
		Short: "Sign a repository's index.yaml with an index key (keyctl-index.json)",
	}
	var key, passFile, id string
	var expires time.Duration
	sign := &cobra.Command{
		Use:   "sign DIR|index.yaml --key SECRETFILE [--expires D] [--id REPOSITORY]",
		Short: "Write keyctl-index.json and keyctl-index.json.sig next to index.yaml",
		Long: `index sign writes keyctl-index.json, a statement that binds the exact bytes of index.yaml
(SHA-256 and length) to the repository identity, an issue time and a short expiry, and
keyctl-index.json.sig, its detached signature by an index key (keyctl add KEYFILE --role index).

Run it in CI after helm repo index or chart-releaser, at every index change and on a schedule
shorter than --expires. When the repository's manifest names index keys, keyctl verify REPO/CHART,
audit and ledger record accept index.yaml only with a valid, unexpired statement that is not older
than the last one they saw; its chart URLs may then point at other hosts (GitHub Releases).
See docs/verify.md, "Signed index".

The repository identity comes from --id, else from keyctl-manifest.json in the same folder.

  keyctl index sign ./gh-pages --key "$INDEX_KEY_FILE" --passphrase-file "$PASS_FILE"
  keyctl index sign public/index.yaml --key ci-index.gpg --expires 3d --id charts.example.org`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.indexSign(args[0], key, passFile, id, expires)
		},
	}
	f := sign.Flags()
	f.StringVar(&key, "key", "", "the index key's secret key file (armored or binary)")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the key's passphrase")
	f.StringVar(&id, "id", "", "repository identity (default: the one keyctl-manifest.json next to index.yaml names)")
	durationFlag(f, &expires, "expires", indexsig.DefaultValidity, "validity of the statement, e.g. 7d (at most 90d)")
	c.AddCommand(sign)
	return c
}

func (a *app) indexSign(target, keyFile, passFile, id string, validity time.Duration) error {
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
	if _, err := client.ParseIndex(index); err != nil {
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
	s, err := indexsig.New(id, index, a.now(), validity)
	if err != nil {
		return err
	}
	out := filepath.Join(dir, indexsig.Name)
	// Issue times only grow: clients refuse an older statement than the
	// one they saw, so a statement dated at or before the one in place
	// (a CI clock behind the last signer's) would lock them out.
	if old, err := os.ReadFile(out); err == nil {
		if prev, perr := indexsig.Parse(old); perr == nil && !s.Issued.After(prev.Issued) {
			return fail.Inputf("%s in place was issued %s, not before now (%s): issue times only grow", out, prev.Issued.Format(time.RFC3339), s.Issued.Format(time.RFC3339)).
				WithHint("check this machine's clock; wait a second and sign again")
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fail.Inputf("cannot read %s", out).Wrap(errors.Unwrap(err))
	}
	data, sig, err := indexsig.Sign(s, signer)
	if err != nil {
		return err
	}
	// The signature first, the statement it signs last.
	if err := writeFileAtomic(out+root.SigSuffix, sig, 0o644); err != nil {
		return err
	}
	if err := writeFileAtomic(out, data, 0o644); err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(map[string]any{"statement": out, "signature": out + root.SigSuffix, "repository": s.Repository,
			"index_sha256": s.IndexSHA256, "index_length": s.IndexLength, "issued": s.Issued, "expires": s.Expires, "signer": pgpkey.Fingerprint(signer)})
	}
	tprintf(a.stdout, "signed %s (%d bytes, sha256 %s) for repository %s\n", indexPath, s.IndexLength, s.IndexSHA256, s.Repository)
	tprintf(a.stdout, "  wrote %s and %s, by index key %s, expires %s\n", out, filepath.Base(out)+root.SigSuffix, pgpkey.Fingerprint(signer), s.Expires.Format(time.RFC3339))
	tprintf(a.stdout, "  publish both with index.yaml; re-sign before it expires (valid for %s)\n", policy.Duration(validity))
	return nil
}
