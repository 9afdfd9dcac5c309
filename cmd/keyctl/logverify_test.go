package main

import (
	"encoding/binary"
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
