// Package pgpkey holds the OpenPGP certificate helpers that the rest of
// keyctl shares: size-capped reading of armored or binary keyrings,
// fingerprint parsing and formatting, deterministic public serialization
// with third-party certifications stripped, and the questions every caller
// asks of a key (is it secret, which (sub)keys may sign, when does it
// expire).
//
// It wraps github.com/ProtonMail/go-crypto/openpgp/v2, whose Entity keeps
// every signature it read; nothing here trusts a signature it has not
// verified.
package pgpkey

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"github.com/keyctl/keyctl/policy"
)

// Limits on what is read. A maintainer certificate is a few KiB; a keyring of
// a thousand of them a few MiB.
const (
	MaxCertSize    = 1 << 20  // one certificate file
	MaxKeyringSize = 64 << 20 // a whole keyring (pubkeys.pgp, revoked.pgp)
	// MaxPackets bounds the number of signatures and user IDs in a single
	// certificate (certificate flooding).
	MaxPackets = 2048
)

// ErrTooLarge is returned when input exceeds its cap.
var ErrTooLarge = errors.New("input is larger than the limit")

// ErrEmpty is returned when the input holds no key at all.
var ErrEmpty = errors.New("no OpenPGP key found")

// ReadAllCapped reads r up to limit bytes; more is an error wrapping ErrTooLarge.
func ReadAllCapped(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
	}
	return data, nil
}

// IsArmored reports whether data starts (after white space) with an ASCII
// armor header.
func IsArmored(data []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("-----BEGIN PGP"))
}

// Dearmor returns the binary content of armored data, or data itself when it
// is not armored. The CRC-24 line is not checked (RFC 9580 §6.1 says a
// reader must not refuse an object for it); the packets inside are.
func Dearmor(data []byte) ([]byte, error) {
	if !IsArmored(data) {
		return data, nil
	}
	// One armored block and nothing after it: a second block or trailing
	// bytes would otherwise be dropped without a word.
	if end := bytes.Index(data, []byte("-----END PGP ")); end >= 0 {
		rest := data[end:]
		if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
			rest = rest[nl+1:]
		} else {
			rest = nil
		}
		if len(bytes.TrimSpace(rest)) > 0 {
			return nil, errors.New("data follows the ASCII armor block (a second block or trailing bytes); give one armored block per file")
		}
	}
	block, err := armor.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("reading ASCII armor: %w", err)
	}
	switch block.Type {
	case openpgp.PublicKeyType, openpgp.PrivateKeyType:
	default:
		return nil, fmt.Errorf("ASCII armor holds %q, not a key block", block.Type)
	}
	bin, err := ReadAllCapped(block.Body, int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("reading ASCII armor: %w", err)
	}
	return bin, nil
}

// ReadKeyring parses an armored or binary keyring of at most limit bytes.
// Each certificate is checked against MaxPackets.
func ReadKeyring(data []byte, limit int64) (openpgp.EntityList, error) {
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
	}
	bin, err := Dearmor(data)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(bin)) == 0 {
		return nil, ErrEmpty
	}
	starts, err := countPackets(bin)
	if err != nil {
		return nil, err
	}
	el, err := readChunks(bin, starts)
	if err != nil {
		return nil, fmt.Errorf("parsing OpenPGP data: %w", err)
	}
	if len(el) == 0 {
		return nil, ErrEmpty
	}
	return el, nil
}

// parallelMin is the keyring size from which certificates are parsed on
// several cores: a pubkeys.pgp of 1,000 keys parses in half the time on two.
const parallelMin = 64 << 10

// readChunks parses bin, split at certificate starts into one chunk per
// core when it is large; the certificates come back in file order.
func readChunks(bin []byte, starts []int) (openpgp.EntityList, error) {
	n := runtime.GOMAXPROCS(0)
	if len(bin) < parallelMin || n < 2 || len(starts) < 2*n || starts[0] != 0 {
		return readKeyRingSafe(bin)
	}
	// Cut points: the first certificate start past each 1/n of the bytes.
	cuts := []int{0}
	for i, k := 1, 0; i < n; i++ {
		want := len(bin) * i / n
		for k < len(starts) && starts[k] <= cuts[len(cuts)-1] {
			k++
		}
		for k < len(starts) && starts[k] < want {
			k++
		}
		if k < len(starts) {
			cuts = append(cuts, starts[k])
		}
	}
	cuts = append(cuts, len(bin))
	parts := make([]openpgp.EntityList, len(cuts)-1)
	errs := make([]error, len(cuts)-1)
	var wg sync.WaitGroup
	for i := 0; i+1 < len(cuts); i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			parts[i], errs[i] = readKeyRingSafe(bin[cuts[i]:cuts[i+1]])
		}(i)
	}
	wg.Wait()
	var out openpgp.EntityList
	for i := range parts {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out = append(out, parts[i]...)
	}
	return out, nil
}

