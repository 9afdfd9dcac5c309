package policy

import (
	"crypto"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Rule ids, stable: scripts and JSON output match on them.
const (
	RuleSecretKeyMaterial = "secret-key-material"
	RuleWeakAlgorithm     = "weak-algorithm"
	RuleRSATooSmall       = "rsa-too-small"
	RuleWeakHash          = "weak-hash"
	RuleNoSigningKey      = "no-signing-key"
	RuleExpired           = "expired"
	RuleRevoked           = "revoked"
	RuleNoExpiry          = "no-expiry"
	RuleValidityTooLong   = "validity-too-long"
	RuleKeyIDCollision    = "keyid-collision"
)

var ruleOrder = []string{
	RuleSecretKeyMaterial, RuleWeakAlgorithm, RuleRSATooSmall, RuleWeakHash,
	RuleNoSigningKey, RuleExpired, RuleRevoked, RuleNoExpiry, RuleValidityTooLong,
	RuleKeyIDCollision,
}

// Rules returns every rule id, in the order Check reports violations.
func Rules() []string { return append([]string(nil), ruleOrder...) }

// expirySlack is added to MaxValidity before a key counts as valid for too
// long: it absorbs a leap day and the time between making a key and
// checking it.
const expirySlack = Day

// Violation is one way in which a certificate breaks the policy.
type Violation struct {
	// Rule is one of the Rule* ids.
	Rule string `json:"rule"`
	// KeyID is the 64-bit key ID, 16 upper-case hex digits, of the primary
	// key or subkey concerned; empty only when Check was given no
	// certificate at all.
	KeyID string `json:"key_id"`
	// Found says what was found, phrased to follow "key KEYID": "is
	// RSA-2048", "expires 2035-01-01, in 9 years".
	Found string `json:"found"`
	// Setting is the configuration setting that relaxes the rule, with its
	// current value ("policy.min_rsa_bits = 3072"); empty for rules that no
	// setting relaxes.
	Setting string `json:"setting,omitempty"`
	// Fix says what the key's owner can do.
	Fix string `json:"fix"`
}

// Error reads "key 1455C8A8F3122475 expires 2035-01-01, in 9 years (rule
// validity-too-long)".
func (v Violation) Error() string {
	if v.KeyID == "" {
		return v.Found + " (rule " + v.Rule + ")"
	}
	return "key " + v.KeyID + " " + v.Found + " (rule " + v.Rule + ")"
}

// KnownKeys answers which stored certificate, if any, holds a (sub)key with
// a given 64-bit key ID. The store implements it.
type KnownKeys interface {
	// FingerprintByKeyID returns the primary fingerprint (hex; case and
	// spaces do not matter) of the stored certificate holding a key with
	// this key ID.
	FingerprintByKeyID(id uint64) (fpr string, ok bool)
}

// KeyIDMap is a KnownKeys kept in memory: key ID to primary fingerprint.
type KeyIDMap map[uint64]string

// FingerprintByKeyID implements KnownKeys.
func (m KeyIDMap) FingerprintByKeyID(id uint64) (string, bool) {
	f, ok := m[id]
	return f, ok
}

// Add records the key IDs of e's primary key and every subkey under e's
// primary fingerprint.
func (m KeyIDMap) Add(e *openpgp.Entity) {
	if e == nil || e.PrimaryKey == nil {
		return
	}
	fpr := fingerprint(e.PrimaryKey)
	m[e.PrimaryKey.KeyId] = fpr
	for _, s := range e.Subkeys {
		m[s.PublicKey.KeyId] = fpr
	}
}

// Check returns every violation of p by the certificate e at time now (the
// zero time means the current time). known may be nil. An empty result means
// the certificate is accepted: it then has a signing (sub)key that
// go-crypto finds with p.PacketConfig() at now.
//
// Check does not change e: signatures are verified on a private copy, so a
// verdict cached in e by an earlier, laxer verification is not trusted, and
// Check leaves none behind.
func (p KeyPolicy) Check(e *openpgp.Entity, now time.Time, known KnownKeys) []Violation {
	if e == nil || e.PrimaryKey == nil {
		return []Violation{{
			Rule:  RuleNoSigningKey,
			Found: "no certificate was given",
			Fix:   "give an OpenPGP public key (gpg --export --armor FPR)",
		}}
	}
	if now.IsZero() {
		now = time.Now()
	}
	c := &checker{p: p, now: now, e: freshEntity(e), lax: laxConfig(), strict: p.PacketConfig()}
	c.secret()
	c.primary()
	c.subkeys()
	c.signing()
	c.validity()
	c.collisions(known)
	sort.SliceStable(c.out, func(i, j int) bool { return ruleIndex(c.out[i].Rule) < ruleIndex(c.out[j].Rule) })
	return c.out
}

func ruleIndex(r string) int {
	for i, x := range ruleOrder {
		if x == r {
			return i
		}
	}
	return len(ruleOrder)
}

// laxConfig accepts every hash, algorithm and key size: Check uses it to
// find out what a certificate relies on, then judges that by the policy.
func laxConfig() *packet.Config {
	return &packet.Config{
		MinRSABits:                  1,
		RejectPublicKeyAlgorithms:   map[packet.PublicKeyAlgorithm]bool{},
		RejectHashAlgorithms:        map[crypto.Hash]bool{},
		RejectMessageHashAlgorithms: map[crypto.Hash]bool{},
		RejectCurves:                map[packet.Curve]bool{},
		KnownNotations:              map[string]bool{},
	}
}

// signer is a (sub)key that may sign at the check time.
type signer struct {
	pk      *packet.PublicKey
	expires time.Time // when it stops signing, primary expiry included; zero: never
}

type deadSigner struct {
	pk      *packet.PublicKey
	why     string // "expired", "revoked", "backsig", "later"
	expired time.Time
}

type checker struct {
	p           KeyPolicy
	now         time.Time
	e           *openpgp.Entity
	lax, strict *packet.Config
	out         []Violation

	primarySig    *packet.Signature // newest valid self-signature (any hash); nil: none
	primaryExpiry time.Time
	primaryOK     bool // has a self-signature, not revoked, not expired

	live []liveSubkey
	dead []deadSigner
}

type liveSubkey struct {
	pk      *packet.PublicKey
	binding *packet.Signature
}

func (c *checker) add(rule string, pk *packet.PublicKey, setting, fix, found string, args ...any) {
	c.out = append(c.out, Violation{
		Rule:    rule,
		KeyID:   keyID(pk),
		Found:   fmt.Sprintf(found, args...),
		Setting: setting,
		Fix:     fix,
	})
}

func (c *checker) fpr() string { return fingerprint(c.e.PrimaryKey) }

func (c *checker) secret() {
	primary := c.e.PrivateKey != nil
	subs := 0
	for _, s := range c.e.Subkeys {
		if s.PrivateKey != nil {
			subs++
		}
	}
	if !primary && subs == 0 {
		return
	}
	var parts []string
	if primary {
		parts = append(parts, "the primary key")
	}
	if subs > 0 {
		parts = append(parts, plural(subs, "subkey", "subkeys"))
	}
	c.add(RuleSecretKeyMaterial, c.e.PrimaryKey, "",
		"give keyctl the public key only: gpg --export --armor "+c.fpr(),
		"holds secret key material (%s)", strings.Join(parts, " and "))
}

// algorithm reports weak-algorithm and rsa-too-small for one key.
func (c *checker) algorithm(pk *packet.PublicKey, isPrimary bool) {
	var weakFix, smallFix string
	if isPrimary {
		weakFix = "make a new key: gpg --quick-gen-key 'NAME <EMAIL>' ed25519 sign " + c.suggestedExpiry() + " (or rsa" + strconv.Itoa(c.minRSA()) + " and up)"
		smallFix = "make an RSA-" + strconv.Itoa(c.minRSA()) + "+ or Ed25519 key: gpg --quick-gen-key 'NAME <EMAIL>' ed25519 sign " + c.suggestedExpiry()
	} else {
		weakFix = "revoke subkey " + fingerprint(pk) + " (gpg --edit-key " + c.fpr() + ", key N, revkey, save) and add an Ed25519 or RSA-" + strconv.Itoa(c.minRSA()) + "+ subkey in its place with gpg --quick-add-key"
		smallFix = "revoke subkey " + fingerprint(pk) + " (gpg --edit-key " + c.fpr() + ", key N, revkey, save) and add an RSA-" + strconv.Itoa(c.minRSA()) + "+ or Ed25519 subkey: gpg --quick-add-key " + c.fpr() + " ed25519 sign " + c.suggestedExpiry()
	}
	what := ""
	if !isPrimary {
		what = " (subkey)"
	}
	name := AlgorithmName(pk)
	if c.strict.RejectPublicKeyAlgorithm(pk.PubKeyAlgo) {
		c.add(RuleWeakAlgorithm, pk, "", weakFix, "is %s%s, which is no longer safe", name, what)
		return
	}
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly, packet.PubKeyAlgoRSAEncryptOnly:
		bits, err := pk.BitLength()
		if err != nil {
			c.add(RuleWeakAlgorithm, pk, "", weakFix, "has an unreadable RSA modulus%s", what)
			return
		}
		if int(bits) < c.minRSA() {
			c.add(RuleRSATooSmall, pk, c.settingRSA(), smallFix, "is %s%s, below %d bits", name, what, c.minRSA())
		}
	case packet.PubKeyAlgoECDH, packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoECDSA:
		curve, err := pk.Curve()
		if err != nil || c.strict.RejectCurve(curve) {
			c.add(RuleWeakAlgorithm, pk, "", weakFix, "is %s%s, on a curve that is refused", name, what)
			return
		}
		if pk.Version == 6 && (curve == packet.Curve25519 || curve == packet.Curve448) {
			c.add(RuleWeakAlgorithm, pk, "", weakFix, "is a v6 key on the legacy %s encoding%s", curve, what)
		}
	}
}

