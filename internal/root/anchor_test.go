package root

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"golang.org/x/mod/sumdb/note"
)

// TestAuthenticate checks a signing directory against the holder's pins:
// the chain from the pinned set, the published manifest's signatures, the
// rotation's version, and the root set change it prints.
func TestAuthenticate(t *testing.T) {
	r := edTestRoots(t)
	now := time.Now()
	set1 := mustSet(t, 2, r[0], r[1])
	b1, _ := set1.Marshal()
	set2, err := Rotate(set1, []*openpgp.Entity{r[2].pub}, nil, 2, now)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := set2.Marshal()
	chain := []AnchorLink{
		{1, b1, mustMerge(t, mustSign(t, r[0], b1, now), mustSign(t, r[1], b1, now))},
		{2, b2, mustMerge(t, mustSign(t, r[0], b2, now), mustSign(t, r[1], b2, now))},
	}
	cert, fpr := testCert(t, "alice")
	f1, _ := publishFiles(t, set2, 1, "", cert, fpr)
	prev := f1[ManifestName]
	prevSigs := mustMerge(t, mustSign(t, r[0], prev, now), mustSign(t, r[2], prev, now))
	files := without(mustPublish(t, set2, 2, Hash(prev), cert, fpr), "rootset-1.json")

	review := func(files map[string][]byte, previous []byte, an *Anchor) *Review {
		t.Helper()
		d := filepath.Join(t.TempDir(), "d")
		if err := WriteDirAnchored(d, files, previous, an); err != nil {
			t.Fatal(err)
		}
		rev, err := ReviewDir(d)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	pinHash := func(b []byte) Pins { return Pins{RootSetSHA256: Hash(b)} }

	// A forged link 2 (the attacker's keys, self-signed) and a forged
	// previous manifest (mallory added, the new manifest re-pointed at it).
	forged2 := mustSet(t, 1, r[3])
	forged2.Version = 2
	fb2, _ := forged2.Marshal()
	badChain := []AnchorLink{chain[0], {2, fb2, mustSign(t, r[3], fb2, now)}}
	fakePrev, _ := publishFiles(t, set2, 1, "", append(append([]byte(nil), cert...), mustCert(t)...), fpr)
	fakeFiles := without(mustPublish(t, set2, 2, Hash(fakePrev[ManifestName]), cert, fpr), "rootset-1.json")

	for name, tc := range map[string]struct {
		files    map[string][]byte
		previous []byte
		anchor   *Anchor
		pins     Pins
		want     string
	}{
		"pin current":      {files, prev, &Anchor{chain, prevSigs}, pinHash(b2), ""},
		"pin older":        {files, prev, &Anchor{chain, prevSigs}, pinHash(b1), ""},
		"pin fingerprints": {files, prev, &Anchor{chain, prevSigs}, Pins{Fingerprints: set2.Fingerprints(), Threshold: 2}, ""},
		"pin too few":      {files, prev, &Anchor{chain, prevSigs}, Pins{Fingerprints: set2.Fingerprints(), Threshold: 1}, "no root set of the directory's chain"},
		"pin other":        {files, prev, &Anchor{chain, prevSigs}, pinHash(fb2), "no root set of the directory's chain"},
		"forged link":      {files, prev, &Anchor{badChain, prevSigs}, pinHash(b1), "not signed by a threshold of root set 1"},
		"one signature":    {files, prev, &Anchor{chain, mustSign(t, r[0], prev, now)}, pinHash(b2), "1 valid root signature"},
		"forged previous":  {fakeFiles, fakePrev[ManifestName], &Anchor{chain, prevSigs}, pinHash(b2), "valid root signature"},
		"no sigs":          {files, prev, &Anchor{Chain: chain}, pinHash(b2), "previous-manifest.json.sig"},
		"no anchor":        {files, prev, nil, pinHash(b2), "is missing"},
		"truncated chain":  {files, prev, &Anchor{chain[:1], prevSigs}, pinHash(b1), "names root set 2, which is not the pinned root set or one that follows it"},
	} {
		rev := review(tc.files, tc.previous, tc.anchor)
		err := rev.Authenticate(tc.pins, now)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if err == nil && (!rev.Anchor.Pinned || rev.Anchor.Current.Version != 2 || len(rev.Anchor.PreviousSigners) != 2) {
			t.Errorf("%s: anchor %+v", name, rev.Anchor)
		}
	}

	// Unpinned: a summary under a warning, marked not pinned.
	rev := review(files, prev, &Anchor{chain, prevSigs})
	if err := rev.Authenticate(Pins{}, now); err != nil || rev.Anchor.Pinned {
		t.Fatalf("unpinned: %v %+v", err, rev.Anchor)
	}
	var out bytes.Buffer
	rev.Write(&out)
	if !strings.Contains(out.String(), "WARNING: no root set is pinned") || !strings.Contains(out.String(), "NOT authenticated") {
		t.Errorf("unpinned summary:\n%s", out.String())
	}

	// A rotation shows every key of the current set kept or dropped.
	set3, err := Rotate(set2, []*openpgp.Entity{r[3].pub}, []string{r[1].fpr}, 2, now)
	if err != nil {
		t.Fatal(err)
	}
	_, vkey, err := note.GenerateKey(rand.Reader, "charts.example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	set3.Log = vkey
	b3, _ := set3.Marshal()
	rot := review(map[string][]byte{"rootset-3.json": b3}, nil, &Anchor{Chain: chain})
	if err := rot.Authenticate(pinHash(b1), now); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	rot.Write(&out)
	for _, want := range []string{
		"current root set 2 (sha256:" + Hash(b2) + ", authenticated by your pinned root set)",
		"root set change 2 -> 3: threshold 2 of 3 -> 2 of 3",
		"= kept     " + r[0].fpr + ` "alice root`,
		"- DROPPED  " + r[1].fpr + ` "bob root`,
		"+ ADDED    " + r[3].fpr + ` "dave root`,
		"~ CHANGED  transparency log key none -> " + q(vkey),
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("rotation summary lacks %q:\n%s", want, out.String())
		}
	}
	// A rotation that does not follow the current set is refused.
	rot = review(map[string][]byte{"rootset-3.json": b3}, nil, &Anchor{Chain: chain[:1]})
	if err := rot.Authenticate(pinHash(b1), now); err == nil || !strings.Contains(err.Error(), "current root set is version 1") {
		t.Errorf("rotation skipping a version: %v", err)
	}

	// First publish: nothing to compare; a pinned hash must be its root set.
	first := review(map[string][]byte{ManifestName: f1[ManifestName], PubkeysFile: cert, RevokedFile: {}, "rootset-2.json": b2}, nil, nil)
	if err := first.Authenticate(pinHash(b1), now); err == nil || !strings.Contains(err.Error(), "not the pinned root set") {
		t.Errorf("first publish, other pin: %v", err)
	}
	if err := first.Authenticate(pinHash(b2), now); err != nil {
		t.Errorf("first publish: %v", err)
	}
	out.Reset()
	first.Write(&out)
	if !strings.Contains(out.String(), "first publish: nothing to compare") {
		t.Errorf("first publish summary:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(first.Prepared.Dir, AnchorDir)); err == nil {
		t.Error("a directory without an anchor has anchor/")
	}
}

// mustPublish is publishFiles without the manifest.
func mustPublish(t *testing.T, set *RootSet, v uint64, previous string, cert []byte, fpr string) map[string][]byte {
	f, _ := publishFiles(t, set, v, previous, cert, fpr)
	return f
}
