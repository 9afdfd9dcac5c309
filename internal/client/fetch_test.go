package client

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/publish"
)

// verify REPO/CHART reads a directory repository as audit does: no
// symbolic link out of the folder, no blocking on a FIFO.
func TestFetchChartStaysInsideADirectoryRepository(t *testing.T) {
	const index = "apiVersion: v1\nentries:\n  web:\n  - name: web\n    version: 1.0.0\n    urls: [charts/web-1.0.0.tgz]\n"
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.tgz")
	if err := os.WriteFile(secret, []byte("not for the client"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		make func(t *testing.T, path string)
		want string
	}{
		{"symlink out", func(t *testing.T, p string) {
			if err := os.Symlink(secret, p); err != nil {
				t.Fatal(err)
			}
		}, "cannot read"},
		{"fifo", func(t *testing.T, p string) {
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"index symlink out", nil, "cannot read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := t.TempDir()
			os.MkdirAll(filepath.Join(repo, "charts"), 0o755)
			if tc.make != nil {
				os.WriteFile(filepath.Join(repo, "index.yaml"), []byte(index), 0o644)
				tc.make(t, filepath.Join(repo, "charts", "web-1.0.0.tgz"))
			} else {
				os.WriteFile(filepath.Join(outside, "index.yaml"), []byte(index), 0o644)
				os.Symlink(filepath.Join(outside, "index.yaml"), filepath.Join(repo, "index.yaml"))
				os.Symlink(secret, filepath.Join(repo, "charts", "web-1.0.0.tgz"))
			}
			ctx := context.Background()
			b, err := publish.Open(ctx, repo, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			base, err := BaseURL(repo)
			if err != nil {
				t.Fatal(err)
			}
			type res struct {
				d   *Download
				err error
			}
			done := make(chan res, 1)
			go func() {
				d, err := FetchChart(ctx, b, base, "web", "1.0.0")
				done <- res{d, err}
			}()
			select {
			case r := <-done:
				if r.err == nil || !strings.Contains(r.err.Error(), tc.want) {
					t.Fatalf("FetchChart: %v (download %v), want an error saying %q", r.err, r.d != nil, tc.want)
				}
			case <-time.After(5 * time.Second):
				// Unblock the reader so the test can end.
				if f, err := os.OpenFile(filepath.Join(repo, "charts", "web-1.0.0.tgz"), os.O_WRONLY, 0); err == nil {
					f.Close()
				}
				t.Fatal("FetchChart blocks on a FIFO")
			}
		})
	}
}
