package root

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

// Limits on detached signatures. A signature packet is well under 1 KiB
// (RSA-4096: about 600 bytes); a file of merged signatures from every holder
// of a root set stays far below these.
const (
	MaxSigSize    = 1 << 20 // one .sig object or file, armored or binary
	MaxSignatures = 64      // signature packets in one .sig
)

// ClockSkew is how far in the future a signature's creation time may lie
// before it is refused: offline machines have loose clocks, but a signature
// dated days ahead is a forgery attempt or a broken machine.
const ClockSkew = 10 * time.Minute

// verifyConfig is the go-crypto policy for every signature keyctl counts:
// SHA-1, MD5 and RIPEMD-160 are refused for messages and for the key's own
// binding signatures; DSA and ElGamal are refused.
func verifyConfig() *packet.Config {
	weak := map[crypto.Hash]bool{crypto.MD5: true, crypto.SHA1: true, crypto.RIPEMD160: true, crypto.SHA224: true}
	return &packet.Config{
		RejectHashAlgorithms:        weak,
		RejectMessageHashAlgorithms: weak,
		RejectPublicKeyAlgorithms:   map[packet.PublicKeyAlgorithm]bool{packet.PubKeyAlgoDSA: true, packet.PubKeyAlgoElGamal: true},
		MinRSABits:                  3072,
	}
}

// Sign returns a binary detached signature (one signature packet, SHA-512,
// binary document type) by signer over data, dated now. The signer must hold
// a decrypted secret key (LoadSecret); go-crypto picks its signing subkey if
// it has one, the primary key otherwise.
func Sign(signer *openpgp.Entity, data []byte, now time.Time) ([]byte, error) {
	if signer == nil || signer.PrivateKey == nil {
		return nil, fail.Inputf("signing needs a root secret key")
	}
	cfg := &packet.Config{DefaultHash: crypto.SHA512, Time: func() time.Time { return now }}
	var buf bytes.Buffer
	if err := openpgp.DetachSign(&buf, []*openpgp.Entity{signer}, bytes.NewReader(data), cfg); err != nil {
		return nil, fail.Inputf("signing with root key %s", pgpkey.Fingerprint(signer)).Wrap(err)
	}
	return buf.Bytes(), nil
}

// splitSignatures returns the signature packets in data (armored, binary, or
// several armored blocks one after the other), each as its exact bytes.
// Anything that is not a signature packet is an error.
func splitSignatures(data []byte) ([][]byte, error) {
	if len(data) > MaxSigSize {
		return nil, fmt.Errorf("%w (%d bytes)", pgpkey.ErrTooLarge, MaxSigSize)
	}
	bin, err := dearmorSignatures(data)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for len(bin) > 0 {
		n, tag, err := packetLength(bin)
		if err != nil {
			return nil, err
		}
		if tag != 2 {
			return nil, fmt.Errorf("found an OpenPGP packet of type %d where only signatures may be", tag)
		}
		if len(out) == MaxSignatures {
			return nil, fmt.Errorf("more than %d signatures", MaxSignatures)
		}
		out = append(out, bin[:n])
		bin = bin[n:]
	}
	return out, nil
}

const sigArmorHeader = "-----BEGIN PGP SIGNATURE-----"

// dearmorSignatures concatenates the bodies of every armored signature block
// in data; binary data is returned as is.
func dearmorSignatures(data []byte) ([]byte, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN PGP")) {
		return data, nil
	}
	var out []byte
	rest := trimmed
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 {
			break
		}
		if !bytes.HasPrefix(rest, []byte(sigArmorHeader)) {
			return nil, errors.New("ASCII armor holds something other than a PGP SIGNATURE block")
		}
		end := bytes.Index(rest[len(sigArmorHeader):], []byte(sigArmorHeader))
		block := rest
		if end >= 0 {
			block = rest[:len(sigArmorHeader)+end]
			rest = rest[len(sigArmorHeader)+end:]
		} else {
			rest = nil
		}
		b, err := armor.Decode(bytes.NewReader(block))
		if err != nil {
			return nil, fmt.Errorf("reading ASCII armor: %w", err)
		}
		if b.Type != openpgp.SignatureType {
			return nil, fmt.Errorf("ASCII armor holds %q, not a signature", b.Type)
		}
		body, err := pgpkey.ReadAllCapped(b.Body, MaxSigSize)
		if err != nil {
			return nil, fmt.Errorf("reading ASCII armor: %w", err)
		}
		out = append(out, body...)
	}
	return out, nil
}