func (c *checker) primary() {
	pk := c.e.PrimaryKey
	c.algorithm(pk, true)

	revoked := c.e.Revoked(c.now)
	if revoked {
		c.add(RuleRevoked, pk, "",
			"a revoked key is not used again: its owner makes a new key (gpg --quick-gen-key 'NAME <EMAIL>' ed25519 sign "+c.suggestedExpiry()+")",
			"is revoked%s", c.revocationNote())
	}

	sig, err := c.e.PrimarySelfSignature(c.now, c.lax)
	if err != nil || sig == nil {
		if pk.CreationTime.After(c.now) {
			c.add(RuleNoSigningKey, pk, "", "check the clock of the machine that made the key and make it again",
				"was made %s, after the check time %s", day(pk.CreationTime), day(c.now))
		} else {
			c.add(RuleNoSigningKey, pk, "",
				"export the key again from its owner's keyring (gpg --export --armor "+c.fpr()+"); a certificate needs a valid self-signature on a user ID",
				"has no valid self-signature")
		}
		return
	}
	c.primarySig = sig
	c.weakHash(pk, sig, c.selfSigWhat(sig), c.primaryHashFix())
	c.primaryExpiry = keyExpiry(pk, sig)
	if pk.Version < 6 && len(c.e.DirectSignatures) > 0 {
		if ds, err := c.e.LatestValidDirectSignature(c.now, c.lax); err == nil && ds != nil {
			c.weakHash(pk, ds, "direct-key self-signature", c.primaryHashFix())
			c.primaryExpiry = earliest(c.primaryExpiry, keyExpiry(pk, ds))
		}
	}
	expired := !c.primaryExpiry.IsZero() && c.now.Unix() > c.primaryExpiry.Unix()
	if expired {
		c.add(RuleExpired, pk, "",
			"extend it: gpg --quick-set-expire "+c.fpr()+" "+c.suggestedExpiry()+", then give keyctl the new copy",
			"expired %s, %s", day(c.primaryExpiry), relative(c.now, c.primaryExpiry))
	}
	c.primaryOK = !revoked && !expired
}

