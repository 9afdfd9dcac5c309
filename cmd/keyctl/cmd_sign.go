package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/spf13/cobra"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
)

func (a *app) newSignCmd() *cobra.Command {
	var key, passFile, repo string
	var force bool
	var vo verifyOpts
	c := &cobra.Command{
		Use:   "sign CHART.tgz --key SECRETFILE [--passphrase-file F]",
		Short: "Write CHART.tgz.prov in Helm's format, signing an existing archive",
		Long: `sign writes the provenance file that helm verify, helm install --verify and keyctl verify
check, next to the archive, without repackaging it. It signs with the key's newest valid
signing subkey, or the primary key when that may sign.

When a repository is configured (keyctl repo add, or --repo) and reachable, sign warns when
its governed keyring would not trust the result: the key is not active there, or the
chart is outside the key's scopes.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if key == "" {
				return fail.Inputf("--key is required").WithHint("give the secret key file: gpg --export-secret-keys FPR > key.gpg")
			}
			return a.sign(cmd, args[0], key, passFile, repo, vo, force)
		},
	}
	f := c.Flags()
	f.StringVar(&key, "key", "", "secret key file (armored or binary)")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the key's passphrase")
	f.StringVar(&repo, "repo", "", "repository to check the key against (default: the only configured one)")
	f.BoolVar(&force, "force", false, "overwrite an existing .prov")
	f.StringSliceVar(&vo.roots, "root", nil, "pinned root fingerprint, for a --repo given as a location")
	f.IntVar(&vo.threshold, "threshold", 0, "root signatures needed (default 1)")
	f.StringVar(&vo.state, "state", "", "client state folder (default $XDG_STATE_HOME/keyctl)")
	return c
}

func (a *app) sign(cmd *cobra.Command, chart, keyFile, passFile, repo string, vo verifyOpts, force bool) error {
	out := chart + ".prov"
	if _, err := os.Stat(out); err == nil && !force {
		return fail.Inputf("%s already exists", out).WithHint("use --force to replace it")
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail.Inputf("cannot check %s", out).Wrap(errors.Unwrap(err))
	}
	archive, err := a.readInput(chart, provenance.DefaultLimits.MaxArchive)
	if err != nil {
		return err
	}
	keyData, err := a.readInput(keyFile, pgpkey.MaxCertSize)
	if err != nil {
		return err
	}
	signer, err := client.LoadSigner(keyData, a.passphrase(passFile, "key "+filepath.Base(keyFile)))
	if err != nil {
		return err
	}
	if plugin, perr := provenance.ReadPlugin(bytes.NewReader(archive), provenance.DefaultLimits); perr == nil {
		return a.signPlugin(signer, plugin, chart, out)
	}
	s, err := client.SignChart(signer, archive, filepath.Base(chart), a.now())
	if err != nil {
		return err
	}
	warnings := a.signWarnings(cmd, repo, vo, s, filepath.Base(chart))
	if err := writeFileAtomic(out, s.Prov, 0o644); err != nil {
		return err
	}
	for _, w := range warnings {
		a.warn("%s", w)
	}
	sig := s.Signature
	uid := ""
	if uids := pgpkey.ValidUserIDs(signer, a.now(), nil); len(uids) > 0 {
		uid = uids[0]
	}
	if a.json() {
		return a.printJSON(map[string]any{
			"prov": out, "chart": s.Archive.Name, "version": s.Archive.Version, "signer": sig.PrimaryFingerprint,
			"signer_user_id": uid, "signing_key": sig.KeyFingerprint, "subkey": sig.KeyFingerprint != sig.PrimaryFingerprint,
			"signed_at": sig.Created.UTC(), "warnings": warnings,
		})
	}
	tprintf(a.stdout, "signed %s %s: wrote %s\n", s.Archive.Name, s.Archive.Version, out)
	tprintf(a.stdout, "  signer:      %s %s\n", sig.PrimaryFingerprint, uid)
	if sig.KeyFingerprint != sig.PrimaryFingerprint {
		tprintf(a.stdout, "  signing key: %s (subkey)\n", sig.KeyFingerprint)
	}
	return nil
}

// signPlugin signs a Helm plugin archive (plugin.yaml at its top) for
// Helm 4's `helm plugin install --verify`.
func (a *app) signPlugin(signer *openpgp.Entity, p *provenance.Plugin, archive, out string) error {
	prov, err := provenance.SignPlugin(signer, p, filepath.Base(archive), a.now())
	if err != nil {
		return err
	}
	if err := writeFileAtomic(out, prov, 0o644); err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(map[string]any{"prov": out, "plugin": p.Name, "version": p.Version, "signer": pgpkey.Fingerprint(signer)})
	}
	tprintf(a.stdout, "signed Helm plugin %s %s: wrote %s\n", p.Name, p.Version, out)
	tprintf(a.stdout, "  signer:      %s\n", pgpkey.Fingerprint(signer))
	return nil
}

// signWarnings checks the new signature against a configured repository's
// governed keyring, when there is one and it can be reached.
func (a *app) signWarnings(cmd *cobra.Command, repo string, vo verifyOpts, s *client.Signed, archiveName string) []string {
	if repo == "" {
		repos, err := a.repositories()
		if err != nil {
			return []string{err.Error()}
		}
		if len(repos) != 1 {
			return nil
		}
		repo = repos[0].Name
	}
	target, err := a.resolveRepo(cmd, repo, vo)
	if err != nil {
		return []string{"cannot check the key against repository " + repo + ": " + err.Error()}
	}
	t, err := client.Load(context.Background(), target.opts)
	if err != nil {
		return []string{"cannot check the key against repository " + repo + ": " + err.Error()}
	}
	d := t.Check(s.Parsed, archiveName, s.Archive, nil)
	if d.Trusted {
		return nil
	}
	return []string{fmt.Sprintf("repository %s (%s, manifest version %d) would not trust this chart: %s",
		repo, t.Manifest.Repository, t.Manifest.Version, d.Reason)}
}
