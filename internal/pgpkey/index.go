package pgpkey

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // the v4 fingerprint is SHA-1 by definition (RFC 9580 §5.5.4)
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// CertSpan is one certificate of a binary keyring, found without parsing
// its signatures: where its bytes are, and its primary key and subkeys.
type CertSpan struct {
	Start, End int
	Primary    KeyRef
	Subkeys    []KeyRef
}

// KeyRef names one public key packet of an indexed keyring: its
// fingerprint and key ID.
type KeyRef struct {
	Fingerprint []byte
	KeyId       uint64 //nolint:revive // named as packet.PublicKey names it
}

// ID is the key ID in upper-case hex, as KeyID writes it.
func (k KeyRef) ID() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], k.KeyId)
	return upperHex(b[:])
}

// keyRef reads a public key packet's body. A version 4 or 6 key whose
// fields it can walk is hashed as RFC 9580 §5.5.4 defines its
// fingerprint, without parsing the key material: a verifier that needs
// one certificate of a 1,000-key keyring no longer parses 2,000 key
// packets (about a tenth of such a verify), and ParseSpan still parses,
// and checks, the certificate it uses. The walk accepts only a body that
// go-crypto would write back byte for byte (no trailing bytes, a v6 key
// material count that matches), so the fingerprint is the one go-crypto
// computes (FuzzKeyRef holds the two equal); anything else goes through
// go-crypto's parser.
func keyRef(body []byte) (KeyRef, error) {
	if len(body) < 6 {
		return KeyRef{}, errParseNeeded
	}
	fields := body[6:]
	switch body[0] {
	case 4:
		if len(body) > 0xffff || !walkKeyFields(body[5], fields) {
			return KeyRef{}, errParseNeeded
		}
		h := sha1.New() //nolint:gosec // see above
		h.Write([]byte{0x99, byte(len(body) >> 8), byte(len(body))})
		h.Write(body)
		fp := h.Sum(make([]byte, 0, sha1.Size))
		return KeyRef{Fingerprint: fp, KeyId: binary.BigEndian.Uint64(fp[12:20])}, nil
	case 6:
		if len(fields) < 4 || int64(binary.BigEndian.Uint32(fields)) != int64(len(fields)-4) || !walkKeyFields(body[5], fields[4:]) {
			return KeyRef{}, errParseNeeded
		}
		h := sha256.New()
		var pre [5]byte
		pre[0] = 0x9b
		binary.BigEndian.PutUint32(pre[1:], uint32(len(body)))
		h.Write(pre[:])
		h.Write(body)
		fp := h.Sum(make([]byte, 0, sha256.Size))
		return KeyRef{Fingerprint: fp, KeyId: binary.BigEndian.Uint64(fp[:8])}, nil
	}
	return KeyRef{}, errParseNeeded
}

// walkKeyFields reports whether b is exactly the public key fields of
// algorithm algo (RFC 9580 §5.5.5): MPIs, a curve OID, ECDH's KDF
// parameters or a fixed-size native key, with nothing after them.
func walkKeyFields(algo byte, b []byte) bool {
	mpi := func() bool {
		if len(b) < 2 {
			return false
		}
		n := (int(b[0])<<8 | int(b[1]) + 7) / 8
		if len(b) < 2+n {
			return false
		}
		b = b[2+n:]
		return true
	}
	// An OID or ECDH's KDF parameters: a length octet (0 and 0xff are
	// reserved) and that many octets.
	short := func() bool {
		if len(b) < 1 || b[0] == 0 || b[0] == 0xff || len(b) < 1+int(b[0]) {
			return false
		}
		b = b[1+int(b[0]):]
		return true
	}
	fixed := func(n int) bool {
		if len(b) < n {
			return false
		}
		b = b[n:]
		return true
	}
	var ok bool
	switch algo {
	case 1, 2, 3: // RSA: n, e
		ok = mpi() && mpi()
	case 16: // Elgamal: p, g, y
		ok = mpi() && mpi() && mpi()
	case 17: // DSA: p, q, g, y
		ok = mpi() && mpi() && mpi() && mpi()
	case 18: // ECDH: curve, point, KDF
		ok = short() && mpi() && short()
	case 19, 22: // ECDSA, EdDSALegacy: curve, point
		ok = short() && mpi()
	case 25, 27: // X25519, Ed25519
		ok = fixed(32)
	case 26: // X448
		ok = fixed(56)
	case 28: // Ed448
		ok = fixed(57)
	}
	return ok && len(b) == 0
}

var errParseNeeded = fmt.Errorf("not a version 4 or 6 key")

// Fingerprint is the primary key's fingerprint.
func (c CertSpan) Fingerprint() string { return FormatFingerprint(c.Primary.Fingerprint) }

// IndexKeyring lists the certificates of a binary keyring (at most limit
// bytes) by reading only their public key packets, so that a verifier can
// parse just the certificate a signature names (ParseSpan) instead of the
// whole keyring. It applies ReadKeyring's flood check. Secret key packets
// and framing it cannot follow are errors: a published keyring is public
// and well formed.
func IndexKeyring(bin []byte, limit int64) ([]CertSpan, error) {
	if int64(len(bin)) > limit {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
	}
	var out []CertSpan
	n, off := 0, 0
	for off < len(bin) {
		tag, bodyLen, hdrLen, ok := packetHeader(bin[off:])
		if !ok || hdrLen+bodyLen > len(bin)-off {
			return nil, fmt.Errorf("malformed OpenPGP packet framing at byte %d", off)
		}
		end := off + hdrLen + bodyLen
		switch tag {
		case 5, 7:
			return nil, fmt.Errorf("secret key material at byte %d", off)
		case 6, 14:
			pk, err := keyRef(bin[off+hdrLen : end])
			if err != nil {
				p, err := packet.Read(bytes.NewReader(bin[off:end]))
				if err != nil {
					return nil, fmt.Errorf("public key packet at byte %d: %w", off, err)
				}
				full, isPK := p.(*packet.PublicKey)
				if !isPK {
					return nil, fmt.Errorf("unreadable public key packet at byte %d", off)
				}
				pk = KeyRef{Fingerprint: full.Fingerprint, KeyId: full.KeyId}
			}
			if tag == 6 {
				if len(out) > 0 {
					out[len(out)-1].End = off
				}
				out = append(out, CertSpan{Start: off, Primary: pk})
				n = 0
			} else if len(out) > 0 {
				out[len(out)-1].Subkeys = append(out[len(out)-1].Subkeys, pk)
			}
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("keyring does not start with a primary key")
		}
		n++
		if n > MaxPackets {
			return nil, fmt.Errorf("a certificate has more than %d packets (signatures, user IDs, subkeys): refusing a flooded key", MaxPackets)
		}
		off = end
	}
	if len(out) > 0 {
		out[len(out)-1].End = len(bin)
	}
	return out, nil
}

// ParseSpan parses one certificate of an indexed keyring.
func ParseSpan(bin []byte, c CertSpan) (*openpgp.Entity, error) {
	el, err := readKeyRingSafe(bin[c.Start:c.End])
	if err != nil {
		return nil, err
	}
	if len(el) != 1 || !bytes.Equal(el[0].PrimaryKey.Fingerprint, c.Primary.Fingerprint) {
		return nil, fmt.Errorf("certificate %s does not parse on its own", c.Fingerprint())
	}
	return el[0], nil
}
