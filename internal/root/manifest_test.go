package root

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
)

var (
	fprA = "0123456789ABCDEF0123456789ABCDEF01234567"
	fprB = "89ABCDEF0123456789ABCDEF0123456789ABCDEF"
	fprC = "FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210FEDCBA9876543210"
)

func exampleManifest() *Manifest {
	issued := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return &Manifest{
		Repository: "charts.example.org",
		Version:    7,
		Issued:     issued,
		Expires:    issued.Add(DefaultManifestValidity),
		Previous:   Hash([]byte("manifest version 6")),
		Root:       RootRef{Version: 2, SHA256: Hash([]byte("root set 2"))},
		Files: []FileRef{
			{Name: PubkeysFile, SHA256: Hash([]byte("pubkeys")), Length: 7},
			{Name: RevokedFile, SHA256: Hash([]byte("revoked")), Length: 7},
		},
		Keys: []KeyEntry{
			{Fingerprint: fprB, Status: Removed, Reason: Retired, Added: issued.AddDate(-1, 0, 0), Effective: issued.AddDate(0, -1, 0)},
			{Fingerprint: fprA, Status: Active, Added: issued.AddDate(0, -2, 0), Scopes: []string{"web-*", "api"}},
		},
	}
}

// ExampleManifest prints a manifest as Marshal writes it; docs/manifest.md
// shows this output.
func ExampleManifest() {
	m := exampleManifest()
	b, err := m.Marshal()
	if err != nil {
		panic(err)
	}
	fmt.Print(string(b))
	// Output:
	// {
	//   "format": "keyctl-manifest/1",
	//   "repository": "charts.example.org",
	//   "version": 7,
	//   "issued": "2026-03-01T12:00:00Z",
	//   "expires": "2026-05-30T12:00:00Z",
	//   "previous": "d096de9619227dbff3cb59407eb7d791b9658dbd3e015513e4f4aa2aa9901657",
	//   "root": {
	//     "version": 2,
	//     "sha256": "315ae923d0077503319f27cd100f1516a0b040e823332b39fd178f3f3087b541"
	//   },
	//   "files": [
	//     {
	//       "name": "pubkeys.pgp",
	//       "sha256": "bbb10e8d942a98a91040340f8f28718c7e43bb76c3c5ff2470513ba780abaf5a",
	//       "length": 7
	//     },
	//     {
	//       "name": "revoked.pgp",
	//       "sha256": "4bb47f186df233e48b09d241ee4defb821add0c35ac8311469fe1522c6813dd5",
	//       "length": 7
	//     }
	//   ],
	//   "keys": [
	//     {
	//       "fingerprint": "0123456789ABCDEF0123456789ABCDEF01234567",
	//       "status": "active",
	//       "added": "2026-01-01T12:00:00Z",
	//       "scopes": [
	//         "api",
	//         "web-*"
	//       ]
	//     },
	//     {
	//       "fingerprint": "89ABCDEF0123456789ABCDEF0123456789ABCDEF",
	//       "status": "removed",
	//       "reason": "retired",
	//       "added": "2025-03-01T12:00:00Z",
	//       "effective": "2026-02-01T12:00:00Z"
	//     }
	//   ]
	// }
}

func TestManifestRoundTrip(t *testing.T) {
	m := exampleManifest()
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, err := got.Marshal()
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("round trip differs: %v", err)
	}
	if got.Keys[0].Fingerprint != fprA || got.Keys[0].Scopes[0] != "api" || got.Keys[1].Reason != Retired {
		t.Errorf("keys not canonical: %+v", got.Keys)
	}
	if !got.Issued.Equal(m.Issued) || !got.Keys[1].Effective.Equal(m.Keys[0].Effective) {
		t.Errorf("times changed")
	}
	if k, ok := got.Key(fprB); !ok || k.Status != Removed {
		t.Errorf("Key lookup: %+v %v", k, ok)
	}
	if _, ok := got.Key(fprC); ok {
		t.Errorf("Key found an absent key")
	}
	// Sub-second times are truncated by Marshal, never written.
	m.Issued = m.Issued.Add(300 * time.Millisecond)
	if b3, err := m.Marshal(); err != nil || !bytes.Equal(b3, b) {
		t.Errorf("sub-second issue time: %v", err)
	}
}

