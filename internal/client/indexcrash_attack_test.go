package client

import (
	"errors"
	"io/fs"
	"os"
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
// two writes loses nothing)". (Fixed: the view is now part of the record,
// one file written atomically; the test makes that write fail.) recordIndex writes the record first, naming
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
	// The record's write fails (a crash, a full disk): being one file
	// written atomically, it is left as it was (here: none).
	writeIndexState = func(string, string, []byte) error { return errors.New("disk full") }
	_, err = recordIndex(dir, loc, "charts.example.org", s, indexsig.Hash(data), []string{key}, []string{key})
	writeIndexState = writeAtomic
	if err == nil {
		t.Fatal("the record's write did not fail: the crash was not simulated")
	}
	if _, err := os.Stat(IndexStatePath(dir, loc)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a failed write left a record: %v", err)
	}
	// The next run, same honest statement.
	got, err := recordIndex(dir, loc, "charts.example.org", s, indexsig.Hash(data), []string{key}, []string{key})
	if err != nil {
		t.Fatal(err)
	}
	if first := got.FirstSeen("app", "1.0.0", prov); first == nil || !first.Equal(seen) {
		t.Errorf("after a crash between the record and the view on first use, the honest entry app 1.0.0 (first seen %s) gets %v: the view counts as lost and the entry is refused for good, though the docs say a crash between the two writes loses nothing",
			seen.Format(time.RFC3339), first)
	}
}
