package client

import (
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
)

// A run that reaches the per-run cap saves where it stopped, fails, and
// the next runs go on from there and report what one run would have.
func TestMonitorStopsAtRunCapAndResumes(t *testing.T) {
	f, _, l := rt7LoggedFixture(t)
	for i, name := range []string{"alice", "bob", "carol", "dave", "erin"} {
		f.add(newMaintainer(t, name))
		rt7PublishLogged(t, f, l, t0.Add(time.Duration(i)*time.Hour))
	}
	now := t0.Add(10 * time.Hour)
	whole, err := rt7Monitor(f, t.TempDir(), now)
	if err != nil || len(whole.Events) != 5 {
		t.Fatalf("one run: %v %+v", err, whole)
	}

	defer func(c int64) { monitorRunCap = c }(monitorRunCap)
	monitorRunCap = 2
	state := t.TempDir()
	var events []Event
	for run, wantNext := range []int64{2, 4, 0} {
		rep, err := rt7Monitor(f, state, now)
		if rep == nil {
			t.Fatalf("run %d: %v", run, err)
		}
		events = append(events, rep.Events...)
		if rep.Next != wantNext {
			t.Fatalf("run %d stopped at %d, want %d (err %v)", run, rep.Next, wantNext, err)
		}
		if wantNext != 0 && (err == nil || fail.KindOf(err) != fail.Untrusted) {
			t.Fatalf("run %d stopped early without saying so: %v", run, err)
		}
		if wantNext == 0 && err != nil {
			t.Fatalf("last run: %v", err)
		}
	}
	if len(events) != len(whole.Events) {
		t.Fatalf("runs reported %d events, one run %d", len(events), len(whole.Events))
	}
	for i := range events {
		if events[i].Index != whole.Events[i].Index || events[i].Fingerprint != whole.Events[i].Fingerprint {
			t.Fatalf("event %d: %+v, one run %+v", i, events[i], whole.Events[i])
		}
	}
	// Nothing new: a run with state checks nothing and passes.
	if rep, err := rt7Monitor(f, state, now); err != nil || len(rep.Events) != 0 || rep.From != 5 {
		t.Fatalf("run after the end: %v %+v", err, rep)
	}
}
