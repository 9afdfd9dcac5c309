package client

import (
	"context"
	"fmt"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/tlog"
)

// MaxMonitorEntries is how many log entries one monitor run checks at
// most; the run saves where it stopped and fails (exit 1) so that the
// next run goes on. An honest log grows by one entry per publish.
const MaxMonitorEntries = 100_000

// monitorRunCap is MaxMonitorEntries (lowered by tests).
var monitorRunCap int64 = MaxMonitorEntries

// monitorBatch is how many entries are read (one entry bundle) between
// two state saves.
const monitorBatch = 256

// monitorFirstVersion reads the version of entry 0 of the log (S in
// internal/tlog/doc.go).
func monitorFirstVersion(ctx context.Context, b *publish.Bucket, head *tlog.Head) (uint64, error) {
	if head.N == 0 {
		return 0, nil
	}
	raw, err := tlog.ReadEntries(ctx, b, head, 0, 1)
	if err != nil {
		return 0, err
	}
	e, err := tlog.ParseEntry(raw[0])
	if err != nil {
		return 0, err
	}
	return e.Version, nil
}

// checkLogPosition refuses an entry that clients cannot find: version V
// is looked for from index V-S on, at most tlog.Lookahead entries on,
// so a log with that many versions logged again before idx hides V and
// every later version from clients. It also bounds a log padded with one
// entry logged again and again.
func checkLogPosition(first uint64, e tlog.Entry, idx int64) error {
	if e.Version < first {
		return fail.Securityf("log entry %d holds manifest version %d, below version %d of entry 0", idx, e.Version, first).
			WithHint("versions never go down along the log; see docs/runbook.md, section monitor raised an alarm")
	}
	d := e.Version - first
	if d > uint64(idx) {
		return fail.Securityf("log entry %d holds manifest version %d, but entry 0 holds version %d: versions were skipped", idx, e.Version, first).
			WithHint("versions go up by one along the log; see docs/runbook.md, section monitor raised an alarm")
	}
	if off := uint64(idx) - d; off >= tlog.Lookahead {
		return fail.Untrustedf("log entry %d (manifest version %d) lies %d entries past index %d, where clients start looking for that version; they look at most %d entries on, so no client can find it or any later version", idx, e.Version, off, d, tlog.Lookahead).
			WithHint("a version is logged again only after a publish that failed before its manifest went live; this many means a publisher retrying in a loop, or a log padded by the log key holder; see docs/runbook.md, section monitor raised an alarm")
	}
	return nil
}

// monitorStopped is the error of a run that checked MaxMonitorEntries
// entries and stopped before the end of the log.
func monitorStopped(rep *MonitorReport, saved bool) error {
	hint := "run the monitor again to go on from entry " + fmt.Sprint(rep.Next)
	if !saved {
		hint = "give --state DIR so that runs go on where the last one stopped"
	}
	return fail.Untrustedf("the log has %d entries not checked yet; this run checked %d (entries %d to %d), the most one run checks", rep.Size-rep.Next, rep.Next-rep.From, rep.From, rep.Next).
		WithHint(hint, "an honest log grows by one entry per publish: a log that grew by this much since the last run may have been padded by the log key holder; see docs/runbook.md, section monitor raised an alarm")
}
