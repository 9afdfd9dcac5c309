package root

import (
	"bytes"
	"crypto"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// attackRawSign makes a SHA-512 binary signature by pk over data dated at,
// whatever the key's validity then (go-crypto's DetachSign refuses an
// expired or revoked key; an attacker's tool does not).
func attackRawSign(t *testing.T, pk *packet.PrivateKey, data []byte, at time.Time) []byte {
	t.Helper()
	sig := &packet.Signature{Version: 4, SigType: packet.SigTypeBinary, PubKeyAlgo: pk.PubKeyAlgo, Hash: crypto.SHA512,
		CreationTime: at, IssuerKeyId: &pk.KeyId, IssuerFingerprint: pk.Fingerprint}
	h := crypto.SHA512.New()
	h.Write(data)
	noSalt := false
	if err := sig.Sign(h, pk, &packet.Config{NonDeterministicSignaturesViaNotation: &noSalt}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := sig.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// attackReparse returns e's public certificate freshly parsed (no cached
// signature validity).
func attackReparse(t *testing.T, e *openpgp.Entity) *openpgp.Entity {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Serialize(&buf); err != nil {
		t.Fatal(err)
	}
	el, err := openpgp.ReadKeyRing(&buf)
	if err != nil || len(el) != 1 {
		t.Fatalf("reparse: %v", err)
	}
	return el[0]
}

// TestAttackUIDRevokedKeyCountsAtNow: a root/index key whose only user ID
// is revoked has no valid self-signature now, so a signature it makes now
// does not count. But a signature dated before the revocation (an old one
// replayed by the repository host, or backdated by the holder) is checked
// first by go-crypto at its creation time, which caches the revocation as
// "invalid" (it was in the future then); the check "key valid at now" in
// verifyOne then reuses that cache and counts the key.
func TestAttackUIDRevokedKeyCountsAtNow(t *testing.T) {
	c, err := Create(CreateOptions{Name: "uid revoked root"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadSecret(c.Secret, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	pk := s.PrivateKey
	reason := packet.NoReason
	for name, id := range s.Identities {
		rev := &packet.Signature{Version: 4, SigType: packet.SigTypeCertificationRevocation, PubKeyAlgo: pk.PubKeyAlgo, Hash: crypto.SHA512,
			CreationTime: now.Add(-10 * time.Minute), IssuerKeyId: &pk.KeyId, IssuerFingerprint: pk.Fingerprint, RevocationReason: &reason}
		if err := rev.SignUserId(name, &pk.PublicKey, pk, &packet.Config{}); err != nil {
			t.Fatal(err)
		}
		id.Revocations = append(id.Revocations, packet.NewVerifiableSig(rev))
	}
	data := []byte("keyctl-index.json bytes")
	// Control: the key is not valid now.
	if got, _ := VerifyBy(data, attackRawSign(t, pk, data, now), openpgp.EntityList{attackReparse(t, s)}, now); len(got) != 0 {
		t.Fatalf("precondition: a key whose only user ID is revoked counted for a signature made now: %v", got)
	}
	old := attackRawSign(t, pk, data, now.Add(-30*time.Minute))
	if got, _ := VerifyBy(data, old, openpgp.EntityList{attackReparse(t, s)}, now); len(got) != 0 {
		t.Errorf("a key not valid now (only user ID revoked) counted at now for a signature dated before the revocation: %v", got)
	}
}
