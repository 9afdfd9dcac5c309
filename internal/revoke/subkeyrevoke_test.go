package revoke

import (
	"testing"

	"github.com/keyctl/keyctl/internal/client"
)

// A signature by a (sub)key that an active key's certificate revokes as
// superseded is reported as a soft removal (never as a plain active
// signer, which the ledger would take for a re-sign), trusted or not.
func TestFromDecisionRevokedSubkeyOfActiveKey(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		d := &client.Decision{Status: client.StatusRemovedSuperseded, Trusted: trusted, KeyStatus: "active", Reason: "signed by key S, revoked as superseded by its certificate, of active key P"}
		var r Result
		fromDecision(&r, d, nil)
		if !r.Removed || r.Reason != "superseded" {
			t.Errorf("trusted=%v: removed=%v reason=%q", trusted, r.Removed, r.Reason)
		}
		if want := map[bool]Status{false: RemovedKey, true: Trusted}[trusted]; r.Status != want {
			t.Errorf("trusted=%v: status %s, want %s", trusted, r.Status, want)
		}
	}
}
