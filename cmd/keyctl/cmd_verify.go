package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/oci"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/policy"
)

type verifyOpts struct {
	prov, repo, state, source, version, id string
	rootSet                                string
	roots                                  []string
	threshold                              int
	witnesses                              []string
	witnessThreshold                       int
}

// witnessFlags adds --witness and --witness-threshold.
func witnessFlags(c *cobra.Command, witnesses *[]string, threshold *int) {
	f := c.Flags()
	f.StringArrayVar(witnesses, "witness", nil, "witness public key (vkey, or a file holding it) whose cosignature on the log checkpoint counts (repeatable)")
	f.IntVar(threshold, "witness-threshold", 0, "cosignatures of the named witnesses required before a manifest is trusted (docs/verify.md, section Witnesses)")
}

func (a *app) newVerifyCmd() *cobra.Command {
	var o verifyOpts
	c := &cobra.Command{
		Use:   "verify CHART.tgz | REPO/CHART [--version V] | oci://HOST/PATH/NAME:VERSION",
		Short: "Verify a chart against its repository's governed keyring (see docs/verify.md)",
		Long: `verify checks a chart's .prov against the keyring that the repository publishes,
after checking the published set itself under the pinned root set (its hash, or all
its fingerprints and its threshold; see docs/verify.md):
tamper, rollback, equivocation, expiry, replay, mix-and-match and the root threshold.

  keyctl verify mychart-1.0.0.tgz --repo https://charts.example.org --root-set sha256:HEX
  keyctl verify mychart-1.0.0.tgz --repo https://charts.example.org --root FPR1 --root FPR2 --root FPR3 --threshold 2
  keyctl repo add example https://charts.example.org --root-set sha256:HEX
  keyctl verify mychart-1.0.0.tgz --repo example
  keyctl verify example/mychart --version 1.0.0        # fetched through index.yaml
  keyctl verify mychart-1.0.0.tgz --repo example --source ./mychart   # CI gate
  keyctl verify oci://ghcr.io/example/charts/mychart:1.0.0 --root-set sha256:HEX
                     # published set read at oci://ghcr.io/example/charts (see docs/verify.md)

Exit status: 0 trusted, 1 not trusted, 2 usage, input or I/O error.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.verify(cmd, args[0], o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.prov, "prov", "", "provenance file (default CHART.tgz.prov)")
	f.StringVar(&o.repo, "repo", "", "repository: a name from keyctl repo add, or its location (directory, file://, gs://, s3://, http(s)://, oci://HOST/PATH)")
	f.StringVar(&o.rootSet, "root-set", "", "pinned root set hash, sha256:HEX (printed by keyctl init, status and root rotate)")
	f.StringSliceVar(&o.roots, "root", nil, "pinned root fingerprint (repeatable): every key of the root set, with --threshold")
	f.IntVar(&o.threshold, "threshold", 0, "the root set's threshold, with --root (default 1)")
	f.StringVar(&o.state, "state", "", "client state folder (default $XDG_STATE_HOME/keyctl)")
	f.StringVar(&o.source, "source", "", "chart source folder the archive must hold exactly (CI gate)")
	f.StringVar(&o.version, "version", "", "chart version, for REPO/CHART")
	f.StringVar(&o.id, "id", "", "expected repository identity (default: the configured one, else the one first seen)")
	witnessFlags(c, &o.witnesses, &o.witnessThreshold)
	return c
}

// clientNow is the client's clock. KEYCTL_NOW (RFC 3339) sets it, for tests
// of expiry only; it is read here, in the command layer, and nowhere else.
func (a *app) clientNow() (func() time.Time, error) {
	s := os.Getenv("KEYCTL_NOW")
	if s == "" {
		return a.now, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fail.Inputf("KEYCTL_NOW %q is not an RFC 3339 time", s).WithHint("KEYCTL_NOW is for tests; unset it")
	}
	// Setting the clock back would hide an expired (frozen) manifest: say
	// so every time, so that it cannot pass unnoticed in a CI log.
	a.warn("KEYCTL_NOW sets the clock to %s: expiry checks use that time (for tests only; unset it in real use)", t.UTC().Format(time.RFC3339))
	return func() time.Time { return t }, nil
}

// repoTarget is a resolved --repo.
type repoTarget struct {
	name      string // configured name, "" for a bare location
	location  string
	plainHTTP bool // the configured repository says plain_http
	opts      client.Options
}

func (a *app) resolveRepo(cmd *cobra.Command, repo string, o verifyOpts) (*repoTarget, error) {
	if repo == "" {
		repos, err := a.repositories()
		if err != nil {
			return nil, err
		}
		if len(repos) != 1 {
			return nil, fail.Inputf("--repo is required").
				WithHint("give --repo URL --root-set sha256:HEX, or the name of a repository added with keyctl repo add")
		}
		repo = repos[0].Name
	}
	now, err := a.clientNow()
	if err != nil {
		return nil, err
	}
	state := o.state
	if state == "" {
		state = filepath.Join(stateHome(), "keyctl")
	}
	t := &repoTarget{location: repo, opts: client.Options{StateDir: state, Now: now, Repository: o.id,
		Pins: root.Pins{Fingerprints: o.roots, Threshold: o.threshold}}}
	rootSet := o.rootSet
	e, err := a.findRepo(repo)
	if err != nil {
		return nil, err
	}
	if e != nil {
		t.name, t.location, t.plainHTTP = e.Name, e.URL, e.PlainHTTP
		// Pins given on the command line replace the configured ones.
		flagPins := cmd.Flags().Changed("root") || cmd.Flags().Changed("root-set")
		if !flagPins {
			t.opts.Pins.Fingerprints = e.Roots
			rootSet = e.RootSet
		}
		if !cmd.Flags().Changed("threshold") && !flagPins {
			t.opts.Pins.Threshold = e.Threshold
		}
		if t.opts.Repository == "" {
			t.opts.Repository = e.ID
		}
		if !cmd.Flags().Changed("witness") && !cmd.Flags().Changed("witness-threshold") && len(e.Witnesses) > 0 {
			o.witnesses, o.witnessThreshold = e.Witnesses, e.WitnessThreshold
		}
	}
	for _, w := range o.witnesses {
		k, err := keyOrFile(w)
		if err != nil {
			return nil, err
		}
		t.opts.Witnesses = append(t.opts.Witnesses, k)
	}
	t.opts.WitnessThreshold = o.witnessThreshold
	if o.witnessThreshold < 0 {
		return nil, fail.Inputf("--witness-threshold %d is negative", o.witnessThreshold)
	}
	if rootSet != "" {
		h, err := root.ParseRootSetPin(rootSet)
		if err != nil {
			return nil, err
		}
		t.opts.Pins.RootSetSHA256 = h
	}
	t.opts.Location = t.location
	if oci.IsLocation(t.location) {
		if t.opts.Registry, err = a.registry(t); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// verifyReport is verify's -o json document (docs/json.md).
type verifyReport struct {
	Chart      string           `json:"chart"`
	Source     string           `json:"source,omitempty"`     // URL when fetched through index.yaml, or the oci:// reference
	Digest     string           `json:"oci_digest,omitempty"` // the OCI manifest digest of an oci:// chart
	Trusted    bool             `json:"trusted"`
	Decision   *client.Decision `json:"decision,omitempty"`
	Repository *repoReport      `json:"repository,omitempty"`
	SourceDir  *sourceReport    `json:"source_check,omitempty"`
	// SignedIndex is the verified keyctl-index.json REPO/CHART was found
	// through, when the repository signs its index.
	SignedIndex *signedIndexReport `json:"signed_index,omitempty"`
	Error       *errorReport       `json:"error,omitempty"`
	Warnings    []string           `json:"warnings,omitempty"`

	printed bool // the document is out: -o json prints exactly one
}

type repoReport struct {
	Name            string     `json:"name,omitempty"`
	ID              string     `json:"id"`
	Location        string     `json:"location"`
	ManifestVersion uint64     `json:"manifest_version"`
	ManifestSHA256  string     `json:"manifest_sha256"`
	Issued          string     `json:"issued"`
	Expires         string     `json:"expires"`
	RootSetVersion  uint64     `json:"root_set_version"`
	Fallbacks       []string   `json:"content_addressed_fallbacks,omitempty"`
	Log             *logReport `json:"log,omitempty"`
}

// logReport is where the manifest was found in the transparency log.
type logReport struct {
	Origin    string   `json:"origin"`
	Size      int64    `json:"size"`
	Index     int64    `json:"index"`
	Witnesses []string `json:"witnesses,omitempty"`
}

type signedIndexReport struct {
	Issued      string `json:"issued"`
	Expires     string `json:"expires"`
	IndexSHA256 string `json:"index_sha256"`
	// DigestChecked: index.yaml gives the release a digest, and the
	// archive has it.
	DigestChecked bool `json:"digest_checked,omitempty"`
}

type sourceReport struct {
	Dir         string   `json:"dir"`
	Matches     bool     `json:"matches"`
	Differences []string `json:"differences"`
}

type errorReport struct {
	Kind    string   `json:"kind"` // input, untrusted, security
	Message string   `json:"message"`
	Hints   []string `json:"hints,omitempty"`
}

func kindName(err error) string {
	switch fail.KindOf(err) {
	case fail.Security:
		return "security"
	case fail.Untrusted:
		return "untrusted"
	}
	return "input"
}

func (a *app) verify(cmd *cobra.Command, arg string, o verifyOpts) error {
	ctx := context.Background()
	rep := &verifyReport{Chart: arg}
	err := a.verifyInto(ctx, cmd, arg, o, rep)
	if err != nil && a.json() && !rep.printed {
		rep.Trusted = false
		rep.Error = &errorReport{Kind: kindName(err), Message: err.Error(), Hints: fail.HintsOf(err)}
		if perr := a.printJSON(rep); perr != nil {
			return perr
		}
	}
	return err
}

func (a *app) verifyInto(ctx context.Context, cmd *cobra.Command, arg string, o verifyOpts, rep *verifyReport) error {
	var src client.Source
	repoArg := o.repo
	_, statErr := os.Stat(arg)
	switch {
	case oci.IsLocation(arg):
		src.OCI = arg
	case errors.Is(statErr, fs.ErrNotExist):
		remote := false
		if i := strings.Index(arg, "/"); i > 0 {
			if e, err := a.findRepo(arg[:i]); err != nil {
				return err
			} else if e != nil {
				remote = true
				if repoArg == "" {
					repoArg = e.Name
				} else if repoArg != e.Name {
					return fail.Inputf("%s names repository %s, but --repo is %s", arg, e.Name, repoArg)
				}
			}
		}
		if !remote {
			return fail.Inputf("no chart archive %s", arg).
				WithHint("give a .tgz file, REPO/CHART with a repository added by keyctl repo add, or oci://HOST/PATH/NAME:VERSION")
		}
		src.Chart, src.Version = arg[strings.Index(arg, "/")+1:], o.version
	default:
		src.File, src.Prov, src.Stdin = arg, o.prov, a.stdin
	}
	if src.Chart == "" && o.version != "" {
		return fail.Inputf("--version applies to REPO/CHART, not to a local archive or an oci:// reference").
			WithHint("name the version in the reference: oci://HOST/PATH/NAME:VERSION")
	}
	if src.File == "" && o.prov != "" {
		return fail.Inputf("--prov applies to a local archive")
	}
	var target *repoTarget
	var err error
	if src.OCI != "" && repoArg == "" {
		// The published set of the chart's own namespace.
		ref, err := oci.ParseRef(src.OCI, false)
		if err != nil {
			return err
		}
		if target, err = a.resolveRepo(cmd, ref.Namespace(), o); err != nil {
			return err
		}
	} else if target, err = a.resolveRepo(cmd, repoArg, o); err != nil {
		return err
	}
	if target.opts.Registry == nil && src.OCI != "" {
		if target.opts.Registry, err = a.registry(target); err != nil {
			return err
		}
	}
	v, err := client.Verify(ctx, client.VerifyRequest{Repo: target.opts, Source: src, SourceDir: o.source})
	if v != nil {
		rep.Source = v.Fetched
		rep.Digest = v.Digest
		if t := v.Repo; t != nil {
			m := t.Manifest
			rep.Repository = &repoReport{Name: target.name, ID: m.Repository, Location: t.Location, ManifestVersion: m.Version,
				ManifestSHA256: t.ManifestSHA256, Issued: m.Issued.UTC().Format(time.RFC3339), Expires: m.Expires.UTC().Format(time.RFC3339),
				RootSetVersion: t.RootSet.Version, Fallbacks: t.Fallbacks}
			if t.Log != nil {
				rep.Repository.Log = &logReport{Origin: t.Log.Origin, Size: t.Log.N, Index: t.LogIndex, Witnesses: t.Log.Witnesses}
			}
		}
		rep.Warnings = v.Warnings
		if si := v.SignedIndex; si != nil {
			rep.SignedIndex = &signedIndexReport{Issued: si.Issued.UTC().Format(time.RFC3339), Expires: si.Expires.UTC().Format(time.RFC3339),
				IndexSHA256: si.IndexSHA256, DigestChecked: v.IndexDigestChecked}
		}
	}
	if err != nil {
		return err
	}
	d := v.Decision
	rep.Decision, rep.Trusted = d, v.Trusted
	if v.Differences != nil {
		sr := &sourceReport{Dir: o.source, Matches: len(v.Differences) == 0, Differences: []string{}}
		for _, df := range v.Differences {
			sr.Differences = append(sr.Differences, df.String())
		}
		rep.SourceDir = sr
	}
	archiveName := v.ArchiveName

	if a.json() {
		rep.printed = true
		if err := a.printJSON(rep); err != nil {
			return err
		}
	} else {
		a.printVerify(rep, archiveName)
	}
	switch {
	case !d.Trusted:
		e := fail.Untrustedf("%s: %s", archiveName, d.Reason).WithHint(verifyHints(d)...)
		if a.json() {
			e.Hints = nil // the document says it all; stderr keeps the line
		}
		return e
	case len(v.Differences) > 0:
		return fail.Untrustedf("%s does not hold exactly the chart source %s (%d difference%s)", archiveName, o.source, len(v.Differences), plural(len(v.Differences))).
			WithHint("the archive was not built from this source: rebuild it with helm package from the reviewed commit")
	}
	return nil
}

// registry is the OCI client for a target. Plain HTTP is per registry
// host: --plain-http on the command line makes every registry of the
// command plain HTTP; a configured repository's plain_http (written by
// repo add --plain-http) makes only that repository's own registry host
// plain HTTP, so that a chart of another registry verified against it is
// still reached, and sent credentials, over HTTPS.
func (a *app) registry(t *repoTarget) (*oci.Client, error) {
	opts := oci.Options{PlainHTTP: a.plainHTTP}
	if t != nil && t.plainHTTP && oci.IsLocation(t.location) {
		host, _, err := oci.ParseNamespace(t.location)
		if err != nil {
			return nil, fail.Hint(err, "a configured repository with plain_http: true has this url: fix it in the config file")
		}
		opts.PlainHTTPHosts = []string{host}
	}
	return oci.New(opts)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// verifyHints say what to do about a refusal.
func verifyHints(d *client.Decision) []string {
	switch d.Status {
	case client.StatusUnsigned:
		return []string{"sign the archive (keyctl sign or helm package --sign) and keep the .prov next to it, or give --prov FILE"}
	case client.StatusUnknownSigner:
		return []string{"the signer is not a maintainer of this repository; if it should be, ask the team lead to add the key and publish"}
	case client.StatusBadSignature:
		return []string{"the .prov or the signature was altered: do not use this chart"}
	case client.StatusHashMismatch:
		return []string{"the archive is not the one that was signed: do not use it"}
	case client.StatusNameMismatch:
		return []string{"the .prov belongs to another chart or release"}
	case client.StatusOutOfScope:
		return []string{"ask the team lead to widen the key's scopes, or have a maintainer of this chart sign it"}
	case client.StatusWrongRole:
		return []string{"an index key signs only the repository's keyctl-index.json: have a maintainer sign the chart"}
	case client.StatusRemovedCompromised:
		return []string{"the key was compromised: treat this release as malicious until a current maintainer re-signs it"}
	case client.StatusRemovedRetired, client.StatusRemovedSuperseded:
		if d.TimeSource == client.TimeSelfAsserted {
			return []string{"a signature's own date cannot prove it was made before the removal; ask a current maintainer to re-sign the release (keyctl audit lists them)"}
		}
		return []string{"ask a current maintainer to re-sign the release"}
	}
	return nil
}

func (a *app) printVerify(rep *verifyReport, archiveName string) {
	d := rep.Decision
	w := a.stdout
	verdict := "trusted"
	if !d.Trusted {
		verdict = "not trusted (" + d.Status + ")"
	} else if !rep.Trusted {
		verdict = "signature trusted; source check failed"
	}
	chart := archiveName
	if d.Chart != "" {
		chart = fmt.Sprintf("%s %s (%s)", d.Chart, d.Version, archiveName)
	}
	tprintf(w, "%s: %s\n", verdict, chart)
	if d.Signer != "" {
		if d.SignerUID != "" {
			tprintf(w, "  signed by:   %s\n", d.SignerUID)
		}
		tprintf(w, "  fingerprint: %s (%s", d.Signer, d.KeyStatus)
		if d.KeyReason != "" {
			tprintf(w, ", %s since %s", d.KeyReason, d.Effective)
		}
		tprintln(w, ")")
		if d.SigningKey != "" {
			kind := "primary key"
			if d.Subkey {
				kind = "subkey"
			}
			tprintf(w, "  signing key: %s (%s)\n", d.SigningKey, kind)
		}
		if d.SignedAt != "" {
			tprintf(w, "  signed at:   %s (%s)\n", d.SignedAt, policy.TimeSignature.Describe())
		}
	}
	tprintf(w, "  reason:      %s\n", d.Reason)
	if d.Detail != "" {
		tprintf(w, "  note:        %s\n", d.Detail)
	}
	if r := rep.Repository; r != nil {
		tprintf(w, "  repository:  %s, manifest version %d (sha256 %.16s, expires %s), root set %d\n",
			r.ID, r.ManifestVersion, r.ManifestSHA256, r.Expires, r.RootSetVersion)
		tprintf(w, "  location:    %s\n", client.RedactURL(r.Location))
		if l := r.Log; l != nil {
			tprintf(w, "  logged:      entry %d of %d in %s, %d witness cosignature(s) checked\n", l.Index, l.Size, l.Origin, len(l.Witnesses))
		}
	}
	if rep.Source != "" {
		tprintf(w, "  fetched:     %s\n", client.RedactURL(rep.Source))
	}
	if si := rep.SignedIndex; si != nil {
		tprintf(w, "  index:       signed by an index key, issued %s, expires %s\n", si.Issued, si.Expires)
	}
	if rep.Digest != "" {
		tprintf(w, "  digest:      %s\n", rep.Digest)
	}
	if s := rep.SourceDir; s != nil {
		if s.Matches {
			tprintf(w, "  source:      archive matches %s\n", s.Dir)
		} else {
			tprintf(w, "  source:      archive differs from %s:\n", s.Dir)
			for _, df := range s.Differences {
				tprintf(w, "    %s\n", df)
			}
		}
	}
	for _, wn := range rep.Warnings {
		a.warn("%s", wn)
	}
}
