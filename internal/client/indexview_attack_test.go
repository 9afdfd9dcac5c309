package client

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
)

// Role: someone who can edit the client's state folder (another local
// user with write access, a synced or restored state folder, a CI cache).
//
// The client's view of a signed index's releases
// (then repo-<hash>.index-releases.json, now part of the record
// repo-<hash>.index.json) exists only to bound first-seen times:
// it may refuse an entry or keep a later time, never give one earlier than
// the verified statement states. Yet when the same statement is served
// again (statement_sha256 equal), acceptReleases takes the view's
// first_seen as is (filterReleases), so an edit of that unsigned local file
// backdates the entry: a .prov the index key first saw after its signer's
// retirement then gets a signed-index time from before the retirement,
// which no index key signed.
func TestAttackIndexViewEditBackdatesFirstSeen(t *testing.T) {
	dir := t.TempDir()
	loc := "https://charts.example.org"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seen := t0.Add(time.Hour) // the index key saw the .prov (after a retirement at t0)
	prov := indexsig.Hash([]byte("a .prov signed after the retirement"))
	s, err := indexsig.New("charts.example.org", []byte("index"), []indexsig.Release{
		{Name: "app", Version: "1.0.0", ProvSHA256: prov, FirstSeen: seen},
	}, t0.Add(2*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sum := indexsig.Hash(data)
	if _, err := recordIndex(dir, loc, "charts.example.org", s, sum, honest, honest); err != nil {
		t.Fatal(err)
	}
	// The edit: first_seen moved to a year before.
	path := IndexStatePath(dir, loc) // the record holds the view
	view, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(view), seen.Format(time.RFC3339), "2025-01-01T00:00:00Z", 1)
	if edited == string(view) {
		t.Fatalf("fixture: first_seen %s not in the view:\n%s", seen.Format(time.RFC3339), view)
	}
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := recordIndex(dir, loc, "charts.example.org", s, sum, honest, honest)
	if err != nil {
		return // refusing the edited view is fine
	}
	fs := got.FirstSeen("app", "1.0.0", prov)
	if fs != nil && fs.Before(seen) {
		t.Errorf("the client's unsigned view moved a signed first_seen from %s back to %s: a local file edit, not an index key, now dates the .prov before the retirement",
			seen.Format(time.RFC3339), fs.Format(time.RFC3339))
	}
}
