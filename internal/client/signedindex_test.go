package client

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
)

func TestCheckSignedChartURL(t *testing.T) {
	for _, tc := range []struct {
		base, u string
		ok      bool
	}{
		{"https://charts.example.org", "https://github.com/o/r/releases/download/a-1/a-1.tgz", true},
		{"http://charts.example.org", "http://localhost:8080/a.tgz", true},
		{"https://charts.example.org", "http://github.com/a.tgz", false}, // never from https down to http
		{"https://charts.example.org", "https://user:token@github.com/a.tgz", false},
		{"https://charts.example.org", "file:///etc/passwd", false},
		{"https://charts.example.org", "gs://bucket/a.tgz", false},
		{"gs://bucket/charts", "gs://bucket/charts/a.tgz", true},
		{"gs://bucket/charts", "https://cdn.example.org/a.tgz", true},
	} {
		err := CheckSignedChartURL(tc.base, tc.u)
		if (err == nil) != tc.ok {
			t.Errorf("%s from %s: %v, want ok=%v", tc.u, tc.base, err, tc.ok)
		}
	}
}

// The signed index record is kept atomically and fails closed when
// damaged; an older statement is an index rollback.
func TestRecordIndex(t *testing.T) {
	dir := t.TempDir()
	loc := "https://charts.example.org"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s1, _ := indexsig.New("charts.example.org", []byte("a"), nil, t0, 0)
	s2, _ := indexsig.New("charts.example.org", []byte("b"), nil, t0.Add(time.Hour), 0)
	if err := recordIndex(dir, loc, "charts.example.org", s2, strings.Repeat("b", 64)); err != nil {
		t.Fatal(err)
	}
	if err := recordIndex(dir, loc, "charts.example.org", s2, strings.Repeat("b", 64)); err != nil {
		t.Fatalf("the same statement again: %v", err)
	}
	err := recordIndex(dir, loc, "charts.example.org", s1, strings.Repeat("a", 64))
	if err == nil || !strings.Contains(err.Error(), "index rollback") {
		t.Fatalf("older statement: %v", err)
	}
	if err := recordIndex(dir, loc, "other.example.org", s2, strings.Repeat("b", 64)); err == nil || !strings.Contains(err.Error(), "replay") {
		t.Fatalf("another repository: %v", err)
	}
	path := IndexStatePath(dir, loc)
	os.WriteFile(path, []byte("{"), 0o600)
	if err := recordIndex(dir, loc, "charts.example.org", s2, strings.Repeat("b", 64)); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("damaged record: %v", err)
	}
}

func FuzzParseIndexState(f *testing.F) {
	f.Add([]byte(`{"format":"keyctl-client-index/1","location":"https://a","repository":"a","issued":"2026-03-01T12:00:00Z","statement_sha256":"` + strings.Repeat("a", 64) + `"}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, why := parseIndexState(data)
		if why == "" && (st.Format != IndexStateFormat || len(st.SHA256) != 64 || len(data) > MaxIndexStateSize) {
			t.Fatalf("accepted %q", data)
		}
	})
}
