package client

import (
	"os"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
)

// Roles: someone who can write the client's state folder (a CI cache, a
// restored backup) together with the holder of one index key.
//
// docs/verify.md, Signed index: "editing or deleting the view alone cannot
// backdate a release" and "a leaked index key cannot backdate a new .prov
// for clients that saw a statement since the date it claims". The record
// names the view it was written with and, for crash recovery, the view
// before it (previous_releases_sha256); acceptReleases takes either as the
// previous view. Putting the previous view's bytes back (a copy from the
// last run: no forging, no hash to match by hand) turns the bound from the
// last statement this client saw into the one before it, so the index key
// can date a brand-new .prov anywhere after that older statement. With a
// maintainer key retired between the two statements, a .prov the retired
// key signed afterwards gets a signed-index time before the retirement.
// The attacker can repeat the copy before every run: the record keeps
// naming the copied view as the previous one.
func TestAttackRestoredPreviousViewLoosensBound(t *testing.T) {
	dir := t.TempDir()
	loc := "https://charts.example.org"
	key := []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
	t1 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	retirement := t1.Add(3 * 24 * time.Hour)
	t2 := t1.Add(10 * 24 * time.Hour)
	old := indexsig.Hash([]byte("app 1.0.0: signed long ago"))
	mid := indexsig.Hash([]byte("app 1.1.0: an honest release between the statements"))
	late := indexsig.Hash([]byte("app 1.2.0: signed by the retired key after its retirement"))
	record := func(s *indexsig.Statement) *indexsig.Statement {
		t.Helper()
		data, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := recordIndex(dir, loc, "charts.example.org", s, indexsig.Hash(data), key, key)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	stmt := func(issued time.Time, rs ...indexsig.Release) *indexsig.Statement {
		t.Helper()
		s, err := indexsig.New("charts.example.org", []byte(issued.String()), rs, issued, 0)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	r0 := indexsig.Release{Name: "app", Version: "1.0.0", ProvSHA256: old, FirstSeen: t1.Add(-30 * 24 * time.Hour)}
	r1 := indexsig.Release{Name: "app", Version: "1.1.0", ProvSHA256: mid, FirstSeen: t1.Add(5 * 24 * time.Hour)}
	record(stmt(t1, r0))
	path := IndexReleasesPath(dir, loc)
	v1, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The client follows the repository: it sees the statement issued t2,
	// after the retirement.
	record(stmt(t2, r0, r1))
	// The copy: the view of the run before, byte for byte.
	if err := os.WriteFile(path, v1, 0o600); err != nil {
		t.Fatal(err)
	}
	// The index key dates a brand-new .prov an hour after t1, before the
	// retirement and long before t2, which this client saw.
	backdated := t1.Add(time.Hour)
	got := record(stmt(t2.Add(24*time.Hour), r0, r1, indexsig.Release{Name: "app", Version: "1.2.0", ProvSHA256: late, FirstSeen: backdated}))
	if fs := got.FirstSeen("app", "1.2.0", late); fs != nil {
		t.Errorf("a .prov no statement listed gets first_seen %s (before the retirement %s) on a client that saw the statement issued %s: putting back the previous view (which the record names for crash recovery) moved the bound back to %s",
			fs.Format(time.RFC3339), retirement.Format(time.RFC3339), t2.Format(time.RFC3339), t1.Format(time.RFC3339))
	}
}
