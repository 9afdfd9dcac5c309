package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/oci"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/tlog"
)

// repoEntry is one item of the config file's repositories: list, written by
// keyctl repo add:
//
//	repositories:
//	  - name: example
//	    url: https://charts.example.org
//	    root_set: sha256:HEX  # the pinned root set's hash, or:
//	    roots: [FPR, ...]     # every key of the root set
//	    threshold: 2          # and its threshold
//	    id: charts.example.org   # optional expected repository identity
type repoEntry struct {
	Name      string   `json:"name" yaml:"name"`
	URL       string   `json:"url" yaml:"url"`
	RootSet   string   `json:"root_set,omitempty" yaml:"root_set,omitempty"`
	Roots     []string `json:"roots,omitempty" yaml:"roots,flow,omitempty"`
	Threshold int      `json:"threshold,omitempty" yaml:"threshold,omitempty"`
	ID        string   `json:"id,omitempty" yaml:"id,omitempty"`
	// Witnesses and WitnessThreshold: cosignatures required on the
	// repository's log checkpoint (docs/verify.md, section Witnesses).
	Witnesses        []string `json:"witnesses,omitempty" yaml:"witnesses,omitempty"`
	WitnessThreshold int      `json:"witness_threshold,omitempty" yaml:"witness_threshold,omitempty"`
	PlainHTTP        bool     `json:"plain_http,omitempty" yaml:"plain_http,omitempty"` // oci:// over plain HTTP
}

// repositories returns the configured repositories.
func (a *app) repositories() ([]repoEntry, error) {
	if a.v == nil || !a.v.IsSet("repositories") {
		return nil, nil
	}
	raw, err := json.Marshal(a.v.Get("repositories"))
	if err != nil {
		return nil, fail.Inputf("config file %s: repositories is not a list", a.configFile)
	}
	var out []repoEntry
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fail.Inputf("config file %s: repositories is not a list of name, url, root_set, roots, threshold", a.configFile).
			WithHint("write entries with keyctl repo add NAME URL --root-set sha256:HEX")
	}
	return out, nil
}

// findRepo returns the configured repository called name.
func (a *app) findRepo(name string) (*repoEntry, error) {
	repos, err := a.repositories()
	if err != nil {
		return nil, err
	}
	for i := range repos {
		if repos[i].Name == name {
			return &repos[i], nil
		}
	}
	return nil, nil
}

func validRepoName(n string) error {
	if n == "" || len(n) > 64 {
		return fail.Inputf("repository name must be 1 to 64 characters")
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fail.Inputf("repository name %q may hold only letters, digits, '-', '_' and '.'", n)
		}
	}
	return nil
}

