package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/keyctl/keyctl/internal/testutil/peers"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"keyctl": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the txtar scripts under testdata/script: the real
// command against real GnuPG, Sequoia and Helm.
func TestScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/script/*.txtar")
	if len(files) == 0 {
		t.Fatal("no scripts found under testdata/script")
	}
	// The scripts drive the real peers: without them the whole suite skips,
	// or fails when KEYCTL_REQUIRE_PEERS=1.
	peers.GPG(t)
	peers.GPGV(t)
	peers.SQ(t)
	peers.Helm3(t)
	peers.Helm4(t)
	peers.Registry(t)
	testscript.Run(t, scriptParams(t, "testdata/script"))
}

func scriptParams(t *testing.T, dir string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			work := env.WorkDir
			home := filepath.Join(work, ".home")
			gh, err := os.MkdirTemp("", "kgs")
			if err != nil {
				return err
			}
			os.Chmod(gh, 0o700)
			os.WriteFile(filepath.Join(gh, "gpg-agent.conf"), []byte("allow-loopback-pinentry\n"), 0o600)
			env.Defer(func() {
				exec.Command("gpgconf", "--homedir", gh, "--kill", "all").Run()
				os.RemoveAll(gh)
			})
			for k, v := range map[string]string{
				"HOME":             home,
				"XDG_DATA_HOME":    filepath.Join(home, "data"),
				"XDG_CONFIG_HOME":  filepath.Join(home, "config"),
				"XDG_STATE_HOME":   filepath.Join(home, "state"),
				"XDG_CACHE_HOME":   filepath.Join(home, "cache"),
				"GNUPGHOME":        gh,
				"KEYCTL_ACTOR":     "tester@example.org",
				"KEYCTL_PEERS_DIR": peers.Dir(),
			} {
				env.Setenv(k, v)
			}
			return os.MkdirAll(home, 0o700)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"gpg":       gpgCmd,
			"gpgfpr":    gpgFprCmd,
			"truncfile": truncFileCmd,
			"flipbyte":  flipByteCmd,
			"capture":   captureCmd,
			"helm3":     helmCmd("3"),
			"helm4":     helmCmd("4"),
			"sq":        toolCmd("sq"),
			"gpgv":      toolCmd("gpgv"),
			"registry":  registryCmd(t),
			"ocitag":    ocitagCmd,
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "helm3", "helm4":
				_, err := os.Stat(filepath.Join(peers.Dir(), cond, "helm"))
				return err == nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	}
}

// requirePeer fails the script (KEYCTL_REQUIRE_PEERS=1) or skips it when a
// peer program is missing.
func requirePeer(ts *testscript.TestScript, path string) {
	if _, err := os.Stat(path); err == nil {
		return
	}
	ts.Fatalf("peer %s is missing (TestScripts checks the peers first; run scripts/peers.sh)", path)
}

func runPeer(ts *testscript.TestScript, neg bool, bin string, args []string) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = ts.MkAbs(".")
	var env []string
	for _, k := range []string{"HOME", "GNUPGHOME", "PATH", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "TZ"} {
		env = append(env, k+"="+ts.Getenv(k))
	}
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	ts.Stdout().Write(out.Bytes())
	ts.Stderr().Write(errb.Bytes())
	if err != nil && !neg {
		ts.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	if err == nil && neg {
		ts.Fatalf("%s %s: unexpected success", filepath.Base(bin), strings.Join(args, " "))
	}
}

// gpg runs GnuPG in batch mode in the script's GNUPGHOME, keys without
// passphrase.
func gpgCmd(ts *testscript.TestScript, neg bool, args []string) {
	bin, err := exec.LookPath("gpg")
	if err != nil {
		requirePeer(ts, "gpg")
	}
	full := append([]string{"--batch", "--yes", "--no-tty", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)
	runPeer(ts, neg, bin, full)
}

// gpgfpr [-last] VAR QUERY sets $VAR to the primary fingerprint of the
// first (or last) key matching QUERY.
func gpgFprCmd(ts *testscript.TestScript, neg bool, args []string) {
	last := len(args) > 0 && args[0] == "-last"
	if last {
		args = args[1:]
	}
	if len(args) != 2 {
		ts.Fatalf("usage: gpgfpr [-last] VAR QUERY")
	}
	out, err := exec.Command("gpg", "--homedir", ts.Getenv("GNUPGHOME"), "--with-colons", "--list-keys", args[1]).Output()
	if err != nil {
		ts.Fatalf("gpg --list-keys %s: %v", args[1], err)
	}
	inPub := false
	var fprs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ":")
		if f[0] == "pub" {
			inPub = true
		} else if f[0] == "fpr" && inPub {
			fprs = append(fprs, f[9])
			inPub = false
		} else if f[0] == "sub" {
			inPub = false
		}
	}
	if len(fprs) == 0 {
		ts.Fatalf("no key matches %s", args[1])
	}
	if last {
		ts.Setenv(args[0], fprs[len(fprs)-1])
	} else {
		ts.Setenv(args[0], fprs[0])
	}
}

// truncfile SRC DST N writes the first N bytes of SRC to DST.
func truncFileCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: truncfile SRC DST N")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	var n int
	fmt.Sscan(args[2], &n)
	if n > len(data) {
		ts.Fatalf("%s has only %d bytes", args[0], len(data))
	}
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), data[:n], 0o644))
}

// flipbyte FILE OFFSET flips the low bit of one byte (negative OFFSET counts
// from the end).
func flipByteCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: flipbyte FILE OFFSET")
	}
	p := ts.MkAbs(args[0])
	data, err := os.ReadFile(p)
	ts.Check(err)
	var off int
	fmt.Sscan(args[1], &off)
	if off < 0 {
		off += len(data)
	}
	if off < 0 || off >= len(data) {
		ts.Fatalf("offset %s outside %s (%d bytes)", args[1], args[0], len(data))
	}
	data[off] ^= 1
	ts.Check(os.WriteFile(p, data, 0o644))
}

func helmCmd(major string) func(*testscript.TestScript, bool, []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		bin := filepath.Join(peers.Dir(), "helm"+major, "helm")
		requirePeer(ts, bin)
		runPeer(ts, neg, bin, args)
	}
}

func toolCmd(name string) func(*testscript.TestScript, bool, []string) {
	return func(ts *testscript.TestScript, neg bool, args []string) {
		bin, err := exec.LookPath(name)
		if err != nil {
			requirePeer(ts, name)
		}
		runPeer(ts, neg, bin, args)
	}
}

// capture VAR FILE REGEXP sets $VAR to the first submatch of REGEXP
// (multi-line mode) in FILE.
func captureCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: capture VAR FILE REGEXP")
	}
	re, err := regexp.Compile("(?m)" + args[2])
	ts.Check(err)
	m := re.FindStringSubmatch(ts.ReadFile(args[1]))
	if len(m) < 2 {
		ts.Fatalf("%s does not match %s", args[1], args[2])
	}
	ts.Setenv(args[0], m[1])
}
