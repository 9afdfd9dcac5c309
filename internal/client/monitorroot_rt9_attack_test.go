package client

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/tlog"
)

// Attack (medium; the repository host alone, no key): the repository's
// root set 1 names no log; the team lead rotated to root set 2 to name
// one, and every manifest since is logged. The monitor walked that log
// (its state holds the checkpoint). The host then hides keyctl/root/2.json
// (answers "not found"): resolving from the pins ends at root set 1,
// which names no log, and the monitor raises its security alarm "a
// repository does not drop its log" (exit 1, "keep the monitor state as
// evidence", runbook: incident) although no root key signed anything: it
// is a rollback of the root history that anyone serving the bucket can
// do, which a client with state calls an untrusted rollback and retries.
// The monitor state records no root set version, so it cannot tell a
// hidden rotation from a set that drops the log. Rule: the host alone
// cannot make the monitor raise a security alarm. Fix: keep the root set
// version (and hash) the monitor last resolved in its state and refuse an
// older newest set as a rollback (untrusted), keeping the security alarm
// for a newer set that names no log.
func TestAttackMonitorHiddenRootRotationIsFalseLogDropAlarm(t *testing.T) {
	a := newRootKey(t, "root a")
	f := newFixture(t, t.TempDir(), "charts.example.org", a)
	f.add(newMaintainer(t, "alice"))
	f.publish(t0) // v1 under root set 1: no log yet

	skey, vkey, err := tlog.GenerateLogKey("charts.example.org/keyctl-log")
	if err != nil {
		t.Fatal(err)
	}
	s, err := tlog.NewLogSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewLogVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	l := &rt7LogKey{s, v, vkey}
	set2, err := root.Rotate(f.set, nil, nil, 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	set2.Log = vkey
	f.useSet(set2, a)
	rt7PublishLogged(t, f, l, t0.Add(time.Hour))
	rt7PublishLogged(t, f, l, t0.Add(2*time.Hour))

	cstate := t.TempDir()
	if _, err := f.load(t, cstate, t0.Add(3*time.Hour)); err != nil {
		t.Fatalf("setup: client: %v", err)
	}
	state := t.TempDir()
	if _, err := rt7Monitor(f, state, t0.Add(3*time.Hour)); err != nil {
		t.Fatalf("setup: monitor of the honest log: %v", err)
	}

	// The host hides the rotation that named the log.
	hidden := &rt8FlakyView{b: f.b, fail: func(name string) bool { return strings.HasPrefix(name, root.RootSetPath(2)) }}
	b := publish.OpenRemote(hidden)
	// Control: a client with state sees a rollback, not an incident.
	if _, cerr := Load(context.Background(), Options{Bucket: b, Pins: f.pins(), StateDir: cstate, Now: func() time.Time { return t0.Add(4 * time.Hour) }}); cerr == nil || fail.KindOf(cerr) == fail.Security {
		t.Fatalf("setup: a client with state, shown the hidden rotation, answers %v (kind %v)", cerr, fail.KindOf(cerr))
	}
	_, err = Monitor(context.Background(), MonitorOptions{Bucket: b, Pins: f.pins(), StateDir: state, Now: func() time.Time { return t0.Add(4 * time.Hour) }})
	if err == nil {
		t.Fatal("setup: the monitor accepted a root history without the set naming its log")
	}
	if fail.KindOf(err) == fail.Security {
		t.Fatalf("the host alone, hiding keyctl/root/2.json, makes the monitor raise a security alarm (exit %d): %v", fail.ExitCode(err), err)
	}
}
