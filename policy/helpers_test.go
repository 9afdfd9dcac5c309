package policy

import (
	"bytes"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// readKeys parses an armored or binary keyring with go-crypto, as keyctl
// does (tests may not import internal/pgpkey).
func readKeys(t testing.TB, data []byte) openpgp.EntityList {
	t.Helper()
	var el openpgp.EntityList
	var err error
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN PGP")) {
		el, err = openpgp.ReadArmoredKeyRing(bytes.NewReader(data))
	} else {
		el, err = openpgp.ReadKeyRing(bytes.NewReader(data))
	}
	if err != nil {
		t.Fatalf("parsing key: %v", err)
	}
	if len(el) == 0 {
		t.Fatal("no key parsed")
	}
	return el
}

func readKey(t testing.TB, data []byte) *openpgp.Entity {
	t.Helper()
	el := readKeys(t, data)
	if len(el) != 1 {
		t.Fatalf("want one key, parsed %d", len(el))
	}
	return el[0]
}

func rulesOf(vs []Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Rule)
	}
	return out
}

var keyIDPattern = regexp.MustCompile(`^[0-9A-F]{16}$`)

// configurable are the rules a setting relaxes.
var configurable = map[string]string{
	RuleRSATooSmall:     "policy.min_rsa_bits = ",
	RuleNoExpiry:        "policy.require_expiry = ",
	RuleValidityTooLong: "policy.max_validity = ",
}

// wellFormed checks what every violation must carry.
func wellFormed(t testing.TB, vs []Violation) {
	t.Helper()
	for _, v := range vs {
		if !slices.Contains(Rules(), v.Rule) {
			t.Errorf("unknown rule %q in %+v", v.Rule, v)
		}
		if !keyIDPattern.MatchString(v.KeyID) {
			t.Errorf("key ID %q is not 16 upper-case hex digits: %+v", v.KeyID, v)
		}
		if v.Found == "" || v.Fix == "" {
			t.Errorf("violation without found or fix: %+v", v)
		}
		if prefix, ok := configurable[v.Rule]; ok {
			if !strings.HasPrefix(v.Setting, prefix) {
				t.Errorf("rule %s: setting %q, want it to start with %q", v.Rule, v.Setting, prefix)
			}
		} else if v.Setting != "" {
			t.Errorf("rule %s has setting %q, but no setting relaxes it", v.Rule, v.Setting)
		}
		want := "key " + v.KeyID + " " + v.Found + " (rule " + v.Rule + ")"
		if v.Error() != want {
			t.Errorf("Error() = %q, want %q", v.Error(), want)
		}
		if strings.HasSuffix(v.Found, ".") || strings.HasSuffix(v.Fix, ".") {
			t.Errorf("message ends with a period: %+v", v)
		}
	}
	if !sort.SliceIsSorted(vs, func(i, j int) bool { return ruleIndex(vs[i].Rule) < ruleIndex(vs[j].Rule) }) {
		t.Errorf("violations are not in rule order: %v", rulesOf(vs))
	}
}

// check runs p.Check on a fresh parse of data, checks the result's form and
// the promise that an accepted key has a signing key go-crypto finds under
// the strict configuration, and returns the violations.
func check(t testing.TB, p KeyPolicy, data []byte, now time.Time, known KnownKeys) []Violation {
	t.Helper()
	vs := p.Check(readKey(t, data), now, known)
	wellFormed(t, vs)
	if len(vs) > 0 {
		t.Logf("violations:\n%s", describe(vs))
	}
	if len(vs) == 0 {
		e := readKey(t, data)
		if _, ok := e.SigningKey(now, p.PacketConfig()); !ok {
			t.Errorf("accepted, but go-crypto finds no signing key with PacketConfig")
		}
	}
	return vs
}

// wantRules fails unless the violations are exactly these rules (order as
// reported, which is rule order).
func wantRules(t testing.TB, vs []Violation, want ...string) {
	t.Helper()
	got := rulesOf(vs)
	if !slices.Equal(got, want) {
		t.Errorf("rules = %v, want %v\nviolations:\n%s", got, want, describe(vs))
	}
}

func describe(vs []Violation) string {
	var b strings.Builder
	for _, v := range vs {
		b.WriteString("  " + v.Error() + "\n    setting: " + v.Setting + "\n    fix: " + v.Fix + "\n")
	}
	return b.String()
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
