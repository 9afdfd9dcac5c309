package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

// Attack (someone who can edit the offline signing directory on its way to
// the root holders, or on the team lead's machine): root set 2 is {A, B,
// C} 2-of-3. The team lead prepares a rotation that adds D
// (`keyctl root rotate --add d.pub --prepare DIR`: {A, B, C, D} 2-of-4).
// The attacker replaces rootset-3.json (and its line in prepare.json) with
// {A, B', C', D} 2-of-4, where B' and C' are the attacker's keys carrying
// the user IDs of B and C.
//
// For a publish directory, root review/sign print every change against
// the published manifest; for a rotation they print only the new set's
// keys, with nothing to compare them against, so the swap of two existing
// root keys reads exactly like the honest "add D" (same names, same
// threshold, same count). A and B (or any two holders of set 2) who sign
// it hand the attacker two keys of a 2-of-4 set: every later manifest.
// `root rotate --from` takes whatever set the directory holds as long as
// the link verifies. The review must show which keys of the current root
// set the new set drops (here B and C).
func TestAttackRotationReviewHidesSwappedRootKeys(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	store := filepath.Join(dir, "keyctl.db")
	keys := map[string][2]string{} // id -> secret, public file
	create := func(id, name string) {
		sec, pub := filepath.Join(dir, id+".key"), filepath.Join(dir, id+".pub")
		mustKC(t, "root", "create", "--name", name, "--secret-out", sec, "--public-out", pub, "--no-passphrase")
		keys[id] = [2]string{sec, pub}
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		create(id, "root "+id)
	}
	create("b2", "root b") // the attacker's keys, named as B and C
	create("c2", "root c")
	ent := func(id string) *openpgp.Entity {
		data, err := os.ReadFile(keys[id][1])
		if err != nil {
			t.Fatal(err)
		}
		e, err := root.LoadPublic(data)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}

	mustKC(t, "--store", store, "init", "--repository", "charts.example.org", "--root-key", keys["a"][1])
	rot2 := mustKC(t, "--store", store, "root", "rotate", "--add", keys["b"][1], "--add", keys["c"][1], "--threshold", "2",
		"--root-key", keys["a"][0], "--root-key", keys["b"][0])
	// The holders pin root set 2 (the pin root rotate prints), as clients do.
	_, pin, ok := strings.Cut(rot2, "--root-set ")
	if !ok {
		t.Fatalf("fixture: root rotate prints no pin:\n%s", rot2)
	}
	t.Setenv("KEYCTL_ROOT_SET", strings.Fields(pin)[0])
	sd := filepath.Join(dir, "rotate")
	mustKC(t, "--store", store, "root", "rotate", "--add", keys["d"][1], "--prepare", sd)
	name := "rootset-3.json"
	honest, err := os.ReadFile(filepath.Join(sd, name))
	if err != nil {
		t.Fatal(err)
	}
	hs, err := root.ParseRootSet(honest)
	if err != nil || hs.Version != 3 || len(hs.Keys) != 4 {
		t.Fatalf("fixture: prepared %v %v", hs, err)
	}

	forged, err := root.NewRootSet("charts.example.org", []*openpgp.Entity{ent("a"), ent("b2"), ent("c2"), ent("d")}, 2, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forged.Version = 3
	fb, err := forged.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	putListed(t, sd, name, fb)

	out, errOut, code := kc(t, nil, "root", "review", sd)
	if code != 0 {
		t.Fatalf("fixture: review exit %d\n%s", code, errOut)
	}
	for _, id := range []string{"b", "c"} {
		fpr := pgpkey.Fingerprint(ent(id))
		if !strings.Contains(out, fpr) {
			t.Errorf("root review of a rotation that drops root key %s (%q) of the current set does not name it; the holder sees:\n%s", fpr, "root "+id, out)
		}
	}

	for _, id := range []string{"b", "c"} {
		if fpr := pgpkey.Fingerprint(ent(id)); !strings.Contains(out, "DROPPED  "+fpr) {
			t.Errorf("root review does not say that the rotation drops root key %s of the current set:\n%s", fpr, out)
		}
	}

	// Impact: holders A and B sign what they were shown (B' is the
	// attacker's), and the store takes the set in: B' and C' now hold a
	// threshold of the current root set.
	mustKC(t, "root", "sign", sd, "--root-key", keys["a"][0], "--root-key", keys["b"][0], "--root-key", keys["b2"][0])
	rot, errOut, code := kc(t, nil, "--store", store, "root", "rotate", "--from", sd)
	if code != 0 {
		t.Fatalf("fixture: rotate --from exit %d\n%s", code, errOut)
	}
	if !strings.Contains(rot, pgpkey.Fingerprint(ent("b2"))) || !strings.Contains(rot, pgpkey.Fingerprint(ent("c2"))) {
		t.Fatalf("fixture: the swapped set was not taken in:\n%s", rot)
	}
}
