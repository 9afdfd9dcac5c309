package main

import "github.com/spf13/cobra"

// commands lists keyctl's subcommands.
func (a *app) commands() []*cobra.Command {
	return []*cobra.Command{
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
		a.newManCmd(),
		a.newLogKeyCmd(),
		a.newWitnessCmd(),
		a.newMonitorCmd(),
	}
}