// packetLength parses an OpenPGP packet header at the start of b and returns
// the packet's total length and tag. Partial and indeterminate lengths are
// refused: signature packets never use them.
func packetLength(b []byte) (n int, tag byte, err error) {
	if len(b) < 2 || b[0]&0x80 == 0 {
		return 0, 0, errors.New("malformed OpenPGP packet header")
	}
	var hdr, body int
	if b[0]&0x40 != 0 { // new format
		tag = b[0] & 0x3f
		switch l := b[1]; {
		case l < 192:
			hdr, body = 2, int(l)
		case l < 224:
			if len(b) < 3 {
				return 0, 0, errors.New("truncated OpenPGP packet header")
			}
			hdr, body = 3, (int(l)-192)<<8+int(b[2])+192
		case l == 255:
			if len(b) < 6 {
				return 0, 0, errors.New("truncated OpenPGP packet header")
			}
			hdr = 6
			v := uint32(b[2])<<24 | uint32(b[3])<<16 | uint32(b[4])<<8 | uint32(b[5])
			if v > MaxSigSize {
				return 0, 0, errors.New("OpenPGP packet is too long")
			}
			body = int(v)
		default:
			return 0, 0, errors.New("partial-length OpenPGP packet where a signature must be")
		}
	} else {
		tag = (b[0] & 0x3c) >> 2
		switch b[0] & 3 {
		case 0:
			hdr, body = 2, int(b[1])
		case 1:
			if len(b) < 3 {
				return 0, 0, errors.New("truncated OpenPGP packet header")
			}
			hdr, body = 3, int(b[1])<<8|int(b[2])
		case 2:
			if len(b) < 5 {
				return 0, 0, errors.New("truncated OpenPGP packet header")
			}
			v := uint32(b[1])<<24 | uint32(b[2])<<16 | uint32(b[3])<<8 | uint32(b[4])
			if v > MaxSigSize {
				return 0, 0, errors.New("OpenPGP packet is too long")
			}
			hdr, body = 5, int(v)
		default:
			return 0, 0, errors.New("indeterminate-length OpenPGP packet where a signature must be")
		}
	}
	if hdr+body > len(b) {
		return 0, 0, errors.New("truncated OpenPGP packet")
	}
	return hdr + body, tag, nil
}

