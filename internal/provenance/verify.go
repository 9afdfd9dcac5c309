package provenance

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
)

// Signature is a verified .prov signature.
type Signature struct {
	Entity             *openpgp.Entity // the certificate from the keyring
	PrimaryFingerprint string          // its primary key
	KeyFingerprint     string          // the (sub)key that made the signature
	Issuer             Issuer          // as the signature names it
	Created            time.Time       // the signature's creation time (set by the signer)
	Hash               crypto.Hash
	// ValidNow reports whether the (sub)key is still a valid signing key at
	// the config's time (not expired or revoked since it signed). Validity at
	// Created is what Verify requires; whether a later removal matters is
	// the caller's decision.
	ValidNow bool
	// Expires is when the signing (sub)key, or its primary key, expires by
	// the self-signatures valid at Created (zero: never). A key that is not
	// ValidNow and whose Expires has passed has expired since it signed.
	Expires time.Time
	// InvalidSince and InvalidReason are set when ValidNow is false: the
	// earliest time the certificate shows the (sub)key stopped being valid
	// for signing, and why. The candidates are the dates of the valid
	// revocations of the signing (sub)key and of its primary key, and the
	// expiries by the self-signatures valid at Created and at the config's
	// time (a shortened expiry counts). InvalidReason is "expired",
	// "superseded" or "retired" (soft), "compromised" or "revoked" (a
	// revocation with no or another reason: hard), or "unknown" (no cause
	// found; InvalidSince is then Created). The signer sets Created, so a
	// caller must not trust a signature on it alone once the key stopped
	// being valid (docs/verify.md).
	InvalidSince  time.Time
	InvalidReason string
}

// Reasons a signing key stopped being valid (Signature.InvalidReason).
const (
	InvalidExpired     = "expired"
	InvalidSuperseded  = "superseded"
	InvalidRetired     = "retired"
	InvalidCompromised = "compromised"
	InvalidRevoked     = "revoked"
	InvalidUnknown     = "unknown"
)

// SignatureResult is the outcome for one signature packet of a .prov: Sig
// when it verifies, else Err (*UnknownSignerError when no certificate of
// the ring holds its issuer, else *SignatureError).
type SignatureResult struct {
	Issuer Issuer
	Sig    *Signature
	Err    error
}

// VerifyEach checks every signature packet of the .prov on its own against
// keyring, under the same rules as Verify, and returns one result per
// packet in .prov order. A caller that must trust the whole .prov (keyctl
// verify and audit) requires every one to verify with a trusted key.
func (p *Prov) VerifyEach(keyring openpgp.EntityList, cfg *packet.Config) []SignatureResult {
	if cfg == nil {
		cfg = &packet.Config{}
	}
	out := make([]SignatureResult, 0, len(p.sigs))
	for i := range p.sigs {
		out = append(out, p.VerifyOne(i, keyring, cfg))
	}
	return out
}

// VerifyOne is VerifyEach for the i-th signature packet of the .prov alone.
func (p *Prov) VerifyOne(i int, keyring openpgp.EntityList, cfg *packet.Config) SignatureResult {
	if cfg == nil {
		cfg = &packet.Config{}
	}
	sig := p.sigs[i]
	issuer := issuerOf(sig)
	res := SignatureResult{Issuer: issuer}
	for _, e := range candidates(keyring, sig) {
		s, err := p.verifyWith(e, sig, p.raw[i], issuer, cfg)
		if err == nil {
			res.Sig, res.Err = s, nil
			break
		}
		if res.Err == nil {
			res.Err = err
		}
	}
	if res.Sig == nil && res.Err == nil {
		res.Err = &UnknownSignerError{Issuers: []Issuer{issuer}}
	}
	return res
}

// WithoutKeyRevocations returns a copy of the certificate e without the
// revocation signatures of its primary key (user IDs, subkeys, bindings and
// the subkeys' revocations are kept; e is not changed). keyctl verify and
// audit check a signature by a retired or superseded key with it: the key's
// own revocation must not turn the soft removal the manifest records into a
// bad signature (docs/verify.md). A subkey's revocation is kept: a hard one
// (compromised, or no reason) keeps every signature by that subkey
// untrusted whatever later happens to the key, and a soft one counts from
// its date (Signature.InvalidSince). It has no use for a compromised key.
func WithoutKeyRevocations(e *openpgp.Entity) *openpgp.Entity {
	c := *e
	c.Revocations = nil
	c.Subkeys = make([]openpgp.Subkey, len(e.Subkeys))
	for i, sk := range e.Subkeys {
		sk.Primary = &c
		c.Subkeys[i] = sk
	}
	return &c
}

