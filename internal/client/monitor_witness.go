package client

import (
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/tlog"
)

// monitorWitnesses parses the witness keys a monitor counts, as checkLog
// does for a client.
func monitorWitnesses(keys []string, threshold int) ([]*tlog.WitnessVerifier, error) {
	if threshold < 0 {
		return nil, fail.Inputf("--witness-threshold %d is negative", threshold)
	}
	var ws []*tlog.WitnessVerifier
	for _, k := range keys {
		w, err := tlog.NewWitnessVerifier(k)
		if err != nil {
			return nil, fail.Hint(err, "check --witness (or witness in the config)")
		}
		ws = append(ws, w)
	}
	if threshold > len(ws) {
		return nil, fail.Inputf("--witness-threshold %d with %d witness keys", threshold, len(ws)).
			WithHint("name at least as many witnesses (--witness VKEY, repeatable) as the threshold")
	}
	return ws, nil
}

// monitorRequireWitnesses refuses a checkpoint that the witnesses clients
// require did not cosign: clients that require them trust only trees the
// witnesses cosigned, so a tree the monitor checked without them is not
// known to be the one those clients see. The error comes after the walk,
// with the report (the tree the monitor saw is consistent with its state,
// which it keeps).
func monitorRequireWitnesses(head *tlog.Head, need int) error {
	err := tlog.RequireWitnesses(head, need)
	if err == nil {
		return nil
	}
	return fail.Untrustedf("the log checkpoint this monitor checked lacks the witness cosignatures clients require").Wrap(err).WithHint(
		"right after a publish the witnesses may not have run yet: run the monitor again after them",
		"if it persists, the witnesses cosigned another tree than the one served to this monitor, and the clients that require them may be trusting it (a split view): see docs/runbook.md, section monitor raised an alarm")
}
