package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
)

// Role: none: a crash or a full disk (or anyone who can kill the client
// at the right moment) suffices.
//
// docs/verify.md, Signed index: "The record repo-<hash>.index.json names
// the view it was written with (and the one before, so a crash between the
// two writes loses nothing)". recordIndex writes the record first, naming
// the view about to be written; on first use (and whenever no earlier
// view counts) it names no previous view. If the process dies (or the
// view's write fails) between the two writes, the next run finds no view
// while the record names one: the view counts as lost, and every entry
// dated before the recorded statement's issue time is refused "for good".
// One interrupted first run thus strips every release of its signed-index
// time on this client, permanently, with no edit by anyone.
func TestAttackCrashBetweenRecordAndViewLosesFirstSeen(t *testing.T) {
	dir := t.TempDir()
	loc := "https://charts.example.org"
	key := strings.Repeat("A", 40)
	prov := indexsig.Hash([]byte("app 1.0.0: a .prov signed long ago"))
	seen := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
	s, err := indexsig.New("charts.example.org", []byte("index 1"), []indexsig.Release{
		{Name: "app", Version: "1.0.0", ProvSHA256: prov, FirstSeen: seen},
	}, seen.Add(30*24*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// The view's write fails after the record's (a crash, a full disk):
	// a non-empty folder in its place makes the rename fail.
	view := IndexReleasesPath(dir, loc)
	if err := os.MkdirAll(filepath.Join(view, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := recordIndex(dir, loc, "charts.example.org", s, indexsig.Hash(data), []string{key}, []string{key}); err == nil {
		t.Fatal("the view's write did not fail: the crash was not simulated")
	}
	if _, err := os.Stat(IndexStatePath(dir, loc)); err != nil {
		t.Fatalf("the record was not written before the view: %v", err)
	}
	if err := os.RemoveAll(view); err != nil {
		t.Fatal(err)
	}
	// The next run, same honest statement.
	got, err := recordIndex(dir, loc, "charts.example.org", s, indexsig.Hash(data), []string{key}, []string{key})
	if err != nil {
		t.Fatal(err)
	}
	if fs := got.FirstSeen("app", "1.0.0", prov); fs == nil || !fs.Equal(seen) {
		t.Errorf("after a crash between the record and the view on first use, the honest entry app 1.0.0 (first seen %s) gets %v: the view counts as lost and the entry is refused for good, though the docs say a crash between the two writes loses nothing",
			seen.Format(time.RFC3339), fs)
	}
}