func parseSignature(raw []byte) (*packet.Signature, error) {
	p, err := packet.Read(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	sig, ok := p.(*packet.Signature)
	if !ok {
		return nil, errors.New("not a signature packet")
	}
	return sig, nil
}

// Merge concatenates the signature packets of every input (each armored or
// binary, one or more signatures) into one binary .sig, in first-seen order,
// dropping exact duplicates. An input that is not made only of readable
// signature packets is an error; an empty result is an error.
func Merge(sigs ...[]byte) ([]byte, error) {
	seen := map[[32]byte]bool{}
	var out []byte
	n := 0
	for i, in := range sigs {
		pkts, err := splitSignatures(in)
		if err != nil {
			return nil, fail.Inputf("signature input %d", i+1).Wrap(err)
		}
		for _, raw := range pkts {
			if _, err := parseSignature(raw); err != nil {
				return nil, fail.Inputf("signature input %d: unreadable signature", i+1).Wrap(err)
			}
			h := sha256.Sum256(raw)
			if seen[h] {
				continue
			}
			seen[h] = true
			n++
			if n > MaxSignatures {
				return nil, fail.Inputf("more than %d distinct signatures", MaxSignatures)
			}
			out = append(out, raw...)
		}
	}
	if len(out) == 0 {
		return nil, fail.Inputf("no signature to merge")
	}
	return out, nil
}

// ThresholdError says that fewer distinct root keys than needed made a
// valid signature. Signers are the primary fingerprints that counted,
// Missing the set's fingerprints that did not.
type ThresholdError struct {
	What    string // what was verified, e.g. "pubkeys.pgp", "root set 3"
	Have    int
	Need    int
	Signers []string
	Missing []string

	hints []string // extra hints from the caller's context
}

func (e *ThresholdError) Error() string {
	what := e.What
	if what == "" {
		what = "signed data"
	}
	return fmt.Sprintf("%s: %d valid root signature%s, need %d", what, e.Have, plural(e.Have), e.Need)
}

// Unwrap makes the error an Untrusted *fail.Error for exit codes and hints.
func (e *ThresholdError) Unwrap() error {
	hint := "ask the holders of these root keys to sign: " + strings.Join(e.Missing, ", ")
	if len(e.Missing) == 0 {
		hint = "the signatures do not match the data or the root keys; re-run the signing step"
	}
	return &fail.Error{Kind: fail.Untrusted, Hints: append([]string{hint}, e.hints...)}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// verifyMode says at which time a root key must be valid.
type verifyMode int

const (
	// atNow: the key must be valid (not expired, not revoked) at now. Used
	// for what a client trusts today: the manifest and the files.
	atNow verifyMode = iota
	// atSigTime: the key must have been valid when it signed. Used for
	// rotation links, which are history: a root set that has since expired
	// still vouches for its successor.
	atSigTime
)

type keyset struct {
	list openpgp.EntityList
	fprs []string // primary fingerprints, sorted
}

// countSigners verifies every signature packet in sigs over data against
// keys and returns the distinct primary fingerprints that made at least one
// valid signature, sorted. Signatures by unknown keys, with weak hashes, of
// a non-binary type, dated in the future or otherwise invalid are ignored.
func countSigners(data, sigs []byte, ks keyset, now time.Time, mode verifyMode) ([]string, error) {
	pkts, err := splitSignatures(sigs)
	if err != nil {
		return nil, fail.Inputf("reading signatures").Wrap(err)
	}
	got := map[string]bool{}
	for _, raw := range pkts {
		fpr, ok := verifyOne(data, raw, ks, now, mode)
		if ok {
			got[fpr] = true
		}
	}
	out := make([]string, 0, len(got))
	for f := range got {
		out = append(out, f)
	}
	sort.Strings(out)
	return out, nil
}

func verifyOne(data, raw []byte, ks keyset, now time.Time, mode verifyMode) (string, bool) {
	sig, err := parseSignature(raw)
	if err != nil || sig.SigType != packet.SigTypeBinary || sig.IssuerKeyId == nil {
		return "", false
	}
	if sig.CreationTime.After(now.Add(ClockSkew)) {
		return "", false
	}
	cfg := verifyConfig()
	// go-crypto refuses a signature dated even one second after the time
	// it is given, which would undo the clock skew allowed above (a holder
	// whose clock runs fast, a signature made just after now was read):
	// within the skew it checks the signature at its own time (in both
	// modes, so that current and historic checks agree), and for current
	// trust the key is still checked at now below.
	at := now
	if sig.CreationTime.After(now) {
		at = sig.CreationTime
	}
	cfg.Time = func() time.Time { return at }
	// go-crypto looks the issuer up with EntitiesById and tries only the
	// first entity holding that key ID: a root certificate carrying a copy
	// of another root's key (as a subkey with a bogus binding) would then
	// shadow it and make its signatures fail. Try every root that holds
	// the key ID, each in a keyring of its own, and count the one for
	// which the signature verifies. (Root sets also refuse such keys and
	// shared key IDs; this keeps verification right on its own.)
	for _, e := range ks.list {
		if !holdsKeyID(e, *sig.IssuerKeyId) {
			continue
		}
		_, signer, err := openpgp.VerifyDetachedSignature(openpgp.EntityList{e}, bytes.NewReader(data), bytes.NewReader(raw), cfg)
		if err != nil || signer != e {
			continue
		}
		if mode == atNow {
			// go-crypto checks the key at the signature's creation time,
			// which the signer chooses; for current trust the key must
			// also be valid now. On a fresh copy of the certificate:
			// go-crypto caches what it concluded at the signature's time
			// (a user ID revocation dated after it counted as not yet
			// made), and the entity checked above would answer from that.
			fresh, err := pgpkey.Fresh(signer)
			if err != nil {
				continue
			}
			if _, ok := fresh.SigningKeyById(now, *sig.IssuerKeyId, cfg); !ok {
				continue
			}
		}
		return pgpkey.Fingerprint(signer), true
	}
	return "", false
}

// holdsKeyID reports whether e's primary key or one of its subkeys has the
// 64-bit key ID id.
func holdsKeyID(e *openpgp.Entity, id uint64) bool {
	for _, k := range pgpkey.AllKeyIDs(e) {
		if k == id {
			return true
		}
	}
	return false
}

// checkThreshold counts signers and returns a *ThresholdError below need.
func checkThreshold(what string, data, sigs []byte, ks keyset, need int, now time.Time, mode verifyMode) ([]string, error) {
	signers, err := countSigners(data, sigs, ks, now, mode)
	if err != nil {
		return nil, err
	}
	if len(signers) < need {
		return signers, &ThresholdError{What: what, Have: len(signers), Need: need, Signers: signers, Missing: missing(ks.fprs, signers)}
	}
	return signers, nil
}

func missing(all, have []string) []string {
	h := map[string]bool{}
	for _, f := range have {
		h[f] = true
	}
	var out []string
	for _, f := range all {
		if !h[f] {
			out = append(out, f)
		}
	}
	return out
}

// Verify checks detached signatures sigs (armored or binary, merged) over
// data against the root set: it counts valid signatures per distinct
// primary key of the set (a holder who signed twice, or with two subkeys,
// counts once; unknown extra signatures are ignored; SHA-1 and other weak
// hashes do not count) with each key valid at now. It returns the counted
// fingerprints, and a *ThresholdError when fewer than set.Threshold.
func Verify(data, sigs []byte, set *RootSet, now time.Time) ([]string, error) {
	return set.verify("signed data", data, sigs, now, atNow)
}

// VerifyHistoric is Verify for a document that was current in the past,
// such as a manifest read back from the transparency log by keyctl
// monitor: each signature counts when its key was valid at the time it
// signed (as for root set links), and none may be dated more than ClockSkew after now. An
// old manifest's root key may have expired since; its signatures may also
// be later than the manifest's issue time (offline signing).
func VerifyHistoric(data, sigs []byte, set *RootSet, now time.Time) ([]string, error) {
	return set.verify("signed data", data, sigs, now, atSigTime)
}

func (s *RootSet) verify(what string, data, sigs []byte, now time.Time, mode verifyMode) ([]string, error) {
	ks, err := s.keyset()
	if err != nil {
		return nil, err
	}
	return checkThreshold(what, data, sigs, ks, s.Threshold, now, mode)
}

// VerifyBy checks detached signatures sigs (armored or binary, merged)
// over data against keys, with the rules Verify applies to a root set
// (weak hashes and future-dated signatures never count; each key valid at
// now), and returns the distinct primary fingerprints among keys that made
// a valid signature, sorted; none is not an error. It serves signatures by
// keys other than root keys, e.g. the index keys of internal/indexsig.
func VerifyBy(data, sigs []byte, keys openpgp.EntityList, now time.Time) ([]string, error) {
	ks := keyset{list: keys}
	for _, e := range keys {
		ks.fprs = append(ks.fprs, pgpkey.Fingerprint(e))
	}
	sort.Strings(ks.fprs)
	return countSigners(data, sigs, ks, now, atNow)
}
