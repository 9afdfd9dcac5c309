package provenance

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"sigs.k8s.io/yaml"
)

// Limits of a .prov file. Helm's are a few KiB.
const (
	MaxProvSize = 1 << 20 // the whole file
	// MaxSignatures caps the signature packets of one .prov (Helm writes one).
	MaxSignatures = 8
	// MaxListedFiles caps the entries of the files: map (Helm writes one).
	MaxListedFiles = 64
)

const (
	beginSigned   = "-----BEGIN PGP SIGNED MESSAGE-----"
	metadataBreak = "\n...\n"
	sha256Prefix  = "sha256:"
)

// Prov is a parsed Helm provenance file. Nothing in it is trusted until
// Verify succeeds.
type Prov struct {
	// Plaintext is the clearsigned text (metadata, "...", files:).
	Plaintext []byte
	// Metadata is the YAML block before the "..." line: the chart's metadata
	// as Helm renders it.
	Metadata []byte
	// Chart is Metadata parsed; Name and Version are copied from it.
	Chart   *Metadata
	Name    string
	Version string
	// Files maps an archive's base name to "sha256:<64 hex digits>".
	Files map[string]string
	// Signatures holds the binary OpenPGP signature packets.
	Signatures []byte

	signed []byte // the canonical text the signature covers
	sigs   []*packet.Signature
	raw    [][]byte // each signature packet as stored, to verify one at a time
}

type sumCollection struct {
	Files  map[string]string `json:"files"`
	Images map[string]string `json:"images,omitempty"`
}

// Parse reads a .prov strictly: at most MaxProvSize bytes holding exactly one
// clearsigned message (only white space around it), whose armored signature
// holds 1 to MaxSignatures text signatures and nothing else, and whose text
// is Helm's: chart metadata YAML, a "..." line, then a files: map of archive
// base names to sha256 sums.
func Parse(data []byte) (p *Prov, err error) {
	if len(data) > MaxProvSize {
		return nil, input(fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxProvSize))
	}
	malformed := func(format string, args ...any) error {
		return input(fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...)),
			"a .prov file is what `helm package --sign` or `keyctl sign` writes next to the chart archive")
	}
	if !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte(beginSigned)) {
		return nil, malformed("it does not start with %q", beginSigned)
	}
	var block *clearsign.Block
	var rest []byte
	func() {
		defer func() {
			if r := recover(); r != nil {
				block = nil
			}
		}()
		block, rest = clearsign.Decode(data)
	}()
	if block == nil {
		return nil, malformed("no valid clearsigned message")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, malformed("data after the signature block")
	}
	if block.ArmoredSignature == nil || block.ArmoredSignature.Type != "PGP SIGNATURE" {
		return nil, malformed("no PGP SIGNATURE block")
	}
	sigBin, err := io.ReadAll(io.LimitReader(block.ArmoredSignature.Body, MaxProvSize+1))
	if err != nil {
		return nil, malformed("reading the signature armor: %v", err)
	}
	if len(sigBin) > MaxProvSize {
		return nil, malformed("signature larger than %d bytes", MaxProvSize)
	}
	sigs, raw, err := parseSignatures(sigBin)
	if err != nil {
		return nil, malformed("%v", err)
	}
	p = &Prov{Plaintext: block.Plaintext, Signatures: sigBin, signed: block.Bytes, sigs: sigs, raw: raw}

	parts := bytes.Split(block.Plaintext, []byte(metadataBreak))
	if len(parts) != 2 {
		return nil, malformed("want chart metadata, a \"...\" line, then files:; found %d parts", len(parts))
	}
	p.Metadata = parts[0]
	md := new(Metadata)
	if err := yaml.Unmarshal(parts[0], md); err != nil {
		return nil, malformed("chart metadata: %v", err)
	}
	if md.Name == "" || md.Version == "" {
		return nil, malformed("chart metadata has no name or version")
	}
	p.Chart, p.Name, p.Version = md, md.Name, md.Version

	var sums sumCollection
	if err := yaml.Unmarshal(parts[1], &sums); err != nil {
		return nil, malformed("files: %v", err)
	}
	if len(sums.Files) == 0 {
		return nil, malformed("no files: entry")
	}
	if len(sums.Files) > MaxListedFiles {
		return nil, malformed("more than %d files: entries", MaxListedFiles)
	}
	for name, sum := range sums.Files {
		if name == "" || strings.ContainsAny(name, "/\\") {
			return nil, malformed("files: entry %q is not a file base name", name)
		}
		if !validSum(sum) {
			return nil, malformed("files: entry for %q is not sha256:<64 hex digits>", name)
		}
	}
	p.Files = sums.Files
	return p, nil
}

