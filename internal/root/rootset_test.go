package root

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"golang.org/x/mod/sumdb/note"

	"github.com/keyctl/keyctl/internal/fail"
)

// history is a published root history for tests: version → (data, sigs).
type history map[uint64][2][]byte

func (h history) fetch(v uint64) ([]byte, []byte, error) {
	e, ok := h[v]
	if !ok {
		return nil, nil, fmt.Errorf("root set %d: %w", v, ErrNotFound)
	}
	return e[0], e[1], nil
}

func signAll(tb testing.TB, data []byte, now time.Time, rs ...*testRoot) []byte {
	tb.Helper()
	var sigs [][]byte
	for _, r := range rs {
		sigs = append(sigs, mustSign(tb, r, data, now))
	}
	return mustMerge(tb, sigs...)
}

func marshal(tb testing.TB, s *RootSet) []byte {
	tb.Helper()
	b, err := s.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// buildChain: set 1 = {a,b} 2-of-2; set 2 = {b,c} 1-of-2 (a removed, c
// added); set 3 = {c,d} 2-of-2.
func buildChain(t *testing.T) (history, []*RootSet, []*testRoot) {
	r := edTestRoots(t)
	a, b, c, d := r[0], r[1], r[2], r[3]
	now := time.Now()
	s1 := mustSet(t, 2, a, b)
	s2, err := Rotate(s1, []*openpgp.Entity{c.pub}, []string{a.fpr}, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	s3, err := Rotate(s2, []*openpgp.Entity{d.pub}, []string{b.fpr}, 2, now)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Version != 2 || s3.Version != 3 || len(s3.Keys) != 2 || s3.Threshold != 2 {
		t.Fatalf("rotation results: %+v %+v", s2, s3)
	}
	h := history{}
	d1, d2, d3 := marshal(t, s1), marshal(t, s2), marshal(t, s3)
	h[1] = [2][]byte{d1, signAll(t, d1, now, a, b)}
	h[2] = [2][]byte{d2, signAll(t, d2, now, a, b, c)} // 2 of set 1, 1 of set 2
	h[3] = [2][]byte{d3, signAll(t, d3, now, c, d)}    // 1 of set 2, 2 of set 3
	return h, []*RootSet{s1, s2, s3}, r
}

func TestRotationWalk(t *testing.T) {
	h, sets, r := buildChain(t)
	now := time.Now()
	got, err := WalkChain(sets[0], h.fetch, 10, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 3 || !bytes.Equal(marshal(t, got), h[3][0]) {
		t.Fatalf("walk ended at version %d", got.Version)
	}

	// A client with only pins of the first roots bootstraps and walks.
	pinned, err := Resolve(Pins{Fingerprints: []string{r[0].fpr, r[1].fpr}, Threshold: 2}, h.fetch, 10, now)
	if err != nil || pinned.Version != 3 {
		t.Fatalf("Resolve from set 1 pins: %v %v", pinned, err)
	}
	// A client configured after the rotation with the newest roots.
	pinned, err = Resolve(Pins{Fingerprints: []string{r[2].fpr, r[3].fpr}, Threshold: 2}, h.fetch, 10, now)
	if err != nil || pinned.Version != 3 {
		t.Fatalf("Resolve from set 3 pins: %v %v", pinned, err)
	}
	// A client pinned to set 2 by its hash.
	pinned, err = Resolve(Pins{RootSetSHA256: Hash(h[2][0])}, h.fetch, 10, now)
	if err != nil || pinned.Version != 3 {
		t.Fatalf("Resolve from the hash of set 2: %v %v", pinned, err)
	}
	// A pin nobody in the history signed with.
	_, err = Resolve(Pins{Fingerprints: []string{r[4].fpr}}, h.fetch, 10, now)
	var pe *PinError
	if !errors.As(err, &pe) || pe.Reason != PinsNoMatch || fail.ExitCode(err) != 1 {
		t.Errorf("Resolve with a foreign pin: %v", err)
	}
	// Pins are fingerprints, not key IDs, and the threshold is checked.
	if _, err := Resolve(Pins{Fingerprints: []string{r[0].fpr[24:]}}, h.fetch, 10, now); err == nil {
		t.Error("key ID pin accepted")
	}
	if _, err := Resolve(Pins{Fingerprints: []string{r[0].fpr}, Threshold: 2}, h.fetch, 10, now); err == nil {
		t.Error("threshold above the pins accepted")
	}

	// The walk is bounded: 1 link allowed, 2 published.
	_, err = WalkChain(sets[0], h.fetch, 1, now)
	var tl *ChainTooLongError
	if !errors.As(err, &tl) {
		t.Errorf("bounded walk: %v", err)
	}
	if _, err := Resolve(Pins{Fingerprints: []string{r[0].fpr, r[1].fpr}, Threshold: 2}, h.fetch, 2, now); !errors.As(err, &tl) {
		t.Errorf("bounded Resolve: %v", err)
	}
	// A fetch error that is not "not found" stops the walk.
	broken := func(v uint64) ([]byte, []byte, error) {
		if v == 2 {
			return nil, nil, errors.New("connection reset")
		}
		return h.fetch(v)
	}
	if _, err := WalkChain(sets[0], broken, 10, now); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("fetch error: %v", err)
	}
}

// Pins must name one root set exactly. Set 1 = {a,b,c} 2-of-3: a client
// pinning only a, or all three with threshold 1, is refused and told what
// to pin; so is a hash no published set has.
func TestResolvePinsWholeSet(t *testing.T) {
	r := edTestRoots(t)
	a, b, c := r[0], r[1], r[2]
	now := time.Now()
	s1 := mustSet(t, 2, a, b, c)
	d1 := marshal(t, s1)
	h := history{1: {d1, signAll(t, d1, now, a, b)}}
	cases := map[string]Pins{
		"one key":         {Fingerprints: []string{a.fpr}},
		"lower threshold": {Fingerprints: []string{a.fpr, b.fpr, c.fpr}, Threshold: 1},
		"two keys":        {Fingerprints: []string{a.fpr, b.fpr}, Threshold: 2},
	}
	for name, pins := range cases {
		_, err := Resolve(pins, h.fetch, 10, now)
		var pe *PinError
		if !errors.As(err, &pe) || pe.Reason != PinsIncomplete || fail.ExitCode(err) != 1 {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !strings.Contains(err.Error(), "do not cover the whole root set") {
			t.Errorf("%s: message %q", name, err)
		}
		hints := strings.Join(fail.HintsOf(err), "\n")
		for _, want := range []string{"--root-set sha256:" + Hash(d1), "--root " + a.fpr, "--root " + b.fpr, "--root " + c.fpr, "--threshold 2"} {
			if !strings.Contains(hints, want) {
				t.Errorf("%s: hints lack %q:\n%s", name, want, hints)
			}
		}
	}
	for name, pins := range map[string]Pins{
		"all keys":      {Fingerprints: []string{c.fpr, a.fpr, b.fpr}, Threshold: 2},
		"hash":          {RootSetSHA256: Hash(d1)},
		"hash and keys": {RootSetSHA256: Hash(d1), Fingerprints: []string{a.fpr, b.fpr, c.fpr}, Threshold: 2},
	} {
		if got, err := Resolve(pins, h.fetch, 10, now); err != nil || got.Version != 1 {
			t.Errorf("%s: %v %v", name, got, err)
		}
	}
	_, err := Resolve(Pins{RootSetSHA256: strings.Repeat("ab", 32)}, h.fetch, 10, now)
	var pe *PinError
	if !errors.As(err, &pe) || pe.Reason != PinHashMismatch || !strings.Contains(err.Error(), "root set hash mismatch") ||
		!strings.Contains(strings.Join(fail.HintsOf(err), " "), Hash(d1)) {
		t.Errorf("unknown hash: %v %v", err, fail.HintsOf(err))
	}
	if _, err := ParseRootSetPin("sha256:" + strings.ToUpper(Hash(d1))); err != nil {
		t.Errorf("upper-case pin: %v", err)
	}
	for _, bad := range []string{"", "sha256:", "sha256:abc", "md5:" + Hash(d1), Hash(d1) + "00"} {
		if _, err := ParseRootSetPin(bad); err == nil {
			t.Errorf("pin %q accepted", bad)
		}
	}
}

// One root key of a set cannot publish a set of its own that a client
// without history trusts: not by forging a later set (with set 1's
// signatures removed, so it does not match), and not after it was rotated
// out.
func TestResolveOneKeyCannotTakeOver(t *testing.T) {
	r := edTestRoots(t)
	a, b, c := r[0], r[1], r[2]
	now := time.Now()
	s1 := mustSet(t, 2, a, b, c)
	d1 := marshal(t, s1)
	forged, err := Rotate(s1, nil, []string{b.fpr, c.fpr}, 1, now) // set 2 = {a} 1-of-1
	if err != nil {
		t.Fatal(err)
	}
	f2 := marshal(t, forged)
	var le *LinkError
	for name, h := range map[string]history{
		"signed set 1":  {1: {d1, signAll(t, d1, now, a, b)}, 2: {f2, signAll(t, f2, now, a)}},
		"emptied set 1": {1: {d1, nil}, 2: {f2, signAll(t, f2, now, a)}},
	} {
		for _, pins := range []Pins{{Fingerprints: []string{a.fpr}}, {Fingerprints: []string{a.fpr, b.fpr, c.fpr}, Threshold: 2}} {
			got, err := Resolve(pins, h.fetch, 10, now)
			if err == nil || fail.ExitCode(err) != 1 {
				t.Errorf("%s, pins %v: trusted %v", name, pins, got)
			}
			if name == "signed set 1" && !errors.As(err, &le) {
				t.Errorf("%s, pins %v: want a link error, got %v", name, pins, err)
			}
		}
	}
	if _, err := Resolve(Pins{Fingerprints: []string{a.fpr}}, history{1: {d1, signAll(t, d1, now, a, b)}, 2: {f2, signAll(t, f2, now, a)}}.fetch, 10, now); !errors.As(err, &le) || le.Reason != LinkNotSignedByPrevious ||
		!strings.Contains(err.Error(), "not signed by a threshold of root set 1") {
		t.Errorf("forged set 2: %v", err)
	}

	// a rotated out: set 1 = {a}, set 2 = {b}; a forges set 3 = {a}.
	o1 := mustSet(t, 1, a)
	od1 := marshal(t, o1)
	o2, err := Rotate(o1, []*openpgp.Entity{b.pub}, []string{a.fpr}, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	od2 := marshal(t, o2)
	o3, err := Rotate(o2, []*openpgp.Entity{a.pub}, []string{b.fpr}, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	od3 := marshal(t, o3)
	for name, h := range map[string]history{
		"signed":        {1: {od1, signAll(t, od1, now, a)}, 2: {od2, signAll(t, od2, now, a, b)}, 3: {od3, signAll(t, od3, now, a)}},
		"emptied set 1": {1: {od1, nil}, 2: {od2, signAll(t, od2, now, a, b)}, 3: {od3, signAll(t, od3, now, a)}},
	} {
		if got, err := Resolve(Pins{Fingerprints: []string{a.fpr}}, h.fetch, 10, now); err == nil {
			t.Errorf("rotated-out key, %s: trusted %v", name, got)
		}
	}
}

func TestRotationRefusals(t *testing.T) {
	h, sets, r := buildChain(t)
	a, b, c, d := r[0], r[1], r[2], r[3]
	now := time.Now()
	d2 := h[2][0]

	// Signed only by the new keys: c is set 2's only new key, and set 2's
	// threshold is 1, so c alone meets the new side but not the old.
	_, err := VerifyLink(sets[0], d2, signAll(t, d2, now, c), now)
	var le *LinkError
	if !errors.As(err, &le) || le.Reason != LinkNotSignedByPrevious || le.Threshold.Have != 0 || le.Threshold.Need != 2 {
		t.Fatalf("new-keys-only link: %v", err)
	}
	if fail.ExitCode(err) != 1 || len(fail.HintsOf(err)) == 0 {
		t.Errorf("link error kind/hints: %v %v", fail.KindOf(err), fail.HintsOf(err))
	}
	// Half of the old threshold.
	if _, err := VerifyLink(sets[0], d2, signAll(t, d2, now, a, c), now); !errors.As(err, &le) || le.Reason != LinkNotSignedByPrevious {
		t.Errorf("1 of 2 old keys: %v", err)
	}
	// Old keys only: the new keys never proved they exist.
	if _, err := VerifyLink(sets[0], d2, signAll(t, d2, now, a), now); !errors.As(err, &le) {
		t.Errorf("old key alone: %v", err)
	}
	d3 := h[3][0]
	if _, err := VerifyLink(sets[1], d3, signAll(t, d3, now, b, c), now); !errors.As(err, &le) || le.Reason != LinkNotSignedByNew {
		t.Errorf("set 3 without its own threshold: %v", err)
	}
	// Skipping a version: set 3 after set 1, even signed by everyone.
	if _, err := VerifyLink(sets[0], d3, signAll(t, d3, now, a, b, c, d), now); !errors.As(err, &le) || le.Reason != LinkVersion {
		t.Errorf("skipped version: %v", err)
	}
	// A walk over a history with a gap: version 2 missing → ends at 1,
	// version 2 replaced by a set claiming version 3 → refused.
	gap := history{1: h[1], 3: h[3]}
	if got, err := WalkChain(sets[0], gap.fetch, 10, now); err != nil || got.Version != 1 {
		t.Errorf("walk with missing version 2: %v %v", got, err)
	}
	skip := history{1: h[1], 2: [2][]byte{d3, signAll(t, d3, now, a, b, c, d)}}
	if _, err := WalkChain(sets[0], skip.fetch, 10, now); !errors.As(err, &le) || le.Reason != LinkVersion {
		t.Errorf("walk with a skipping link: %v", err)
	}
	// Another repository.
	other := *sets[1]
	other.Repository = "evil.example.org"
	od := marshal(t, &other)
	if _, err := VerifyLink(sets[0], od, signAll(t, od, now, a, b, c), now); !errors.As(err, &le) || le.Reason != LinkRepository {
		t.Errorf("repository change: %v", err)
	}
	// A link signed when the keys were valid stays valid after they expire.
	later := t0.Add(DefaultRootValidity + 24*time.Hour)
	if _, err := VerifyLink(sets[0], d2, h[2][1], later); err != nil {
		t.Errorf("historic link refused after key expiry: %v", err)
	}
}

func TestRotateRefuses(t *testing.T) {
	r := edTestRoots(t)
	now := time.Now()
	s1 := mustSet(t, 1, r[0], r[1])
	cases := map[string]func() (*RootSet, error){
		"remove unknown": func() (*RootSet, error) { return Rotate(s1, nil, []string{r[3].fpr}, 0, now) },
		"remove all":     func() (*RootSet, error) { return Rotate(s1, nil, []string{r[0].fpr, r[1].fpr}, 0, now) },
		"threshold high": func() (*RootSet, error) { return Rotate(s1, nil, []string{r[0].fpr}, 2, now) },
		"add and remove": func() (*RootSet, error) { return Rotate(s1, []*openpgp.Entity{r[0].pub}, []string{r[0].fpr}, 0, now) },
		"secret key":     func() (*RootSet, error) { return Rotate(s1, []*openpgp.Entity{r[2].signer}, nil, 0, now) },
		"key ID removal": func() (*RootSet, error) { return Rotate(s1, nil, []string{r[0].fpr[24:]}, 0, now) },
		"expired new key": func() (*RootSet, error) {
			return Rotate(s1, []*openpgp.Entity{r[2].pub}, nil, 0, t0.Add(DefaultRootValidity+time.Hour))
		},
	}
	for name, f := range cases {
		if _, err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// Re-adding a key already in the set replaces it (a refreshed copy).
	s2, err := Rotate(s1, []*openpgp.Entity{r[1].pub}, nil, 2, now)
	if err != nil || len(s2.Keys) != 2 || s2.Threshold != 2 || s2.Version != 2 {
		t.Errorf("refresh rotation: %+v %v", s2, err)
	}
}

func TestParseRootSet(t *testing.T) {
	r := edTestRoots(t)
	s := mustSet(t, 2, r[0], r[1], r[2])
	good := marshal(t, s)
	got, err := ParseRootSet(good)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(marshal(t, got), good) || got.Threshold != 2 || got.Repository != "charts.example.org" {
		t.Fatalf("round trip changed the set")
	}
	if !strings.HasPrefix(string(good), "{\n  \"format\": \"keyctl-rootset/1\",\n") {
		t.Errorf("format line is not first:\n%.80s", good)
	}
	secret := *s
	secret.Keys = append([]RootKey(nil), s.Keys...)
	secret.Keys[0] = RootKey{Fingerprint: r[0].fpr, Public: mustDearmor(t, r[0].secret)}
	secret.entities = nil
	swapped := *s
	swapped.Keys = append([]RootKey(nil), s.Keys...)
	swapped.Keys[0].Public = s.Keys[1].Public
	swapped.entities = nil
	for _, k := range []*RootSet{&secret, &swapped} {
		if _, err := k.Marshal(); err == nil {
			t.Errorf("Marshal accepted a bad set")
		}
	}
	edits := map[string]func(string) string{
		"unknown field": func(s string) string { return strings.Replace(s, `"version"`, `"extra": 1, "version"`, 1) },
		"format":        func(s string) string { return strings.Replace(s, "keyctl-rootset/1", "keyctl-rootset/2", 1) },
		"threshold 0":   func(s string) string { return strings.Replace(s, `"threshold": 2`, `"threshold": 0`, 1) },
		"threshold 4":   func(s string) string { return strings.Replace(s, `"threshold": 2`, `"threshold": 4`, 1) },
		"version 0":     func(s string) string { return strings.Replace(s, `"version": 1`, `"version": 0`, 1) },
		"not canonical": func(s string) string { return strings.Replace(s, "  ", "   ", 1) },
		"duplicate key": func(s string) string {
			return strings.Replace(s, `"threshold": 2`, `"threshold": 2, "threshold": 2`, 1)
		},
		"trailing":       func(s string) string { return s + "{}" },
		"fingerprint lc": func(s string) string { return strings.Replace(s, r[0].fpr, strings.ToLower(r[0].fpr), 1) },
		"duplicate fpr":  func(s string) string { return strings.Replace(s, s2fpr(s, 1), s2fpr(s, 0), 1) },
		"repository":     func(s string) string { return strings.Replace(s, "charts.example.org", "charts example", 1) },
	}
	for name, edit := range edits {
		bad := edit(string(good))
		if bad == string(good) {
			t.Fatalf("%s: edit changed nothing", name)
		}
		if _, err := ParseRootSet([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := ParseRootSet(bytes.Repeat([]byte(" "), MaxRootSetSize+1)); err == nil {
		t.Error("oversized root set accepted")
	}
}

// s2fpr returns the i-th fingerprint in a marshaled root set.
func s2fpr(s string, i int) string {
	parts := strings.Split(s, `"fingerprint": "`)
	return parts[i+1][:strings.Index(parts[i+1], `"`)]
}

func FuzzParseRootSet(f *testing.F) {
	r := edTestRoots(f)
	f.Add(marshal(f, mustSet(f, 1, r[0])))
	f.Add(marshal(f, mustSet(f, 2, r[0], r[1], r[2])))
	f.Add([]byte(`{"format":"keyctl-rootset/1","repository":"x","version":1,"threshold":1,"keys":[]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseRootSet(data)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to the same bytes and is usable.
		b, err := s.Marshal()
		if err != nil || !bytes.Equal(b, data) {
			t.Fatalf("accepted input does not round-trip: %v", err)
		}
		if s.Threshold < 1 || s.Threshold > len(s.Keys) {
			t.Fatalf("threshold %d with %d keys", s.Threshold, len(s.Keys))
		}
		if _, err := Verify([]byte("x"), nil, s, time.Now()); err == nil {
			t.Fatal("no signatures verified")
		}
	})
}

func TestRootSetLogKey(t *testing.T) {
	r := edTestRoots(t)
	s := mustSet(t, 1, r[0])
	_, vkey, err := note.GenerateKey(nil, "charts.example.org/keyctl-log")
	if err != nil {
		t.Fatal(err)
	}
	s.Log = vkey
	data := marshal(t, s)
	if !strings.Contains(string(data), "\"threshold\": 1,\n  \"log\": \""+vkey+"\",\n  \"keys\"") {
		t.Fatalf("log field not after threshold:\n%s", data)
	}
	got, err := ParseRootSet(data)
	if err != nil || got.Log != vkey {
		t.Fatalf("round trip: %v, %q", err, got.Log)
	}
	next, err := Rotate(got, []*openpgp.Entity{r[1].pub}, nil, 1, time.Now())
	if err != nil || next.Log != vkey {
		t.Fatalf("rotation dropped the log key: %v %q", err, next.Log)
	}
	for _, bad := range []string{"not a key", "PRIVATE+KEY+x+00000000+AAAA", strings.Repeat("a", 600)} {
		s.Log = bad
		if _, err := s.Marshal(); err == nil {
			t.Errorf("log key %.20q accepted", bad)
		}
		forged := strings.Replace(string(data), vkey, bad, 1)
		if _, err := ParseRootSet([]byte(forged)); err == nil {
			t.Errorf("root set with log key %.20q parsed", bad)
		}
	}
}

// TestVerifyHistoric: a manifest read back from the log was signed after
// it was issued (offline signing); judged at each signature's time it
// verifies, while a signature dated after now still does not count.
func TestVerifyHistoric(t *testing.T) {
	r := edTestRoots(t)
	s := mustSet(t, 1, r[0])
	data := []byte("a manifest issued an hour before it was signed")
	now := time.Now()
	sig := signAll(t, data, now, r[0])
	issued := now.Add(-time.Hour)
	if _, err := Verify(data, sig, s, issued); err == nil {
		t.Fatal("Verify at the issue time accepted a later signature: the test does not show the case")
	}
	if _, err := VerifyHistoric(data, sig, s, now); err != nil {
		t.Fatalf("VerifyHistoric: %v", err)
	}
	if _, err := VerifyHistoric(data, sig, s, now.Add(-time.Hour)); err == nil {
		t.Fatal("a signature dated after now was counted")
	}
}
