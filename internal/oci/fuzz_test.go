package oci

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The distribution grammar as oras-go and distribution write it: the
// hand-written checks of ref.go must agree with it.
var (
	repositoryRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*)*$`)
	tagRE        = regexp.MustCompile(`^[\w][\w.-]{0,127}$`)
	digestRE     = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// FuzzParseManifests feeds registry manifests (untrusted) to both parsers
// and reference strings to ParseRef: no panic, and what parses is sane.
// The reference string's pieces are also checked against the grammar's
// regular expressions.
func FuzzParseManifests(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}]}`), "oci://127.0.0.1:5000/a/b:1.0.0")
	f.Add([]byte(`{"schemaVersion":2,"artifactType":"application/vnd.keyctl.published-set.v1","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[{"mediaType":"application/json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0,"annotations":{"org.opencontainers.image.title":"keyctl-manifest.json"}}]}`), "oci://h/p@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
	f.Add([]byte(`{}`), "oci://x")
	f.Add([]byte(`[]`), "oci://[::1]:5000/a__b/c-d.e/f---g:V_1.0-rc.1")
	f.Fuzz(func(t *testing.T, data []byte, ref string) {
		if m, err := ParseChartManifest(data); err == nil {
			if !ValidDigest(m.Chart.Digest) || m.Chart.Size < 0 {
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
		// The hand-written grammar against the regular expressions, on
		// the string as a repository, a tag and a digest.
		s := strings.TrimPrefix(ref, "oci://")
		if got, want := validRepository(s), repositoryRE.MatchString(s) && len(s) <= 255; got != want {
			t.Fatalf("validRepository(%q) = %v, want %v", s, got, want)
		}
		if got, want := validTag(s), tagRE.MatchString(s); got != want {
			t.Fatalf("validTag(%q) = %v, want %v", s, got, want)
		}
		if got, want := ValidDigest(s), digestRE.MatchString(s); got != want {
			t.Fatalf("ValidDigest(%q) = %v, want %v", s, got, want)
		}
	})
}

// FuzzRegistryParsers feeds what a registry (or a credential source)
// sends to the parsers of auth.go, registry.go, retry.go and creds.go: no
// panic, and their results keep their promises.
func FuzzRegistryParsers(f *testing.F) {
	f.Add(`Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull"`, `</v2/a/tags/list?last=x&n=2>; rel="next"`, []byte(`{"token":"t"}`), "120")
	f.Add(`Basic realm="x"`, `<http://other.example/v2/_catalog>; rel=next`, []byte(`{"auths":{"h":{"auth":"YTpi"}},"credsStore":"x"}`), "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(`Bearer realm="a\"b", error="insufficient_scope"`, `<;>, <x>; rel="prev"`, []byte(`{"Username":"<token>","Secret":"s"}`), "-1")
	cur, _ := url.Parse("http://127.0.0.1:5000/v2/a/tags/list")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, header, link string, body []byte, retry string) {
		if ch, err := parseChallenge(header); err == nil {
			if ch.scheme == "" || ch.scheme != strings.ToLower(ch.scheme) {
				t.Fatalf("scheme %q", ch.scheme)
			}
		}
		if u, err := nextLink(cur, link); err == nil && u != nil && (u.Host != cur.Host || u.Scheme != cur.Scheme) {
			t.Fatalf("next page %s leaves the host", u)
		}
		if tok, err := parseTokenResponse(strings.NewReader(string(body))); err == nil && (tok == "" || strings.ContainsAny(tok, "\r\n")) {
			t.Fatalf("token %q", tok)
		}
		var cf credFile
		if err := cf.parse(body); err == nil {
			if _, err := cf.lookup("h"); err != nil && strings.Contains(err.Error(), string(body)) && len(body) > 8 {
				t.Fatal("a credentials error quotes the file")
			}
		}
		_, _ = parseHelperOutput(body, "docker-credential-x")
		if d, ok := parseRetryAfter(retry, now); ok && d < 0 {
			t.Fatalf("Retry-After %q: %s", retry, d)
		}
	})
}
