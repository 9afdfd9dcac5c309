package client

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyctl/keyctl/internal/tlog"
)

func TestMonitorRevSeenReportsOnceAndForgets(t *testing.T) {
	const k, s = "0123456789ABCDEF0123456789ABCDEF01234567", "89ABCDEF0123456789ABCDEF0123456789ABCDEF"
	r, err := newRevSeen(nil)
	if err != nil {
		t.Fatal(err)
	}
	rev := []revocation{{id: "aaaaaaaaaaaa", reason: "compromised"}}
	with := &keyringView{certs: map[string]*certSummary{k: {revs: rev, subkeys: map[string][]revocation{s: rev}}}}
	without := &keyringView{certs: map[string]*certSummary{k: {subkeys: map[string][]revocation{}}}}
	bare := &keyringView{certs: map[string]*certSummary{k: {subkeys: map[string][]revocation{s: nil}}}}
	if evs, err := r.check(0, 1, with, nil); err != nil || len(evs) != 0 || r.n != 2 {
		t.Fatalf("first sight: %v %v n=%d", evs, err, r.n)
	}
	// Subkey left out, key revocation dropped: the key's is reported.
	evs, err := r.check(1, 2, without, nil)
	if err != nil || len(evs) != 1 || evs[0].Kind != kindKeyRevocationRemoved {
		t.Fatalf("step 1: %+v %v", evs, err)
	}
	// Subkey back without its revocation: reported, then forgotten.
	evs, err = r.check(2, 3, bare, nil)
	if err != nil || len(evs) != 1 || evs[0].Kind != kindSubkeyRevocationRemoved || evs[0].Subkey != s {
		t.Fatalf("step 2: %+v %v", evs, err)
	}
	if evs, _ := r.check(3, 4, bare, nil); len(evs) != 0 || r.n != 0 || r.state() != nil {
		t.Fatalf("reported twice: %+v n=%d", evs, r.n)
	}
	// Already reported by diffKeyrings: not twice.
	r.check(4, 5, with, nil)
	prior := []Event{{Index: 5, Kind: kindKeyRevocationRemoved, Fingerprint: k, Detail: rev[0].describe() + ", no longer in the certificate"}}
	if evs, _ := r.check(5, 6, bare, prior); len(evs) != 1 || evs[0].Kind != kindSubkeyRevocationRemoved {
		t.Fatalf("want the subkey's only, the key's being reported by diffKeyrings: %+v", evs)
	}
}

func TestMonitorStateRevocationsOptional(t *testing.T) {
	dir := t.TempDir()
	f, _, l := rt7LoggedFixture(t)
	f.add(newMaintainer(t, "alice"))
	rt7PublishLogged(t, f, l, t0)
	cp, _ := json.Marshal(string(mustGet(t, f.b, tlog.CheckpointPath)))
	write := func(extra string) string {
		p := filepath.Join(dir, "s.json")
		body := `{"format":"` + MonitorStateFormat + `","location":"x","checkpoint":` + string(cp) + `,"last_version":1,"last_sha256":"` + strings.Repeat("a", 64) + `"` + extra + `}`
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := readMonitorState(write("")); err != nil {
		t.Fatalf("a state without revocations (older keyctl): %v", err)
	}
	if _, err := readMonitorState(write(`,"revocations":{"` + strings.Repeat("A", 40) + `":["aaaaaaaaaaaa"]}`)); err != nil {
		t.Fatalf("revocations refused: %v", err)
	}
	if _, err := readMonitorState(write(`,"revocations":{"nope":["aaaaaaaaaaaa"]}`)); err == nil {
		t.Fatal("a damaged revocations field is accepted")
	}
}