func TestManifestValidation(t *testing.T) {
	base := exampleManifest
	cases := map[string]func(m *Manifest){
		"repository empty":      func(m *Manifest) { m.Repository = "" },
		"repository space":      func(m *Manifest) { m.Repository = "a b" },
		"version 0":             func(m *Manifest) { m.Version = 0 },
		"no issued":             func(m *Manifest) { m.Issued = time.Time{} },
		"expires before issued": func(m *Manifest) { m.Expires = m.Issued.Add(-time.Hour) },
		"expires equal":         func(m *Manifest) { m.Expires = m.Issued },
		"too long":              func(m *Manifest) { m.Expires = m.Issued.Add(MaxManifestValidity + time.Hour) },
		"v1 with previous":      func(m *Manifest) { m.Version = 1 },
		"v7 without previous":   func(m *Manifest) { m.Previous = "" },
		"previous upper":        func(m *Manifest) { m.Previous = strings.ToUpper(m.Previous) },
		"previous short":        func(m *Manifest) { m.Previous = m.Previous[:40] },
		"root version 0":        func(m *Manifest) { m.Root.Version = 0 },
		"root hash":             func(m *Manifest) { m.Root.SHA256 = "xyz" },
		"one file":              func(m *Manifest) { m.Files = m.Files[:1] },
		"unknown file":          func(m *Manifest) { m.Files[1].Name = "other.pgp" },
		"duplicate file":        func(m *Manifest) { m.Files[1].Name = PubkeysFile },
		"file hash":             func(m *Manifest) { m.Files[0].SHA256 = "00" },
		"file length":           func(m *Manifest) { m.Files[0].Length = -1 },
		"fingerprint lower":     func(m *Manifest) { m.Keys[0].Fingerprint = strings.ToLower(fprB) },
		"fingerprint key id":    func(m *Manifest) { m.Keys[0].Fingerprint = fprB[:16] },
		"duplicate key":         func(m *Manifest) { m.Keys[0].Fingerprint = fprA },
		"status":                func(m *Manifest) { m.Keys[1].Status = "trusted" },
		"active with reason":    func(m *Manifest) { m.Keys[1].Reason = Retired },
		"active with effective": func(m *Manifest) { m.Keys[1].Effective = m.Issued },
		"removed no reason":     func(m *Manifest) { m.Keys[0].Reason = "" },
		"removed bad reason":    func(m *Manifest) { m.Keys[0].Reason = "lost" },
		"removed no effective":  func(m *Manifest) { m.Keys[0].Effective = time.Time{} },
		"effective future":      func(m *Manifest) { m.Keys[0].Effective = m.Issued.Add(time.Hour) },
		"added missing":         func(m *Manifest) { m.Keys[1].Added = time.Time{} },
		"added future":          func(m *Manifest) { m.Keys[1].Added = m.Issued.Add(time.Second) },
		"added ancient":         func(m *Manifest) { m.Keys[1].Added = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC) },
		"scope empty":           func(m *Manifest) { m.Keys[1].Scopes = []string{""} },
		"scope bad glob":        func(m *Manifest) { m.Keys[1].Scopes = []string{"web-["} },
		"scope space":           func(m *Manifest) { m.Keys[1].Scopes = []string{"a b"} },
		"scope duplicate":       func(m *Manifest) { m.Keys[1].Scopes = []string{"a", "a"} },
		"scope too long":        func(m *Manifest) { m.Keys[1].Scopes = []string{strings.Repeat("a", MaxScopeLen+1)} },
		"too many scopes": func(m *Manifest) {
			m.Keys[1].Scopes = nil
			for i := 0; i <= MaxScopes; i++ {
				m.Keys[1].Scopes = append(m.Keys[1].Scopes, fmt.Sprint("s", i))
			}
		},
	}
	for name, edit := range cases {
		m := base()
		edit(m)
		if _, err := m.Marshal(); err == nil {
			t.Errorf("%s: Marshal accepted", name)
		} else if fail.KindOf(err) != fail.Input {
			t.Errorf("%s: kind %v", name, fail.KindOf(err))
		}
	}

	good, err := base().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	edits := map[string][2]string{
		"unknown field":  {`"version": 7,`, `"version": 7, "x": 1,`},
		"format":         {"keyctl-manifest/1", "keyctl-manifest/2"},
		"time format":    {"2026-03-01T12:00:00Z", "2026-03-01 12:00:00"},
		"time zone":      {"2026-03-01T12:00:00Z", "2026-03-01T13:00:00+01:00"},
		"not canonical":  {"{\n  \"format\"", "{\n \"format\""},
		"duplicate name": {`"version": 7,`, `"version": 6, "version": 7,`},
		"status case":    {`"active"`, `"Active"`},
		"negative":       {`"length": 7`, `"length": -7`},
		"empty scopes":   {`"scopes": [`, `"scopes": [], "x": [`},
	}
	for name, e := range edits {
		bad := strings.Replace(string(good), e[0], e[1], 1)
		if bad == string(good) {
			t.Fatalf("%s: edit changed nothing", name)
		}
		if _, err := ParseManifest([]byte(bad)); err == nil {
			t.Errorf("%s: ParseManifest accepted", name)
		}
	}
	if _, err := ParseManifest(append(append([]byte(nil), good...), "{}"...)); err == nil {
		t.Error("trailing data accepted")
	}
	if _, err := ParseManifest(bytes.Repeat([]byte(" "), MaxManifestSize+1)); err == nil {
		t.Error("oversized manifest accepted")
	}
}

