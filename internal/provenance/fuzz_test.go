package provenance_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// FuzzParse: no input panics Parse or Verify, and what parses keeps the
// promised shape. Seeds are generated: a keyctl-signed .prov and edits of it.
func FuzzParse(f *testing.F) {
	e := newEntity(f, "fuzz", t0, 0)
	good := validProvWith(f, e)
	f.Add(good)
	f.Add(bytes.Replace(good, []byte("version: 1.0.0"), []byte("version: 1.0.1"), 1))
	f.Add(good[:len(good)/2])
	f.Add([]byte("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nx\n...\nfiles: {}\n-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n"))
	ring := publicOnly(f, e)
	cfg := &packet.Config{Time: func() time.Time { return t0.Add(2 * time.Hour) }}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := provenance.Parse(data)
		if err != nil {
			return
		}
		if p.Name == "" || p.Version == "" || len(p.Files) == 0 || len(p.Issuers()) == 0 {
			t.Fatalf("parsed without name, version, files or signature: %+v", p)
		}
		_, _ = p.Verify(ring, cfg)
	})
}

func validProvWith(t testing.TB, e *openpgp.Entity) []byte {
	a := mustRead(t, mustArchive(t, charts.Spec{Name: "web", Version: "1.0.0"}))
	b, err := provenance.Sign(e, a, "web-1.0.0.tgz", t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzReadArchive: no input panics ReadArchive, and an accepted archive's
// files stay inside its directory.
func FuzzReadArchive(f *testing.F) {
	f.Add(mustArchive(f, charts.Spec{Name: "web", Version: "1.0.0"}))
	f.Add(mustArchive(f, charts.Spec{Name: "web", Version: "1.0.0", Files: map[string]string{"charts/sub/Chart.yaml": "apiVersion: v2\nname: sub\nversion: 1.0.0\n"}}))
	f.Add(makeTgz(f, []entry{{name: "web/Chart.yaml", body: chartYAML}, {name: "../evil", body: "x"}}))
	lim := provenance.Limits{MaxUncompressed: 1 << 20, MaxFileSize: 256 << 10, MaxFiles: 100, MaxArchive: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := provenance.ReadArchive(bytes.NewReader(data), lim)
		if err != nil {
			return
		}
		if a.Name == "" || a.Dir == "" || a.ChartYAML == nil || a.Size != int64(len(data)) {
			t.Fatalf("accepted archive without name, dir or Chart.yaml: %+v", a)
		}
		for p := range a.Files {
			if p == "" || p[0] == '/' || bytes.Contains([]byte("/"+p+"/"), []byte("/../")) {
				t.Fatalf("accepted path %q", p)
			}
		}
	})
}

func FuzzReadPlugin(f *testing.F) {
	f.Add(makeTgz(f, []entry{{name: "keyctl/plugin.yaml", body: "name: keyctl\nversion: 0.1.0\ncommand: $HELM_PLUGIN_DIR/keyctl.sh\n"}, {name: "keyctl/keyctl.sh", body: "#!/bin/sh\n"}}))
	f.Add(makeTgz(f, []entry{{name: "keyctl/plugin.yaml", body: "name: keyctl\n"}}))
	f.Add(mustArchive(f, charts.Spec{Name: "web", Version: "1.0.0"}))
	lim := provenance.Limits{MaxUncompressed: 1 << 20, MaxFileSize: 256 << 10, MaxFiles: 100, MaxArchive: 1 << 20}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := provenance.ReadPlugin(bytes.NewReader(data), lim)
		if err != nil {
			return
		}
		if p.Name == "" || p.Version == "" || p.Dir == "" || p.PluginYAML == nil || p.Size != int64(len(data)) {
			t.Fatalf("accepted plugin without name, version, dir or plugin.yaml: %+v", p)
		}
	})
}
