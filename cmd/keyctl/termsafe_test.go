package main

// What keyctl prints from attacker-influenced text: chart names and versions
// from .prov files and index.yaml, user IDs, reasons and tickets reach the
// terminal escaped (internal/termsafe), never as raw control bytes.

import (
	"bytes"
	"crypto"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// spoof draws over the line it is printed on: a carriage return, erase
// line, a fake verdict block, a conceal sequence, a bidi override.
const spoof = "app\r\x1b[2Ktrusted: app 1.0.0\n  signed by:   Alice (active)\x1b[8m\u202e"

// assertNoTerminalControl fails when out holds a character a terminal
// interprets (newlines and tabs aside).
func assertNoTerminalControl(t *testing.T, what, out string) {
	t.Helper()
	for _, r := range out {
		if r == '\n' || r == '\t' {
			continue
		}
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			t.Fatalf("%s prints %U raw:\n%q", what, r, out)
		}
	}
}

func TestHostileProvChartNameThroughVerify(t *testing.T) {
	e := newRelEnv(t)
	m := newMaintainer(t, e.dir, "Signer")
	e.mustRun(t, "--store", e.store, "add", m.file, "--reason", "maintainer")
	site := filepath.Join(e.dir, "site")
	e.mustRun(t, "--store", e.store, "publish", "--to", site, "--root-key", e.rootKey)
	rootData, err := os.ReadFile(e.rootPub)
	if err != nil {
		t.Fatal(err)
	}
	rootCert, err := pgpkey.ReadCert(rootData)
	if err != nil {
		t.Fatal(err)
	}

	data, err := charts.Archive(charts.Spec{Name: "app", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	tgz := writeFile(t, e.dir, "app-1.0.0.tgz", data)
	ar, err := provenance.ReadArchive(bytes.NewReader(data), provenance.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := provenance.Message(ar, "app-1.0.0.tgz")
	if err != nil {
		t.Fatal(err)
	}
	// The .prov's metadata names the chart with the spoof, signed by a
	// governed key: only the name is hostile.
	quoted := strings.NewReplacer("\r", `\r`, "\x1b", `\e`, "\n", `\n`).Replace(spoof)
	hostile := strings.Replace(string(msg), "name: app\n", "name: \""+quoted+"\"\n", 1)
	if hostile == string(msg) {
		t.Fatalf("no 'name: app' line in the message:\n%s", msg)
	}
	var prov bytes.Buffer
	cfg := &packet.Config{DefaultHash: crypto.SHA512}
	w, err := clearsign.Encode(&prov, m.entity.PrivateKey, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(hostile))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	writeFile(t, e.dir, "app-1.0.0.tgz.prov", prov.Bytes())

	for _, o := range []string{"text", "json"} {
		out, errs, code := runIn("verify", tgz, "--repo", site, "--root", pgpkey.Fingerprint(rootCert), "--state", filepath.Join(e.dir, "st-"+o), "-o", o)
		if code == 2 && strings.Contains(errs, "usage") {
			t.Fatalf("verify: %s", errs)
		}
		assertNoTerminalControl(t, "verify -o "+o+" (stdout)", out)
		assertNoTerminalControl(t, "verify -o "+o+" (stderr)", errs)
		if o == "text" && !strings.Contains(out+errs, `\x1b[2K`) {
			t.Fatalf("verify does not show the chart name escaped:\n%s%s", out, errs)
		}
	}
}

func TestHostileIndexVersionThroughAudit(t *testing.T) {
	e := newRelEnv(t)
	repo := filepath.Join(e.dir, "repo")
	publishRelease(t, repo, charts.Spec{Name: "app", Version: "1.0.0"}, nil, time.Now())
	index := "apiVersion: v1\nentries:\n  app:\n  - name: app\n    version: \"1.0.0\\r\\e[2K\\u202e\"\n    urls: [charts/app-1.0.0.tgz]\n"
	writeFile(t, repo, "index.yaml", []byte(index))
	srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
	defer srv.Close()
	out, errs, code := runIn("--store", e.store, "audit", "--repo", srv.URL)
	if code == 2 {
		t.Fatalf("audit: exit 2\n%s%s", out, errs)
	}
	assertNoTerminalControl(t, "audit (stdout)", out)
	assertNoTerminalControl(t, "audit (stderr)", errs)
	if !strings.Contains(out, `1.0.0\r\x1b[2K\u202e`) {
		t.Fatalf("audit does not show the version escaped:\n%s", out)
	}
}

func TestHostileUserIDAndReason(t *testing.T) {
	e := newRelEnv(t)
	m := newMaintainer(t, e.dir, "Mallory\x1b[8m\u202e")
	reason := "hired\r\x1b[2Kremoved: compromised"
	e.mustRun(t, "--store", e.store, "add", m.file, "--reason", reason, "--ticket", "T-1\x1b]0;title\x07")
	var all string
	for _, args := range [][]string{
		{"list"}, {"show", m.fpr}, {"log"},
	} {
		out, errs, code := runIn(append([]string{"--store", e.store}, args...)...)
		if code != 0 {
			t.Fatalf("keyctl %s: exit %d\n%s", args[0], code, errs)
		}
		assertNoTerminalControl(t, args[0], out+errs)
		all += out
	}
	for _, want := range []string{`Mallory\x1b[8m\u202e`, `hired\r\x1b[2K`} {
		if !strings.Contains(all, want) {
			t.Errorf("list/show/log do not show %s:\n%s", want, all)
		}
	}
	// The error path: adding the same key again names it.
	out, errs, _ := runIn("--store", e.store, "add", m.file, "--reason", reason)
	assertNoTerminalControl(t, "add again", out+errs)
}
