package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// keyctl verify REPO/CHART: index.yaml names a chart URL on the repository's
// host, which redirects to another host serving a validly signed archive.
// Go's client would follow it; keyctl refuses and never asks the other host.
func TestVerifyRepoChartRedirectToAnotherHost(t *testing.T) {
	e := newRelEnv(t)
	m := newMaintainer(t, e.dir, "Signer")
	e.mustRun(t, "--store", e.store, "add", m.file, "--reason", "maintainer")
	site := filepath.Join(e.dir, "site")
	e.mustRun(t, "--store", e.store, "publish", "--to", site, "--root-key", e.rootKey)
	data, err := charts.Archive(charts.Spec{Name: "app", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := charts.SignBytes(m.entity, "app-1.0.0.tgz", data, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	writeFile(t, elsewhere, "app-1.0.0.tgz", data)
	writeFile(t, elsewhere, "app-1.0.0.tgz.prov", prov)
	writeFile(t, site, "index.yaml", []byte("apiVersion: v1\nentries:\n  app:\n  - name: app\n    version: 1.0.0\n    urls: [charts/app-1.0.0.tgz]\n"))
	var otherHits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		http.FileServer(http.Dir(elsewhere)).ServeHTTP(w, r)
	}))
	defer other.Close()
	target := other.URL
	repo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/charts/") {
			http.Redirect(w, r, target+strings.TrimPrefix(r.URL.Path, "/charts"), http.StatusFound)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/same/") {
			http.StripPrefix("/same", http.FileServer(http.Dir(elsewhere))).ServeHTTP(w, r)
			return
		}
		http.FileServer(http.Dir(site)).ServeHTTP(w, r)
	}))
	defer repo.Close()
	rootData, err := os.ReadFile(e.rootPub)
	if err != nil {
		t.Fatal(err)
	}
	rootCert, err := pgpkey.ReadCert(rootData)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(state string) (string, string, int) {
		cfg := filepath.Join(e.dir, "cfg-"+state+".yaml")
		os.WriteFile(cfg, []byte("repositories:\n  - name: ex\n    url: "+repo.URL+"\n    roots: ["+pgpkey.Fingerprint(rootCert)+"]\n"), 0o600)
		return runIn("--config", cfg, "verify", "ex/app", "--state", filepath.Join(e.dir, state))
	}

	out, errs, code := verify("st1")
	if code == 0 || strings.HasPrefix(out, "trusted") {
		t.Fatalf("verify followed a redirect to another host: exit %d\n%s%s", code, out, errs)
	}
	if !strings.Contains(errs, "must stay on") {
		t.Fatalf("the refusal does not say why:\n%s", errs)
	}
	if n := otherHits.Load(); n != 0 {
		t.Fatalf("the other host was asked %d times", n)
	}

	// A redirect on the repository's own host is followed.
	target = repo.URL + "/same"
	out, errs, code = verify("st2")
	if code != 0 || !strings.HasPrefix(out, "trusted: app 1.0.0") {
		t.Fatalf("same-host redirect: exit %d\n%s%s", code, out, errs)
	}
}
