package revoke

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/keyctl/keyctl/internal/testutil/gcsemu"
)

// benchReleases is the repository size of the audit benchmarks: 1,300
// releases of about 60 KB (SPEC §6: under 1 s on 2 cores from local disk).
// KEYCTL_BENCH_RELEASES overrides it for a quicker run.
func benchReleases() int {
	n := 1300
	if v := os.Getenv("KEYCTL_BENCH_RELEASES"); v != "" {
		fmt.Sscan(v, &n)
	}
	return n
}

// runAudit times opts.Audit in a b.Loop and reports releases/s and the
// archive bytes hashed per second.
func runAudit(b *testing.B, r *testRepo, n int, opts Options) {
	var size int64
	filepath.Walk(filepath.Join(r.dir, "charts"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && filepath.Ext(p) == ".tgz" {
			size += fi.Size()
		}
		return nil
	})
	opts.Now = func() time.Time { return auditNow }
	b.ResetTimer()
	start := time.Now()
	runs := 0
	for b.Loop() {
		rep, err := Audit(context.Background(), opts)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Total != n || rep.Counts[Trusted] < n*3/4 || rep.Counts[Unreachable] != 0 {
			b.Fatalf("audit: %v", rep.Counts)
		}
		runs++
	}
	el := time.Since(start).Seconds()
	b.ReportMetric(float64(n*runs)/el, "releases/s")
	b.ReportMetric(float64(size*int64(runs))/el/1e6, "MB/s")
	b.ReportMetric(float64(size)/float64(n)/1024, "KiB/release")
}

// BenchmarkAudit audits the repository from local disk.
func BenchmarkAudit(b *testing.B) {
	n := benchReleases()
	r := buildRepo(b, n, 80000)
	runAudit(b, r, n, Options{Repository: r.dir, Keys: r.keySet(b, nil)})
}

// BenchmarkAuditHTTP audits the same repository served over HTTP by a Go
// http.FileServer on 127.0.0.1 (not the bottleneck), at several
// concurrencies (0: the default), with no added latency and with 10 ms
// added before each answer (a server across a network).
// docs/performance.md compares it with BenchmarkAudit.
func BenchmarkAuditHTTP(b *testing.B) {
	n := benchReleases()
	r := buildRepo(b, n, 80000)
	ks := r.keySet(b, nil)
	fs := http.FileServer(http.Dir(r.dir))
	for _, rtt := range []time.Duration{0, 10 * time.Millisecond} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			time.Sleep(rtt)
			fs.ServeHTTP(w, req)
		}))
		b.Cleanup(srv.Close)
		for _, c := range []int{2, 4, 8, 0, 32} {
			b.Run(fmt.Sprintf("latency=%s/concurrency=%d", rtt, c), func(b *testing.B) {
				runAudit(b, r, n, Options{Repository: srv.URL, Keys: ks, Concurrency: c})
			})
		}
	}
}

// BenchmarkAuditGCS audits the same repository through gs:// against the
// in-process GCS emulator.
func BenchmarkAuditGCS(b *testing.B) {
	n := benchReleases()
	r := buildRepo(b, n, 80000)
	ks := r.keySet(b, nil)
	srv := gcsemu.Start(b, "bkt")
	err := filepath.Walk(r.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(r.dir, p)
		srv.Emulator.CreateObject(fakestorage.Object{
			ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "bkt", Name: "repo/" + filepath.ToSlash(rel)},
			Content:     data,
		})
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	runAudit(b, r, n, Options{Repository: "gs://bkt/repo", Keys: ks})
}