// selfSigWhat names the self-signature sig for messages.
func (c *checker) selfSigWhat(sig *packet.Signature) string {
	for name, id := range c.e.Identities {
		for _, s := range id.SelfCertifications {
			if s.Packet == sig {
				return "self-signature on user ID " + quoteUID(name)
			}
		}
	}
	return "direct-key self-signature"
}

func (c *checker) primaryHashFix() string {
	return "renew the self-signatures with SHA-256: gpg --cert-digest-algo SHA256 --quick-set-expire " + c.fpr() + " " + c.suggestedExpiry()
}

func (c *checker) subkeyHashFix(pk *packet.PublicKey) string {
	return "renew the binding with SHA-256: gpg --cert-digest-algo SHA256 --quick-set-expire " + c.fpr() + " " + c.suggestedExpiry() + " " + fingerprint(pk)
}

func (c *checker) weakHash(pk *packet.PublicKey, sig *packet.Signature, what, fix string) {
	if sig != nil && isWeakHash(sig.Hash) {
		c.add(RuleWeakHash, pk, "", fix, "has a %s %s", hashName(sig.Hash), what)
	}
}

func (c *checker) subkeys() {
	for i := range c.e.Subkeys {
		sk := &c.e.Subkeys[i]
		binding, err := sk.Verify(c.now, c.lax)
		if err == nil {
			c.live = append(c.live, liveSubkey{pk: sk.PublicKey, binding: binding})
			c.algorithm(sk.PublicKey, false)
			c.weakHash(sk.PublicKey, binding, "binding signature", c.subkeyHashFix(sk.PublicKey))
			if binding.FlagSign && binding.EmbeddedSignature != nil {
				c.weakHash(sk.PublicKey, binding.EmbeddedSignature, "back-signature", c.subkeyHashFix(sk.PublicKey))
			}
			continue
		}
		if d, ok := c.whyNotSigning(sk); ok {
			c.dead = append(c.dead, d)
		}
	}
}

