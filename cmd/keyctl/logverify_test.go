package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

// TestLogVerifyCatchesAlteredRecord alters one stored change-log record
// behind keyctl's back; `keyctl log --verify` must exit 1 naming it.
func TestLogVerifyCatchesAlteredRecord(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	store := filepath.Join(dir, "keyctl.db")
	rk, rp := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	mustKC(t, "root", "create", "--name", "r", "--secret-out", rk, "--public-out", rp, "--no-passphrase")
	mustKC(t, "--store", store, "init", "--repository", "charts.example.org", "--root-key", rp)
	mustKC(t, "--store", store, "add", maintainerKey(t, dir, "alice"), "--reason", "maintainer", "--ticket", "T-1")
	mustKC(t, "--store", store, "add", maintainerKey(t, dir, "bob"), "--reason", "maintainer")
	if out := mustKC(t, "--store", store, "log", "--verify"); !strings.Contains(out, "3 records") {
		t.Fatalf("log --verify before: %s", out)
	}

	db, err := bbolt.Open(store, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("log"))
		k := make([]byte, 8)
		binary.BigEndian.PutUint64(k, 2)
		v := b.Get(k)
		nv := strings.Replace(string(v), `"ticket":"T-1"`, `"ticket":"T-2"`, 1)
		if nv == string(v) {
			t.Fatalf("record 2 has no ticket to alter: %s", v)
		}
		return b.Put(k, []byte(nv))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := kc(t, nil, "--store", store, "log", "--verify")
	if code != 1 || !strings.Contains(errOut, "keyctl: not trusted: change log is broken at record 3") {
		t.Fatalf("log --verify after altering record 2: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "keyctl: hint:") {
		t.Fatalf("no hint: %s", errOut)
	}
}

// TestTamperedStoreRefused edits the bbolt file behind keyctl's back: a
// key removed as compromised is flipped back to active. `keyctl log
// --verify` must exit 1 naming the key, and publish (direct, prepare and
// from a signing directory) must refuse to sign it back in.
func TestTamperedStoreRefused(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	store := filepath.Join(dir, "keyctl.db")
	rk, rp := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	mustKC(t, "root", "create", "--name", "r", "--secret-out", rk, "--public-out", rp, "--no-passphrase")
	mustKC(t, "--store", store, "init", "--repository", "charts.example.org", "--root-key", rp)
	mustKC(t, "--store", store, "add", maintainerKey(t, dir, "alice"), "--reason", "maintainer")
	out := mustKC(t, "--store", store, "add", maintainerKey(t, dir, "mallory"), "--reason", "maintainer")
	fpr := strings.Fields(out)[1]
	mustKC(t, "--store", store, "remove", fpr, "--reason", "compromised")
	site := filepath.Join(dir, "site")
	mustKC(t, "--store", store, "publish", "--to", site, "--root-key", rk)
	signDir := filepath.Join(dir, "sign")
	mustKC(t, "--store", store, "publish", "--prepare", signDir)
	mustKC(t, "--store", store, "root", "sign", signDir, "--root-key", rk)

	db, err := bbolt.Open(store, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("keys"))
		var k map[string]any
		if err := json.Unmarshal(b.Get([]byte(fpr)), &k); err != nil {
			return err
		}
		if k["status"] != "removed" {
			t.Fatalf("stored key is %v", k["status"])
		}
		k["status"] = "active"
		delete(k, "removal")
		v, _ := json.Marshal(k)
		return b.Put([]byte(fpr), v)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	_, errOut, code := kc(t, nil, "--store", store, "log", "--verify")
	if code != 1 || !strings.Contains(errOut, "key "+fpr+": the store record is not what the change log explains: it is active, but log record 4 removed it as compromised") ||
		!strings.Contains(errOut, "restore the store from a backup") {
		t.Fatalf("log --verify after reactivating a compromised key: exit %d\n%s", code, errOut)
	}
	for _, args := range [][]string{
		{"publish", "--to", site, "--root-key", rk},
		{"publish", "--prepare", filepath.Join(dir, "sign2")},
		{"publish", "--from", signDir, "--to", site},
	} {
		_, errOut, code := kc(t, nil, append([]string{"--store", store}, args...)...)
		if code != 1 || !strings.Contains(errOut, "refusing to publish: the store is not what its change log explains: key "+fpr) ||
			!strings.Contains(errOut, "the team lead should restore the store from a backup and investigate") {
			t.Fatalf("%v on a tampered store: exit %d\n%s", args, code, errOut)
		}
	}
	// The live manifest still lists the key as removed.
	m, err := os.ReadFile(filepath.Join(site, "keyctl-manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(m), `"version": 1`) && !strings.Contains(string(m), `"version":1`) {
		t.Fatalf("manifest changed: %s", m)
	}
}
