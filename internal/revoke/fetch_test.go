package revoke

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A directory repository opens no file through a symbolic link that leads
// out of it, and no FIFO (which would block).
func TestAuditDirectoryStaysInsideTheRepository(t *testing.T) {
	t.Run("symlink", func(t *testing.T) { testAuditInside(t, false) })
	t.Run("symlink and FIFO", func(t *testing.T) { testAuditInside(t, true) })
}

func testAuditInside(t *testing.T, withFIFO bool) {
	r := buildRepo(t, 3, 0)
	ks := r.keySet(t, nil)
	outside := t.TempDir()
	rel, fifo := r.releases[1], r.releases[2]
	p := chartPath(r, rel) + ".prov"
	data, _ := os.ReadFile(p)
	os.WriteFile(filepath.Join(outside, "x.prov"), data, 0o644)
	os.Remove(p)
	if err := os.Symlink(filepath.Join(outside, "x.prov"), p); err != nil {
		t.Fatalf("making the symlink under test: %v", err)
	}
	if withFIFO {
		os.Remove(chartPath(r, fifo) + ".prov")
		if err := syscall.Mkfifo(chartPath(r, fifo)+".prov", 0o644); err != nil {
			t.Fatalf("making the FIFO under test: %v", err)
		}
	}
	done := make(chan *Report, 1)
	go func() {
		rep, err := Audit(context.Background(), Options{Repository: r.dir, Keys: ks, Now: func() time.Time { return auditNow }})
		if err != nil {
			t.Error(err)
		}
		done <- rep
	}()
	var rep *Report
	select {
	case rep = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the audit blocks on a FIFO")
	}
	if rep == nil {
		return
	}
	for _, x := range []release{rel, fifo} {
		if x == fifo && !withFIFO {
			continue
		}
		if res := got(rep, x); res.Status == Trusted || res.Status == Unsigned {
			t.Errorf("%s %s through a symlink out of the repository or a FIFO: %s", x.chart, x.version, res.Status)
		}
	}
	if res := got(rep, r.releases[0]); res.Status != Unsigned && res.Status != Trusted {
		t.Errorf("release 0: %s (%s)", res.Status, res.Detail)
	}
}

// An archive over the size limit is content keyctl refuses: invalid, and in
// the worklist.
func TestAuditOversizeArchiveIsInvalid(t *testing.T) {
	r := buildRepo(t, 3, 0)
	for _, loc := range []string{r.dir, serve(t, r.dir, nil)} {
		rep := audit(t, loc, r.keySet(t, nil), func(o *Options) { o.Limits.MaxArchive = 64 })
		res := got(rep, r.releases[1])
		if res.Status != Invalid {
			t.Errorf("%s: oversize archive: %s (%s), want invalid", loc, res.Status, res.Detail)
		}
		found := false
		for _, w := range rep.Worklist {
			found = found || (w.Chart == res.Chart && w.Version == res.Version)
		}
		if !found {
			t.Errorf("%s: oversize archive not in the worklist", loc)
		}
	}
}
