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
//
// Fixed by design: the view is now part of the record (one file, no
// separately named previous view). Putting back an older record is editing
// the state folder, which docs/verify.md says can return the client to
// first use or an earlier state; the test asserts what must still hold:
// no time earlier than the statement's signed first_seen.
func TestAttackRestoredPreviousViewLoosensBound(t *testing.T) {
	dir := t.TempDir()
	loc := "https://charts.example.org"
	key := []string{"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
	t1 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
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
	path := IndexStatePath(dir, loc) // the record, which holds the view
	v1, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The client follows the repository: it sees the statement issued t2,
	// after the retirement.
	record(stmt(t2, r0, r1))
	// The copy: the record of the run before, byte for byte.
	if err := os.WriteFile(path, v1, 0o600); err != nil {
		t.Fatal(err)
	}
	// The index key dates a brand-new .prov an hour after t1, before the
	// retirement and long before t2, which this client saw; it also moves
	// app 1.0.0 later than the restored record has it.
	backdated := t1.Add(time.Hour)
	r0later := r0
	r0later.FirstSeen = r0.FirstSeen.Add(24 * time.Hour)
	s3 := stmt(t2.Add(24*time.Hour), r0later, r1, indexsig.Release{Name: "app", Version: "1.2.0", ProvSHA256: late, FirstSeen: backdated})
	got := record(s3)
	// Restoring an older record is editing the state folder: it returns
	// the client to that earlier state (docs/verify.md), where the bound
	// is t1. What must hold: no time earlier than the statement's signed
	// first_seen.
	for _, r := range s3.Releases {
		if fs := got.FirstSeen(r.Name, r.Version, r.ProvSHA256); fs != nil && fs.Before(r.FirstSeen) {
			t.Errorf("%s %s gets first_seen %s from a restored record, earlier than the statement's signed %s",
				r.Name, r.Version, fs.Format(time.RFC3339), r.FirstSeen.Format(time.RFC3339))
		}
	}
	// The earlier state: what it accepts, it accepts as the statement dates it.
	if fs := got.FirstSeen("app", "1.0.0", old); fs == nil || !fs.Equal(r0later.FirstSeen) {
		t.Errorf("app 1.0.0: %v, want the statement's %s", fs, r0later.FirstSeen.Format(time.RFC3339))
	}
}
