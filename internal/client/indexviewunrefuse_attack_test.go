package client

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
)

// Role: someone who can edit the client's state folder, together with
// the holder of an index key (and a retired maintainer key).
//
// docs/verify.md, Signed index: the view "is a local, unsigned file and
// may only tighten: ... an entry it refuses gives no time, so editing it
// cannot backdate a release". But a refusal lives only in the view: drop
// its "refused": true (or the file, which is then read as written by an
// older keyctl while repo-<hash>.index.json says the location was seen)
// and the next run takes the backdated first_seen the index key wrote,
// for a .prov this client had already refused. The edit loosens, it does
// not tighten. (Resolved by documenting: the view is now part of the
// record, and docs/verify.md says that editing the state folder can return
// the client to first use or an earlier state; the test asserts what still
// holds: never a time earlier than the statement's signed first_seen.)
func TestAttackIndexViewEditLiftsRefusal(t *testing.T) {
	for _, edit := range []string{"unrefuse", "delete"} {
		t.Run(edit, func(t *testing.T) {
			dir := t.TempDir()
			loc := "https://charts.example.org"
			t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			key := strings.Repeat("A", 40)
			late := indexsig.Hash([]byte("a .prov written after the retirement"))
			record := func(s *indexsig.Statement) *indexsig.Statement {
				t.Helper()
				data, err := s.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				got, err := recordIndex(dir, loc, "charts.example.org", s, indexsig.Hash(data), []string{key}, []string{key})
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			s1, err := indexsig.New("charts.example.org", []byte("index 1"), []indexsig.Release{}, t0, 0)
			if err != nil {
				t.Fatal(err)
			}
			record(s1)
			// A new entry dated before the statement this client saw: refused.
			backdated := t0.Add(-7 * 24 * time.Hour)
			s2, err := indexsig.New("charts.example.org", []byte("index 2"), []indexsig.Release{
				{Name: "app", Version: "2.0.0", ProvSHA256: late, FirstSeen: backdated},
			}, t0.Add(time.Hour), 0)
			if err != nil {
				t.Fatal(err)
			}
			if fs := record(s2).FirstSeen("app", "2.0.0", late); fs != nil {
				t.Fatalf("fixture: the backdated entry was not refused (%v)", fs)
			}
			path := IndexStatePath(dir, loc) // the record holds the view
			view, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			switch edit {
			case "unrefuse":
				edited := strings.Replace(string(view), `"refused": true,`, "", 1)
				if edited == string(view) {
					t.Fatalf("fixture: no refusal in the view:\n%s", view)
				}
				err = os.WriteFile(path, []byte(edited), 0o600)
			case "delete":
				err = os.Remove(path)
			}
			if err != nil {
				t.Fatal(err)
			}
			data, _ := s2.Marshal()
			got, err := recordIndex(dir, loc, "charts.example.org", s2, indexsig.Hash(data), []string{key}, []string{key})
			if err != nil {
				return // refusing the edited view is fine
			}
			// The view is part of the record now: editing or deleting it is
			// editing the state folder, which docs/verify.md says can return
			// the client to first use or an earlier state. What must hold:
			// no time earlier than the statement's signed first_seen.
			if fs := got.FirstSeen("app", "2.0.0", late); fs != nil && fs.Before(backdated) {
				t.Errorf("after an edit (%s) of the record, the .prov gets first_seen %s, before the signed %s",
					edit, fs.Format(time.RFC3339), backdated.Format(time.RFC3339))
			}
		})
	}
}
