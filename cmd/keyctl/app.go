package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"golang.org/x/term"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/termsafe"
	"github.com/keyctl/keyctl/policy"
)

// app is one invocation: streams, configuration and global flags. Nothing
// here is package-level state, so tests run many invocations in a process.
type app struct {
	stdin io.Reader
	// stdout and stderr are for text: everything written through them
	// passes termsafe (see output.go). rawStdout is for JSON only;
	// rawStderr for the progress bar, which draws with escape sequences.
	stdout, stderr       io.Writer
	rawStdout, rawStderr io.Writer

	v          *viper.Viper
	storePath  string
	configFile string
	output     string
	actor      string
	lockWait   time.Duration
	plainHTTP  bool
	now        func() time.Time

	logKeyFile string // publish --log-key
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: termsafe.NewWriter(stdout), stderr: termsafe.NewWriter(stderr),
		rawStdout: stdout, rawStderr: stderr, now: time.Now}
	root := a.rootCommandWith(a.commandsFor(args))
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.Execute()
	if err != nil {
		a.printError(err)
	}
	return fail.ExitCode(err)
}

// rootCommand is keyctl with every subcommand.
func (a *app) rootCommand() *cobra.Command { return a.rootCommandWith(a.commands()) }

func (a *app) rootCommandWith(cmds []*cobra.Command) *cobra.Command {
	root := &cobra.Command{
		Use:           "keyctl",
		Short:         "Govern who may sign Helm charts for a chart repository",
		Long:          "keyctl keeps the maintainer keys of a Helm chart repository, publishes them signed by an offline root key,\nverifies charts against that governed keyring, and audits what a compromised key signed.",
		SilenceErrors: true,
		SilenceUsage:  true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.configure(cmd)
		},
	}
	root.SetVersionTemplate("{{.Version}}")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fail.Inputf("%v", err).WithHint("see: " + c.CommandPath() + " --help")
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.storePath, "store", "", "store file (default $XDG_DATA_HOME/keyctl/keyctl.db)")
	pf.StringVar(&a.configFile, "config", "", "config file (default $XDG_CONFIG_HOME/keyctl/config.yaml if it exists)")
	pf.StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	pf.StringVar(&a.actor, "actor", "", "who is making the change, for the log (default user@host)")
	pf.DurationVar(&a.lockWait, "lock-timeout", 5*time.Second, "how long to wait for a store held by another keyctl")
	pf.BoolVar(&a.plainHTTP, "plain-http", false, "talk plain HTTP to oci:// registries, as helm --plain-http (a local or test registry only)")

	if len(cmds) == 1 {
		// One of keyctl's own commands runs (commandsFor): cobra's
		// default completion command (four subcommands and their flags)
		// and the version text (the build information parsed) serve only
		// the whole tree's help, --version and completion, for which
		// commandsFor builds the whole tree.
		root.CompletionOptions.DisableDefaultCmd = true
	} else {
		root.Version = versionText()
	}
	for _, c := range cmds {
		root.AddCommand(c)
	}
	a.completions(root)
	walk(root, func(c *cobra.Command) {
		if c.Args == nil {
			c.Args = cobra.NoArgs
		}
		args := c.Args
		c.Args = func(cmd *cobra.Command, as []string) error {
			if err := args(cmd, as); err != nil {
				return fail.Inputf("%v", err).WithHint("usage: " + cmd.UseLine())
			}
			return nil
		}
	})
	return root
}

func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, s := range c.Commands() {
		walk(s, f)
	}
}

