package revoke

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkAudit audits a local repository of 1,300 signed releases of about
// 60 KB each (SPEC §6: under 1 s on 2 cores) and reports releases/s and the
// archive bytes hashed per second.
func BenchmarkAudit(b *testing.B) {
	r := buildRepo(b, 1300, 80000)
	ks := r.keySet(b, nil)
	var size int64
	filepath.Walk(filepath.Join(r.dir, "charts"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && filepath.Ext(p) == ".tgz" {
			size += fi.Size()
		}
		return nil
	})
	opts := Options{Repository: r.dir, Keys: ks, Now: func() time.Time { return auditNow }}
	b.ResetTimer()
	start := time.Now()
	n := 0
	for b.Loop() {
		rep, err := Audit(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Total != 1300 || rep.Counts[Trusted] < 1000 {
			b.Fatalf("audit: %v", rep.Counts)
		}
		n++
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(1300*n)/el, "releases/s")
	b.ReportMetric(float64(size*int64(n))/el/1e6, "MB/s")
	b.ReportMetric(float64(size)/1300/1024, "KiB/release")
}
