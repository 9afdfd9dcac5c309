package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

type signEnv struct {
	dir, store, rk, site string
}

// newSignEnv: a store for charts.example.org with one root key (no
// passphrase), alice (every chart) and bob (scope app-*).
func newSignEnv(t *testing.T) (*signEnv, map[string]string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	e := &signEnv{dir: dir, store: filepath.Join(dir, "keyctl.db"), rk: filepath.Join(dir, "root.key"), site: filepath.Join(dir, "site")}
	rp := filepath.Join(dir, "root.pub")
	mustKC(t, "root", "create", "--name", "r", "--secret-out", e.rk, "--public-out", rp, "--no-passphrase")
	mustKC(t, "--store", e.store, "init", "--repository", "charts.example.org", "--root-key", rp)
	fprs := map[string]string{}
	fprs["alice"] = strings.Fields(mustKC(t, "--store", e.store, "add", maintainerKey(t, dir, "alice"), "--reason", "r"))[1]
	fprs["bob"] = strings.Fields(mustKC(t, "--store", e.store, "add", maintainerKey(t, dir, "bob"), "--reason", "r", "--scope", "app-*"))[1]
	return e, fprs
}

type indexJSON struct {
	Format string `json:"format"`
	Files  []struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
		Length int64  `json:"length"`
	} `json:"files"`
}

