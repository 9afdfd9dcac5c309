package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/testutil/charts"
	"github.com/keyctl/keyctl/internal/testutil/peers"
)

// releaseLayout is a chart-releaser layout: index.yaml (with keyctl's
// published set) on a "pages" server at 127.0.0.1, archives and .prov files
// as "release assets" on another server at localhost, which redirects each
// download to storage on the pages server (as GitHub Releases redirect to
// their object store).
type releaseLayout struct {
	site, assets     string // folders: pages content, release asset storage
	pages, releases  *httptest.Server
	pagesURL, relURL string
	redirects        atomic.Int32
	entries          []string // index.yaml entries, in order
}

func newReleaseLayout(t *testing.T, site string) *releaseLayout {
	l := &releaseLayout{site: site, assets: t.TempDir()}
	l.pages = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/storage/") {
			http.StripPrefix("/storage", http.FileServer(http.Dir(l.assets))).ServeHTTP(w, r)
			return
		}
		http.FileServer(http.Dir(l.site)).ServeHTTP(w, r)
	}))
	t.Cleanup(l.pages.Close)
	l.pagesURL = l.pages.URL // http://127.0.0.1:PORT
	l.releases = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /download/TAG/FILE -> pages /storage/FILE, on another host.
		parts := strings.Split(r.URL.Path, "/")
		if len(parts) != 4 || parts[1] != "download" {
			http.NotFound(w, r)
			return
		}
		l.redirects.Add(1)
		http.Redirect(w, r, l.pagesURL+"/storage/"+parts[3], http.StatusFound)
	}))
	t.Cleanup(l.releases.Close)
	l.relURL = strings.Replace(l.releases.URL, "127.0.0.1", "localhost", 1)
	return l
}

// add puts an archive (and its .prov, when not nil) up as a release asset
// and lists it in index.yaml with its digest.
func (l *releaseLayout) add(t *testing.T, name, version string, archive, prov []byte) {
	file := name + "-" + version + ".tgz"
	writeFile(t, l.assets, file, archive)
	if prov != nil {
		writeFile(t, l.assets, file+".prov", prov)
	}
	sum := sha256.Sum256(archive)
	l.entries = append(l.entries, fmt.Sprintf("  %s:\n  - name: %s\n    version: %s\n    digest: %s\n    urls: [%s/download/%s-%s/%s]\n",
		name, name, version, hex.EncodeToString(sum[:]), l.relURL, name, version, file))
	l.writeIndex(t)
}

func (l *releaseLayout) writeIndex(t *testing.T) {
	// Entries of one chart are merged under one key.
	byChart := map[string][]string{}
	var order []string
	for _, e := range l.entries {
		name := strings.TrimSuffix(strings.SplitN(strings.TrimSpace(e), "\n", 2)[0], ":")
		if _, ok := byChart[name]; !ok {
			order = append(order, name)
		}
		byChart[name] = append(byChart[name], strings.SplitN(e, "\n", 2)[1])
	}
	var b strings.Builder
	b.WriteString("apiVersion: v1\nentries:\n")
	for _, n := range order {
		b.WriteString("  " + n + ":\n")
		for _, v := range byChart[n] {
			b.WriteString(v)
		}
	}
	writeFile(t, l.site, "index.yaml", []byte(b.String()))
}

func secretKeyFile(t *testing.T, m maintainer, dir string) string {
	t.Helper()
	var sec bytes.Buffer
	if err := m.entity.SerializePrivate(&sec, nil); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, filepath.Base(m.file)+".secret.gpg", sec.Bytes())
}

