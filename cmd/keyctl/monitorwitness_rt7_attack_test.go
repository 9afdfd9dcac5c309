package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/root"
)

// Attack (a threshold of root keys and the log key, with the repository
// host choosing what each reader sees): the host shows the fork (manifest
// v2 adding mallory, in a log signed by the stolen log key) to the witness
// and to victims, and the honest log to the maintainers' monitor. The
// witness sees one consistent log and cosigns the fork; fresh clients that
// require the witness (docs/verify.md, Witnesses) trust mallory; the
// monitor walks the honest log, consistent with its state, and exits 0.
// Nobody reports the split view: the monitor never looks at cosignatures,
// so it cannot tell that the tree it checks is not the one the witnesses
// vouch for (the one witness-requiring clients trust). A monitor given
// the witnesses clients require should refuse a head they did not cosign
// (or compare with their latest cosigned checkpoint) and exit 1.
func TestAttackMonitorBlindToWitnessedFork(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("KEYCTL_ACTOR", "tester")
	store, store2 := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	site, fork := filepath.Join(dir, "site"), filepath.Join(dir, "fork")
	rk, rp := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	lk, lp := filepath.Join(dir, "log.key"), filepath.Join(dir, "log.pub")
	wk, wp := filepath.Join(dir, "w.key"), filepath.Join(dir, "w.pub")
	out := mustKC(t, "root", "create", "--name", "root", "--secret-out", rk, "--public-out", rp, "--no-passphrase")
	rootFpr := strings.Fields(strings.TrimPrefix(strings.SplitN(out, "\n", 2)[0], "root key "))[0]
	mustKC(t, "log-key", "create", "--name", "charts.example.org/log", "--secret-out", lk, "--public-out", lp)
	mustKC(t, "witness", "keygen", "--name", "witness.example.com", "--secret-out", wk, "--public-out", wp)
	mustKC(t, "--store", store, "init", "--repository", "charts.example.org", "--root-key", rp, "--log-key", lp)
	mustKC(t, "--store", store, "add", maintainerKey(t, dir, "alice"), "--reason", "maintainer")
	mustKC(t, "--store", store, "publish", "--to", site, "--root-key", rk, "--log-key", lk)
	mustKC(t, "witness", "cosign", "--repo", site, "--log-key", lp, "--key", wk, "--state", filepath.Join(dir, "wstate"), "--to", site)
	mon := filepath.Join(dir, "mon")
	mustKC(t, "monitor", "--repo", site, "--root", rootFpr, "--state", mon)

	// The fork, made with the stolen keys, shown to the witness and victims.
	copyFile(t, store, store2)
	if err := os.CopyFS(fork, os.DirFS(site)); err != nil {
		t.Fatal(err)
	}
	mustKC(t, "--store", store2, "add", maintainerKey(t, dir, "mallory"), "--reason", "maintainer")
	// (the copy publishes to the same location name, as a second publisher would)
	swap := func() {
		t.Helper()
		tmp := filepath.Join(dir, "tmp")
		for _, mv := range [][2]string{{site, tmp}, {fork, site}, {tmp, fork}} {
			if err := os.Rename(mv[0], mv[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	swap()
	mustKC(t, "--store", store2, "publish", "--to", site, "--root-key", rk, "--log-key", lk)
	swap()
	mustKC(t, "witness", "cosign", "--repo", fork, "--log-key", lp, "--key", wk, "--state", filepath.Join(dir, "wstate"), "--to", fork)
	// The honest publish, shown to the maintainers' monitor.
	mustKC(t, "--store", store, "add", maintainerKey(t, dir, "bob"), "--reason", "maintainer")
	mustKC(t, "--store", store, "publish", "--to", site, "--root-key", rk, "--log-key", lk)

	wv, err := os.ReadFile(wp)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := client.Load(context.Background(), client.Options{Location: fork, Pins: root.Pins{Fingerprints: []string{rootFpr}},
		Witnesses: []string{strings.TrimSpace(string(wv))}, WitnessThreshold: 1})
	if err != nil || len(tr.Manifest.Keys) != 2 {
		t.Fatalf("setup: a fresh client requiring the witness should trust the fork (the attack): %v", err)
	}

	if o, e, c := kc(t, nil, "monitor", "--repo", site, "--root", rootFpr, "--state", filepath.Join(dir, "mon2")); c != 0 || strings.Contains(o+e, "mallory") {
		t.Fatalf("setup: monitor of the honest side: exit %d\n%s%s", c, o, e)
	}
	out, errOut, code := kc(t, nil, "monitor", "--repo", site, "--root", rootFpr, "--state", mon, "--witness", wp, "--witness-threshold", "1")
	if code != 1 {
		t.Fatalf("the monitor, told which witness clients require, exits %d on a head that witness never cosigned while clients trust a witnessed fork:\n%s%s", code, out, errOut)
	}
}
