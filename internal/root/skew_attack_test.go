package root

import (
	"testing"
	"time"
)

// TestAttackSkewedSignatureSplitsVerifyAndHistoric: one root holder of a
// 2-of-3 set dates its signature 5 minutes ahead (within ClockSkew). Since
// 2a882e9 Verify (publisher's release.Check, every client) counts it at
// now, but VerifyHistoric (keyctl monitor) and root set 1 in Resolve
// (atSigTime) refuse it at the same now: the monitor raises an
// "untrusted manifest" alarm, and a fresh client cannot bootstrap, for a
// manifest / root set 1 that publish accepted and clients trust. The two
// modes must agree on a signature whose key is valid throughout.
func TestAttackSkewedSignatureSplitsVerifyAndHistoric(t *testing.T) {
	r := edTestRoots(t)
	set := mustSet(t, 2, r[0], r[1], r[2])
	data := []byte("keyctl-manifest.json bytes")
	now := time.Now()
	sigs := mustMerge(t, mustSign(t, r[0], data, now), mustSign(t, r[1], data, now.Add(5*time.Minute)))
	if _, err := Verify(data, sigs, set, now); err != nil {
		t.Fatalf("precondition: Verify refused the skewed signature: %v", err)
	}
	if _, err := VerifyHistoric(data, sigs, set, now); err != nil {
		t.Errorf("Verify trusts these signatures at now, VerifyHistoric (monitor, root set 1) refuses them at the same now: %v", err)
	}
}
