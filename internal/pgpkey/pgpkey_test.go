package pgpkey

import (
	"bytes"
	"crypto"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/testutil/peers"
)

func TestGnuPGKeys(t *testing.T) {
	g := peers.NewGnuPG(t)
	ed := g.QuickGenKey(t, "Ed Maint <ed@example.org>", "ed25519", "cert", "1y")
	g.AddSubkey(t, ed, "ed25519", "sign", "1y")
	rsa := g.QuickGenKey(t, "Rsa Maint <rsa@example.org>", "rsa3072", "sign", "1y")

	for _, tc := range []struct {
		fpr         string
		wantPrimary bool
		wantSigners int
		armored     bool
	}{{ed, false, 1, true}, {rsa, true, 1, false}} {
		var data []byte
		if tc.armored {
			data = g.ExportArmored(t, tc.fpr)
		} else {
			data = g.ExportPublic(t, tc.fpr)
		}
		e, err := ReadCert(data)
		if err != nil {
			t.Fatalf("ReadCert(%s): %v", tc.fpr, err)
		}
		if got := Fingerprint(e); got != tc.fpr {
			t.Errorf("Fingerprint = %s, want %s", got, tc.fpr)
		}
		if HasSecret(e) {
			t.Errorf("%s: public export reported as secret", tc.fpr)
		}
		sk := SigningKeys(e, time.Now(), nil)
		if len(sk) != tc.wantSigners || sk[0].IsPrimary != tc.wantPrimary {
			t.Errorf("%s: signing keys %+v, want %d with primary=%v", tc.fpr, sk, tc.wantSigners, tc.wantPrimary)
		}
		if exp, ok := Expiry(e, time.Now(), nil); !ok || exp.IsZero() {
			t.Errorf("%s: expiry %v %v", tc.fpr, exp, ok)
		}
		a, err := SerializePublic(e, true)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := SerializePublic(e, true)
		if string(a) != string(b) {
			t.Errorf("serialization is not deterministic")
		}
		e2, err := ReadCert(a)
		if err != nil || Fingerprint(e2) != tc.fpr {
			t.Errorf("re-read of serialized key: %v", err)
		}
	}
	sec, err := ReadCert(g.ExportSecret(t, rsa))
	if err != nil {
		t.Fatal(err)
	}
	if !HasSecret(sec) {
		t.Errorf("secret export not detected")
	}
}

