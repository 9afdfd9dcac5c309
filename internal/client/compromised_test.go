package client

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

// TestCompromisedKeyCannotComeBack: once a trusted manifest listed a key
// as compromised, a later manifest (validly signed by the root keys, as
// one published from a tampered store would be) that lists it active,
// with a softer reason, or not at all is refused as a security error,
// and the state file keeps its record.
func TestCompromisedKeyCannotComeBack(t *testing.T) {
	for _, tc := range []struct {
		name string
		undo func(f *fixture, m *member)
		says string
	}{
		{"active again", func(f *fixture, m *member) { m.status, m.reason, m.effective = root.Active, "", time.Time{} }, "lists it as active"},
		{"softened", func(f *fixture, m *member) { m.reason = root.Retired }, "lists it as removed (retired)"},
		{"dropped", func(f *fixture, m *member) { f.members = f.members[:1] }, "drops it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, t.TempDir(), "charts.example.org", newRootKey(t, "root"))
			state := t.TempDir()
			f.add(newMaintainer(t, "alice"))
			mal := newMaintainer(t, "mallory")
			mm := f.add(mal)
			fpr := pgpkey.Fingerprint(mal)
			f.publish(t0)
			if _, err := f.load(t, state, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			mm.status, mm.reason, mm.effective = root.Removed, root.Compromised, t0.Add(time.Hour)
			f.publish(t0.Add(time.Hour))
			if _, err := f.load(t, state, t0.Add(61*time.Minute)); err != nil {
				t.Fatal(err)
			}
			st, err := ReadState(state, f.b.Location())
			if err != nil || len(st.Compromised) != 1 || st.Compromised[0].Fingerprint != fpr || st.Compromised[0].Version != 2 {
				t.Fatalf("state after the compromise: %+v %v", st, err)
			}
			f.publish(t0.Add(2 * time.Hour)) // v3 still lists it compromised
			if _, err := f.load(t, state, t0.Add(121*time.Minute)); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(StatePath(state, f.b.Location()))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(before), `"fingerprint": "`+fpr+`"`) {
				t.Fatalf("state file does not record the key: %s", before)
			}

			tc.undo(f, mm)
			f.publish(t0.Add(3 * time.Hour)) // v4
			_, err = f.load(t, state, t0.Add(181*time.Minute))
			want := "key " + fpr + " was listed compromised in manifest v2; manifest v4 brings it back (it " + tc.says + ")"
			if fail.KindOf(err) != fail.Security || err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("manifest bringing back a compromised key: %v\nwant %q", err, want)
			}
			after, _ := os.ReadFile(StatePath(state, f.b.Location()))
			if string(after) != string(before) {
				t.Fatalf("state changed by a refused manifest:\n%s\n%s", before, after)
			}
			// Without state (first use) the same manifest is judged alone.
			if _, err := f.load(t, t.TempDir(), t0.Add(181*time.Minute)); err != nil {
				t.Fatalf("first use: %v", err)
			}
		})
	}
}

// TestStateCompromisedCompat: a state file written before compromised keys
// were recorded still parses; the field round-trips and is validated.
func TestStateCompromisedCompat(t *testing.T) {
	old := `{
  "format": "keyctl-client-state/1",
  "location": "/srv/charts",
  "repository": "charts.example.org",
  "version": 7,
  "manifest_sha256": "` + strings.Repeat("ab", 32) + `",
  "issued": "2026-03-01T12:00:00Z",
  "root_version": 2,
  "root_sha256": "` + strings.Repeat("cd", 32) + `"
}
`
	s, err := ParseState([]byte(old))
	if err != nil || s.Compromised != nil {
		t.Fatalf("old state file: %+v %v", s, err)
	}
	b, err := MarshalState(s)
	if err != nil || string(b) != old {
		t.Fatalf("old state does not round-trip unchanged:\n%s%v", b, err)
	}
	fpr := strings.Repeat("A", 40)
	s.Compromised = []CompromisedKey{{Fingerprint: fpr, Version: 5}}
	b, err = MarshalState(s)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ParseState(b); err != nil || !got.Equal(s) {
		t.Fatalf("round trip: %+v %v\n%s", got, err, b)
	}
	for _, bad := range [][]CompromisedKey{
		{{Fingerprint: strings.ToLower(fpr), Version: 5}},
		{{Fingerprint: fpr, Version: 8}},
		{{Fingerprint: fpr, Version: 0}},
		{{Fingerprint: fpr, Version: 5}, {Fingerprint: fpr, Version: 6}},
	} {
		s.Compromised = bad
		if _, err := MarshalState(s); err == nil {
			t.Errorf("accepted compromised %+v", bad)
		}
	}
}

// TestStateWriteKeepsCompromised: a run that recorded compromised keys
// meanwhile (under the lock) does not have them dropped by a run that
// writes a newer version.
func TestStateWriteKeepsCompromised(t *testing.T) {
	dir := t.TempDir()
	sf := newStateFile(dir, "/srv/charts")
	fpr := strings.Repeat("B", 40)
	s := State{Location: "/srv/charts", Repository: "charts.example.org", Version: 3, ManifestSHA256: strings.Repeat("ab", 32), Issued: t0, RootVersion: 1,
		Compromised: []CompromisedKey{{Fingerprint: fpr, Version: 3}}}
	if err := sf.write(s); err != nil {
		t.Fatal(err)
	}
	next := s
	next.Version, next.ManifestSHA256, next.Compromised = 4, strings.Repeat("cd", 32), nil
	if err := sf.write(next); err != nil {
		t.Fatal(err)
	}
	got, err := sf.read()
	if err != nil || got.Version != 4 || len(got.Compromised) != 1 || got.Compromised[0].Fingerprint != fpr {
		t.Fatalf("compromised key lost: %+v %v", got, err)
	}
}
