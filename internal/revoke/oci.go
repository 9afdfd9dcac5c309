package revoke

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/oci"
	"github.com/keyctl/keyctl/internal/provenance"
)

// auditOCI audits an OCI namespace oci://HOST/PATH: the charts named in
// Options.Charts or, when none are, those the registry's catalog lists
// directly under PATH; every tag of each; each release judged with
// client.Decide exactly as for an index.yaml repository. Under ProvOnly
// no chart layer is fetched: the layer's digest is the archive's SHA-256,
// checked against the .prov.
func auditOCI(ctx context.Context, opts Options, match map[string]bool) (*Report, error) {
	reg := opts.Registry
	if reg == nil {
		return nil, fail.Inputf("auditing %s needs a registry client", opts.Repository)
	}
	host, path, err := oci.ParseNamespace(opts.Repository)
	if err != nil {
		return nil, err
	}
	display := oci.Scheme + host
	if path != "" {
		display += "/" + path
	}
	charts := opts.Charts
	if len(charts) == 0 {
		names, ok, err := reg.Charts(ctx, host, path)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fail.Inputf("%s does not list its repositories (no catalog API)", display).
				WithHint("name the charts to audit: --chart NAME (repeatable)")
		}
		if len(names) == 0 {
			return nil, fail.Inputf("the catalog of %s lists no chart under %s", host, display).
				WithHint("check the namespace (the prefix helm push was given), or name the charts with --chart NAME")
		}
		charts = names
	}
	var releases []Release
	for _, name := range charts {
		repo := name
		if path != "" {
			repo = path + "/" + name
		}
		tags, err := reg.Tags(ctx, host, repo)
		if err != nil {
			return nil, fail.Hint(err, "chart "+name+" was named with --chart or listed by the catalog")
		}
		for _, t := range tags {
			// The version the tag names, as verify reads it (oci.TagHoldsVersion).
			releases = append(releases, Release{Chart: name, Version: oci.VersionForTag(t), URLs: []string{display + "/" + name + ":" + t}})
		}
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
		g.Go(func() error {
			results[i] = auditOCIRelease(gctx, reg, opts, &releases[i], now)
			if opts.Progress != nil {
				opts.Progress(int(done.Add(1)), len(releases))
			}
			return gctx.Err()
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fail.Inputf("audit of %s interrupted", display).Wrap(err)
	}
	// With --chart, the ledger's other charts were not asked about.
	var scope map[string]bool
	if len(opts.Charts) > 0 {
		scope = map[string]bool{}
		for _, c := range opts.Charts {
			scope[c] = true
		}
	}
	return buildReport(display, results, match, opts, now, scope), nil
}

func auditOCIRelease(ctx context.Context, reg *oci.Client, opts Options, rel *Release, now time.Time) Result {
	r := Result{Chart: rel.Chart, Version: rel.Version, URL: rel.URLs[0]}
	ref, err := oci.ParseRef(rel.URLs[0], false)
	if err != nil {
		r.Status, r.Detail = Invalid, stripFail(err)
		return r
	}
	// A fetch error is `unreachable` (an outage: could not be fetched)
	// unless the registry answered and what it served is refused: not a
	// Helm chart, over a cap, or bytes that do not match their digest
	// (fail.Untrusted, which verify refuses as untrusted). Those are
	// `invalid`, on the re-sign worklist, as for the chart layer below.
	ch, err := reg.ResolveChart(ctx, ref)
	if err != nil {
		r.Status, r.Detail = Unreachable, stripFail(err)
		if oci.IsNotChart(err) || fail.KindOf(err) == fail.Untrusted {
			// Reachable, but not a Helm chart as helm push writes it, or
			// a manifest other than the digest it was asked by.
			r.Status = Invalid
		}
		return r
	}
	r.ArchiveSHA256 = ch.ArchiveSHA256()
	provData, err := reg.FetchProv(ctx, ch)
	if err != nil {
		r.Status, r.Detail = Unreachable, stripFail(err)
		if (ch.Manifest.Prov != nil && ch.Manifest.Prov.Size > provenance.MaxProvSize) || fail.KindOf(err) == fail.Untrusted {
			r.Status = Invalid
		}
		return r
	}
	if provData == nil {
		r.Status, r.Detail = Unsigned, "no provenance layer in the chart's manifest"
		return r
	}
	r.ProvSHA256 = provDigest(provData)
	prov, err := provenance.Parse(provData)
	if err != nil {
		r.Status, r.Detail = Invalid, err.Error()
		return r
	}
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
	cand := client.Candidate{Prov: prov, ArchiveName: rel.Chart + "-" + rel.Version + ".tgz"}
	if opts.ProvOnly {
		sum, _ := hex.DecodeString(ch.ArchiveSHA256())
		cand.SHA256 = sum
	} else {
		data, err := reg.FetchArchive(ctx, ch)
		if err != nil {
			r.Status, r.Detail = Unreachable, stripFail(err)
			if ch.Manifest.Chart.Size > opts.Limits.WithDefaults().MaxArchive || fail.KindOf(err) == fail.Untrusted {
				r.Status = Invalid
			}
			return r
		}
		a, err := provenance.ScanArchive(bytes.NewReader(data), opts.Limits.WithDefaults())
		data = nil
		if err != nil {
			r.Status, r.Detail = Invalid, stripFail(err)
			return r
		}
		cand.Archive = a
		if a.Name != rel.Chart || !oci.TagHoldsVersion(ref.Tag, a.Version) {
			// The tag or the repository name is not the archive's own
			// (the tag rule of verify: oci.TagHoldsVersion).
			judge(&r, prov, cand, rel, opts, now)
			if r.Status != BadSignature && r.Status != Compromised && r.Status != UnknownSigner {
				r.Status = ChartMismatch
				why := fmt.Sprintf("the archive is %s %s but the registry lists it as %s", a.Name, a.Version, rel.URLs[0])
				if a.Name == rel.Chart && oci.TagForVersion(a.Version) == ref.Tag {
					why += fmt.Sprintf(", which names version %s (a tag's '_' is SemVer's '+'; a version with '_' is not SemVer)", rel.Version)
				}
				r.Detail = joinDetail(why, r.Detail)
			}
			return r
		}
	}
	judge(&r, prov, cand, rel, opts, now)
	return r
}

func provDigest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
