package client

import (
	"testing"

	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/tlog"
)

// Attack (whoever can get the roots to sign a manifest: a root key holder,
// or a team lead's store used carelessly): an active key changes role in a
// logged manifest. An index key (its secret lives in CI, docs/verify.md
// "Signed index") becomes a maintainer key: it moves from indexkeys.pgp to
// pubkeys.pgp and may now sign charts that keyctl trusts; the other way, a
// maintainer key becomes an index key and may sign index.yaml (cross-host
// chart URLs, hidden releases). docs/verify.md (Monitoring) says the
// monitor "prints every change" so that maintainers raise the alarm, but
// diffManifests compares status, reason and scopes, never the role: the
// monitor reports nothing for either change.
func TestAttackMonitorMissesRoleChange(t *testing.T) {
	a, b := fpr('A'), fpr('B')
	old := &root.Manifest{Version: 4, Root: root.RootRef{Version: 1, SHA256: hash('1')}, Keys: []root.KeyEntry{
		{Fingerprint: a, Status: root.Active, Role: root.RoleIndex},
		{Fingerprint: b, Status: root.Active},
	}}
	m := &root.Manifest{Version: 5, Previous: hash('4'), Root: root.RootRef{Version: 1, SHA256: hash('1')}, Keys: []root.KeyEntry{
		{Fingerprint: a, Status: root.Active},                       // index key -> chart-signing maintainer key
		{Fingerprint: b, Status: root.Active, Role: root.RoleIndex}, // maintainer key -> index key
	}}
	got := diffManifests(5, &tlog.Entry{Version: 4, SHA256: hash('4')}, old, tlog.Entry{Version: 5, SHA256: hash('5')}, m)
	seen := map[string]bool{}
	for _, e := range got {
		seen[e.Fingerprint] = true
	}
	for _, f := range []string{a, b} {
		if !seen[f] {
			t.Errorf("key %.8s changed role between manifest versions 4 and 5, and the monitor reports no event for it (events: %+v)", f, got)
		}
	}
}
