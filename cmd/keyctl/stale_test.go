package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestStaleSigningDirectoryRefused: a directory prepared and signed before a
// key was removed lists that key as active; publish --from must refuse it,
// and the root sign summary shows what the holder signs.
func TestStaleSigningDirectoryRefused(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	store := filepath.Join(dir, "keyctl.db")
	rk, rp := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	mustKC(t, "root", "create", "--name", "r", "--secret-out", rk, "--public-out", rp, "--no-passphrase")
	mustKC(t, "--store", store, "init", "--repository", "charts.example.org", "--root-key", rp)
	mustKC(t, "--store", store, "add", maintainerKey(t, dir, "alice"), "--reason", "r")
	bad := mustKC(t, "--store", store, "add", maintainerKey(t, dir, "mallory"), "--reason", "r")
	fpr := strings.Fields(bad)[1]
	signDir := filepath.Join(dir, "sign")
	mustKC(t, "--store", store, "publish", "--prepare", signDir)
	_, summary, code := kc(t, nil, "--store", store, "root", "sign", signDir, "--root-key", rk)
	if code != 0 || !strings.Contains(summary, `manifest version 1 for repository "charts.example.org"`) || !strings.Contains(summary, "2 active, 0 removed") {
		t.Fatalf("root sign does not say what it signs: exit %d %s", code, summary)
	}
	mustKC(t, "--store", store, "remove", fpr, "--reason", "compromised")
	site := filepath.Join(dir, "site")
	_, errOut, code := kc(t, nil, "--store", store, "publish", "--from", signDir, "--to", site)
	if code != 2 || !strings.Contains(errOut, "the signing directory is stale") || !strings.Contains(errOut, "key") {
		t.Fatalf("stale directory after a removal: exit %d\n%s", code, errOut)
	}
	// Prepared again, it publishes.
	signDir2 := filepath.Join(dir, "sign2")
	mustKC(t, "--store", store, "publish", "--prepare", signDir2)
	mustKC(t, "--store", store, "root", "sign", signDir2, "--root-key", rk)
	mustKC(t, "--store", store, "publish", "--from", signDir2, "--to", site)
}

// TestRootCreateKeepsFiles: the secret key is never lost to a clash of
// output names, and no existing file is overwritten.
func TestRootCreateKeepsFiles(t *testing.T) {
	dir := t.TempDir()
	k := filepath.Join(dir, "k")
	if _, errOut, code := kc(t, nil, "root", "create", "--name", "r", "--secret-out", k, "--public-out", k, "--no-passphrase"); code != 2 || !strings.Contains(errOut, "same file") {
		t.Fatalf("same path: exit %d %s", code, errOut)
	}
	mustKC(t, "root", "create", "--name", "r", "--secret-out", k, "--public-out", k+".pub", "--no-passphrase")
	if _, errOut, code := kc(t, nil, "root", "create", "--name", "r2", "--secret-out", k+"2", "--public-out", k+".pub", "--no-passphrase"); code != 2 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("existing public file: exit %d %s", code, errOut)
	}
}
