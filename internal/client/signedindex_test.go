package client

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
)

// honest is the fingerprint of the one index key of the tests below, which
// signs every statement they record.
var honest = []string{strings.Repeat("A", 40)}

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
	if _, err := recordIndex(dir, loc, "charts.example.org", s2, strings.Repeat("b", 64), honest, honest); err != nil {
		t.Fatal(err)
	}
	if _, err := recordIndex(dir, loc, "charts.example.org", s2, strings.Repeat("b", 64), honest, honest); err != nil {
		t.Fatalf("the same statement again: %v", err)
	}
	_, err := recordIndex(dir, loc, "charts.example.org", s1, strings.Repeat("a", 64), honest, honest)
	if err == nil || !strings.Contains(err.Error(), "index rollback") {
		t.Fatalf("older statement: %v", err)
	}
	if _, err := recordIndex(dir, loc, "other.example.org", s2, strings.Repeat("b", 64), honest, honest); err == nil || !strings.Contains(err.Error(), "replay") {
		t.Fatalf("another repository: %v", err)
	}
	path := IndexStatePath(dir, loc)
	os.WriteFile(path, []byte("{"), 0o600)
	if _, err := recordIndex(dir, loc, "charts.example.org", s2, strings.Repeat("b", 64), honest, honest); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("damaged record: %v", err)
	}
}

