package policy

import (
	"crypto"
	"fmt"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	// Register the hashes that Hashes may name, so that crypto.Hash.Available
	// holds for them in every program that imports this package.
	_ "crypto/sha256"
	_ "crypto/sha3"
	_ "crypto/sha512"
)

// VerifyPolicy decides which signatures over data (a chart's .prov, a
// published keyring's .sig) a verifier accepts, on top of the key rules
// that go-crypto applies to the signing key's self-signatures.
type VerifyPolicy struct {
	// Hashes are the hash algorithms accepted in a signature over data, by
	// name: SHA256, SHA384, SHA512, SHA224, SHA3-256, SHA3-512. MD5, SHA-1
	// and RIPEMD-160 are never accepted.
	Hashes []string `json:"hashes" mapstructure:"hashes"`
	// MinRSABits is the smallest RSA signing key accepted (at least
	// FloorRSABits). The default is the floor: which keys are trusted is
	// decided when they are admitted (KeyPolicy); the verifier only refuses
	// what is broken.
	MinRSABits int `json:"min_rsa_bits" mapstructure:"min_rsa_bits"`
	// MaxClockSkew is how far in the future a signature's creation time may
	// lie (the signer's clock may run ahead of the verifier's). go-crypto
	// refuses signatures made after its "now"; PacketConfig moves that now
	// forward by MaxClockSkew.
	MaxClockSkew Duration `json:"max_clock_skew" mapstructure:"max_clock_skew"`
}

// Verify setting names.
const (
	SettingHashes       = "hashes"
	SettingMaxClockSkew = "max_clock_skew"
)

// CeilingClockSkew is the largest MaxClockSkew a configuration may set.
const CeilingClockSkew = Duration(Day)

// hashNames maps the accepted spellings (upper case, without "-" or "_")
// to hashes. MD5, SHA-1 and RIPEMD-160 are absent on purpose.
var hashNames = map[string]crypto.Hash{
	"SHA224":  crypto.SHA224,
	"SHA256":  crypto.SHA256,
	"SHA384":  crypto.SHA384,
	"SHA512":  crypto.SHA512,
	"SHA3256": crypto.SHA3_256,
	"SHA3512": crypto.SHA3_512,
}

// DefaultVerify accepts SHA-256, SHA-384, SHA-512, SHA3-256 and SHA3-512
// (Helm signs with SHA-512, gpg and Sequoia default to SHA-256 or SHA-512),
// RSA from 2048 bits, and five minutes of clock skew.
func DefaultVerify() VerifyPolicy {
	return VerifyPolicy{
		Hashes:       []string{"SHA256", "SHA384", "SHA512", "SHA3-256", "SHA3-512"},
		MinRSABits:   FloorRSABits,
		MaxClockSkew: Duration(5 * time.Minute),
	}
}

// ParseHash returns the hash a name in Hashes stands for. Case, "-" and "_"
// do not matter. Weak hashes are refused with an error that says so.
func ParseHash(name string) (crypto.Hash, error) {
	// strings.Map, not a strings.Replacer: a Replacer builds a lookup
	// table on first use, in every process that checks a signature.
	n := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' {
			return -1
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(name)))
	if h, ok := hashNames[n]; ok {
		return h, nil
	}
	switch n {
	case "MD5", "SHA1", "RIPEMD160":
		return 0, fmt.Errorf("hash %s is too weak to accept", short(name))
	}
	return 0, fmt.Errorf("unknown hash %q (known: SHA224, SHA256, SHA384, SHA512, SHA3-256, SHA3-512)", short(name))
}

// Validate reports the first unsafe or meaningless setting.
func (v VerifyPolicy) Validate() error {
	if len(v.Hashes) == 0 {
		return fmt.Errorf("verify.%s is empty: no signature could be accepted", SettingHashes)
	}
	for _, h := range v.Hashes {
		if _, err := ParseHash(h); err != nil {
			return fmt.Errorf("verify.%s: %w", SettingHashes, err)
		}
	}
	if v.MinRSABits < FloorRSABits {
		return fmt.Errorf("verify.%s = %d is unsafe: RSA keys below %d bits are within reach of attackers",
			SettingMinRSABits, v.MinRSABits, FloorRSABits)
	}
	if v.MinRSABits > CeilingRSABits {
		return fmt.Errorf("verify.%s = %d is more than %d", SettingMinRSABits, v.MinRSABits, CeilingRSABits)
	}
	if v.MaxClockSkew < 0 || v.MaxClockSkew > CeilingClockSkew {
		return fmt.Errorf("verify.%s = %s: want between 0 and %s", SettingMaxClockSkew, v.MaxClockSkew, CeilingClockSkew)
	}
	return nil
}

