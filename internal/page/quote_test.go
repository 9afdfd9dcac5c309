package page

import (
	"os/exec"
	"strings"
	"testing"
)

// The page's commands are pasted into a shell: every repository address,
// however odd, must come out of sh as the one word it was, and nothing in
// it may run.
func TestShellArgIsOneLiteralWord(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal("no sh on this machine:", err)
	}
	for _, s := range []string{
		"https://charts.example.org",
		"https://charts.example.org/x;$(echo INJECTED)`echo INJECTED`",
		"https://charts.example.org/it's here",
		"https://charts.example.org/a b\t|c&&d>e",
		"'", "''", `\'`,
	} {
		q := shellArg(s)
		out, err := exec.Command(sh, "-c", "printf '%s' "+q).Output()
		if err != nil {
			t.Fatalf("sh on %s: %v", q, err)
		}
		if string(out) != s {
			t.Errorf("shellArg(%q) = %s, which sh reads as %q", s, q, out)
		}
	}
	if got := shellArg("https://charts.example.org/path"); got != "https://charts.example.org/path" {
		t.Errorf("a plain address is quoted: %s", got)
	}
}

func TestYAMLScalarQuotes(t *testing.T) {
	for s, want := range map[string]string{
		"https://charts.example.org/pubkeys.pgp": "https://charts.example.org/pubkeys.pgp",
		"https://x.example/a: b #c":              "'https://x.example/a: b #c'",
		"https://x.example/it's":                 "'https://x.example/it''s'",
	} {
		if got := yamlScalar(s); got != want {
			t.Errorf("yamlScalar(%q) = %s, want %s", s, got, want)
		}
	}
}

func TestCheckPublicURLRefusesShellSyntax(t *testing.T) {
	for _, u := range []string{"https://x.example/a;b", "https://x.example/$(id)", "https://x.example/`id`", "https://x.example/a'b", "https://x.example/a b"} {
		if err := CheckPublicURL(u); err == nil {
			t.Errorf("CheckPublicURL(%q) accepted it", u)
		} else if !strings.Contains(err.Error(), "--public-url") {
			t.Errorf("CheckPublicURL(%q): %v", u, err)
		}
	}
	if err := CheckPublicURL("https://charts.example.org/sub/path"); err != nil {
		t.Errorf("a plain address is refused: %v", err)
	}
}
