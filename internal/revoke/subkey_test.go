package revoke

import (
	"strings"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/ring"
)

// Audit applies the client's one-key-one-primary rule on its own path
// (a key set from the store or a published set): a subkey held by a
// compromised key and by another key is refused, so the other key cannot
// make the compromised subkey's signatures trusted.
func TestKeySetSubkeyUnderTwoPrimaries(t *testing.T) {
	x, err := openpgp.NewEntity("xavier", "", "x@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	y, err := openpgp.NewEntity("yves", "", "y@example.org", nil)
	if err != nil {
		t.Fatal(err)
	}
	y.Subkeys = append(y.Subkeys, x.Subkeys[0])
	_, err = NewKeySet([]*Key{{Entity: x, Reason: ring.Compromised}, {Entity: y, Active: true}})
	if fail.ExitCode(err) != 1 || err == nil || !strings.Contains(err.Error(), "is held by two keys") {
		t.Fatalf("subkey under two primaries: %v", err)
	}
}
