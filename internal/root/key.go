package root

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/ProtonMail/go-crypto/openpgp/s2k"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

// Algo is the public-key algorithm of a new root key.
type Algo int

const (
	// Ed25519 makes a version 4 EdDSA key on Curve25519 (the "legacy" EdDSA
	// encoding, algorithm 22), which GnuPG 2.2 and Sequoia 1.x read. The
	// RFC 9580 Ed25519 encoding (algorithm 27) is not used because those
	// peers cannot verify it.
	Ed25519 Algo = iota
	// RSA4096 makes a 4096-bit RSA key, for holders whose smartcard or
	// organisation requires RSA.
	RSA4096
)

func (a Algo) String() string {
	switch a {
	case Ed25519:
		return "ed25519"
	case RSA4096:
		return "rsa4096"
	}
	return fmt.Sprintf("algo(%d)", int(a))
}

// ParseAlgo maps a command-line name (ed25519, rsa4096) to an Algo.
func ParseAlgo(s string) (Algo, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "ed25519":
		return Ed25519, nil
	case "rsa4096", "rsa-4096", "rsa":
		return RSA4096, nil
	}
	return 0, fail.Inputf("unknown root key algorithm %q", s).WithHint("use ed25519 (the default) or rsa4096")
}

// DefaultRootValidity is how long a new root key is valid unless the caller
// says otherwise. A root key lives offline and every replacement costs an
// M-of-N ceremony and a rotation link, so it is longer than the three years
// the maintainer policy allows; it still expires, so a key that is lost
// without anyone noticing stops being trusted on its own, and extending it
// (gpg --quick-set-expire, then a rotation link with the refreshed key) is a
// deliberate act that proves the holder still has it.
const DefaultRootValidity = 5 * 365 * 24 * time.Hour

// MaxRootValidity caps the validity a caller may ask for.
const MaxRootValidity = 10 * 365 * 24 * time.Hour

// s2kCount is the largest iteration count OpenPGP can encode: the secret
// key file is decrypted once per signing ceremony, so the cost is paid
// rarely by the holder and often by an attacker.
const s2kCount = 65011712

// CreateOptions describes a new root key.
type CreateOptions struct {
	Name       string        // user ID name, e.g. "charts.example.org root 2026"
	Algo       Algo          // Ed25519 (default) or RSA4096
	Passphrase []byte        // nil or empty: the secret key is not encrypted
	Validity   time.Duration // 0: DefaultRootValidity
}

// Created is a new root key: the armored secret key (to be written 0600 by
// the caller, never published), the armored public key (what init and the
// root set take) and the fingerprint.
type Created struct {
	Secret      []byte
	Public      []byte
	Fingerprint string
}

// Create makes a root key: one primary key that may certify and sign, no
// subkeys, a user ID naming it, an expiry now+Validity, self-signed with
// SHA-512. With a passphrase the secret key is protected by iterated and
// salted S2K (SHA-256, 65011712 iterations) and AES-256, which GnuPG 2.2
// imports, so a holder can move the key into gpg-agent or onto a card.
func Create(opts CreateOptions, now time.Time) (*Created, error) {
	name := strings.TrimSpace(opts.Name)
	if name == "" {
		return nil, fail.Inputf("a root key needs a name").WithHint("pass --name, e.g. --name 'charts.example.org root 2026'")
	}
	if len(name) > 128 || strings.ContainsAny(name, "()<>\x00\n\r") {
		return nil, fail.Inputf("root key name must be at most 128 characters without ( ) < > or line breaks")
	}
	validity := opts.Validity
	if validity == 0 {
		validity = DefaultRootValidity
	}
	if validity < 24*time.Hour || validity > MaxRootValidity {
		return nil, fail.Inputf("root key validity %s is out of range", validity).WithHint("give a validity between 1 day and 10 years")
	}
	cfg := &packet.Config{
		DefaultHash:     crypto.SHA512,
		DefaultCipher:   packet.CipherAES256,
		Time:            func() time.Time { return now },
		KeyLifetimeSecs: uint32(validity / time.Second),
	}
	switch opts.Algo {
	case Ed25519:
		cfg.Algorithm = packet.PubKeyAlgoEdDSA
		cfg.Curve = packet.Curve25519
	case RSA4096:
		cfg.Algorithm = packet.PubKeyAlgoRSA
		cfg.RSABits = 4096
	default:
		return nil, fail.Inputf("unknown root key algorithm %s", opts.Algo)
	}
	e, err := openpgp.NewEntity(name, "keyctl root key", "", cfg)
	if err != nil {
		return nil, fail.Inputf("making the root key").Wrap(err)
	}
	// NewEntity always adds an encryption subkey; a root key only signs.
	e.Subkeys = nil

	pub, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		return nil, fail.Inputf("serializing the root public key").Wrap(err)
	}
	if len(opts.Passphrase) > 0 {
		err := e.EncryptPrivateKeys(opts.Passphrase, &packet.Config{
			DefaultCipher: packet.CipherAES256,
			S2KConfig:     &s2k.Config{S2KMode: s2k.IteratedSaltedS2K, Hash: crypto.SHA256, S2KCount: s2kCount},
		})
		if err != nil {
			return nil, fail.Inputf("encrypting the root secret key").Wrap(err)
		}
	}
	var sec bytes.Buffer
	if err := e.SerializePrivateWithoutSigning(&sec, nil); err != nil {
		return nil, fail.Inputf("serializing the root secret key").Wrap(err)
	}
	secArmored, err := pgpkey.Armor(openpgp.PrivateKeyType, sec.Bytes())
	if err != nil {
		return nil, err
	}
	pubArmored, err := pgpkey.Armor(openpgp.PublicKeyType, pub)
	if err != nil {
		return nil, err
	}
	return &Created{Secret: secArmored, Public: pubArmored, Fingerprint: pgpkey.Fingerprint(e)}, nil
}

