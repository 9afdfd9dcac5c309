package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// TestAuditDoesNotHoldStoreLock: keyctl audit and keyctl ledger record
// release the store while they fetch the repository, so another writer
// gets the store meanwhile instead of "store is locked"; ledger record
// still writes its results afterwards.
func TestAuditDoesNotHoldStoreLock(t *testing.T) {
	cs := newCLIStore(t, "lead@example.org")
	work, store, k, mustRun := cs.work, cs.store, cs.args, cs.mustRun
	mustRun("root", "create", "--name", "root", "--secret-out", filepath.Join(work, "root.key"), "--public-out", filepath.Join(work, "root.pub"), "--no-passphrase")
	mustRun("init", "--repository", "charts.example.org", "--root-key", filepath.Join(work, "root.pub"))
	made := time.Now().Add(-72 * time.Hour)
	alice := newAuditKey(t, work, "alice", made, false)
	mustRun("add", alice.file, "--reason", "maintainer")
	repo := filepath.Join(work, "repo")
	publishRelease(t, repo, charts.Spec{Name: "app", Version: "1.0.0"}, alice, made.Add(time.Hour))
	writeIndex(t, repo)

	files := http.FileServer(http.Dir(repo))
	entered := make(chan struct{}, 8)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "index.yaml") {
			entered <- struct{}{}
			<-release
		}
		files.ServeHTTP(w, r)
	}))
	defer srv.Close()

	for _, args := range [][]string{{"audit", "--repo", srv.URL}, {"ledger", "record", "--repo", srv.URL}} {
		done := make(chan string, 1)
		go func() {
			out, errs, code := keyctlRun(t, k(args...)...)
			done <- strings.Join([]string{out, errs, string(rune('0' + code))}, "\n")
		}()
		select {
		case <-entered:
		case res := <-done:
			t.Fatalf("keyctl %s ended before fetching the index:\n%s", strings.Join(args, " "), res)
		case <-time.After(20 * time.Second):
			t.Fatalf("keyctl %s never fetched the index", strings.Join(args, " "))
		}
		st, err := ring.Open(store, ring.Options{Timeout: 200 * time.Millisecond})
		if err != nil {
			close(release)
			<-done
			t.Fatalf("keyctl %s holds the store during the audit: %v", strings.Join(args, " "), err)
		}
		st.Close()
		release <- struct{}{}
		if res := <-done; !strings.HasSuffix(res, "\n0") {
			t.Fatalf("keyctl %s:\n%s", strings.Join(args, " "), res)
		}
	}
	if out := mustRun("ledger", "list"); !strings.Contains(out, "app") {
		t.Fatalf("ledger record wrote nothing:\n%s", out)
	}
}
