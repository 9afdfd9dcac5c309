package client

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/root"
)

// Attack (the holder of a stolen maintainer key, with the host choosing
// what each reader sees and when): a client whose state holds version 1
// runs twice at once (two CI jobs sharing the state folder). The host
// lets the second run load the honest v2, which lists mallory's key as
// compromised, and record it while the first run is between reading the
// state and reading the manifest; the first run is served the old v1
// again. Because that run's next state equals the state it started from,
// Load never calls writeChecked, so the newer record (and its compromised
// key) is never compared: the run returns v1 as trusted with mallory's key
// active, though this client's state records the key as compromised. The
// same run shown anything else (checkCompromisedSince) is refused.
func TestAttackClientUnchangedRunIgnoresCompromiseRecordedMeanwhile(t *testing.T) {
	f := newFixture(t, t.TempDir(), "charts.example.org", newRootKey(t, "root"))
	f.add(newMaintainer(t, "alice"))
	mal := newMaintainer(t, "mallory")
	mm := f.add(mal)
	fpr := pgpkey.Fingerprint(mal)
	f.publish(t0)
	const loc = "https://charts.example.org/"
	state := t.TempDir()
	load := func(v *rt7View, now time.Time) (*Trusted, error) {
		return Load(context.Background(), Options{Bucket: publish.OpenRemote(v), Pins: f.pins(), StateDir: state, Now: func() time.Time { return now }})
	}
	if _, err := load(&rt7View{b: f.b, loc: loc}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The host keeps a copy of v1 to serve later.
	oldDir := t.TempDir() + "/old"
	if err := os.CopyFS(oldDir, os.DirFS(strings.TrimPrefix(f.b.Location(), "file://"))); err != nil {
		t.Fatal(err)
	}
	oldB, err := publish.Open(context.Background(), oldDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer oldB.Close()

	// Honest v2: mallory's key compromised.
	mm.status, mm.reason, mm.effective = root.Removed, root.Compromised, t0.Add(time.Hour)
	f.publish(t0.Add(time.Hour))

	var honestErr error
	now := t0.Add(61 * time.Minute)
	stale := &rt7View{b: oldB, loc: loc, name: root.ManifestName, hook: func() {
		_, honestErr = load(&rt7View{b: f.b, loc: loc}, now)
	}}
	tr, err := load(stale, now)
	if honestErr != nil {
		t.Fatalf("setup: the honest run failed: %v", honestErr)
	}
	st, serr := ReadState(state, loc)
	if serr != nil || st.Version != 2 || len(st.Compromised) != 1 || st.Compromised[0].Fingerprint != fpr {
		t.Fatalf("setup: state after the honest run: %+v %v", st, serr)
	}
	if err == nil {
		for _, k := range tr.Manifest.Keys {
			if k.Fingerprint == fpr && k.Status == root.Active {
				t.Fatalf("the run served v1 again trusted manifest v%d with key %s active, though another run sharing this state recorded v2 listing it compromised meanwhile", tr.Manifest.Version, fpr)
			}
		}
	}
}
