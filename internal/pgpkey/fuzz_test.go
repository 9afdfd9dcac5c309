package pgpkey

import (
	"bytes"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// fuzzSeedKeys makes the seed keyrings at test time with go-crypto: a
// public certificate (binary and armored), a secret key, two certificates in
// one keyring and a v6 key.
func fuzzSeedKeys(t testing.TB) [][]byte {
	made := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var out [][]byte
	var all bytes.Buffer
	for i, v6 := range []bool{false, false, true} {
		cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519, KeyLifetimeSecs: 365 * 24 * 3600, Time: func() time.Time { return made }}
		if v6 {
			cfg = &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, V6Keys: true, KeyLifetimeSecs: 365 * 24 * 3600, Time: func() time.Time { return made }}
		}
		e, err := openpgp.NewEntity("Seed", "", "seed@fuzz.test", cfg)
		if err != nil {
			t.Fatal(err)
		}
		var pub, sec bytes.Buffer
		if err := e.Serialize(&pub); err != nil {
			t.Fatal(err)
		}
		if err := e.SerializePrivate(&sec, cfg); err != nil {
			t.Fatal(err)
		}
		all.Write(pub.Bytes())
		out = append(out, pub.Bytes())
		if i == 0 {
			arm, err := Armor(openpgp.PublicKeyType, pub.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, arm, sec.Bytes())
		}
	}
	return append(out, all.Bytes())
}

// FuzzReadKeyring: no input panics ReadKeyring or the questions asked of
// what it returns, and what it accepts is a non-empty list of certificates
// within the size cap.
func FuzzReadKeyring(f *testing.F) {
	for _, s := range fuzzSeedKeys(f) {
		f.Add(s)
	}
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZQ==\n=AAAA\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Add([]byte("\xff\xd8\xff\xe0\x00\x10JFIF\x00"))
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		el, err := ReadKeyring(data, MaxCertSize)
		if err != nil {
			if _, cerr := ReadCert(data); cerr == nil {
				t.Fatalf("ReadCert accepted what ReadKeyring refused (%v)", err)
			}
			return
		}
		if len(el) == 0 {
			t.Fatal("accepted an empty keyring")
		}
		for _, e := range el {
			if e.PrimaryKey == nil {
				t.Fatal("accepted a certificate without a primary key")
			}
			_ = Fingerprint(e)
			_ = Algorithm(e.PrimaryKey)
			_ = HasSecret(e)
			_ = UserIDs(e)
			_ = AllKeyIDs(e)
			_ = SigningKeys(e, now, nil)
			_, _ = Expiry(e, now, nil)
			if pub, err := SerializePublic(e, true); err == nil {
				// The minimized public form is what the store keeps and
				// reads back: reading it must not panic either, and it
				// never carries secret material.
				if back, err := ReadKeyring(pub, MaxKeyringSize); err == nil {
					for _, b := range back {
						if HasSecret(b) {
							t.Fatal("SerializePublic wrote secret key material")
						}
					}
				}
			}
		}
	})
}

// FuzzIndexKeyring: no input panics IndexKeyring or ParseSpan, and what the
// index finds lies inside the input, in order, each span starting with its
// primary key.
func FuzzIndexKeyring(f *testing.F) {
	for _, s := range fuzzSeedKeys(f) {
		f.Add(s)
	}
	f.Add([]byte{0x99, 0x00, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		spans, err := IndexKeyring(data, MaxCertSize)
		if err != nil {
			return
		}
		prev := 0
		for _, sp := range spans {
			if sp.Start < prev || sp.End <= sp.Start || sp.End > len(data) || len(sp.Primary.Fingerprint) == 0 {
				t.Fatalf("bad span %d-%d of %d bytes", sp.Start, sp.End, len(data))
			}
			prev = sp.End
			_, _ = ParseSpan(data, sp)
		}
	})
}

// FuzzKeyRef: wherever go-crypto reads a public key packet of version 4 or
// 6 and the index hashes it itself, both name the same fingerprint and key
// ID. (testdata holds a v6 key whose key material count is wrong:
// go-crypto ignores the count and hashes the count it computes, so the
// index must leave such a key to go-crypto.)
func FuzzKeyRef(f *testing.F) {
	for _, s := range fuzzSeedKeys(f) {
		for off := 0; off < len(s); {
			tag, bodyLen, hdrLen, ok := packetHeader(s[off:])
			if !ok || off+hdrLen+bodyLen > len(s) {
				break
			}
			if tag == 6 || tag == 14 {
				f.Add(s[off+hdrLen : off+hdrLen+bodyLen])
			}
			off += hdrLen + bodyLen
		}
	}
	for _, body := range realKeyPackets(f) {
		f.Add(body)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > 1<<16 {
			return
		}
		// A new-format public key packet (tag 6) around body.
		pkt := []byte{0xc6, 0xff, byte(len(body) >> 24), byte(len(body) >> 16), byte(len(body) >> 8), byte(len(body))}
		p, err := packet.Read(bytes.NewReader(append(pkt, body...)))
		ref, rerr := keyRef(body)
		pk, ok := p.(*packet.PublicKey)
		if err != nil || !ok || (pk.Version != 4 && pk.Version != 6) {
			return
		}
		if rerr != nil {
			return // IndexKeyring asks go-crypto itself
		}
		if !bytes.Equal(ref.Fingerprint, pk.Fingerprint) || ref.KeyId != pk.KeyId {
			var ser bytes.Buffer
			_ = pk.SerializeForHash(&ser)
			t.Fatalf("fingerprint %X/%X, go-crypto %X/%X\nraw %x\nser %x", ref.Fingerprint, ref.KeyId, pk.Fingerprint, pk.KeyId, body, ser.Bytes())
		}
	})
}