func readKeyRingSafe(bin []byte) (el openpgp.EntityList, err error) {
	defer func() {
		if r := recover(); r != nil {
			el, err = nil, fmt.Errorf("malformed OpenPGP data (%v)", r)
		}
	}()
	return openpgp.ReadKeyRing(bytes.NewReader(bin))
}

// countPackets walks the packet framing (headers only, no bodies parsed),
// refuses a certificate with more than MaxPackets packets, and returns the
// offsets where primary keys (certificates) start. Framing it cannot follow
// ends the walk early with no error (starts then covers only what it read):
// the real parser reports malformed input.
func countPackets(bin []byte) (starts []int, err error) {
	n, off := 0, 0
	for off < len(bin) {
		tag, bodyLen, hdrLen, ok := packetHeader(bin[off:])
		if !ok || hdrLen+bodyLen > len(bin)-off {
			return nil, nil
		}
		if tag == 6 || tag == 5 { // public or secret primary key: a new certificate
			n = 0
			starts = append(starts, off)
		}
		n++
		if n > MaxPackets {
			return nil, fmt.Errorf("a certificate has more than %d packets (signatures, user IDs, subkeys): refusing a flooded key", MaxPackets)
		}
		off += hdrLen + bodyLen
	}
	return starts, nil
}

// packetHeader decodes one OpenPGP packet header (RFC 9580 §4.2). Partial
// body lengths, which keys never use, report !ok.
func packetHeader(b []byte) (tag, bodyLen, hdrLen int, ok bool) {
	if len(b) < 2 || b[0]&0x80 == 0 {
		return 0, 0, 0, false
	}
	if b[0]&0x40 == 0 { // old format
		tag = int(b[0]>>2) & 0xf
		switch b[0] & 3 {
		case 0:
			return tag, int(b[1]), 2, true
		case 1:
			if len(b) < 3 {
				return 0, 0, 0, false
			}
			return tag, int(b[1])<<8 | int(b[2]), 3, true
		case 2:
			if len(b) < 5 {
				return 0, 0, 0, false
			}
			l := uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(b[4])
			if l > uint64(MaxKeyringSize) {
				return 0, 0, 0, false
			}
			return tag, int(l), 5, true
		}
		return 0, 0, 0, false
	}
	tag = int(b[0] & 0x3f)
	switch {
	case b[1] < 192:
		return tag, int(b[1]), 2, true
	case b[1] < 224:
		if len(b) < 3 {
			return 0, 0, 0, false
		}
		return tag, (int(b[1])-192)<<8 + int(b[2]) + 192, 3, true
	case b[1] == 255:
		if len(b) < 6 {
			return 0, 0, 0, false
		}
		l := uint64(b[2])<<24 | uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
		if l > uint64(MaxKeyringSize) {
			return 0, 0, 0, false
		}
		return tag, int(l), 6, true
	}
	return 0, 0, 0, false
}

// ReadCert parses data that must hold exactly one certificate.
func ReadCert(data []byte) (*openpgp.Entity, error) {
	el, err := ReadKeyring(data, MaxCertSize)
	if err != nil {
		return nil, err
	}
	if len(el) != 1 {
		return nil, fmt.Errorf("the file holds %d keys; give one key per file", len(el))
	}
	return el[0], nil
}

// HasSecret reports whether the certificate carries any secret key material.
func HasSecret(e *openpgp.Entity) bool {
	if e.PrivateKey != nil {
		return true
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil {
			return true
		}
	}
	return false
}

// Fingerprint returns the primary key's fingerprint in upper-case hex.
func Fingerprint(e *openpgp.Entity) string { return FormatFingerprint(e.PrimaryKey.Fingerprint) }

// FormatFingerprint formats raw fingerprint bytes as upper-case hex.
func FormatFingerprint(b []byte) string { return upperHex(b) }

// upperHex is hex.EncodeToString in upper case with one allocation: it runs
// for every key of a 1,000-key keyring on each verify.
func upperHex(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&0x0f]
	}
	return string(out)
}

// KeyID returns the 64-bit key ID of a public key as 16 upper-case hex digits.
func KeyID(pk *packet.PublicKey) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], pk.KeyId)
	return upperHex(b[:])
}

// ParseFingerprint normalizes a user-typed fingerprint or key ID: spaces and
// a 0x prefix are dropped, hex is upper-cased. It accepts 16 (key ID), 40
// (v4) or 64 (v6) hex digits.
func ParseFingerprint(s string) (string, error) {
	t := strings.ToUpper(strings.Join(strings.Fields(s), ""))
	t = strings.TrimPrefix(t, "0X")
	switch len(t) {
	case 16, 40, 64:
	default:
		return "", fmt.Errorf("%q is not a fingerprint: want 40 or 64 hex digits (or a 16-digit key ID)", s)
	}
	if _, err := hex.DecodeString(t); err != nil {
		return "", fmt.Errorf("%q is not a fingerprint: not hex", s)
	}
	return t, nil
}

