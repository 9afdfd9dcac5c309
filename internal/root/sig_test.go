package root

import (
	"bytes"
	"crypto"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

func TestThreshold2of3(t *testing.T) {
	r := edTestRoots(t)
	a, b, c, stranger := r[0], r[1], r[2], r[3]
	set := mustSet(t, 2, a, b, c)
	data := []byte("revoked.pgp bytes")
	now := time.Now()
	sa, sb := mustSign(t, a, data, now), mustSign(t, b, data, now)

	wantThreshold := func(name string, sigs []byte, have int) {
		t.Helper()
		_, err := Verify(data, sigs, set, now)
		var te *ThresholdError
		if !errors.As(err, &te) {
			t.Fatalf("%s: got %v, want a ThresholdError", name, err)
		}
		if te.Have != have || te.Need != 2 || len(te.Signers) != have || len(te.Missing) != 3-have {
			t.Errorf("%s: %+v", name, te)
		}
		if fail.KindOf(err) != fail.Untrusted || fail.ExitCode(err) != 1 || len(fail.HintsOf(err)) == 0 {
			t.Errorf("%s: kind %v exit %d hints %v", name, fail.KindOf(err), fail.ExitCode(err), fail.HintsOf(err))
		}
		if !strings.Contains(err.Error(), "need 2") {
			t.Errorf("%s: message %q", name, err)
		}
	}
	wantThreshold("one signature", sa, 1)
	// The same holder twice (two distinct signature packets) counts once.
	sa2 := mustSign(t, a, data, now.Add(-time.Second))
	if bytes.Equal(sa, sa2) {
		t.Fatal("two signatures at different times are identical")
	}
	wantThreshold("same holder twice", mustMerge(t, sa, sa2), 1)
	// A stranger's signature is ignored, not counted.
	wantThreshold("holder plus stranger", mustMerge(t, sa, mustSign(t, stranger, data, now)), 1)

	signers, err := Verify(data, mustMerge(t, sa, sb), set, now)
	if err != nil || len(signers) != 2 {
		t.Fatalf("two holders: %v %v", signers, err)
	}
	// Extra unknown signature alongside a valid threshold does not hurt.
	if _, err := Verify(data, mustMerge(t, mustSign(t, stranger, data, now), sa, sb, sa2), set, now); err != nil {
		t.Errorf("unknown extra signature broke a valid threshold: %v", err)
	}
	// Armored signatures count the same.
	arm, _ := pgpkey.Armor(openpgp.SignatureType, sb)
	if _, err := Verify(data, mustMerge(t, sa, arm), set, now); err != nil {
		t.Errorf("armored signature: %v", err)
	}
	// Signatures over other data do not count.
	wantThreshold("changed data", mustMerge(t, mustSign(t, a, []byte("other"), now), sb), 1)
	// A signature dated a little ahead of this clock, within the skew (a
	// holder whose clock runs fast, or a signature made a second after
	// now was read), counts.
	if _, err := Verify(data, mustMerge(t, sa, mustSign(t, b, data, now.Add(time.Minute))), set, now); err != nil {
		t.Errorf("signature dated within the clock skew: %v", err)
	}
	// A signature dated beyond the clock skew does not count.
	wantThreshold("future signature", mustMerge(t, sa, mustSign(t, b, data, now.Add(2*ClockSkew))), 1)
	// A root key that expired by now does not count for current trust.
	if _, err := Verify(data, mustMerge(t, sa, sb), set, t0.Add(DefaultRootValidity+time.Hour)); err == nil {
		t.Error("signatures by expired root keys counted")
	}
}

// TestSHA1NotCounted: a SHA-1 signature made with go-crypto by a root in the
// set does not count (the GnuPG variant is in interop_test.go).
func TestSHA1NotCounted(t *testing.T) {
	r := edTestRoots(t)
	set := mustSet(t, 1, r[0])
	data := []byte("x")
	// go-crypto refuses to make SHA-1 signatures through DetachSign, so
	// build the packet by hand.
	now := time.Now()
	pk := r[0].signer.PrivateKey
	sig := &packet.Signature{Version: 4, SigType: packet.SigTypeBinary, PubKeyAlgo: pk.PubKeyAlgo, Hash: crypto.SHA1,
		CreationTime: now, IssuerKeyId: &pk.KeyId, IssuerFingerprint: pk.Fingerprint}
	h := crypto.SHA1.New()
	h.Write(data)
	noSalt := false
	if err := sig.Sign(h, pk, &packet.Config{NonDeterministicSignaturesViaNotation: &noSalt}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sig.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	if p, _ := parseSignature(buf.Bytes()); p == nil || p.Hash != crypto.SHA1 {
		t.Fatal("not a SHA-1 signature")
	}
	// With a weak-hash-tolerant config, go-crypto itself accepts it: the
	// packet is a valid signature, only keyctl's policy refuses it.
	lax := &packet.Config{RejectMessageHashAlgorithms: map[crypto.Hash]bool{}, RejectHashAlgorithms: map[crypto.Hash]bool{}}
	if _, _, err := openpgp.VerifyDetachedSignature(openpgp.EntityList{r[0].pub}, bytes.NewReader(data), bytes.NewReader(buf.Bytes()), lax); err != nil {
		t.Fatalf("hand-made SHA-1 signature is not valid at all: %v", err)
	}
	if _, err := Verify(data, buf.Bytes(), set, time.Now()); err == nil {
		t.Error("SHA-1 signature counted")
	}
	if _, err := Verify(data, mustSign(t, r[0], data, time.Now()), set, time.Now()); err != nil {
		t.Errorf("SHA-512 control: %v", err)
	}
}

func TestMerge(t *testing.T) {
	r := edTestRoots(t)
	data := []byte("d")
	sa, sb := mustSign(t, r[0], data, time.Now()), mustSign(t, r[1], data, time.Now())
	arm, _ := pgpkey.Armor(openpgp.SignatureType, sa)
	m := mustMerge(t, sa, arm, sb, mustMerge(t, sb, sa))
	if !bytes.Equal(m, append(append([]byte{}, sa...), sb...)) {
		t.Errorf("Merge did not keep first-seen distinct packets")
	}
	for name, in := range map[string][]byte{
		"empty":       nil,
		"garbage":     []byte("hello"),
		"key":         mustDearmor(t, r[0].public),
		"truncated":   sa[:len(sa)-3],
		"armored key": r[0].public,
	} {
		if _, err := Merge(in); err == nil {
			t.Errorf("Merge(%s) accepted", name)
		}
	}
	huge := bytes.Repeat(sa, MaxSignatures+1)
	if _, err := splitSignatures(huge); err == nil {
		t.Errorf("more than MaxSignatures accepted")
	}
}

func mustDearmor(tb testing.TB, b []byte) []byte {
	bin, err := pgpkey.Dearmor(b)
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

func BenchmarkSign(b *testing.B) {
	r := edTestRoots(b)[0]
	data := bytes.Repeat([]byte("k"), 300<<10)
	now := time.Now()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Sign(r.signer, data, now); err != nil {
			b.Fatal(err)
		}
	}
}
