package client

import (
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/root"
)

// Role: the holder of one index key (the new CI key after a routine
// rotation, or a second CI's key) together with a retired maintainer key.
//
// docs/verify.md, Signed index: "a leaked index key cannot backdate a new
// .prov for clients that saw a statement since the date it claims". But
// acceptReleases bounds new entries by the previous statement's issue
// time only while one of that statement's signers is still active, and
// it does not ask why a signer is gone: an index key rotated away
// routinely (removed as retired or superseded, not compromised) signed
// honest statements whose issue time is still a true bound. Once it is
// retired, the first statement by any other index key is judged as on
// first use: a brand-new .prov, signed after the maintainer's retirement
// and never seen by any statement, is accepted with a first_seen from
// before the retirement (and from before the statement this client
// already saw), so a retired key's late signature becomes trusted.
func TestAttackIndexKeyRotationLiftsFirstSeenBound(t *testing.T) {
	dir := t.TempDir()
	loc := "https://charts.example.org"
	retirement := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) // the maintainer key retired
	seenIssued := retirement.Add(10 * 24 * time.Hour)          // the client saw a statement 10 days later
	oldKey, newKey := strings.Repeat("A", 40), strings.Repeat("C", 40)
	genuine := indexsig.Hash([]byte("app 1.0.0: a .prov signed long ago"))
	late := indexsig.Hash([]byte("app 1.1.0: a .prov the retired key signed after its retirement"))
	record := func(s *indexsig.Statement, signer string, active []string, retired ...string) *indexsig.Statement {
		t.Helper()
		data, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := recordIndex(dir, loc, "charts.example.org", s, indexsig.Hash(data), []string{signer}, active, retired...)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// The old CI key's honest statement, seen by this client 10 days
	// after the retirement: it lists only app 1.0.0.
	s1, err := indexsig.New("charts.example.org", []byte("index 1"), []indexsig.Release{
		{Name: "app", Version: "1.0.0", ProvSHA256: genuine, FirstSeen: retirement.Add(-60 * 24 * time.Hour)},
	}, seenIssued, 0)
	if err != nil {
		t.Fatal(err)
	}
	record(s1, oldKey, []string{oldKey, newKey})
	// Routine rotation: the old index key is retired (not compromised).
	// The new key's first statement adds app 1.1.0, whose .prov no
	// statement this client saw listed, dated a day before the retirement.
	backdated := retirement.Add(-24 * time.Hour)
	s2, err := indexsig.New("charts.example.org", []byte("index 2"), []indexsig.Release{
		{Name: "app", Version: "1.0.0", ProvSHA256: genuine, FirstSeen: retirement.Add(-60 * 24 * time.Hour)},
		{Name: "app", Version: "1.1.0", ProvSHA256: late, FirstSeen: backdated},
	}, seenIssued.Add(24*time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	got := record(s2, newKey, []string{newKey}, oldKey) // oldKey: removed as retired
	if fs := got.FirstSeen("app", "1.1.0", late); fs != nil {
		t.Errorf("a .prov that the statement issued %s (seen by this client) did not list gets first_seen %s from the next index key: the bound vanished with a routine retirement of the old index key, so one index key plus a retired maintainer key make a post-retirement signature trusted on a client that followed the repository",
			seenIssued.Format(time.RFC3339), fs.Format(time.RFC3339))
	}
}

// The index keys whose statements keep vouching after their removal are
// exactly those removed as retired or superseded.
func TestRetiredIndexKeysFromManifest(t *testing.T) {
	fpr := func(c string) string { return strings.Repeat(c, 40) }
	tr := &Trusted{Manifest: &root.Manifest{Keys: []root.KeyEntry{
		{Fingerprint: fpr("A"), Status: root.Active, Role: root.RoleIndex},
		{Fingerprint: fpr("B"), Status: root.Removed, Reason: root.Retired, Role: root.RoleIndex},
		{Fingerprint: fpr("C"), Status: root.Removed, Reason: root.Superseded, Role: root.RoleIndex},
		{Fingerprint: fpr("D"), Status: root.Removed, Reason: root.Compromised, Role: root.RoleIndex},
		{Fingerprint: fpr("E"), Status: root.Removed, Reason: "unknown", Role: root.RoleIndex},
	}}}
	if got, want := strings.Join(tr.retiredKeys(), ","), fpr("B")+","+fpr("C"); got != want {
		t.Errorf("retired index keys %s, want %s", got, want)
	}
}
