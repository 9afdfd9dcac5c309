package client

import (
	"bytes"
	"errors"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
)

// LoadSigner reads a maintainer's secret key file (armored or binary, one
// key, as `gpg --export-secret-keys` or `gpg --export-secret-subkeys`
// writes it) and decrypts it, asking for the passphrase only when a usable
// secret key is encrypted. Errors never include key material.
func LoadSigner(data []byte, passphrase func() ([]byte, error)) (*openpgp.Entity, error) {
	e, err := pgpkey.ReadCert(data)
	if err != nil {
		return nil, fail.Inputf("reading the secret key").Wrap(err).WithHint("give the file written by gpg --export-secret-keys FPR")
	}
	fpr := pgpkey.Fingerprint(e)
	switch err := pgpkey.Unlock(e, passphrase); {
	case err == nil:
		return e, nil
	case errors.Is(err, pgpkey.ErrNoSecret):
		return nil, fail.Inputf("key %s: %v", fpr, err).
			WithHint("give the secret key: gpg --export-secret-keys " + fpr + " > key.gpg (keep it private)")
	case errors.Is(err, pgpkey.ErrStub):
		return nil, fail.Inputf("key %s: %v", fpr, err).
			WithHint("sign with helm package --sign or gpg, which can use the card")
	case errors.Is(err, pgpkey.ErrWrongPassphrase):
		return nil, fail.Inputf("key %s: %v", fpr, err).WithHint("check the passphrase file or retype it")
	case errors.Is(err, pgpkey.ErrNeedPassphrase):
		return nil, fail.Inputf("key %s: %v", fpr, err)
	default:
		return nil, err
	}
}

// Signed is a .prov made by SignChart.
type Signed struct {
	Prov    []byte
	Parsed  *provenance.Prov
	Archive *provenance.Archive
	// Signature says which certificate and (sub)key signed.
	Signature *provenance.Signature
}

// SignChart signs the chart archive bytes stored as archiveName with signer,
// without repackaging, and returns the .prov in Helm's format.
func SignChart(signer *openpgp.Entity, archive []byte, archiveName string, now time.Time) (*Signed, error) {
	a, err := provenance.ReadArchive(bytes.NewReader(archive), provenance.DefaultLimits)
	if err != nil {
		return nil, err
	}
	prov, err := provenance.Sign(signer, a, archiveName, now)
	if err != nil {
		return nil, err
	}
	p, err := provenance.Parse(prov)
	if err != nil {
		return nil, err
	}
	sig, err := p.Verify(openpgp.EntityList{signer}, &packet.Config{Time: func() time.Time { return now }})
	if err != nil {
		return nil, err
	}
	return &Signed{Prov: prov, Parsed: p, Archive: a, Signature: sig}, nil
}
