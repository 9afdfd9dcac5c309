package pgpkey

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// BenchmarkReadKeyring1000 parses a binary keyring of 1,000 Ed25519
// certificates, the size of pubkeys.pgp in SPEC §6.
func BenchmarkReadKeyring1000(b *testing.B) {
	var ring bytes.Buffer
	for i := 0; i < 1000; i++ {
		e, err := openpgp.NewEntity(fmt.Sprintf("k%d", i), "", "k@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519})
		if err != nil {
			b.Fatal(err)
		}
		pub, err := SerializePublic(e, true)
		if err != nil {
			b.Fatal(err)
		}
		ring.Write(pub)
	}
	data := ring.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		el, err := ReadKeyring(data, MaxKeyringSize)
		if err != nil || len(el) != 1000 {
			b.Fatal(err)
		}
	}
}
