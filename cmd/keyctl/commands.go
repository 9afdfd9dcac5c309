package main

import "github.com/spf13/cobra"

// extraCommands are subcommands that only some builds have (the man page
// generator, built with -tags genman).
var extraCommands []func(*app) *cobra.Command

// commands lists keyctl's subcommands.
func (a *app) commands() []*cobra.Command {
	cmds := []*cobra.Command{
		a.newInitCmd(),
		a.newAddCmd(),
		a.newUpdateCmd(),
		a.newRemoveCmd(),
		a.newListCmd(),
		a.newShowCmd(),
		a.newLogCmd(),
		a.newCheckCmd(),
		a.newRootCmd(),
		a.newPublishCmd(),
		a.newPageCmd(),
		a.newStatusCmd(),
		a.newVerifyCmd(),
		a.newSignCmd(),
		a.newRepoCmd(),
		a.newAuditCmd(),
		a.newLedgerCmd(),
		a.newIndexCmd(),
		a.newLogKeyCmd(),
		a.newWitnessCmd(),
		a.newMonitorCmd(),
	}
	for _, extra := range extraCommands {
		cmds = append(cmds, extra(a))
	}
	return cmds
}
