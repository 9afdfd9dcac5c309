package main

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

// FuzzConfig runs the real command in-process with a fuzzed config file,
// against `keyctl list` and `keyctl check` (which reads the config's policy
// section): no config panics keyctl, every failure is exit 1 or 2 in
// keyctl's voice, and nothing a config says changes the store.
func FuzzConfig(f *testing.F) {
	dir := f.TempDir()
	store := filepath.Join(dir, "keyctl.db")
	rootKey, rootPub := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	for _, args := range [][]string{
		{"root", "create", "--name", "fuzz root", "--secret-out", rootKey, "--public-out", rootPub, "--no-passphrase"},
		{"--store", store, "init", "--repository", "charts.example.org", "--root-key", rootPub},
	} {
		if _, errs, code := runIn(args...); code != 0 {
			f.Fatalf("keyctl %s: %s", strings.Join(args, " "), errs)
		}
	}
	key := newMaintainer(f, dir, "FuzzMaint")
	if _, errs, code := runIn("--store", store, "--actor", "fuzz", "add", key.file, "--reason", "seed"); code != 0 {
		f.Fatalf("add: %s", errs)
	}
	before := fileSum(f, store)

	for _, seed := range []string{
		"",
		"output: json\n",
		"store: /nonexistent/keyctl.db\nlock-timeout: 1s\n",
		"policy:\n  min_rsa_bits: 4096\n  max_validity: 2y\n",
		"policy:\n  min_rsa_bits: lots\n",
		"list:\n  all: true\n",
		"check:\n  output: json\n",
		"lock-timeout: forever\n",
		"output: [a, b]\n",
		"a: &a [*a, *a]\n",
		"x: &x [1,2,3,4,5,6,7,8,9]\ny: &y [*x,*x,*x,*x,*x,*x,*x,*x,*x]\nz: [*y,*y,*y,*y,*y,*y,*y,*y,*y]\n",
		strings.Repeat("[", 200) + strings.Repeat("]", 200),
		"\xff\xfeo\x00u\x00t\x00",
		"policy: 3\n",
		"policy:\n  rules: {a: {b: {c: d}}}\n",
	} {
		f.Add([]byte(seed))
	}
	cfg := filepath.Join(dir, "config.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(cfg, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"--config", cfg, "--store", store, "list"},
			{"--config", cfg, "--store", store, "check", key.file},
		} {
			out, errs, code := runIn(args...)
			switch code {
			case 0:
				if out == "" {
					t.Fatalf("keyctl %s: exit 0 and no output", strings.Join(args, " "))
				}
			case 1, 2:
				assertVoice(t, errs)
			default:
				t.Fatalf("keyctl %s: exit %d\n%s", strings.Join(args, " "), code, errs)
			}
		}
		if !bytes.Equal(fileSum(t, store), before) {
			t.Fatal("a config file changed the store during list/check")
		}
	})
}

func fileSum(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(data)
	return s[:]
}

// FuzzRootSignatures feeds fuzzed detached-signature files (what
// publish --from, root rotate --from and clients read next to every signed
// object) to root.Verify and root.Merge, whose packet splitting and
// de-armoring are keyctl's own code: no input panics them, and a signature
// set is only ever accepted with signers from the root set.
func FuzzRootSignatures(f *testing.F) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var ents []*openpgp.Entity
	var sigs [][]byte
	data := []byte("keyctl-manifest/1 fuzz payload\n")
	for _, name := range []string{"fuzz root one", "fuzz root two"} {
		c, err := root.Create(root.CreateOptions{Name: name, Algo: root.Ed25519}, now.Add(-time.Hour))
		if err != nil {
			f.Fatal(err)
		}
		sec, err := root.LoadSecret(c.Secret, nil)
		if err != nil {
			f.Fatal(err)
		}
		pub, err := root.LoadPublic(c.Public)
		if err != nil {
			f.Fatal(err)
		}
		ents = append(ents, pub)
		sig, err := root.Sign(sec, data, now)
		if err != nil {
			f.Fatal(err)
		}
		sigs = append(sigs, sig)
	}
	set, err := root.NewRootSet("charts.example.org", ents, 2, now.Add(-time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	merged, err := root.Merge(sigs...)
	if err != nil {
		f.Fatal(err)
	}
	if got, err := root.Verify(data, merged, set, now); err != nil || len(got) != 2 {
		f.Fatalf("seed signatures do not verify: %v %v", got, err)
	}
	f.Add(merged)
	f.Add(sigs[0])
	f.Add(merged[:len(merged)/2])
	if arm, err := pgpkey.Armor("PGP SIGNATURE", merged); err == nil {
		f.Add(arm)
	}
	f.Add(append(append([]byte(nil), sigs[0]...), sigs[0]...))
	known := map[string]bool{}
	for _, fp := range set.Fingerprints() {
		known[fp] = true
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		signers, err := root.Verify(data, in, set, now)
		if err == nil {
			if len(signers) < set.Threshold {
				t.Fatalf("accepted %d signers below the threshold %d", len(signers), set.Threshold)
			}
			for _, s := range signers {
				if !known[s] {
					t.Fatalf("accepted signer %s outside the root set", s)
				}
			}
		}
		_, _ = root.Merge(in)
		_, _ = root.Merge(merged, in)
	})
}
