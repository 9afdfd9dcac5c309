package client

import (
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/tlog"
)

// Attack (a threshold of root keys, e.g. one root key with threshold 1,
// and the log key): a key removed as retired stays listed with the time
// its removal took effect; signatures it made before that time stay
// trusted (docs/verify.md, removed-retired). A later logged manifest moves
// the effective time forward (up to the manifest's issue time), so
// signatures the retired key (whose secret may since have leaked) made
// after it left become trusted again; or it widens the scopes the
// removed key's surviving signatures are judged against. diffManifests
// compares only status, reason, role and active scopes: the monitor,
// whose report should show "every keyring change", prints nothing.
func TestAttackMonitorMissesRemovedKeyEffectiveMove(t *testing.T) {
	c := fpr('C')
	t1 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	old := &root.Manifest{Version: 4, Root: root.RootRef{Version: 1, SHA256: hash('1')}, Keys: []root.KeyEntry{
		{Fingerprint: c, Status: root.Removed, Reason: root.Retired, Effective: t1, Scopes: []string{"web-*"}},
	}}
	for name, k := range map[string]root.KeyEntry{
		"effective moved later": {Fingerprint: c, Status: root.Removed, Reason: root.Retired, Effective: t2, Scopes: []string{"web-*"}},
		"scopes widened":        {Fingerprint: c, Status: root.Removed, Reason: root.Retired, Effective: t1, Scopes: []string{"*"}},
	} {
		m := &root.Manifest{Version: 5, Previous: hash('4'), Root: old.Root, Keys: []root.KeyEntry{k}}
		got := diffManifests(5, &tlog.Entry{Version: 4, SHA256: hash('4')}, old, tlog.Entry{Version: 5, SHA256: hash('5')}, m)
		if len(got) == 0 {
			t.Errorf("%s: removed key %.8s changed between manifest versions 4 and 5 and the monitor reports no event", name, c)
		}
	}
}

// Attack (the root keys of a rotated-away root set, e.g. a root key rotated
// out because it leaked with threshold 1, plus the log key, plus a host
// that hides root set 2 from fresh clients pinned on set 1): after
// manifest version 4 under root set 2, version 5 is logged under root set
// 1. A client that sees root set 2 refuses it (stale root set), so it can
// only ever be trusted by readers from whom the newer root history is
// hidden: a split view. The monitor verifies it under set 1 (which is in
// the pinned history) and only prints a "root-rotated" event (root set
// 2 -> 1), exit 0, as for an ordinary rotation; checkLogOrder accepts the
// root set going down along the log.
func TestAttackMonitorAcceptsRootSetGoingBackwards(t *testing.T) {
	last := &tlog.Entry{Version: 4, SHA256: hash('4')}
	lastM := &root.Manifest{Version: 4, Previous: hash('3'), Root: root.RootRef{Version: 2, SHA256: hash('2')}}
	m := &root.Manifest{Version: 5, Previous: hash('4'), Root: root.RootRef{Version: 1, SHA256: hash('1')}}
	err := checkLogOrder(last, lastM, tlog.Entry{Version: 5, SHA256: hash('5')}, m, 4)
	if err == nil || fail.KindOf(err) != fail.Security {
		t.Fatalf("log entry naming root set 1 after one naming root set 2 accepted by the monitor: %v", err)
	}
}
