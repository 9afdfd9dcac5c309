package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const repoFPR = "0123456789ABCDEF0123456789ABCDEF01234567"

// repo add, repo list (text and JSON) and errors never show a token from a
// repository URL, and the config file holding it is its owner's only.
func TestRepoCredentialsNotShown(t *testing.T) {
	e := newRelEnv(t)
	cfg := filepath.Join(e.dir, "cfgdir", "config.yaml")
	os.MkdirAll(filepath.Dir(cfg), 0o700)
	if err := os.WriteFile(cfg, []byte("# mine\nstore: "+e.store+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const token = "glpat-S3CRETTOKEN"
	var all string
	for _, args := range [][]string{
		{"repo", "add", "ex", "https://ci:" + token + "@charts.example.org/charts", "--root", repoFPR},
		{"repo", "add", "tok", "https://" + token + "@charts.example.org/charts", "--root", repoFPR},
		{"repo", "list"},
		{"repo", "list", "-o", "json"},
		{"repo", "add", "ex", "https://ci:" + token + "@charts.example.org/charts", "--root", repoFPR},
	} {
		out, errs, _ := runIn(append([]string{"--config", cfg}, args...)...)
		all += out + errs
	}
	if strings.Contains(all, token) {
		t.Fatalf("the token is shown:\n%s", all)
	}
	if !strings.Contains(all, "ci:xxxxx@charts.example.org") {
		t.Fatalf("the URL is not shown redacted:\n%s", all)
	}
	out, _, _ := runIn("--config", cfg, "repo", "list", "-o", "json")
	var list []repoEntry
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 {
		t.Fatalf("repo list -o json: %v\n%s", err, out)
	}
	// The file keeps the real URL, for keyctl to use, and only its owner
	// reads it; a stricter mode is kept.
	data, _ := os.ReadFile(cfg)
	if !strings.Contains(string(data), token) || !strings.Contains(string(data), "# mine") {
		t.Fatalf("config file:\n%s", data)
	}
	if st, _ := os.Stat(cfg); st.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode %04o after repo add, want 0600", st.Mode().Perm())
	}
	os.Chmod(cfg, 0o400)
	e.mustRun(t, "--config", cfg, "repo", "remove", "tok")
	if st, _ := os.Stat(cfg); st.Mode().Perm() != 0o400 {
		t.Fatalf("config file mode %04o after repo remove, want the stricter 0400 kept", st.Mode().Perm())
	}
}

// keyctl takes no pins from a config file, or a folder holding it, that
// group or others may write.
func TestConfigWritableByOthersRefused(t *testing.T) {
	e := newRelEnv(t)
	dir := filepath.Join(e.dir, "shared")
	os.MkdirAll(dir, 0o700)
	cfg := filepath.Join(dir, "config.yaml")
	pinned := "repositories:\n  - name: ex\n    url: https://charts.example.org\n    roots: [" + repoFPR + "]\n"
	for _, c := range []struct {
		name         string
		body         string
		file, folder os.FileMode
		refused      bool
		fix          string
	}{
		{"private", pinned, 0o600, 0o700, false, ""},
		{"world-writable file", pinned, 0o666, 0o700, true, "chmod go-w " + cfg},
		{"group-writable file", pinned, 0o620, 0o700, true, "chmod go-w " + cfg},
		{"world-writable folder", pinned, 0o600, 0o777, true, "chmod go-w " + dir},
		{"sticky folder", pinned, 0o600, os.ModeSticky | 0o777, false, ""},
		{"verify root pin", "verify:\n  root: [" + repoFPR + "]\n", 0o666, 0o700, true, "chmod go-w " + cfg},
		{"no pins", "store: " + e.store + "\n", 0o666, 0o777, false, ""},
	} {
		os.Chmod(dir, 0o700)
		if err := os.WriteFile(cfg, []byte(c.body), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chmod(cfg, c.file)
		os.Chmod(dir, c.folder)
		out, errs, code := runIn("--config", cfg, "repo", "list")
		if c.refused {
			if code != 1 || !strings.Contains(errs, c.fix) || strings.Contains(out, "charts.example.org") {
				t.Errorf("%s: exit %d\n%s%s", c.name, code, out, errs)
			}
		} else if code != 0 {
			t.Errorf("%s: exit %d\n%s", c.name, code, errs)
		}
	}
	os.Chmod(dir, 0o700)
}
