package main

import (
	"fmt"
	"strings"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/spf13/cobra"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
)

func (a *app) newInitCmd() *cobra.Command {
	var repo, logKey string
	var rootKeys []string
	var threshold int
	c := &cobra.Command{
		Use:   "init --repository ID --root-key PUBFILE... [--threshold N]",
		Short: "Create the store and pin the root key set",
		RunE: func(cmd *cobra.Command, args []string) error {
			if repo == "" {
				return fail.Inputf("--repository is required").WithHint("name the chart repository, e.g. --repository charts.example.org")
			}
			if len(rootKeys) == 0 {
				return fail.Inputf("at least one --root-key is required").
					WithHint("make one offline with: keyctl root create --name NAME --secret-out root.key --public-out root.pub")
			}
			ents, err := a.readRootPublics(rootKeys)
			if err != nil {
				return fail.Hint(err, "init takes root public keys; the secret key stays offline with its holder")
			}
			if threshold < 1 || threshold > len(ents) {
				return fail.Inputf("--threshold %d with %d root keys", threshold, len(ents)).
					WithHint(fmt.Sprintf("the threshold is between 1 and %d", len(ents)))
			}
			set, err := root.NewRootSet(repo, ents, threshold, a.now())
			if err != nil {
				return err
			}
			if logKey != "" {
				if set.Log, err = readLogPublic(logKey); err != nil {
					return err
				}
			}
			data, err := set.Marshal()
			if err != nil {
				return err
			}
			s, err := a.openStore(false)
			if err != nil {
				return err
			}
			defer s.Close()
			detail := fmt.Sprintf("root set 1: %d of %s", threshold, strings.Join(set.Fingerprints(), ","))
			if err := s.Init(repo, ring.RootLink{Version: 1, Data: data}, detail, a.who()); err != nil {
				return err
			}
			pin := root.PinOf(data)
			if a.json() {
				return a.printJSON(map[string]any{"store": s.Path(), "repository": repo, "root_fingerprints": set.Fingerprints(), "threshold": threshold,
					"root_set_version": 1, "root_set_pin": pin})
			}
			tprintf(a.stdout, "initialized %s for repository %s\n", s.Path(), repo)
			tprintf(a.stdout, "root set 1: %d of %d signatures needed\n", threshold, len(ents))
			for _, f := range set.Fingerprints() {
				tprintf(a.stdout, "  root %s\n", f)
			}
			tprintf(a.stdout, "clients pin this root set: keyctl verify --root-set %s\n", pin)
			tprintf(a.stdout, "  (or every root above: --root FPR for each, with --threshold %d)\n", threshold)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&repo, "repository", "", "repository identity, e.g. charts.example.org")
	f.StringSliceVar(&rootKeys, "root-key", nil, "root public key file (repeatable)")
	f.IntVar(&threshold, "threshold", 1, "root signatures needed (1 to the number of root keys)")
	f.StringVar(&logKey, "log-key", "", "transparency log public key file (keyctl log-key create); every publish is then logged")
	return c
}

// readRootPublics reads root public key files, refusing secret material.
func (a *app) readRootPublics(files []string) ([]*openpgp.Entity, error) {
	var ents []*openpgp.Entity
	for _, f := range files {
		data, err := a.readInput(f, pgpkey.MaxCertSize)
		if err != nil {
			return nil, err
		}
		e, err := root.LoadPublic(data)
		if err != nil {
			return nil, err
		}
		ents = append(ents, e)
	}
	return ents, nil
}
