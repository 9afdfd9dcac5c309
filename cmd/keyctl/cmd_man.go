//go:build genman

// The man page generator links cobra/doc and its Markdown renderer, whose
// package initialisation every keyctl command would otherwise pay for. It
// is built only with -tags genman: make man, and make test (TestManPages).

package main

import (
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/keyctl/keyctl/internal/fail"
)

func init() { extraCommands = append(extraCommands, (*app).newManCmd) }

// newManCmd is the hidden command behind make man: one man page per
// command, keyctl.1, keyctl-verify.1, keyctl-repo-add.1, ..., into DIR.
func (a *app) newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write a man page per command into DIR (make man)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		// The pages describe keyctl, not this user's configuration.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fail.Inputf("cannot create %s", dir).Wrap(err)
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true // the same pages for the same source
			header := &doc.GenManHeader{Title: "KEYCTL", Section: "1", Source: "keyctl", Manual: "keyctl manual"}
			if err := doc.GenManTree(root, header, dir); err != nil {
				return fail.Inputf("cannot write the man pages into %s", dir).Wrap(err)
			}
			return nil
		},
	}
}
