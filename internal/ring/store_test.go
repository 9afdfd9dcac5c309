package ring

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.etcd.io/bbolt"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

func newKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, KeyLifetimeSecs: 365 * 24 * 3600})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		t.Fatal(err)
	}
	pe, err := pgpkey.ReadCert(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pe
}

func openInit(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyctl.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Init("example.org/charts", RootLink{Version: 1, Data: []byte(`{"root":1}`)}, "", "tester"); err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestAddRemoveReopen(t *testing.T) {
	s, path := openInit(t)
	a, b := newKey(t, "alice"), newKey(t, "bob")
	if _, err := s.Add(a, AddRequest{Reason: "maintainer", Scopes: []string{"nginx-*", "nginx-*"}, Actor: "lead"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(b, AddRequest{Reason: "maintainer", Actor: "lead"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(a, AddRequest{Reason: "again", Actor: "lead"}, nil); err == nil || !strings.Contains(err.Error(), "already active") {
		t.Fatalf("second add of an active key: %v", err)
	}
	if _, err := s.Add(newKey(t, "carol"), AddRequest{Actor: "lead"}, nil); err == nil {
		t.Fatal("add without reason accepted")
	}
	afpr := pgpkey.Fingerprint(a)
	// remove by key ID, spaced
	kid := afpr[24:]
	k, err := s.Remove(kid[:8]+" "+kid[8:], RemoveRequest{Reason: Retired, Effective: time.Now().Add(-time.Hour), Actor: "lead"})
	if err != nil {
		t.Fatal(err)
	}
	if k.Status != Removed || k.Removal.Reason != Retired {
		t.Fatalf("removed key: %+v", k)
	}
	if _, err := s.Remove(afpr, RemoveRequest{Reason: Compromised}); err == nil {
		t.Fatal("removing twice accepted")
	}
	if _, err := s.Add(a, AddRequest{Reason: "back", Actor: "lead"}, nil); err == nil {
		t.Fatal("a removed key came back")
	}
	if _, err := s.Remove(pgpkey.Fingerprint(b), RemoveRequest{Reason: Retired, Effective: time.Now().Add(48 * time.Hour)}); err == nil {
		t.Fatal("future effective time accepted")
	}
	s.Close()

	s, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	act, _ := s.List(false)
	all, _ := s.List(true)
	if len(act) != 1 || len(all) != 2 {
		t.Fatalf("after reopen: %d active, %d all", len(act), len(all))
	}
	got, err := s.Get(afpr)
	if err != nil || len(got.Scopes) != 1 || got.Scopes[0] != "nginx-*" {
		t.Fatalf("scopes not kept: %+v %v", got, err)
	}
	pub, rev := Keyring(all, Active), Keyring(all, Removed)
	pl, err := pgpkey.ReadKeyring(pub, pgpkey.MaxKeyringSize)
	if err != nil || len(pl) != 1 || pgpkey.Fingerprint(pl[0]) != pgpkey.Fingerprint(b) {
		t.Fatalf("pubkeys export: %v", err)
	}
	rl, err := pgpkey.ReadKeyring(rev, pgpkey.MaxKeyringSize)
	if err != nil || len(rl) != 1 || pgpkey.Fingerprint(rl[0]) != afpr {
		t.Fatalf("revoked export: %v", err)
	}
	if n, err := s.VerifyLog(); err != nil || n != 4 {
		t.Fatalf("VerifyLog = %d, %v; want 4 records (init, 2 add, remove)", n, err)
	}
}

func TestSecondWriterGetsLocked(t *testing.T) {
	s, path := openInit(t)
	defer s.Close()
	start := time.Now()
	_, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second writer: %v, want ErrLocked", err)
	}
	if fail.ExitCode(err) != 2 || !strings.Contains(err.Error(), "store is locked") {
		t.Fatalf("lock error voice: %v", err)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Fatalf("second writer did not wait")
	}
}

func TestLogTamperDetected(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tamer func(b *bbolt.Bucket) error
	}{
		{"altered", func(b *bbolt.Bucket) error {
			v := b.Get(u64(2))
			var r LogRecord
			json.Unmarshal(v, &r)
			r.Reason = "nothing to see"
			nv, _ := json.Marshal(r)
			return b.Put(u64(2), nv)
		}},
		{"deleted-middle", func(b *bbolt.Bucket) error { return b.Delete(u64(2)) }},
		{"deleted-tail", func(b *bbolt.Bucket) error { return b.Delete(u64(3)) }},
		{"garbage", func(b *bbolt.Bucket) error { return b.Put(u64(1), []byte("{")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openInit(t)
			s.Add(newKey(t, "a"), AddRequest{Reason: "r", Actor: "x"}, nil)
			s.Add(newKey(t, "b"), AddRequest{Reason: "r", Actor: "x"}, nil)
			if _, err := s.VerifyLog(); err != nil {
				t.Fatal(err)
			}
			s.Close()
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bbolt.Tx) error { return tc.tamer(tx.Bucket(bLog)) }); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s, _ = Open(path, Options{ReadOnly: true})
			defer s.Close()
			_, err = s.VerifyLog()
			var be *BrokenChainError
			if !errors.As(err, &be) || fail.ExitCode(err) != 1 {
				t.Fatalf("VerifyLog after %s: %v", tc.name, err)
			}
		})
	}
}

func TestKeyIDCollisionRefused(t *testing.T) {
	s, _ := openInit(t)
	defer s.Close()
	a := newKey(t, "a")
	if _, err := s.Add(a, AddRequest{Reason: "r"}, nil); err != nil {
		t.Fatal(err)
	}
	// Plant a fake index entry so that b's key ID appears taken by another
	// certificate: the store must refuse b whatever the linter says.
	b := newKey(t, "b")
	s.db.Update(func(tx *bbolt.Tx) error {
		var id [8]byte
		binary.BigEndian.PutUint64(id[:], b.PrimaryKey.KeyId)
		return tx.Bucket(bKeyIDs).Put([]byte(pgpkey.KeyID(b.PrimaryKey)), []byte(pgpkey.Fingerprint(a)))
	})
	_, err := s.Add(b, AddRequest{Reason: "r"}, nil)
	if err == nil || !strings.Contains(err.Error(), "keyid-collision") {
		t.Fatalf("collision: %v", err)
	}
	if keys, _ := s.List(true); len(keys) != 1 {
		t.Fatalf("refused key was stored")
	}
}

func TestNotInitialized(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	if _, err := Open(path, Options{ReadOnly: true}); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("read-only open of a missing store: %v", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Add(newKey(t, "a"), AddRequest{Reason: "r"}, nil); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("add before init: %v", err)
	}
	if err := s.Init("r", RootLink{Version: 1, Data: []byte("x")}, "", "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Init("r", RootLink{Version: 1, Data: []byte("x")}, "", "a"); err == nil {
		t.Fatal("second init accepted")
	}
}

func TestInScope(t *testing.T) {
	if !InScope(nil, "x") || !InScope([]string{"nginx-*"}, "nginx-ingress") || InScope([]string{"nginx-*"}, "redis") {
		t.Fatal("InScope")
	}
	if _, err := ValidateScopes([]string{"a/b"}); err == nil {
		t.Fatal("scope with / accepted")
	}
	if _, err := ValidateScopes([]string{"[a"}); err == nil {
		t.Fatal("bad glob accepted")
	}
}

func FuzzParseLogRecord(f *testing.F) {
	f.Add([]byte(`{"seq":1,"time":"2026-11-28T00:00:00Z","action":"init","prev":""}`))
	f.Add([]byte(`{"seq":2,"time":"2026-11-28T00:00:00Z","action":"add","fingerprint":"AB","prev":"00"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseLogRecord(data)
		if err == nil && r.Action == "" {
			t.Fatal("accepted a record without action")
		}
	})
}
