package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/page"
	"github.com/keyctl/keyctl/internal/release"
	"github.com/keyctl/keyctl/internal/root"
)

func (a *app) newPageCmd() *cobra.Command {
	var o verifyOpts
	var out, publicURL string
	c := &cobra.Command{
		Use:   "page --out FILE [--repo URL (--root-set sha256:HEX | --root FPR... [--threshold N])]",
		Short: "Render the trust page (keyctl/index.html) of a published set into a file",
		Long: `page writes the trust page that every publish puts at keyctl/index.html: what the
signed manifest says (root keys and pin, manifest version and expiry, active
and removed keys) and how to verify a chart. See docs/manifest.md.

With --repo it reads the published set and renders it only after every check
that keyctl verify makes under the pinned root set (the client state is
updated the same way). Without --repo it renders the store's last publish.

  keyctl page --repo https://charts.example.org --root-set sha256:HEX --out keys.html
  keyctl page --repo example --out keys.html      # a repository from keyctl repo add
  keyctl page --out keys.html                     # the team lead's store`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fail.Inputf("--out is required").WithHint("e.g. keyctl page --out keys.html, then open keys.html in a browser")
			}
			if publicURL != "" {
				if err := page.CheckPublicURL(publicURL); err != nil {
					return err
				}
			}
			var html []byte
			var version uint64
			var err error
			if o.repo != "" {
				html, version, err = a.pageFromRepo(cmd, o, publicURL)
			} else {
				html, version, err = a.pageFromStore(publicURL)
			}
			if err != nil {
				return err
			}
			if err := writeFileAtomic(out, html, 0o644); err != nil {
				return err
			}
			if a.json() {
				return a.printJSON(map[string]any{"out": out, "manifest_version": version})
			}
			tprintf(a.stdout, "wrote the trust page of manifest version %d to %s\n", version, out)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "", "file to write the page to")
	f.StringVar(&publicURL, "public-url", "", "the http(s) address people read the repository from, for the page's commands (default: --repo, or where the store published)")
	f.StringVar(&o.repo, "repo", "", "render the published set of this repository (a name from keyctl repo add, or its location) instead of the store's last publish")
	f.StringVar(&o.rootSet, "root-set", "", "pinned root set hash, sha256:HEX, with --repo")
	f.StringSliceVar(&o.roots, "root", nil, "pinned root fingerprint (repeatable), with --repo and --threshold")
	f.IntVar(&o.threshold, "threshold", 0, "the root set's threshold, with --root (default 1)")
	f.StringVar(&o.state, "state", "", "client state folder (default $XDG_STATE_HOME/keyctl)")
	f.StringVar(&o.id, "id", "", "expected repository identity, with --repo")
	return c
}

// pageFromRepo renders what client.Load trusted, and nothing else.
func (a *app) pageFromRepo(cmd *cobra.Command, o verifyOpts, publicURL string) ([]byte, uint64, error) {
	t, err := a.resolveRepo(cmd, o.repo, o)
	if err != nil {
		return nil, 0, err
	}
	tr, err := client.Load(context.Background(), t.opts)
	if err != nil {
		return nil, 0, err
	}
	rs, err := tr.RootSet.Marshal()
	if err != nil {
		return nil, 0, err
	}
	loc := t.location
	if publicURL != "" {
		loc = publicURL
	}
	html, err := page.Render(page.Input{
		Manifest:  tr.Manifest,
		RootSet:   rs,
		Pubkeys:   tr.Keyrings[root.PubkeysFile],
		Revoked:   tr.Keyrings[root.RevokedFile],
		IndexKeys: tr.Keyrings[root.IndexKeysFile],
		URL:       loc,
		Now:       tr.Now,
	})
	return html, tr.Manifest.Version, err
}

func (a *app) pageFromStore(publicURL string) ([]byte, uint64, error) {
	s, err := a.openStore(true)
	if err != nil {
		return nil, 0, err
	}
	defer s.Close()
	html, err := release.PublishedPage(s, publicURL, a.now())
	if err != nil {
		return nil, 0, err
	}
	info, err := s.Info()
	if err != nil {
		return nil, 0, err
	}
	return html, info.Published.Version, nil
}
