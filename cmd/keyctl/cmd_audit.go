package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/oci"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/release"
	"github.com/keyctl/keyctl/internal/revoke"
	"github.com/keyctl/keyctl/internal/ring"
)

type auditOpts struct {
	repo, state, id   string
	rootSet           string
	roots, keys       []string
	charts            []string
	threshold         int
	removed, provOnly bool
	concurrency       int
	witnesses         []string
	witnessThreshold  int
}

func (o *auditOpts) flags(c *cobra.Command, filters bool) {
	f := c.Flags()
	f.StringVar(&o.repo, "repo", "", "chart repository: directory, file://, http(s):// or gs:// location holding index.yaml, or an OCI namespace oci://HOST/PATH (required)")
	f.StringSliceVar(&o.charts, "chart", nil, "with an oci:// --repo: a chart to audit (repeatable; default: every chart the registry's catalog lists under the namespace)")
	f.StringVar(&o.rootSet, "root-set", "", "pinned root set hash, sha256:HEX: judge with the published set instead of the store")
	f.StringSliceVar(&o.roots, "root", nil, "pinned root fingerprint (repeatable; every key of the root set): judge with the published set instead of the store")
	f.IntVar(&o.threshold, "threshold", 0, "the root set's threshold, with --root (default 1)")
	f.StringVar(&o.state, "state", "", "client state folder with --root (default $XDG_STATE_HOME/keyctl)")
	witnessFlags(c, &o.witnesses, &o.witnessThreshold)
	f.StringVar(&o.id, "id", "", "expected repository identity with --root")
	f.IntVar(&o.concurrency, "concurrency", 0, "releases fetched at once (default 2 × cores for a directory, 16 for http(s), gs:// and s3://)")
	if filters {
		f.StringSliceVar(&o.keys, "key", nil, "list only releases signed by this key: fingerprint or key ID, subkeys map to their primary (repeatable)")
		f.BoolVar(&o.removed, "removed", false, "list only releases signed by removed keys")
		f.BoolVar(&o.provOnly, "prov-only", false, "check .prov files only; do not fetch archives")
	}
}