// configure builds the per-invocation viper: config file, then KEYCTL_*
// variables; an explicit flag always wins. A flag --foo-bar of command
// "keyctl x y" is read from the config keys "x.y.foo-bar" (or foo_bar) and
// then "foo-bar", and from the variable KEYCTL_FOO_BAR.
func (a *app) configure(cmd *cobra.Command) error {
	v := viper.New()
	a.v = v
	cfg := a.configFile
	if cfg == "" {
		cfg = os.Getenv("KEYCTL_CONFIG")
	}
	explicit := cfg != ""
	if cfg == "" {
		cfg = filepath.Join(configHome(), "keyctl", "config.yaml")
	}
	if _, err := os.Stat(cfg); err == nil || explicit {
		v.SetConfigFile(cfg)
		v.SetConfigType("yaml")
		if st, err := os.Stat(cfg); err == nil && st.Size() > 1<<20 {
			return fail.Inputf("config file %s is larger than 1 MiB", cfg)
		}
		if err := v.ReadInConfig(); err != nil {
			return fail.Inputf("cannot read config file %s", cfg).Wrap(err).
				WithHint("the config file is YAML; keys are flag names, e.g. 'store: /srv/keyctl.db'")
		}
		if err := checkConfigMode(cfg, v.AllKeys()); err != nil {
			return err
		}
		a.configFile = cfg
	}
	var ferr error
	prefix := strings.TrimPrefix(cmd.CommandPath(), "keyctl")
	prefix = strings.ReplaceAll(strings.TrimSpace(prefix), " ", ".")
	apply := func(f *pflag.Flag) {
		if ferr != nil || f.Changed {
			return
		}
		env := "KEYCTL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		var val any
		var found bool
		if s, ok := os.LookupEnv(env); ok {
			val, found = s, true
		} else if a.configFile != "" {
			// Only when a config file was read: viper's lookups are
			// wasted work for the usual run without one.
			for _, k := range configKeys(prefix, f.Name) {
				if v.IsSet(k) {
					val, found = v.Get(k), true
					break
				}
			}
		}
		if !found {
			return
		}
		if err := setFlag(f, val); err != nil {
			ferr = fail.Inputf("bad value for %s from %s", f.Name, sourceName(env)).Wrap(err)
		}
	}
	cmd.Flags().VisitAll(apply)
	cmd.InheritedFlags().VisitAll(apply)
	if ferr != nil {
		return ferr
	}
	if a.output != "text" && a.output != "json" {
		return fail.Inputf("unknown output format %q", a.output).WithHint("use -o text or -o json")
	}
	if a.storePath == "" {
		a.storePath = ring.DefaultPath()
	}
	return nil
}

// who is the actor the store's log records: --actor (or its config key or
// variable), else user@host, looked up only by commands that write (the
// user database lookup costs every other command start-up time).
func (a *app) who() string {
	if a.actor == "" {
		a.actor = defaultActor()
	}
	return a.actor
}

// checkConfigMode refuses to take pins (root fingerprints, the root set
// hash, the threshold that goes with fingerprints, repositories, witness
// settings) from a config file that group or others may write, or that sits in a
// folder they may write (without the sticky bit), as ssh refuses such an
// authorized_keys: whoever can write it chooses which roots keyctl trusts
// (and could drop a witness requirement).
func checkConfigMode(path string, keys []string) error {
	if runtime.GOOS == "windows" {
		return nil // no Unix modes; the ACLs are the user's profile's
	}
	var pins []string
	for _, k := range keys {
		last := k[strings.LastIndex(k, ".")+1:]
		switch last {
		case "root", "root-set", "root_set", "threshold", "repositories", "witness", "witness-threshold", "witness_threshold":
			pins = append(pins, k)
		}
	}
	if len(pins) == 0 {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fail.Inputf("config file %s", path).Wrap(err)
	}
	for _, p := range []string{abs, filepath.Dir(abs)} {
		st, err := os.Stat(p)
		if err != nil {
			return fail.Inputf("config file %s", path).Wrap(errors.Unwrap(err))
		}
		m := st.Mode()
		if m.Perm()&0o022 == 0 || (m.IsDir() && m&os.ModeSticky != 0) {
			continue
		}
		what := "config file " + p
		if m.IsDir() {
			what = "folder " + p + ", which holds the config file " + abs + ","
		}
		return fail.Securityf("%s is writable by group or others (mode %04o); keyctl takes no pinned roots, root sets, thresholds, repositories or witnesses (%s) from it", what, m.Perm(), strings.Join(pins, ", ")).
			WithHint("chmod go-w " + p + " (whoever can write it chooses which roots keyctl trusts)")
	}
	return nil
}

func sourceName(env string) string {
	if _, ok := os.LookupEnv(env); ok {
		return env
	}
	return "the config file"
}

func configKeys(prefix, name string) []string {
	under := strings.ReplaceAll(name, "-", "_")
	var keys []string
	if prefix != "" {
		keys = append(keys, prefix+"."+name, prefix+"."+under)
	}
	return append(keys, name, under)
}

func setFlag(f *pflag.Flag, val any) error {
	if sv, ok := f.Value.(pflag.SliceValue); ok {
		var items []string
		switch t := val.(type) {
		case []any:
			for _, x := range t {
				items = append(items, fmt.Sprint(x))
			}
		case []string:
			items = t
		case string:
			for _, x := range strings.Split(t, ",") {
				if x = strings.TrimSpace(x); x != "" {
					items = append(items, x)
				}
			}
		default:
			items = []string{fmt.Sprint(t)}
		}
		return sv.Replace(items)
	}
	return f.Value.Set(fmt.Sprint(val))
}

