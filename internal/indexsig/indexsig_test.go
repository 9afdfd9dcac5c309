package indexsig

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newKey returns a secret key and its public certificate.
func newKey(t testing.TB, name string) (*openpgp.Entity, *openpgp.Entity) {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, KeyLifetimeSecs: 365 * 24 * 3600, Time: func() time.Time { return t0.AddDate(0, -1, 0) }}
	e, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
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
	return e, pe
}

func ExampleStatement_Marshal() {
	index := []byte("apiVersion: v1\nentries: {}\n")
	s, _ := New("charts.example.org", index, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), 0)
	b, _ := s.Marshal()
	fmt.Print(string(b))
	// Output:
	// {
	//   "format": "keyctl-index/1",
	//   "repository": "charts.example.org",
	//   "index_sha256": "b0ffa5d88041aebe0397263f77ab4f2a095f32e7cdeda476eb9194226213d4fc",
	//   "index_length": 27,
	//   "issued": "2026-03-01T12:00:00Z",
	//   "expires": "2026-03-08T12:00:00Z"
	// }
}

func TestVerify(t *testing.T) {
	idxSec, idxPub := newKey(t, "index")
	mSec, mPub := newKey(t, "maintainer")
	index := []byte("apiVersion: v1\nentries: {}\n")
	s, err := New("charts.example.org", index, t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, sig, err := Sign(s, idxSec)
	if err != nil {
		t.Fatal(err)
	}
	keys, others := openpgp.EntityList{idxPub}, openpgp.EntityList{mPub}
	got, signers, err := Verify(data, sig, keys, others, "charts.example.org", t0.Add(time.Hour))
	if err != nil || len(signers) != 1 || signers[0] != pgpkey.Fingerprint(idxPub) {
		t.Fatalf("good statement: %v %v", signers, err)
	}
	if err := got.CheckIndex(index); err != nil {
		t.Fatal(err)
	}
	refused := func(name string, err, kind error, want string) {
		t.Helper()
		if !errors.Is(err, kind) || fail.KindOf(err) != fail.Untrusted || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %v with %q", name, err, kind, want)
		}
	}
	refused("other index bytes", got.CheckIndex(append(index, '#')), ErrTamper, "index tamper: index.yaml (28 bytes")
	_, _, err = Verify(data, sig, keys, others, "other.example.org", t0.Add(time.Hour))
	refused("replay", err, ErrTamper, "replay")
	_, _, err = Verify(data, sig, keys, others, "charts.example.org", s.Expires)
	refused("expired", err, ErrFreeze, "index freeze: keyctl-index.json issued 2026-03-01T12:00:00Z expired at 2026-03-08T12:00:00Z")
	altered := []byte(strings.Replace(string(data), "2026-03-08", "2026-03-09", 1))
	_, _, err = Verify(altered, sig, keys, others, "charts.example.org", t0.Add(time.Hour))
	refused("altered statement", err, ErrTamper, "no valid signature by an active index key")
	_, msig, err := Sign(s, mSec)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Verify(data, msig, keys, others, "charts.example.org", t0.Add(time.Hour))
	refused("maintainer signed", err, ErrWrongRole, "index wrong role: keyctl-index.json is signed by "+pgpkey.Fingerprint(mPub))
	_, _, err = Verify(data, []byte("junk"), keys, others, "charts.example.org", t0.Add(time.Hour))
	refused("junk signature", err, ErrTamper, "does not hold OpenPGP signatures")

	sum := Hash(data)
	if err := got.CheckSeen(sum, time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	if err := got.CheckSeen(sum, s.Issued, sum); err != nil {
		t.Fatalf("the same statement again: %v", err)
	}
	refused("older", got.CheckSeen(sum, s.Issued.Add(time.Second), Hash([]byte("x"))), ErrRollback, "index rollback: keyctl-index.json issued 2026-03-01T12:00:00Z is older")
	refused("same time other bytes", got.CheckSeen(sum, s.Issued, Hash([]byte("x"))), ErrRollback, "two different")
}

func TestParseStrict(t *testing.T) {
	s, _ := New("charts.example.org", []byte("x"), t0, 0)
	good, _ := s.Marshal()
	for name, data := range map[string]string{
		"not canonical": strings.Replace(string(good), "  ", "   ", 1),
		"unknown field": strings.Replace(string(good), `"format"`, `"extra": 1, "format"`, 1),
		"format":        strings.Replace(string(good), Format, "keyctl-index/2", 1),
		"too long":      strings.Replace(string(good), "2026-03-08", "2026-09-08", 1),
		"trailing":      string(good) + "{}",
		"too large":     string(good) + strings.Repeat(" ", MaxSize),
		"bad hash":      strings.Replace(string(good), s.IndexSHA256, strings.ToUpper(s.IndexSHA256), 1),
	} {
		if _, err := Parse([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New("charts.example.org", []byte("x"), t0, MaxValidity+time.Hour); err == nil {
		t.Error("validity over the limit accepted")
	}
}

func FuzzParse(f *testing.F) {
	s, _ := New("charts.example.org", []byte("x"), t0, 0)
	good, _ := s.Marshal()
	f.Add(good)
	f.Add([]byte(`{"format":"keyctl-index/1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse(data)
		if err != nil {
			return
		}
		again, err := st.Marshal()
		if err != nil || string(again) != string(data) {
			t.Fatalf("a parsed statement does not marshal back: %v", err)
		}
	})
}