// whyNotSigning explains why a subkey that was meant to sign cannot sign at
// the check time; ok is false when it was never meant to sign.
func (c *checker) whyNotSigning(sk *openpgp.Subkey) (deadSigner, bool) {
	if !sk.PublicKey.PubKeyAlgo.CanSign() {
		return deadSigner{}, false
	}
	// A private copy: Verify above cached verdicts that depended on now.
	fs := freshSubkey(sk, sk.Primary)
	b, err := fs.LatestValidBindingSignature(time.Time{}, c.lax)
	if err != nil {
		for _, v := range sk.Bindings {
			s := v.Packet
			if s.FlagsValid && s.FlagSign && bindingValidWithoutBacksig(c.e.PrimaryKey, sk.PublicKey, s) {
				return deadSigner{pk: sk.PublicKey, why: "backsig"}, true
			}
		}
		return deadSigner{}, false
	}
	if !b.FlagsValid || !b.FlagSign {
		return deadSigner{}, false
	}
	if fs.Revoked(b, c.now) {
		return deadSigner{pk: sk.PublicKey, why: "revoked"}, true
	}
	if fs.Expired(b, c.now) {
		exp := keyExpiry(sk.PublicKey, b)
		if b.SigExpired(c.now) && b.SigLifetimeSecs != nil && *b.SigLifetimeSecs != 0 {
			exp = earliest(exp, b.CreationTime.Add(time.Duration(*b.SigLifetimeSecs)*time.Second))
		}
		if !exp.IsZero() && exp.Before(c.now) {
			return deadSigner{pk: sk.PublicKey, why: "expired", expired: exp}, true
		}
	}
	return deadSigner{pk: sk.PublicKey, why: "later"}, true
}

