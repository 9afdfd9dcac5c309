package pgpkey

import (
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Clean drops every self-signature, binding and revocation of e that does
// not verify against e's primary key, and every user ID or subkey left with
// no valid self-signature or binding. It reports how many signatures were
// dropped. go-crypto files signatures by their claimed issuer and checks
// them lazily; a stored or published certificate must carry only what the
// key itself signed.
func Clean(e *openpgp.Entity) (dropped int) {
	pk := e.PrimaryKey
	keep := func(sigs []*packet.VerifiableSignature, verify func(*packet.Signature) error) []*packet.VerifiableSignature {
		out := sigs[:0]
		for _, s := range sigs {
			if s == nil || s.Packet == nil {
				dropped++
				continue
			}
			if err := verify(s.Packet); err != nil {
				dropped++
				continue
			}
			out = append(out, s)
		}
		return out
	}
	e.Revocations = keep(e.Revocations, func(s *packet.Signature) error {
		return pk.VerifyRevocationSignature(s)
	})
	e.DirectSignatures = keep(e.DirectSignatures, func(s *packet.Signature) error {
		return pk.VerifyDirectKeySignature(s)
	})
	for name, id := range e.Identities {
		uid := name
		id.SelfCertifications = keep(id.SelfCertifications, func(s *packet.Signature) error {
			return pk.VerifyUserIdSignature(uid, pk, s)
		})
		id.Revocations = keep(id.Revocations, func(s *packet.Signature) error {
			return pk.VerifyUserIdSignature(uid, pk, s)
		})
		if len(id.SelfCertifications) == 0 {
			delete(e.Identities, name)
			dropped++
		}
	}
	subs := e.Subkeys[:0]
	for _, sk := range e.Subkeys {
		sub := sk.PublicKey
		sk.Bindings = keep(sk.Bindings, func(s *packet.Signature) error {
			return pk.VerifyKeySignature(sub, s)
		})
		sk.Revocations = keep(sk.Revocations, func(s *packet.Signature) error {
			return pk.VerifySubkeyRevocationSignature(s, sub)
		})
		if len(sk.Bindings) == 0 {
			dropped++
			continue
		}
		subs = append(subs, sk)
	}
	e.Subkeys = subs
	return dropped
}
