package root

import (
	"strings"
	"testing"
)

// indexManifest is exampleManifest with an active index key, which makes
// indexkeys.pgp a bound file.
func indexManifest() *Manifest {
	m := exampleManifest()
	m.Files = append([]FileRef{{Name: IndexKeysFile, SHA256: Hash([]byte("index")), Length: 5}}, m.Files...)
	m.Keys = append(m.Keys, KeyEntry{Fingerprint: strings.Repeat("C", 40), Status: Active, Added: m.Issued.AddDate(0, -1, 0), Role: RoleIndex})
	return m
}

func TestManifestRoles(t *testing.T) {
	m := indexManifest()
	data, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"role": "index"`) || strings.Contains(string(data), `"role": "maintainer"`) {
		t.Fatalf("manifest with an index key:\n%s", data)
	}
	got, err := ParseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if ik := got.IndexKeys(); len(ik) != 1 || ik[0].Fingerprint != strings.Repeat("C", 40) {
		t.Fatalf("index keys after the round trip: %+v", ik)
	}
	if names := got.FileNames(); strings.Join(names, ",") != "indexkeys.pgp,pubkeys.pgp,revoked.pgp" {
		t.Fatalf("files %v", names)
	}
	// A manifest without index keys is byte for byte what it was before
	// roles existed (no role field).
	plain, err := exampleManifest().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(plain), "role") {
		t.Fatalf("a maintainer-only manifest names roles:\n%s", plain)
	}
	// "maintainer" is the default and is never written: the explicit form
	// is not canonical.
	if _, err := ParseManifest([]byte(strings.Replace(string(plain), `"scopes"`, `"role": "maintainer", "scopes"`, 1))); err == nil {
		t.Fatal("a manifest spelling out role maintainer was accepted")
	}

	for name, tc := range map[string]struct {
		edit func(m *Manifest)
		want string
	}{
		"index key without indexkeys.pgp": {func(m *Manifest) { m.Files = m.Files[1:] }, "2 files"},
		"indexkeys.pgp without index key": {func(m *Manifest) { m.Keys = m.Keys[:2] }, "3 files"},
		"index key with scopes":           {func(m *Manifest) { m.Keys[2].Scopes = []string{"web-*"} }, "an index key signs no chart"},
		"unknown role":                    {func(m *Manifest) { m.Keys[0].Role = "root" }, `role "root"`},
	} {
		m := indexManifest()
		tc.edit(m)
		if _, err := m.Marshal(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// A removed index key is no longer active: no indexkeys.pgp.
	m = indexManifest()
	m.Files = m.Files[1:]
	m.Keys[2].Status, m.Keys[2].Reason, m.Keys[2].Effective = Removed, Retired, m.Issued
	if _, err := m.Marshal(); err != nil {
		t.Fatalf("removed index key: %v", err)
	}
}
