package root

import (
	"bytes"
	"math/rand"
	"testing"
)

// The hand-built encoding is byte for byte encoding/json's, for every shape
// a manifest can take: empty and nil lists, omitted fields, scopes with
// quotes and backslashes, large numbers.
func TestAppendManifestMatchesJSON(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	str := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(0x21 + rng.Intn(0x7e-0x21+1)) // printable ASCII, quotes and backslashes included
		}
		return string(b)
	}
	maybe := func(s string) string {
		if rng.Intn(2) == 0 {
			return ""
		}
		return s
	}
	for i := 0; i < 2000; i++ {
		j := manifestJSON{Format: ManifestFormat, Repository: str(1 + rng.Intn(20)), Version: rng.Uint64() >> uint(rng.Intn(64)),
			Issued: maybe(str(20)), Expires: str(20), Previous: maybe(str(64)),
			Root: rootRefJSON{Version: uint64(rng.Intn(5)), SHA256: str(64)}}
		switch rng.Intn(3) {
		case 1:
			j.Files = []fileRefJSON{}
		case 2:
			for n := rng.Intn(4) + 1; n > 0; n-- {
				j.Files = append(j.Files, fileRefJSON{Name: str(8), SHA256: str(64), Length: rng.Int63() - rng.Int63()})
			}
		}
		switch rng.Intn(3) {
		case 1:
			j.Keys = []keyEntryJSON{}
		case 2:
			for n := rng.Intn(5) + 1; n > 0; n-- {
				k := keyEntryJSON{Fingerprint: str(40), Status: str(6), Reason: maybe(str(9)), Added: str(20), Effective: maybe(str(20)), Role: maybe("index")}
				switch rng.Intn(3) {
				case 1:
					k.Scopes = []string{}
				case 2:
					for s := rng.Intn(3) + 1; s > 0; s-- {
						k.Scopes = append(k.Scopes, str(1+rng.Intn(12)))
					}
				}
				j.Keys = append(j.Keys, k)
			}
		}
		want, err := encodeCanonical(j)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendManifest(nil, &j)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("case %d: ok=%v\ngot:\n%s\nwant:\n%s", i, ok, got, want)
		}
	}
}

// A byte outside printable ASCII is not encoded by hand (the caller falls
// back to encoding/json).
func TestAppendManifestRefusesOtherBytes(t *testing.T) {
	for _, s := range []string{"caf\u00e9", "a\nb", "tab\t", "\x7f"} {
		j := manifestJSON{Format: ManifestFormat, Repository: s}
		if _, ok := appendManifest(nil, &j); ok {
			t.Errorf("%q encoded by hand", s)
		}
	}
}

func FuzzAppendManifest(f *testing.F) {
	f.Add("charts.example.org", "a\\\"b", "ED25519", int64(12), uint64(3))
	f.Fuzz(func(t *testing.T, repo, scope, fpr string, length int64, version uint64) {
		j := manifestJSON{Format: ManifestFormat, Repository: repo, Version: version, Root: rootRefJSON{Version: version, SHA256: fpr},
			Files: []fileRefJSON{{Name: scope, SHA256: fpr, Length: length}},
			Keys:  []keyEntryJSON{{Fingerprint: fpr, Status: repo, Scopes: []string{scope, repo}, Role: scope}}}
		got, ok := appendManifest(nil, &j)
		if !ok {
			return
		}
		want, err := encodeCanonical(j)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got:\n%s\nwant:\n%s", got, want)
		}
	})
}
