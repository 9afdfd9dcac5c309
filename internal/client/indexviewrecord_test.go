package client

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
)

// The index record names the releases view it was written with. A view
// the record does not name counts as listing nothing as of the recorded
// statement: entries dated before it are refused, later ones accepted,
// and the refusal is recorded. The view before the last one still counts
// (a crash between the record's and the view's writes), and a record
// written by an older keyctl (no view SHA-256) takes the view as found.
func TestIndexRecordNamesReleasesView(t *testing.T) {
	loc := "https://charts.example.org"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := func(s string) string { return indexsig.Hash([]byte(s)) }
	rel := func(name string, seen time.Time) indexsig.Release {
		return indexsig.Release{Name: name, Version: "1.0.0", ProvSHA256: h(name), FirstSeen: seen}
	}
	record := func(dir string, s *indexsig.Statement) *indexsig.Statement {
		t.Helper()
		data, _ := s.Marshal()
		got, err := recordIndex(dir, loc, "charts.example.org", s, indexsig.Hash(data), honest, honest)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	old, late := t0.Add(-30*24*time.Hour), t0.Add(time.Hour)
	s1, _ := indexsig.New("charts.example.org", []byte("a"), []indexsig.Release{rel("alpha", old)}, t0, 0)
	s2, _ := indexsig.New("charts.example.org", []byte("b"), []indexsig.Release{rel("alpha", old), rel("beta", late)}, t0.Add(2*time.Hour), 0)
	s3, _ := indexsig.New("charts.example.org", []byte("c"), []indexsig.Release{rel("alpha", old), rel("beta", late)}, t0.Add(3*time.Hour), 0)
	accepted := func(s *indexsig.Statement, name string) bool { return s.FirstSeen(name, "1.0.0", h(name)) != nil }

	t.Run("lost", func(t *testing.T) {
		dir := t.TempDir()
		record(dir, s1)
		record(dir, s2)
		if err := os.Remove(IndexReleasesPath(dir, loc)); err != nil {
			t.Fatal(err)
		}
		// Recorded s2 (issued t0+2h): alpha (dated before) is refused,
		// beta (t0+1h) too; both stay refused.
		for _, s := range []*indexsig.Statement{s3, s3} {
			got := record(dir, s)
			if accepted(got, "alpha") || accepted(got, "beta") {
				t.Fatalf("lost view: entries dated before the recorded statement accepted")
			}
		}
		// An entry dated after the recorded statement is accepted.
		s4, _ := indexsig.New("charts.example.org", []byte("d"), []indexsig.Release{rel("alpha", old), rel("gamma", t0.Add(4*time.Hour))}, t0.Add(5*time.Hour), 0)
		dir2 := t.TempDir()
		record(dir2, s3)
		os.Remove(IndexReleasesPath(dir2, loc))
		if got := record(dir2, s4); accepted(got, "alpha") || !accepted(got, "gamma") {
			t.Errorf("lost view: alpha %v (want refused), gamma %v (want accepted)", accepted(got, "alpha"), accepted(got, "gamma"))
		}
	})
	t.Run("crash between writes", func(t *testing.T) {
		dir := t.TempDir()
		record(dir, s1)
		before, err := os.ReadFile(IndexReleasesPath(dir, loc))
		if err != nil {
			t.Fatal(err)
		}
		record(dir, s2)
		// The record names s2's view; the view on disk is still s1's.
		if err := os.WriteFile(IndexReleasesPath(dir, loc), before, 0o600); err != nil {
			t.Fatal(err)
		}
		if got := record(dir, s3); !accepted(got, "alpha") || !accepted(got, "beta") {
			t.Errorf("the view before the last one: alpha %v, beta %v, want both accepted", accepted(got, "alpha"), accepted(got, "beta"))
		}
	})
	t.Run("older record", func(t *testing.T) {
		for _, keepView := range []bool{true, false} {
			dir := t.TempDir()
			record(dir, s1)
			path := IndexStatePath(dir, loc)
			data, _ := os.ReadFile(path)
			st, why := parseIndexState(data)
			if why != "" || st.ReleasesSHA256 == "" {
				t.Fatalf("record %s: %s", data, why)
			}
			// As an older keyctl wrote it: no view SHA-256.
			lines := strings.Split(string(data), "\n")
			var kept []string
			for _, l := range lines {
				if !strings.Contains(l, "releases_sha256") {
					kept = append(kept, l)
				}
			}
			older := strings.Replace(strings.Join(kept, "\n"), `",`+"\n}", `"`+"\n}", 1)
			if _, why := parseIndexState([]byte(older)); why != "" {
				t.Fatalf("older record %s: %s", older, why)
			}
			os.WriteFile(path, []byte(older), 0o600)
			if !keepView {
				os.Remove(IndexReleasesPath(dir, loc))
			}
			// beta is new and dated after s1: accepted either way; a new
			// entry dated before s1 is refused only with the view kept.
			s, _ := indexsig.New("charts.example.org", []byte("e"), []indexsig.Release{rel("alpha", old), rel("beta", late), rel("delta", old)}, t0.Add(2*time.Hour), 0)
			got := record(dir, s)
			if !accepted(got, "alpha") || !accepted(got, "beta") || accepted(got, "delta") != !keepView {
				t.Errorf("older record, view kept %v: alpha %v beta %v delta %v", keepView, accepted(got, "alpha"), accepted(got, "beta"), accepted(got, "delta"))
			}
			if data, _ := os.ReadFile(path); !strings.Contains(string(data), "releases_sha256") {
				t.Errorf("the record was not upgraded: %s", data)
			}
		}
	})
}
