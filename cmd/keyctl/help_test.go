package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// outside matches a reference to a document users do not have: the product
// specification ("SPEC", "SPEC §3") or a bare section sign ("§3.5"). RFC
// sections ("RFC 9580 §6.1") are public and allowed.
var (
	outside = regexp.MustCompile(`SPEC|§`)
	rfc     = regexp.MustCompile(`RFC ?[0-9]+,? §`)
)

func mentionsOutside(s string) bool {
	return outside.MatchString(rfc.ReplaceAllString(s, ""))
}

func TestMentionsOutside(t *testing.T) {
	for s, want := range map[string]bool{
		"Verify a chart (SPEC §3)":             true,
		"publish builds what SPEC lists":       true,
		"apply removal reasons as §3.5 says":   true,
		"RFC 9580 §6.1 says":                   false,
		"see docs/verify.md":                   false,
		"a specification of the format, specs": false,
	} {
		if got := mentionsOutside(s); got != want {
			t.Errorf("mentionsOutside(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestHelpStandsAlone walks every command and flag: no help text may send a
// user to a document outside the repository.
func TestHelpStandsAlone(t *testing.T) {
	root := (&app{}).rootCommand()
	n := 0
	walk(root, func(c *cobra.Command) {
		n++
		for field, s := range map[string]string{"Use": c.Use, "Short": c.Short, "Long": c.Long, "Example": c.Example} {
			if mentionsOutside(s) {
				t.Errorf("%s: %s mentions a document users do not have: %q", c.CommandPath(), field, s)
			}
		}
		check := func(f *pflag.Flag) {
			if mentionsOutside(f.Usage) {
				t.Errorf("%s --%s: usage mentions a document users do not have: %q", c.CommandPath(), f.Name, f.Usage)
			}
		}
		c.LocalFlags().VisitAll(check)
		c.InheritedFlags().VisitAll(check)
	})
	if n < 20 {
		t.Fatalf("walked only %d commands", n)
	}
}

// TestStringsStandAlone parses the command and internal packages: no string
// literal (error, hint, output) may cite the specification. Comments are
// not user-facing and are not checked.
func TestStringsStandAlone(t *testing.T) {
	var files []string
	for _, dir := range []string{".", "../../internal", "../../policy"} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && d.Name() == "testdata" {
				return filepath.SkipDir
			}
			if !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				files = append(files, p)
			}
			return nil
		})
	}
	if len(files) < 20 {
		t.Fatalf("found only %d Go files", len(files))
	}
	fset := token.NewFileSet()
	for _, p := range files {
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && mentionsOutside(s) {
				t.Errorf("%s: string mentions a document users do not have: %q", fset.Position(lit.Pos()), s)
			}
			return true
		})
	}
}

// TestDocsStandAlone checks README.md, docs/*.md and the plugin's README
// the same way.
func TestDocsStandAlone(t *testing.T) {
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md", "../../plugin/keyctl/README.md")
	if len(files) < 5 {
		t.Fatalf("found only %d documents", len(files))
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			if mentionsOutside(line) {
				t.Errorf("%s:%d mentions a document users do not have: %s", p, i+1, line)
			}
		}
	}
}
