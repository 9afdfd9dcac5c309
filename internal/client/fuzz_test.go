package client

import (
	"strings"
	"testing"
)

func FuzzParseIndex(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nentries:\n  app:\n  - name: app\n    version: 1.0.0\n    urls: [app-1.0.0.tgz]\n"))
	f.Add([]byte("apiVersion: v1\nentries: {a: [{version: 1, urls: [x]}]}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("apiVersion: v1\nentries: {a: [{name: a, version: '1', urls: [x], digest: d}]}\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := ParseIndex(data)
		if err != nil {
			return
		}
		for name, vs := range ix.Entries {
			for _, cv := range vs {
				if !validChartName(name) || cv.Name != name || cv.Version == "" || len(cv.URLs) == 0 {
					t.Fatalf("accepted %+v under %q", cv, name)
				}
			}
			if cv, err := ix.Find(name, ""); err == nil {
				if _, err := ResolveURL("https://charts.example.org/x", cv.URLs[0]); err != nil {
					continue
				}
			}
		}
	})
}

func FuzzParseState(f *testing.F) {
	good, _ := MarshalState(State{Location: "/srv", Repository: "r", Version: 2, ManifestSHA256: strings.Repeat("0f", 32), Issued: t0, RootVersion: 1})
	f.Add(good)
	f.Add([]byte(`{"format":"keyctl-client-state/1"}`))
	withLog, _ := MarshalState(State{Location: "/srv", Repository: "r", Version: 2, ManifestSHA256: strings.Repeat("0f", 32), Issued: t0, RootVersion: 1,
		Log: "example.org/log\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u2014 example.org/log AAAA\n"})
	f.Add(withLog)
	withSubkeys, _ := MarshalState(State{Location: "/srv", Repository: "r", Version: 2, ManifestSHA256: strings.Repeat("0f", 32), Issued: t0, RootVersion: 1,
		Compromised: []CompromisedKey{{Fingerprint: strings.Repeat("A", 40), Version: 2, Subkeys: []string{strings.Repeat("B", 40), strings.Repeat("C", 64)}}}})
	f.Add(withSubkeys)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseState(data)
		if err != nil {
			return
		}
		// What parses re-encodes and parses to the same state.
		again, err := MarshalState(s)
		if err != nil {
			t.Fatalf("parsed state does not marshal: %v", err)
		}
		s2, err := ParseState(again)
		if err != nil || !s2.Equal(s) {
			t.Fatalf("round trip: %+v %v", s2, err)
		}
	})
}
