package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/root"
)

// removeObject deletes a published object of a directory bucket.
func removeObject(t *testing.T, f *fixture, name string) {
	t.Helper()
	p := filepath.Join(strings.TrimPrefix(f.b.Location(), "file://"), filepath.FromSlash(name))
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
}

// rotatedTwice: set 1 = {A}, set 2 = {B}, set 3 = {C}, each link valid;
// manifest v3 under set 3 is live.
func rotatedTwice(t *testing.T) (f *fixture, a, b, c rootKey, set1 *root.RootSet, set1Bytes, set1Sigs []byte) {
	a, b, c = newRootKey(t, "root a"), newRootKey(t, "root b"), newRootKey(t, "root c")
	f = newFixture(t, t.TempDir(), "charts.example.org", a)
	f.add(newMaintainer(t, "alice"))
	f.publish(t0)
	set1, set1Bytes, set1Sigs = f.set, f.setBytes, f.setSigs
	set2, err := root.Rotate(set1, []*openpgp.Entity{b.pub}, fprs(a), 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	f.useSet(set2, a, b)
	f.publish(t0.Add(time.Minute), b)
	set3, err := root.Rotate(set2, []*openpgp.Entity{c.pub}, fprs(b), 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	f.useSet(set3, b, c)
	f.publish(t0.Add(2*time.Minute), c)
	return
}

// The repository host hides root set 2 but leaves root set 3 up, and
// serves a manifest under root set 1 signed by the rotated-out root A: a
// client pinned to set 1 must not stop its walk at the hole and trust it.
func TestRootHistoryGap(t *testing.T) {
	f, a, _, _, set1, set1Bytes, set1Sigs := rotatedTwice(t)
	pins := root.Pins{RootSetSHA256: root.Hash(set1Bytes)}
	if tr, err := loadPins(f, pins, t.TempDir(), t0.Add(time.Hour)); err != nil || tr.RootSet.Version != 3 {
		t.Fatalf("honest history: %v", err)
	}
	f.set, f.setBytes, f.setSigs = set1, set1Bytes, set1Sigs
	f.add(newMaintainer(t, "mallory"))
	f.publish(t0.Add(3*time.Minute), a)
	removeObject(t, f, root.RootSetPath(2))
	removeObject(t, f, root.RootSetPath(2)+root.SigSuffix)
	_, err := loadPins(f, pins, t.TempDir(), t0.Add(time.Hour))
	if err == nil || fail.ExitCode(err) != 1 || !strings.Contains(err.Error(), "root set 3 is published but root set 2 is not") {
		t.Errorf("manifest under set 1 with set 2 hidden, set 3 up: %v", err)
	}
}

// The manifest names a root set the repository does not publish (the host
// dropped the newest root set): refused with its own message, state kept.
func TestManifestNamesUnpublishedRootSet(t *testing.T) {
	f, _, _, _, _, set1Bytes, _ := rotatedTwice(t)
	st := t.TempDir()
	pins := root.Pins{RootSetSHA256: root.Hash(set1Bytes)}
	if _, err := loadPins(f, pins, st, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	removeObject(t, f, root.RootSetPath(3))
	removeObject(t, f, root.RootSetPath(3)+root.SigSuffix)
	_, err := loadPins(f, pins, t.TempDir(), t0.Add(time.Hour))
	if err == nil || fail.ExitCode(err) != 1 || !strings.Contains(err.Error(), "the manifest names root set 3, but the newest published root set is 2") {
		t.Errorf("first use: manifest naming an unpublished root set: %v", err)
	}
	// With state at set 3: that set is gone.
	if _, err := loadPins(f, pins, st, t0.Add(time.Hour)); err == nil || fail.ExitCode(err) != 1 {
		t.Errorf("state at set 3: %v", err)
	}
}