// HasKeyRevocations reports whether e carries a revocation signature of
// its primary key.
func HasKeyRevocations(e *openpgp.Entity) bool { return len(e.Revocations) > 0 }

// weakHashes are refused whatever the config says.
var weakHashes = map[crypto.Hash]bool{crypto.MD5: true, crypto.SHA1: true, crypto.RIPEMD160: true}

// Verify checks the clearsigned signature against keyring. A signature is
// accepted when it verifies with the primary key or a signing subkey of one
// certificate of the ring, and that key was valid for signing at the
// signature's creation time: self-signature (and, for a subkey, binding and
// back-signature) valid, not expired, not revoked, with the sign flag. Weak
// hashes (MD5, SHA-1, RIPEMD-160) are refused whatever cfg says; cfg (nil:
// go-crypto's defaults) sets the current time and the algorithm policy.
//
// Errors: *UnknownSignerError when no certificate of the ring matches an
// issuer, otherwise *SignatureError whose cause is ErrBadSignature,
// ErrWeakHash, ErrKeyRevoked, ErrKeyExpired, ErrNotSigningKey or
// ErrSignatureTime. Both come wrapped in a *fail.Error of kind Untrusted.
func (p *Prov) Verify(keyring openpgp.EntityList, cfg *packet.Config) (*Signature, error) {
	if cfg == nil {
		cfg = &packet.Config{}
	}
	var firstErr error
	for i, sig := range p.sigs {
		issuer := issuerOf(sig)
		for _, e := range candidates(keyring, sig) {
			res, err := p.verifyWith(e, sig, p.raw[i], issuer, cfg)
			if err == nil {
				return res, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if firstErr != nil {
		return nil, untrusted(firstErr, hintFor(firstErr))
	}
	return nil, untrusted(&UnknownSignerError{Issuers: p.Issuers()},
		"the chart was signed by a key that is not in this keyring: check that you have the repository's current pubkeys.pgp")
}

func hintFor(err error) string {
	switch {
	case errors.Is(err, ErrBadSignature):
		return "the signed text or the signature was altered: do not trust this chart"
	case errors.Is(err, ErrWeakHash):
		return "re-sign the chart with SHA-256 or stronger (keyctl sign uses SHA-512)"
	case errors.Is(err, ErrKeyRevoked), errors.Is(err, ErrKeyExpired):
		return "the signing key was not valid when it signed: re-sign the chart with a current key"
	case errors.Is(err, ErrNotSigningKey):
		return "the key that signed may not sign (no sign flag or no valid binding): sign with a signing-capable (sub)key, e.g. with keyctl sign"
	}
	return "re-sign the chart"
}

// candidates returns the certificates holding a key with the signature's
// issuer key ID (and fingerprint, when the signature names one).
func candidates(keyring openpgp.EntityList, sig *packet.Signature) []*openpgp.Entity {
	var id uint64
	switch {
	case sig.IssuerKeyId != nil:
		id = *sig.IssuerKeyId
	default:
		return nil
	}
	var out []*openpgp.Entity
	for _, e := range keyring {
		if keyMatches(e.PrimaryKey, id, sig.IssuerFingerprint) {
			out = append(out, e)
			continue
		}
		for i := range e.Subkeys {
			if keyMatches(e.Subkeys[i].PublicKey, id, sig.IssuerFingerprint) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

func keyMatches(pk *packet.PublicKey, id uint64, fpr []byte) bool {
	if pk == nil || pk.KeyId != id {
		return false
	}
	return len(fpr) == 0 || bytes.Equal(fpr, pk.Fingerprint)
}

func (p *Prov) verifyWith(e *openpgp.Entity, sig *packet.Signature, raw []byte, issuer Issuer, cfg *packet.Config) (*Signature, error) {
	fail := func(cause error) error {
		return &SignatureError{Issuer: issuer, PrimaryFingerprint: pgpkey.Fingerprint(e), Err: cause}
	}
	if weakHashes[sig.Hash] {
		return nil, fail(fmt.Errorf("%w: %v", ErrWeakHash, sig.Hash))
	}
	// One certificate at a time: go-crypto would only try the first
	// certificate that holds the key ID.
	// One signature packet at a time: go-crypto would only check the first
	// that names a key of the certificate.
	vs, signer, err := openpgp.VerifyDetachedSignature(openpgp.EntityList{e}, bytes.NewReader(p.signed), bytes.NewReader(raw), cfg)
	if err != nil {
		return nil, fail(classify(err))
	}
	if signer != e || vs == nil {
		return nil, fail(fmt.Errorf("%w: no signature by this certificate verified", ErrBadSignature))
	}
	if weakHashes[vs.Hash] {
		return nil, fail(fmt.Errorf("%w: %v", ErrWeakHash, vs.Hash))
	}
	key := signingKey(e, vs)
	if key == nil {
		return nil, fail(fmt.Errorf("%w: the verified signature names no key of this certificate", ErrBadSignature))
	}
	res := &Signature{
		Entity:             e,
		PrimaryFingerprint: pgpkey.Fingerprint(e),
		KeyFingerprint:     pgpkey.FormatFingerprint(key.Fingerprint),
		Issuer:             issuerOf(vs),
		Created:            vs.CreationTime,
		Hash:               vs.Hash,
	}
	// "Valid now" on a fresh copy: go-crypto cached what it concluded at
	// the signature's time (pgpkey.Fresh).
	now, err := pgpkey.Fresh(e)
	if err != nil {
		return nil, fail(fmt.Errorf("%w: %v", ErrBadSignature, err))
	}
	for _, k := range pgpkey.SigningKeys(now, cfg.Now(), cfg) {
		if k.Fingerprint == res.KeyFingerprint {
			res.ValidNow = true
		}
	}
	for _, k := range pgpkey.SigningKeys(e, vs.CreationTime, cfg) {
		if k.Fingerprint == res.KeyFingerprint {
			res.Expires = k.Expires
		}
	}
	if pe, ok := pgpkey.Expiry(e, vs.CreationTime, cfg); ok && !pe.IsZero() && (res.Expires.IsZero() || pe.Before(res.Expires)) {
		res.Expires = pe
	}
	if !res.ValidNow {
		res.InvalidSince, res.InvalidReason = invalidSince(e, key, res, cfg)
	}
	return res, nil
}

// invalidSince returns the earliest time e shows key stopped being valid
// for signing, and why (Signature.InvalidSince). Only times after the
// signature's own date are candidates for an expiry; a revocation counts
// from its date whatever that is.
func invalidSince(e *openpgp.Entity, key *packet.PublicKey, res *Signature, cfg *packet.Config) (time.Time, string) {
	var at time.Time
	why := ""
	consider := func(t time.Time, reason string) {
		if t.IsZero() || t.After(cfg.Now()) {
			return // the key is invalid now: a later time is not the cause
		}
		if why == "" || t.Before(at) {
			at, why = t, reason
		}
	}
	// An expiry counts only after the signature: the key signed while
	// valid, so an end before that belongs to a self-signature that did
	// not hold then.
	expired := func(t time.Time) {
		if t.After(res.Created) {
			consider(t, InvalidExpired)
		}
	}
	// Each question is asked of its own fresh copy (pgpkey.Fresh): e holds
	// what go-crypto concluded at the signature's time (verify) or undated
	// (audit's shared certificates), and answers from that cache at any
	// other time would differ between the two.
	fresh := func() *openpgp.Entity {
		c, err := pgpkey.Fresh(e)
		if err != nil {
			return e
		}
		return c
	}
	revoked := func(revs []*packet.VerifiableSignature, verify func(*packet.Signature) error) {
		for _, r := range revs {
			if r == nil || r.Packet == nil || verify(r.Packet) != nil {
				continue
			}
			consider(r.Packet.CreationTime, revocationReason(r.Packet))
		}
	}
	revoked(e.Revocations, e.PrimaryKey.VerifyRevocationSignature)
	subkey := func(c *openpgp.Entity) *openpgp.Subkey {
		for i := range c.Subkeys {
			if c.Subkeys[i].PublicKey == key {
				return &c.Subkeys[i]
			}
		}
		return nil
	}
	if sk := subkey(e); key != e.PrimaryKey && sk != nil {
		revoked(sk.Revocations, func(sig *packet.Signature) error {
			return e.PrimaryKey.VerifySubkeyRevocationSignature(sig, sk.PublicKey)
		})
		// The newest binding valid now (a shortened expiry counts), else
		// the one that held when the key signed.
		if b, err := subkey(fresh()).LatestValidBindingSignature(cfg.Now(), cfg); err == nil {
			expired(bindingEnd(key, b))
		}
		if b, err := subkey(fresh()).LatestValidBindingSignature(res.Created, cfg); err == nil {
			expired(bindingEnd(key, b))
		}
	}
	for _, t := range []time.Time{cfg.Now(), res.Created} {
		if sig, err := fresh().PrimarySelfSignature(t, cfg); err == nil && sig != nil {
			expired(bindingEnd(e.PrimaryKey, sig))
			break
		}
	}
	expired(res.Expires)
	if why == "" {
		return res.Created, InvalidUnknown
	}
	return at, why
}

// bindingEnd is when a self-signature stops making its key valid: the key
// expiry it states, or its own expiry, whichever comes first (zero: never).
func bindingEnd(pk *packet.PublicKey, sig *packet.Signature) time.Time {
	var end time.Time
	if sig.KeyLifetimeSecs != nil && *sig.KeyLifetimeSecs != 0 {
		end = pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
	}
	if sig.SigLifetimeSecs != nil && *sig.SigLifetimeSecs != 0 {
		if se := sig.CreationTime.Add(time.Duration(*sig.SigLifetimeSecs) * time.Second); end.IsZero() || se.Before(end) {
			end = se
		}
	}
	return end
}

// revocationReason names a revocation's reason (Signature.InvalidReason).
func revocationReason(sig *packet.Signature) string {
	if sig.RevocationReason == nil {
		return InvalidRevoked
	}
	switch *sig.RevocationReason {
	case packet.KeySuperseded:
		return InvalidSuperseded
	case packet.KeyRetired:
		return InvalidRetired
	case packet.KeyCompromised:
		return InvalidCompromised
	}
	return InvalidRevoked
}

func signingKey(e *openpgp.Entity, sig *packet.Signature) *packet.PublicKey {
	if sig.IssuerKeyId == nil {
		return nil
	}
	if e.PrimaryKey.KeyId == *sig.IssuerKeyId {
		return e.PrimaryKey
	}
	for i := range e.Subkeys {
		if e.Subkeys[i].PublicKey.KeyId == *sig.IssuerKeyId {
			return e.Subkeys[i].PublicKey
		}
	}
	return nil
}

// classify maps go-crypto's verification errors to this package's causes,
// keeping go-crypto's text as detail.
func classify(err error) error {
	var weak pgperrors.WeakAlgorithmError
	msg := err.Error()
	switch {
	case errors.Is(err, pgperrors.ErrKeyRevoked):
		return ErrKeyRevoked
	case errors.Is(err, pgperrors.ErrKeyExpired):
		return ErrKeyExpired
	case errors.Is(err, pgperrors.ErrSignatureExpired):
		return fmt.Errorf("%w: the signature is dated in the future or has expired", ErrSignatureTime)
	case errors.Is(err, pgperrors.ErrSignatureOlderThanKey):
		return fmt.Errorf("%w: the signature is older than the key", ErrSignatureTime)
	case strings.Contains(msg, "insecure"):
		return fmt.Errorf("%w: %s", ErrWeakHash, msg)
	case errors.As(err, &weak):
		return fmt.Errorf("%w: %s", ErrNotSigningKey, msg)
	case strings.Contains(msg, "no valid signing or verifying key"), strings.Contains(msg, "no valid self signature"):
		return fmt.Errorf("%w: %s", ErrNotSigningKey, msg)
	}
	return fmt.Errorf("%w: %s", ErrBadSignature, msg)
}
