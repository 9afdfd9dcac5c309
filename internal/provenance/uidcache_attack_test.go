package provenance_test

import (
	"crypto"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// TestAttackUIDRevokedAfterSignatureValidNow: a key whose only user ID was
// revoked (retired) after it signed is no longer valid for signing now, so
// Verify must say ValidNow false — the soft-removal rule then asks for a
// trusted time. go-crypto checks the key at the signature's time first and
// caches what it concluded (the revocation did not exist yet), and a check
// at now on the same certificate answered from that cache.
func TestAttackUIDRevokedAfterSignatureValidNow(t *testing.T) {
	a := mustRead(t, mustArchive(t, charts.Spec{Name: "web", Version: "1.0.0"}))
	day := 24 * time.Hour
	e := newEntity(t, "uid", t0, 0)
	p := mustSign(t, e, a, "web.tgz", t0.Add(time.Hour))
	reason := packet.KeyRetired
	for name, id := range e.Identities {
		rev := &packet.Signature{Version: 4, SigType: packet.SigTypeCertificationRevocation, PubKeyAlgo: e.PrivateKey.PubKeyAlgo, Hash: crypto.SHA512,
			CreationTime: t0.Add(day), IssuerKeyId: &e.PrivateKey.KeyId, IssuerFingerprint: e.PrivateKey.Fingerprint, RevocationReason: &reason}
		if err := rev.SignUserId(name, &e.PrivateKey.PublicKey, e.PrivateKey, &packet.Config{}); err != nil {
			t.Fatal(err)
		}
		id.Revocations = append(id.Revocations, packet.NewVerifiableSig(rev))
	}
	keyring := publicOnly(t, e)
	sig, err := p.Verify(keyring, at(t0.Add(2*day)))
	if err != nil {
		t.Fatalf("signature made before the revocation: %v", err)
	}
	if sig.ValidNow {
		t.Error("ValidNow is true for a key whose only user ID was revoked after it signed")
	}
}
