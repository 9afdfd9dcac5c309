package revoke

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/oci"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/policy"
)

// Status of one release in an audit.
type Status string

const (
	Trusted Status = "trusted"
	// Compromised: signed by a key removed as compromised.
	Compromised Status = "compromised"
	// RemovedKey: signed by a retired or superseded key and not kept
	// trusted (first seen after the effective time, or no ledger record).
	RemovedKey    Status = "removed-key"
	UnknownSigner Status = "unknown-signer"
	OutOfScope    Status = "out-of-scope"
	BadSignature  Status = "bad-signature"
	HashMismatch  Status = "hash-mismatch"
	// ChartMismatch: the .prov's chart name or version differs from the
	// archive's Chart.yaml (or from the index entry).
	ChartMismatch Status = "chart-mismatch"
	// Invalid: a .prov or archive keyctl refuses to read.
	Invalid     Status = "invalid"
	Unsigned    Status = "unsigned"
	Unreachable Status = "unreachable"
	// KeyExpired: signed by a key still listed active that has expired
	// since, and no ledger record backs a first-seen time before the
	// expiry (judged like a soft removal at the expiry time).
	KeyExpired Status = "key-expired"
	// WrongRole: signed by an index key, which never signs a chart.
	WrongRole Status = "wrong-role"
	// ProvMissing: the ledger recorded this release signed (by the key in
	// LedgerSigner) and no .prov is served now.
	ProvMissing Status = "prov-missing"
	// ProvChanged: the ledger recorded this release signed (by the key in
	// LedgerSigner) and the .prov served now is another one that no known
	// key verifies (unknown signer, or unreadable).
	ProvChanged Status = "prov-changed"
	// MissingFromIndex: the ledger recorded this release and the index (or
	// the registry) no longer lists it.
	MissingFromIndex Status = "missing-from-index"
)

// Statuses in report order.
var Statuses = []Status{Trusted, Compromised, ProvMissing, ProvChanged, MissingFromIndex, RemovedKey, KeyExpired, UnknownSigner, WrongRole, OutOfScope, BadSignature, HashMismatch, ChartMismatch, Invalid, Unsigned, Unreachable}

// Result is the audit of one release. It holds no archive content: an
// audit's memory grows with its concurrency, not with the repository.
type Result struct {
	Chart   string `json:"chart"`
	Version string `json:"version"`
	URL     string `json:"url"`
	Status  Status `json:"status"`
	// Signer is the primary fingerprint of the verified signer or, when no
	// known key verifies, the issuer the signature claims (unverified).
	Signer         string `json:"signer,omitempty"`
	SignerKeyID    string `json:"signer_key_id,omitempty"`
	SignerVerified bool   `json:"signer_verified"`
	// SigningKey is the (sub)key that made the signature.
	SigningKey string     `json:"signing_key,omitempty"`
	SignedAt   *time.Time `json:"signed_at,omitempty"`
	// Removed is set when the signer is a removed key (even if the release
	// stays trusted under the soft-removal rule); Reason is the removal's.
	Removed    bool       `json:"signer_removed"`
	Reason     string     `json:"reason,omitempty"`
	TimeSource TimeSource `json:"time_source,omitempty"`
	FirstSeen  *time.Time `json:"first_seen,omitempty"`
	Detail     string     `json:"detail,omitempty"`
	// Digests of what was fetched (hex), for the ledger.
	ArchiveSHA256 string `json:"archive_sha256,omitempty"`
	ProvSHA256    string `json:"prov_sha256,omitempty"`
	// LedgerSigner is the signer the ledger recorded for this release,
	// set when the release is attributed by the ledger because no known
	// key verifies what is served now (prov-missing, prov-changed,
	// missing-from-index, or an unreachable or unverifiable .prov);
	// Ledger is that record.
	LedgerSigner string            `json:"ledger_signer,omitempty"`
	Ledger       *ring.LedgerEntry `json:"ledger,omitempty"`
	// SignerUnknown is set under --key or --removed for a release whose
	// signer cannot be determined (no known key verifies it, no ledger
	// record names one): it cannot be excluded, so it is listed.
	SignerUnknown bool `json:"signer_unknown,omitempty"`

	ids []string // every key ID and fingerprint the signature is linked to
	// ledgerUnsigned: the ledger recorded these archive bytes unsigned.
	ledgerUnsigned bool
}