// bindingValidWithoutBacksig reports whether sig binds sub to primary when
// its back-signature is not considered.
func bindingValidWithoutBacksig(primary, sub *packet.PublicKey, sig *packet.Signature) bool {
	cp := *sig // the signed data is the stored hash suffix, not these fields
	cp.FlagSign = false
	cp.EmbeddedSignature = nil
	return primary.VerifyKeySignature(sub, &cp) == nil
}

func (c *checker) signers() []signer {
	if !c.primaryOK {
		return nil
	}
	var out []signer
	if c.primarySig.FlagsValid && c.primarySig.FlagSign && c.e.PrimaryKey.PubKeyAlgo.CanSign() {
		out = append(out, signer{pk: c.e.PrimaryKey, expires: c.primaryExpiry})
	}
	for _, l := range c.live {
		if l.binding.FlagsValid && l.binding.FlagSign && l.pk.PubKeyAlgo.CanSign() {
			out = append(out, signer{pk: l.pk, expires: earliest(c.primaryExpiry, keyExpiry(l.pk, l.binding))})
		}
	}
	return out
}

func (c *checker) signing() {
	if !c.primaryOK || len(c.signers()) > 0 {
		return
	}
	addFix := "add a signing subkey: gpg --quick-add-key " + c.fpr() + " ed25519 sign " + c.suggestedExpiry()
	if len(c.dead) == 0 {
		c.add(RuleNoSigningKey, c.e.PrimaryKey, "", addFix, "has no key that may sign: neither the primary key nor a subkey carries the sign flag")
		return
	}
	for _, d := range c.dead {
		switch d.why {
		case "expired":
			c.add(RuleExpired, d.pk, "",
				"extend it: gpg --quick-set-expire "+c.fpr()+" "+c.suggestedExpiry()+" "+fingerprint(d.pk)+", then give keyctl the new copy",
				"is the signing subkey and expired %s, %s", day(d.expired), relative(c.now, d.expired))
		case "revoked":
			c.add(RuleNoSigningKey, d.pk, "", addFix, "is the signing subkey and is revoked")
		case "backsig":
			c.add(RuleNoSigningKey, d.pk, "", addFix+" (gpg writes the back-signature)",
				"is a signing subkey without a valid back-signature, so it may not sign")
		default:
			c.add(RuleNoSigningKey, d.pk, "", addFix, "is the signing subkey and is not valid at %s", day(c.now))
		}
	}
}

func (c *checker) validity() {
	ss := c.signers()
	if len(ss) == 0 {
		return
	}
	var last time.Time
	for _, s := range ss {
		if s.expires.IsZero() {
			last = time.Time{}
			break
		}
		if s.expires.After(last) {
			last = s.expires
		}
	}
	pk := c.e.PrimaryKey
	setFix := "set an expiry: gpg --quick-set-expire " + c.fpr() + " " + c.suggestedExpiry() + ", then give keyctl the new copy"
	if last.IsZero() {
		if c.p.RequireExpiry {
			c.add(RuleNoExpiry, pk, c.settingRequireExpiry(), setFix, "never expires")
		}
		return
	}
	if c.p.MaxValidity > 0 && last.Sub(c.now) > time.Duration(c.p.MaxValidity)+expirySlack {
		verb := "expires"
		if !last.Equal(c.primaryExpiry) {
			verb = "can sign until"
		}
		c.add(RuleValidityTooLong, pk, c.settingMaxValidity(), "shorten it: gpg --quick-set-expire "+c.fpr()+" "+c.suggestedExpiry()+", then give keyctl the new copy",
			"%s %s, %s", verb, day(last), relative(c.now, last))
	}
}

