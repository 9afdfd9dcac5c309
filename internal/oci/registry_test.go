package oci

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
)

// fakeRegistry serves handler as a registry on plain HTTP and returns a
// client for it and its host.
func fakeRegistry(t *testing.T, handler http.HandlerFunc) (*Client, string) {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return newClient(t, Options{}), strings.TrimPrefix(srv.URL, "http://")
}

var chartManifest = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0},"layers":[{"mediaType":"application/vnd.cncf.helm.chart.content.v1.tar+gzip","digest":"` + DigestOf([]byte("archive")) + `","size":7}]}`)

// TestRegistryLies: a registry that serves other bytes than the digest
// asked for (manifest or blob), names another digest in
// Docker-Content-Digest, or sends an oversized manifest is refused; the
// digest mismatches are untrusted, not input errors.
func TestRegistryLies(t *testing.T) {
	ctx := context.Background()
	other := []byte(strings.Replace(string(chartManifest), `"schemaVersion":2`, `"schemaVersion":2 `, 1))
	c, host := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/manifests/sha256:"+encoded(DigestOf(chartManifest))):
			w.Header().Set("Content-Type", MediaTypeImageManifest)
			_, _ = w.Write(other)
		case strings.HasSuffix(r.URL.Path, "/manifests/lying-header"):
			w.Header().Set("Docker-Content-Digest", DigestOf(other))
			_, _ = w.Write(chartManifest)
		case strings.HasSuffix(r.URL.Path, "/manifests/huge"):
			_, _ = w.Write([]byte(`{"schemaVersion":2,"x":"` + strings.Repeat("a", MaxManifestSize) + `"}`))
		case strings.HasSuffix(r.URL.Path, "/manifests/good"):
			w.Header().Set("Docker-Content-Digest", DigestOf(chartManifest))
			_, _ = w.Write(chartManifest)
		case strings.Contains(r.URL.Path, "/blobs/"):
			_, _ = w.Write([]byte("ARCHIVE"))
		default:
			http.NotFound(w, r)
		}
	})
	ref, _ := ParseRef("oci://"+host+"/charts/app@"+DigestOf(chartManifest), false)
	if _, err := c.ResolveChart(ctx, ref); fail.KindOf(err) != fail.Untrusted {
		t.Errorf("other manifest bytes for a digest: %v", err)
	}
	ref, _ = ParseRef("oci://"+host+"/charts/app:lying-header", false)
	if _, err := c.ResolveChart(ctx, ref); fail.KindOf(err) != fail.Untrusted {
		t.Errorf("Docker-Content-Digest names other bytes: %v", err)
	}
	ref, _ = ParseRef("oci://"+host+"/charts/app:huge", false)
	if _, err := c.ResolveChart(ctx, ref); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized manifest: %v", err)
	}
	ref, _ = ParseRef("oci://"+host+"/charts/app:good", false)
	ch, err := c.ResolveChart(ctx, ref)
	if err != nil || ch.ManifestDigest != DigestOf(chartManifest) {
		t.Fatalf("%+v %v", ch, err)
	}
	if _, err := c.FetchArchive(ctx, ch); fail.KindOf(err) != fail.Untrusted || !strings.Contains(err.Error(), "does not match its digest") {
		t.Errorf("other blob bytes: %v", err)
	}
}

// TestListPagination: tag lists and catalogs follow Link rel="next"
// (relative or absolute on the same host), and refuse a next page on
// another host.
func TestListPagination(t *testing.T) {
	ctx := context.Background()
	var evil atomic.Bool
	c, host := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		switch r.URL.Path {
		case "/v2/charts/app/tags/list":
			if page < 2 {
				next := "/v2/charts/app/tags/list?page=" + strconv.Itoa(page+1)
				if page == 1 {
					next = "http://" + r.Host + next
					if evil.Load() {
						next = "http://elsewhere.example/v2/charts/app/tags/list?page=2"
					}
				}
				w.Header().Set("Link", `<`+next+`>; rel="next"`)
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"name": "charts/app", "tags": []string{"t" + strconv.Itoa(page)}})
		case "/v2/_catalog":
			if page == 0 {
				w.Header().Set("Link", `</v2/_catalog?page=1&n=1>; rel="next"`)
				_, _ = w.Write([]byte(`{"repositories":["charts/b","charts/keyctl","other/x"]}`))
				return
			}
			_, _ = w.Write([]byte(`{"repositories":["charts/a","charts/a/sub"]}`))
		default:
			http.NotFound(w, r)
		}
	})
	tags, err := c.Tags(ctx, host, "charts/app")
	if err != nil || strings.Join(tags, ",") != "t0,t1,t2" {
		t.Fatalf("tags %v %v", tags, err)
	}
	names, ok, err := c.Charts(ctx, host, "charts")
	if err != nil || !ok || strings.Join(names, ",") != "a,b" {
		t.Fatalf("catalog %v %v %v", names, ok, err)
	}
	evil.Store(true)
	if _, err := c.Tags(ctx, host, "charts/app"); err == nil || !strings.Contains(err.Error(), "another host") {
		t.Fatalf("next page on another host: %v", err)
	}
}

// TestRetryAfter: 429 and 503 are retried after what Retry-After says
// (seconds or a date), at most retryMax times; a registry that asks for a
// longer pause than maxRetryAfter gets its answer back at once.
func TestRetryAfter(t *testing.T) {
	var calls atomic.Int32
	status, after := http.StatusTooManyRequests, "2"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.Header().Set("Retry-After", after)
			w.WriteHeader(status)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	var waits []time.Duration
	tr := &retryTransport{sleep: func(_ *http.Request, d time.Duration) error { waits = append(waits, d); return nil }}
	get := func() int {
		calls.Store(0)
		waits = nil
		resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get(); s != http.StatusOK || len(waits) != 2 || waits[0] != 2*time.Second {
		t.Errorf("Retry-After 2: status %d, waits %v", s, waits)
	}
	status, after = http.StatusServiceUnavailable, time.Now().Add(5*time.Second).UTC().Format(http.TimeFormat)
	if s := get(); s != http.StatusOK || len(waits) != 2 || waits[0] < 3*time.Second || waits[0] > 6*time.Second {
		t.Errorf("Retry-After date: status %d, waits %v", s, waits)
	}
	status, after = http.StatusTooManyRequests, "3600"
	if s := get(); s != http.StatusTooManyRequests || len(waits) != 0 || calls.Load() != 1 {
		t.Errorf("Retry-After 3600: status %d, waits %v, %d calls", s, waits, calls.Load())
	}
	status, after = http.StatusBadGateway, ""
	calls.Store(-100)
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || calls.Load() != -100+retryMax+1 {
		t.Errorf("always 502: status %d after %d calls", resp.StatusCode, calls.Load()+100)
	}
	for _, w := range waits {
		if w < retryMinWait || w > retryMaxWait {
			t.Errorf("backoff %s outside [%s, %s]", w, retryMinWait, retryMaxWait)
		}
	}
}

// TestResponseErrorNamesNoSecret: the message of a refused request holds
// the method, URL without query, status and the registry's codes.
func TestResponseErrorNamesNoSecret(t *testing.T) {
	c, host := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`))
	})
	_, err := c.Tags(context.Background(), host, "charts/app")
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || !strings.Contains(err.Error(), "denied: requested access") {
		t.Fatalf("%v", err)
	}
	if u, _ := url.Parse(re.URL); u.RawQuery != "" {
		t.Fatalf("the error names a query: %s", re.URL)
	}
}

// TestSignedRedirectNotInErrors: a blob redirected to a signed URL that
// cannot be reached fails without the signature in the message.
func TestSignedRedirectNotInErrors(t *testing.T) {
	c, host := fakeRegistry(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://127.0.0.1:1/bucket/blob?X-Amz-Signature=sig-secret", http.StatusTemporaryRedirect)
	})
	r, _ := c.repository(host, "charts/app")
	_, err := r.fetchBlob(context.Background(), DescriptorFor("x", []byte("x")), 10)
	if err == nil || strings.Contains(err.Error(), "sig-secret") || !strings.Contains(err.Error(), "127.0.0.1:1/bucket/blob") {
		t.Fatalf("%v", err)
	}
}
