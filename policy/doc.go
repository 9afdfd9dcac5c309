// Package policy is keyctl's key and verification policy: which OpenPGP
// certificates a chart repository accepts as maintainer keys, and which
// signatures a verifier accepts from them. It imports only the standard
// library and github.com/ProtonMail/go-crypto, so that other tools can
// apply the same rules.
//
// # Key policy
//
// KeyPolicy.Check judges one certificate (an openpgp/v2 Entity) at a given
// time and returns every Violation, not only the first. Each names its rule,
// the key ID (16 hex digits) of the primary key or subkey concerned, what
// was found, the setting that relaxes the rule (if any) and the fix. The
// rules, in the order they are reported:
//
//   - secret-key-material: the input holds secret key packets. keyctl keeps
//     public keys only. No setting.
//   - weak-algorithm: the primary key, or a live subkey, is DSA or ElGamal,
//     or uses a curve go-crypto refuses (secp256k1, an unknown curve, a
//     legacy curve encoding in a v6 key). No setting.
//   - rsa-too-small: an RSA primary key or live subkey has fewer than
//     min_rsa_bits bits (default 3072, never below 2048).
//   - weak-hash: a signature the certificate relies on uses MD5, SHA-1 or
//     RIPEMD-160: the newest valid self-signature of the primary user ID, a
//     direct-key self-signature, a live subkey's binding or its
//     back-signature. No setting.
//   - no-signing-key: no key may sign: the primary key has no valid
//     self-signature, or neither it nor a subkey carries the sign flag, or
//     the signing subkey is revoked or lacks its back-signature (go-crypto,
//     gpg and Helm all refuse a signing subkey without one). No setting.
//   - expired: the primary key has expired, or the only signing subkey has.
//     No setting.
//   - revoked: the primary key carries a valid revocation signature. No
//     setting.
//   - no-expiry: the certificate can sign for ever: neither the primary key
//     nor its signing (sub)key expires. Setting require_expiry (default
//     true).
//   - validity-too-long: the certificate can sign for longer than
//     max_validity after the check time (default 3y, with a year of 365.25
//     days and one day of slack). Setting max_validity.
//   - keyid-collision: the 64-bit key ID of the primary key or a subkey
//     equals one of another stored certificate (KnownKeys), or of another
//     key in the same certificate. No setting.
//
// A live subkey is one with a valid binding (and back-signature, when it
// may sign) that is neither revoked nor expired at the check time; expired
// and revoked subkeys cannot be used and are not judged. How long a
// certificate can sign is the latest expiry of its signing keys, each capped
// by the primary key's.
//
// Check first asks go-crypto, with a configuration that accepts every hash
// and algorithm, which signatures and keys the certificate relies on, and
// then judges those by the policy. It verifies on a private copy of the
// Entity, so go-crypto's cached verdicts are neither trusted nor changed. An
// empty result guarantees that go-crypto finds a signing key in the
// certificate with KeyPolicy.PacketConfig at the check time.
//
// # Verification policy
//
// VerifyPolicy says which signatures over data (a Helm .prov, a keyring's
// detached .sig) are accepted: the hash algorithms, the smallest RSA key,
// the clock skew. Its PacketConfig, and KeyPolicy.PacketConfig, give
// go-crypto the same refusals the key rules make, since go-crypto's own
// defaults accept SHA-1 self-signatures and 2047-bit RSA.
//
// # Removed keys and scopes
//
// JudgeRemoval is the removal rule of docs/verify.md that keyctl verify and keyctl audit
// share: a compromised key (or a removal reason this code does not know)
// makes every signature untrusted; a retired or superseded key's signature
// stays trusted only when the release's first-seen time from the team
// lead's ledger and the signature both precede the removal's effective
// time. A key still listed active that has expired since it signed is
// judged the same way, effective at its expiry (ReasonExpired). The
// signature's own date is set by the signer and never suffices.
// InScope is the chart-name glob rule (path.Match) of a key's scopes.
//
// # Configuration
//
// FromMap and VerifyFromMap read a configuration section (keys min_rsa_bits,
// max_validity, require_expiry; and hashes, min_rsa_bits, max_clock_skew).
// They start from the defaults, refuse unknown keys and unsafe values, and
// accept durations as "3y", "365d", "2w", "72h" or any Go duration (see
// Duration). The structs carry json and mapstructure tags with the same
// names; a mapstructure decoder needs a TextUnmarshaler hook for Duration,
// which is why FromMap exists.
package policy
