package publish

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keyctl/keyctl/internal/fail"
)

// A gs:// or s3:// service that answers with a redirect: nothing is sent
// where it points, every operation fails at once (no retries), and the
// message names the status, the host that answered and the one it
// pointed to, and says what to check.
func TestStorageRedirectIsFinalAndExplained(t *testing.T) {
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
	}))
	defer other.Close()
	var hits atomic.Int32
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Location", other.URL+"/x?sig=SECRET")
		w.WriteHeader(http.StatusFound)
	}))
	defer endpoint.Close()
	host := strings.TrimPrefix(endpoint.URL, "http://")

	cases := []struct {
		name, loc, hint string
	}{
		{"gs", "gs://bkt/charts", "STORAGE_EMULATOR_HOST"},
		{"s3", s3Loc(endpoint.URL), "?region="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "gs" {
				t.Setenv("STORAGE_EMULATOR_HOST", endpoint.URL)
			} else {
				s3Env(t)
			}
			hits.Store(0)
			b := open(t, c.loc, nil)
			ctx := context.Background()
			_, err := b.Get(ctx, "pubkeys.pgp", 1<<20)
			if err == nil {
				t.Fatal("a redirect was followed")
			}
			msg := err.Error()
			t.Logf("%s\n%q", msg, fail.HintsOf(err))
			for _, want := range []string{"HTTP 302", "from " + host, "to " + other.URL, "not followed", "no redirect for " + c.name + "://"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			if strings.Contains(msg, "SECRET") || strings.Contains(msg, "kept failing") {
				t.Errorf("message %q", msg)
			}
			hints := strings.Join(fail.HintsOf(err), "\n")
			if !strings.Contains(hints, c.hint) || !strings.Contains(hints, "follows no redirect") {
				t.Errorf("hints %q do not say what to check (%s)", hints, c.hint)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("%d requests for one read: a redirect is not worth a retry", n)
			}
			if _, err := b.Exists(ctx, "pubkeys.pgp"); err == nil {
				t.Error("Exists followed a redirect")
			}
		})
	}
	if n := otherHits.Load(); n != 0 {
		t.Fatalf("%d request(s) reached the redirect's target", n)
	}
}