func FuzzParseIndexState(f *testing.F) {
	f.Add([]byte(`{"format":"keyctl-client-index/1","location":"https://a","repository":"a","issued":"2026-03-01T12:00:00Z","statement_sha256":"` + strings.Repeat("a", 64) + `"}`))
	f.Add([]byte(`{"format":"keyctl-client-index/1","location":"https://a","repository":"a","issued":"2026-03-01T12:00:00Z","statement_sha256":"` + strings.Repeat("a", 64) + `","releases_sha256":"` + strings.Repeat("b", 64) + `","previous_releases_sha256":"` + strings.Repeat("c", 64) + `"}`))
	f.Add([]byte(`{"format":"keyctl-client-index/2","location":"https://a","repository":"a","issued":"2026-03-01T12:00:00Z","statement_sha256":"` + strings.Repeat("a", 64) +
		`","signers":["` + strings.Repeat("A", 40) + `"],"releases":[{"name":"alpha","version":"1.0.0","prov_sha256":"` + strings.Repeat("b", 64) +
		`","first_seen":"2026-02-01T12:00:00Z","refused":true,"by":["` + strings.Repeat("A", 40) + `","` + strings.Repeat("C", 64) + `"]}]}`))
	f.Add([]byte(`{"format":"keyctl-client-index/2","location":"https://a","repository":"a","issued":"2026-03-01T12:00:00Z","statement_sha256":"` + strings.Repeat("a", 64) + `","signers":[],"releases":[]}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, v, why := parseIndexState(data)
		if why != "" {
			return
		}
		if len(st.SHA256) != 64 || len(data) > MaxIndexStateSize {
			t.Fatalf("accepted %q", data)
		}
		switch st.Format {
		case IndexStateFormatV1:
			if v != nil {
				t.Fatalf("a /1 record gave a view: %q", data)
			}
		case IndexStateFormat:
			if v == nil || len(v.m) != len(st.Releases) || len(v.m) > indexsig.MaxReleases || len(v.signers) > maxVouchers {
				t.Fatalf("accepted %q", data)
			}
		default:
			t.Fatalf("accepted format %q", st.Format)
		}
	})
}

// A client that follows a repository accepts a first-seen time only for
// entries the previous statement it saw listed, or dated no earlier than
// that statement: a leaked index key cannot backdate a new .prov for it,
// now or in later statements that carry the entry.
func TestRecordIndexBoundsFirstSeen(t *testing.T) {
	dir := t.TempDir()
	loc := "https://charts.example.org"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := func(s string) string { return indexsig.Hash([]byte(s)) }
	rel := func(name, prov string, seen time.Time) indexsig.Release {
		return indexsig.Release{Name: name, Version: "1.0.0", ProvSHA256: h(prov), FirstSeen: seen}
	}
	record := func(s *indexsig.Statement) *indexsig.Statement {
		t.Helper()
		data, _ := s.Marshal()
		got, err := recordIndex(dir, loc, "charts.example.org", s, indexsig.Hash(data), honest, honest)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	old := t0.Add(-30 * 24 * time.Hour)
	// First use: every entry is accepted, however old.
	s1, _ := indexsig.New("charts.example.org", []byte("a"), []indexsig.Release{rel("alpha", "a", old)}, t0, 0)
	if got := record(s1); got.FirstSeen("alpha", "1.0.0", h("a")) == nil {
		t.Fatal("first use: alpha not accepted")
	}
	// The next statement: alpha carried; beta new and seen after s1
	// (accepted); gamma new but dated before s1 (backdated: refused).
	s2, _ := indexsig.New("charts.example.org", []byte("b"), []indexsig.Release{
		rel("alpha", "a", old), rel("beta", "b", t0.Add(time.Hour)), rel("gamma", "g", t0.Add(-time.Hour)),
	}, t0.Add(2*time.Hour), 0)
	got := record(s2)
	if fs := got.FirstSeen("alpha", "1.0.0", h("a")); fs == nil || !fs.Equal(old) {
		t.Errorf("carried alpha: %v", fs)
	}
	if got.FirstSeen("beta", "1.0.0", h("b")) == nil {
		t.Error("beta, first seen after the previous statement: not accepted")
	}
	if fs := got.FirstSeen("gamma", "1.0.0", h("g")); fs != nil {
		t.Errorf("gamma, new yet dated before the previous statement, accepted at %v", fs)
	}
	// The same statement again, and a later one carrying gamma: still
	// refused. alpha dated earlier than recorded keeps the recorded time.
	if record(s2).FirstSeen("gamma", "1.0.0", h("g")) != nil {
		t.Error("gamma accepted on the same statement again")
	}
	s3, _ := indexsig.New("charts.example.org", []byte("c"), []indexsig.Release{
		rel("alpha", "a", old.Add(-time.Hour)), rel("gamma", "g", t0.Add(-time.Hour)),
	}, t0.Add(3*time.Hour), 0)
	got = record(s3)
	if got.FirstSeen("gamma", "1.0.0", h("g")) != nil {
		t.Error("gamma accepted once carried")
	}
	if fs := got.FirstSeen("alpha", "1.0.0", h("a")); fs == nil || !fs.Equal(old) {
		t.Errorf("alpha moved earlier: %v, want %v", fs, old)
	}
	// A damaged view in the record fails closed.
	path := IndexStatePath(dir, loc)
	os.WriteFile(path, []byte(strings.Replace(string(mustRead(t, path)), `"first_seen": "`, `"first_seen": "x`, 1)), 0o600)
	s4, _ := indexsig.New("charts.example.org", []byte("d"), nil, t0.Add(4*time.Hour), 0)
	data, _ := s4.Marshal()
	if _, err := recordIndex(dir, loc, "charts.example.org", s4, indexsig.Hash(data), honest, honest); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("damaged view: %v", err)
	}
}

// Each recorded time and refusal rests on the index keys that vouch for
// it: it holds while one of them is active, and is learned again from the
// statement served now once only removed keys vouch for it.
func TestRecordIndexVouchers(t *testing.T) {
	dir := t.TempDir()
	loc := "https://charts.example.org"
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h, l := strings.Repeat("A", 40), strings.Repeat("B", 40)
	active := []string{h, l}
	prov := indexsig.Hash([]byte("p"))
	n := 0
	record := func(seen *time.Time, issued time.Time, signer string) *time.Time {
		t.Helper()
		n++
		var rels []indexsig.Release
		if seen != nil {
			rels = []indexsig.Release{{Name: "app", Version: "1.0.0", ProvSHA256: prov, FirstSeen: *seen}}
		}
		s, err := indexsig.New("charts.example.org", []byte{byte(n)}, rels, issued, 0)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := s.Marshal()
		got, err := recordIndex(dir, loc, "charts.example.org", s, indexsig.Hash(data), []string{signer}, active)
		if err != nil {
			t.Fatal(err)
		}
		return got.FirstSeen("app", "1.0.0", prov)
	}
	genuine := t0.Add(-24 * time.Hour)
	earlier := genuine.Add(-time.Hour)
	// The honest key's time; the leaked key, still active, cannot move it
	// earlier, and its removal does not either.
	record(&genuine, t0, h)
	if fs := record(&earlier, t0.Add(time.Hour), l); fs == nil || !fs.Equal(genuine) {
		t.Fatalf("an active key moved the honest time earlier: %v", fs)
	}
	active = []string{h}
	if fs := record(&earlier, t0.Add(2*time.Hour), h); fs == nil || !fs.Equal(genuine) {
		t.Fatalf("after the leaked key's removal the honest time is %v, want %v", fs, genuine)
	}
	// The leaked key (active again: a new client state) signs a statement
	// without the release; the honest one lists it again: refused while
	// the leaked key is active (its statement bounds new entries), learned
	// again once it is removed.
	active = []string{h, l}
	record(nil, t0.Add(3*time.Hour), l)
	if fs := record(&genuine, t0.Add(4*time.Hour), h); fs != nil {
		t.Fatalf("an entry new since the previous statement, dated before it, accepted at %v", fs)
	}
	active = []string{h}
	if fs := record(&genuine, t0.Add(5*time.Hour), h); fs == nil || !fs.Equal(genuine) {
		t.Fatalf("a refusal resting only on a removed key's statement holds: %v", fs)
	}
	// A refusal resting on the honest key's statement holds after the
	// leaked key's removal.
	active = []string{h, l}
	record(nil, t0.Add(6*time.Hour), h)
	record(&genuine, t0.Add(7*time.Hour), l)
	active = []string{h}
	if fs := record(&genuine, t0.Add(8*time.Hour), h); fs != nil {
		t.Fatalf("a refusal resting on the honest key's statement dropped: %v", fs)
	}
}