func TestSignedIndexChartReleaser(t *testing.T) {
	t.Setenv("KEYCTL_PEERS_DIR", peers.Dir()) // before newRelEnv moves HOME
	e := newRelEnv(t)
	maint := newMaintainer(t, e.dir, "Maint")
	maintSecret := secretKeyFile(t, maint, e.dir)
	e.mustRun(t, "--store", e.store, "add", maint.file, "--reason", "maintainer")

	// The index key is made by GnuPG, so that gpgv checks what it signs.
	g := peers.NewGnuPG(t)
	ifpr := g.QuickGenKey(t, "CI Index <ci@example.org>", "ed25519", "sign", "1y")
	isec := g.ExportSecret(t, ifpr)
	indexSecret := writeFile(t, e.dir, "ci-index.gpg", isec)
	ient, err := pgpkey.ReadCert(isec)
	if err != nil {
		t.Fatal(err)
	}
	indexKey := maintainer{fpr: ifpr, file: writeFile(t, e.dir, "ci-index.asc", g.ExportArmored(t, ifpr)), entity: ient}

	// A Helm maintainer (GnuPG key) signs with helm package --sign, Helm 3 and 4.
	hfpr := g.QuickGenKey(t, "Helm Maint <helm@example.org>", "ed25519", "sign", "1y")
	hpub := writeFile(t, e.dir, "helm.asc", g.ExportArmored(t, hfpr))
	hsec := writeFile(t, e.dir, "helm-secring.gpg", g.ExportSecret(t, hfpr))
	e.mustRun(t, "--store", e.store, "add", hpub, "--reason", "helm maintainer")

	site := filepath.Join(e.dir, "site")
	e.mustRun(t, "--store", e.store, "publish", "--to", site, "--root-key", e.rootKey)
	l := newReleaseLayout(t, site)

	signed := func(name, version string, signer maintainer, at time.Time) ([]byte, []byte) {
		data, err := charts.Archive(charts.Spec{Name: name, Version: version})
		if err != nil {
			t.Fatal(err)
		}
		prov, err := charts.SignBytes(signer.entity, name+"-"+version+".tgz", data, at)
		if err != nil {
			t.Fatal(err)
		}
		return data, prov
	}
	signedAt := time.Now()
	a1, p1 := signed("app", "1.0.0", maint, signedAt)
	l.add(t, "app", "1.0.0", a1, p1)
	a2, p2 := signed("app", "1.1.0", maint, signedAt)
	l.add(t, "app", "1.1.0", a2, p2)
	for _, h := range []struct {
		name string
		bin  func(testing.TB) string
	}{{"h3", peers.Helm3}, {"h4", peers.Helm4}} {
		src := charts.WriteSource(t, t.TempDir(), charts.Spec{Name: h.name, Version: "2.0.0"})
		tgz := charts.HelmPackage(t, h.bin(t), nil, src, t.TempDir(), "--sign", "--keyring", hsec, "--key", "Helm Maint")
		data, _ := os.ReadFile(tgz)
		prov, _ := os.ReadFile(tgz + ".prov")
		l.add(t, h.name, "2.0.0", data, prov)
	}

	rootData, _ := os.ReadFile(e.rootPub)
	rootCert, err := pgpkey.ReadCert(rootData)
	if err != nil {
		t.Fatal(err)
	}
	rootFpr := pgpkey.Fingerprint(rootCert)
	cfg := writeFile(t, e.dir, "cfg.yaml", []byte("repositories:\n  - name: ex\n    url: "+l.pagesURL+"\n    roots: ["+rootFpr+"]\n"))
	state := filepath.Join(e.dir, "state")
	verify := func(chart string, env ...string) (string, string, int) {
		t.Helper()
		for i := 0; i+1 < len(env); i += 2 {
			t.Setenv(env[i], env[i+1])
		}
		defer os.Unsetenv("KEYCTL_NOW")
		return runIn("--config", cfg, "verify", "ex/"+chart, "--state", state)
	}
	refused := func(name string, out, errs string, code int, want string) {
		t.Helper()
		if code != 1 || !strings.Contains(errs, want) {
			t.Fatalf("%s: exit %d, want 1 with %q\n%s%s", name, code, want, out, errs)
		}
	}

	// Without index keys the archives' host is refused, with a hint.
	out, errs, code := verify("app")
	if code == 0 || !strings.Contains(errs, "is not the repository's host") || !strings.Contains(errs, "--role index") {
		t.Fatalf("cross-host chart without index keys: exit %d\n%s%s", code, out, errs)
	}

	// The team lead adds an index key and publishes; CI signs the index.
	out = e.mustRun(t, "--store", e.store, "add", indexKey.file, "--role", "index", "--reason", "CI signs index.yaml")
	if !strings.Contains(out, "role index") {
		t.Fatalf("add --role index printed:\n%s", out)
	}
	list := e.mustRun(t, "--store", e.store, "list")
	if !strings.Contains(list, indexKey.fpr+"  index") || !strings.Contains(list, maint.fpr+"  maintainer") {
		t.Fatalf("list does not show roles:\n%s", list)
	}
	status := e.mustRun(t, "--store", e.store, "status", "-o", "json")
	if !strings.Contains(status, `"index": 1`) || !strings.Contains(status, `"maintainer": 2`) {
		t.Fatalf("status -o json does not count roles:\n%s", status)
	}
	e.mustRun(t, "--store", e.store, "publish", "--to", site, "--root-key", e.rootKey)
	pub, _ := os.ReadFile(filepath.Join(site, "pubkeys.pgp"))
	idx, _ := os.ReadFile(filepath.Join(site, "indexkeys.pgp"))
	manifest, _ := os.ReadFile(filepath.Join(site, "keyctl-manifest.json"))
	if len(idx) == 0 || !strings.Contains(string(manifest), `"role": "index"`) || !strings.Contains(string(manifest), "indexkeys.pgp") {
		t.Fatalf("the publish does not carry the index key: indexkeys.pgp %d bytes, manifest:\n%s", len(idx), manifest)
	}
	if ring, err := pgpkey.ReadKeyring(pub, pgpkey.MaxKeyringSize); err != nil || len(ring) != 2 {
		t.Fatalf("pubkeys.pgp holds %d keys (%v), want the 2 maintainers only", len(ring), err)
	}

	// A chart signed by the index key: helm verify --keyring pubkeys.pgp
	// refuses it, keyctl says wrong role.
	ra, rp := signed("rogue", "1.0.0", indexKey, signedAt)
	rtgz := writeFile(t, e.dir, "rogue-1.0.0.tgz", ra)
	writeFile(t, e.dir, "rogue-1.0.0.tgz.prov", rp)
	if o, errb, err := charts.Helm(t, peers.Helm3(t), nil, "verify", "--keyring", filepath.Join(site, "pubkeys.pgp"), rtgz); err == nil {
		t.Fatalf("helm verify --keyring pubkeys.pgp accepted a chart signed by an index key:\n%s%s", o, errb)
	}
	l.add(t, "rogue", "1.0.0", ra, rp)

	// No statement yet: refused as index tamper.
	out, errs, code = verify("app")
	refused("no statement", out, errs, code, "index tamper: the repository names index keys, but it serves no keyctl-index.json")

	// CI passes chart-releaser's package folder (here: the release asset
	// storage), where the .prov files are.
	signIndex := func(key string, extra ...string) string {
		t.Helper()
		return e.mustRun(t, append([]string{"--store", e.store, "index", "sign", site, "--key", key, "--charts", l.assets}, extra...)...)
	}
	// rogue's .prov, signed by the index key (not in pubkeys.pgp), is not
	// bound: only a .prov that verifies with the governed keyring is.
	if out, errs, code := runIn("--store", e.store, "index", "sign", site, "--key", indexSecret, "--charts", l.assets); code != 0 ||
		!strings.Contains(out, "bound the .prov of 4 of 5 releases (4 new or changed, 0 carried over)") ||
		!strings.Contains(errs, "not bound: "+filepath.Join(l.assets, "rogue-1.0.0.tgz.prov")+" (its signature does not verify with pubkeys.pgp)") {
		t.Fatalf("index sign: exit %d\n%s%s", code, out, errs)
	}
	stmt1, _ := os.ReadFile(filepath.Join(site, "keyctl-index.json"))
	sig1, _ := os.ReadFile(filepath.Join(site, "keyctl-index.json.sig"))
	index1, _ := os.ReadFile(filepath.Join(site, "index.yaml"))
	// Stock tools check it by hand (docs/manifest.md).
	peers.Run(t, []string{"GNUPGHOME=" + t.TempDir()}, peers.GPGV(t), "--keyring", filepath.Join(site, "indexkeys.pgp"),
		filepath.Join(site, "keyctl-index.json.sig"), filepath.Join(site, "keyctl-index.json"))

	// The newest version, from the signed index, on another host, through
	// a redirect to a third origin.
	out, errs, code = verify("app")
	if code != 0 || !strings.HasPrefix(out, "trusted: app 1.1.0") || !strings.Contains(out, "index:       signed by an index key") {
		t.Fatalf("verify through the signed index: exit %d\n%s%s", code, out, errs)
	}
	if l.redirects.Load() == 0 {
		t.Fatal("the release host was never asked")
	}
	for _, h := range []string{"h3", "h4"} {
		if out, errs, code = verify(h); code != 0 || !strings.HasPrefix(out, "trusted: "+h+" 2.0.0") {
			t.Fatalf("Helm-signed %s: exit %d\n%s%s", h, code, out, errs)
		}
	}
	out, errs, code = verify("rogue")
	refused("chart signed by an index key", out, errs, code, "wrong role: signed by index key "+indexKey.fpr)

	// audit --root reads through the signed index too.
	out, errs, code = runIn("--config", cfg, "audit", "--repo", "ex", "--state", state, "-o", "json")
	var rep struct {
		SignedIndex *struct{ Issued string } `json:"signed_index"`
		Releases    []struct{ Chart, Version, Status string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || rep.SignedIndex == nil || len(rep.Releases) != 5 {
		t.Fatalf("audit through the signed index: exit %d (%v)\n%s%s", code, err, out, errs)
	}
	for _, r := range rep.Releases {
		want := "trusted"
		if r.Chart == "rogue" {
			want = "wrong-role"
		}
		if r.Status != want {
			t.Errorf("audit: %s %s is %s, want %s", r.Chart, r.Version, r.Status, want)
		}
	}
	// The store's audit (no --root) requires it as well.
	if out, errs, code = runIn("--store", e.store, "audit", "--repo", l.pagesURL, "--state", state); code != 1 || !strings.Contains(out, "4 trusted, 1 wrong-role") {
		t.Fatalf("store audit: exit %d\n%s%s", code, out, errs)
	}

	// The release host serves other (validly signed) bytes than the
	// digest the signed index gives: a substituted archive.
	writeFile(t, l.assets, "app-1.1.0.tgz", a1)
	out, errs, code = verify("app")
	refused("substituted archive", out, errs, code, "but the signed index.yaml lists app 1.1.0 with digest")
	writeFile(t, l.assets, "app-1.1.0.tgz", a2)

	// ledger record reads through the signed index.
	if out, errs, code = runIn("--store", e.store, "ledger", "record", "--repo", l.pagesURL, "--state", state); code != 0 || !strings.Contains(out, "recorded 5 new releases") {
		t.Fatalf("ledger record: exit %d\n%s%s", code, out, errs)
	}

	// Tamper: index.yaml without the newest release (a downgrade).
	hidden := strings.Replace(string(index1), l.entries[1][strings.Index(l.entries[1], "- name"):], "", 1)
	writeFile(t, site, "index.yaml", []byte(hidden))
	out, errs, code = verify("app")
	refused("index tamper", out, errs, code, "index tamper: index.yaml (")
	if _, errs, code = runIn("--config", cfg, "audit", "--repo", "ex", "--state", state); code != 1 || !strings.Contains(errs, "index tamper") {
		t.Fatalf("audit of a tampered index: exit %d\n%s", code, errs)
	}
	if _, errs, code = runIn("--store", e.store, "ledger", "record", "--repo", l.pagesURL, "--state", state); code != 1 || !strings.Contains(errs, "index tamper") {
		t.Fatalf("ledger record of a tampered index: exit %d\n%s", code, errs)
	}
	writeFile(t, site, "index.yaml", index1)

	// Wrong role: a maintainer key signs the index.
	time.Sleep(1100 * time.Millisecond) // issue times only grow, to the second
	signIndex(maintSecret, "--fresh")   // the statement in place is the index key's
	out, errs, code = verify("app")
	refused("index signed by a maintainer", out, errs, code, "index wrong role: keyctl-index.json is signed by "+maint.fpr)

	// Rollback: a newer statement is seen, then the older one is served.
	// The index key's CI finds the maintainer-signed pair in place: it
	// refuses to carry from it; the published pair is restored (git
	// checkout) and it signs again.
	time.Sleep(1100 * time.Millisecond)
	if out, errs, code := runIn("--store", e.store, "index", "sign", site, "--key", indexSecret, "--charts", l.assets); code != 1 || !strings.Contains(errs, "does not verify") {
		t.Fatalf("index sign over a pair by another key: exit %d\n%s%s", code, out, errs)
	}
	writeFile(t, site, "keyctl-index.json", stmt1)
	writeFile(t, site, "keyctl-index.json.sig", sig1)
	if out := signIndex(indexSecret); !strings.Contains(out, "(0 new or changed, 4 carried over)") {
		t.Fatalf("index sign after restoring the pair:\n%s", out)
	}
	if out, errs, code = verify("app"); code != 0 {
		t.Fatalf("newer statement: exit %d\n%s%s", code, out, errs)
	}
	writeFile(t, site, "keyctl-index.json", stmt1)
	writeFile(t, site, "keyctl-index.json.sig", sig1)
	out, errs, code = verify("app")
	refused("index rollback", out, errs, code, "index rollback: keyctl-index.json issued")

	// Freeze: an expired statement (a short --expires, checked later).
	time.Sleep(1100 * time.Millisecond)
	signIndex(indexSecret, "--expires", "1h")
	later := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	out, errs, code = verify("app", "KEYCTL_NOW", later)
	refused("index freeze", out, errs, code, "index freeze: keyctl-index.json issued")

	// Trusted time from the signed index: the maintainer retires after
	// the statement, which binds each release's .prov (its SHA-256) with
	// the time the index key first saw it, was signed. The release whose
	// .prov the signed index saw before the retirement stays trusted.
	time.Sleep(1100 * time.Millisecond)
	e.mustRun(t, "--store", e.store, "remove", maint.fpr, "--reason", "retired")
	e.mustRun(t, "--store", e.store, "publish", "--to", site, "--root-key", e.rootKey)
	type verifyJSON struct {
		Trusted  bool
		Decision struct {
			Status     string `json:"status"`
			TimeSource string `json:"time_source"`
			Reason     string `json:"reason"`
		}
	}
	verifyJSONOf := func() (verifyJSON, string, int) {
		t.Helper()
		out, errs, code := runIn("--config", cfg, "verify", "ex/app", "--state", state, "-o", "json")
		var vr verifyJSON
		if err := json.Unmarshal([]byte(out), &vr); err != nil {
			t.Fatalf("verify -o json: exit %d (%v)\n%s%s", code, err, out, errs)
		}
		return vr, out + errs, code
	}
	vr, outs, code := verifyJSONOf()
	if code != 0 || !vr.Trusted || vr.Decision.TimeSource != "signed-index" || vr.Decision.Status != "removed-retired" ||
		!strings.Contains(vr.Decision.Reason, "the signed index (keyctl-index.json) saw this release's .prov first at") {
		t.Fatalf("retired key, .prov bound by the signed index before the retirement: want trusted via signed-index, got exit %d\n%s", code, outs)
	}
	// Audit (under the root, without a ledger) says where the time came from.
	type auditRel struct{ Status, TimeSource string }
	auditOf := func() map[string]auditRel {
		t.Helper()
		out, errs, code := runIn("--config", cfg, "audit", "--repo", "ex", "--state", state, "-o", "json")
		var arep struct {
			Releases []struct {
				Chart, Version, Status string
				TimeSource             string `json:"time_source"`
			}
		}
		if err := json.Unmarshal([]byte(out), &arep); err != nil {
			t.Fatalf("audit: exit %d (%v)\n%s%s", code, err, out, errs)
		}
		got := map[string]auditRel{}
		for _, r := range arep.Releases {
			got[r.Chart+" "+r.Version] = auditRel{r.Status, r.TimeSource}
		}
		return got
	}
	for id, r := range auditOf() {
		if strings.HasPrefix(id, "app ") && (r.Status != "trusted" || r.TimeSource != "signed-index") {
			t.Errorf("audit: %s is %s with time source %q, want trusted via signed-index", id, r.Status, r.TimeSource)
		}
	}
	// Audit gives verify's verdict on the same served release: refused as
	// signed by a removed key, with the same time source.
	sameAsVerify := func(vr verifyJSON) {
		t.Helper()
		if r := auditOf()["app 1.1.0"]; r.Status != "removed-key" || r.TimeSource != vr.Decision.TimeSource {
			t.Errorf("app 1.1.0: verify says %s (time source %q), audit says %s (time source %q)", vr.Decision.Status, vr.Decision.TimeSource, r.Status, r.TimeSource)
		}
	}

	// Attack: the retired key's holder signs the listed archive again after
	// the retirement, dates the signature before it, and serves that .prov.
	// The statement binds the other .prov: refused, with or without a new
	// statement (CI would see the new .prov first now).
	forged, err := charts.SignBytes(maint.entity, "app-1.1.0.tgz", a2, signedAt.Add(time.Second))
	if err != nil || bytes.Equal(forged, p2) {
		t.Fatalf("fixture: forged .prov (%v) has the published bytes", err)
	}
	writeFile(t, l.assets, "app-1.1.0.tgz.prov", forged)
	if vr, outs, code = verifyJSONOf(); code != 1 || vr.Trusted || vr.Decision.TimeSource == "signed-index" || vr.Decision.Status != "removed-retired" {
		t.Fatalf("forged .prov after the retirement, old statement: want refused as removed-retired without trusted time, got exit %d\n%s", code, outs)
	}
	sameAsVerify(vr)
	time.Sleep(1100 * time.Millisecond)
	if out := signIndex(indexSecret); !strings.Contains(out, "(1 new or changed, 3 carried over)") {
		t.Fatalf("index sign with a changed .prov:\n%s", out)
	}
	if vr, outs, code = verifyJSONOf(); code != 1 || vr.Trusted || vr.Decision.TimeSource != "signed-index" || !strings.Contains(vr.Decision.Reason, "not before that") {
		t.Fatalf("forged .prov after the retirement, re-signed statement: want refused (first seen after the retirement), got exit %d\n%s", code, outs)
	}
	sameAsVerify(vr)
}

// The offline flow carries indexkeys.pgp: prepared, reviewed, signed by
// the root holders and published; clients load it, and the log shows the
// role.
func TestIndexKeyOfflinePublish(t *testing.T) {
	e := newRelEnv(t)
	maint := newMaintainer(t, e.dir, "Maint")
	ix := newMaintainer(t, e.dir, "Index")
	e.mustRun(t, "--store", e.store, "add", maint.file, "--reason", "maintainer")
	e.mustRun(t, "--store", e.store, "add", ix.file, "--role", "index", "--reason", "CI")
	if out, errs, code := runIn("--store", e.store, "add", newMaintainer(t, e.dir, "Scoped").file, "--role", "index", "--scope", "web-*", "--reason", "x"); code != 2 || !strings.Contains(errs, "an index key signs no chart") {
		t.Fatalf("index key with scopes: exit %d\n%s%s", code, out, errs)
	}
	if log := e.mustRun(t, "--store", e.store, "log"); !strings.Contains(log, "role index") {
		t.Fatalf("the log does not show the role:\n%s", log)
	}
	if show := e.mustRun(t, "--store", e.store, "show", ix.fpr, "-o", "json"); !strings.Contains(show, `"role": "index"`) {
		t.Fatalf("show -o json:\n%s", show)
	}
	sd := filepath.Join(e.dir, "sign")
	e.mustRun(t, "--store", e.store, "publish", "--prepare", sd)
	if _, err := os.Stat(filepath.Join(sd, "indexkeys.pgp")); err != nil {
		t.Fatalf("prepare wrote no indexkeys.pgp: %v", err)
	}
	if out := e.mustRun(t, "root", "review", sd, "-o", "json"); !strings.Contains(out, "indexkeys.pgp") {
		t.Fatalf("review does not list indexkeys.pgp:\n%s", out)
	}
	// Root holders see the role of what they sign.
	if out, errs, code := runIn("root", "review", sd); code != 0 || !strings.Contains(out+errs, ix.fpr) || !strings.Contains(out+errs, "role index: signs keyctl-index.json, never a chart") {
		t.Fatalf("review does not show the index role: exit %d\n%s%s", code, out, errs)
	}
	e.mustRun(t, "root", "sign", sd, "--root-key", e.rootKey)
	site := filepath.Join(e.dir, "site")
	e.mustRun(t, "--store", e.store, "publish", "--from", sd, "--to", site)
	for _, f := range []string{"indexkeys.pgp", "indexkeys.pgp.sig"} {
		if _, err := os.Stat(filepath.Join(site, f)); err != nil {
			t.Fatalf("published set lacks %s: %v", f, err)
		}
	}
	if html, err := os.ReadFile(filepath.Join(site, "keyctl", "index.html")); err != nil || !strings.Contains(string(html), `id="index-keys"`) || !strings.Contains(string(html), ix.fpr) {
		t.Fatalf("the trust page does not show the index key (%v)", err)
	}
	// index sign: the identity comes from --id or the manifest next to
	// index.yaml; issue times only grow.
	pages := t.TempDir()
	writeFile(t, pages, "index.yaml", []byte("apiVersion: v1\nentries: {}\n"))
	ixSec := secretKeyFile(t, ix, e.dir)
	if _, errs, code := runIn("index", "sign", pages, "--key", ixSec); code != 2 || !strings.Contains(errs, "no repository identity") {
		t.Fatalf("index sign without an identity: exit %d\n%s", code, errs)
	}
	e.mustRun(t, "index", "sign", filepath.Join(pages, "index.yaml"), "--key", ixSec, "--id", "charts.example.org")
	ahead, err := indexsig.New("charts.example.org", []byte("x"), nil, time.Now().Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	aheadData, _ := ahead.Marshal()
	writeFile(t, pages, "keyctl-index.json", aheadData)
	if _, errs, code := runIn("index", "sign", pages, "--key", ixSec, "--id", "charts.example.org"); code != 2 || !strings.Contains(errs, "issue times only grow") {
		t.Fatalf("a statement older than the one in place: exit %d\n%s", code, errs)
	}

	// A local chart signed by the index key is wrong-role; by the
	// maintainer, trusted.
	rootData, _ := os.ReadFile(e.rootPub)
	rootCert, err := pgpkey.ReadCert(rootData)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		signer maintainer
		code   int
		want   string
	}{{maint, 0, "trusted: app 1.0.0"}, {ix, 1, "not trusted (wrong-role)"}} {
		data, err := charts.Archive(charts.Spec{Name: "app", Version: "1.0.0"})
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		tgz := writeFile(t, dir, "app-1.0.0.tgz", data)
		charts.SignFile(t, tc.signer.entity, tgz, time.Now())
		out, errs, code := runIn("verify", tgz, "--repo", site, "--root", pgpkey.Fingerprint(rootCert), "--state", filepath.Join(e.dir, "st"))
		if code != tc.code || !strings.HasPrefix(out, tc.want) {
			t.Fatalf("chart signed by %s: exit %d\n%s%s", tc.signer.fpr, code, out, errs)
		}
	}
}

// index sign carries each release's first-seen time over from the
// statement in place only when the signing key signed it: the same .prov
// keeps its time, a changed one is seen now, a .prov not found keeps its
// entry, a release no longer listed is dropped.
func TestIndexSignCarryForward(t *testing.T) {
	dir := t.TempDir()
	pages, pkgs := filepath.Join(dir, "pages"), filepath.Join(dir, ".cr-release-packages")
	for _, d := range []string{pages, pkgs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	keyA, keyB := newMaintainer(t, dir, "IndexA"), newMaintainer(t, dir, "IndexB")
	secA, secB := secretKeyFile(t, keyA, dir), secretKeyFile(t, keyB, dir)
	signer := newMaintainer(t, dir, "Maint")
	prov := func(name, version string, at time.Time) []byte {
		t.Helper()
		data, err := charts.Archive(charts.Spec{Name: name, Version: version})
		if err != nil {
			t.Fatal(err)
		}
		p, err := charts.SignBytes(signer.entity, name+"-"+version+".tgz", data, at)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	alphaProv, betaProv := prov("alpha", "1.0.0", time.Now()), prov("beta", "2.0.0", time.Now())
	writeFile(t, pages, "alpha-1.0.0.tgz.prov", alphaProv)
	writeFile(t, pkgs, "beta-2.0.0.tgz.prov", betaProv)
	alphaEntry := "  alpha:\n  - name: alpha\n    version: 1.0.0\n    urls: [alpha-1.0.0.tgz]\n"
	betaEntry := "  beta:\n  - name: beta\n    version: 2.0.0\n    urls: [https://github.com/o/r/releases/download/beta-2.0.0/beta-2.0.0.tgz]\n"
	writeFile(t, pages, "index.yaml", []byte("apiVersion: v1\nentries:\n"+alphaEntry+betaEntry))

	sign := func(key, want string, extra ...string) (*indexsig.Statement, string) {
		t.Helper()
		time.Sleep(1100 * time.Millisecond) // issue times only grow, to the second
		out, errs, code := runIn(append([]string{"index", "sign", pages, "--key", key, "--id", "charts.example.org", "--charts", pkgs}, extra...)...)
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("index sign: exit %d, want %q\n%s%s", code, want, out, errs)
		}
		data, _ := os.ReadFile(filepath.Join(pages, indexsig.Name))
		s, err := indexsig.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		return s, errs
	}
	seen := func(s *indexsig.Statement, name, version string, p []byte) *time.Time {
		return s.FirstSeen(name, version, indexsig.Hash(p))
	}

	s1, _ := sign(secA, "bound the .prov of 2 of 2 releases (2 new or changed, 0 carried over)")
	a1, b1 := seen(s1, "alpha", "1.0.0", alphaProv), seen(s1, "beta", "2.0.0", betaProv)
	if a1 == nil || b1 == nil || !a1.Equal(s1.Issued) {
		t.Fatalf("first statement: %+v", s1.Releases)
	}
	// Re-run: the same .prov files keep their first-seen times.
	s2, _ := sign(secA, "bound the .prov of 2 of 2 releases (0 new or changed, 2 carried over)")
	if a := seen(s2, "alpha", "1.0.0", alphaProv); a == nil || !a.Equal(*a1) || !s2.Issued.After(s1.Issued) {
		t.Fatalf("re-run: alpha first seen %v, want %v", a, a1)
	}
	// beta is signed again (new bytes: seen now); alpha's .prov is gone
	// from here (its entry is carried).
	betaProv2 := prov("beta", "2.0.0", time.Now().Add(time.Second))
	writeFile(t, pkgs, "beta-2.0.0.tgz.prov", betaProv2)
	os.Remove(filepath.Join(pages, "alpha-1.0.0.tgz.prov"))
	s3, _ := sign(secA, "bound the .prov of 2 of 2 releases (1 new or changed, 1 carried over)")
	if a := seen(s3, "alpha", "1.0.0", alphaProv); a == nil || !a.Equal(*a1) {
		t.Fatalf("alpha's .prov not found: first seen %v, want it carried (%v)", a, a1)
	}
	if b := seen(s3, "beta", "2.0.0", betaProv2); b == nil || !b.Equal(s3.Issued) || seen(s3, "beta", "2.0.0", betaProv) != nil {
		t.Fatalf("re-signed beta: first seen %v, want now %v and the old .prov gone", b, s3.Issued)
	}
	// beta is no longer listed: its entry is kept, with its time.
	writeFile(t, pages, "index.yaml", []byte("apiVersion: v1\nentries:\n"+alphaEntry))
	s4, _ := sign(secA, "bound the .prov of 1 of 1 releases (0 new or changed, 1 carried over)\n  kept the first-seen times of 1 releases index.yaml does not list")
	if b := seen(s4, "beta", "2.0.0", betaProv2); len(s4.Releases) != 2 || b == nil || !b.Equal(s3.Issued) {
		t.Fatalf("unlisted beta: %+v, want its entry kept at %v", s4.Releases, s3.Issued)
	}
	// Another key signs: a statement it did not sign cannot be carried
	// (its times would be unvouched for): refused, and the pair in place
	// is left as it was; with --fresh, nothing is carried and alpha is
	// seen now.
	writeFile(t, pages, "alpha-1.0.0.tgz.prov", alphaProv)
	refused := func(key, want string) {
		t.Helper()
		before, _ := os.ReadFile(filepath.Join(pages, indexsig.Name))
		time.Sleep(1100 * time.Millisecond)
		out, errs, code := runIn("index", "sign", pages, "--key", key, "--id", "charts.example.org", "--charts", pkgs)
		if code != 1 || !strings.Contains(errs, want) || !strings.Contains(errs, "--fresh") || !strings.Contains(errs, "git checkout") {
			t.Fatalf("index sign over a pair that does not verify: exit %d, want 1 and %q\n%s%s", code, want, out, errs)
		}
		if after, _ := os.ReadFile(filepath.Join(pages, indexsig.Name)); string(after) != string(before) {
			t.Fatal("a refused run changed the statement in place")
		}
	}
	refused(secB, "does not verify with keyctl-index.json.sig and index key "+keyB.fpr)
	s5, errs := sign(secB, "bound the .prov of 1 of 1 releases (1 new or changed, 0 carried over)", "--fresh")
	if a := seen(s5, "alpha", "1.0.0", alphaProv); a == nil || !a.Equal(s5.Issued) {
		t.Fatalf("statement by another key carried: alpha first seen %v, want %v", a, s5.Issued)
	}
	if !strings.Contains(errs, "start fresh") {
		t.Fatalf("no note on --fresh:\n%s", errs)
	}
	// The same holds for a statement whose signature does not verify, and
	// for a signature without a statement.
	writeFile(t, pages, indexsig.SigName, []byte("junk"))
	refused(secB, "does not verify")
	os.Remove(filepath.Join(pages, indexsig.Name))
	refused(secB, "is in place without")
	if _, errs = sign(secB, "(1 new or changed, 0 carried over)", "--fresh"); !strings.Contains(errs, "start fresh") {
		t.Fatalf("no note on --fresh:\n%s", errs)
	}
	// Two different .prov files for one release: refused.
	writeFile(t, pkgs, "alpha-1.0.0.tgz.prov", prov("alpha", "1.0.0", time.Now().Add(2*time.Second)))
	time.Sleep(1100 * time.Millisecond)
	if out, errs, code := runIn("index", "sign", pages, "--key", secB, "--id", "charts.example.org", "--charts", pkgs); code != 2 || !strings.Contains(errs, "two different .prov files for alpha 1.0.0") {
		t.Fatalf("two .prov files: exit %d\n%s%s", code, out, errs)
	}
}
