package indexsig

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newKey returns a secret key and its public certificate.
func newKey(t testing.TB, name string) (*openpgp.Entity, *openpgp.Entity) {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, KeyLifetimeSecs: 365 * 24 * 3600, Time: func() time.Time { return t0.AddDate(0, -1, 0) }}
	e, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		t.Fatal(err)
	}
	pe, err := pgpkey.ReadCert(pub)
	if err != nil {
		t.Fatal(err)
	}
	return e, pe
}

func ExampleStatement_Marshal() {
	index := []byte("apiVersion: v1\nentries: {}\n")
	prov := []byte("a .prov file")
	rs := []Release{{Name: "alpha", Version: "1.0.0", ProvSHA256: Hash(prov), FirstSeen: time.Date(2026, 2, 20, 8, 0, 0, 0, time.UTC)}}
	s, _ := New("charts.example.org", index, rs, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), 0)
	b, _ := s.Marshal()
	fmt.Print(string(b))
	// Output:
	// {
	//   "format": "keyctl-index/2",
	//   "repository": "charts.example.org",
	//   "index_sha256": "b0ffa5d88041aebe0397263f77ab4f2a095f32e7cdeda476eb9194226213d4fc",
	//   "index_length": 27,
	//   "releases": [
	//     {
	//       "name": "alpha",
	//       "version": "1.0.0",
	//       "prov_sha256": "21cd110063936b3e47aa3307faef1687d018cf0ae7939ace53100d4022d1fb4d",
	//       "first_seen": "2026-02-20T08:00:00Z"
	//     }
	//   ],
	//   "issued": "2026-03-01T12:00:00Z",
	//   "expires": "2026-03-08T12:00:00Z"
	// }
}

