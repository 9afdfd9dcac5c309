package ring

import (
	"fmt"
	"path/filepath"
	"testing"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
)

// benchStore returns a store holding n keys and one more key to add.
func benchStore(b *testing.B, n int) (*Store, *openpgp.Entity) {
	b.Helper()
	t := &testing.T{}
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Init("bench", RootLink{Version: 1, Data: []byte("x")}, "", "bench"); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := s.Add(newKey(t, fmt.Sprintf("k%d", i)), AddRequest{Reason: "bench", Actor: "bench"}, nil); err != nil {
			b.Fatal(err)
		}
	}
	return s, newKey(t, "extra")
}

// BenchmarkAdd1000 adds one key to a store of 1,000 (then removes nothing:
// each iteration adds a new key, so the store grows by b.N).
func BenchmarkAdd1000(b *testing.B) {
	s, _ := benchStore(b, 1000)
	defer s.Close()
	t := &testing.T{}
	keys := make([]*openpgp.Entity, b.N)
	for i := range keys {
		keys[i] = newKey(t, fmt.Sprintf("extra%d", i))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Add(keys[i], AddRequest{Reason: "bench", Actor: "bench"}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkList1000(b *testing.B) {
	s, _ := benchStore(b, 1000)
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		keys, err := s.List(true)
		if err != nil || len(keys) != 1000 {
			b.Fatal(err, len(keys))
		}
	}
}

func BenchmarkKeyring1000(b *testing.B) {
	s, _ := benchStore(b, 1000)
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		keys, err := s.List(true)
		if err != nil {
			b.Fatal(err)
		}
		_ = Keyring(keys, Active)
	}
}

// BenchmarkVerifyLog1000 checks the chain and that it explains every
// record of a store of 1,000 keys (publish runs this first).
func BenchmarkVerifyLog1000(b *testing.B) {
	s, _ := benchStore(b, 1000)
	defer s.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.VerifyLog(); err != nil {
			b.Fatal(err)
		}
	}
}
