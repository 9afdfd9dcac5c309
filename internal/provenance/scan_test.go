package provenance

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"testing"
)

// ScanArchive (audit) refuses exactly what ReadArchive (verify) refuses and
// reads the same chart and digest.
func TestScanArchiveIsReadArchive(t *testing.T) {
	type ent struct {
		name, body, link string
		typ              byte
	}
	tgz := func(es ...ent) []byte {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		for _, e := range es {
			typ := e.typ
			if typ == 0 {
				typ = tar.TypeReg
			}
			hd := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Linkname: e.link}
			if typ == tar.TypeReg {
				hd.Size = int64(len(e.body))
			}
			tw.WriteHeader(hd)
			tw.Write([]byte(e.body))
		}
		tw.Close()
		gz.Close()
		return buf.Bytes()
	}
	chart := "apiVersion: v2\nname: web\nversion: 1.0.0\n"
	cases := map[string][]byte{
		"good":      tgz(ent{name: "web/Chart.yaml", body: chart}, ent{name: "web/values.yaml", body: "a: 1\n"}),
		"duplicate": tgz(ent{name: "web/Chart.yaml", body: chart}, ent{name: "web/Chart.yaml", body: "apiVersion: v2\nname: redis\nversion: 1.0.0\n"}),
		"two tops":  tgz(ent{name: "web/Chart.yaml", body: chart}, ent{name: "redis/Chart.yaml", body: chart}),
		"symlink":   tgz(ent{name: "web/Chart.yaml", body: chart}, ent{name: "web/x", typ: tar.TypeSymlink, link: "/etc/passwd"}),
		"hard link": tgz(ent{name: "web/Chart.yaml", body: chart}, ent{name: "web/x", typ: tar.TypeLink, link: "web/Chart.yaml"}),
		"dot dot":   tgz(ent{name: "web/Chart.yaml", body: chart}, ent{name: "web/../x", body: "x"}),
	}
	for name, data := range cases {
		ra, rerr := ReadArchive(bytes.NewReader(data), DefaultLimits)
		sa, serr := ScanArchive(bytes.NewReader(data), DefaultLimits)
		if (rerr == nil) != (name == "good") || (serr == nil) != (rerr == nil) {
			t.Errorf("%s: ReadArchive %v, ScanArchive %v", name, rerr, serr)
			continue
		}
		if rerr != nil {
			if rerr.Error() != serr.Error() {
				t.Errorf("%s: ReadArchive says %q, ScanArchive %q", name, rerr, serr)
			}
			continue
		}
		if ra.SHA256 != sa.SHA256 || ra.Name != sa.Name || ra.Version != sa.Version || ra.Size != sa.Size || sa.Files != nil || len(ra.Files) != 2 {
			t.Errorf("%s: ReadArchive %s %s %x, ScanArchive %s %s %x", name, ra.Name, ra.Version, ra.SHA256, sa.Name, sa.Version, sa.SHA256)
		}
	}
}
