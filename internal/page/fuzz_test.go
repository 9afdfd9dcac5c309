package page

import (
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/keyctl/keyctl/internal/root"
)

// FuzzRender feeds arbitrary bytes as pubkeys.pgp (bound by the manifest,
// so that Render parses them): it must never panic, and whatever it
// renders must parse to a page without active content.
func FuzzRender(f *testing.F) {
	fx := newFixture(f, "charts.example.org")
	f.Add(fx.in.Pubkeys)
	f.Add(fx.in.Revoked)
	f.Add([]byte{})
	f.Add([]byte("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n<script>\n-----END PGP PUBLIC KEY BLOCK-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fx.in
		m := *in.Manifest
		m.Files = []root.FileRef{
			{Name: root.PubkeysFile, SHA256: root.Hash(data), Length: int64(len(data))},
			m.Files[1],
		}
		in.Manifest, in.Pubkeys = &m, data
		out, err := Render(in)
		if err != nil {
			return
		}
		doc, err := html.Parse(strings.NewReader(string(out)))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range find(doc, func(*html.Node) bool { return true }) {
			switch n.Data {
			case "script", "img", "iframe", "object", "embed", "link", "form", "base", "svg", "math":
				t.Fatalf("rendered a <%s> element", n.Data)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") || a.Key == "src" {
					t.Fatalf("<%s> has attribute %s", n.Data, a.Key)
				}
			}
		}
	})
}