// KeyIDOfFingerprint returns the 64-bit key ID a fingerprint implies.
func KeyIDOfFingerprint(fpr string) string {
	if len(fpr) == 64 {
		return fpr[:16]
	}
	if len(fpr) >= 16 {
		return fpr[len(fpr)-16:]
	}
	return fpr
}

// Fresh returns a copy of e's public certificate with nothing cached.
// go-crypto caches, in each signature's VerifiableSignature.Valid, what it
// concluded when it checked the key at one time (a user ID revocation
// dated later than that time counted as invalid, and stays so); a check
// at another time on the same certificate answers from that cache. Check
// a key "valid now" on a fresh copy after a check at a signature's time.
//
// The copy shares the key and signature packets, which go-crypto never
// changes, and wraps every signature in a new VerifiableSignature: no
// serialising and parsing again, which cost audit about a tenth of its
// time (one copy per verified signature). TestFreshCopiesEveryField fails
// when go-crypto's structures gain a field this copy does not know.
func Fresh(e *openpgp.Entity) (*openpgp.Entity, error) {
	if e == nil || e.PrimaryKey == nil {
		return nil, fmt.Errorf("no certificate")
	}
	unchecked := func(vs []*packet.VerifiableSignature) []*packet.VerifiableSignature {
		if vs == nil {
			return nil
		}
		out := make([]*packet.VerifiableSignature, 0, len(vs))
		for _, v := range vs {
			if v != nil {
				out = append(out, packet.NewVerifiableSig(v.Packet))
			}
		}
		return out
	}
	n := &openpgp.Entity{
		PrimaryKey:       e.PrimaryKey,
		Identities:       make(map[string]*openpgp.Identity, len(e.Identities)),
		Revocations:      unchecked(e.Revocations),
		DirectSignatures: unchecked(e.DirectSignatures),
	}
	for name, id := range e.Identities {
		n.Identities[name] = &openpgp.Identity{
			Primary:             n,
			Name:                id.Name,
			UserId:              id.UserId,
			SelfCertifications:  unchecked(id.SelfCertifications),
			OtherCertifications: unchecked(id.OtherCertifications),
			Revocations:         unchecked(id.Revocations),
		}
	}
	if len(e.Subkeys) > 0 {
		n.Subkeys = make([]openpgp.Subkey, 0, len(e.Subkeys))
	}
	for _, sk := range e.Subkeys {
		n.Subkeys = append(n.Subkeys, openpgp.Subkey{
			Primary:     n,
			PublicKey:   sk.PublicKey,
			Bindings:    unchecked(sk.Bindings),
			Revocations: unchecked(sk.Revocations),
		})
	}
	return n, nil
}