// IsTrusted reports whether the release passed.
func (r *Result) IsTrusted() bool { return r.Status == Trusted }

// Options configure an audit.
type Options struct {
	// Repository is a directory, file://, http(s)://, gs:// (or other
	// publish.Open) location holding index.yaml, or an OCI namespace
	// oci://HOST/PATH (see Registry and Charts).
	Repository string
	Keys       *KeySet
	// Ledger holds first-seen records by chart and version (may be nil).
	Ledger map[[2]string]ring.LedgerEntry
	// ProvOnly skips fetching archives: no hash or Chart.yaml checks.
	ProvOnly bool
	// Match narrows the report to releases signed by these keys
	// (fingerprints or key IDs; subkeys of known certificates included).
	Match []string
	// RemovedOnly narrows the report to releases signed by removed keys.
	RemovedOnly bool
	// Concurrency bounds the releases in flight; default 2 × cores for a
	// directory, DefaultRemoteConcurrency for a remote repository.
	Concurrency int
	// Now is the verification time; default time.Now.
	Now func() time.Time
	// Progress, when set, is called once with (0, total) before the first
	// release starts, then (from several goroutines) after each release
	// with the count done.
	Progress func(done, total int)
	// HTTPClient for http(s) repositories and chart URLs. Its
	// CheckRedirect is replaced by Redirects.
	HTTPClient *http.Client
	// Redirects is which redirects fetches follow; the zero value keeps
	// them on the repository's scheme and host (publish.RedirectPolicy).
	Redirects publish.RedirectPolicy
	// Retries per fetch (default 4) and the first wait (default 250 ms).
	Retries int
	Backoff time.Duration
	// MaxThrottle bounds the time one fetch waits out HTTP 429 and 503
	// answers, which do not count as retries (default 5 minutes).
	MaxThrottle time.Duration
	// Limits for reading archives (default provenance.DefaultLimits).
	Limits provenance.Limits
	// IndexTrust, when set (the repository names index keys), requires
	// index.yaml to carry a valid keyctl-index.json signed by an index key
	// (client.IndexTrust.Check: tamper, wrong role, freeze, rollback are
	// refused before any release is read). The signed index is then
	// authenticated: redirects to other hosts are followed (never from
	// https to http, without credentials), an archive must have the digest
	// index.yaml gives it, and the statement's issue time backs soft
	// removals and expiry like a ledger record.
	IndexTrust *client.IndexTrust
	// StateDir records the newest signed index seen (empty: not recorded).
	StateDir string
	// Registry reaches an oci://HOST/PATH Repository; Charts names the
	// charts under it to audit (none: the registry's catalog).
	Registry *oci.Client
	Charts   []string
}

// Report is the result of an audit.
type Report struct {
	Repository string         `json:"repository"`
	Total      int            `json:"total"`  // releases in the index
	Listed     int            `json:"listed"` // releases in Results (after --key / --removed)
	Counts     map[Status]int `json:"counts"` // of Results
	Results    []Result       `json:"releases"`
	Worklist   []WorkItem     `json:"resign_worklist"`
	Keys       []string       `json:"keys,omitempty"` // the --key filter as resolved
	Time       time.Time      `json:"time"`
	// Unlisted are ledger records missing from the index that are not
	// alarms: their signer is active (or not asked for with --key or
	// --removed). Those that are alarms are in Results as
	// missing-from-index.
	Unlisted []Result `json:"missing_from_index"`
	// SignedIndex is the verified keyctl-index.json (nil: index.yaml is
	// not signed).
	SignedIndex *indexsig.Statement `json:"-"`
}

// AllTrusted reports whether every listed release is trusted.
func (r *Report) AllTrusted() bool { return r.Counts[Trusted] == r.Listed }

// WorkItem is one release to re-sign (or rebuild) and why.
type WorkItem struct {
	Chart   string `json:"chart"`
	Version string `json:"version"`
	URL     string `json:"url"`
	Why     string `json:"why"`
}

