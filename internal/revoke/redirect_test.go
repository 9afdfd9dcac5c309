package revoke

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/publish"
)

// The audit checks that index.yaml's chart URLs are on the repository's
// host; a redirect from there to another host is refused as well (and a
// redirect on the same host followed).
func TestAuditRedirectStaysOnTheRepositoryHost(t *testing.T) {
	r := buildRepo(t, 2, 0)
	ks := r.keySet(t, nil)
	var otherHits atomic.Int32
	files := http.FileServer(http.Dir(r.dir))
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		otherHits.Add(1)
		files.ServeHTTP(w, req)
	}))
	defer other.Close()
	var target string // where chart files redirect to: "" serves them
	repo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/same/") {
			http.StripPrefix("/same", files).ServeHTTP(w, req)
			return
		}
		if strings.HasPrefix(req.URL.Path, "/charts/") && target != "" {
			http.Redirect(w, req, target+req.URL.Path, http.StatusFound)
			return
		}
		files.ServeHTTP(w, req)
	}))
	defer repo.Close()
	audit := func() *Report {
		t.Helper()
		rep, err := Audit(context.Background(), Options{Repository: repo.URL, Keys: ks, Now: func() time.Time { return auditNow }, Retries: 1})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	want := map[[2]string]Status{}
	for _, rel := range r.releases {
		want[rel.key()] = got(audit(), rel).Status
	}

	target = "/same"
	rep := audit()
	for _, rel := range r.releases {
		if s := got(rep, rel).Status; s != want[rel.key()] {
			t.Errorf("%s %s through a same-host redirect: %s, want %s", rel.chart, rel.version, s, want[rel.key()])
		}
	}

	target = other.URL
	rep = audit()
	for _, rel := range r.releases {
		res := got(rep, rel)
		if res.Status == Trusted {
			t.Errorf("%s %s fetched through a redirect to another host: trusted", rel.chart, rel.version)
		}
	}
	if n := otherHits.Load(); n != 0 {
		t.Fatalf("the other host was asked %d times", n)
	}

	// The policy is a parameter: cross-host allowed, the files are fetched.
	rep, err := Audit(context.Background(), Options{Repository: repo.URL, Keys: ks, Now: func() time.Time { return auditNow }, Retries: 1,
		Redirects: publish.RedirectPolicy{CrossHost: true}})
	if err != nil {
		t.Fatal(err)
	}
	if otherHits.Load() == 0 {
		t.Fatal("CrossHost: the other host was never asked")
	}
	for _, rel := range r.releases {
		if s := got(rep, rel).Status; s != want[rel.key()] {
			t.Errorf("%s %s cross-host allowed: %s, want %s", rel.chart, rel.version, s, want[rel.key()])
		}
	}
}