func TestParseFingerprint(t *testing.T) {
	good := map[string]string{
		"0x1455C8A8F3122475": "1455C8A8F3122475",
		"abcd ef01 2345 6789 abcd  ef01 2345 6789 abcd ef01": "ABCDEF0123456789ABCDEF0123456789ABCDEF01",
	}
	for in, want := range good {
		got, err := ParseFingerprint(in)
		if err != nil || got != want {
			t.Errorf("ParseFingerprint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "xyz", "12345", "ZZZZZZZZZZZZZZZZ"} {
		if _, err := ParseFingerprint(bad); err == nil {
			t.Errorf("ParseFingerprint(%q) accepted", bad)
		}
	}
}

func TestReadKeyringRefusesJunk(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":     nil,
		"spaces":    []byte("  \n"),
		"junk":      []byte("hello world"),
		"badarmor":  []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n=XXXX\n-----END PGP PUBLIC KEY BLOCK-----\n"),
		"truncated": {0x99, 0x01, 0xff, 0x04},
	} {
		if _, err := ReadKeyring(data, MaxCertSize); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFloodedCertificateRefused(t *testing.T) {
	e, err := openpgp.NewEntity("flood", "", "flood@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := SerializePublic(e, true)
	if err != nil {
		t.Fatal(err)
	}
	var sig bytes.Buffer
	for _, id := range e.Identities {
		id.SelfCertifications[0].Packet.Serialize(&sig)
	}
	flooded := append([]byte(nil), pub...)
	for i := 0; i < MaxPackets+10; i++ {
		flooded = append(flooded, sig.Bytes()...)
	}
	if _, err := ReadKeyring(flooded, MaxKeyringSize); err == nil || !strings.Contains(err.Error(), "flooded") {
		t.Fatalf("flooded certificate: %v", err)
	}
	// Many certificates of a few packets each are fine: the count restarts
	// at every primary key.
	var many []byte
	for i := 0; i < MaxPackets/2; i++ {
		many = append(many, pub...)
	}
	if el, err := ReadKeyring(many, MaxKeyringSize); err != nil || len(el) != MaxPackets/2 {
		t.Fatalf("a long keyring of small certificates: %d, %v", len(el), err)
	}
}

func TestArmorWithTrailingDataRefused(t *testing.T) {
	e, err := openpgp.NewEntity("one", "", "one@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := SerializePublic(e, true)
	arm, err := Armor(openpgp.PublicKeyType, pub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadCert(append(arm, "\n\n  \n"...)); err != nil {
		t.Fatalf("white space after the block: %v", err)
	}
	for name, data := range map[string][]byte{
		"two blocks": append(append([]byte(nil), arm...), arm...),
		"trailing":   append(append([]byte(nil), arm...), "junk"...),
	} {
		if _, err := ReadCert(data); err == nil || !strings.Contains(err.Error(), "follows the ASCII armor") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestParallelParseKeepsOrder: a keyring large enough to be parsed on
// several cores gives the same certificates, in file order, as one pass.
func TestParallelParseKeepsOrder(t *testing.T) {
	var ring []byte
	for i := 0; i < 400; i++ {
		e, err := openpgp.NewEntity("k", "", "k@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519})
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := SerializePublic(e, true)
		ring = append(ring, pub...)
	}
	if len(ring) < parallelMin {
		t.Fatalf("test keyring of %d bytes is below the parallel threshold", len(ring))
	}
	got, err := ReadKeyring(ring, MaxKeyringSize)
	if err != nil {
		t.Fatal(err)
	}
	want, err := readKeyRingSafe(ring)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(got) != 400 {
		t.Fatalf("parallel parse: %d certificates, one pass: %d", len(got), len(want))
	}
	for i := range got {
		if Fingerprint(got[i]) != Fingerprint(want[i]) {
			t.Fatalf("certificate %d differs: %s vs %s", i, Fingerprint(got[i]), Fingerprint(want[i]))
		}
	}
}

func TestIndexKeyringMatchesFullParse(t *testing.T) {
	var ring []byte
	for i := 0; i < 50; i++ {
		e, err := openpgp.NewEntity("k", "", "k@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519})
		if err != nil {
			t.Fatal(err)
		}
		pub, _ := SerializePublic(e, true)
		ring = append(ring, pub...)
	}
	spans, err := IndexKeyring(ring, MaxKeyringSize)
	if err != nil {
		t.Fatal(err)
	}
	full, err := ReadKeyring(ring, MaxKeyringSize)
	if err != nil {
		t.Fatal(err)
	}
	if len(spans) != len(full) {
		t.Fatalf("index: %d certificates, full parse %d", len(spans), len(full))
	}
	for i, sp := range spans {
		if sp.Fingerprint() != Fingerprint(full[i]) || len(sp.Subkeys) != len(full[i].Subkeys) {
			t.Fatalf("certificate %d: index %s/%d subkeys, parse %s/%d", i, sp.Fingerprint(), len(sp.Subkeys), Fingerprint(full[i]), len(full[i].Subkeys))
		}
		e, err := ParseSpan(ring, sp)
		if err != nil || Fingerprint(e) != sp.Fingerprint() {
			t.Fatalf("ParseSpan %d: %v", i, err)
		}
	}
	if _, err := IndexKeyring(ring[:len(ring)-3], MaxKeyringSize); err == nil {
		t.Fatal("truncated keyring indexed")
	}
	if _, err := IndexKeyring([]byte{0xb4, 0x01, 'x'}, MaxKeyringSize); err == nil {
		t.Fatal("a keyring that starts with a user ID indexed")
	}
}

// TestFreshCopiesEveryField pins the go-crypto structures Fresh copies
// field by field: a new field (a new cache, or data a check reads) must be
// looked at before go-crypto is upgraded.
func TestFreshCopiesEveryField(t *testing.T) {
	for _, c := range []struct {
		v      any
		fields []string
	}{
		{openpgp.Entity{}, []string{"PrimaryKey", "PrivateKey", "Identities", "Revocations", "DirectSignatures", "Subkeys"}},
		{openpgp.Identity{}, []string{"Primary", "Name", "UserId", "SelfCertifications", "OtherCertifications", "Revocations"}},
		{openpgp.Subkey{}, []string{"Primary", "PublicKey", "PrivateKey", "Bindings", "Revocations"}},
		{packet.VerifiableSignature{}, []string{"Valid", "Packet"}},
	} {
		typ := reflect.TypeOf(c.v)
		var got []string
		for i := 0; i < typ.NumField(); i++ {
			got = append(got, typ.Field(i).Name)
		}
		if !slices.Equal(got, c.fields) {
			t.Errorf("%s has fields %v, Fresh knows %v: review Fresh", typ, got, c.fields)
		}
	}
}

// TestFreshForgetsConclusions: a user ID revoked after a signature is
// valid at the signature's time; checked there first, the certificate
// itself still answers "valid" now from go-crypto's cache, its Fresh copy
// does not, and the copy agrees with the certificate parsed anew.
func TestFreshForgetsConclusions(t *testing.T) {
	signed := time.Now().Add(-48 * time.Hour)
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, Time: func() time.Time { return signed.Add(-time.Hour) }}
	e, err := openpgp.NewEntity("k", "", "k@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	reason := packet.KeyRetired
	for name, id := range e.Identities {
		rev := &packet.Signature{Version: 4, SigType: packet.SigTypeCertificationRevocation, PubKeyAlgo: e.PrivateKey.PubKeyAlgo, Hash: crypto.SHA512,
			CreationTime: signed.Add(time.Hour), IssuerKeyId: &e.PrivateKey.KeyId, IssuerFingerprint: e.PrivateKey.Fingerprint, RevocationReason: &reason}
		if err := rev.SignUserId(name, &e.PrivateKey.PublicKey, e.PrivateKey, &packet.Config{}); err != nil {
			t.Fatal(err)
		}
		id.Revocations = append(id.Revocations, packet.NewVerifiableSig(rev))
	}
	pub, err := SerializePublic(e, false)
	if err != nil {
		t.Fatal(err)
	}
	el, err := ReadKeyring(pub, MaxKeyringSize)
	if err != nil {
		t.Fatal(err)
	}
	cert := el[0]
	if len(SigningKeys(cert, signed, nil)) == 0 {
		t.Fatal("not valid at the signature's time")
	}
	if len(SigningKeys(cert, time.Now(), nil)) == 0 {
		t.Log("go-crypto no longer caches across times; Fresh is still right")
	}
	fresh, err := Fresh(cert)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(SigningKeys(fresh, time.Now(), nil)); n != 0 {
		t.Fatalf("the fresh copy has %d keys valid now, after its only user ID was revoked", n)
	}
	again, _ := ReadKeyring(pub, MaxKeyringSize)
	if a, b := len(SigningKeys(again[0], time.Now(), nil)), len(SigningKeys(fresh, time.Now(), nil)); a != b {
		t.Fatalf("fresh copy: %d keys valid now, parsed anew: %d", b, a)
	}
	// The original's own cache is untouched by the copy's checks.
	if len(SigningKeys(cert, signed, nil)) == 0 {
		t.Fatal("the copy's check changed the original")
	}
}

// A user ID its holder revoked with GnuPG, and one attached with a
// self-signature made over another user ID, are not what the key says
// about its holder; a key revoked with GnuPG reports the revocation.
func TestValidUserIDsAndKeyRevokedWithGnuPG(t *testing.T) {
	g := peers.NewGnuPG(t)
	fpr := g.QuickGenKey(t, "Alice <alice@example.org>", "ed25519", "sign", "1y")
	g.Run(t, "--quick-add-uid", fpr, "Alice <alice@old.example>")
	// GnuPG dates signatures to the second: a revocation made in the same
	// second as the self-signature it revokes does not tell which came
	// first, so wait one.
	time.Sleep(1100 * time.Millisecond)
	g.Run(t, "--quick-revoke-uid", fpr, "Alice <alice@old.example>")
	el, err := ReadKeyring(g.ExportPublic(t, fpr), MaxKeyringSize)
	if err != nil || len(el) != 1 {
		t.Fatalf("read: %v", err)
	}
	e := el[0]
	now := time.Now()
	if got := UserIDs(e); len(got) != 2 {
		t.Fatalf("UserIDs = %q, want both user IDs the certificate carries", got)
	}
	if got := ValidUserIDs(e, now, nil); !slices.Equal(got, []string{"Alice <alice@example.org>"}) {
		t.Errorf("ValidUserIDs = %q, want only the user ID that is not revoked", got)
	}
	// A user ID carrying the key's real self-signature made over another
	// user ID: it names the key as issuer and does not verify.
	const forged = "Security Team <security@example.org>"
	var real *openpgp.Identity
	for _, id := range e.Identities {
		real = id
	}
	e.Identities[forged] = &openpgp.Identity{Primary: e, Name: forged, UserId: &packet.UserId{Id: forged},
		SelfCertifications: []*packet.VerifiableSignature{packet.NewVerifiableSig(real.SelfCertifications[0].Packet)}}
	if got := ValidUserIDs(e, now, nil); slices.Contains(got, forged) {
		t.Errorf("ValidUserIDs = %q: lists a user ID whose self-signature does not verify", got)
	}
	if rev := KeyRevoked(e, now); rev != nil {
		t.Fatalf("KeyRevoked = %v before any key revocation", rev)
	}

	// The revocation certificate gpg wrote at key creation (reason: none
	// given), its armor line freed of the ":" that keeps it from being
	// imported by accident.
	rev, err := os.ReadFile(filepath.Join(g.Home, "openpgp-revocs.d", fpr+".rev"))
	if err != nil {
		t.Fatal(err)
	}
	rev = bytes.Replace(rev, []byte(":-----BEGIN PGP PUBLIC KEY BLOCK-----"), []byte("-----BEGIN PGP PUBLIC KEY BLOCK-----"), 1)
	if _, errOut, err := g.RunErr(rev, "--import"); err != nil {
		t.Fatalf("gpg --import: %v\n%s", err, errOut)
	}
	el, err = ReadKeyring(g.ExportPublic(t, fpr), MaxKeyringSize)
	if err != nil || len(el) != 1 {
		t.Fatalf("read: %v", err)
	}
	sig := KeyRevoked(el[0], now)
	if sig == nil {
		t.Fatal("KeyRevoked = nil for a key revoked with gpg")
	}
	if sig.RevocationReason != nil && *sig.RevocationReason != packet.NoReason {
		t.Errorf("revocation reason = %v, want none given", *sig.RevocationReason)
	}
}
