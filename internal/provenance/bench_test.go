package provenance_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// benchChart is about 60 KB compressed, like a typical published chart.
var benchChart = charts.Spec{Name: "bench", Version: "1.0.0", Padding: 80 << 10}

func BenchmarkVerify(b *testing.B) {
	for _, algo := range []struct {
		name string
		cfg  *packet.Config
	}{
		{"ed25519", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA}},
		{"rsa3072", &packet.Config{Algorithm: packet.PubKeyAlgoRSA, RSABits: 3072}},
	} {
		b.Run(algo.name, func(b *testing.B) {
			algo.cfg.Time = func() time.Time { return t0 }
			e, err := openpgp.NewEntity("bench", "", "bench@example.org", algo.cfg)
			if err != nil {
				b.Fatal(err)
			}
			tgz := mustArchive(b, benchChart)
			prov, err := provenance.Sign(e, mustRead(b, tgz), "bench-1.0.0.tgz", t0.Add(time.Hour))
			if err != nil {
				b.Fatal(err)
			}
			ring := publicOnly(b, e)
			cfg := &packet.Config{Time: func() time.Time { return t0.Add(2 * time.Hour) }}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				p, err := provenance.Parse(prov)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.Verify(ring, cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkReadArchive(b *testing.B) {
	tgz := mustArchive(b, benchChart)
	b.SetBytes(int64(len(tgz)))
	b.ReportMetric(float64(len(tgz)), "archive-bytes")
	for i := 0; i < b.N; i++ {
		if _, err := provenance.ReadArchive(bytes.NewReader(tgz), provenance.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDigestArchive(b *testing.B) {
	tgz := mustArchive(b, benchChart)
	b.SetBytes(int64(len(tgz)))
	for i := 0; i < b.N; i++ {
		if _, _, err := provenance.DigestArchive(bytes.NewReader(tgz), 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkArchiveGeneration: charts.Archive is fast enough to make
// hundreds of releases for audit tests.
func BenchmarkArchiveGeneration(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := charts.Archive(benchChart); err != nil {
			b.Fatal(err)
		}
	}
}