func (a *app) newAuditCmd() *cobra.Command {
	var o auditOpts
	c := &cobra.Command{
		Use:   "audit --repo URL [--key FPR]... [--removed]",
		Short: "Check every chart release of a repository; list what a removed or compromised key signed",
		Long: `audit reads the repository's index.yaml and checks every chart version's .prov and archive
against the maintainer keys, active and removed: trusted, signed by a removed key (compromised,
retired, superseded), unknown signer, out of scope, bad signature, hash mismatch, chart mismatch,
unsigned, unreachable. It ends with a re-sign worklist of the affected releases.

With the store's ledger (keyctl ledger record), a recorded release whose .prov is now missing,
or replaced by one no known key verifies, is prov-missing or prov-changed and stays attributed
to the signer the ledger recorded; a recorded release the index no longer lists is
missing-from-index, an alarm when its signer is asked for with --key or is removed (noted
otherwise). Under --key or --removed, a release whose signer cannot be determined is listed
as "signer unknown": it cannot be excluded. See docs/runbook.md.

Keys come from the store (--store) or, with --root, from the repository's published set.
Soft removals (retired, superseded) keep a release trusted only when the store's ledger
(keyctl ledger record) saw it before the removal took effect.

  keyctl audit --repo https://charts.example.org --key 0123456789ABCDEF
  keyctl audit --repo ./repo --removed -o json
  keyctl audit --repo https://charts.example.org --root-set sha256:HEX
  keyctl audit --repo oci://ghcr.io/example/charts --chart mychart --root-set sha256:HEX

An oci://HOST/PATH repository lists its charts from the registry's catalog (or
--chart), and every tag of each; --prov-only fetches no chart layer (its digest
is the archive's SHA-256, checked against the .prov).

Exit status: 0 every listed release trusted, 1 some are not (including missing-from-index
alarms), 2 the repository cannot be read.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.audit(cmd, o)
		},
	}
	o.flags(c, true)
	return c
}

// keySource opens what judges signatures: the store, or with --root (or a
// configured repository) the published set. The store, when there is one,
// also gives the ledger. write opens the store for writing (ledger record).
// The index trust is not nil when those keys include an active index key:
// index.yaml must then carry a valid signed statement.
func (a *app) keySource(cmd *cobra.Command, o auditOpts, write bool) (*revoke.KeySet, *ring.Store, *client.IndexTrust, error) {
	if o.repo == "" {
		return nil, nil, nil, fail.Inputf("--repo is required").WithHint("give the repository root that holds index.yaml, e.g. --repo https://charts.example.org")
	}
	_, statErr := os.Stat(a.storePath)
	haveStore := statErr == nil
	if write && !haveStore {
		return nil, nil, nil, fail.Inputf("no store at %s", a.storePath).
			WithHint("the ledger lives in the team lead's store: create it with keyctl init, or point at it with --store PATH")
	}
	var st *ring.Store
	var storeKeys func() ([]*ring.Key, error) // listed once, when first needed
	if haveStore {
		s, err := a.openStore(!write)
		if err != nil {
			return nil, nil, nil, err
		}
		// The audit trusts the store's keys, roles and ledger as publish
		// does: only what its hash-chained change log explains.
		if _, err := s.VerifyLog(); err != nil {
			s.Close()
			return nil, nil, nil, (&fail.Error{Kind: fail.Untrusted, Msg: "refusing to audit with the store: it is not what its change log explains", Err: err}).
				WithHint("the store's keys and first-seen ledger cannot be trusted; restore it from a backup and investigate (docs/manifest.md, section Store integrity)")
		}
		storeKeys = sync.OnceValues(func() ([]*ring.Key, error) { return s.List(true) })
		if err := release.CheckPublished(s, storeKeys, a.now()); err != nil {
			s.Close()
			return nil, nil, nil, err
		}
		st = s
	}
	fail2 := func(err error) (*revoke.KeySet, *ring.Store, *client.IndexTrust, error) {
		if st != nil {
			st.Close()
		}
		return nil, nil, nil, err
	}
	known, err := a.findRepo(o.repo)
	if err != nil {
		return fail2(err)
	}
	if !cmd.Flags().Changed("root") && !cmd.Flags().Changed("root-set") && known == nil {
		if st == nil {
			return nil, nil, nil, fail.Inputf("no store at %s and no pinned root", a.storePath).
				WithHint("audit with the team lead's store (--store PATH), or with the published set: --root-set sha256:HEX")
		}
		keys, err := storeKeys()
		if err != nil {
			return fail2(err)
		}
		ks, err := revoke.FromStore(keys)
		if err != nil {
			return fail2(err)
		}
		it, err := storeIndexTrust(st, keys, a.now())
		if err != nil {
			return fail2(err)
		}
		return ks, st, it, nil
	}
	t, err := a.resolveRepo(cmd, o.repo, verifyOpts{roots: o.roots, threshold: o.threshold, rootSet: o.rootSet, state: o.state, id: o.id,
		witnesses: o.witnesses, witnessThreshold: o.witnessThreshold})
	if err != nil {
		return fail2(err)
	}
	tr, err := client.Load(context.Background(), t.opts)
	if err != nil {
		return fail2(err)
	}
	ks, err := revoke.FromTrusted(tr)
	if err != nil {
		return fail2(err)
	}
	it, ok, err := tr.IndexTrust()
	if err != nil {
		return fail2(err)
	}
	if !ok {
		return ks, st, nil, nil
	}
	return ks, st, &it, nil
}

// storeIndexTrust is the signed index rule of the store's keys: nil when
// the store holds no active index key.
func storeIndexTrust(st *ring.Store, keys []*ring.Key, now time.Time) (*client.IndexTrust, error) {
	if !slices.ContainsFunc(keys, func(k *ring.Key) bool { return k.Status == ring.Active && k.RoleOf() == ring.Index }) {
		// No rule, and no certificate to parse (15 ms at 1,000 keys).
		return nil, nil
	}
	it := &client.IndexTrust{Now: now}
	for _, k := range keys {
		if k.Status != ring.Active {
			if k.Removal != nil && (k.Removal.Reason == ring.Retired || k.Removal.Reason == ring.Superseded) {
				it.Retired = append(it.Retired, k.Fingerprint)
			}
			continue
		}
		e, err := k.Entity()
		if err != nil {
			return nil, err
		}
		if k.RoleOf() == ring.Index {
			it.Keys = append(it.Keys, e)
		} else {
			it.Others = append(it.Others, e)
		}
	}
	if len(it.Keys) == 0 {
		return nil, nil
	}
	info, err := st.Info()
	if err != nil {
		return nil, err
	}
	it.Repository = info.Repository
	return it, nil
}

// auditInputs takes what the audit needs from the store (its keys, when
// they judge, and a snapshot of the ledger) and closes it at once, so that
// the store's lock is not held during the network audit and other keyctl
// commands can write meanwhile (docs/runbook.md).
func (a *app) auditInputs(cmd *cobra.Command, o auditOpts, write bool) (*revoke.KeySet, map[[2]string]ring.LedgerEntry, *client.IndexTrust, error) {
	ks, st, it, err := a.keySource(cmd, o, write)
	if err != nil || st == nil {
		return ks, nil, it, err
	}
	ledger, err := st.Ledger()
	if cerr := st.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return nil, nil, nil, err
	}
	return ks, ledger, it, nil
}

// runAudit runs the audit with a progress bar on a terminal.
// ledger is the store's ledger snapshot, nil without a store: the store is
// not held open (nor locked) while the audit fetches the repository. it,
// when not nil, requires a signed index (docs/verify.md, Signed index).
func (a *app) runAudit(cmd *cobra.Command, o auditOpts, ks *revoke.KeySet, ledger map[[2]string]ring.LedgerEntry, it *client.IndexTrust, filters bool) (*revoke.Report, error) {
	location := o.repo
	target := &repoTarget{}
	if e, err := a.findRepo(o.repo); err == nil && e != nil {
		location, target.name, target.plainHTTP = e.URL, e.Name, e.PlainHTTP
	}
	target.location = location // plain_http applies to this location's registry host only
	opts := revoke.Options{Repository: location, Keys: ks, Concurrency: o.concurrency, Now: a.now, Charts: o.charts}
	if oci.IsLocation(location) {
		reg, err := a.registry(target)
		if err != nil {
			return nil, err
		}
		opts.Registry = reg
	} else if len(o.charts) > 0 {
		return nil, fail.Inputf("--chart applies to an oci:// repository").WithHint("an index.yaml repository lists its charts itself")
	}
	if it != nil {
		opts.IndexTrust = it
		opts.StateDir = o.state
		if opts.StateDir == "" {
			opts.StateDir = filepath.Join(stateHome(), "keyctl")
		}
	}
	if filters {
		opts.Match, opts.RemovedOnly, opts.ProvOnly = o.keys, o.removed, o.provOnly
	}
	opts.Ledger = ledger
	if f, ok := a.rawStderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := newProgressLine(f, 100*time.Millisecond)
		opts.Progress = bar.update
		defer bar.finish()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	return revoke.Audit(ctx, opts)
}

func (a *app) audit(cmd *cobra.Command, o auditOpts) error {
	ks, ledger, it, err := a.auditInputs(cmd, o, false)
	if err != nil {
		return err
	}
	rep, err := a.runAudit(cmd, o, ks, ledger, it, true)
	if err != nil {
		return err
	}
	if a.json() {
		if err := a.printJSON(auditJSON(rep)); err != nil {
			return err
		}
	} else {
		printAudit(a, rep)
	}
	if rep.AllTrusted() {
		return nil
	}
	return fail.Untrustedf("%d of %d releases are not trusted", rep.Listed-rep.Counts[revoke.Trusted], rep.Listed).
		WithHint("re-sign the releases of the worklist with an active key (keyctl sign), upload them, then run the audit again; see docs/runbook.md")
}

// auditReport is audit's -o json document (docs/json.md).
type auditReport struct {
	Repository string   `json:"repository"`
	Time       string   `json:"time"`
	Keys       []string `json:"keys,omitempty"`
	// SignedIndex is the verified keyctl-index.json, when the repository
	// signs its index.
	SignedIndex *signedIndexReport `json:"signed_index,omitempty"`
	Summary     auditSummary       `json:"summary"`
	Releases    []revoke.Result    `json:"releases"`
	Worklist    []revoke.WorkItem  `json:"resign_worklist"`
	// MissingFromIndex: ledger records the listing left out that are not
	// alarms (their signer is active, or not asked for).
	MissingFromIndex []revoke.Result `json:"missing_from_index"`
}

type auditSummary struct {
	Total      int            `json:"total"`
	Listed     int            `json:"listed"`
	Trusted    int            `json:"trusted"`
	NotTrusted int            `json:"not_trusted"`
	Counts     map[string]int `json:"counts"`
}

func auditJSON(rep *revoke.Report) auditReport {
	out := auditReport{Repository: rep.Repository, Time: rep.Time.UTC().Format(time.RFC3339), Keys: rep.Keys,
		Releases: rep.Results, Worklist: rep.Worklist, MissingFromIndex: rep.Unlisted,
		Summary: auditSummary{Total: rep.Total, Listed: rep.Listed, Trusted: rep.Counts[revoke.Trusted], NotTrusted: rep.Listed - rep.Counts[revoke.Trusted], Counts: map[string]int{}}}
	for _, s := range revoke.Statuses {
		out.Summary.Counts[string(s)] = rep.Counts[s]
	}
	if s := rep.SignedIndex; s != nil {
		out.SignedIndex = &signedIndexReport{Issued: s.Issued.UTC().Format(time.RFC3339), Expires: s.Expires.UTC().Format(time.RFC3339), IndexSHA256: s.IndexSHA256}
	}
	if out.Releases == nil {
		out.Releases = []revoke.Result{}
	}
	if out.Worklist == nil {
		out.Worklist = []revoke.WorkItem{}
	}
	if out.MissingFromIndex == nil {
		out.MissingFromIndex = []revoke.Result{}
	}
	return out
}

func summaryLine(rep *revoke.Report) string {
	var parts []string
	for _, c := range rep.SortedCounts() {
		parts = append(parts, fmt.Sprintf("%d %s", c.Count, c.Status))
	}
	// Missing-from-index results are ledger records, not index entries.
	inIndex := rep.Listed - rep.Counts[revoke.MissingFromIndex]
	what := fmt.Sprintf("%d releases", inIndex)
	if inIndex != rep.Total {
		what = fmt.Sprintf("%d of %d releases", inIndex, rep.Total)
	}
	if len(parts) == 0 {
		return what
	}
	return what + ": " + strings.Join(parts, ", ")
}

func printAudit(a *app, rep *revoke.Report) {
	tprintf(a.stdout, "audit of %s: %s\n", rep.Repository, summaryLine(rep))
	if s := rep.SignedIndex; s != nil {
		tprintf(a.stdout, "index.yaml signed by an index key, issued %s, expires %s\n", s.Issued.UTC().Format(time.RFC3339), s.Expires.UTC().Format(time.RFC3339))
	}
	defer printUnlisted(a, rep)
	if rep.Listed == 0 {
		if len(rep.Keys) > 0 {
			tprintf(a.stdout, "no release is signed by %s\n", strings.Join(rep.Keys, ", "))
		}
		return
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	tprintf(tw, "CHART\tVERSION\tSTATUS\tSIGNER\tSIGNED AT\tREASON\n")
	for _, r := range rep.Results {
		signer, at := signerCell(&r), "-"
		if r.SignedAt != nil {
			at = r.SignedAt.UTC().Format(time.RFC3339)
		}
		tprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Chart, r.Version, r.Status, signer, at, reasonCell(&r))
	}
	tw.Flush()
	if len(rep.Worklist) > 0 {
		tprintf(a.stdout, "\nre-sign worklist (%d):\n", len(rep.Worklist))
		tw = tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		tprintf(tw, "CHART\tVERSION\tURL\tWHY\n")
		for _, w := range rep.Worklist {
			tprintf(tw, "%s\t%s\t%s\t%s\n", w.Chart, w.Version, w.URL, w.Why)
		}
		tw.Flush()
	}
}

// signerCell names who signed r: the ledger's signer when no known key
// verifies what is served, "unknown" when nothing tells.
func signerCell(r *revoke.Result) string {
	switch {
	case r.LedgerSigner != "":
		return keyIDOf(r.LedgerSigner) + " (ledger)"
	case r.SignerUnknown:
		return "unknown"
	case r.SignerKeyID != "":
		return r.SignerKeyID
	case r.Signer != "":
		return keyIDOf(r.Signer)
	}
	return "-"
}

func keyIDOf(s string) string {
	if id := pgpkey.KeyIDOfFingerprint(s); id != "" {
		return id
	}
	return s
}

// printUnlisted notes the ledger's releases the listing left out that are
// not alarms (their signers are active, or not asked for).
func printUnlisted(a *app, rep *revoke.Report) {
	if len(rep.Unlisted) == 0 {
		return
	}
	tprintf(a.stdout, "\n%d releases recorded in the ledger are missing from the listing (not alarms: signer active or not asked for):\n", len(rep.Unlisted))
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	tprintf(tw, "CHART\tVERSION\tSIGNER\tFIRST SEEN\n")
	for _, r := range rep.Unlisted {
		signer := "-"
		if r.LedgerSigner != "" {
			signer = keyIDOf(r.LedgerSigner)
		}
		first := "-"
		if r.FirstSeen != nil {
			first = r.FirstSeen.UTC().Format(time.RFC3339)
		}
		tprintf(tw, "%s\t%s\t%s\t%s\n", r.Chart, r.Version, signer, first)
	}
	tw.Flush()
}

// reasonCell says why in one table cell: the removal reason and what time
// it rests on, or the problem found.
func reasonCell(r *revoke.Result) string {
	switch {
	case r.Removed && r.Reason == string(ring.Compromised):
		if !r.SignerVerified {
			// The .prov names the key; the signature was not checked
			// (the detail says so).
			return r.Detail
		}
		return "key compromised"
	case r.Removed, r.Reason == "expired":
		s := "key " + r.Reason
		if r.FirstSeen != nil {
			rel := "after"
			if r.Status == revoke.Trusted {
				rel = "before"
			}
			what := "removal"
			if !r.Removed {
				what = "expiry"
			}
			s += fmt.Sprintf(", first seen %s %s %s (%s)", r.FirstSeen.UTC().Format(time.RFC3339), rel, what, r.TimeSource.Describe())
		} else if r.TimeSource != "" {
			s += " (" + r.TimeSource.Describe() + ")"
		}
		if r.Status != revoke.Trusted && r.Status != revoke.RemovedKey && r.Status != revoke.KeyExpired {
			s += "; " + r.Detail
		}
		return s
	case r.Status == revoke.Trusted:
		return ""
	}
	return r.Detail
}

func (a *app) newLedgerCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "ledger",
		Short: "The first-seen ledger of chart releases (backs soft key removals)",
	}
	var o auditOpts
	rec := &cobra.Command{
		Use:   "record --repo URL",
		Short: "Record releases not seen before; alarm when a recorded release changed",
		Long: `record reads the repository like audit does and stores, for each release not seen before,
its archive and .prov digests, its signer and the store's time: the first-seen time that a
signer cannot forge, which keeps releases of a retired or superseded key trusted.
A release already recorded that reappears with other bytes or another signer is a security
alarm (exit 1); a re-sign of the same archive by an active key after its signer was removed
is reported, not alarmed. Records are never changed.

  keyctl ledger record --repo https://charts.example.org`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.ledgerRecord(cmd, o)
		},
	}
	o.flags(rec, false)
	list := &cobra.Command{
		Use:   "list",
		Short: "Show the ledger",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.ledgerList()
		},
	}
	c.AddCommand(rec, list)
	return c
}