func (a *app) newRepoCmd() *cobra.Command {
	c := &cobra.Command{Use: "repo", Short: "Configure the chart repositories that keyctl verify trusts (like helm repo)"}
	var roots []string
	var threshold int
	var id, rootSet string
	var force bool
	var witnesses []string
	var witnessThreshold int
	add := &cobra.Command{
		Use:   "add NAME URL (--root-set sha256:HEX | --root FPR... [--threshold N])",
		Short: "Remember a repository's location and its pinned root set",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, url := args[0], args[1]
			if err := validRepoName(name); err != nil {
				return err
			}
			if len(roots) == 0 && rootSet == "" {
				return fail.Inputf("--root-set or --root is required").WithHint("pin the root set the repository's team lead gave you: --root-set sha256:HEX (keyctl status prints it), or every root fingerprint with --root and the threshold with --threshold")
			}
			if rootSet != "" {
				h, err := root.ParseRootSetPin(rootSet)
				if err != nil {
					return err
				}
				rootSet = root.RootSetPinPrefix + h
			}
			var fprs []string
			for _, r := range roots {
				f, err := pgpkey.ParseFingerprint(r)
				if err != nil || len(f) == 16 {
					return fail.Inputf("--root %q is not a full fingerprint", r).WithHint("pin the 40- or 64-digit fingerprint, not a key ID")
				}
				fprs = append(fprs, f)
			}
			if threshold < 0 || threshold > len(fprs) {
				return fail.Inputf("--threshold %d with %d root fingerprints", threshold, len(fprs))
			}
			if witnessThreshold < 0 || witnessThreshold > len(witnesses) {
				return fail.Inputf("--witness-threshold %d with %d witness keys", witnessThreshold, len(witnesses)).
					WithHint("name at least as many witnesses (--witness VKEY, repeatable) as the threshold")
			}
			var wks []string
			for _, w := range witnesses {
				k, err := keyOrFile(w)
				if err != nil {
					return err
				}
				if _, err := tlog.NewWitnessVerifier(k); err != nil {
					return err
				}
				wks = append(wks, k)
			}
			e := repoEntry{Name: name, URL: url, RootSet: rootSet, Roots: fprs, Threshold: threshold, ID: id, Witnesses: wks, WitnessThreshold: witnessThreshold, PlainHTTP: a.plainHTTP && oci.IsLocation(url)}
			return a.editRepos(func(list []repoEntry) ([]repoEntry, error) {
				for i := range list {
					if list[i].Name == name {
						if !force {
							return nil, fail.Inputf("repository %q is already configured", name).WithHint("use --force to replace it, or keyctl repo remove " + name)
						}
						list[i] = e
						return list, nil
					}
				}
				return append(list, e), nil
			}, fmt.Sprintf("added repository %s (%s)", name, client.RedactURL(url)))
		},
	}
	add.Flags().StringVar(&rootSet, "root-set", "", "pinned root set hash, sha256:HEX (printed by keyctl init, status and root rotate)")
	add.Flags().StringSliceVar(&roots, "root", nil, "pinned root fingerprint (repeatable): every key of the root set, with --threshold")
	add.Flags().IntVar(&threshold, "threshold", 0, "the root set's threshold, with --root (default 1)")
	add.Flags().StringVar(&id, "id", "", "expected repository identity (default: the one first seen)")
	add.Flags().BoolVar(&force, "force", false, "replace an entry with the same name")
	witnessFlags(add, &witnesses, &witnessThreshold)

	list := &cobra.Command{
		Use:   "list",
		Short: "List the configured repositories",
		RunE: func(cmd *cobra.Command, args []string) error {
			repos, err := a.repositories()
			if err != nil {
				return err
			}
			if a.json() {
				shown := make([]repoEntry, len(repos))
				for i, r := range repos {
					r.URL = client.RedactURL(r.URL)
					shown[i] = r
				}
				return a.printJSON(shown)
			}
			if len(repos) == 0 {
				tprintln(a.stdout, "no repositories configured (keyctl repo add NAME URL --root-set sha256:HEX)")
				return nil
			}
			for _, r := range repos {
				t := r.Threshold
				if t == 0 {
					t = 1
				}
				var pins []string
				if r.RootSet != "" {
					pins = append(pins, r.RootSet)
				}
				if len(r.Roots) > 0 {
					pins = append(pins, fmt.Sprintf("%d of %s", t, strings.Join(r.Roots, ",")))
				}
				tprintf(a.stdout, "%s\t%s\t%s\n", r.Name, client.RedactURL(r.URL), strings.Join(pins, " "))
			}
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Forget a configured repository (its client state stays)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.editRepos(func(list []repoEntry) ([]repoEntry, error) {
				for i := range list {
					if list[i].Name == args[0] {
						return append(list[:i], list[i+1:]...), nil
					}
				}
				return nil, fail.Inputf("no repository %q is configured", args[0]).WithHint("see keyctl repo list")
			}, "removed repository "+args[0])
		},
	}
	c.AddCommand(add, list, remove)
	return c
}

// configPath is the file repo add writes: --config, $KEYCTL_CONFIG, or the
// default.
func (a *app) configPath() string {
	if a.configFile != "" {
		return a.configFile
	}
	return filepath.Join(configHome(), "keyctl", "config.yaml")
}

// editRepos rewrites the repositories: list of the config file, keeping
// every other key and comment, atomically.
func (a *app) editRepos(edit func([]repoEntry) ([]repoEntry, error), done string) error {
	path := a.configPath()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail.Inputf("cannot read config file %s", path).Wrap(errors.Unwrap(err))
	}
	var doc yaml.Node
	if len(strings.TrimSpace(string(data))) > 0 {
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return fail.Inputf("config file %s is not valid YAML", path)
		}
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return fail.Inputf("config file %s is not a YAML mapping", path)
	}
	m := doc.Content[0]
	var listNode *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "repositories" {
			listNode = m.Content[i+1]
		}
	}
	var list []repoEntry
	if listNode != nil {
		if err := listNode.Decode(&list); err != nil {
			return fail.Inputf("config file %s: repositories is not a list of name, url, root_set, roots, threshold", path)
		}
	}
	list, err = edit(list)
	if err != nil {
		return err
	}
	var nn yaml.Node
	if err := nn.Encode(list); err != nil {
		return fail.Inputf("encoding the repositories").Wrap(err)
	}
	if listNode != nil {
		*listNode = nn
	} else {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "repositories"}, &nn)
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return fail.Inputf("encoding the config file").Wrap(err)
	}
	// The file may hold credentials in a URL: only its owner reads it, or
	// fewer when the user made it stricter.
	mode := os.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode &= st.Mode().Perm()
	}
	if err := writeFileAtomic(path, out, mode); err != nil {
		return err
	}
	if !a.json() {
		tprintf(a.stdout, "%s in %s\n", done, path)
	}
	return nil
}

// writeFileAtomic replaces path with data: temp file, sync, rename.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail.Inputf("cannot create %s", dir).Wrap(errors.Unwrap(err))
	}
	tmp, err := os.CreateTemp(dir, ".keyctl-*.tmp")
	if err != nil {
		return fail.Inputf("cannot write in %s", dir).Wrap(errors.Unwrap(err))
	}
	defer os.Remove(tmp.Name())
	_, werr := tmp.Write(data)
	if werr == nil {
		werr = tmp.Chmod(mode)
	}
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		return fail.Inputf("cannot write %s", path).Wrap(werr)
	}
	return nil
}
