package pgpkey

import (
	"bytes"
	"fmt"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// CertSpan is one certificate of a binary keyring, found without parsing
// its signatures: where its bytes are, and its primary key and subkeys.
type CertSpan struct {
	Start, End int
	Primary    *packet.PublicKey
	Subkeys    []*packet.PublicKey
}

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
			p, err := packet.Read(bytes.NewReader(bin[off:end]))
			if err != nil {
				return nil, fmt.Errorf("public key packet at byte %d: %w", off, err)
			}
			pk, isPK := p.(*packet.PublicKey)
			if !isPK {
				return nil, fmt.Errorf("unreadable public key packet at byte %d", off)
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
