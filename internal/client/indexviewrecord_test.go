package client

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
)

// The index record holds the client's view of the releases: one file,
// written atomically. A failed write leaves the record as it was; a
// record written by an older keyctl (format /1, its view in a separate
// file) is first use for the releases, and the old view file is removed.
func TestIndexRecordHoldsReleasesView(t *testing.T) {
	loc := "https://charts.example.org"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := func(s string) string { return indexsig.Hash([]byte(s)) }
	rel := func(name string, seen time.Time) indexsig.Release {
		return indexsig.Release{Name: name, Version: "1.0.0", ProvSHA256: h(name), FirstSeen: seen}
	}
	record := func(dir string, s *indexsig.Statement) (*indexsig.Statement, error) {
		t.Helper()
		data, _ := s.Marshal()
		return recordIndex(dir, loc, "charts.example.org", s, indexsig.Hash(data), honest, honest)
	}
	must := func(dir string, s *indexsig.Statement) *indexsig.Statement {
		t.Helper()
		got, err := record(dir, s)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	old, late := t0.Add(-30*24*time.Hour), t0.Add(time.Hour)
	s1, _ := indexsig.New("charts.example.org", []byte("a"), []indexsig.Release{rel("alpha", old)}, t0, 0)
	s2, _ := indexsig.New("charts.example.org", []byte("b"), []indexsig.Release{rel("alpha", old), rel("beta", late), rel("gamma", old)}, t0.Add(2*time.Hour), 0)
	accepted := func(s *indexsig.Statement, name string) bool { return s.FirstSeen(name, "1.0.0", h(name)) != nil }

	t.Run("failed write", func(t *testing.T) {
		dir := t.TempDir()
		must(dir, s1)
		before, _ := os.ReadFile(IndexStatePath(dir, loc))
		writeIndexState = func(string, string, []byte) error { return errors.New("disk full") }
		_, err := record(dir, s2)
		writeIndexState = writeAtomic
		if err == nil {
			t.Fatal("the failed write was not reported")
		}
		if after, _ := os.ReadFile(IndexStatePath(dir, loc)); string(after) != string(before) {
			t.Fatalf("a failed write changed the record")
		}
		// The next run: s1 recorded, so gamma (new, dated before s1) is
		// refused, alpha and beta accepted.
		got := must(dir, s2)
		if !accepted(got, "alpha") || !accepted(got, "beta") || accepted(got, "gamma") {
			t.Errorf("after a failed write: alpha %v beta %v gamma %v, want true true false", accepted(got, "alpha"), accepted(got, "beta"), accepted(got, "gamma"))
		}
	})
	t.Run("older record", func(t *testing.T) {
		for _, leftover := range []bool{true, false} {
			dir := t.TempDir()
			path := IndexStatePath(dir, loc)
			data, _ := s1.Marshal()
			older := `{
  "format": "keyctl-client-index/1",
  "location": "` + loc + `",
  "repository": "charts.example.org",
  "issued": "` + t0.Format(time.RFC3339) + `",
  "statement_sha256": "` + indexsig.Hash(data) + `",
  "releases_sha256": "` + strings.Repeat("b", 64) + `"
}
`
			if _, v, why := parseIndexState([]byte(older)); why != "" || v != nil {
				t.Fatalf("older record: %q, view %v", why, v)
			}
			os.WriteFile(path, []byte(older), 0o600)
			if leftover {
				os.WriteFile(legacyViewPath(dir, loc), []byte("{}"), 0o600)
			}
			// First use for the releases: gamma (dated before s1) accepted;
			// a rollback is still refused.
			got := must(dir, s2)
			if !accepted(got, "alpha") || !accepted(got, "beta") || !accepted(got, "gamma") {
				t.Errorf("older record: alpha %v beta %v gamma %v, want all accepted", accepted(got, "alpha"), accepted(got, "beta"), accepted(got, "gamma"))
			}
			if _, err := record(dir, s1); err == nil || !strings.Contains(err.Error(), "index rollback") {
				t.Errorf("older statement after the upgrade: %v", err)
			}
			st, v, why := parseIndexState(mustRead(t, path))
			if why != "" || st.Format != IndexStateFormat || v == nil || len(v.m) != 3 {
				t.Errorf("the record was not upgraded: %+v %q", st, why)
			}
			if _, err := os.Stat(legacyViewPath(dir, loc)); err == nil {
				t.Error("the old view file was left")
			}
		}
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
