package pgpkey

import (
	"bytes"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// realKeyPackets makes one certificate of every key type keyctl meets
// (GnuPG's defaults of the last decade, RFC 9580's v6 keys) and returns
// the bodies of their primary and subkey packets.
func realKeyPackets(t testing.TB) [][]byte {
	t.Helper()
	configs := []*packet.Config{
		{Algorithm: packet.PubKeyAlgoRSA, RSABits: 2048},
		{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519},
		{Algorithm: packet.PubKeyAlgoECDSA, Curve: packet.CurveNistP256},
		{Algorithm: packet.PubKeyAlgoEd25519, V6Keys: true},
		{Algorithm: packet.PubKeyAlgoEd448, V6Keys: true},
		{Algorithm: packet.PubKeyAlgoEd25519},
	}
	var out [][]byte
	for _, cfg := range configs {
		e, err := openpgp.NewEntity("k", "", "k@example.org", cfg)
		if err != nil {
			t.Fatalf("%v: %v", cfg.Algorithm, err)
		}
		pub, err := SerializePublic(e, true)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(pub); {
			tag, bodyLen, hdrLen, ok := packetHeader(pub[off:])
			if !ok {
				t.Fatal("bad framing")
			}
			if tag == 6 || tag == 14 {
				out = append(out, pub[off+hdrLen:off+hdrLen+bodyLen])
			}
			off += hdrLen + bodyLen
		}
	}
	return out
}

// TestKeyRefMatchesGoCrypto: for every key type, the index hashes the
// packet itself (no fallback to the full parser) and gets go-crypto's
// fingerprint and key ID.
func TestKeyRefMatchesGoCrypto(t *testing.T) {
	for _, body := range realKeyPackets(t) {
		pkt := []byte{0xc6, 0xff, byte(len(body) >> 24), byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
		p, err := packet.Read(bytes.NewReader(append(pkt, body...)))
		if err != nil {
			t.Fatal(err)
		}
		pk := p.(*packet.PublicKey)
		ref, err := keyRef(body)
		if err != nil {
			t.Fatalf("v%d key, algorithm %d: the index fell back to the parser: %v", pk.Version, pk.PubKeyAlgo, err)
		}
		if !bytes.Equal(ref.Fingerprint, pk.Fingerprint) || ref.KeyId != pk.KeyId || ref.ID() != KeyID(pk) {
			t.Fatalf("v%d key, algorithm %d: %X, go-crypto %X", pk.Version, pk.PubKeyAlgo, ref.Fingerprint, pk.Fingerprint)
		}
		// A byte after the key material: go-crypto skips it, so the
		// index must not hash it.
		if _, err := keyRef(append(append([]byte{}, body...), 0)); err == nil {
			t.Fatalf("v%d key, algorithm %d: trailing byte hashed", pk.Version, pk.PubKeyAlgo)
		}
	}
}
