package policy

import (
	"crypto"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// Floors and ceilings that no configuration can cross.
const (
	// FloorRSABits is the smallest MinRSABits a configuration may set.
	FloorRSABits = 2048
	// CeilingRSABits is the largest MinRSABits a configuration may set.
	CeilingRSABits = 16384
	// CeilingValidity is the largest MaxValidity a configuration may set.
	CeilingValidity = Duration(100 * Year)
)

// KeyPolicy decides which maintainer keys a store accepts. Start from
// Default and change fields, or build one with FromMap; Validate says
// whether the settings are safe.
type KeyPolicy struct {
	// MinRSABits is the smallest RSA modulus accepted, for the primary key
	// and every live subkey (rule rsa-too-small). Never below FloorRSABits:
	// Check applies the floor even to a policy that was not validated.
	MinRSABits int `json:"min_rsa_bits" mapstructure:"min_rsa_bits"`
	// MaxValidity is how far after the check time a key may still be able
	// to sign (rule validity-too-long). A key that never expires is judged
	// by RequireExpiry alone. Validate refuses zero; a policy that was not
	// validated treats zero or less as no limit.
	MaxValidity Duration `json:"max_validity" mapstructure:"max_validity"`
	// RequireExpiry refuses keys that can sign for ever (rule no-expiry).
	RequireExpiry bool `json:"require_expiry" mapstructure:"require_expiry"`
}

// Setting names, as they appear in configuration files under "policy:" and
// in Violation.Setting.
const (
	SettingMinRSABits    = "min_rsa_bits"
	SettingMaxValidity   = "max_validity"
	SettingRequireExpiry = "require_expiry"
)

// Default is keyctl's key policy: RSA of at least 3072 bits, an expiry
// required, at most three years ahead.
func Default() KeyPolicy {
	return KeyPolicy{
		MinRSABits:    3072,
		MaxValidity:   Duration(3 * Year),
		RequireExpiry: true,
	}
}

// Validate reports the first unsafe or meaningless setting.
func (p KeyPolicy) Validate() error {
	if p.MinRSABits < FloorRSABits {
		return fmt.Errorf("policy.%s = %d is unsafe: RSA keys below %d bits are within reach of attackers; use %d or more",
			SettingMinRSABits, p.MinRSABits, FloorRSABits, Default().MinRSABits)
	}
	if p.MinRSABits > CeilingRSABits {
		return fmt.Errorf("policy.%s = %d is more than %d: no OpenPGP implementation makes such keys",
			SettingMinRSABits, p.MinRSABits, CeilingRSABits)
	}
	if p.MaxValidity <= 0 {
		return fmt.Errorf("policy.%s must be positive (such as 3y); to allow keys without expiry set policy.%s = false",
			SettingMaxValidity, SettingRequireExpiry)
	}
	if p.MaxValidity > CeilingValidity {
		return fmt.Errorf("policy.%s = %s is more than %s", SettingMaxValidity, p.MaxValidity, CeilingValidity)
	}
	return nil
}

// FromMap builds a policy from a configuration section (the map under
// "policy:" in a YAML or JSON file, or viper's GetStringMap("policy")). It
// starts from Default, so absent settings keep their default; unknown
// settings, values of the wrong type and unsafe values are errors. Numbers
// and booleans may also be given as strings (as environment variables are).
func FromMap(m map[string]any) (KeyPolicy, error) {
	p := Default()
	for _, k := range sortedKeys(m) {
		v := m[k]
		switch strings.ToLower(k) {
		case SettingMinRSABits:
			n, err := intValue(v)
			if err != nil {
				return KeyPolicy{}, fmt.Errorf("policy.%s: %w", SettingMinRSABits, err)
			}
			p.MinRSABits = n
		case SettingMaxValidity:
			d, err := durationValue(v)
			if err != nil {
				return KeyPolicy{}, fmt.Errorf("policy.%s: %w", SettingMaxValidity, err)
			}
			p.MaxValidity = d
		case SettingRequireExpiry:
			b, err := boolValue(v)
			if err != nil {
				return KeyPolicy{}, fmt.Errorf("policy.%s: %w", SettingRequireExpiry, err)
			}
			p.RequireExpiry = b
		default:
			return KeyPolicy{}, unknownSetting("policy", k, SettingMaxValidity, SettingMinRSABits, SettingRequireExpiry)
		}
	}
	if err := p.Validate(); err != nil {
		return KeyPolicy{}, err
	}
	return p, nil
}

// weakHashes are refused on every signature: self-signatures, bindings,
// back-signatures and signatures over data.
var weakHashes = []crypto.Hash{crypto.MD5, crypto.SHA1, crypto.RIPEMD160}

// weakPublicKeyAlgorithms are refused for any key.
var weakPublicKeyAlgorithms = []packet.PublicKeyAlgorithm{packet.PubKeyAlgoDSA, packet.PubKeyAlgoElGamal}

// weakCurves are refused for any elliptic-curve key (go-crypto's default).
var weakCurves = []packet.Curve{packet.CurveSecP256k1}

func isWeakHash(h crypto.Hash) bool {
	for _, w := range weakHashes {
		if h == w {
			return true
		}
	}
	return false
}

func hashSet(hs []crypto.Hash) map[crypto.Hash]bool {
	m := make(map[crypto.Hash]bool, len(hs))
	for _, h := range hs {
		m[h] = true
	}
	return m
}

func baseConfig(minRSABits int) *packet.Config {
	algos := make(map[packet.PublicKeyAlgorithm]bool)
	for _, a := range weakPublicKeyAlgorithms {
		algos[a] = true
	}
	curves := make(map[packet.Curve]bool)
	for _, c := range weakCurves {
		curves[c] = true
	}
	return &packet.Config{
		MinRSABits:                uint16(clampRSABits(minRSABits)),
		RejectPublicKeyAlgorithms: algos,
		RejectHashAlgorithms:      hashSet(weakHashes),
		RejectCurves:              curves,
		KnownNotations:            map[string]bool{},
	}
}

func clampRSABits(n int) int {
	if n < FloorRSABits {
		return FloorRSABits
	}
	if n > math.MaxUint16 {
		return math.MaxUint16
	}
	return n
}

// PacketConfig returns a go-crypto configuration that applies this policy
// while verifying: MD5, SHA-1 and RIPEMD-160 are refused on self-signatures,
// bindings and signatures over data alike; DSA, ElGamal and secp256k1 keys
// are refused; RSA keys need MinRSABits. go-crypto's own default accepts
// SHA-1 bindings and 2047-bit RSA. A fresh value is returned each time.
//
// go-crypto caches a signature's verdict in the parsed key: verify a key
// with this configuration only (or parse it afresh), or a verdict reached
// under a laxer configuration is reused.
func (p KeyPolicy) PacketConfig() *packet.Config {
	c := baseConfig(p.MinRSABits)
	c.RejectMessageHashAlgorithms = hashSet(weakHashes)
	return c
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func unknownSetting(section, key string, known ...string) error {
	sort.Strings(known)
	return fmt.Errorf("unknown %s setting %q (known: %s)", section, short(key), strings.Join(known, ", "))
}

func intValue(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int8:
		return int(x), nil
	case int16:
		return int(x), nil
	case int32:
		return int(x), nil
	case int64:
		if x > math.MaxInt32 || x < math.MinInt32 {
			return 0, fmt.Errorf("%d is out of range", x)
		}
		return int(x), nil
	case uint, uint8, uint16, uint32, uint64:
		u, _ := strconv.ParseUint(fmt.Sprint(x), 10, 64)
		if u > math.MaxInt32 {
			return 0, fmt.Errorf("%d is out of range", u)
		}
		return int(u), nil
	case float64:
		if x != math.Trunc(x) || x > math.MaxInt32 || x < math.MinInt32 {
			return 0, fmt.Errorf("want a whole number, got %v", x)
		}
		return int(x), nil
	case float32:
		return intValue(float64(x))
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(x))
		if err != nil {
			return 0, fmt.Errorf("want a whole number, got %q", short(x))
		}
		return n, nil
	}
	return 0, fmt.Errorf("want a whole number, got %s", typeName(v))
}

func boolValue(v any) (bool, error) {
	switch x := v.(type) {
	case bool:
		return x, nil
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		if err != nil {
			return false, fmt.Errorf("want true or false, got %q", short(x))
		}
		return b, nil
	}
	return false, fmt.Errorf("want true or false, got %s", typeName(v))
}

func durationValue(v any) (Duration, error) {
	switch x := v.(type) {
	case string:
		return ParseDuration(x)
	case Duration:
		if x < 0 {
			return 0, errors.New("negative duration")
		}
		return x, nil
	case time.Duration:
		if x < 0 {
			return 0, errors.New("negative duration")
		}
		return Duration(x), nil
	}
	return 0, fmt.Errorf("want a duration such as 3y, 365d or 72h, got %s", typeName(v))
}

// short keeps configuration values quoted in errors to a readable length.
func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case map[string]any, map[any]any:
		return "a map"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("a %T", v)
}
