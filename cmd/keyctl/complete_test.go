package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyctl/keyctl/internal/testutil/peers"
)

// complete runs cobra's hidden __complete command, as the shell scripts
// of keyctl completion do, and returns the candidates (without
// descriptions) and the directive line.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	out := mustKC(t, append([]string{"__complete"}, args...)...)
	var cands []string
	directive := ""
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, ":") {
			directive = line
			continue
		}
		if strings.HasPrefix(line, "Completion ended") || line == "" {
			continue
		}
		cands = append(cands, strings.SplitN(line, "\t", 2)[0])
	}
	return cands, directive
}

func TestCompletion(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	store := filepath.Join(dir, "k.db")
	t.Setenv("KEYCTL_STORE", store)
	rk, rp := filepath.Join(dir, "root.key"), filepath.Join(dir, "root.pub")
	mustKC(t, "root", "create", "--name", "r", "--secret-out", rk, "--public-out", rp, "--no-passphrase")
	mustKC(t, "init", "--repository", "charts.example.org", "--root-key", rp)

	// Nothing in the store, nothing configured: no candidates, no error.
	if c, _ := complete(t, "show", ""); len(c) != 0 {
		t.Fatalf("empty store completed %v", c)
	}
	if c, _ := complete(t, "repo", "remove", ""); len(c) != 0 {
		t.Fatalf("no config completed %v", c)
	}

	mustKC(t, "add", maintainerKey(t, dir, "alice"), "--reason", "r")
	mustKC(t, "add", maintainerKey(t, dir, "gone"), "--reason", "r")
	var keys []struct {
		Fingerprint string   `json:"fingerprint"`
		UserIDs     []string `json:"user_ids"`
	}
	if err := json.Unmarshal([]byte(mustKC(t, "-o", "json", "list")), &keys); err != nil || len(keys) != 2 {
		t.Fatalf("list: %v %v", err, keys)
	}
	var alice, gone string
	for _, k := range keys {
		if strings.Contains(k.UserIDs[0], "alice") {
			alice = k.Fingerprint
		} else {
			gone = k.Fingerprint
		}
	}
	mustKC(t, "remove", gone, "--reason", "retired")

	c, dir1 := complete(t, "show", "")
	if len(c) != 2 || dir1 != ":4" {
		t.Fatalf("show: %v %s, want both fingerprints and :4 (no files)", c, dir1)
	}
	if c, _ := complete(t, "show", alice[:6]); len(c) != 1 || c[0] != alice {
		t.Fatalf("show %s: %v, want %s", alice[:6], c, alice)
	}
	if c, _ := complete(t, "show", strings.ToLower(alice[:6])); len(c) != 1 || c[0] != alice {
		t.Fatalf("lower-case prefix: %v", c)
	}
	if c, _ := complete(t, "remove", ""); len(c) != 1 || c[0] != alice {
		t.Fatalf("remove offers only active keys: %v", c)
	}
	if c, _ := complete(t, "show", alice, ""); len(c) != 0 {
		t.Fatalf("second argument completed %v", c)
	}
	if c, _ := complete(t, "audit", "--key", ""); len(c) != 2 {
		t.Fatalf("audit --key: %v", c)
	}
	// --store on the line is honoured, as the command would honour it.
	if c, _ := complete(t, "--store", filepath.Join(dir, "none.db"), "show", ""); len(c) != 0 {
		t.Fatalf("--store none.db completed %v", c)
	}
	if _, err := os.Stat(filepath.Join(dir, "none.db")); err == nil {
		t.Fatal("completion created a store")
	}

	fpr := strings.Repeat("AB", 20)
	mustKC(t, "repo", "add", "example", "https://charts.example.org", "--root", fpr)
	mustKC(t, "repo", "add", "other", dir, "--root", fpr)
	if c, _ := complete(t, "repo", "remove", ""); strings.Join(c, " ") != "example other" {
		t.Fatalf("repo remove: %v", c)
	}
	if c, _ := complete(t, "repo", "remove", "ex"); strings.Join(c, " ") != "example" {
		t.Fatalf("repo remove ex: %v", c)
	}
	if c, _ := complete(t, "verify", "--repo", ""); strings.Join(c, " ") != "example other" {
		t.Fatalf("verify --repo: %v", c)
	}
	if c, _ := complete(t, "sign", "x.tgz", "--repo", "o"); strings.Join(c, " ") != "other" {
		t.Fatalf("sign --repo: %v", c)
	}

	// verify's argument: NAME/ and the archives here.
	wd, _ := os.Getwd()
	t.Cleanup(func() { os.Chdir(wd) })
	os.Chdir(dir)
	os.WriteFile("mychart-1.0.0.tgz", []byte("x"), 0o644)
	c, d := complete(t, "verify", "")
	got := strings.Join(c, " ")
	for _, w := range []string{"example/", "other/", "mychart-1.0.0.tgz"} {
		if !strings.Contains(" "+got+" ", " "+w+" ") {
			t.Errorf("verify: %q lacks %s", got, w)
		}
	}
	if d != ":6" {
		t.Errorf("verify directive %s, want :6 (no space, no files)", d)
	}
	if c, _ := complete(t, "verify", "ex"); strings.Join(c, " ") != "example/" {
		t.Fatalf("verify ex: %v", c)
	}
	// No name matches: the shell's own completion of *.tgz files.
	if c, d := complete(t, "verify", "my"); strings.Join(c, " ") != "tgz" || d != ":8" {
		t.Fatalf("verify my: %v %s, want tgz :8 (filter by extension)", c, d)
	}
}

// TestBashCompletion runs the script of keyctl completion bash in a real
// bash with the bash-completion package, as a user's shell would on TAB.
func TestBashCompletion(t *testing.T) {
	const lib = "/usr/share/bash-completion/bash_completion"
	bash, err := exec.LookPath("bash")
	if _, serr := os.Stat(lib); err != nil || serr != nil {
		if peers.Required() {
			t.Fatalf("bash and %s are needed (scripts/peers.sh installs bash-completion)", lib)
		}
		t.Skipf("bash or %s missing; scripts/peers.sh installs bash-completion", lib)
	}
	keyctlBin(t)
	dir := t.TempDir()
	env := append(os.Environ(), "XDG_CONFIG_HOME="+filepath.Join(dir, "xdg"), "XDG_DATA_HOME="+filepath.Join(dir, "data"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "xdg"))
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	mustKC(t, "repo", "add", "example", "https://charts.example.org", "--root", strings.Repeat("AB", 20))
	script := `source ` + lib + `
source <(keyctl completion bash)
c() { COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<<"$*"
  [[ "$COMP_LINE" == *" " ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); __start_keyctl keyctl 2>/dev/null
  echo "$*|${COMPREPLY[*]}"; }
c "keyctl repo remove "
c "keyctl verify ex"
c "keyctl verify --repo "
c "keyctl repo re"
`
	cmd := exec.Command(bash, "--norc", "--noprofile", "-c", script)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	want := "keyctl repo remove |example\nkeyctl verify ex|example/\nkeyctl verify --repo |example\nkeyctl repo re|remove\n"
	if string(out) != want {
		t.Fatalf("bash completion gave\n%s\nwant\n%s", out, want)
	}
}
