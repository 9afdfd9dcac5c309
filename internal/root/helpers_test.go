package root

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// t0 is the creation time of test keys; tests sign and verify after it.
var t0 = time.Now().UTC().Truncate(time.Second).Add(-time.Hour)

type testRoot struct {
	secret []byte          // armored secret key, unprotected
	public []byte          // armored public key
	fpr    string          // primary fingerprint
	signer *openpgp.Entity // decrypted secret key
	pub    *openpgp.Entity // public key
}

func newTestRoot(tb testing.TB, name string, algo Algo) *testRoot {
	tb.Helper()
	c, err := Create(CreateOptions{Name: name, Algo: algo}, t0)
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := LoadSecret(c.Secret, nil)
	if err != nil {
		tb.Fatal(err)
	}
	pub, err := LoadPublic(c.Public)
	if err != nil {
		tb.Fatal(err)
	}
	return &testRoot{secret: c.Secret, public: c.Public, fpr: c.Fingerprint, signer: signer, pub: pub}
}

var (
	rsaOnce sync.Once
	rsaRoot *testRoot
)

// rsaTestRoot makes one RSA-4096 root per test binary: generation is slow.
func rsaTestRoot(tb testing.TB) *testRoot {
	rsaOnce.Do(func() { rsaRoot = newTestRoot(tb, "rsa root", RSA4096) })
	if rsaRoot == nil {
		tb.Fatal("RSA root key generation failed earlier")
	}
	return rsaRoot
}

var (
	edOnce  sync.Once
	edRoots []*testRoot
)

// edTestRoots returns five Ed25519 roots shared by the tests of this binary.
func edTestRoots(tb testing.TB) []*testRoot {
	edOnce.Do(func() {
		for _, n := range []string{"alice root", "bob root", "carol root", "dave root", "erin root"} {
			edRoots = append(edRoots, newTestRoot(tb, n, Ed25519))
		}
	})
	if len(edRoots) != 5 {
		tb.Fatal("Ed25519 root key generation failed earlier")
	}
	return edRoots
}

func mustSign(tb testing.TB, r *testRoot, data []byte, at time.Time) []byte {
	tb.Helper()
	sig, err := Sign(r.signer, data, at)
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

func mustMerge(tb testing.TB, sigs ...[]byte) []byte {
	tb.Helper()
	m, err := Merge(sigs...)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func mustSet(tb testing.TB, threshold int, roots ...*testRoot) *RootSet {
	tb.Helper()
	var keys []*openpgp.Entity
	for _, r := range roots {
		keys = append(keys, r.pub)
	}
	s, err := NewRootSet("charts.example.org", keys, threshold, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// packetTags lists the OpenPGP packet tags in binary data.
func packetTags(tb testing.TB, bin []byte) []packet.Packet {
	tb.Helper()
	var out []packet.Packet
	r := packet.NewReader(bytes.NewReader(bin))
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		out = append(out, p)
	}
	return out
}
