package client

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

// Root resolution: one root key must never defeat an M-of-N root set.

// useSet makes set (signed by signers) the fixture's root set; the next
// publish uploads it.
func (f *fixture) useSet(set *root.RootSet, signers ...rootKey) {
	f.t.Helper()
	sb, err := set.Marshal()
	if err != nil {
		f.t.Fatal(err)
	}
	var sigs [][]byte
	for _, k := range signers {
		sig, err := root.Sign(k.sec, sb, t0)
		if err != nil {
			f.t.Fatal(err)
		}
		sigs = append(sigs, sig)
	}
	msig, err := root.Merge(sigs...)
	if err != nil {
		f.t.Fatal(err)
	}
	f.set, f.setBytes, f.setSigs = set, sb, msig
}

// emptySigs empties the published signatures of root set v (a directory bucket).
func emptySigs(t *testing.T, f *fixture, v uint64) {
	t.Helper()
	p := filepath.Join(strings.TrimPrefix(f.b.Location(), "file://"), filepath.FromSlash(root.RootSetPath(v)+root.SigSuffix))
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func fprs(ks ...rootKey) []string {
	var out []string
	for _, k := range ks {
		out = append(out, pgpkey.Fingerprint(k.pub))
	}
	return out
}

func loadPins(f *fixture, pins root.Pins, stateDir string, now time.Time) (*Trusted, error) {
	return Load(context.Background(), Options{Bucket: f.b, Pins: pins, StateDir: stateDir, Now: func() time.Time { return now }})
}

// threeRoots publishes root set 1 = {A,B,C} 2-of-3 and manifest 1 signed by A and B.
func threeRoots(t *testing.T) (f *fixture, a, b, c rootKey) {
	a, b, c = newRootKey(t, "root a"), newRootKey(t, "root b"), newRootKey(t, "root c")
	f = newFixture(t, t.TempDir(), "charts.example.org", a)
	set, err := root.NewRootSet(f.repo, []*openpgp.Entity{a.pub, b.pub, c.pub}, 2, t0)
	if err != nil {
		t.Fatal(err)
	}
	f.useSet(set, a, b)
	f.add(newMaintainer(t, "alice"))
	f.publish(t0, a, b)
	return f, a, b, c
}

// Finding 1a: a fresh client pinning one key of three is refused and told
// what to pin; a client pinning the whole set refuses a set {A} that A's
// holder made alone.
func TestPinsMustCoverRootSet(t *testing.T) {
	f, a, b, c := threeRoots(t)
	now := t0.Add(time.Hour)
	setPin := root.Hash(f.setBytes)

	_, err := loadPins(f, root.Pins{Fingerprints: fprs(a)}, t.TempDir(), now)
	var pe *root.PinError
	if !errors.As(err, &pe) || pe.Reason != root.PinsIncomplete || fail.ExitCode(err) != 1 {
		t.Fatalf("one pinned key of a 2-of-3 root set: %v", err)
	}
	hints := strings.Join(fail.HintsOf(err), "\n")
	for _, want := range append([]string{"--root-set sha256:" + setPin, "--threshold 2"}, fprs(a, b, c)...) {
		if !strings.Contains(hints, want) {
			t.Errorf("hints lack %q:\n%s", want, hints)
		}
	}
	full := root.Pins{Fingerprints: fprs(a, b, c), Threshold: 2}
	byHash := root.Pins{RootSetSHA256: setPin}
	for _, p := range []root.Pins{full, byHash} {
		if _, err := loadPins(f, p, t.TempDir(), now); err != nil {
			t.Errorf("pins %+v: %v", p, err)
		}
	}

	// A's holder publishes a repository of their own: {A} 1-of-1.
	g := newFixture(t, t.TempDir(), "charts.example.org", a)
	g.add(newMaintainer(t, "mallory"))
	g.publish(t0)
	if tr, err := loadPins(g, full, t.TempDir(), now); err == nil || fail.ExitCode(err) != 1 {
		t.Errorf("forged 1-of-1 set under full pins: trusted %v (%v)", tr, err)
	}
	_, err = loadPins(g, byHash, t.TempDir(), now)
	if !errors.As(err, &pe) || pe.Reason != root.PinHashMismatch || !strings.Contains(err.Error(), "root set hash mismatch") {
		t.Errorf("forged set under a hash pin: %v", err)
	}
}

// Finding 1b: the state records root set 1 = {A,B,C} 2-of-3. A's holder
// empties roots/1.json.sig and serves roots/2.json = {A} signed by A alone
// with manifest 2 following the real manifest 1. A client still pinned to
// A alone (as the docs used to teach) must not trust it nor record it.
func TestForgedRotationFromRecordedSet(t *testing.T) {
	f, a, b, c := threeRoots(t)
	now := t0.Add(time.Hour)
	st := t.TempDir()
	if _, err := loadPins(f, root.Pins{Fingerprints: fprs(a, b, c), Threshold: 2}, st, now); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(StatePath(st, f.b.Location()))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := root.Rotate(f.set, nil, fprs(b, c), 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	f.useSet(forged, a)
	f.publish(t0.Add(time.Minute), a)
	emptySigs(t, f, 1)

	for _, pins := range []root.Pins{{Fingerprints: fprs(a)}, {Fingerprints: fprs(a, b, c), Threshold: 2}} {
		tr, err := loadPins(f, pins, st, now)
		var le *root.LinkError
		if !errors.As(err, &le) || le.Reason != root.LinkNotSignedByPrevious || fail.ExitCode(err) != 1 {
			t.Errorf("pins %v: forged root set 2: %v %v", pins.Fingerprints, tr, err)
		}
		if err == nil || !strings.Contains(err.Error(), "not signed by a threshold of root set 1") {
			t.Errorf("message: %v", err)
		}
	}
	if now, _ := os.ReadFile(StatePath(st, f.b.Location())); string(now) != string(saved) {
		t.Errorf("state poisoned:\n%s", now)
	}
}

// Finding 2: A was rotated out (set 2 = {B}) and the state records set 2.
// A's holder serves roots/3.json = {A} signed by A and a manifest 3 under
// it (and empties roots/1.json.sig, so that set 1 does not stand in the
// way). A client still pinning A (set 1) must refuse it.
func TestRotatedOutKeyCannotReturn(t *testing.T) {
	a, b := newRootKey(t, "root a"), newRootKey(t, "root b")
	f := newFixture(t, t.TempDir(), "charts.example.org", a)
	f.add(newMaintainer(t, "alice"))
	f.publish(t0)
	set2, err := root.Rotate(f.set, []*openpgp.Entity{b.pub}, fprs(a), 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	f.useSet(set2, a, b)
	f.publish(t0.Add(time.Minute), b)
	now := t0.Add(time.Hour)
	st := t.TempDir()
	pins := root.Pins{Fingerprints: fprs(a)}
	tr, err := loadPins(f, pins, st, now)
	if err != nil || tr.RootSet.Version != 2 {
		t.Fatalf("honest rotation: %v", err)
	}
	if s, _ := ReadState(st, f.b.Location()); s.RootVersion != 2 || s.RootSHA256 != root.Hash(f.setBytes) {
		t.Fatalf("state %+v", s)
	}
	saved, _ := os.ReadFile(StatePath(st, f.b.Location()))

	set3, err := root.Rotate(set2, []*openpgp.Entity{a.pub}, fprs(b), 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	f.useSet(set3, a)
	f.publish(t0.Add(2*time.Minute), a)
	for _, empty := range []bool{false, true} {
		if empty {
			emptySigs(t, f, 1)
		}
		tr, err := loadPins(f, pins, st, now)
		var le *root.LinkError
		if !errors.As(err, &le) || le.Reason != root.LinkNotSignedByPrevious || le.From != 2 {
			t.Errorf("emptied set 1 signatures %v: root set 3 by the rotated-out key: %v %v", empty, tr, err)
		}
		// Without history the chain from set 1 stops it too.
		if tr, err := loadPins(f, pins, t.TempDir(), now); err == nil {
			t.Errorf("emptied set 1 signatures %v, no state: trusted %v", empty, tr.RootSet.Version)
		}
	}
	if now, _ := os.ReadFile(StatePath(st, f.b.Location())); string(now) != string(saved) {
		t.Errorf("state poisoned:\n%s", now)
	}
}

// A state file written before root_sha256 was recorded: the run resolves
// from the pins as on first use (whole set, every link) and records the
// hash; a forged set under one pinned key is refused.
func TestStateWithoutRootHash(t *testing.T) {
	f, a, b, c := threeRoots(t)
	now := t0.Add(time.Hour)
	st := t.TempDir()
	full := root.Pins{Fingerprints: fprs(a, b, c), Threshold: 2}
	if _, err := loadPins(f, full, st, now); err != nil {
		t.Fatal(err)
	}
	s, err := ReadState(st, f.b.Location())
	if err != nil {
		t.Fatal(err)
	}
	s.RootSHA256 = ""
	os.WriteFile(StatePath(st, f.b.Location()), mustMarshal(t, s), 0o600)
	var pe *root.PinError
	if _, err := loadPins(f, root.Pins{Fingerprints: fprs(a)}, st, now); !errors.As(err, &pe) || pe.Reason != root.PinsIncomplete {
		t.Errorf("old state, one pinned key: %v", err)
	}
	if _, err := loadPins(f, full, st, now); err != nil {
		t.Fatal(err)
	}
	if s, _ := ReadState(st, f.b.Location()); s.RootSHA256 != root.Hash(f.setBytes) {
		t.Errorf("root_sha256 not recorded: %+v", s)
	}
}
