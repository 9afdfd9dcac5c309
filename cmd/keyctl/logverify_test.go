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

// tamperedStore makes a store with alice (active) and mallory (removed as
// compromised), published once, with a signed signing directory prepared.
func tamperedStore(t *testing.T) (dir, store, rk, alice, mallory, signDir string) {
	t.Helper()
	dir = t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	store = filepath.Join(dir, "keyctl.db")
	rk, rp := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	mustKC(t, "root", "create", "--name", "r", "--secret-out", rk, "--public-out", rp, "--no-passphrase")
	initOut := mustKC(t, "--store", store, "init", "--repository", "charts.example.org", "--root-key", rp)
	_, pin, _ := strings.Cut(initOut, "--root-set ")
	alice = strings.Fields(mustKC(t, "--store", store, "add", maintainerKey(t, dir, "alice"), "--reason", "maintainer"))[1]
	mallory = strings.Fields(mustKC(t, "--store", store, "add", maintainerKey(t, dir, "mallory"), "--reason", "maintainer"))[1]
	mustKC(t, "--store", store, "remove", mallory, "--reason", "compromised")
	mustKC(t, "--store", store, "publish", "--to", filepath.Join(dir, "site"), "--root-key", rk)
	signDir = filepath.Join(dir, "sign")
	mustKC(t, "--store", store, "publish", "--prepare", signDir)
	mustKC(t, "--store", store, "root", "sign", signDir, "--root-set", strings.Fields(pin)[0], "--root-key", rk)
	return
}

func editStore(t *testing.T, store string, f func(tx *bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(store, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(f)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTamperedStoreRefused edits the bbolt file behind keyctl's back: a
// key removed as compromised is flipped back to active, an active key's
// record is altered, a ledger record is added without a log record.
// `keyctl log --verify` must exit 1 naming the record, and publish
// (direct, --prepare and --from a signed directory) must refuse to sign.
func TestTamperedStoreRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(tx *bbolt.Tx, alice, mallory string) error
		says   func(alice, mallory string) string
	}{
		{"compromised key reactivated", func(tx *bbolt.Tx, _, mallory string) error {
			b := tx.Bucket([]byte("keys"))
			var k map[string]any
			if err := json.Unmarshal(b.Get([]byte(mallory)), &k); err != nil {
				return err
			}
			if k["status"] != "removed" {
				t.Fatalf("stored key is %v", k["status"])
			}
			k["status"] = "active"
			delete(k, "removal")
			v, _ := json.Marshal(k)
			return b.Put([]byte(mallory), v)
		}, func(_, mallory string) string {
			return "key " + mallory + ": the store record is not what the change log explains: it is active, but log record 4 removed it as compromised"
		}},
		{"key record altered", func(tx *bbolt.Tx, alice, _ string) error {
			b := tx.Bucket([]byte("keys"))
			v := strings.Replace(string(b.Get([]byte(alice))), `"reason":"maintainer"`, `"reason":"maintainer","scopes":["*"]`, 1)
			return b.Put([]byte(alice), []byte(v))
		}, func(alice, _ string) string {
			return "key " + alice + ": the store record is not what the change log explains: it differs from what log record 2 wrote"
		}},
		{"ledger record without a log record", func(tx *bbolt.Tx, _, _ string) error {
			return tx.Bucket([]byte("ledger")).Put([]byte("evil\x006.6.6"), []byte(`{"chart":"evil","version":"6.6.6","archive_sha256":"00","first_seen":"2020-01-01T00:00:00Z"}`))
		}, func(_, _ string) string {
			return "store record ledger/evil/6.6.6 is not what the change log explains: no log record wrote it"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, store, rk, alice, mallory, signDir := tamperedStore(t)
			site := filepath.Join(dir, "site")
			live, err := os.ReadFile(filepath.Join(site, "keyctl-manifest.json"))
			if err != nil {
				t.Fatal(err)
			}
			editStore(t, store, func(tx *bbolt.Tx) error { return tc.tamper(tx, alice, mallory) })
			want := tc.says(alice, mallory)
			_, errOut, code := kc(t, nil, "--store", store, "log", "--verify")
			if code != 1 || !strings.Contains(errOut, "keyctl: not trusted: "+want) || !strings.Contains(errOut, "restore the store from a backup") {
				t.Fatalf("log --verify on a tampered store: exit %d\n%s\nwant %s", code, errOut, want)
			}
			for _, args := range [][]string{
				{"publish", "--to", site, "--root-key", rk},
				{"publish", "--prepare", filepath.Join(dir, "sign2")},
				{"publish", "--from", signDir, "--to", site},
			} {
				_, errOut, code := kc(t, nil, append([]string{"--store", store}, args...)...)
				if code != 1 || !strings.Contains(errOut, "refusing to publish: the store is not what its change log explains: "+want) ||
					!strings.Contains(errOut, "the team lead should restore the store from a backup and investigate") {
					t.Fatalf("%v on a tampered store: exit %d\n%s", args, code, errOut)
				}
			}
			if now, _ := os.ReadFile(filepath.Join(site, "keyctl-manifest.json")); string(now) != string(live) {
				t.Fatal("the live manifest changed")
			}
		})
	}
}
