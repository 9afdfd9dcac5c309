package main

import (
	"bytes"
	"strings"
	"testing"
)

// The table names each command as the command names itself, and holds
// every command of the tree.
func TestCommandTable(t *testing.T) {
	a := &app{}
	table := a.commandTable()
	for _, c := range table {
		if got := c.make().Name(); got != c.name {
			t.Errorf("table entry %q builds command %q", c.name, got)
		}
	}
	if n, want := len(table), len(a.commands())-len(extraCommands); n != want {
		t.Errorf("table has %d commands, the tree %d", n, want)
	}
}

func TestCommandWord(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"verify", "x.tgz"}, "verify"},
		{[]string{"--store", "s.db", "list"}, "list"},
		{[]string{"--store=s.db", "-o", "json", "list"}, "list"},
		{[]string{"-ojson", "--plain-http", "audit"}, "audit"},
		{[]string{"--lock-timeout", "1s", "--actor", "me", "add", "k"}, "add"},
		{[]string{"--help"}, ""},
		{[]string{"--unknown", "verify"}, ""},
		{[]string{"--", "verify"}, ""},
		{[]string{}, ""},
	} {
		if got := commandWord(tc.args); got != tc.want {
			t.Errorf("commandWord(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

// A command built on its own behaves as in the whole tree: the same help,
// and the same refusal of a bad flag.
func TestOneCommandTreeSameHelp(t *testing.T) {
	a := &app{}
	for _, c := range a.commandTable() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "--no-such-flag"}} {
			full := runTree(t, true, args)
			one := runTree(t, false, args)
			if len(a.commandsFor(args)) != 1 {
				t.Fatalf("%q built %d commands", args, len(a.commandsFor(args)))
			}
			if full != one {
				t.Errorf("%q: whole tree and one command differ:\n%s\n---\n%s", args, full, one)
			}
		}
	}
}

func runTree(t *testing.T, whole bool, args []string) string {
	t.Helper()
	var out, errs bytes.Buffer
	a := &app{}
	cmds := a.commandsFor(args)
	if whole {
		cmds = a.commands()
	}
	root := a.rootCommandWith(cmds)
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errs)
	err := root.Execute()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return strings.Join([]string{out.String(), errs.String(), msg}, "\n--\n")
}