func validSum(s string) bool {
	h, ok := strings.CutPrefix(s, sha256Prefix)
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func parseSignatures(bin []byte) (sigs []*packet.Signature, raw [][]byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			sigs, raw, err = nil, nil, fmt.Errorf("malformed signature packet")
		}
	}()
	// One packet at a time, keeping each one's bytes: every signature is
	// verified on its own (see VerifyEach).
	rd := bytes.NewReader(bin)
	for rd.Len() > 0 {
		start := len(bin) - rd.Len()
		pk, err := packet.Read(rd)
		if err != nil {
			return nil, nil, fmt.Errorf("signature packets: %v", err)
		}
		sig, ok := pk.(*packet.Signature)
		if !ok {
			return nil, nil, fmt.Errorf("the signature block holds a %T packet", pk)
		}
		if sig.SigType != packet.SigTypeText && sig.SigType != packet.SigTypeBinary {
			return nil, nil, fmt.Errorf("signature type %#x is not a document signature", uint8(sig.SigType))
		}
		sigs = append(sigs, sig)
		raw = append(raw, bin[start:len(bin)-rd.Len()])
		if len(sigs) > MaxSignatures {
			return nil, nil, fmt.Errorf("more than %d signatures", MaxSignatures)
		}
	}
	if len(sigs) == 0 {
		return nil, nil, fmt.Errorf("no signature packet")
	}
	return sigs, raw, nil
}

// Issuers lists, for each signature, the issuer key ID and fingerprint it
// claims (unverified): enough to name an unknown signer.
func (p *Prov) Issuers() []Issuer {
	out := make([]Issuer, 0, len(p.sigs))
	for _, s := range p.sigs {
		out = append(out, issuerOf(s))
	}
	return out
}

func issuerOf(s *packet.Signature) Issuer {
	var is Issuer
	if s.IssuerKeyId != nil {
		is.KeyID = fmt.Sprintf("%016X", *s.IssuerKeyId)
	}
	if len(s.IssuerFingerprint) > 0 {
		is.Fingerprint = strings.ToUpper(hex.EncodeToString(s.IssuerFingerprint))
		if is.KeyID == "" {
			is.KeyID = keyIDFromFingerprint(s.IssuerFingerprint, s.Version)
		}
	}
	return is
}

func keyIDFromFingerprint(fp []byte, version int) string {
	if len(fp) < 8 {
		return ""
	}
	if version == 6 || len(fp) == 32 {
		return strings.ToUpper(hex.EncodeToString(fp[:8]))
	}
	return strings.ToUpper(hex.EncodeToString(fp[len(fp)-8:]))
}

// CheckArchive checks that the .prov lists an archive called name (its base
// name, as Helm looks it up) with this SHA-256 sum.
func (p *Prov) CheckArchive(name string, sum []byte) error {
	listed, ok := p.Files[name]
	if !ok {
		listedNames := make([]string, 0, len(p.Files))
		for n := range p.Files {
			listedNames = append(listedNames, n)
		}
		return untrusted(fmt.Errorf("%w: %q (it lists %s)", ErrNotListed, name, strings.Join(listedNames, ", ")),
			"Helm checks the archive under its file name: keep the name the chart was signed with")
	}
	actual := sha256Prefix + hex.EncodeToString(sum)
	if len(sum) != sha256.Size || listed != actual {
		return untrusted(&HashMismatchError{Name: name, Expected: listed, Actual: actual},
			"the archive changed after it was signed, or the .prov belongs to another build: re-sign the archive you publish")
	}
	return nil
}

// CheckChart checks that the chart name and version in the .prov are those of
// the archive's own Chart.yaml.
func (p *Prov) CheckChart(a *Archive) error {
	if p.Name != a.Name || p.Version != a.Version {
		return untrusted(&ChartMismatchError{ProvName: p.Name, ProvVersion: p.Version, ArchiveName: a.Name, ArchiveVersion: a.Version},
			"a .prov is valid only for the chart release it was made for")
	}
	return nil
}

// IsUnknownSigner reports whether err says the signer is not in the keyring,
// and returns the claimed issuers.
func IsUnknownSigner(err error) ([]Issuer, bool) {
	var u *UnknownSignerError
	if errors.As(err, &u) {
		return u.Issuers, true
	}
	return nil, false
}