// signedManifest returns a manifest under set (version 1 of the root
// history), its bytes and signatures by signers, issued at issued.
func signedManifest(t testing.TB, set *RootSet, issued time.Time, nkeys int, signers ...*testRoot) (*Manifest, []byte, []byte) {
	m := exampleManifest()
	m.Repository = set.Repository
	m.Issued = issued
	m.Expires = issued.Add(DefaultManifestValidity)
	m.Root = RootRef{Version: set.Version, SHA256: Hash(marshal(t, set))}
	m.Keys = m.Keys[:0]
	for i := 0; i < nkeys; i++ {
		m.Keys = append(m.Keys, KeyEntry{Fingerprint: fmt.Sprintf("%040X", i), Status: Active, Added: issued.Add(-time.Hour), Scopes: []string{"chart-*"}})
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return m, b, signAll(t, b, issued, signers...)
}

func TestVerifyManifest(t *testing.T) {
	r := edTestRoots(t)
	set := mustSet(t, 2, r[0], r[1], r[2])
	issued := time.Now().UTC().Truncate(time.Second)
	_, data, sigs := signedManifest(t, set, issued, 3, r[0], r[2])
	now := issued.Add(time.Hour)

	m, err := VerifyManifest(data, sigs, set, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Keys) != 3 || m.Version != 7 {
		t.Fatalf("parsed manifest: %+v", m)
	}

	// Expired: a freeze.
	_, err = VerifyManifest(data, sigs, set, m.Expires)
	var ee *ExpiredError
	if !errors.As(err, &ee) || !ee.Expires.Equal(m.Expires) || fail.ExitCode(err) != 1 {
		t.Errorf("at expiry: %v", err)
	}
	// Issued in the future.
	var nv *NotYetValidError
	_, future, _ := signedManifest(t, set, issued.Add(2*time.Hour), 1, r[0])
	if _, err := VerifyManifest(future, signAll(t, future, issued, r[0], r[1]), set, now); !errors.As(err, &nv) {
		t.Errorf("issued in the future: %v", err)
	}
	// Signatures dated in the future do not count either.
	var te0 *ThresholdError
	if _, err := VerifyManifest(data, sigs, set, issued.Add(-time.Hour)); !errors.As(err, &te0) {
		t.Errorf("signatures from the future: %v", err)
	}
	// Any tampered byte is refused.
	for _, i := range []int{0, len(data) / 2, len(data) - 2} {
		bad := append([]byte(nil), data...)
		bad[i] ^= 0x20
		var te *ThresholdError
		if _, err := VerifyManifest(bad, sigs, set, now); !errors.As(err, &te) || te.Have != 0 {
			t.Errorf("byte %d tampered: %v", i, err)
		}
	}
	// Below threshold.
	var te *ThresholdError
	if _, err := VerifyManifest(data, signAll(t, data, issued, r[1]), set, now); !errors.As(err, &te) || te.Have != 1 || te.Need != 2 {
		t.Errorf("one signature: %v", err)
	}
	// Another repository's root set (replay) and another root set version.
	other := mustSet(t, 2, r[0], r[1], r[2])
	other.Repository = "other.example.org"
	var re *RepositoryError
	if _, err := VerifyManifest(data, sigs, other, now); !errors.As(err, &re) || re.Got != "charts.example.org" {
		t.Errorf("replay: %v", err)
	}
	rotated, err := Rotate(set, nil, nil, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var rm *RootMismatchError
	if _, err := VerifyManifest(data, sigs, rotated, now); !errors.As(err, &rm) || rm.Trusted.Version != 2 {
		t.Errorf("root mismatch: %v", err)
	}
}

func TestManifestChecks(t *testing.T) {
	m := exampleManifest()
	if err := m.CheckFile(PubkeysFile, []byte("pubkeys")); err != nil {
		t.Errorf("CheckFile good: %v", err)
	}
	var me *MismatchError
	if err := m.CheckFile(PubkeysFile, []byte("pubkeyz")); !errors.As(err, &me) || me.GotLength != 7 || me.GotSHA256 == me.WantSHA256 {
		t.Errorf("CheckFile hash: %v", err)
	}
	if err := m.CheckFile(RevokedFile, []byte("revoked!")); !errors.As(err, &me) || me.GotLength != 8 || !strings.Contains(err.Error(), "8 bytes") {
		t.Errorf("CheckFile length: %v", err)
	}
	if !strings.Contains(strings.Join(fail.HintsOf(m.CheckFile(RevokedFile, nil)), " "), ContentDir) {
		t.Errorf("mismatch hint does not name the content-addressed copy")
	}
	if err := m.CheckFile("index.yaml", nil); err == nil || fail.KindOf(err) != fail.Input {
		t.Errorf("CheckFile unknown name: %v", err)
	}
	if err := m.CheckRepository("charts.example.org"); err != nil {
		t.Error(err)
	}
	var re *RepositoryError
	if err := m.CheckRepository("other"); !errors.As(err, &re) {
		t.Errorf("CheckRepository: %v", err)
	}

	prev := exampleManifest()
	prev.Version = 6
	prevHash := m.Previous
	if err := m.CheckSuccessor(prev, prevHash); err != nil {
		t.Errorf("CheckSuccessor good: %v", err)
	}
	var se *SuccessorError
	if err := m.CheckSuccessor(prev, Hash([]byte("x"))); !errors.As(err, &se) {
		t.Errorf("CheckSuccessor hash: %v", err)
	}
	prev.Version = 5
	if err := m.CheckSuccessor(prev, prevHash); !errors.As(err, &se) || !strings.Contains(err.Error(), "does not follow") {
		t.Errorf("CheckSuccessor gap: %v", err)
	}

	h := Hash([]byte("this manifest"))
	if err := m.CheckSeen(0, "", h); err != nil {
		t.Error(err)
	}
	if err := m.CheckSeen(7, h, h); err != nil {
		t.Error(err)
	}
	if err := m.CheckSeen(6, "x", h); err != nil {
		t.Error(err)
	}
	var rb *RollbackError
	if err := m.CheckSeen(8, "x", h); !errors.As(err, &rb) || fail.KindOf(err) != fail.Untrusted {
		t.Errorf("rollback: %v", err)
	}
	var eq *EquivocationError
	if err := m.CheckSeen(7, Hash([]byte("other")), h); !errors.As(err, &eq) || fail.KindOf(err) != fail.Security {
		t.Errorf("equivocation: %v", err)
	}
}

func FuzzParseManifest(f *testing.F) {
	good, err := exampleManifest().Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	v1 := exampleManifest()
	v1.Version, v1.Previous, v1.Keys = 1, "", nil
	b, err := v1.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"format":"keyctl-manifest/1"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseManifest(data)
		if err != nil {
			return
		}
		b, err := m.Marshal()
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("accepted input does not round-trip: %v", err)
		}
		if !m.Expires.After(m.Issued) {
			t.Fatal("accepted a manifest that expires before it is issued")
		}
	})
}

func BenchmarkVerifyManifest(b *testing.B) {
	r := edTestRoots(b)
	set := mustSet(b, 2, r[0], r[1], r[2])
	issued := time.Now().UTC().Truncate(time.Second)
	_, data, sigs := signedManifest(b, set, issued, 1000, r[0], r[1])
	now := issued.Add(time.Hour)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := VerifyManifest(data, sigs, set, now); err != nil {
			b.Fatal(err)
		}
	}
}
