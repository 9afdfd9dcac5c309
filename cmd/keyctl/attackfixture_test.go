package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// Set-up shared by the attack tests on the index statement
// (index*_attack_test.go, on top of newIndexFixture) and on the store
// file (store*_attack_test.go, on top of newCLIStore).

// mustSign runs index sign on the CI folder and fails the test unless it
// exits 0; it returns the statement written.
func (f *indexFixture) mustSign(t *testing.T, extra ...string) *indexsig.Statement {
	t.Helper()
	s, code, out := f.sign(t, extra...)
	if code != 0 {
		t.Fatalf("index sign: exit %d\n%s", code, out)
	}
	return s
}

// signAndPublish runs index sign with --published site and, when it exits
// 0, publishes the new pair to site, as CI does after each run.
func (f *indexFixture) signAndPublish(t *testing.T, site string) (*indexsig.Statement, int, string) {
	t.Helper()
	s, code, out := f.sign(t, "--published", site)
	if code == 0 {
		publishPair(t, f.pages, site)
	}
	return s, code, out
}

// publishPair copies keyctl-index.json and its .sig from pages to site,
// as CI publishes them (the repository's public location).
func publishPair(t *testing.T, pages, site string) {
	t.Helper()
	if err := os.MkdirAll(site, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{indexsig.Name, indexsig.SigName} {
		data, err := os.ReadFile(filepath.Join(pages, name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, site, name, data)
	}
}

// addProv writes the .prov of NAME 1.0.0, signed by signer, into the CI
// folder (index.yaml is left as it is) and returns it.
func (f *indexFixture) addProv(t *testing.T, name string, signer maintainer) []byte {
	t.Helper()
	archive, err := charts.Archive(charts.Spec{Name: name, Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := charts.SignBytes(signer.entity, name+"-1.0.0.tgz", archive, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.pages, name+"-1.0.0.tgz.prov", prov)
	f.provs[name] = prov
	return prov
}

// attackStore is a team lead's store (lead@example.org) initialised for
// charts.example.org with a root key, and alice added as a maintainer;
// keys are made 72 hours ago, and releases go into repo.
type attackStore struct {
	*cliStore
	rootKey string // the root secret key, unprotected
	made    time.Time
	alice   *auditKey
	repo    string
}

func newAttackStore(t *testing.T) *attackStore {
	t.Helper()
	cs := newCLIStore(t, "lead@example.org")
	s := &attackStore{cliStore: cs, rootKey: filepath.Join(cs.work, "root.key"), repo: filepath.Join(cs.work, "repo")}
	rootPub := filepath.Join(cs.work, "root.pub")
	s.mustRun("root", "create", "--name", "root", "--secret-out", s.rootKey, "--public-out", rootPub, "--no-passphrase")
	s.mustRun("init", "--repository", "charts.example.org", "--root-key", rootPub)
	s.made = time.Now().Add(-72 * time.Hour)
	s.alice = s.addKey("alice", "--reason", "maintainer")
	return s
}

// addKey makes a key for name (made with the store's keys) and adds it
// to the store with the add arguments given (--reason, --role).
func (s *attackStore) addKey(name string, addArgs ...string) *auditKey {
	s.t.Helper()
	k := newAuditKey(s.t, s.work, name, s.made, false)
	s.mustRun(append([]string{"add", k.file}, addArgs...)...)
	return k
}

// auditJSON runs keyctl audit on the store's repo with -o json, whatever
// its exit code, and decodes what it prints (nothing decoded if it is
// not JSON).
func (s *attackStore) auditJSON() (got auditDoc, out, errs string, code int) {
	s.t.Helper()
	out, errs, code = keyctlRun(s.t, s.args("audit", "--repo", s.repo, "-o", "json")...)
	_ = json.Unmarshal([]byte(out), &got)
	return got, out, errs, code
}

// editKeyRecord rewrites the stored key record of fpr in tx, behind
// keyctl's back: edit changes its JSON fields. It returns the new record.
func editKeyRecord(tx *bbolt.Tx, fpr string, edit func(rec map[string]any)) ([]byte, error) {
	keys := tx.Bucket([]byte("keys"))
	var rec map[string]any
	if err := json.Unmarshal(keys.Get([]byte(fpr)), &rec); err != nil {
		return nil, err
	}
	edit(rec)
	v, _ := json.Marshal(rec)
	return v, keys.Put([]byte(fpr), v)
}

// editStoredKey is editKeyRecord in a transaction of its own on the
// store file.
func editStoredKey(t *testing.T, store, fpr string, edit func(rec map[string]any)) {
	t.Helper()
	editStore(t, store, func(tx *bbolt.Tx) error {
		_, err := editKeyRecord(tx, fpr, edit)
		return err
	})
}