// SerializePublic writes the public certificate deterministically: primary
// key, its revocations and direct signatures, user IDs sorted by name with
// their self-signatures and revocations, then subkeys in order with their
// bindings and revocations. With minimize set, certifications by other keys
// are dropped; secret material is never written.
func SerializePublic(e *openpgp.Entity, minimize bool) ([]byte, error) {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := e.PrimaryKey.Serialize(w); err != nil {
		return nil, err
	}
	for _, s := range e.Revocations {
		if err := s.Packet.Serialize(w); err != nil {
			return nil, err
		}
	}
	for _, s := range e.DirectSignatures {
		if err := s.Packet.Serialize(w); err != nil {
			return nil, err
		}
	}
	names := make([]string, 0, len(e.Identities))
	for n := range e.Identities {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		id := e.Identities[n]
		if err := id.UserId.Serialize(w); err != nil {
			return nil, err
		}
		for _, s := range id.Revocations {
			if err := s.Packet.Serialize(w); err != nil {
				return nil, err
			}
		}
		for _, s := range id.SelfCertifications {
			if err := s.Packet.Serialize(w); err != nil {
				return nil, err
			}
		}
		if !minimize {
			for _, s := range id.OtherCertifications {
				if err := s.Packet.Serialize(w); err != nil {
					return nil, err
				}
			}
		}
	}
	for i := range e.Subkeys {
		if err := e.Subkeys[i].Serialize(w, false); err != nil {
			return nil, err
		}
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Armor wraps binary data of the given block type (openpgp.PublicKeyType,
// "PGP SIGNATURE", ...) in ASCII armor.
func Armor(blockType string, bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, blockType, nil)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(bin); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// Algorithm describes a public key's algorithm and size, e.g. "RSA-4096",
// "Ed25519", "ECDSA P-256" (policy.AlgorithmName, so that listings and
// policy messages name a key alike).
func Algorithm(pk *packet.PublicKey) string { return policy.AlgorithmName(pk) }

// SigningKey is a (sub)key that may make signatures at a given time, with a
// valid binding (and back-signature, for subkeys) checked by go-crypto.
type SigningKey struct {
	PublicKey   *packet.PublicKey
	Fingerprint string
	IsPrimary   bool
	Expires     time.Time // zero: never
}

// SigningKeys lists the (sub)keys of e that are valid for signing at now.
// config may be nil; go-crypto then applies its defaults (which reject
// SHA-1 bindings and weak algorithms).
func SigningKeys(e *openpgp.Entity, now time.Time, config *packet.Config) []SigningKey {
	var out []SigningKey
	primarySig, err := e.VerifyPrimaryKey(now, config)
	if err != nil {
		return nil
	}
	if primarySig.FlagsValid && primarySig.FlagSign {
		out = append(out, SigningKey{PublicKey: e.PrimaryKey, Fingerprint: FormatFingerprint(e.PrimaryKey.Fingerprint), IsPrimary: true, Expires: expiry(e.PrimaryKey, primarySig)})
	}
	for i := range e.Subkeys {
		sk := &e.Subkeys[i]
		k, ok := e.SigningKeyById(now, sk.PublicKey.KeyId, config)
		if !ok || k.PublicKey != sk.PublicKey {
			continue
		}
		exp := time.Time{}
		if k.SelfSignature != nil {
			exp = expiry(sk.PublicKey, k.SelfSignature)
		}
		out = append(out, SigningKey{PublicKey: sk.PublicKey, Fingerprint: FormatFingerprint(sk.PublicKey.Fingerprint), Expires: exp})
	}
	return out
}

func expiry(pk *packet.PublicKey, sig *packet.Signature) time.Time {
	if sig == nil || sig.KeyLifetimeSecs == nil || *sig.KeyLifetimeSecs == 0 {
		return time.Time{}
	}
	return pk.CreationTime.Add(time.Duration(*sig.KeyLifetimeSecs) * time.Second)
}

// Expiry returns when the primary key expires according to its newest valid
// self-signature at now (zero: never), and whether any valid self-signature
// was found.
func Expiry(e *openpgp.Entity, now time.Time, config *packet.Config) (time.Time, bool) {
	sig, err := e.PrimarySelfSignature(now, config)
	if err != nil || sig == nil {
		return time.Time{}, false
	}
	return expiry(e.PrimaryKey, sig), true
}

// UserIDs returns the certificate's user IDs, sorted.
func UserIDs(e *openpgp.Entity) []string {
	out := make([]string, 0, len(e.Identities))
	for n := range e.Identities {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ValidUserIDs returns, sorted, the user IDs of e that a self-signature
// valid at now certifies and that are not revoked at now (go-crypto's
// Identity.Verify), asked of a fresh copy of e. It is what the key says
// about its holder now: a user ID whose "self-signature" does not verify
// (anyone can attach one to a certificate on its way) or that the holder
// revoked is left out. Shown to people, this is the list to use; UserIDs
// lists every user ID the certificate carries.
func ValidUserIDs(e *openpgp.Entity, now time.Time, config *packet.Config) []string {
	f, err := Fresh(e)
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(f.Identities))
	for n, id := range f.Identities {
		if _, err := id.Verify(now, config); err == nil {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// KeyRevoked reports whether a valid revocation of e's primary key is in
// force at now (go-crypto's Entity.Revoked: a key revoked as compromised,
// or for no reason given, counts as revoked from the start), asked of a
// fresh copy of e. rev is that revocation signature (its reason code and
// creation time), nil when none is in force.
func KeyRevoked(e *openpgp.Entity, now time.Time) (rev *packet.Signature) {
	f, err := Fresh(e)
	if err != nil || !f.Revoked(now) {
		return nil
	}
	// Entity.Revoked checked the revocations in order up to the one in
	// force: the first valid one that is hard or has not expired.
	for _, r := range f.Revocations {
		if r.Valid == nil || !*r.Valid {
			continue
		}
		why := r.Packet.RevocationReason
		hard := why == nil || *why == packet.Unknown || *why == packet.NoReason || *why == packet.KeyCompromised
		if hard || !r.Packet.SigExpired(now) {
			return r.Packet
		}
	}
	return nil
}

// AllKeyIDs returns the 64-bit key IDs of the primary key and every subkey.
func AllKeyIDs(e *openpgp.Entity) []uint64 {
	ids := []uint64{e.PrimaryKey.KeyId}
	for _, s := range e.Subkeys {
		ids = append(ids, s.PublicKey.KeyId)
	}
	return ids
}