// LoadSecret reads a root secret key (armored or binary, one key). The
// passphrase function is called only when the key is encrypted; it may be
// nil for unprotected keys. Public-only input and smartcard stubs are
// refused with a hint. Errors never include key material or the passphrase.
func LoadSecret(data []byte, passphrase func() ([]byte, error)) (*openpgp.Entity, error) {
	e, err := pgpkey.ReadCert(data)
	if err != nil {
		return nil, fail.Inputf("reading the root secret key").Wrap(err)
	}
	fpr := pgpkey.Fingerprint(e)
	switch err := pgpkey.Unlock(e, passphrase); {
	case err == nil:
		return e, nil
	case errors.Is(err, pgpkey.ErrNoSecret):
		return nil, fail.Inputf("root key %s: %v", fpr, err).
			WithHint("give the secret key file written by keyctl root create --secret-out",
				"a key kept in gpg-agent or on a smartcard signs with gpg; see docs/manifest.md")
	case errors.Is(err, pgpkey.ErrStub):
		return nil, fail.Inputf("root key %s: %v", fpr, err).
			WithHint("sign with gpg --detach-sign; see docs/manifest.md")
	case errors.Is(err, pgpkey.ErrNeedPassphrase):
		return nil, fail.Inputf("root key %s is protected by a passphrase", fpr).
			WithHint("give the passphrase with --passphrase-file, the environment or the prompt")
	case errors.Is(err, pgpkey.ErrWrongPassphrase):
		return nil, fail.Inputf("root key %s: wrong passphrase", fpr).WithHint("check the passphrase file or retype it")
	default:
		return nil, fail.Inputf("root key %s: reading the passphrase", fpr).Wrap(err)
	}
}

// LoadPublic reads a root public key (armored or binary, one key) and
// refuses anything carrying secret material: a team lead must never pin,
// store or ship a secret key.
func LoadPublic(data []byte) (*openpgp.Entity, error) {
	e, err := pgpkey.ReadCert(data)
	if err != nil {
		return nil, fail.Inputf("reading the root public key").Wrap(err)
	}
	if pgpkey.HasSecret(e) {
		return nil, fail.Inputf("root key %s: the file holds secret key material", pgpkey.Fingerprint(e)).
			WithHint("give the public key (keyctl root create --public-out, or gpg --export FPR)",
				"keep the secret key file offline")
	}
	return e, nil
}

// checkRootKey refuses a key that cannot serve as a root at now: secret
// material, weak algorithms, or no signing-capable key.
func checkRootKey(e *openpgp.Entity, now time.Time) error {
	fpr := pgpkey.Fingerprint(e)
	if pgpkey.HasSecret(e) {
		return fail.Inputf("root key %s carries secret key material", fpr).WithHint("use the public key only")
	}
	sk := pgpkey.SigningKeys(e, now, verifyConfig())
	if len(sk) == 0 {
		return fail.Inputf("root key %s has no key that may sign at %s (expired, revoked or not signing-capable)", fpr, now.UTC().Format(time.RFC3339)).
			WithHint("extend the key's expiry (gpg --quick-set-expire) or create a new root key")
	}
	for _, k := range sk {
		if err := checkAlgo(k.PublicKey); err != nil {
			return fail.Inputf("root key %s: %v", fpr, err).WithHint("root keys are Ed25519, ECDSA or RSA of 3072 bits or more")
		}
	}
	return nil
}

func checkAlgo(pk *packet.PublicKey) error {
	switch pk.PubKeyAlgo {
	case packet.PubKeyAlgoRSA, packet.PubKeyAlgoRSASignOnly:
		bits, err := pk.BitLength()
		if err != nil {
			return err
		}
		if bits < 3072 {
			return fmt.Errorf("RSA key of %d bits is too small", bits)
		}
		return nil
	case packet.PubKeyAlgoEdDSA, packet.PubKeyAlgoEd25519, packet.PubKeyAlgoEd448, packet.PubKeyAlgoECDSA:
		return nil
	}
	return errors.New(pgpkey.Algorithm(pk) + " is not allowed for a root key")
}
