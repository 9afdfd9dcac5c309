package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/page"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/testutil/gcsemu"
)

// kc runs keyctl in-process and returns stdout, stderr and the exit code.
func kc(t *testing.T, env map[string]string, args ...string) (string, string, int) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func mustKC(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := kc(t, nil, args...)
	if code != 0 {
		t.Fatalf("keyctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// maintainerKey writes a fresh Ed25519 maintainer public key to dir.
func maintainerKey(t *testing.T, dir, name string) string {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.org", &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, KeyLifetimeSecs: 365 * 24 * 3600})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".pgp")
	if err := os.WriteFile(p, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPublishGCS publishes to gs:// on the GCS emulator through the real
// command, reads every object back, and shows that a second publisher
// working from a stale view of the bucket gets a clear conflict instead of
// overwriting (SPEC §2, §5).
func TestPublishGCS(t *testing.T) {
	srv := gcsemu.Start(t, "charts")
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("KEYCTL_ACTOR", "tester")
	storeA := filepath.Join(dir, "a.db")
	rk, rp := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	mustKC(t, "root", "create", "--name", "gcs root", "--secret-out", rk, "--public-out", rp, "--no-passphrase")
	mustKC(t, "--store", storeA, "init", "--repository", "charts.example.org", "--root-key", rp)
	mustKC(t, "--store", storeA, "add", maintainerKey(t, dir, "alice"), "--reason", "maintainer")
	out := mustKC(t, "--store", storeA, "publish", "--to", "gs://charts/repo", "--root-key", rk)
	if !strings.Contains(out, "published manifest version 1 to gs://charts/repo") {
		t.Fatalf("publish output: %s", out)
	}

	// Read every object back from the emulator, in memory.
	objs, _, err := srv.Emulator.ListObjects("charts", "repo/", "", false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	for _, o := range objs {
		obj, err := srv.Emulator.GetObject("charts", o.Name)
		if err != nil {
			t.Fatal(err)
		}
		got[strings.TrimPrefix(o.Name, "repo/")] = obj.Content
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, want := range []string{"pubkeys.pgp", "pubkeys.pgp.sig", "revoked.pgp", "revoked.pgp.sig", "keyctl-manifest.json", "keyctl-manifest.json.sig", "keyctl/roots/1.json", "keyctl/roots/1.json.sig"} {
		if _, ok := got[want]; !ok {
			t.Errorf("object %s missing; bucket holds %v", want, names)
		}
	}
	// The trust page goes up with the set, as HTML, built from it.
	pg, err := srv.Emulator.GetObject("charts", "repo/"+page.Name)
	if err != nil {
		t.Fatalf("trust page: %v", err)
	}
	if pg.ContentType != "text/html; charset=utf-8" {
		t.Errorf("trust page content type %q", pg.ContentType)
	}
	for _, want := range []string{`id="manifest-version">1</dd>`, "--repo gs://charts/repo --root-set sha256:" + root.Hash(got["keyctl/roots/1.json"])} {
		if !strings.Contains(string(pg.Content), want) {
			t.Errorf("trust page lacks %q", want)
		}
	}
	rsData := got["keyctl/roots/1.json"]
	set, err := root.ParseRootSet(rsData)
	if err != nil {
		t.Fatal(err)
	}
	mb := got["keyctl-manifest.json"]
	m, err := root.VerifyManifest(mb, got[root.ContentPath(root.Hash(mb))+".sig"], set, time.Now())
	if err != nil {
		t.Fatalf("published manifest does not verify: %v", err)
	}
	for _, f := range []string{"pubkeys.pgp", "revoked.pgp"} {
		if err := m.CheckFile(f, got[f]); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if !bytes.Equal(got[root.ContentPath(root.Hash(got[f]))], got[f]) {
			t.Errorf("content-addressed copy of %s differs", f)
		}
	}
	if _, err := root.Verify(got["pubkeys.pgp"], got["pubkeys.pgp.sig"], set, time.Now()); err != nil {
		t.Errorf("pubkeys.pgp.sig: %v", err)
	}

	// A copy of the store made now is a second publisher that will be stale.
	storeB := filepath.Join(dir, "b.db")
	copyFile(t, storeA, storeB)
	mustKC(t, "--store", storeA, "add", maintainerKey(t, dir, "bob"), "--reason", "maintainer")
	mustKC(t, "--store", storeA, "publish", "--to", "gs://charts/repo", "--root-key", rk)
	mustKC(t, "--store", storeB, "add", maintainerKey(t, dir, "carol"), "--reason", "maintainer")
	_, errOut, code := kc(t, nil, "--store", storeB, "publish", "--to", "gs://charts/repo", "--root-key", rk)
	if code == 0 {
		t.Fatal("a stale second publisher overwrote the bucket")
	}
	if !strings.Contains(errOut, "keyctl: error:") || !strings.Contains(strings.ToLower(errOut), "another publish") {
		t.Fatalf("conflict message: %s", errOut)
	}
	live, err := srv.Emulator.GetObject("charts", "repo/keyctl-manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	lm, err := root.ParseManifest(live.Content)
	if err != nil || lm.Version != 2 || len(lm.Keys) != 2 {
		t.Fatalf("live manifest after the conflict: %+v %v", lm, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestPublishGCSLogged: the transparency log over GCS (tiles create-only,
// the checkpoint before the manifest), read back by keyctl monitor; a
// stale second publisher is refused before it writes any tile.
func TestPublishGCSLogged(t *testing.T) {
	srv := gcsemu.Start(t, "charts")
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("KEYCTL_ACTOR", "tester")
	storeA := filepath.Join(dir, "a.db")
	rk, rp := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	lk, lp := filepath.Join(dir, "log.key"), filepath.Join(dir, "log.pub")
	out := mustKC(t, "root", "create", "--name", "gcs root", "--secret-out", rk, "--public-out", rp, "--no-passphrase")
	rootFpr := strings.Fields(strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "root key "))[0]
	mustKC(t, "log-key", "create", "--name", "charts.example.org/log", "--secret-out", lk, "--public-out", lp)
	mustKC(t, "--store", storeA, "init", "--repository", "charts.example.org", "--root-key", rp, "--log-key", lp)
	mustKC(t, "--store", storeA, "add", maintainerKey(t, dir, "alice"), "--reason", "maintainer")
	out = mustKC(t, "--store", storeA, "publish", "--to", "gs://charts/repo", "--root-key", rk, "--log-key", lk)
	if !strings.Contains(out, "logged: transparency log of 1 entries") {
		t.Fatalf("publish output: %s", out)
	}
	storeB := filepath.Join(dir, "b.db")
	copyFile(t, storeA, storeB)
	mustKC(t, "--store", storeA, "add", maintainerKey(t, dir, "bob"), "--reason", "maintainer")
	mustKC(t, "--store", storeA, "publish", "--to", "gs://charts/repo", "--root-key", rk, "--log-key", lk)
	mustKC(t, "--store", storeB, "add", maintainerKey(t, dir, "carol"), "--reason", "maintainer")
	_, errOut, code := kc(t, nil, "--store", storeB, "publish", "--to", "gs://charts/repo", "--root-key", rk, "--log-key", lk)
	if code == 0 || !strings.Contains(strings.ToLower(errOut), "another publish") {
		t.Fatalf("stale publisher: exit %d, %s", code, errOut)
	}
	for _, name := range []string{"repo/keyctl/log/checkpoint", "repo/keyctl/log/tile/0/000.p/1", "repo/keyctl/log/tile/0/000.p/2", "repo/keyctl/log/tile/entries/000.p/2"} {
		if _, err := srv.Emulator.GetObject("charts", name); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := srv.Emulator.GetObject("charts", "repo/keyctl/log/tile/0/000.p/3"); err == nil {
		t.Error("the refused publisher wrote a tile")
	}
	out = mustKC(t, "monitor", "--repo", "gs://charts/repo", "--root", rootFpr, "--state", filepath.Join(dir, "mon"))
	if !strings.Contains(out, "entries 0 to 2 checked") || strings.Count(out, "key-added") != 2 {
		t.Fatalf("monitor: %s", out)
	}
}