func (c *checker) collisions(known KnownKeys) {
	own := strings.ToUpper(c.fpr())
	keys := []*packet.PublicKey{c.e.PrimaryKey}
	for _, s := range c.e.Subkeys {
		keys = append(keys, s.PublicKey)
	}
	fix := "64-bit key IDs only clash when someone makes them clash: find out where this key came from, and have its owner make a new key"
	seen := make(map[uint64]string, len(keys))
	for _, pk := range keys {
		fp := fingerprint(pk)
		if prev, dup := seen[pk.KeyId]; dup {
			if prev != fp {
				c.add(RuleKeyIDCollision, pk, "", fix, "shares its 64-bit key ID with key %s of the same certificate", prev)
			}
			continue
		}
		seen[pk.KeyId] = fp
		if known == nil {
			continue
		}
		other, ok := known.FingerprintByKeyID(pk.KeyId)
		if !ok || normalizeFingerprint(other) == own {
			continue
		}
		c.add(RuleKeyIDCollision, pk, "", fix, "has the same 64-bit key ID as a key of stored certificate %s", capLen(normalizeFingerprint(other), 64))
	}
}

func (c *checker) minRSA() int { return clampRSABits(c.p.MinRSABits) }

func (c *checker) settingRSA() string {
	return "policy." + SettingMinRSABits + " = " + strconv.Itoa(c.minRSA())
}

func (c *checker) settingMaxValidity() string {
	return "policy." + SettingMaxValidity + " = " + c.p.MaxValidity.String()
}

func (c *checker) settingRequireExpiry() string {
	return "policy." + SettingRequireExpiry + " = " + strconv.FormatBool(c.p.RequireExpiry)
}

// suggestedExpiry is the period the fixes propose, in gpg's syntax: 2y, or
// less when the policy allows less.
func (c *checker) suggestedExpiry() string {
	d := time.Duration(c.p.MaxValidity)
	if d <= 0 || d >= 2*Year {
		return "2y"
	}
	if d >= Day {
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	}
	return "seconds=" + strconv.FormatInt(int64(d/time.Second), 10)
}

func (c *checker) revocationNote() string {
	for _, r := range c.e.Revocations {
		if r.Valid == nil || !*r.Valid {
			continue
		}
		s := r.Packet
		note := " since " + day(s.CreationTime)
		if s.RevocationReason != nil {
			note += " (" + reasonName(*s.RevocationReason) + ")"
		}
		return note
	}
	return ""
}

func reasonName(r packet.ReasonForRevocation) string {
	switch r {
	case packet.NoReason:
		return "no reason given"
	case packet.KeySuperseded:
		return "key superseded"
	case packet.KeyCompromised:
		return "key compromised"
	case packet.KeyRetired:
		return "key retired"
	}
	return "reason code " + strconv.Itoa(int(r))
}

// keyExpiry is when pk expires by sig; zero: never.
func keyExpiry(pk *packet.PublicKey, sig *packet.Signature) time.Time {
	if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return time.Time{}
	}
	return pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
}

// earliest returns the earlier of two expiry times, zero meaning never.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero():
		return a
	case b.Before(a):
		return b
	}
	return a
}

// freshEntity copies e's structure with every signature unverified, so that
// verdicts cached by go-crypto under another configuration are neither
// reused nor left behind.
func freshEntity(e *openpgp.Entity) *openpgp.Entity {
	c := &openpgp.Entity{
		PrimaryKey:       e.PrimaryKey,
		PrivateKey:       e.PrivateKey,
		Identities:       make(map[string]*openpgp.Identity, len(e.Identities)),
		Revocations:      freshSigs(e.Revocations),
		DirectSignatures: freshSigs(e.DirectSignatures),
	}
	for name, id := range e.Identities {
		if id == nil {
			continue
		}
		c.Identities[name] = &openpgp.Identity{
			Primary:             c,
			Name:                id.Name,
			UserId:              id.UserId,
			SelfCertifications:  freshSigs(id.SelfCertifications),
			OtherCertifications: freshSigs(id.OtherCertifications),
			Revocations:         freshSigs(id.Revocations),
		}
	}
	for i := range e.Subkeys {
		c.Subkeys = append(c.Subkeys, *freshSubkey(&e.Subkeys[i], c))
	}
	return c
}

