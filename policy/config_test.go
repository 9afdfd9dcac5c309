package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	good := []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"3y", 3 * Year, "3y"},
		{"1y", 365*Day + 6*time.Hour, "1y"},
		{"365d", 365 * Day, "365d"},
		{"2w", 14 * Day, "14d"},
		{"72h", 72 * time.Hour, "3d"},
		{"90m", 90 * time.Minute, "1h30m0s"},
		{"1h30m", 90 * time.Minute, "1h30m0s"},
		{" 30d ", 30 * Day, "30d"},
		{"0", 0, "0"},
		{"4y", 4 * Year, "4y"}, // a leap cycle: 1461 days
		{"1461d", 1461 * Day, "4y"},
	}
	for _, c := range good {
		d, err := ParseDuration(c.in)
		if err != nil {
			t.Errorf("ParseDuration(%q): %v", c.in, err)
			continue
		}
		if time.Duration(d) != c.want {
			t.Errorf("ParseDuration(%q) = %v, want %v", c.in, time.Duration(d), c.want)
		}
		if d.String() != c.out {
			t.Errorf("ParseDuration(%q).String() = %q, want %q", c.in, d.String(), c.out)
		}
		back, err := ParseDuration(d.String())
		if err != nil || back != d {
			t.Errorf("%q does not read back: %v, %v", d.String(), back, err)
		}
	}
	bad := []string{"", "y", "-1y", "3 y", "1.5y", "3x", "-5h", "abc", "99999999999999y", "1e3d", strings.Repeat("1", 100) + "d", "y3"}
	for _, in := range bad {
		if d, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
		} else if msg := err.Error(); msg != strings.ToLower(msg[:1])+msg[1:] || strings.HasSuffix(msg, ".") {
			t.Errorf("error %q: want lower case, no final period", msg)
		}
	}
}

