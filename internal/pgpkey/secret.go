package pgpkey

import (
	"errors"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// Errors of Unlock; callers add the hint that fits their key.
var (
	// ErrNoSecret: the certificate carries no secret key at all.
	ErrNoSecret = errors.New("the file holds only the public key")
	// ErrStub: every secret key is a stub (smartcard or gpg --export-secret-subkeys offline primary).
	ErrStub = errors.New("the secret key is a stub (smartcard or offline key)")
	// ErrNeedPassphrase: a usable secret key is encrypted and no way to ask was given.
	ErrNeedPassphrase = errors.New("the secret key is protected by a passphrase")
	// ErrWrongPassphrase: the passphrase does not decrypt the key.
	ErrWrongPassphrase = errors.New("wrong passphrase")
)

// Unlock decrypts the secret keys of e in place, calling passphrase only
// when a usable (non-stub) secret key is encrypted. Its errors are the
// sentinels above or the passphrase function's own; none carries key
// material or the passphrase.
func Unlock(e *openpgp.Entity, passphrase func() ([]byte, error)) error {
	if !HasSecret(e) {
		return ErrNoSecret
	}
	var keys []*packet.PrivateKey
	if e.PrivateKey != nil {
		keys = append(keys, e.PrivateKey)
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil {
			keys = append(keys, s.PrivateKey)
		}
	}
	usable, encrypted := 0, false
	for _, k := range keys {
		if k.Dummy() {
			continue
		}
		usable++
		encrypted = encrypted || k.Encrypted
	}
	if usable == 0 {
		return ErrStub
	}
	if !encrypted {
		return nil
	}
	if passphrase == nil {
		return ErrNeedPassphrase
	}
	pass, err := passphrase()
	if err != nil {
		return err
	}
	if err := e.DecryptPrivateKeys(pass); err != nil {
		return ErrWrongPassphrase
	}
	return nil
}
