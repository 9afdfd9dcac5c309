package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/root"
)

// Attack (repository host + the holder of one root key rotated out of a
// 1-of-2 root set): two keyctl runs share a state directory (parallel CI
// jobs, `xargs -P`). Root set 1 = {A, C} 1-of-2; C is rotated out (root set
// 2 = {A, B} 2-of-2, a valid link) and manifest v2 under set 2 is live.
// C signs, alone, a manifest v3 naming root set 1 (previous = v2, listing
// mallory as active).
//
// Run B reads the state (it still records root set 1), then the host
// answers slowly; meanwhile run A loads the honest repository and records
// root set 2. The host then serves run B C's manifest v3 with root set 2
// hidden. Under the state lock, writeChecked compares versions and
// manifest hashes and asks checkHistory whether v3 descends from v2 (it
// does), but never compares the root set: run B trusts C's manifest and
// writes root set 1 over the recorded root set 2.
//
// docs/verify.md (State): "an older record never replaces a newer one",
// and (Pins) once a client has seen the newer set "it refuses the old one
// for good (rollback)"; "a root key that has left the set can never again
// sign anything this client accepts". After the race every later run of
// this client resumes from root set 1 and keeps trusting C.
func TestAttackStateRaceRollsBackRootSet(t *testing.T) {
	a, b, c := newRootKey(t, "root a"), newRootKey(t, "root b"), newRootKey(t, "root c")
	dir := t.TempDir()
	f := newFixture(t, dir, "charts.example.org", a)
	set1, err := root.NewRootSet(f.repo, []*openpgp.Entity{a.pub, c.pub}, 1, t0)
	if err != nil {
		t.Fatal(err)
	}
	f.useSet(set1, a)
	set1Bytes, set1Sigs := f.setBytes, f.setSigs
	f.add(newMaintainer(t, "alice"))
	f.publish(t0, a)
	pins := root.Pins{RootSetSHA256: root.Hash(set1Bytes)} // the pin handed out before the rotation

	srvMode := struct {
		sync.Mutex
		attack  bool
		honestM []byte
		hook    func()
	}{}
	fileSrv := http.FileServer(http.Dir(dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srvMode.Lock()
		attack, honest, hook := srvMode.attack, srvMode.honestM, srvMode.hook
		if attack && r.URL.Path == "/"+root.ManifestName && hook != nil {
			srvMode.hook = nil
			srvMode.Unlock()
			hook() // run B waits for its manifest while run A goes ahead
			srvMode.Lock()
		}
		srvMode.Unlock()
		switch {
		case !attack && r.URL.Path == "/"+root.ManifestName && honest != nil:
			w.Write(honest)
			return
		case attack && (r.URL.Path == "/"+root.RootSetPath(2) || r.URL.Path == "/"+root.RootSetPath(2)+root.SigSuffix):
			http.NotFound(w, r)
			return
		}
		fileSrv.ServeHTTP(w, r)
	}))
	defer srv.Close()
	load := func(state string, now time.Time) (*Trusted, error) {
		return Load(context.Background(), Options{Location: srv.URL, Pins: pins, StateDir: state, Now: func() time.Time { return now }})
	}

	state := t.TempDir()
	if _, err := load(state, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	// Honest rotation: C leaves; manifest v2 under set 2.
	set2, err := root.Rotate(set1, []*openpgp.Entity{b.pub}, fprs(c), 2, t0)
	if err != nil {
		t.Fatal(err)
	}
	f.useSet(set2, a, b)
	f.publish(t0.Add(time.Hour), a, b)
	v2, err := os.ReadFile(filepath.Join(dir, root.ManifestName))
	if err != nil {
		t.Fatal(err)
	}

	// C's manifest v3 under set 1, previous = v2, signed by C alone.
	f.set, f.setBytes, f.setSigs = set1, set1Bytes, set1Sigs
	f.add(newMaintainer(t, "mallory"))
	f.publish(t0.Add(2*time.Hour), c)

	now := t0.Add(3 * time.Hour)
	srvMode.Lock()
	srvMode.honestM = v2
	srvMode.attack = true
	var runA error
	srvMode.hook = func() {
		srvMode.Lock()
		srvMode.attack = false
		srvMode.Unlock()
		tr, err := load(state, now)
		if err == nil && tr.RootSet.Version != 2 {
			t.Errorf("fixture: run A trusted root set %d", tr.RootSet.Version)
		}
		runA = err
		srvMode.Lock()
		srvMode.attack = true
		srvMode.Unlock()
	}
	srvMode.Unlock()

	trB, errB := load(state, now) // run B
	if runA != nil {
		t.Fatalf("fixture: run A (honest) failed: %v", runA)
	}
	st, err := ReadState(state, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if errB == nil {
		t.Errorf("run B trusted manifest v%d under root set %d, signed by rotated-out root C alone, although run A had recorded root set 2 in the shared state", trB.Manifest.Version, trB.RootSet.Version)
	}
	if st.RootVersion < 2 {
		t.Errorf("the client state was rolled back from root set 2 to root set %d (manifest v%d): every later run resumes from the old set", st.RootVersion, st.Version)
	}
}