// Audit reads the repository's index.yaml and checks every chart version.
// It fails (kind Input) only when the index cannot be read; a release that
// cannot be fetched is reported as unreachable.
func Audit(ctx context.Context, opts Options) (*Report, error) {
	if opts.Keys == nil {
		return nil, fail.Inputf("audit needs a key set")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	match, err := resolveMatch(opts.Keys, opts.Match)
	if err != nil {
		return nil, err
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 2 * runtime.NumCPU()
		if strings.Contains(opts.Repository, "://") && !strings.HasPrefix(strings.ToLower(opts.Repository), "file://") {
			opts.Concurrency = max(opts.Concurrency, DefaultRemoteConcurrency)
		}
	}
	if oci.IsLocation(opts.Repository) {
		return auditOCI(ctx, opts, match)
	}
	if opts.IndexTrust != nil {
		opts.Redirects.CrossHost = true // only after the signed index checks out is anything fetched
	}
	src, err := openSource(ctx, opts.Repository, opts)
	if err != nil {
		return nil, err
	}
	defer src.close()
	idxURL := src.base.ResolveReference(&url.URL{Path: "index.yaml"})
	data, err := src.readAll(ctx, idxURL, MaxIndexSize)
	if err != nil {
		var hint string
		if errors.Is(err, errNotFound) {
			hint = "a Helm chart repository serves index.yaml at its root; give that root with --repo"
		} else {
			hint = "check the URL and the network, then run the audit again"
		}
		return nil, fail.Inputf("cannot read index.yaml of %s", src.display).Wrap(err).WithHint(hint)
	}
	var signed *indexsig.Statement
	if opts.IndexTrust != nil {
		var stmt, sigs []byte
		if stmt, err = readOptional(ctx, src, indexsig.Name, indexsig.MaxSize); err == nil && stmt != nil {
			sigs, err = readOptional(ctx, src, indexsig.SigName, root.MaxSigSize)
		}
		if err != nil {
			return nil, fail.Inputf("cannot read the signed index of %s", src.display).Wrap(err)
		}
		// Recorded under the location as verify records it (no final "/").
		si, err := opts.IndexTrust.Check(data, stmt, sigs, client.RedactURL(strings.TrimSuffix(src.display, "/")), opts.StateDir)
		if err != nil {
			return nil, err
		}
		signed = si.Statement
	}
	releases, err := ParseIndex(data)
	data = nil
	if err != nil {
		return nil, err
	}
	now := opts.Now()
	results := make([]Result, len(releases))
	var done atomic.Int64
	if opts.Progress != nil {
		opts.Progress(0, len(releases))
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Concurrency)
	for i := range releases {
		i := i
		g.Go(func() error {
			results[i] = auditRelease(gctx, src, opts, &releases[i], now, signed)
			if opts.Progress != nil {
				opts.Progress(int(done.Add(1)), len(releases))
			}
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fail.Inputf("audit of %s interrupted", src.display).Wrap(err)
	}
	rep := buildReport(src.display, results, match, opts, now, nil)
	rep.SignedIndex = signed
	return rep, nil
}

// buildReport attributes releases the ledger knows (attributeFromLedger),
// filters (--key, --removed), adds the ledger's releases the listing left
// out (missingFromIndex), and counts the results. scope, when not nil, is
// the charts the listing covered (oci --chart).
func buildReport(display string, results []Result, match map[string]bool, opts Options, now time.Time, scope map[string]bool) *Report {
	rep := &Report{Repository: display, Total: len(results), Counts: map[Status]int{}, Time: now, Unlisted: []Result{}}
	for _, q := range opts.Match {
		n, _ := pgpkey.ParseFingerprint(q)
		rep.Keys = append(rep.Keys, n)
	}
	filtered := len(match) > 0 || opts.RemovedOnly
	listed := make(map[[2]string]bool, len(results))
	for i := range results {
		r := &results[i]
		listed[[2]string{r.Chart, r.Version}] = true
		attributeFromLedger(r, opts)
		if filtered && !selected(r, match, opts) {
			if !signerUnknown(r) {
				continue
			}
			// Its signer cannot be determined: it may be one of the
			// keys asked for, so it is listed (and the audit does not
			// pass).
			r.SignerUnknown = true
			r.Detail = joinDetail(r.Detail, "signer unknown: could not be attributed to a signer (no known key verifies it, no ledger record names one), so it may be signed by the key asked for: listed")
		}
		rep.add(r)
	}
	for _, r := range missingFromIndex(listed, opts, scope) {
		if selected(&r, match, opts) && (filtered || r.Removed) {
			rep.add(&r)
		} else {
			rep.Unlisted = append(rep.Unlisted, r)
		}
	}
	rep.Listed = len(rep.Results)
	return rep
}

func (rep *Report) add(r *Result) {
	rep.Results = append(rep.Results, *r)
	rep.Counts[r.Status]++
	if w, ok := workItem(r); ok {
		rep.Worklist = append(rep.Worklist, w)
	}
}

// selected reports whether r passes --key and --removed.
func selected(r *Result, match map[string]bool, opts Options) bool {
	if len(match) > 0 && !matches(match, r.ids) {
		return false
	}
	return !opts.RemovedOnly || r.Removed
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// resolveMatch expands the --key queries: a query naming a known key (by
// primary or subkey fingerprint or key ID) stands for every key ID and
// fingerprint of that certificate; an unknown one matches issuers as given.
func resolveMatch(ks *KeySet, queries []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, raw := range queries {
		q, err := pgpkey.ParseFingerprint(raw)
		if err != nil {
			return nil, fail.Inputf("--key: %v", err).WithHint("give a fingerprint or a 16-digit key ID, e.g. from: gpg --list-keys --with-subkey-fingerprints")
		}
		if k := ks.Lookup(q); k != nil {
			for _, id := range certIDs(k) {
				out[id] = true
			}
			continue
		}
		out[q] = true
		out[pgpkey.KeyIDOfFingerprint(q)] = true
	}
	return out, nil
}

func certIDs(k *Key) []string {
	ids := []string{k.Fingerprint, pgpkey.KeyID(k.Entity.PrimaryKey)}
	for _, s := range k.Entity.Subkeys {
		ids = append(ids, pgpkey.FormatFingerprint(s.PublicKey.Fingerprint), pgpkey.KeyID(s.PublicKey))
	}
	return ids
}

func matches(set map[string]bool, ids []string) bool {
	for _, id := range ids {
		if set[id] {
			return true
		}
	}
	return false
}

// readOptional fetches a small object at the repository's root; a missing
// one is nil. One over limit is an index tamper.
func readOptional(ctx context.Context, src *source, name string, limit int64) ([]byte, error) {
	data, err := src.readAll(ctx, src.base.ResolveReference(&url.URL{Path: name}), limit)
	switch {
	case errors.Is(err, errNotFound):
		return nil, nil
	case errors.Is(err, errOverCap):
		return nil, &indexsig.Error{Kind: indexsig.ErrTamper, Msg: fmt.Sprintf("%s is larger than %d bytes", name, limit), Detail: err}
	case err != nil:
		return nil, err
	}
	if data == nil {
		data = []byte{}
	}
	return data, nil
}

func auditRelease(ctx context.Context, src *source, opts Options, rel *Release, now time.Time, signed *indexsig.Statement) Result {
	r := Result{Chart: rel.Chart, Version: rel.Version}
	u, err := ResolveURL(src.base, rel.URLs[0])
	if err != nil {
		r.URL = rel.URLs[0]
		r.Status, r.Detail = Unreachable, err.Error()
		return r
	}
	r.URL = redact(u)
	// The same URL rule as verify: an unsigned index.yaml keeps the audit
	// on the repository's host (or bucket, or folder); a signed one may
	// name archives on other hosts, never by downgrading to http.
	check := client.CheckChartURL
	if signed != nil {
		check = client.CheckSignedChartURL
	}
	if err := check(src.base.String(), u.String()); err != nil {
		r.Status, r.Detail = Unreachable, fmt.Sprintf("chart URL %s is refused: %v", r.URL, err)
		if signed == nil && strings.Contains(err.Error(), "is not the repository's host") {
			r.Detail += "; archives on another host are followed only from a signed index (docs/verify.md, Signed index)"
		}
		return r
	}
	provURL := *u
	provURL.Path += ".prov"
	provURL.RawPath = ""
	provData, err := src.readAll(ctx, &provURL, provenance.MaxProvSize)
	switch {
	case errors.Is(err, errNotFound):
		r.Status, r.Detail = Unsigned, "no .prov file next to the archive"
		if !opts.ProvOnly {
			// The ledger still wants the archive's digest.
			if derr := digestArchive(ctx, src, u, opts, &r); derr != nil {
				r.Detail += "; " + derr.Error()
			}
		}
		return r
	case errors.Is(err, errOverCap):
		r.Status, r.Detail = Invalid, err.Error()
		return r
	case err != nil:
		r.Status, r.Detail = Unreachable, err.Error()
		return r
	}
	ps := sha256.Sum256(provData)
	r.ProvSHA256 = hex.EncodeToString(ps[:])
	prov, err := provenance.Parse(provData)
	provData = nil
	if err != nil {
		r.Status, r.Detail = Invalid, err.Error()
		return r
	}
	// Who claims to have signed, before anything verifies.
	for _, is := range prov.Issuers() {
		if is.Fingerprint != "" {
			r.ids = append(r.ids, is.Fingerprint)
		}
		if is.KeyID != "" {
			r.ids = append(r.ids, is.KeyID)
		}
		if r.Signer == "" {
			r.Signer, r.SignerKeyID = is.String(), is.KeyID
		}
	}

	// The archive, read as verify reads it (provenance.ReadArchive).
	// The signed index's first-seen time applies to these exact .prov
	// bytes only (client.Candidate.Index).
	cand := client.Candidate{Prov: prov, ArchiveName: archiveName(u), Index: signed, ProvSHA256: r.ProvSHA256}
	if !opts.ProvOnly {
		a, err := readArchive(ctx, src, u, opts, &r)
		switch {
		case err != nil && isFetch(err) && !errors.Is(err, errOverCap):
			r.Status, r.Detail = Unreachable, err.Error()
			return r
		case err != nil:
			r.Status, r.Detail = Invalid, stripFail(err)
			return r
		}
		cand.Archive = a
		if signed != nil && rel.Digest != "" {
			// The signed index binds this digest: other bytes are a
			// substituted archive.
			if got := hex.EncodeToString(a.SHA256[:]); !strings.EqualFold(strings.TrimPrefix(rel.Digest, "sha256:"), got) {
				r.Status, r.Detail = HashMismatch, fmt.Sprintf("the archive's sha256 %s is not the digest %s the signed index.yaml gives it (a substituted archive)", got, rel.Digest)
				return r
			}
		}
	}
	judge(&r, prov, cand, rel, opts, now)
	return r
}

// judge decides on one fetched release (both sources): the ledger's
// first-seen time, client.Decide, and the listing's chart and version
// against the .prov's.
func judge(r *Result, prov *provenance.Prov, cand client.Candidate, rel *Release, opts Options, now time.Time) {
	// The ledger's first-seen time, for a key removed (or expired) at
	// effective.
	ledgerDetail := ""
	if le, ok := opts.Ledger[[2]string{rel.Chart, rel.Version}]; ok {
		cand.FirstSeen = func(effective time.Time) *time.Time {
			if t, ok := ledgerMatches(&le, r, prov, cand.ArchiveName, effective, opts.ProvOnly); ok {
				t = t.UTC()
				return &t
			}
			ledgerDetail = "the ledger's record of this release has other bytes; its first-seen time does not apply"
			return nil
		}
	}
	d := client.Decide(opts.Keys, now, cand)
	fromDecision(r, d, opts.Keys)
	// The index's entry must be the .prov's release; a signature that
	// fails, or a compromised signer, is reported first.
	if (prov.Name != rel.Chart || prov.Version != rel.Version) && r.Status != BadSignature && r.Status != Compromised && r.Status != UnknownSigner {
		r.Status = ChartMismatch
		r.Detail = joinDetail(fmt.Sprintf("the .prov is for %s %s but the index lists %s %s", prov.Name, prov.Version, rel.Chart, rel.Version), r.Detail)
	}
	if ledgerDetail != "" && d.TimeSource != "" {
		r.Detail = joinDetail(r.Detail, ledgerDetail)
	}
	if opts.ProvOnly {
		if cand.SHA256 != nil {
			r.Detail = joinDetail(r.Detail, "archive not fetched (--prov-only): its registry digest checked against the .prov")
		} else {
			r.Detail = joinDetail(r.Detail, "archive not checked (--prov-only)")
		}
	}
}

// AuditStatus maps the one decision's status (client.Decide) to audit's.
func AuditStatus(d *client.Decision) Status {
	if d.Trusted {
		return Trusted
	}
	switch d.Status {
	case client.StatusRemovedCompromised:
		return Compromised
	case client.StatusRemovedRetired, client.StatusRemovedSuperseded:
		return RemovedKey
	case client.StatusKeyExpired:
		return KeyExpired
	case client.StatusUnknownSigner:
		return UnknownSigner
	case client.StatusWrongRole:
		return WrongRole
	case client.StatusOutOfScope:
		return OutOfScope
	case client.StatusHashMismatch:
		return HashMismatch
	case client.StatusNameMismatch:
		return ChartMismatch
	case client.StatusUnsigned:
		return Unsigned
	}
	return BadSignature
}

// fromDecision fills r from the decision.
func fromDecision(r *Result, d *client.Decision, ks *KeySet) {
	r.Status = AuditStatus(d)
	if d.Signer != "" {
		r.Signer, r.SignerKeyID = d.Signer, pgpkey.KeyIDOfFingerprint(d.Signer)
		if k := ks.Get(d.Signer); k != nil {
			r.ids = append(r.ids, certIDs(k)...)
		}
	}
	r.SigningKey = d.SigningKey
	if t, err := time.Parse(time.RFC3339, d.SignedAt); err == nil && d.SigningKey != "" {
		r.SignedAt, r.SignerVerified = &t, true
	}
	switch {
	case d.KeyStatus == "removed":
		r.Removed, r.Reason = true, d.KeyReason
	case d.Status == client.StatusRemovedRetired || d.Status == client.StatusRemovedSuperseded:
		// A key still listed active whose signing (sub)key its own
		// certificate revokes as retired or superseded: a soft removal
		// of that (sub)key (docs/verify.md), never a re-sign by an
		// active key.
		r.Removed, r.Reason = true, strings.TrimPrefix(d.Status, "removed-")
	}
	if d.Status == client.StatusKeyExpired {
		r.Reason = policy.ReasonExpired
	}
	r.TimeSource = TimeSource(d.TimeSource)
	if t, err := time.Parse(time.RFC3339, d.FirstSeen); err == nil {
		r.FirstSeen = &t
	}
	r.Detail = joinDetail(d.Reason, d.Detail)
}

// ledgerMatches reports whether a first-seen record is of the bytes audited
// and, if so, since when the ledger has seen this .prov: the record's
// first-seen time for the first .prov, or the time of an accepted re-sign
// (when it came before the signer's removal took effect). A record first
// seen unsigned says nothing about when this .prov appeared, so it does not
// match. Under --prov-only the archive is not fetched: the .prov must list
// the recorded archive's digest for its archive name.
func ledgerMatches(le *ring.LedgerEntry, r *Result, prov *provenance.Prov, name string, effective time.Time, provOnly bool) (time.Time, bool) {
	if provOnly {
		if le.ArchiveSHA256 == "" || prov.Files[name] != "sha256:"+le.ArchiveSHA256 {
			return time.Time{}, false
		}
	} else if le.ArchiveSHA256 == "" || le.ArchiveSHA256 != r.ArchiveSHA256 {
		return time.Time{}, false
	}
	if r.ProvSHA256 == "" {
		return time.Time{}, false
	}
	if le.ProvSHA256 != "" && le.ProvSHA256 == r.ProvSHA256 {
		return le.FirstSeen, true
	}
	for _, rs := range le.Resigns {
		if rs.ProvSHA256 == r.ProvSHA256 && !rs.Time.IsZero() && rs.Time.Before(effective) {
			return rs.Time, true
		}
	}
	return time.Time{}, false
}

// readArchive reads the archive once with provenance.ScanArchive: the
// reader keyctl verify uses (ReadArchive) without the per-file hashes, so
// the same refusals (duplicate entries, several top-level folders, links)
// whichever command reads it.
func readArchive(ctx context.Context, src *source, u *url.URL, opts Options, r *Result) (*provenance.Archive, error) {
	lim := opts.Limits.WithDefaults()
	var a *provenance.Archive
	err := src.open(ctx, u, lim.MaxArchive, func(rd io.Reader) error {
		var err error
		a, err = provenance.ScanArchive(rd, lim)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.ArchiveSHA256 = hex.EncodeToString(a.SHA256[:])
	return a, nil
}

// digestArchive is the archive's SHA-256 alone, for the ledger record of
// an unsigned release.
func digestArchive(ctx context.Context, src *source, u *url.URL, opts Options, r *Result) error {
	lim := opts.Limits.WithDefaults()
	return src.open(ctx, u, lim.MaxArchive, func(rd io.Reader) error {
		sum, _, err := provenance.DigestArchive(rd, lim.MaxArchive)
		if err == nil {
			r.ArchiveSHA256 = hex.EncodeToString(sum[:])
		}
		return err
	})
}

func isFetch(err error) bool {
	var fe *fetchError
	return errors.As(err, &fe)
}

// stripFail is the one-line message of err: a table cell carries no hints.
func stripFail(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", " ")
}

func workItem(r *Result) (WorkItem, bool) {
	w := WorkItem{Chart: r.Chart, Version: r.Version, URL: r.URL}
	switch r.Status {
	case Trusted, Unreachable:
		return w, false
	case Compromised:
		w.Why = fmt.Sprintf("signed by compromised key %s: check the archive against its source, then re-sign with an active key", r.Signer)
		if !r.SignerVerified {
			w.Why = fmt.Sprintf("names compromised key %s (signature not checked): check the archive against its source, then re-sign with an active key", r.Signer)
		}
	case RemovedKey:
		if r.TimeSource == TimeSignature {
			w.Why = fmt.Sprintf("signed by %s key %s; no ledger record backs the signature time: re-sign with an active key", r.Reason, r.Signer)
		} else {
			w.Why = fmt.Sprintf("signed by %s key %s after its removal took effect: check the archive, then re-sign with an active key", r.Reason, r.Signer)
		}
	case KeyExpired:
		w.Why = fmt.Sprintf("signed by key %s, expired since, and no ledger record shows the release before the expiry: re-sign with an active key (or extend the key with keyctl update, see docs/runbook.md)", r.Signer)
	case UnknownSigner:
		w.Why = fmt.Sprintf("signed by unknown key %s: check the archive, then re-sign with an active key", r.Signer)
	case OutOfScope:
		w.Why = fmt.Sprintf("signer %s may not sign %s: re-sign with a key whose scopes cover it", r.Signer, r.Chart)
	case BadSignature:
		w.Why = "signature does not verify: rebuild or restore the archive, then re-sign"
	case HashMismatch:
		w.Why = "archive differs from what was signed: rebuild it from source, check it, then re-sign"
	case ChartMismatch:
		w.Why = "the .prov belongs to another chart release: sign this archive"
	case Invalid:
		w.Why = "the .prov or archive is malformed: rebuild and re-sign"
	case Unsigned:
		w.Why = "no .prov: sign the archive"
	case ProvMissing, ProvChanged, MissingFromIndex:
		w.Why = ledgerWhy(r)
	}
	return w, true
}

// SortedCounts lists the non-zero counts in report order.
func (r *Report) SortedCounts() []StatusCount {
	var out []StatusCount
	for _, s := range Statuses {
		if n := r.Counts[s]; n > 0 {
			out = append(out, StatusCount{s, n})
		}
	}
	return out
}

// StatusCount is one entry of a summary.
type StatusCount struct {
	Status Status
	Count  int
}