func configHome() string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".config")
}

func stateHome() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "state")
}

func defaultActor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name
}

// printError writes err in keyctl's one voice: "keyctl: error: ..." then
// "keyctl: hint: ..." lines.
func (a *app) printError(err error) {
	label := "error"
	switch fail.KindOf(err) {
	case fail.Security:
		label = "security error"
	case fail.Untrusted:
		label = "not trusted"
	}
	msg := err.Error()
	// Each line of the message is one argument: termsafe escapes what it
	// holds, the layout is keyctl's.
	for i, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		if i == 0 {
			tprintf(a.stderr, "keyctl: %s: %s\n", label, line)
		} else {
			tprintf(a.stderr, "keyctl:   %s\n", line)
		}
	}
	for _, h := range fail.HintsOf(err) {
		tprintf(a.stderr, "keyctl: hint: %s\n", h)
	}
}

// warn prints a warning line to stderr.
func (a *app) warn(format string, args ...any) {
	tprintf(a.stderr, "keyctl: warning: "+format+"\n", args...)
}

// info prints a progress line to stderr (text mode only).
func (a *app) info(format string, args ...any) {
	tprintf(a.stderr, "keyctl: "+format+"\n", args...)
}

func (a *app) json() bool { return a.output == "json" }

func (a *app) printJSON(v any) error {
	// JSON keeps exact values. encoding/json escapes C0 controls and
	// U+2028/2029 (SetEscapeHTML only concerns <, > and &); termsafe.JSON
	// escapes what it leaves raw (C1, bidi overrides), so that the
	// document controls nothing when printed on a terminal.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // user IDs hold <mail@example.org>
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := a.rawStdout.Write(termsafe.JSON(buf.Bytes()))
	return err
}

func (a *app) openStore(readOnly bool) (*ring.Store, error) {
	return ring.Open(a.storePath, ring.Options{ReadOnly: readOnly, Timeout: a.lockWait, Now: a.now})
}

// readInput reads a file argument ("-" is standard input) with a cap.
func (a *app) readInput(name string, limit int64) ([]byte, error) {
	return client.ReadFile(name, a.stdin, limit)
}

// passphrase returns the passphrase for a secret key: from --passphrase-file,
// then $KEYCTL_PASSPHRASE, then an interactive prompt on a terminal. It is
// never taken from argv and never printed.
func (a *app) passphrase(file, what string) func() ([]byte, error) {
	return func() ([]byte, error) {
		if file != "" {
			data, err := a.readInput(file, 4096)
			if err != nil {
				return nil, err
			}
			return []byte(strings.TrimRight(string(data), "\r\n")), nil
		}
		if p, ok := os.LookupEnv("KEYCTL_PASSPHRASE"); ok {
			return []byte(p), nil
		}
		f, ok := a.stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return nil, fail.Inputf("%s is protected by a passphrase and there is no terminal to ask on", what).
				WithHint("give it with --passphrase-file FILE or the KEYCTL_PASSPHRASE variable")
		}
		tprintf(a.stderr, "keyctl: passphrase for %s: ", what)
		p, err := term.ReadPassword(int(f.Fd()))
		tprintln(a.stderr)
		if err != nil {
			return nil, fail.Inputf("cannot read the passphrase").Wrap(err)
		}
		return p, nil
	}
}

// writeSecret writes a file only its owner may read.
func writeSecret(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if os.IsExist(err) {
			return fail.Inputf("%s already exists; keyctl will not overwrite a secret key file", path).
				WithHint("choose another --secret-out or move the old file away")
		}
		return fail.Inputf("cannot write %s", path).Wrap(err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fail.Inputf("cannot write %s", path).Wrap(err)
	}
	return f.Close()
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// durationValue is a flag that takes keyctl's durations: Go's ("72h",
// "1h30m") and days, weeks and years ("90d", "2w", "5y"), as policy reads
// them from the config file.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil {
		return "0s"
	}
	return policy.Duration(*v.d).String()
}

func (v durationValue) Set(s string) error {
	d, err := policy.ParseDuration(s)
	if err != nil {
		return err
	}
	*v.d = time.Duration(d)
	return nil
}

func (v durationValue) Type() string { return "duration" }

// durationFlag defines a duration flag that also takes d, w and y units.
func durationFlag(fs *pflag.FlagSet, p *time.Duration, name string, def time.Duration, usage string) {
	*p = def
	fs.Var(durationValue{p}, name, usage)
}