func freshSubkey(s *openpgp.Subkey, primary *openpgp.Entity) *openpgp.Subkey {
	return &openpgp.Subkey{
		Primary:     primary,
		PublicKey:   s.PublicKey,
		PrivateKey:  s.PrivateKey,
		Bindings:    freshSigs(s.Bindings),
		Revocations: freshSigs(s.Revocations),
	}
}

func freshSigs(in []*packet.VerifiableSignature) []*packet.VerifiableSignature {
	if in == nil {
		return nil
	}
	out := make([]*packet.VerifiableSignature, 0, len(in))
	for _, s := range in {
		if s != nil && s.Packet != nil {
			out = append(out, packet.NewVerifiableSig(s.Packet))
		}
	}
	return out
}

func keyID(pk *packet.PublicKey) string { return fmt.Sprintf("%016X", pk.KeyId) }

func fingerprint(pk *packet.PublicKey) string { return fmt.Sprintf("%X", pk.Fingerprint) }

func normalizeFingerprint(s string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.Join(strings.Fields(s), "")), "0X")
}

func capLen(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.MD5:
		return "MD5"
	case crypto.SHA1:
		return "SHA-1"
	case crypto.RIPEMD160:
		return "RIPEMD-160"
	}
	return h.String()
}

// AlgorithmName describes a public key's algorithm and size the way every
// keyctl message and listing does: "RSA-4096", "Ed25519", "ECDSA P-256",
// "DSA-2048".
func AlgorithmName(pk *packet.PublicKey) string {
	bits, err := pk.BitLength()
	sized := func(name string) string {
		if err != nil {
			return name
		}
		return name + "-" + strconv.Itoa(int(bits))
	}
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly, packet.PubKeyAlgoRSAEncryptOnly:
		return sized("RSA")
	case packet.PubKeyAlgoDSA:
		return sized("DSA")
	case packet.PubKeyAlgoElGamal:
		return sized("ElGamal")
	case packet.PubKeyAlgoEdDSA:
		if curve, err := pk.Curve(); err == nil && curve == packet.Curve25519 {
			return "Ed25519"
		}
		return "EdDSA " + curveName(pk)
	case packet.PubKeyAlgoEd25519:
		return "Ed25519"
	case packet.PubKeyAlgoEd448:
		return "Ed448"
	case packet.PubKeyAlgoECDSA:
		return "ECDSA " + curveName(pk)
	case packet.PubKeyAlgoECDH:
		return "ECDH " + curveName(pk)
	case packet.PubKeyAlgoX25519:
		return "X25519"
	case packet.PubKeyAlgoX448:
		return "X448"
	}
	return "public-key algorithm " + strconv.Itoa(int(pk.PubKeyAlgo))
}

func curveName(pk *packet.PublicKey) string {
	c, err := pk.Curve()
	if err != nil {
		return "(unknown curve)"
	}
	switch c {
	case packet.CurveNistP256:
		return "P-256"
	case packet.CurveNistP384:
		return "P-384"
	case packet.CurveNistP521:
		return "P-521"
	}
	return string(c)
}

func day(t time.Time) string { return t.UTC().Format("2006-01-02") }

// relative says how far t is from now: "in 9 years", "3 months ago".
func relative(now, t time.Time) string {
	d := t.Sub(now)
	if d < 0 {
		return span(-d) + " ago"
	}
	return "in " + span(d)
}

func span(d time.Duration) string {
	round := func(unit time.Duration) int { return int((d + unit/2) / unit) }
	switch {
	case d >= Year-15*Day:
		return plural(round(Year), "year", "years")
	case d >= 30*Day:
		return plural(round(30*Day), "month", "months")
	case d >= Day:
		return plural(round(Day), "day", "days")
	case d >= time.Hour:
		return plural(round(time.Hour), "hour", "hours")
	}
	return "less than an hour"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// quoteUID quotes a user ID for a message: Go syntax (control characters
// escaped), at most 80 runes.
func quoteUID(s string) string {
	if utf8.RuneCountInString(s) > 80 {
		r := []rune(s)
		s = string(r[:80]) + "..."
	}
	return strconv.Quote(s)
}
