package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// keyctlRun runs the command in-process and returns stdout, stderr and the
// exit code.
func keyctlRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

type auditKey struct {
	secret *openpgp.Entity
	fpr    string
	file   string
}

func newAuditKey(t *testing.T, dir, name string, made time.Time, subkey bool) *auditKey {
	t.Helper()
	cfg := &packet.Config{Algorithm: packet.PubKeyAlgoEd25519, KeyLifetimeSecs: 365 * 24 * 3600, Time: func() time.Time { return made }}
	e, err := openpgp.NewEntity(name, "", name+"@example.org", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if subkey {
		if err := e.AddSigningSubkey(cfg); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".pgp")
	if err := os.WriteFile(file, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	return &auditKey{secret: e, fpr: pgpkey.Fingerprint(e), file: file}
}

// publishRelease writes NAME-VERSION.tgz (and its .prov unless signer is
// nil) into dir/charts.
func publishRelease(t *testing.T, dir string, spec charts.Spec, signer *auditKey, at time.Time) {
	t.Helper()
	data, err := charts.Archive(spec)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%s-%s.tgz", spec.Name, spec.Version)
	path := filepath.Join(dir, "charts", name)
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if signer != nil {
		prov, err := charts.SignBytes(signer.secret, name, data, at)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".prov", prov, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeIndex(t *testing.T, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "charts", "*.tgz"))
	if len(files) == 0 {
		t.Fatal("no archives")
	}
	sort.Strings(files)
	by := map[string][]string{}
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".tgz")
		i := strings.LastIndex(base, "-")
		by[base[:i]] = append(by[base[:i]], base[i+1:])
	}
	var b strings.Builder
	b.WriteString("apiVersion: v1\nentries:\n")
	for _, c := range sortedKeys(by) {
		fmt.Fprintf(&b, "  %s:\n", c)
		for _, v := range by[c] {
			fmt.Fprintf(&b, "  - name: %s\n    version: %s\n    urls: [charts/%s-%s.tgz]\n", c, v, c, v)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "index.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

type auditDoc struct {
	Summary struct {
		Total, Listed, Trusted int
		NotTrusted             int `json:"not_trusted"`
	}
	Releases []struct {
		Chart, Version, Status, Signer, Reason, Detail string
		TimeSource                                     string `json:"time_source"`
		SigningKey                                     string `json:"signing_key"`
		LedgerSigner                                   string `json:"ledger_signer"`
		SignerUnknown                                  bool   `json:"signer_unknown"`
	}
	MissingFromIndex []struct{ Chart, Version, Status string }   `json:"missing_from_index"`
	Worklist         []struct{ Chart, Version, URL, Why string } `json:"resign_worklist"`
}

func auditJSONRun(t *testing.T, wantCode int, args ...string) auditDoc {
	t.Helper()
	out, errs, code := keyctlRun(t, append(args, "-o", "json")...)
	if code != wantCode {
		t.Fatalf("keyctl %s: exit %d, want %d\n%s", strings.Join(args, " "), code, wantCode, errs)
	}
	var d auditDoc
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("audit -o json: %v\n%s", err, out)
	}
	return d
}

// TestAuditJourney is the compromise runbook through the real command:
// ledger, compromise, audit --key, soft removal with and without a ledger
// record, and the alarm on a re-upload.
func TestAuditJourney(t *testing.T) {
	cs := newCLIStore(t, "responder@example.org")
	work, k, mustRun := cs.work, cs.args, cs.mustRun
	mustRun("root", "create", "--name", "root", "--secret-out", filepath.Join(work, "root.key"), "--public-out", filepath.Join(work, "root.pub"), "--no-passphrase")
	mustRun("init", "--repository", "charts.example.org", "--root-key", filepath.Join(work, "root.pub"))

	made := time.Now().Add(-72 * time.Hour)
	alice := newAuditKey(t, work, "alice", made, true)
	bob := newAuditKey(t, work, "bob", made, false)
	mustRun("add", alice.file, "--reason", "maintainer")
	mustRun("add", bob.file, "--reason", "maintainer")

	repo := filepath.Join(work, "repo")
	signed := map[string]*auditKey{}
	for i := 0; i < 60; i++ {
		spec := charts.Spec{Name: fmt.Sprintf("app%d", i%6), Version: fmt.Sprintf("1.%d.0", i/6)}
		var who *auditKey
		switch {
		case i == 13:
		case i%2 == 0:
			who = alice
		default:
			who = bob
		}
		publishRelease(t, repo, spec, who, made.Add(time.Duration(i)*time.Minute+time.Hour))
		if who != nil {
			signed[spec.Name+" "+spec.Version] = who
		}
	}
	writeIndex(t, repo)
	srv := httptest.NewServer(http.FileServer(http.Dir(repo)))
	defer srv.Close()
	url := srv.URL

	// Everything trusted but the unsigned release; the ledger records all 60.
	d := auditJSONRun(t, 1, k("audit", "--repo", url)...)
	if d.Summary.Total != 60 || d.Summary.Trusted != 59 || len(d.Worklist) != 1 {
		t.Fatalf("first audit: %+v, worklist %d", d.Summary, len(d.Worklist))
	}
	out := mustRun("ledger", "record", "--repo", url)
	if !strings.Contains(out, "recorded 60 new releases") {
		t.Fatalf("ledger record: %s", out)
	}

	// Bob's key is compromised: audit --key lists exactly his releases.
	mustRun("remove", bob.fpr, "--reason", "compromised")
	for _, q := range []string{bob.fpr, pgpkey.KeyIDOfFingerprint(bob.fpr)} {
		d = auditJSONRun(t, 1, k("audit", "--repo", url, "--key", q)...)
		got := map[string]bool{}
		for _, r := range d.Releases {
			got[r.Chart+" "+r.Version] = true
			if r.Status != "compromised" || r.Signer != bob.fpr || r.Reason != "compromised" {
				t.Errorf("%s %s: %s by %s (%s)", r.Chart, r.Version, r.Status, r.Signer, r.Reason)
			}
		}
		n := 0
		for rel, who := range signed {
			if who == bob {
				n++
				if !got[rel] {
					t.Errorf("--key %s misses %s", q, rel)
				}
			}
		}
		if n != 29 || len(d.Releases) != n || len(d.Worklist) != n || d.Summary.Total != 60 {
			t.Fatalf("--key %s: %d releases, %d in the worklist, want %d", q, len(d.Releases), len(d.Worklist), n)
		}
	}
	// The text form: summary, table and worklist; nothing of alice's.
	out, errs, code := keyctlRun(t, k("audit", "--repo", url, "--key", bob.fpr)...)
	if code != 1 || !strings.Contains(out, "29 of 60 releases: 29 compromised") || !strings.Contains(out, "re-sign worklist (29):") ||
		!strings.Contains(errs, "keyctl: not trusted: 29 of 29 releases are not trusted") {
		t.Fatalf("text audit: exit %d\n%s\n%s", code, out, errs)
	}
	if strings.Contains(out, pgpkey.KeyIDOfFingerprint(alice.fpr)) || strings.Count(out, "key compromised") != 29 {
		t.Fatalf("text audit lists other releases:\n%s", out)
	}
	hostHidesBobsReleases(t, k, repo, url, signed, bob, alice)

	// Alice retires: her recorded releases were first seen before, they
	// stay trusted; a release she signed since has no ledger record.
	time.Sleep(1100 * time.Millisecond) // the effective time follows the ledger's second
	mustRun("remove", alice.fpr, "--reason", "retired")
	publishRelease(t, repo, charts.Spec{Name: "late", Version: "1.0.0"}, alice, time.Now().Add(-time.Minute))
	writeIndex(t, repo)
	d = auditJSONRun(t, 1, k("audit", "--repo", url, "--key", alice.fpr)...)
	late := 0
	for _, r := range d.Releases {
		switch {
		case r.Chart == "late":
			late++
			if r.Status != "removed-key" || r.TimeSource != "signature" || !strings.Contains(r.Detail, "unverified") {
				t.Errorf("late release: %+v", r)
			}
		case r.Status != "trusted" || r.TimeSource != "ledger" || r.SigningKey == alice.fpr:
			t.Errorf("%s %s signed by alice's subkey before her retirement: %+v", r.Chart, r.Version, r)
		}
	}
	if late != 1 || len(d.Releases) != 31 {
		t.Fatalf("alice's releases: %d (late %d)", len(d.Releases), late)
	}
	out, _, _ = keyctlRun(t, k("audit", "--repo", url, "--key", alice.fpr)...)
	if !strings.Contains(out, "signature time, self-asserted, not verified") {
		t.Fatalf("text output does not say the time is unverified:\n%s", out)
	}
	// Once recorded, the late release has a first-seen time after the removal.
	mustRun("ledger", "record", "--repo", url)
	d = auditJSONRun(t, 1, k("audit", "--repo", url, "--key", alice.fpr)...)
	for _, r := range d.Releases {
		if r.Chart == "late" && (r.Status != "removed-key" || r.TimeSource != "ledger") {
			t.Errorf("late release after ledger record: %+v", r)
		}
	}

	// A recorded release re-uploaded with other bytes is an alarm.
	publishRelease(t, repo, charts.Spec{Name: "app0", Version: "1.0.0", AppVersion: "9.9.9"}, alice, time.Now().Add(-time.Minute))
	out, errs, code = keyctlRun(t, k("ledger", "record", "--repo", url)...)
	if code != 1 || !strings.Contains(errs, "keyctl: security error: 1 recorded releases reappeared") || !strings.Contains(errs, "app0 1.0.0: archive bytes changed") {
		t.Fatalf("re-upload: exit %d\n%s\n%s", code, out, errs)
	}
	out = mustRun("ledger", "list")
	if strings.Count(out, "\n") != 62 || !strings.Contains(out, "app0") {
		t.Fatalf("ledger list:\n%s", out)
	}

	// A repository that cannot be read at all is exit 2.
	if _, errs, code := keyctlRun(t, k("audit", "--repo", filepath.Join(work, "nowhere"))...); code != 2 || !strings.Contains(errs, "keyctl: error:") {
		t.Fatalf("missing repository: exit %d\n%s", code, errs)
	}
	// Piped stderr gets no progress bar.
	if _, errs, _ := keyctlRun(t, k("audit", "--repo", url)...); strings.Contains(errs, "keyctl: audit") && strings.Contains(errs, "%") {
		t.Fatalf("progress bar on a pipe:\n%s", errs)
	}
}

// cliStore is a keyctl store in a fresh work folder with its own config
// and state folders, for tests that drive whole commands.
type cliStore struct {
	t     *testing.T
	work  string
	store string
}

func newCLIStore(t *testing.T, actor string) *cliStore {
	t.Helper()
	work := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(work, "config"))
	t.Setenv("XDG_STATE_HOME", filepath.Join(work, "state"))
	t.Setenv("KEYCTL_ACTOR", actor)
	return &cliStore{t: t, work: work, store: filepath.Join(work, "keyctl.db")}
}

// args prefixes args with --store.
func (c *cliStore) args(args ...string) []string {
	return append([]string{"--store", c.store}, args...)
}

// mustRun runs keyctl on the store and fails the test unless it exits 0.
func (c *cliStore) mustRun(args ...string) string {
	c.t.Helper()
	out, errs, code := keyctlRun(c.t, c.args(args...)...)
	if code != 0 {
		c.t.Fatalf("keyctl %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// hostHidesBobsReleases: with bob compromised, the host leaves one of his
// releases out of index.yaml (and one of alice's) and deletes another's
// .prov. The ledger still attributes both of bob's to him: audit --key bob
// lists them (missing-from-index, prov-missing) and exits 1; alice's is
// only noted. The repository is restored afterwards.
func hostHidesBobsReleases(t *testing.T, k func(...string) []string, repo, url string, signed map[string]*auditKey, bob, alice *auditKey) {
	t.Helper()
	var bobs, alices []string
	for _, rel := range sortedKeys(signed) {
		if signed[rel] == bob {
			bobs = append(bobs, rel)
		} else {
			alices = append(alices, rel)
		}
	}
	path := func(rel string) string {
		return filepath.Join(repo, "charts", strings.Replace(rel, " ", "-", 1)+".tgz")
	}
	saved := map[string][]byte{}
	for _, f := range []string{path(bobs[0]), path(bobs[0]) + ".prov", path(alices[0]), path(alices[0]) + ".prov", path(bobs[1]) + ".prov"} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		saved[f] = data
		os.Remove(f)
	}
	writeIndex(t, repo)
	defer func() {
		for f, data := range saved {
			os.WriteFile(f, data, 0o644)
		}
		writeIndex(t, repo)
	}()
	d := auditJSONRun(t, 1, k("audit", "--repo", url, "--key", bob.fpr)...)
	want := map[string]string{bobs[0]: "missing-from-index", bobs[1]: "prov-missing"}
	for _, r := range d.Releases {
		rel := r.Chart + " " + r.Version
		if w, ok := want[rel]; ok {
			if r.Status != w || r.LedgerSigner != bob.fpr || r.Reason != "compromised" {
				t.Errorf("%s: %s ledger signer %s reason %s, want %s by bob", rel, r.Status, r.LedgerSigner, r.Reason, w)
			}
			delete(want, rel)
		}
	}
	if len(want) != 0 || len(d.Releases) != 29 || len(d.Worklist) != 29 || d.Summary.Total != 58 {
		t.Errorf("--key bob with a hidden release: missing %v, %d listed, %d in the worklist, %d in the index", want, len(d.Releases), len(d.Worklist), d.Summary.Total)
	}
	if len(d.MissingFromIndex) != 1 || d.MissingFromIndex[0].Chart+" "+d.MissingFromIndex[0].Version != alices[0] {
		t.Errorf("alice's hidden release is not noted: %+v", d.MissingFromIndex)
	}
	out, errs, code := keyctlRun(t, k("audit", "--repo", url, "--key", bob.fpr)...)
	if code != 1 || !strings.Contains(out, "1 missing-from-index") || !strings.Contains(out, pgpkey.KeyIDOfFingerprint(bob.fpr)+" (ledger)") ||
		!strings.Contains(out, "1 releases recorded in the ledger are missing from the listing") {
		t.Errorf("text audit with a hidden release: exit %d\n%s\n%s", code, out, errs)
	}
	// Without --key the hidden release of compromised bob is an alarm too.
	d = auditJSONRun(t, 1, k("audit", "--repo", url)...)
	n := 0
	for _, r := range d.Releases {
		if r.Status == "missing-from-index" {
			n++
		}
	}
	if n != 1 || len(d.MissingFromIndex) != 1 {
		t.Errorf("audit without --key: %d missing-from-index alarms, %d noted; want 1 and 1", n, len(d.MissingFromIndex))
	}
}
