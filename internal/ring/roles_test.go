package ring

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"go.etcd.io/bbolt"

	"github.com/keyctl/keyctl/internal/pgpkey"
)

// roleStore holds maintainer alice and index key ci.
func roleStore(t *testing.T) (path, alice, ci string) {
	t.Helper()
	s, path := openInit(t)
	a, c := newKey(t, "alice"), newKey(t, "ci")
	if _, err := s.Add(a, AddRequest{Reason: "maintainer", Actor: "lead"}, nil); err != nil {
		t.Fatal(err)
	}
	k, err := s.Add(c, AddRequest{Reason: "CI signs the index", Role: Index, Actor: "lead"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.RoleOf() != Index {
		t.Fatalf("added with role %q", k.Role)
	}
	alice, ci = pgpkey.Fingerprint(a), pgpkey.Fingerprint(c)
	keys, err := s.List(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		want := Maintainer
		if k.Fingerprint == ci {
			want = Index
		}
		if k.Role != want {
			t.Fatalf("List: %s has role %q, want %q", k.Fingerprint, k.Role, want)
		}
	}
	// pubkeys.pgp holds the maintainer only; indexkeys.pgp the index key.
	var ak, ck []byte
	for _, k := range keys {
		if k.Fingerprint == alice {
			ak = k.Cert
		} else {
			ck = k.Cert
		}
	}
	if pub := Keyring(keys, Active); !bytes.Equal(pub, ak) {
		t.Fatalf("pubkeys.pgp holds %d bytes, want alice's %d: an index key must never be in it", len(pub), len(ak))
	}
	if idx := IndexKeyring(keys); !bytes.Equal(idx, ck) {
		t.Fatalf("indexkeys.pgp holds %d bytes, want ci's %d", len(idx), len(ck))
	}
	recs, err := s.Log()
	if err != nil {
		t.Fatal(err)
	}
	if last := recs[len(recs)-1]; last.Action != "add" || last.Role != Index {
		t.Fatalf("the add of an index key is logged as %+v", last)
	}
	if _, err := s.VerifyLog(); err != nil {
		t.Fatalf("untampered store: %v", err)
	}
	s.Close()
	return path, alice, ci
}

func setRole(t *testing.T, tx *bbolt.Tx, fpr, role string) {
	t.Helper()
	var k map[string]any
	if err := json.Unmarshal(tx.Bucket(bKeys).Get([]byte(fpr)), &k); err != nil {
		t.Fatal(err)
	}
	if role == "" {
		delete(k, "role")
	} else {
		k["role"] = role
	}
	v, _ := json.Marshal(k)
	if err := tx.Bucket(bKeys).Put([]byte(fpr), v); err != nil {
		t.Fatal(err)
	}
}

// A role is given at add and never changes: a record whose role differs
// from its add record is not explained by the log.
func TestVerifyCatchesRoleChange(t *testing.T) {
	t.Run("maintainer turned index", func(t *testing.T) {
		path, alice, _ := roleStore(t)
		editDB(t, path, func(tx *bbolt.Tx) error { setRole(t, tx, alice, "index"); return nil })
		verifyFails(t, path, "it has role index, but the log added it as maintainer")
	})
	t.Run("index turned maintainer", func(t *testing.T) {
		path, _, ci := roleStore(t)
		editDB(t, path, func(tx *bbolt.Tx) error { setRole(t, tx, ci, ""); return nil })
		verifyFails(t, path, "it has role maintainer, but the log added it as index")
	})
}

func TestAddRole(t *testing.T) {
	s, _ := openInit(t)
	defer s.Close()
	if _, err := s.Add(newKey(t, "x"), AddRequest{Reason: "r", Role: "signer", Actor: "lead"}, nil); err == nil || !strings.Contains(err.Error(), `unknown key role "signer"`) {
		t.Fatalf("unknown role: %v", err)
	}
	if _, err := s.Add(newKey(t, "y"), AddRequest{Reason: "r", Role: Index, Scopes: []string{"web-*"}, Actor: "lead"}, nil); err == nil || !strings.Contains(err.Error(), "an index key signs no chart") {
		t.Fatalf("index key with scopes: %v", err)
	}
	// A maintainer record keeps the form it had before roles existed.
	k, err := s.Add(newKey(t, "z"), AddRequest{Reason: "r", Actor: "lead"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k.Role != "" || k.RoleOf() != Maintainer {
		t.Fatalf("maintainer stored with role %q", k.Role)
	}
}