// putListed writes name into a signing directory and lists it in
// prepare.json with its hash, as an attacker on the way to the holder can.
func putListed(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
	ib, err := os.ReadFile(filepath.Join(dir, root.PrepareIndex))
	if err != nil {
		t.Fatal(err)
	}
	var idx indexJSON
	if err := json.Unmarshal(ib, &idx); err != nil {
		t.Fatal(err)
	}
	found := false
	for i := range idx.Files {
		if idx.Files[i].Name == name {
			idx.Files[i].SHA256, idx.Files[i].Length, found = root.Hash(data), int64(len(data)), true
		}
	}
	if !found {
		idx.Files = append(idx.Files, struct {
			Name   string `json:"name"`
			SHA256 string `json:"sha256"`
			Length int64  `json:"length"`
		}{name, root.Hash(data), int64(len(data))})
	}
	sort.Slice(idx.Files, func(i, j int) bool { return idx.Files[i].Name < idx.Files[j].Name })
	ib, _ = json.MarshalIndent(idx, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, root.PrepareIndex), append(ib, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRootSignRefusesExtraFiles: a second manifest slipped into the
// directory (listed in prepare.json, or merely present) is refused by name,
// and nothing is signed.
func TestRootSignRefusesExtraFiles(t *testing.T) {
	e, _ := newSignEnv(t)
	for name, listed := range map[string]bool{"keyctl-manifest2.json": true, "notes.txt": false} {
		sd := filepath.Join(e.dir, "sign-"+name)
		mustKC(t, "--store", e.store, "publish", "--prepare", sd)
		forged, err := os.ReadFile(filepath.Join(sd, root.ManifestName))
		if err != nil {
			t.Fatal(err)
		}
		forged = bytes.Replace(forged, []byte(`"version": 1`), []byte(`"version": 7`), 1)
		index, _ := os.ReadFile(filepath.Join(sd, root.PrepareIndex))
		if listed {
			putListed(t, sd, name, forged)
		} else if err := os.WriteFile(filepath.Join(sd, name), forged, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, cmd := range [][]string{{"root", "review", sd}, {"root", "sign", sd, "--root-key", e.rk}} {
			_, errOut, code := kc(t, nil, cmd...)
			if code != 2 || !strings.Contains(errOut, name) {
				t.Errorf("%s with %s (listed %v): exit %d\n%s", cmd[1], name, listed, code, errOut)
			}
		}
		ents, _ := os.ReadDir(sd)
		for _, en := range ents {
			if strings.HasSuffix(en.Name(), root.SigSuffix) {
				t.Errorf("%s: %s was signed", name, en.Name())
			}
		}
		// publish --from refuses it too, even once the real files are signed.
		os.Remove(filepath.Join(sd, name))
		os.WriteFile(filepath.Join(sd, root.PrepareIndex), index, 0o644)
		mustKC(t, "root", "sign", sd, "--root-key", e.rk)
		if listed {
			putListed(t, sd, name, forged)
		} else if err := os.WriteFile(filepath.Join(sd, name), forged, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, errOut, code := kc(t, nil, "--store", e.store, "publish", "--from", sd, "--to", e.site); code != 2 || !strings.Contains(errOut, name) {
			t.Errorf("publish --from with %s: exit %d\n%s", name, code, errOut)
		}
	}
}

// evilKeyring returns pubkeys.pgp with alice's certificate replaced by
// mallory's (a user ID carrying terminal escapes), and mallory's
// fingerprint.
func evilKeyring(t *testing.T, honest []byte, aliceFpr string) ([]byte, string) {
	t.Helper()
	list, err := pgpkey.ReadKeyring(honest, pgpkey.MaxKeyringSize)
	if err != nil {
		t.Fatal(err)
	}
	m, err := openpgp.NewEntity("Alice\x1b[2K\rOK", "", "alice@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519})
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, e := range append(list, m) {
		if pgpkey.Fingerprint(e) == aliceFpr {
			continue
		}
		b, err := pgpkey.SerializePublic(e, true)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out, pgpkey.Fingerprint(m)
}

// TestRootSignShowsTheChange: a directory that swaps alice's key for
// mallory's and drops bob's scope must not print the honest summary; the
// summary names each change, with user IDs escaped.
func TestRootSignShowsTheChange(t *testing.T) {
	e, fprs := newSignEnv(t)
	mustKC(t, "--store", e.store, "publish", "--to", e.site, "--root-key", e.rk)

	honest := filepath.Join(e.dir, "honest")
	mustKC(t, "--store", e.store, "publish", "--prepare", honest)
	evil := filepath.Join(e.dir, "evil")
	mustKC(t, "--store", e.store, "publish", "--prepare", evil)

	mb, _ := os.ReadFile(filepath.Join(evil, root.ManifestName))
	m, err := root.ParseManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := os.ReadFile(filepath.Join(evil, root.PubkeysFile))
	pub, mallory := evilKeyring(t, pub, fprs["alice"])
	for i := range m.Keys {
		switch m.Keys[i].Fingerprint {
		case fprs["alice"]:
			m.Keys[i].Fingerprint = mallory
		case fprs["bob"]:
			m.Keys[i].Scopes = nil
		}
	}
	for i := range m.Files {
		if m.Files[i].Name == root.PubkeysFile {
			m.Files[i].SHA256, m.Files[i].Length = root.Hash(pub), int64(len(pub))
		}
	}
	if mb, err = m.Marshal(); err != nil {
		t.Fatal(err)
	}
	putListed(t, evil, root.PubkeysFile, pub)
	putListed(t, evil, root.ManifestName, mb)

	// Unpinned, the holder cannot authenticate the baseline: refused.
	if _, errOut, code := kc(t, nil, "root", "sign", honest, "--root-key", e.rk); code != 1 || !strings.Contains(errOut, "no root set is pinned") {
		t.Fatalf("unpinned root sign: exit %d\n%s", code, errOut)
	}
	// The holder's pin (the store's root set, as keyctl init printed it).
	rs1, err := os.ReadFile(filepath.Join(honest, root.AnchorDir, "rootset-1.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KEYCTL_ROOT_SET", root.PinOf(rs1))
	_, hsum, code := kc(t, nil, "root", "sign", honest, "--root-key", e.rk)
	if code != 0 {
		t.Fatalf("honest: exit %d %s", code, hsum)
	}
	_, esum, _ := kc(t, nil, "root", "sign", evil, "--root-key", e.rk)
	if strings.ReplaceAll(hsum, honest, "D") == strings.ReplaceAll(esum, evil, "D") {
		t.Fatalf("the forged directory prints the honest summary:\n%s", esum)
	}
	for _, want := range []string{
		"changes against the published manifest version 1",
		"the published manifest version 1 is signed by 1 of root set 1",
		"authenticated by your pinned root set",
		"no key changes",
		`manifest version 2 for repository "charts.example.org"`,
	} {
		if !strings.Contains(hsum, want) {
			t.Errorf("honest summary lacks %q:\n%s", want, hsum)
		}
	}
	for _, want := range []string{
		"+ added    " + mallory + ` "Alice\x1b[2K\rOK <alice@example.org>"`,
		"- dropped  " + fprs["alice"],
		"~ changed  " + fprs["bob"],
		`, scope "app-*"`,
		"now active (in the store since",
	} {
		if !strings.Contains(esum, want) {
			t.Errorf("forged summary lacks %q:\n%s", want, esum)
		}
	}
	if strings.Contains(esum, "\x1b") || strings.Contains(esum, "\r") {
		t.Errorf("summary prints a raw control character:\n%q", esum)
	}
	// root review prints the same, names the files to sign, and needs no key.
	out := mustKC(t, "root", "review", honest)
	for _, want := range []string{"no key changes", "files to sign", root.ManifestName, root.PubkeysFile, root.RevokedFile} {
		if !strings.Contains(out, want) {
			t.Errorf("root review lacks %q:\n%s", want, out)
		}
	}
	if files := mustKC(t, "root", "review", "--files", honest); files != "keyctl-manifest.json\npubkeys.pgp\nrevoked.pgp\n" {
		t.Errorf("root review --files: %q", files)
	}
	// The honest one publishes; previous-manifest.json is not uploaded.
	mustKC(t, "--store", e.store, "publish", "--from", honest, "--to", e.site)
	if _, err := os.Stat(filepath.Join(e.site, root.PreviousManifest)); err == nil {
		t.Error("previous-manifest.json was uploaded")
	}
}