func TestVerify(t *testing.T) {
	idxSec, idxPub := newKey(t, "index")
	mSec, mPub := newKey(t, "maintainer")
	index := []byte("apiVersion: v1\nentries: {}\n")
	s, err := New("charts.example.org", index, nil, t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, sig, err := Sign(s, idxSec)
	if err != nil {
		t.Fatal(err)
	}
	keys, others := openpgp.EntityList{idxPub}, openpgp.EntityList{mPub}
	got, signers, err := Verify(data, sig, keys, others, "charts.example.org", t0.Add(time.Hour))
	if err != nil || len(signers) != 1 || signers[0] != pgpkey.Fingerprint(idxPub) {
		t.Fatalf("good statement: %v %v", signers, err)
	}
	if err := got.CheckIndex(index); err != nil {
		t.Fatal(err)
	}
	refused := func(name string, err, kind error, want string) {
		t.Helper()
		if !errors.Is(err, kind) || fail.KindOf(err) != fail.Untrusted || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %v with %q", name, err, kind, want)
		}
	}
	refused("other index bytes", got.CheckIndex(append(index, '#')), ErrTamper, "index tamper: index.yaml (28 bytes")
	_, _, err = Verify(data, sig, keys, others, "other.example.org", t0.Add(time.Hour))
	refused("replay", err, ErrTamper, "replay")
	_, _, err = Verify(data, sig, keys, others, "charts.example.org", s.Expires)
	refused("expired", err, ErrFreeze, "index freeze: keyctl-index.json issued 2026-03-01T12:00:00Z expired at 2026-03-08T12:00:00Z")
	altered := []byte(strings.Replace(string(data), "2026-03-08", "2026-03-09", 1))
	_, _, err = Verify(altered, sig, keys, others, "charts.example.org", t0.Add(time.Hour))
	refused("altered statement", err, ErrTamper, "no valid signature by an active index key")
	_, msig, err := Sign(s, mSec)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = Verify(data, msig, keys, others, "charts.example.org", t0.Add(time.Hour))
	refused("maintainer signed", err, ErrWrongRole, "index wrong role: keyctl-index.json is signed by "+pgpkey.Fingerprint(mPub))
	_, _, err = Verify(data, []byte("junk"), keys, others, "charts.example.org", t0.Add(time.Hour))
	refused("junk signature", err, ErrTamper, "does not hold OpenPGP signatures")

	sum := Hash(data)
	if err := got.CheckSeen(sum, time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	if err := got.CheckSeen(sum, s.Issued, sum); err != nil {
		t.Fatalf("the same statement again: %v", err)
	}
	refused("older", got.CheckSeen(sum, s.Issued.Add(time.Second), Hash([]byte("x"))), ErrRollback, "index rollback: keyctl-index.json issued 2026-03-01T12:00:00Z is older")
	refused("same time other bytes", got.CheckSeen(sum, s.Issued, Hash([]byte("x"))), ErrRollback, "two different")
}

func TestParseStrict(t *testing.T) {
	s, _ := New("charts.example.org", []byte("x"), nil, t0, 0)
	good, _ := s.Marshal()
	for name, data := range map[string]string{
		"not canonical": strings.Replace(string(good), "  ", "   ", 1),
		"unknown field": strings.Replace(string(good), `"format"`, `"extra": 1, "format"`, 1),
		"format":        strings.Replace(string(good), Format, "keyctl-index/3", 1),
		"releases null": strings.Replace(string(good), `"releases": []`, `"releases": null`, 1),
		"no releases":   strings.Replace(string(good), "  \"releases\": [],\n", "", 1),
		"v1 releases":   strings.Replace(string(good), Format, FormatV1, 1),
		"too long":      strings.Replace(string(good), "2026-03-08", "2026-09-08", 1),
		"trailing":      string(good) + "{}",
		"too large":     string(good) + strings.Repeat(" ", MaxSize),
		"bad hash":      strings.Replace(string(good), s.IndexSHA256, strings.ToUpper(s.IndexSHA256), 1),
	} {
		if _, err := Parse([]byte(data)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := New("charts.example.org", []byte("x"), nil, t0, MaxValidity+time.Hour); err == nil {
		t.Error("validity over the limit accepted")
	}
}

func FuzzParse(f *testing.F) {
	s, _ := New("charts.example.org", []byte("x"), nil, t0, 0)
	good, _ := s.Marshal()
	f.Add(good)
	s2, _ := New("charts.example.org", []byte("x"), []Release{
		{Name: "alpha", Version: "1.0.0", ProvSHA256: Hash([]byte("p1")), FirstSeen: t0.Add(-time.Hour)},
		{Name: "beta", Version: "v2.0.0-rc.1", ProvSHA256: Hash([]byte("p2")), FirstSeen: t0},
	}, t0, 0)
	v2, _ := s2.Marshal()
	f.Add(v2)
	s.V1, s.Releases = true, nil
	v1, _ := s.Marshal()
	f.Add(v1)
	f.Add([]byte(`{"format":"keyctl-index/1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := Parse(data)
		if err != nil {
			return
		}
		again, err := st.Marshal()
		if err != nil || string(again) != string(data) {
			t.Fatalf("a parsed statement does not marshal back: %v", err)
		}
	})
}

func rel(name, version, prov string, seen time.Time) Release {
	return Release{Name: name, Version: version, ProvSHA256: Hash([]byte(prov)), FirstSeen: seen}
}

// Format 2 round-trips with its releases, and FirstSeen answers only for
// the exact .prov digest of a listed release.
func TestReleasesRoundTrip(t *testing.T) {
	rs := []Release{rel("beta", "1.0.0", "b", t0), rel("alpha", "2.0.0", "a2", t0.Add(-48*time.Hour)), rel("alpha", "1.0.0", "a1", t0.Add(-time.Hour))}
	s, err := New("charts.example.org", []byte("x"), rs, t0, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if got.V1 || len(got.Releases) != 3 || got.Releases[0].Version != "1.0.0" || got.Releases[1].Version != "2.0.0" || got.Releases[2].Name != "beta" {
		t.Fatalf("releases not sorted by name then version: %+v", got.Releases)
	}
	if fs := got.FirstSeen("alpha", "2.0.0", Hash([]byte("a2"))); fs == nil || !fs.Equal(t0.Add(-48*time.Hour)) {
		t.Fatalf("listed release, its .prov: %v", fs)
	}
	for _, c := range [][3]string{{"alpha", "2.0.0", "a1"}, {"alpha", "3.0.0", "a2"}, {"gamma", "1.0.0", "b"}, {"alpha", "2.0.0", ""}} {
		sum := ""
		if c[2] != "" {
			sum = Hash([]byte(c[2]))
		}
		if fs := got.FirstSeen(c[0], c[1], sum); fs != nil {
			t.Errorf("%v: first seen %v, want none", c, fs)
		}
	}
	var none *Statement
	if none.FirstSeen("alpha", "1.0.0", Hash([]byte("a1"))) != nil {
		t.Error("nil statement gives a time")
	}
}

// A format 1 statement still parses, re-encodes as format 1 and gives no
// trusted time.
func TestFormatV1(t *testing.T) {
	v1 := "{\n  \"format\": \"keyctl-index/1\",\n  \"repository\": \"charts.example.org\",\n  \"index_sha256\": \"" + Hash([]byte("x")) +
		"\",\n  \"index_length\": 1,\n  \"issued\": \"2026-03-01T12:00:00Z\",\n  \"expires\": \"2026-03-08T12:00:00Z\"\n}\n"
	s, err := Parse([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	if !s.V1 || s.Releases != nil {
		t.Fatalf("%+v", s)
	}
	again, err := s.Marshal()
	if err != nil || string(again) != v1 {
		t.Fatalf("format 1 does not re-encode: %v\n%s", err, again)
	}
	s.Releases = []Release{rel("alpha", "1.0.0", "a", t0)}
	if _, err := s.Marshal(); err == nil {
		t.Fatal("format 1 with releases accepted")
	}
	withReleases := strings.Replace(v1, "  \"issued\"", "  \"releases\": [],\n  \"issued\"", 1)
	if _, err := Parse([]byte(withReleases)); err == nil {
		t.Fatal("format 1 with a releases field accepted")
	}
}

// Each rule on releases refuses, both when signing (New) and when reading
// (Parse of otherwise canonical bytes).
func TestReleasesRefused(t *testing.T) {
	good := rel("alpha", "1.0.0", "a", t0)
	base, _ := New("charts.example.org", []byte("x"), []Release{good}, t0, 0)
	goodData, _ := base.Marshal()
	for name, tc := range map[string]struct {
		rs   []Release
		want string
	}{
		"first_seen after issued": {[]Release{rel("alpha", "1.0.0", "a", t0.Add(time.Second))}, "is after issued"},
		"duplicate":               {[]Release{good, rel("alpha", "1.0.0", "b", t0)}, "listed twice"},
		"bad name":                {[]Release{rel("../x", "1.0.0", "a", t0)}, "chart name"},
		"empty name":              {[]Release{rel("", "1.0.0", "a", t0)}, "chart name"},
		"bad version":             {[]Release{rel("alpha", "1.0/0", "a", t0)}, "version"},
		"no first_seen":           {[]Release{{Name: "alpha", Version: "1.0.0", ProvSHA256: Hash([]byte("a"))}}, "first_seen is required"},
		"bad digest":              {[]Release{{Name: "alpha", Version: "1.0.0", ProvSHA256: strings.ToUpper(Hash([]byte("a"))), FirstSeen: t0}}, "prov_sha256"},
	} {
		if _, err := New("charts.example.org", []byte("x"), tc.rs, t0, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New: %v, want %q", name, err, tc.want)
		}
		// The same statement written by hand (bypassing New's sort and
		// checks) is refused by Parse.
		s := *base
		s.Releases = tc.rs
		data := handMarshal(t, &s)
		if _, err := Parse(data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse: %v, want %q", name, err, tc.want)
		}
	}
	// Unsorted releases: New sorts them, Parse refuses them.
	s := *base
	s.Releases = []Release{rel("beta", "1.0.0", "b", t0), good}
	if _, err := Parse(handMarshal(t, &s)); err == nil || !strings.Contains(err.Error(), "not sorted") {
		t.Errorf("unsorted: %v", err)
	}
	if _, err := Parse(goodData); err != nil {
		t.Fatalf("good: %v", err)
	}
}

// handMarshal encodes s as Marshal would, without Validate.
func handMarshal(t *testing.T, s *Statement) []byte {
	t.Helper()
	rs := make([]releaseJSON, len(s.Releases))
	for i, r := range s.Releases {
		rs[i] = releaseJSON{Name: r.Name, Version: r.Version, ProvSHA256: r.ProvSHA256, FirstSeen: r.FirstSeen.UTC().Format(timeLayout)}
	}
	b, err := json.MarshalIndent(statementJSON{Format: Format, Repository: s.Repository, IndexSHA256: s.IndexSHA256, IndexLength: s.IndexLength,
		Releases: &rs, Issued: fmtTime(s.Issued), Expires: fmtTime(s.Expires)}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// The caps: at most MaxReleases releases, at most MaxSize bytes.
func TestReleasesCap(t *testing.T) {
	rs := make([]Release, MaxReleases+1)
	for i := range rs {
		rs[i] = rel(fmt.Sprintf("c%06d", i), "1.0.0", "p", t0)
	}
	if _, err := New("charts.example.org", []byte("x"), rs, t0, 0); err == nil || !strings.Contains(err.Error(), "more than the limit") {
		t.Fatalf("New with %d releases: %v", len(rs), err)
	}
	s := &Statement{Repository: "charts.example.org", IndexSHA256: Hash([]byte("x")), IndexLength: 1, Releases: rs, Issued: t0, Expires: t0.Add(time.Hour)}
	data := handMarshal(t, s)
	if _, err := Parse(data); err == nil || !strings.Contains(err.Error(), "more than the limit") {
		t.Fatalf("Parse with %d releases: %v", len(rs), err)
	}
	// MaxReleases entries with the longest names fit under MaxSize? Not
	// required; but MaxSize bytes are refused before anything is parsed.
	ok, _ := New("charts.example.org", []byte("x"), rs[:MaxReleases], t0, 0)
	okData, err := ok.Marshal()
	if err != nil || len(okData) > MaxSize {
		t.Fatalf("%d releases: %d bytes (cap %d): %v", MaxReleases, len(okData), MaxSize, err)
	}
	if _, err := Parse(okData); err != nil {
		t.Fatalf("%d releases: %v", MaxReleases, err)
	}
	big := append(okData[:len(okData):len(okData)], make([]byte, MaxSize)...)
	if _, err := Parse(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("over MaxSize: %v", err)
	}
}
