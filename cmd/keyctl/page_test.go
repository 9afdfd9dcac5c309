package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/keyctl/keyctl/internal/page"
)

// pageCore drops the render time, the one line that differs between two
// renders of the same set.
func pageCore(b []byte) string {
	return regexp.MustCompile(`(?m)^<p class="muted">Built by keyctl at .*$`).ReplaceAllString(string(b), "")
}

func TestPageCommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(dir, "state"))
	t.Setenv("KEYCTL_ACTOR", "tester")
	store := filepath.Join(dir, "k.db")
	site := filepath.Join(dir, "site")
	rk, rp := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	out := mustKC(t, "root", "create", "--name", "page root", "--secret-out", rk, "--public-out", rp, "--no-passphrase")
	rootFpr := regexp.MustCompile(`[0-9A-F]{40}`).FindString(out)
	mustKC(t, "--store", store, "init", "--repository", "charts.example.org", "--root-key", rp)

	// Nothing published yet: nothing signed to show.
	_, errOut, code := kc(t, nil, "--store", store, "page", "--out", filepath.Join(dir, "none.html"))
	if code != 2 || !strings.Contains(errOut, "has not published yet") {
		t.Fatalf("page before any publish: exit %d\n%s", code, errOut)
	}
	mustKC(t, "--store", store, "add", maintainerKey(t, dir, "alice"), "--reason", "maintainer", "--scope", "web-*")
	mustKC(t, "--store", store, "publish", "--to", site, "--root-key", rk)
	published, err := os.ReadFile(filepath.Join(site, filepath.FromSlash(page.Name)))
	if err != nil {
		t.Fatal(err)
	}

	// From the store: the page that publish wrote.
	fromStore := filepath.Join(dir, "store.html")
	if out := mustKC(t, "--store", store, "page", "--out", fromStore); !strings.Contains(out, "wrote the trust page of manifest version 1 to") {
		t.Errorf("page output: %s", out)
	}
	got, _ := os.ReadFile(fromStore)
	if pageCore(got) != pageCore(published) {
		t.Error("the page rendered from the store differs from the published one")
	}

	// From the published set, under the pinned root: the same keys and pins.
	fromRepo := filepath.Join(dir, "repo.html")
	mustKC(t, "page", "--repo", site, "--root", rootFpr, "--out", fromRepo)
	got, _ = os.ReadFile(fromRepo)
	for _, want := range []string{`id="manifest-version">1</dd>`, `data-scope="web-*"`, "alice@example.org", `data-fingerprint="` + rootFpr + `"`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("page from the repository lacks %q", want)
		}
	}
	if pageCore(got) != pageCore(published) {
		t.Error("the page rendered from the repository differs from the published one")
	}

	// A tampered manifest renders nothing: the client's checks come first.
	mp := filepath.Join(site, "keyctl-manifest.json")
	mb, _ := os.ReadFile(mp)
	if err := os.WriteFile(mp, []byte(strings.Replace(string(mb), `"web-*"`, `"*"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.html")
	_, errOut, code = kc(t, nil, "page", "--repo", site, "--root", rootFpr, "--out", bad, "--state", filepath.Join(dir, "fresh-state"))
	if code != 1 {
		t.Errorf("page of a tampered set: exit %d, want 1\n%s", code, errOut)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a page was written for a tampered set")
	}
	os.WriteFile(mp, mb, 0o644)

	// Keys changed since the publish: the store's page would not match it.
	mustKC(t, "--store", store, "add", maintainerKey(t, dir, "bob"), "--reason", "maintainer")
	_, errOut, code = kc(t, nil, "--store", store, "page", "--out", filepath.Join(dir, "stale.html"))
	if code != 2 || !strings.Contains(errOut, "since manifest version 1 was published") || !strings.Contains(errOut, "hint:") {
		t.Errorf("page of a changed store: exit %d\n%s", code, errOut)
	}

	if _, errOut, code = kc(t, nil, "--store", store, "page"); code != 2 || !strings.Contains(errOut, "--out is required") {
		t.Errorf("page without --out: exit %d\n%s", code, errOut)
	}
}

func TestPageCommandJSON(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("KEYCTL_ACTOR", "tester")
	store := filepath.Join(dir, "k.db")
	rk, rp := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	mustKC(t, "root", "create", "--name", "page root", "--secret-out", rk, "--public-out", rp, "--no-passphrase")
	mustKC(t, "--store", store, "init", "--repository", "charts.example.org", "--root-key", rp)
	mustKC(t, "--store", store, "publish", "--to", filepath.Join(dir, "site"), "--root-key", rk)
	out := mustKC(t, "--store", store, "-o", "json", "page", "--out", filepath.Join(dir, "p.html"))
	if !strings.Contains(out, `"manifest_version": 1`) || !strings.Contains(out, `"out": "`) {
		t.Errorf("page -o json: %s", out)
	}
}

func TestPublishPublicURL(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("KEYCTL_ACTOR", "tester")
	store := filepath.Join(dir, "k.db")
	site := filepath.Join(dir, "site")
	rk, rp := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	mustKC(t, "root", "create", "--name", "page root", "--secret-out", rk, "--public-out", rp, "--no-passphrase")
	mustKC(t, "--store", store, "init", "--repository", "charts.example.org", "--root-key", rp)

	_, errOut, code := kc(t, nil, "--store", store, "publish", "--to", site, "--root-key", rk, "--public-url", "https://user:pw@charts.example.org")
	if code != 2 || !strings.Contains(errOut, "--public-url must be") || strings.Contains(errOut, "pw@") {
		t.Errorf("publish with credentials in --public-url: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(site, "keyctl-manifest.json")); err == nil {
		t.Error("published despite a bad --public-url")
	}

	mustKC(t, "--store", store, "publish", "--to", site, "--root-key", rk, "--public-url", "https://charts.example.org/")
	got, err := os.ReadFile(filepath.Join(site, filepath.FromSlash(page.Name)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"keyctl verify CHART-VERSION.tgz --repo https://charts.example.org --root-set sha256:", "curl -fsSLO https://charts.example.org/pubkeys.pgp", `href="https://charts.example.org/pubkeys.pgp"`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("published page lacks %q", want)
		}
	}
	if strings.Contains(string(got), site) {
		t.Error("the published page shows the publisher's directory")
	}

	// keyctl page takes the same address.
	p := filepath.Join(dir, "p.html")
	mustKC(t, "--store", store, "page", "--out", p, "--public-url", "https://mirror.example.org")
	got, _ = os.ReadFile(p)
	if !strings.Contains(string(got), "--repo https://mirror.example.org --root-set") {
		t.Error("keyctl page --public-url is not in the page's commands")
	}
}