func TestDurationJSON(t *testing.T) {
	p := Default()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"min_rsa_bits":3072,"max_validity":"3y","require_expiry":true}`; string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var q KeyPolicy
	if err := json.Unmarshal([]byte(`{"min_rsa_bits":4096,"max_validity":"400d","require_expiry":false}`), &q); err != nil {
		t.Fatal(err)
	}
	if q != (KeyPolicy{MinRSABits: 4096, MaxValidity: Duration(400 * Day), RequireExpiry: false}) {
		t.Errorf("unmarshalled %+v", q)
	}
	if err := json.Unmarshal([]byte(`{"max_validity":"forever"}`), &q); err == nil {
		t.Error("unmarshalling max_validity forever succeeded")
	}
}

func TestDefault(t *testing.T) {
	p := Default()
	if p.MinRSABits != 3072 || time.Duration(p.MaxValidity) != 3*Year || !p.RequireExpiry {
		t.Errorf("Default() = %+v", p)
	}
	if err := p.Validate(); err != nil {
		t.Errorf("Default() does not validate: %v", err)
	}
	if err := DefaultVerify().Validate(); err != nil {
		t.Errorf("DefaultVerify() does not validate: %v", err)
	}
}

func TestFromMap(t *testing.T) {
	p, err := FromMap(nil)
	if err != nil || p != Default() {
		t.Errorf("FromMap(nil) = %+v, %v; want the default", p, err)
	}
	// What a YAML decoder gives for
	//   policy: {min_rsa_bits: 4096, max_validity: 2y, require_expiry: false}
	p, err = FromMap(map[string]any{"min_rsa_bits": 4096, "max_validity": "2y", "require_expiry": false})
	if err != nil {
		t.Fatal(err)
	}
	if p != (KeyPolicy{MinRSABits: 4096, MaxValidity: Duration(2 * Year), RequireExpiry: false}) {
		t.Errorf("got %+v", p)
	}
	// JSON numbers, environment strings, viper's upper case keys, Go durations.
	p, err = FromMap(map[string]any{"MIN_RSA_BITS": float64(3072), "max_validity": 720 * time.Hour, "require_expiry": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if p.MinRSABits != 3072 || p.MaxValidity != Duration(30*Day) || !p.RequireExpiry {
		t.Errorf("got %+v", p)
	}
	p, err = FromMap(map[string]any{"min_rsa_bits": "2048"})
	if err != nil || p.MinRSABits != 2048 {
		t.Errorf("min_rsa_bits \"2048\": %+v, %v", p, err)
	}
	// Only the given setting changes.
	p, err = FromMap(map[string]any{"max_validity": "1y"})
	if err != nil || p.MinRSABits != 3072 || !p.RequireExpiry || p.MaxValidity != Duration(Year) {
		t.Errorf("max_validity 1y: %+v, %v", p, err)
	}

	refused := []struct {
		m    map[string]any
		want string
	}{
		{map[string]any{"min_rsa_bits": 1024}, "policy.min_rsa_bits = 1024 is unsafe"},
		{map[string]any{"min_rsa_bits": 2047}, "below 2048"},
		{map[string]any{"min_rsa_bits": 0}, "unsafe"},
		{map[string]any{"min_rsa_bits": -1}, "unsafe"},
		{map[string]any{"min_rsa_bits": 1 << 20}, "more than 16384"},
		{map[string]any{"min_rsa_bits": int64(1) << 40}, "out of range"},
		{map[string]any{"min_rsa_bits": 3072.5}, "whole number"},
		{map[string]any{"min_rsa_bits": "lots"}, "whole number"},
		{map[string]any{"min_rsa_bits": true}, "want a whole number, got a bool"},
		{map[string]any{"max_validity": "0"}, "must be positive"},
		{map[string]any{"max_validity": "-1y"}, "negative"},
		{map[string]any{"max_validity": "200y"}, "more than 100y"},
		{map[string]any{"max_validity": 3}, "want a duration"},
		{map[string]any{"max_validity": "soon"}, "policy.max_validity"},
		{map[string]any{"require_expiry": "sometimes"}, "want true or false"},
		{map[string]any{"require_expiry": 1}, "want true or false"},
		{map[string]any{"require_expiry": nil}, "got nothing"},
		{map[string]any{"min_rsa_bit": 4096}, `unknown policy setting "min_rsa_bit" (known: max_validity, min_rsa_bits, require_expiry)`},
		{map[string]any{"allow_sha1": true}, "unknown policy setting"},
		{map[string]any{"max_validity": map[string]any{"y": 3}}, "got a map"},
	}
	for _, c := range refused {
		p, err := FromMap(c.m)
		if err == nil {
			t.Errorf("FromMap(%v) = %+v, want an error", c.m, p)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("FromMap(%v): %q, want it to contain %q", c.m, err, c.want)
		}
		if msg := err.Error(); strings.HasSuffix(msg, ".") || strings.ToLower(msg[:1]) != msg[:1] {
			t.Errorf("error %q: want lower case, no final period", msg)
		}
	}
}

func TestVerifyFromMap(t *testing.T) {
	v, err := VerifyFromMap(nil)
	if err != nil || !equalVerify(v, DefaultVerify()) {
		t.Errorf("VerifyFromMap(nil) = %+v, %v", v, err)
	}
	v, err = VerifyFromMap(map[string]any{"hashes": []any{"sha512", "SHA-384"}, "max_clock_skew": "1h", "min_rsa_bits": 3072})
	if err != nil {
		t.Fatal(err)
	}
	if !equalVerify(v, VerifyPolicy{Hashes: []string{"sha512", "SHA-384"}, MinRSABits: 3072, MaxClockSkew: Duration(time.Hour)}) {
		t.Errorf("got %+v", v)
	}
	v, err = VerifyFromMap(map[string]any{"hashes": "SHA256, SHA3_512"})
	if err != nil || len(v.Hashes) != 2 {
		t.Errorf("comma list: %+v, %v", v, err)
	}
	refused := []struct {
		m    map[string]any
		want string
	}{
		{map[string]any{"hashes": []any{"SHA1"}}, "hash SHA1 is too weak"},
		{map[string]any{"hashes": "SHA256,md5"}, "too weak"},
		{map[string]any{"hashes": []any{"RIPEMD-160"}}, "too weak"},
		{map[string]any{"hashes": []any{"whirlpool"}}, `unknown hash "whirlpool"`},
		{map[string]any{"hashes": []any{}}, "is empty"},
		{map[string]any{"hashes": ""}, "is empty"},
		{map[string]any{"hashes": []any{1}}, "want a list of names"},
		{map[string]any{"hashes": strings.Repeat("SHA256,", 40)}, "more than 32"},
		{map[string]any{"min_rsa_bits": 1024}, "verify.min_rsa_bits = 1024 is unsafe"},
		{map[string]any{"max_clock_skew": "2d"}, "want between 0 and 1d"},
		{map[string]any{"skew": "1m"}, `unknown verify setting "skew"`},
	}
	for _, c := range refused {
		v, err := VerifyFromMap(c.m)
		if err == nil {
			t.Errorf("VerifyFromMap(%v) = %+v, want an error", c.m, v)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("VerifyFromMap(%v): %q, want it to contain %q", c.m, err, c.want)
		}
	}
}

func equalVerify(a, b VerifyPolicy) bool {
	if a.MinRSABits != b.MinRSABits || a.MaxClockSkew != b.MaxClockSkew || len(a.Hashes) != len(b.Hashes) {
		return false
	}
	for i := range a.Hashes {
		if a.Hashes[i] != b.Hashes[i] {
			return false
		}
	}
	return true
}