// VerifyFromMap builds a verification policy from a configuration section
// (the map under "verify:"), starting from DefaultVerify. Hashes is a list
// of names or one comma-separated string. Unknown settings and unsafe
// values are errors.
func VerifyFromMap(m map[string]any) (VerifyPolicy, error) {
	v := DefaultVerify()
	for _, k := range sortedKeys(m) {
		val := m[k]
		switch strings.ToLower(k) {
		case SettingHashes:
			hs, err := stringList(val)
			if err != nil {
				return VerifyPolicy{}, fmt.Errorf("verify.%s: %w", SettingHashes, err)
			}
			v.Hashes = hs
		case SettingMinRSABits:
			n, err := intValue(val)
			if err != nil {
				return VerifyPolicy{}, fmt.Errorf("verify.%s: %w", SettingMinRSABits, err)
			}
			v.MinRSABits = n
		case SettingMaxClockSkew:
			d, err := durationValue(val)
			if err != nil {
				return VerifyPolicy{}, fmt.Errorf("verify.%s: %w", SettingMaxClockSkew, err)
			}
			v.MaxClockSkew = d
		default:
			return VerifyPolicy{}, unknownSetting("verify", k, SettingHashes, SettingMaxClockSkew, SettingMinRSABits)
		}
	}
	if err := v.Validate(); err != nil {
		return VerifyPolicy{}, err
	}
	return v, nil
}

// maxListItems bounds a configured list.
const maxListItems = 32

func stringList(val any) ([]string, error) {
	var out []string
	switch x := val.(type) {
	case string:
		for _, s := range strings.Split(x, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	case []string:
		out = append(out, x...)
	case []any:
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("want a list of names, got %s in it", typeName(e))
			}
			out = append(out, s)
		}
	default:
		return nil, fmt.Errorf("want a list of names, got %s", typeName(val))
	}
	if len(out) > maxListItems {
		return nil, fmt.Errorf("more than %d entries", maxListItems)
	}
	return out, nil
}

// PacketConfig returns a go-crypto configuration for verifying a signature
// over data at now (zero: the current time) with openpgp/v2's
// VerifyDetachedSignature. Not with the v1 API, nor clearsign's
// Block.VerifySignature, which goes through it: go-crypto v1.5 ignores the
// hash rules there. A clearsigned .prov is verified with v2 over the
// block's Bytes and ArmoredSignature.Body. With this configuration:
//
//   - the signature's hash must be one of Hashes;
//   - the signing key's self-signatures, binding and back-signature must not
//     use MD5, SHA-1 or RIPEMD-160 (go-crypto's default accepts SHA-1 there);
//   - DSA, ElGamal and secp256k1 keys, and RSA below MinRSABits, are refused;
//   - a signature made more than MaxClockSkew after now is refused
//     (go-crypto reports it as errors.ErrSignatureExpired: treat that error
//     as a failure, as any other);
//   - unknown critical notations are refused.
//
// Settings that do not validate never widen what is accepted: a bad hash
// name is skipped (an empty list accepts no signature), MinRSABits is
// raised to FloorRSABits, a skew out of range counts as zero. A fresh value
// is returned each time.
func (v VerifyPolicy) PacketConfig(now time.Time) *packet.Config {
	c := baseConfig(v.MinRSABits)
	accepted := make(map[crypto.Hash]bool)
	for _, name := range v.Hashes {
		if h, err := ParseHash(name); err == nil {
			accepted[h] = true
		}
	}
	reject := make(map[crypto.Hash]bool)
	for h := crypto.MD4; h <= crypto.BLAKE2b_512; h++ {
		if !accepted[h] {
			reject[h] = true
		}
	}
	c.RejectMessageHashAlgorithms = reject
	skew := time.Duration(v.MaxClockSkew)
	if skew < 0 || skew > time.Duration(CeilingClockSkew) {
		skew = 0
	}
	if now.IsZero() {
		c.Time = func() time.Time { return time.Now().Add(skew) }
	} else {
		at := now.Add(skew)
		c.Time = func() time.Time { return at }
	}
	return c
}
