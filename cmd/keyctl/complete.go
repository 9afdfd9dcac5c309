package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Shell completion (keyctl completion bash|zsh|fish|powershell, cobra's
// own command) completes commands and flags by itself; the functions here
// add what only keyctl knows: the fingerprints in the store and the names
// of the configured repositories. They run under cobra's hidden __complete
// command, which skips PersistentPreRunE, so each one reads the
// configuration itself, and any failure completes nothing rather than
// printing an error into the user's shell.

// completions attaches the completion functions to root's commands.
func (a *app) completions(root *cobra.Command) {
	walk(root, func(c *cobra.Command) {
		switch strings.TrimPrefix(c.CommandPath(), "keyctl ") {
		case "show":
			c.ValidArgsFunction = oneArg(a.completeKeys(true))
		case "remove":
			c.ValidArgsFunction = oneArg(a.completeKeys(false))
		case "repo remove":
			c.ValidArgsFunction = oneArg(a.completeRepoNames)
		case "verify":
			c.ValidArgsFunction = a.completeChart
			c.RegisterFlagCompletionFunc("repo", a.completeRepoFlag)
		case "sign":
			c.RegisterFlagCompletionFunc("repo", a.completeRepoFlag)
		case "audit":
			c.RegisterFlagCompletionFunc("key", a.completeKeys(true))
		}
	})
}

// completeKeys completes one fingerprint of the store, with the key's user
// ID and status as the description; all adds removed keys.
func (a *app) completeKeys(all bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if err := a.configure(cmd); err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		a.lockWait = 500 * time.Millisecond
		if a.now == nil {
			a.now = time.Now
		}
		s, err := a.openStore(true)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer s.Close()
		keys, err := s.List(all)
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []cobra.Completion
		for _, k := range keys {
			if !strings.HasPrefix(strings.ToUpper(k.Fingerprint), strings.ToUpper(toComplete)) {
				continue
			}
			desc := firstUID(k)
			if k.Removal != nil {
				desc += " (removed: " + string(k.Removal.Reason) + ")"
			}
			out = append(out, cobra.CompletionWithDesc(k.Fingerprint, desc))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// oneArg completes only the first positional argument.
func oneArg(f cobra.CompletionFunc) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f(cmd, args, toComplete)
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// repoNames returns the configured repositories' names and locations.
func (a *app) repoNames(cmd *cobra.Command) []repoEntry {
	if err := a.configure(cmd); err != nil {
		return nil
	}
	repos, err := a.repositories()
	if err != nil {
		return nil
	}
	sort.Slice(repos, func(i, j int) bool { return repos[i].Name < repos[j].Name })
	return repos
}

// completeRepoNames completes the one NAME of keyctl repo remove.
func (a *app) completeRepoNames(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	for _, r := range a.repoNames(cmd) {
		if strings.HasPrefix(r.Name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(r.Name, r.URL))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeRepoFlag completes --repo: a configured name, or else a location
// on disk.
func (a *app) completeRepoFlag(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	out, _ := a.completeRepoNames(cmd, nil, toComplete)
	if len(out) == 0 {
		return nil, cobra.ShellCompDirectiveFilterDirs
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeChart completes verify's argument: a chart archive (*.tgz) or a
// configured repository's "NAME/" followed by a chart name the user types.
func (a *app) completeChart(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []cobra.Completion
	for _, r := range a.repoNames(cmd) {
		if strings.HasPrefix(r.Name+"/", toComplete) && !strings.Contains(toComplete, "/") {
			names = append(names, cobra.CompletionWithDesc(r.Name+"/", r.URL))
		}
	}
	if len(names) == 0 {
		return []cobra.Completion{"tgz"}, cobra.ShellCompDirectiveFilterFileExt
	}
	// Names and files together: the shell's own file completion cannot be
	// mixed in, so list the archives and folders that match.
	matches, _ := filepath.Glob(toComplete + "*")
	for _, m := range matches {
		if strings.HasSuffix(m, ".tgz") {
			names = append(names, m)
		} else if isDir(m) {
			names = append(names, m+string(filepath.Separator))
		}
	}
	return names, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}
