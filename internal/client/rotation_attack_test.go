package client

import (
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/root"
)

// TestAttackRotatedOutRootSignsUnderOldSet: root set 1 = {A} 1-of-1; A is
// rotated out (set 2 = {B,C,D} 2-of-3, a valid link signed by A and by B
// and C) and manifest v2 under set 2 is live. A's holder, with the
// repository host, then serves a fresh manifest v3 that names root set 1
// (signed by A alone, listing a key of A's choice, previous = v2 so the
// history checks pass) next to the published set 2.
//
// docs/verify.md (Pins): "a client pinned before a rotation follows it" and
// "A root key that has left the set can never again sign anything this
// client accepts". Because Load stops the root walk at the version the
// unsigned manifest names (fetch refuses v > rootWant), the validly linked
// set 2 is never looked at: a client pinned to set 1 (every fresh CI
// runner using the pin handed out before the rotation), or whose state
// still records set 1, trusts A's manifest and charts signed by A's key.
//
// Secure behaviour: a manifest issued after a valid rotation away from the
// root set it names is refused (it is not a publish in progress).
func TestAttackRotatedOutRootSignsUnderOldSet(t *testing.T) {
	a := newRootKey(t, "root a")
	b, c, d := newRootKey(t, "root b"), newRootKey(t, "root c"), newRootKey(t, "root d")
	f := newFixture(t, t.TempDir(), "charts.example.org", a)
	f.add(newMaintainer(t, "alice"))
	f.publish(t0)
	set1, set1Sigs := f.set, f.setSigs
	oldPins := []struct {
		name string
		pins root.Pins
	}{
		{"fingerprint pin of set 1", f.pins()},
		{"hash pin of set 1", root.Pins{RootSetSHA256: root.Hash(f.setBytes)}},
	}

	// A client that ran before the rotation: its state records set 1.
	oldState := t.TempDir()
	if _, err := f.load(t, oldState, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	// Honest rotation: A leaves, {B,C,D} 2-of-3; manifest v2 under set 2.
	set2, err := root.Rotate(set1, []*openpgp.Entity{b.pub, c.pub, d.pub}, fprs(a), 2, t0)
	if err != nil {
		t.Fatal(err)
	}
	f.useSet(set2, a, b, c)
	f.publish(t0.Add(time.Hour), b, c)
	honest := t0.Add(90 * time.Minute)
	for _, p := range oldPins {
		tr, err := loadPins(f, p.pins, t.TempDir(), honest)
		if err != nil || tr.RootSet.Version != 2 {
			t.Fatalf("%s: honest rotation not followed: %v", p.name, err)
		}
	}

	// The attack: a fresh manifest v3 naming root set 1, signed by A alone,
	// listing mallory as active. roots/2.json(.sig) stay published.
	f.set, f.setSigs = set1, set1Sigs
	f.setBytes, _ = set1.Marshal()
	mallory := newMaintainer(t, "mallory")
	f.add(mallory)
	f.publish(t0.Add(2*time.Hour), a)

	now := t0.Add(3 * time.Hour)
	a1, p1, _ := chart(t, mallory, "evil", "1.0.0", t0.Add(2*time.Hour))
	for _, p := range oldPins {
		for _, st := range []struct {
			name string
			dir  string
		}{{"first use", t.TempDir()}, {"state at set 1", oldState}} {
			tr, err := loadPins(f, p.pins, st.dir, now)
			if err == nil {
				d := tr.Check(p1, "evil-1.0.0.tgz", a1, nil)
				t.Errorf("%s, %s: trusted manifest v%d signed by rotated-out root A under root set %d although root set 2 is validly published; mallory's chart: %s",
					p.name, st.name, tr.Manifest.Version, tr.RootSet.Version, d.Status)
			}
		}
	}
}
