//go:build genman

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestManPages: make man writes one page per command a user can run, named
// after its command path, holding its synopsis; and none for hidden ones.
func TestManPages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "man")
	mustKC(t, "gen-man", dir)
	pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))

	// The tree as a user's run sees it, with cobra's completion command.
	root := (&app{}).rootCommand()
	root.InitDefaultCompletionCmd()
	want := map[string]bool{}
	walk(root, func(c *cobra.Command) {
		if !c.IsAvailableCommand() && c != root {
			return
		}
		if c.HasParent() && !c.Parent().IsAvailableCommand() && c.Parent() != root {
			return
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		want[name] = true
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: no man page: %v", c.CommandPath(), err)
			return
		}
		if !strings.Contains(string(b), c.CommandPath()) || !strings.Contains(string(b), ".SH SYNOPSIS") {
			t.Errorf("%s: page lacks its synopsis", name)
		}
	})
	if len(want) < 25 {
		t.Fatalf("only %d commands", len(want))
	}
	for _, p := range pages {
		if !want[filepath.Base(p)] {
			t.Errorf("page %s for no visible command", filepath.Base(p))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "keyctl-gen-man.1")); err == nil {
		t.Error("the hidden gen-man command got a page")
	}
}
