package policy

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/testutil/peers"
)

// helmKEYS finds Helm's KEYS file (the release signing keys) in the module
// cache: helm.sh/helm/v4@*/KEYS and v3@*/KEYS. Helm is not a dependency of
// keyctl's module graph, so the files are there only where Helm's source was
// downloaded (.ci/run does); missing files skip the test, or fail it under
// KEYCTL_REQUIRE_PEERS=1.
func helmKEYS(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	cache := strings.TrimSpace(string(out))
	var files []string
	for _, major := range []string{"v3", "v4"} {
		m, _ := filepath.Glob(filepath.Join(cache, "helm.sh", "helm", major+"@*", "KEYS"))
		files = append(files, m...)
	}
	if len(files) == 0 {
		msg := "Helm's KEYS file is not in " + cache + "/helm.sh/helm/{v3,v4}@*/ (go mod download helm.sh/helm/v4)"
		if peers.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return files
}

// armoredBlocks cuts the public key blocks out of a file that also holds
// other text, as Helm's KEYS does (gpg listings between the blocks).
func armoredBlocks(data []byte) [][]byte {
	const begin, end = "-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----END PGP PUBLIC KEY BLOCK-----"
	var out [][]byte
	for {
		i := bytes.Index(data, []byte(begin))
		if i < 0 {
			return out
		}
		j := bytes.Index(data[i:], []byte(end))
		if j < 0 {
			return out
		}
		out = append(out, data[i:i+j+len(end)])
		data = data[i+j+len(end):]
	}
}

// TestHelmKEYS runs the policy over the keys that sign Helm's own releases,
// at a fixed time, 2026-11-01 (after the newest key was made, 2026-02-08).
//
// What the file holds (Helm v4.3.1's KEYS; v3.22.0's is its first eight
// blocks): eight RSA-4096 keys from 2014-2021 and two Ed25519 keys from
// 2024 and 2026, all with SHA-256 or SHA-512 self-signatures. Most never
// expire, so the default policy refuses them for no-expiry; one (Taylor
// Thomas) expired in 2022, and one (Matt Butcher, 6E2A23D8...) runs to 2037.
// Expired RSA-2048 subkeys (Adam Reese, Matt Butcher 62F49E74...) and an
// expired RSA-4096 signing subkey (Matt Farina) are dead and not judged.
// With expiry not required and no validity limit, every key but the
// expired one is accepted: RSA-4096 passes min_rsa_bits 3072, and the
// Ed25519 keys pass by algorithm.
func TestHelmKEYS(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	lenient := Default()
	lenient.RequireExpiry = false
	lenient.MaxValidity = CeilingValidity

	type want struct {
		who             string
		algo            string
		strict, relaxed []string // rules under Default and lenient
	}
	table := map[string]want{
		"461449C25E36B98E": {"Matthew Farina", "RSA-4096", []string{RuleNoExpiry}, nil},
		"6EA5D7598529A53E": {"Martin Hickey", "RSA-4096", []string{RuleNoExpiry}, nil},
		"92AA783CBAAE8E3B": {"Matthew Fisher", "RSA-4096", []string{RuleNoExpiry}, nil},
		"6DCCB9D752D35BA8": {"Taylor Thomas", "RSA-4096", []string{RuleExpired}, []string{RuleExpired}},
		"1EF612347F8A9958": {"Adam Reese", "RSA-4096", []string{RuleNoExpiry}, nil},
		"62F49E747D911B60": {"Matt Butcher", "RSA-4096", []string{RuleNoExpiry}, nil},
		"6E2A23D806B6E6DD": {"Matt Butcher", "RSA-4096", []string{RuleValidityTooLong}, nil},
		"C7C6FBB5B91C1155": {"Scott Rigby", "RSA-4096", []string{RuleNoExpiry}, nil},
		"C2D40F4D8196E874": {"Robert Sirchia", "Ed25519", []string{RuleNoExpiry}, nil},
		"D79D67C9EC016739": {"George Jenkins", "Ed25519", []string{RuleNoExpiry}, nil},
	}
	seen := map[string]bool{}
	for _, file := range helmKEYS(t) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		blocks := armoredBlocks(data)
		if len(blocks) < 8 {
			t.Fatalf("%s: %d key blocks, want at least 8", file, len(blocks))
		}
		for _, b := range blocks {
			e := readKey(t, b)
			id := keyID(e.PrimaryKey)
			w, ok := table[id]
			if !ok {
				t.Errorf("%s: key %s (%v) is not in the expectation table: look at it and add it", file, id, slices.Sorted(maps.Keys(e.Identities)))
				continue
			}
			seen[id] = true
			if got := AlgorithmName(e.PrimaryKey); got != w.algo {
				t.Errorf("%s %s: algorithm %s, want %s", w.who, id, got, w.algo)
			}
			t.Run(filepath.Base(filepath.Dir(file))+"/"+id, func(t *testing.T) {
				vs := check(t, Default(), b, now, nil)
				wantRules(t, vs, w.strict...)
				for _, v := range vs {
					if v.KeyID != id {
						t.Errorf("%s: violation on %s, want on the primary key", w.who, v.Error())
					}
				}
				wantRules(t, check(t, lenient, b, now, nil), w.relaxed...)
			})
		}
	}
	for id, w := range table {
		if !seen[id] {
			t.Errorf("key %s (%s) of the table was not in any KEYS file", id, w.who)
		}
	}
}
