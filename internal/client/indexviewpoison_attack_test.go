package client

import (
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
)

// Role: the holder of a leaked index key (and the host, to serve its
// statement once).
//
// docs/verify.md: "Remove a leaked index key as compromised at once (its
// statements stop counting at the client's next run)". But the client's
// view keeps, per (release, .prov digest), the later of its recorded and
// its new first-seen time, whoever signed them: one statement by the
// leaked key that re-dates a genuine, long-published .prov to after its
// signer's retirement is remembered for good. After the leaked key is
// removed, the honest index key's statements (which still give the
// genuine time) no longer count for that release: a correctly signed
// release by a retired key stays untrusted on every client that saw the
// leaked statement once.
func TestAttackLeakedIndexKeyPoisonsViewAfterRemoval(t *testing.T) {
	dir := t.TempDir()
	loc := "https://charts.example.org"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	genuineSeen := t0.Add(-30 * 24 * time.Hour) // the honest CI saw the .prov a month before
	retired := t0.Add(-24 * time.Hour)          // its signer retired yesterday
	prov := indexsig.Hash([]byte("the genuine .prov"))
	honestKey, leakedKey := strings.Repeat("A", 40), strings.Repeat("B", 40)
	active := []string{honestKey, leakedKey}
	record := func(s *indexsig.Statement, signer string) *indexsig.Statement {
		t.Helper()
		data, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := recordIndex(dir, loc, "charts.example.org", s, indexsig.Hash(data), []string{signer}, active)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	stmt := func(index string, seen, issued time.Time) *indexsig.Statement {
		t.Helper()
		s, err := indexsig.New("charts.example.org", []byte(index), []indexsig.Release{
			{Name: "app", Version: "1.0.0", ProvSHA256: prov, FirstSeen: seen},
		}, issued, 0)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The honest index key's statement: the genuine time.
	if fs := record(stmt("a", genuineSeen, t0), honestKey).FirstSeen("app", "1.0.0", prov); fs == nil || !fs.Before(retired) {
		t.Fatalf("fixture: honest statement gives %v", fs)
	}
	// The leaked index key's statement, served once: the same .prov,
	// re-dated to after the retirement.
	record(stmt("b", t0.Add(time.Hour), t0.Add(2*time.Hour)), leakedKey)
	// The leaked key is removed; the honest key signs again, with the
	// genuine time it always gave.
	active = []string{honestKey}
	fs := record(stmt("c", genuineSeen, t0.Add(3*time.Hour)), honestKey).FirstSeen("app", "1.0.0", prov)
	if fs == nil || !fs.Equal(genuineSeen) {
		t.Errorf("after the leaked index key's removal the honest statement gives first_seen %s, but the client keeps %v from the removed key's statement: a release signed before the retirement stays untrusted",
			genuineSeen.Format(time.RFC3339), fs)
	}
}
