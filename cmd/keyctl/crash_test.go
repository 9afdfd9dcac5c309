package main

// Reliability tests (SPEC §7, issue 7): the store survives kill -9 at any
// moment, and several keyctl processes changing it at once either succeed
// or say "store is locked", losing nothing. The processes are the real
// command: testscript.Main (main_test.go) installs a copy of this test
// binary named "keyctl" in $PATH, which runs run() when started by that
// name, so no separate go build is needed.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
)

// relEnv is one test's private keyctl world: a HOME, a store, a root key.
type relEnv struct {
	dir     string
	store   string
	rootKey string // unprotected root secret key file
	rootPub string
}

// newRelEnv makes a private HOME (so no stray config file or store is
// read), creates a root key and initializes a store with it, in-process.
func newRelEnv(t *testing.T) *relEnv {
	t.Helper()
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	for k, v := range map[string]string{
		"HOME":            home,
		"XDG_DATA_HOME":   filepath.Join(home, "data"),
		"XDG_CONFIG_HOME": filepath.Join(home, "config"),
		"XDG_STATE_HOME":  filepath.Join(home, "state"),
		"XDG_CACHE_HOME":  filepath.Join(home, "cache"),
		"KEYCTL_ACTOR":    "reliability@example.org",
	} {
		t.Setenv(k, v)
	}
	for _, k := range []string{"KEYCTL_PASSPHRASE", "KEYCTL_CONFIG", "KEYCTL_STORE", "KEYCTL_OUTPUT", "KEYCTL_LOCK_TIMEOUT"} {
		if _, ok := os.LookupEnv(k); ok {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	e := &relEnv{
		dir:     dir,
		store:   filepath.Join(dir, "store", "keyctl.db"),
		rootKey: filepath.Join(dir, "root.key"),
		rootPub: filepath.Join(dir, "root.pub"),
	}
	e.mustRun(t, "root", "create", "--name", "reliability root", "--secret-out", e.rootKey, "--public-out", e.rootPub, "--no-passphrase")
	e.mustRun(t, "--store", e.store, "init", "--repository", "charts.example.org", "--root-key", e.rootPub)
	return e
}

// runIn runs keyctl in-process with buffers.
func runIn(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func (e *relEnv) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := runIn(args...)
	if code != 0 {
		t.Fatalf("keyctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// keyctlBin is the keyctl that testscript.Main put first in $PATH: a copy of
// this test binary that runs run() when started as "keyctl".
func keyctlBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("keyctl")
	if err != nil {
		t.Fatalf("no keyctl in $PATH (testscript.Main sets it up): %v", err)
	}
	first := strings.Split(os.Getenv("PATH"), string(filepath.ListSeparator))[0]
	if filepath.Dir(p) != first {
		t.Fatalf("keyctl in $PATH is %s, not the test copy in %s", p, first)
	}
	return p
}

// keyctlCmd is a keyctl subprocess with the test's environment.
func (e *relEnv) keyctlCmd(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer) {
	cmd := exec.Command(keyctlBin(t), append([]string{"--store", e.store}, args...)...)
	cmd.Dir = e.dir
	cmd.Env = os.Environ()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	return cmd, &out, &errb
}

// maintainer is a go-crypto maintainer key that passes the default policy.
type maintainer struct {
	fpr    string
	file   string // armored public key
	entity *openpgp.Entity
}

func newMaintainer(t testing.TB, dir, name string) maintainer {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", strings.ToLower(name)+"@example.org",
		&packet.Config{Algorithm: packet.PubKeyAlgoEd25519, KeyLifetimeSecs: 365 * 24 * 3600})
	if err != nil {
		t.Fatal(err)
	}
	var pub bytes.Buffer
	if err := e.Serialize(&pub); err != nil {
		t.Fatal(err)
	}
	arm, err := pgpkey.Armor(openpgp.PublicKeyType, pub.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, name+".asc")
	if err := os.WriteFile(file, arm, 0o644); err != nil {
		t.Fatal(err)
	}
	return maintainer{fpr: pgpkey.Fingerprint(e), file: file, entity: e}
}

// storeState is what a store holds, read through the ring package after
// checking that it opens and its log verifies.
type storeState struct {
	keys      map[string]ring.Status // fingerprint -> status
	added     map[string]int         // fingerprint -> add records
	removed   map[string]int         // fingerprint -> remove records
	publishes int
	published uint64 // version recorded as published, 0: none
	records   int
}

func readStore(t *testing.T, path string) storeState {
	t.Helper()
	s, err := ring.Open(path, ring.Options{ReadOnly: true, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("store does not open: %v", err)
	}
	defer s.Close()
	n, err := s.VerifyLog()
	if err != nil {
		t.Fatalf("change log does not verify: %v", err)
	}
	st := storeState{keys: map[string]ring.Status{}, added: map[string]int{}, removed: map[string]int{}, records: n}
	keys, err := s.List(true)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	for _, k := range keys {
		st.keys[k.Fingerprint] = k.Status
	}
	recs, err := s.Log()
	if err != nil {
		t.Fatalf("log: %v", err)
	}
	for _, r := range recs {
		switch r.Action {
		case "add":
			st.added[r.Fingerprint]++
		case "remove":
			st.removed[r.Fingerprint]++
		case "publish":
			st.publishes++
		}
	}
	info, err := s.Info()
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if info.Published != nil {
		st.published = info.Published.Version
	}
	return st
}

// consistent checks that every key change left exactly its record: a key
// is in the store iff one add record names it, removed iff one remove
// record names it.
func (st storeState) consistent(t *testing.T) {
	t.Helper()
	for fpr, status := range st.keys {
		if st.added[fpr] != 1 {
			t.Errorf("key %s is stored with %d add records", fpr, st.added[fpr])
		}
		want := 0
		if status == ring.Removed {
			want = 1
		}
		if st.removed[fpr] != want {
			t.Errorf("key %s is %s with %d remove records", fpr, status, st.removed[fpr])
		}
	}
	for fpr := range st.added {
		if _, ok := st.keys[fpr]; !ok {
			t.Errorf("add record for %s, but the key is not stored (partial record)", fpr)
		}
	}
	for fpr := range st.removed {
		if st.keys[fpr] != ring.Removed {
			t.Errorf("remove record for %s, but the key is %q", fpr, st.keys[fpr])
		}
	}
}

// exitCode returns the exit code of a finished command, or -1 when it was
// killed by a signal.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1
		}
		return ee.ExitCode()
	}
	return -2
}

var publishedRE = regexp.MustCompile(`published manifest version (\d+)`)

// TestCrashSafety kills keyctl add, remove and publish with SIGKILL at
// random moments and checks after every kill that the store opens, its
// change log verifies, no acknowledged change is lost and no unfinished
// one left a partial record.
func TestCrashSafety(t *testing.T) {
	e := newRelEnv(t)
	site := filepath.Join(e.dir, "site")
	const iterations = 40
	keys := make([]maintainer, iterations)
	for i := range keys {
		keys[i] = newMaintainer(t, e.dir, fmt.Sprintf("Maint%02d", i))
	}

	// Calibrate the kill window on one unhurried add: delays range over
	// 0 to twice what a whole command takes here, so kills land before,
	// inside and after the write transaction.
	start := time.Now()
	cmd, _, errb := e.keyctlCmd(t, "add", keys[0].file, "--reason", "calibration")
	if err := cmd.Run(); err != nil {
		t.Fatalf("calibration add: %v\n%s", err, errb)
	}
	window := time.Since(start) * 2
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill window %s, seed %d", window, seed)
	rng := rand.New(rand.NewPCG(seed, 7))

	ackAdded := map[string]bool{keys[0].fpr: true}
	ackRemoved := map[string]bool{}
	var ackPublished uint64
	killed, done := 0, 0
	next := 1
	for i := 0; i < iterations; i++ {
		var args []string
		op := rng.IntN(4)
		var target string
		switch {
		case op == 0 && len(ackAdded) > len(ackRemoved):
			for fpr := range ackAdded {
				if !ackRemoved[fpr] {
					target = fpr
					break
				}
			}
			args = []string{"remove", target, "--reason", "retired"}
		case op == 1:
			args = []string{"publish", "--to", site, "--root-key", e.rootKey}
		default:
			if next >= len(keys) {
				next = 1 // re-adding an active key is refused; that is fine too
			}
			target = keys[next].fpr
			args = []string{"add", keys[next].file, "--reason", fmt.Sprintf("iteration %d", i)}
			next++
		}
		cmd, out, errb := e.keyctlCmd(t, args...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(0)
		if i > 0 {
			delay = time.Duration(rng.Int64N(int64(window) + 1))
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		code := exitCode(cmd.Wait())
		switch code {
		case -1:
			killed++
		case 0:
			done++
			switch args[0] {
			case "add":
				ackAdded[target] = true
			case "remove":
				ackRemoved[target] = true
			case "publish":
				m := publishedRE.FindStringSubmatch(out.String())
				if m == nil {
					t.Fatalf("publish exited 0 without saying what it published:\n%s", out)
				}
				fmt.Sscan(m[1], &ackPublished)
			}
		default:
			// A refusal (exit 1 or 2) must be in keyctl's voice.
			if code != 1 && code != 2 {
				t.Fatalf("keyctl %s: exit %d\n%s", strings.Join(args, " "), code, errb)
			}
			assertVoice(t, errb.String())
			// A publish killed after taking the directory lock leaves it
			// behind; the refusal says how to clear it, as an operator would.
			if args[0] == "publish" && strings.Contains(errb.String(), "another publish holds the lock") {
				os.Remove(filepath.Join(site, "keyctl-manifest.json.lock"))
			}
		}

		st := readStore(t, e.store)
		st.consistent(t)
		for fpr := range ackAdded {
			if _, ok := st.keys[fpr]; !ok {
				t.Fatalf("iteration %d: acknowledged add of %s is lost", i, fpr)
			}
		}
		for fpr := range ackRemoved {
			if st.keys[fpr] != ring.Removed {
				t.Fatalf("iteration %d: acknowledged removal of %s is lost", i, fpr)
			}
		}
		if st.published < ackPublished {
			t.Fatalf("iteration %d: acknowledged publish of version %d is lost (store says %d)", i, ackPublished, st.published)
		}
		if t.Failed() {
			t.Fatalf("iteration %d (keyctl %s, killed after %s, exit %d) left the store inconsistent", i, strings.Join(args, " "), delay, code)
		}
	}
	t.Logf("%d commands killed, %d finished", killed, done)
	if killed == 0 {
		t.Fatal("no command was killed: the test did not test anything")
	}

	// The real command agrees: the store opens and its log verifies.
	cmd, out, errb := e.keyctlCmd(t, "log", "--verify")
	if err := cmd.Run(); err != nil {
		t.Fatalf("keyctl log --verify after the crashes: %v\n%s", err, errb)
	}
	if !strings.Contains(out.String(), "hash chain intact") {
		t.Fatalf("keyctl log --verify: %s", out)
	}
	// And a further change and a publish still work after all the kills.
	os.Remove(filepath.Join(site, "keyctl-manifest.json.lock"))
	extra := newMaintainer(t, e.dir, "AfterCrash")
	e.mustRun(t, "--store", e.store, "add", extra.file, "--reason", "after the crashes")
	if out, errs, code := runIn("--store", e.store, "publish", "--to", site, "--root-key", e.rootKey); code != 0 {
		t.Errorf("publish after the crashes: exit %d\n%s%s", code, out, errs)
	}
}

// assertVoice checks that stderr of a failed command is keyctl's: every
// line starts with "keyctl:", the first is an error or a refusal, and
// nothing looks like a Go panic or stack trace.
func assertVoice(t *testing.T, stderr string) {
	t.Helper()
	if stderr == "" {
		t.Errorf("failed without a message")
		return
	}
	for _, bad := range []string{"panic:", "goroutine ", "runtime error", ".go:"} {
		if strings.Contains(stderr, bad) {
			t.Errorf("stderr has %q:\n%s", bad, stderr)
		}
	}
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	first := -1
	for i, l := range lines {
		if !strings.HasPrefix(l, "keyctl:") {
			t.Errorf("stderr line %q is not in keyctl's voice:\n%s", l, stderr)
		}
		if first < 0 && (strings.HasPrefix(l, "keyctl: error:") || strings.HasPrefix(l, "keyctl: not trusted:") || strings.HasPrefix(l, "keyctl: security error:")) {
			first = i
		}
	}
	if first < 0 {
		t.Errorf("no 'keyctl: error:' or 'keyctl: not trusted:' line:\n%s", stderr)
	}
}

// TestConcurrentWriters starts adds of distinct keys, a remove and a list
// at once. Each either succeeds or says clearly that the store is locked
// (exit 2, naming the store, with a hint); no acknowledged change is lost.
func TestConcurrentWriters(t *testing.T) {
	e := newRelEnv(t)
	victim := newMaintainer(t, e.dir, "Victim")
	e.mustRun(t, "--store", e.store, "add", victim.file, "--reason", "to be removed")

	for round, lockWait := range []string{"5s", "1ms"} {
		// With a generous wait everyone gets its turn; with 1ms most are
		// turned away with "store is locked".
		keys := make([]maintainer, 6)
		for i := range keys {
			keys[i] = newMaintainer(t, e.dir, fmt.Sprintf("Conc%d_%d", round, i))
		}
		type proc struct {
			args     []string
			cmd      *exec.Cmd
			out, err *bytes.Buffer
			fpr      string
		}
		var procs []*proc
		for _, k := range keys {
			procs = append(procs, &proc{args: []string{"--lock-timeout", lockWait, "add", k.file, "--reason", "concurrent"}, fpr: k.fpr})
		}
		if round == 0 {
			procs = append(procs, &proc{args: []string{"--lock-timeout", lockWait, "remove", victim.fpr, "--reason", "superseded"}, fpr: victim.fpr})
		}
		procs = append(procs, &proc{args: []string{"--lock-timeout", lockWait, "list", "--all"}})
		var wg sync.WaitGroup
		for _, p := range procs {
			p.cmd, p.out, p.err = e.keyctlCmd(t, p.args...)
			if err := p.cmd.Start(); err != nil {
				t.Fatal(err)
			}
		}
		codes := make([]int, len(procs))
		for i, p := range procs {
			wg.Add(1)
			go func() { defer wg.Done(); codes[i] = exitCode(p.cmd.Wait()) }()
		}
		wg.Wait()

		st := readStore(t, e.store)
		st.consistent(t)
		ok, locked := 0, 0
		for i, p := range procs {
			switch codes[i] {
			case 0:
				ok++
				switch p.args[2] {
				case "add":
					if st.keys[p.fpr] != ring.Active {
						t.Errorf("acknowledged add of %s is lost", p.fpr)
					}
				case "remove":
					if st.keys[p.fpr] != ring.Removed {
						t.Errorf("acknowledged removal of %s is lost", p.fpr)
					}
				}
			case 2:
				locked++
				msg := p.err.String()
				if !strings.Contains(msg, "keyctl: error: store is locked: "+e.store) || !strings.Contains(msg, "keyctl: hint: ") {
					t.Errorf("keyctl %s: exit 2 without a clear 'store is locked' message naming the store and a hint:\n%s", strings.Join(p.args, " "), msg)
				}
				assertVoice(t, msg)
				if p.args[2] == "add" {
					if _, stored := st.keys[p.fpr]; stored {
						t.Errorf("add of %s was refused with 'store is locked' but the key is stored", p.fpr)
					}
				}
			default:
				t.Errorf("keyctl %s: exit %d\n%s", strings.Join(p.args, " "), codes[i], p.err)
			}
		}
		t.Logf("round %d (--lock-timeout %s): %d succeeded, %d locked out", round, lockWait, ok, locked)
	}
	if _, errs, code := runIn("--store", e.store, "log", "--verify"); code != 0 {
		t.Fatalf("log --verify: %s", errs)
	}
}

// TestPublishKilledBeforeRecord is the kill -9 that TestCrashSafety hits at
// random, made deterministic: a publish killed after its manifest went live
// but before the store's write transaction committed leaves the store file
// exactly as it was before the publish. Simulated by restoring the store
// file's bytes after a complete publish; a re-run must then complete (not
// refuse for ever with "another publish went live").
func TestPublishKilledBeforeRecord(t *testing.T) {
	e := newRelEnv(t)
	site := filepath.Join(e.dir, "site")
	m := newMaintainer(t, e.dir, "Killed")
	e.mustRun(t, "--store", e.store, "add", m.file, "--reason", "before the publish")
	e.mustRun(t, "--store", e.store, "publish", "--to", site, "--root-key", e.rootKey)
	m2 := newMaintainer(t, e.dir, "Killed2")
	e.mustRun(t, "--store", e.store, "add", m2.file, "--reason", "second")
	killedPublish(t, e, site)
	// The re-run is built in a later second than the killed publish, so
	// its manifest differs from the live one (TestPublishRerunSameSecond
	// covers the same second).
	time.Sleep(1100 * time.Millisecond)
	out, errs, code := runIn("--store", e.store, "publish", "--to", site, "--root-key", e.rootKey)
	if code != 0 {
		t.Fatalf("publish after a publish killed before the store recorded it: exit %d\n%s%s", code, out, errs)
	}
	checkRecorded(t, e, out)
}

// killedPublish publishes and then puts the store file back as it was
// before, plus the pending record that publish commits before its upload
// starts: the state a kill -9 between the manifest upload and the store's
// commit leaves.
func killedPublish(t *testing.T, e *relEnv, site string) {
	t.Helper()
	before, err := os.ReadFile(e.store)
	if err != nil {
		t.Fatal(err)
	}
	e.mustRun(t, "--store", e.store, "publish", "--to", site, "--root-key", e.rootKey)
	if err := os.WriteFile(e.store, before, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := publish.Open(context.Background(), site, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	live, err := b.Get(context.Background(), root.ManifestName, root.MaxManifestSize)
	if err != nil {
		t.Fatal(err)
	}
	m, err := root.ParseManifest(live)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ring.Open(e.store, ring.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetPending(ring.Pending{Version: m.Version, SHA256: root.Hash(live), Location: b.Location()}); err != nil {
		t.Fatal(err)
	}
}

func checkRecorded(t *testing.T, e *relEnv, out string) {
	t.Helper()
	st := readStore(t, e.store)
	m := publishedRE.FindStringSubmatch(out)
	if m == nil || fmt.Sprint(st.published) != m[1] {
		t.Fatalf("store records version %d, the publish said %q", st.published, out)
	}
	e.mustRun(t, "--store", e.store, "log", "--verify")
}

// TestPublishRerunSameSecond: a publish killed after its uploads and
// re-run within the same second builds byte-identical manifest bytes (the
// issue time has one-second resolution) but a new signature (OpenPGP
// signatures carry a random salt), so the object at
// ContentPath(manifest)+".sig" differs from what is there. That is not
// tampering, and the re-run must not report a security error.
func TestPublishRerunSameSecond(t *testing.T) {
	e := newRelEnv(t)
	m := newMaintainer(t, e.dir, "SameSecond")
	e.mustRun(t, "--store", e.store, "add", m.file, "--reason", "same second")
	for attempt := 0; attempt < 5; attempt++ {
		site := filepath.Join(e.dir, fmt.Sprintf("site%d", attempt))
		// Start just after a second boundary, so that both publishes
		// usually fall in the same second.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
		start := time.Now().Unix()
		killedPublish(t, e, site)
		out, errs, code := runIn("--store", e.store, "publish", "--to", site, "--root-key", e.rootKey)
		if time.Now().Unix() != start {
			// Not the same second after all: the case was not exercised.
			if code == 0 {
				e.mustRun(t, "--store", e.store, "log", "--verify")
			}
			t.Logf("attempt %d spanned a second boundary; again", attempt)
			continue
		}
		if code != 0 {
			t.Fatalf("re-run in the same second of a publish killed before the store recorded it: exit %d\n%s%s", code, out, errs)
		}
		checkRecorded(t, e, out)
		return
	}
	t.Fatal("five attempts never put two publishes in the same second")
}
