package provenance

import (
	"strings"
	"testing"
)

// Cases follow helm.sh/helm/v3/pkg/ignore's rules_test.go, quirks included.
func TestHelmIgnore(t *testing.T) {
	cases := []struct {
		rules string
		path  string
		dir   bool
		want  bool
	}{
		{"*.md", "README.md", false, true},
		{"*.md", "docs/a.md", false, true},
		{"/secret.txt", "secret.txt", false, true},
		{"/secret.txt", "docs/secret.txt", false, false},
		{"docs/*.txt", "docs/a.txt", false, true},
		{"docs/*.txt", "docs/sub/a.txt", false, false},
		{"tmp/", "tmp", true, true},
		{"tmp/", "tmp", false, false},
		{"# comment\n\n  *.bak  ", "x.bak", false, true},
		{"!keep.md", "keep.md", false, false},
		// A negated rule that does not match ignores the path (Helm's quirk).
		{"!keep.md", "other.md", false, true},
		{"*.md\n!keep.md", "keep.md", false, true},
		{"", "templates/.hidden", false, true}, // the default rule
		{"", "templates/sub/.hidden", false, false},
		{"", ".", true, false},
	}
	for _, c := range cases {
		ig, err := parseHelmIgnore(strings.NewReader(c.rules))
		if err != nil {
			t.Fatal(err)
		}
		ig.addDefaults()
		if got := ig.ignore(c.path, c.dir); got != c.want {
			t.Errorf("rules %q: ignore(%q, dir=%v) = %v, want %v", c.rules, c.path, c.dir, got, c.want)
		}
	}
	for _, bad := range []string{"**/x", "[", "a/**"} {
		if _, err := parseHelmIgnore(strings.NewReader(bad)); err == nil {
			t.Errorf("rule %q accepted", bad)
		}
	}
}
