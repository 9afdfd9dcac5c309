package provenance

import (
	"errors"
	"fmt"
	"strings"

	"github.com/keyctl/keyctl/internal/fail"
)

// Sentinel causes, for errors.Is. The typed errors below carry the details.
var (
	// ErrBadSignature: the signature does not verify with the key it names.
	ErrBadSignature = errors.New("bad signature")
	// ErrWeakHash: the signature uses a hash keyctl refuses (MD5, SHA-1, RIPEMD-160).
	ErrWeakHash = errors.New("signature uses a weak hash algorithm")
	// ErrKeyRevoked: the signing (sub)key was revoked at the signature's time
	// (or revoked as compromised, which counts at any time).
	ErrKeyRevoked = errors.New("signing key is revoked")
	// ErrKeyExpired: the signing (sub)key had expired when the signature was made.
	ErrKeyExpired = errors.New("signing key had expired when it signed")
	// ErrNotSigningKey: the key that made the signature is not valid for
	// signing (no sign flag, no valid binding or back-signature, weak algorithm).
	ErrNotSigningKey = errors.New("the key that signed is not a valid signing key")
	// ErrSignatureTime: the signature is dated in the future or has expired.
	ErrSignatureTime = errors.New("signature time is not valid")
	// ErrMalformed: the .prov file is not a well-formed Helm provenance file.
	ErrMalformed = errors.New("malformed provenance file")
	// ErrNotListed: the .prov has no files: entry for the archive's name.
	ErrNotListed = errors.New("archive is not listed in the provenance file")
)

// Issuer names the key that claims to have made a signature. It is read from
// the signature's unhashed or hashed subpackets and is not verified.
type Issuer struct {
	KeyID       string // 16 upper-case hex digits; empty when absent
	Fingerprint string // upper-case hex; empty when absent
}

func (i Issuer) String() string {
	if i.Fingerprint != "" {
		return i.Fingerprint
	}
	if i.KeyID != "" {
		return i.KeyID
	}
	return "(no issuer)"
}

// UnknownSignerError: no key in the keyring matches any signature's issuer.
type UnknownSignerError struct {
	Issuers []Issuer
}

func (e *UnknownSignerError) Error() string {
	names := make([]string, len(e.Issuers))
	for i, is := range e.Issuers {
		names[i] = is.String()
	}
	return "signed by a key that is not in the keyring: " + strings.Join(names, ", ")
}

// SignatureError: a key of the keyring matches the issuer but the signature
// is not accepted. Err is one of the sentinel causes above, possibly wrapped
// with detail.
type SignatureError struct {
	Issuer             Issuer
	PrimaryFingerprint string // the certificate in the keyring that matched
	Err                error
}

func (e *SignatureError) Error() string {
	return fmt.Sprintf("signature by key %s (certificate %s) is not valid: %v", e.Issuer, e.PrimaryFingerprint, e.Err)
}

func (e *SignatureError) Unwrap() error { return e.Err }

// HashMismatchError: the archive's SHA-256 differs from the .prov's entry.
type HashMismatchError struct {
	Name     string
	Expected string // "sha256:<hex>" as listed in the .prov
	Actual   string // "sha256:<hex>" of the archive
}

func (e *HashMismatchError) Error() string {
	return fmt.Sprintf("sha256 of %s does not match its provenance file: listed %s, archive has %s", e.Name, e.Expected, e.Actual)
}

// ChartMismatchError: the chart name or version in the .prov differs from
// the archive's own Chart.yaml (a .prov moved to another chart or release).
type ChartMismatchError struct {
	ProvName, ProvVersion       string
	ArchiveName, ArchiveVersion string
}

func (e *ChartMismatchError) Error() string {
	return fmt.Sprintf("provenance file is for chart %s %s but the archive holds %s %s", e.ProvName, e.ProvVersion, e.ArchiveName, e.ArchiveVersion)
}

// untrusted wraps a typed error as a user-facing *fail.Error of kind
// Untrusted (exit 1) with hints; errors.As still finds the typed error.
func untrusted(err error, hints ...string) error {
	return &fail.Error{Kind: fail.Untrusted, Err: err, Hints: hints}
}

// input wraps err as a user-facing *fail.Error of kind Input (exit 2).
func input(err error, hints ...string) error {
	return &fail.Error{Kind: fail.Input, Err: err, Hints: hints}
}
