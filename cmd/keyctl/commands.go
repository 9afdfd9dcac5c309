package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// extraCommands are subcommands that only some builds have (the man page
// generator, built with -tags genman).
var extraCommands []func(*app) *cobra.Command

// topCommand is one subcommand of keyctl and its constructor.
type topCommand struct {
	name string
	make func() *cobra.Command
}

// commandTable lists keyctl's subcommands, in help order, by name.
func (a *app) commandTable() []topCommand {
	return []topCommand{
		{"init", a.newInitCmd},
		{"add", a.newAddCmd},
		{"update", a.newUpdateCmd},
		{"remove", a.newRemoveCmd},
		{"list", a.newListCmd},
		{"show", a.newShowCmd},
		{"log", a.newLogCmd},
		{"check", a.newCheckCmd},
		{"root", a.newRootCmd},
		{"publish", a.newPublishCmd},
		{"page", a.newPageCmd},
		{"status", a.newStatusCmd},
		{"verify", a.newVerifyCmd},
		{"sign", a.newSignCmd},
		{"repo", a.newRepoCmd},
		{"audit", a.newAuditCmd},
		{"ledger", a.newLedgerCmd},
		{"index", a.newIndexCmd},
		{"log-key", a.newLogKeyCmd},
		{"witness", a.newWitnessCmd},
		{"monitor", a.newMonitorCmd},
	}
}

// commands builds every subcommand.
func (a *app) commands() []*cobra.Command {
	var cmds []*cobra.Command
	for _, c := range a.commandTable() {
		cmds = append(cmds, c.make())
	}
	for _, extra := range extraCommands {
		cmds = append(cmds, extra(a))
	}
	return cmds
}

// commandsFor builds only the subcommand args run, when that is certain:
// building all of them (about 40 commands and their flags) is a sizeable
// part of a one-chart verify, which runs in a fresh process each time. Help,
// completion, a misspelt or unknown command (cobra suggests the right one
// from the whole tree) and anything it cannot read get the whole tree.
func (a *app) commandsFor(args []string) []*cobra.Command {
	name := commandWord(args)
	for _, c := range a.commandTable() {
		if c.name == name {
			return []*cobra.Command{c.make()}
		}
	}
	return a.commands()
}

// globalValueFlag reports whether s is one of keyctl's persistent flags
// that take a value.
func globalValueFlag(s string) bool {
	switch s {
	case "--store", "--config", "--output", "-o", "--actor", "--lock-timeout":
		return true
	}
	return false
}

// commandWord is the first word of args that names a command, skipping
// keyctl's global flags; "" when a flag it does not know comes first.
func commandWord(args []string) string {
	for i := 0; i < len(args); i++ {
		s := args[i]
		switch {
		case s == "--":
			return ""
		case globalValueFlag(s):
			i++ // its value
		case s == "--plain-http" || strings.HasPrefix(s, "--plain-http="):
		case strings.HasPrefix(s, "-"):
			if k, _, ok := strings.Cut(s, "="); ok && globalValueFlag(k) {
				continue
			}
			if strings.HasPrefix(s, "-o") && !strings.HasPrefix(s, "--") {
				continue // -ojson
			}
			return ""
		default:
			return s
		}
	}
	return ""
}
