package provenance

import (
	"regexp"
	"testing"
)

// isDrivePath replaced the regular expression ^[a-zA-Z]: ; it must agree
// with it on every first two bytes.
func TestIsDrivePathMatchesRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[a-zA-Z]:`)
	for _, s := range []string{"", "C", ":", "C:", "c:/x", "C:\\x", "1:", "é:"} {
		if got, want := isDrivePath(s), re.MatchString(s); got != want {
			t.Errorf("isDrivePath(%q) = %v, the expression says %v", s, got, want)
		}
	}
	for a := 0; a < 256; a++ {
		for _, b := range []byte{':', ';', 'a', 0} {
			s := string([]byte{byte(a), b, 'x'})
			if got, want := isDrivePath(s), re.MatchString(s); got != want {
				t.Errorf("isDrivePath(%q) = %v, the expression says %v", s, got, want)
			}
		}
	}
}
