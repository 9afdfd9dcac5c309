package revoke

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/keyctl/keyctl/internal/testutil/gcsemu"
)

// TestAuditGCS audits a repository in a gs:// bucket (an emulator on
// 127.0.0.1), with one download failing once on the way.
func TestAuditGCS(t *testing.T) {
	r := buildRepo(t, 30, 0)
	emu := gcsemu.Start(t, "charts")
	n := 0
	err := filepath.Walk(r.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(r.dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		emu.Emulator.CreateObject(fakestorage.Object{
			ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "charts", Name: "stable/" + filepath.ToSlash(rel)},
			Content:     data,
		})
		return nil
	})
	if err != nil || n < 50 {
		t.Fatalf("upload: %d files, %v", n, err)
	}
	emu.FailNext(1, gcsemu.Unavailable, gcsemu.Download("stable/charts/c01-1.0.1.tgz"))
	rep := audit(t, "gs://charts/stable", r.keySet(t, nil), nil)
	got := byKey(rep)
	for _, rel := range r.releases {
		if res := got[rel.key()]; res.Status != r.want(rel) {
			t.Errorf("%s %s: %s (%s), want %s", rel.chart, rel.version, res.Status, res.Detail, r.want(rel))
		}
	}
	if emu.Fired() != 1 {
		t.Errorf("%d faults fired, want 1", emu.Fired())
	}
}

// TestAuditAbsoluteAndEscapingURLs: an unsigned directory index cannot
// send the audit elsewhere, neither by absolute URLs to a web server nor
// by ../ paths out of its directory: the same rule as verify
// (client.CheckChartURL), so both give the same verdict.
func TestAuditAbsoluteAndEscapingURLs(t *testing.T) {
	r := buildRepo(t, 12, 0)
	ks := r.keySet(t, nil)
	url := serve(t, r.dir, nil)
	idx, _ := os.ReadFile(filepath.Join(r.dir, "index.yaml"))
	abs := strings.ReplaceAll(string(idx), "- charts/", "- "+url+"charts/")
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "index.yaml"), []byte(abs), 0o644)
	rep := audit(t, other, ks, nil)
	if rep.Counts[Unreachable] != 12 {
		t.Fatalf("absolute URLs from a directory index: %v", rep.Counts)
	}
	for _, res := range rep.Results {
		if !strings.HasPrefix(res.URL, url) || !strings.Contains(res.Detail, "is refused") {
			t.Errorf("url %s: %s", res.URL, res.Detail)
		}
	}

	escape := strings.ReplaceAll(string(idx), "- charts/", "- ../"+filepath.Base(r.dir)+"/charts/")
	sub := filepath.Join(t.TempDir(), "sub")
	os.MkdirAll(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "index.yaml"), []byte(escape), 0o644)
	rep = audit(t, sub, ks, nil)
	if rep.Counts[Unreachable] != 12 {
		t.Fatalf("escaping URLs: %v", rep.Counts)
	}
	if !strings.Contains(rep.Results[0].Detail, "outside the repository") {
		t.Errorf("detail %q", rep.Results[0].Detail)
	}
}

// TestAuditRetriesABodyCutShort: a connection dropped in the middle of an
// archive is retried, not reported as a corrupt archive.
func TestAuditRetriesABodyCutShort(t *testing.T) {
	r := buildRepo(t, 6, 20000)
	cut := map[string]bool{}
	fs := http.FileServer(http.Dir(r.dir))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasSuffix(req.URL.Path, ".tgz") && !cut[req.URL.Path] {
			cut[req.URL.Path] = true
			data, _ := os.ReadFile(filepath.Join(r.dir, filepath.FromSlash(req.URL.Path)))
			w.Header().Set("Content-Length", "999999")
			w.Write(data[:len(data)/2])
			return // the server closes the connection short of Content-Length
		}
		fs.ServeHTTP(w, req)
	}))
	defer srv.Close()
	rep := audit(t, srv.URL, r.keySet(t, nil), func(o *Options) { o.Concurrency = 1 })
	for _, rel := range r.releases {
		if res := byKey(rep)[rel.key()]; res.Status != r.want(rel) {
			t.Errorf("%s %s: %s (%s), want %s", rel.chart, rel.version, res.Status, res.Detail, r.want(rel))
		}
	}
	if len(cut) < 5 {
		t.Fatalf("only %d archives were cut", len(cut))
	}
}
