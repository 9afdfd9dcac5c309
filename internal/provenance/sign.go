package provenance

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"sigs.k8s.io/yaml"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

// ErrLockedKey: the chosen secret key is still encrypted with a passphrase.
var ErrLockedKey = errors.New("the secret signing key is locked (encrypted with a passphrase)")

// Message returns the text Helm clearsigns for the archive a stored under the
// file name archiveName: the chart metadata as Helm renders it, a "..."
// line, then files: with the archive's sha256.
func Message(a *Archive, archiveName string) ([]byte, error) {
	if archiveName == "" || strings.ContainsAny(archiveName, "/\\") {
		return nil, fmt.Errorf("archive name %q is not a file base name", archiveName)
	}
	md, err := a.provMetadata()
	if err != nil {
		return nil, err
	}
	sums, err := yaml.Marshal(sumCollection{Files: map[string]string{archiveName: sha256Prefix + hex.EncodeToString(a.SHA256[:])}})
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	b.Write(md)
	b.WriteString(metadataBreak)
	b.Write(sums)
	return b.Bytes(), nil
}

// Sign writes the .prov for archive a (read with ReadArchive from a file whose
// base name is archiveName) in Helm's format: a clearsigned message with
// "Hash: SHA512" whose text is Message(a, archiveName). It signs with a key
// of signer that is valid for signing at now: the newest signing subkey, or
// the primary key when it carries the sign flag itself; a certify-only
// primary is never used (Helm 3.22 would, and its own verify refuses the
// result). The secret key must be present and already decrypted. The result
// is verified against signer's public key before it is returned.
func Sign(signer *openpgp.Entity, a *Archive, archiveName string, now time.Time) ([]byte, error) {
	msg, err := Message(a, archiveName)
	if err != nil {
		return nil, input(err)
	}
	return signMessage(signer, msg, now)
}

// signMessage clearsigns msg as Helm's provenance format wants it and
// checks the result as a verifier would.
func signMessage(signer *openpgp.Entity, msg []byte, now time.Time) ([]byte, error) {
	if signer == nil {
		return nil, fail.Inputf("no signing key given")
	}
	cfg := &packet.Config{DefaultHash: crypto.SHA512, Time: func() time.Time { return now }}
	priv, err := chooseKey(signer, now, cfg)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w, err := clearsign.Encode(&out, priv, cfg)
	if err != nil {
		return nil, input(fmt.Errorf("signing: %w", err))
	}
	if _, err := w.Write(msg); err != nil {
		return nil, input(fmt.Errorf("signing: %w", err))
	}
	if err := w.Close(); err != nil {
		return nil, input(fmt.Errorf("signing: %w", err))
	}
	// Check our own work as a verifier would.
	p, err := Parse(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("the signature just made does not parse: %w", err)
	}
	// go-crypto's clearsign writes the armor without its CRC-24 line; GnuPG
	// 2.2 then misreads a body whose base64 needs no padding ("invalid
	// radix64 character"). Re-armor the same signature with the checksum.
	signed, err := withArmorChecksum(out.Bytes(), p.Signatures)
	if err != nil {
		return nil, err
	}
	if p, err = Parse(signed); err != nil {
		return nil, fmt.Errorf("the signature just made does not parse: %w", err)
	}
	if _, err := p.Verify(openpgp.EntityList{signer}, &packet.Config{Time: func() time.Time { return now }}); err != nil {
		return nil, fmt.Errorf("the signature just made does not verify: %w", err)
	}
	return signed, nil
}

func withArmorChecksum(clearsigned, sigBin []byte) ([]byte, error) {
	i := bytes.Index(clearsigned, []byte("\n-----BEGIN PGP SIGNATURE-----"))
	if i < 0 {
		return nil, fmt.Errorf("the signature just made has no signature block")
	}
	var b bytes.Buffer
	b.Write(clearsigned[:i+1])
	w, err := armor.EncodeWithChecksumOption(&b, "PGP SIGNATURE", nil, true)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(sigBin); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// chooseKey picks the secret (sub)key to sign with.
func chooseKey(e *openpgp.Entity, now time.Time, cfg *packet.Config) (*packet.PrivateKey, error) {
	keys := pgpkey.SigningKeys(e, now, cfg)
	if len(keys) == 0 {
		return nil, fail.Inputf("key %s has no valid signing-capable (sub)key at %s", pgpkey.Fingerprint(e), now.UTC().Format(time.RFC3339)).
			WithHint("the key may be expired or revoked, or its primary key may only certify without a signing subkey: add one with `gpg --quick-add-key FPR ed25519 sign 1y`")
	}
	// Subkeys first, newest first; the primary last.
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i].IsPrimary != keys[j].IsPrimary {
			return !keys[i].IsPrimary
		}
		return keys[i].PublicKey.CreationTime.After(keys[j].PublicKey.CreationTime)
	})
	locked := false
	for _, k := range keys {
		priv := secretFor(e, k.PublicKey)
		if priv == nil || priv.Dummy() {
			continue
		}
		if priv.Encrypted {
			locked = true
			continue
		}
		return priv, nil
	}
	if locked {
		return nil, (&fail.Error{Kind: fail.Input, Err: ErrLockedKey}).
			WithHint("give the passphrase so the key can be decrypted before signing")
	}
	return nil, fail.Inputf("key %s holds no secret for its signing-capable (sub)keys", pgpkey.Fingerprint(e)).
		WithHint("export the secret key with `gpg --export-secret-keys FPR` (or the signing subkey with --export-secret-subkeys)")
}

func secretFor(e *openpgp.Entity, pk *packet.PublicKey) *packet.PrivateKey {
	if pk == e.PrimaryKey {
		return e.PrivateKey
	}
	for i := range e.Subkeys {
		if e.Subkeys[i].PublicKey == pk {
			return e.Subkeys[i].PrivateKey
		}
	}
	return nil
}
