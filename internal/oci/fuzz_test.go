package oci

import (
	"testing"
)

// FuzzParseManifests feeds registry manifests (untrusted) to both parsers
// and reference strings to ParseRef: no panic, and what parses is sane.
func FuzzParseManifests(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}]}`), "oci://127.0.0.1:5000/a/b:1.0.0")
	f.Add([]byte(`{"schemaVersion":2,"artifactType":"application/vnd.keyctl.published-set.v1","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"annotations":{"org.opencontainers.image.title":"keyctl-manifest.json"}}]}`), "oci://h/p@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	f.Add([]byte(`{}`), "oci://x")
	f.Fuzz(func(t *testing.T, data []byte, ref string) {
		if m, err := ParseChartManifest(data); err == nil {
			if m.Chart.Digest == "" || m.Chart.Size < 0 {
				t.Fatalf("accepted a chart manifest without a sane chart layer: %+v", m)
			}
		}
		if s, err := parseSetManifest(data); err == nil {
			if len(s.order) != len(s.layers) {
				t.Fatal("duplicate names accepted")
			}
		}
		if r, err := ParseRef(ref, true); err == nil {
			if r.Host == "" || r.Repository == "" {
				t.Fatalf("parsed %q to %+v", ref, r)
			}
			if again, err := ParseRef(r.String(), true); err != nil || again != r {
				t.Fatalf("%q does not round-trip: %+v %v", ref, again, err)
			}
		}
		_, _, _ = ParseNamespace(ref)
	})
}
