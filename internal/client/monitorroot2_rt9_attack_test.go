package client

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/root"
)

// Attack (medium; the repository host alone, no key): root set 1 names
// the log; the team lead rotates to root set 2 (same log) and publishes
// logged manifests under it. The host hides keyctl/root/2.json from the
// monitor: resolving from the pins ends at root set 1, and the logged
// manifests signed under set 2 fail to verify. monitorManifest raises
// "names root set 2 ..., which is not in the root history the pins lead
// to" as a security alarm (exit 1), while a client shown the same bucket
// answers untrusted ("the newest published root set is 1"): no key signed
// anything wrong, the host withheld one file. Rule: the host alone
// cannot make the monitor raise a security alarm. Fix: a logged manifest
// naming a root set newer than the newest resolved is a hidden rotation
// (untrusted), not a log entry that does not verify.
func TestAttackMonitorHiddenRotationRaisesRootHistoryAlarm(t *testing.T) {
	f, a, l := rt7LoggedFixture(t)
	f.add(newMaintainer(t, "alice"))
	rt7PublishLogged(t, f, l, t0)
	state := t.TempDir()
	if _, err := rt7Monitor(f, state, t0.Add(time.Hour)); err != nil {
		t.Fatalf("setup: monitor of the honest log: %v", err)
	}
	set2, err := root.Rotate(f.set, nil, nil, 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	f.useSet(set2, a)
	rt7PublishLogged(t, f, l, t0.Add(2*time.Hour))

	hidden := &rt8FlakyView{b: f.b, fail: func(name string) bool { return strings.HasPrefix(name, root.RootSetPath(2)) }}
	b := publish.OpenRemote(hidden)
	_, cerr := Load(context.Background(), Options{Bucket: b, Pins: f.pins(), StateDir: t.TempDir(), Now: func() time.Time { return t0.Add(3 * time.Hour) }})
	t.Logf("fresh client: kind %v: %v", fail.KindOf(cerr), cerr)
	_, err = Monitor(context.Background(), MonitorOptions{Bucket: b, Pins: f.pins(), StateDir: state, Now: func() time.Time { return t0.Add(3 * time.Hour) }})
	t.Logf("monitor: kind %v: %v", fail.KindOf(err), err)
	if err == nil {
		t.Fatal("setup: the monitor accepted a manifest under a root set it could not read")
	}
	if fail.KindOf(err) == fail.Security {
		t.Fatalf("the host alone, hiding keyctl/root/2.json, makes the monitor raise a security alarm (exit %d): %v", fail.ExitCode(err), err)
	}
}
