package pgpkey

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// The hand-written hex must give what the obvious code gives.
func TestFormatFingerprintAndKeyID(t *testing.T) {
	for _, b := range [][]byte{{}, {0x00}, {0xab, 0xcd, 0xef, 0x01}, make([]byte, 20), {0xff, 0x0f, 0xf0, 0x10, 0x9a}} {
		if got, want := FormatFingerprint(b), strings.ToUpper(hex.EncodeToString(b)); got != want {
			t.Errorf("FormatFingerprint(%x) = %q, want %q", b, got, want)
		}
	}
	for _, id := range []uint64{0, 1, 0xDEADBEEF, 0xFFFFFFFFFFFFFFFF, 0x0123456789ABCDEF} {
		if got, want := KeyID(&packet.PublicKey{KeyId: id}), fmt.Sprintf("%016X", id); got != want {
			t.Errorf("KeyID(%x) = %q, want %q", id, got, want)
		}
	}
}