func (a *app) ledgerRecord(cmd *cobra.Command, o auditOpts) error {
	ks, ledger, it, err := a.auditInputs(cmd, o, true)
	if err != nil {
		return err
	}
	rep, err := a.runAudit(cmd, o, ks, ledger, it, false)
	if err != nil {
		return err
	}
	// The store is opened again only to write the results.
	st, err := a.openStore(false)
	if err != nil {
		return err
	}
	res, err := revoke.Record(st, rep, ks, a.who())
	if cerr := st.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if a.json() {
		if err := a.printJSON(res); err != nil {
			return err
		}
	} else {
		tprintf(a.stdout, "recorded %d new releases of %s (%d already known, %d not fetched)\n", res.Added, rep.Repository, res.Known, rep.Total-res.Added-res.Known)
		for _, r := range res.Resigned {
			tprintf(a.stdout, "re-signed %s %s: %s (first-seen record kept)\n", r.Chart, r.Version, r.What)
		}
	}
	if len(res.Alarms) == 0 {
		return nil
	}
	lines := make([]string, 0, len(res.Alarms))
	for _, al := range res.Alarms {
		lines = append(lines, fmt.Sprintf("%s %s: %s", al.Chart, al.Version, al.What))
	}
	return fail.Securityf("%d recorded releases reappeared with different bytes or signer:\n%s", len(res.Alarms), strings.Join(lines, "\n")).
		WithHint("a published release must never change: find who uploaded it, restore the first-seen bytes, and audit the signer's keys",
			"a new build belongs under a new version number")
}

func (a *app) ledgerList() error {
	st, err := a.openStore(true)
	if err != nil {
		return err
	}
	defer st.Close()
	l, err := st.Ledger()
	if err != nil {
		return err
	}
	entries := make([]ring.LedgerEntry, 0, len(l))
	for _, e := range l {
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].Chart != entries[j].Chart {
			return entries[i].Chart < entries[j].Chart
		}
		return entries[i].Version < entries[j].Version
	})
	if a.json() {
		return a.printJSON(entries)
	}
	if len(entries) == 0 {
		tprintln(a.stdout, "the ledger is empty; record a repository with: keyctl ledger record --repo URL")
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	tprintf(tw, "CHART\tVERSION\tFIRST SEEN\tSIGNER\tARCHIVE SHA256\n")
	for _, e := range entries {
		signer := "-"
		if e.Signer != "" {
			signer = pgpkey.KeyIDOfFingerprint(e.Signer)
		}
		tprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Chart, e.Version, e.FirstSeen.UTC().Format(time.RFC3339), signer, e.ArchiveSHA256[:min(16, len(e.ArchiveSHA256))])
	}
	return tw.Flush()
}
