package main

import (
	"bytes"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/root"
)

func (a *app) newRootCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "root",
		Short: "Root keys: create, sign a prepared publish offline, rotate",
	}
	c.AddCommand(a.newRootCreateCmd())
	for _, sub := range a.rootSubcommands() {
		c.AddCommand(sub)
	}
	return c
}

func (a *app) newRootCreateCmd() *cobra.Command {
	var name, secretOut, publicOut, algo, passFile string
	var noPass bool
	var validity time.Duration
	c := &cobra.Command{
		Use:   "create --name NAME --secret-out FILE --public-out FILE",
		Short: "Make a root key (Ed25519 by default, RSA-4096 on request)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if secretOut == "" || publicOut == "" {
				return fail.Inputf("--secret-out and --public-out are required").
					WithHint("e.g. keyctl root create --name 'charts.example.org root' --secret-out root.key --public-out root.pub")
			}
			al, err := root.ParseAlgo(algo)
			if err != nil {
				return err
			}
			var pass []byte
			if !noPass {
				if pass, err = a.newPassphrase(passFile); err != nil {
					return err
				}
			}
			as, _ := filepath.Abs(secretOut)
			ap, _ := filepath.Abs(publicOut)
			if as == ap {
				return fail.Inputf("--secret-out and --public-out name the same file").WithHint("give two files, e.g. root.key and root.pub")
			}
			for _, f := range []string{secretOut, publicOut} {
				if _, err := os.Lstat(f); err == nil {
					return fail.Inputf("%s already exists; keyctl will not overwrite a key file", f).WithHint("choose another name or move the old file away")
				}
			}
			created, err := root.Create(root.CreateOptions{Name: name, Algo: al, Passphrase: pass, Validity: validity}, a.now())
			if err != nil {
				return err
			}
			if err := writeSecret(secretOut, created.Secret); err != nil {
				return err
			}
			pf, err := os.OpenFile(publicOut, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return fail.Inputf("cannot write %s", publicOut).Wrap(err)
			}
			if _, err := pf.Write(created.Public); err != nil {
				pf.Close()
				return fail.Inputf("cannot write %s", publicOut).Wrap(err)
			}
			if err := pf.Close(); err != nil {
				return fail.Inputf("cannot write %s", publicOut).Wrap(err)
			}
			if a.json() {
				return a.printJSON(map[string]any{"fingerprint": created.Fingerprint, "algorithm": al.String(), "secret_out": secretOut, "public_out": publicOut, "passphrase": !noPass})
			}
			tprintf(a.stdout, "root key %s (%s)\n", created.Fingerprint, al)
			tprintf(a.stdout, "secret key: %s (mode 0600; keep it offline)\n", secretOut)
			tprintf(a.stdout, "public key: %s (give it to keyctl init --root-key)\n", publicOut)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&name, "name", "", "a name for the key, e.g. 'charts.example.org root 2026'")
	f.StringVar(&secretOut, "secret-out", "", "where to write the secret key (0600, never overwritten)")
	f.StringVar(&publicOut, "public-out", "", "where to write the public key")
	f.StringVar(&algo, "algorithm", "ed25519", "ed25519 or rsa4096")
	f.StringVar(&passFile, "passphrase-file", "", "file holding the passphrase that protects the secret key")
	f.BoolVar(&noPass, "no-passphrase", false, "write the secret key unprotected (for keys kept on an encrypted offline medium)")
	durationFlag(f, &validity, "validity", 0, "how long the root key is valid, e.g. 5y (default 5 years)")
	return c
}

// newPassphrase gets a passphrase for a new secret key: from a file, the
// KEYCTL_PASSPHRASE variable, or typed twice on a terminal.
func (a *app) newPassphrase(file string) ([]byte, error) {
	if file != "" || os.Getenv("KEYCTL_PASSPHRASE") != "" {
		p, err := a.passphrase(file, "the new key")()
		if err != nil {
			return nil, err
		}
		if len(p) == 0 {
			return nil, fail.Inputf("the passphrase is empty").WithHint("use --no-passphrase to write an unprotected key on purpose")
		}
		return p, nil
	}
	p1, err := a.passphrase("", "the new key")()
	if err != nil {
		return nil, fail.Hint(err, "or pass --no-passphrase to write an unprotected key on purpose")
	}
	p2, err := a.passphrase("", "the new key (again)")()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(p1, p2) || len(p1) == 0 {
		return nil, fail.Inputf("the passphrases are empty or differ")
	}
	return p1, nil
}
