package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/oci"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/publish"
)

// OpenLocation opens a repository location: an OCI namespace through reg
// (internal/oci), anything else through publish.Open.
func OpenLocation(ctx context.Context, location string, reg *oci.Client) (*publish.Bucket, error) {
	if oci.IsLocation(location) {
		if reg == nil {
			return nil, fail.Inputf("%s is an OCI registry location, and no registry client was given", location)
		}
		return reg.OpenSet(location)
	}
	return publish.Open(ctx, location, nil)
}

// Source is where Verify reads a chart from. Set exactly one of File,
// Chart or OCI.
type Source struct {
	// File is a chart archive on disk ("-": Stdin). Prov is its .prov:
	// empty means FILE.prov when it exists (else the chart is unsigned);
	// a Prov given must exist.
	File, Prov string
	Stdin      io.Reader
	// Chart is a chart name in the repository: fetched through its
	// index.yaml (Version empty: the release index.yaml lists first), or,
	// for an OCI namespace, the reference NAMESPACE/Chart:Version.
	Chart, Version string
	// OCI is a chart reference oci://HOST/PATH/NAME:TAG or @sha256:HEX.
	OCI string
}

// VerifyRequest is one verification.
type VerifyRequest struct {
	// Repo says where the published set is and how to trust it. For an OCI
	// source with neither Repo.Location nor Repo.Bucket, the set is read at
	// the chart's namespace oci://HOST/PATH.
	Repo   Options
	Source Source
	// SourceDir, when set, is the chart source folder the archive must
	// hold exactly (a CI gate).
	SourceDir string
}

// Verdict is what Verify found. A verdict is returned whenever the
// published set was loaded, also with an error.
type Verdict struct {
	// ArchiveName is the archive's file name (as the .prov's files: lists it).
	ArchiveName string
	// Fetched is where the archive came from (redacted), for a fetched chart.
	Fetched string
	// Digest is the OCI manifest digest of an oci:// chart.
	Digest   string
	Trusted  bool // the decision and, with SourceDir, the source check
	Decision *Decision
	Repo     *Trusted
	// Differences from SourceDir (nil when not asked).
	Differences []provenance.Difference
	Warnings    []string
	// SignedIndex is the verified keyctl-index.json a REPO/CHART release
	// was found through (nil: the repository does not sign its index).
	SignedIndex *indexsig.Statement
	// IndexDigestChecked: the signed index gives the release a digest,
	// and the archive has it; its issue time then backs soft removals.
	IndexDigestChecked bool
}

// fetched is a chart read from any source, not yet trusted.
type fetched struct {
	archive, prov []byte
	archiveName   string
	provName      string // for messages; "" when unsigned
	provExplicit  bool   // the user named the .prov file
	fetched       string
	digest        string
	// check refuses an archive that is not the release asked for.
	check func(ar *provenance.Archive) error
	// signed and digestChecked: see Download.Signed and Download.DigestChecked.
	signed        *indexsig.Statement
	digestChecked bool
}

// Verify is keyctl's one verification of a chart (docs/verify.md): it
// reads the chart from its source, loads the repository's published set
// under the pinned root (Load), checks that a fetched archive is the
// release asked for, decides on the .prov (Decide) and, with SourceDir,
// compares the archive with its source. It never writes the chart
// anywhere: an archive is held in memory until it is judged.
//
// err is nil when a decision was made, trusted or not (see
// Verdict.Trusted); it is set when no decision could be made, or the
// fetched chart is not the one asked for (an Untrusted error).
func Verify(ctx context.Context, req VerifyRequest) (*Verdict, error) {
	src := req.Source
	opts := req.Repo
	n := 0
	for _, set := range []bool{src.File != "", src.Chart != "", src.OCI != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, fail.Inputf("give one chart: a file, REPO/CHART or an oci:// reference")
	}
	var ref oci.Ref
	if src.OCI != "" {
		r, err := oci.ParseRef(src.OCI, false)
		if err != nil {
			return nil, err
		}
		ref = r
		if opts.Location == "" && opts.Bucket == nil {
			opts.Location = ref.Namespace()
		}
	}
	if src.Chart != "" && oci.IsLocation(opts.Location) {
		if src.Version == "" {
			// As helm pull without --version: the highest released tag.
			v, err := latestOCI(ctx, opts.Registry, opts.Location, src.Chart)
			if err != nil {
				return nil, err
			}
			src.Version = v
		}
		r, err := oci.ParseRef(strings.TrimSuffix(opts.Location, "/")+"/"+src.Chart+":"+oci.TagForVersion(src.Version), false)
		if err != nil {
			return nil, err
		}
		ref = r
	}
	b := opts.Bucket
	if b == nil {
		if opts.Location == "" {
			return nil, fail.Inputf("no repository location given").WithHint("pass --repo URL or a repository name from keyctl repo add")
		}
		var err error
		if b, err = OpenLocation(ctx, opts.Location, opts.Registry); err != nil {
			return nil, err
		}
		defer b.Close()
		opts.Bucket = b
	}

	var f *fetched
	var err error
	var t *Trusted
	switch {
	case ref.Host != "":
		f, err = fetchOCI(ctx, opts.Registry, ref)
	case src.Chart != "":
		// The published set first: when its manifest names index keys,
		// index.yaml is read only with a valid signed statement
		// (signedindex.go).
		if t, err = Load(ctx, opts); err != nil {
			return nil, err
		}
		f, err = fetchIndexed(ctx, t, b, opts.Location, src.Chart, src.Version, opts.StateDir)
	default:
		f, err = readLocal(src)
	}
	if err != nil {
		return nil, err
	}
	v := &Verdict{ArchiveName: f.archiveName, Fetched: f.fetched, Digest: f.digest}

	var prov *provenance.Prov
	if f.prov != nil {
		if prov, err = provenance.Parse(f.prov); err != nil {
			if f.provExplicit {
				return nil, fail.Hint(err, "in "+f.provName) // the file the user named
			}
			// Fetched, or lying next to the archive: damaged or tampered
			// signature data, so not trusted.
			return nil, fail.Untrustedf("%s is not a valid provenance file", f.provName).Wrap(err).
				WithHint("the .prov was altered or truncated: do not use this chart")
		}
	}

	if t == nil {
		if t, err = Load(ctx, opts); err != nil {
			return nil, err
		}
	}
	v.Repo = t
	v.SignedIndex, v.IndexDigestChecked = f.signed, f.digestChecked
	for _, fb := range t.Fallbacks {
		v.Warnings = append(v.Warnings, fb+" did not match the manifest; its content-addressed copy did (a publish in progress?)")
	}
	ar, arErr := provenance.ReadArchive(bytes.NewReader(f.archive), provenance.DefaultLimits)
	if arErr != nil {
		// An archive that does not even read may still be a signed one
		// with bytes changed: say so when its hash differs from the .prov.
		sum := sha256.Sum256(f.archive)
		if d := t.CheckDigest(prov, f.archiveName, sum[:], nil); prov != nil && d.Status == StatusHashMismatch {
			return v, fail.Untrustedf("%s: %s", f.archiveName, d.Reason).Wrap(arErr).WithHint("the archive is not the one that was signed: do not use it")
		}
		return v, arErr
	}
	if f.check != nil {
		if err := f.check(ar); err != nil {
			return v, err
		}
	}
	if ref.Host != "" {
		// The .prov lists the archive under the name helm package gave it.
		f.archiveName = ar.Name + "-" + ar.Version + ".tgz"
		v.ArchiveName = f.archiveName
	}
	// A verified signed index's first-seen time for these exact .prov
	// bytes backs soft removals, like the ledger.
	c := Candidate{Prov: prov, ArchiveName: f.archiveName, Archive: ar}
	if f.signed != nil && f.prov != nil {
		c.Index, c.ProvSHA256 = f.signed, indexsig.Hash(f.prov)
	}
	d := Decide(t, t.Now, c)
	v.Decision, v.Trusted = d, d.Trusted
	if req.SourceDir != "" {
		diffs, err := provenance.CompareSource(ar, req.SourceDir, provenance.CompareOptions{})
		if err != nil {
			return v, err
		}
		v.Differences = diffs
		if diffs == nil {
			v.Differences = []provenance.Difference{}
		}
		v.Trusted = v.Trusted && len(diffs) == 0
	}
	return v, nil
}

func readLocal(src Source) (*fetched, error) {
	f := &fetched{archiveName: filepath.Base(src.File), provName: src.Prov, provExplicit: src.Prov != ""}
	var err error
	if f.archive, err = ReadFile(src.File, src.Stdin, provenance.DefaultLimits.MaxArchive); err != nil {
		return nil, err
	}
	if f.provName == "" {
		f.provName = src.File + ".prov"
	}
	if _, serr := os.Stat(f.provName); !f.provExplicit && errors.Is(serr, fs.ErrNotExist) {
		f.provName = "" // unsigned
	} else if f.prov, err = ReadFile(f.provName, src.Stdin, provenance.MaxProvSize); err != nil {
		return nil, err
	}
	return f, nil
}

// ReadFile reads a file ("-": stdin), at most limit bytes, refusing a
// folder and anything over the limit with an input error.
func ReadFile(name string, stdin io.Reader, limit int64) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		if stdin == nil {
			return nil, fail.Inputf("no standard input to read the chart from")
		}
		r = stdin
	} else {
		fh, err := os.Open(name)
		if err != nil {
			return nil, fail.Inputf("cannot read %s", name).Wrap(errors.Unwrap(err))
		}
		defer fh.Close()
		if st, err := fh.Stat(); err == nil && st.IsDir() {
			return nil, fail.Inputf("%s is a folder, not a file", name)
		}
		r = fh
		if st, err := fh.Stat(); err == nil && st.Mode().IsRegular() && st.Size() < limit {
			// One allocation of the right size, not io.ReadAll's doubling
			// (a process that verifies one chart pays for each page).
			return readSized(fh, name, st.Size(), limit)
		}
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fail.Inputf("cannot read %s", name).Wrap(err)
	}
	if int64(len(data)) > limit {
		return nil, fail.Inputf("%s is larger than the %d-byte limit", name, limit)
	}
	return data, nil
}

// readSized reads a regular file whose size is known into one buffer; a
// file that grew since is still held to limit.
func readSized(fh *os.File, name string, size, limit int64) ([]byte, error) {
	buf := make([]byte, size+1)
	n, err := io.ReadFull(fh, buf)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return buf[:n], nil
	case err != nil:
		return nil, fail.Inputf("cannot read %s", name).Wrap(err)
	}
	rest, err := io.ReadAll(io.LimitReader(fh, limit+1-int64(n)))
	if err != nil {
		return nil, fail.Inputf("cannot read %s", name).Wrap(err)
	}
	data := append(buf, rest...)
	if int64(len(data)) > limit {
		return nil, fail.Inputf("%s is larger than the %d-byte limit", name, limit)
	}
	return data, nil
}

func fetchIndexed(ctx context.Context, t *Trusted, b *publish.Bucket, location, chart, version, stateDir string) (*fetched, error) {
	base, err := BaseURL(location)
	if err != nil {
		return nil, err
	}
	d, err := FetchRelease(ctx, t, b, base, chart, version, FetchOptions{StateDir: stateDir})
	if err != nil {
		return nil, err
	}
	f := &fetched{archive: d.Archive, prov: d.Prov, archiveName: d.Name, fetched: d.URL, signed: d.Signed, digestChecked: d.DigestChecked}
	if d.Prov != nil {
		f.provName = d.URL + ".prov"
	}
	// index.yaml is not signed: the archive it led to must be the release
	// asked for, not another chart or version signed by the same
	// maintainer.
	f.check = func(ar *provenance.Archive) error { return d.CheckArchive(chart, version, ar) }
	return f, nil
}

// fetchOCI reads a chart from a registry: the manifest, then the .prov
// and the archive layers, each capped and checked against its digest.
func fetchOCI(ctx context.Context, reg *oci.Client, ref oci.Ref) (*fetched, error) {
	if reg == nil {
		return nil, fail.Inputf("%s is in an OCI registry, and no registry client was given", ref)
	}
	ch, err := reg.ResolveChart(ctx, ref)
	if err != nil {
		return nil, err
	}
	f := &fetched{fetched: ref.String(), digest: ch.ManifestDigest, archiveName: ref.Name() + ".tgz"}
	if f.prov, err = reg.FetchProv(ctx, ch); err != nil {
		return nil, err
	}
	if f.prov != nil {
		f.provName = ref.String() + " (provenance layer)"
	}
	if f.archive, err = reg.FetchArchive(ctx, ch); err != nil {
		return nil, err
	}
	f.check = func(ar *provenance.Archive) error { return CheckOCIArchive(ref, ch.ManifestDigest, ar) }
	return f, nil
}

// CheckOCIArchive refuses an archive that is not the release ref names
// (docs/verify.md, "Re-tagged and renamed charts"). Tags and repository
// names are not signed, so:
//
//   - the archive's Chart.yaml name must be the repository's last path
//     element: a chart copied to a differently named repository is refused
//     (verify it where its own name is, or copy it under its name);
//   - with a tag, the Chart.yaml version must be the version the tag
//     names (oci.TagHoldsVersion, the rule audit uses too: Helm's '_' read
//     as '+'): a tag holding another version (a re-tag such as "stable" or
//     a promotion of 1.2.0-rc.1 to 1.2.0) is refused, whatever its
//     signature: verify the version the tag holds, by version tag or by
//     digest. A version with '_' (not SemVer) is named by no tag;
//   - with a digest, the manifest is content-addressed and the version is
//     the one the archive (and its .prov) says.
func CheckOCIArchive(ref oci.Ref, digest string, ar *provenance.Archive) error {
	if ar.Name != ref.Name() {
		return fail.Untrustedf("%s holds chart %q, not %s: a chart copied to a repository of another name", ref, ar.Name, ref.Name()).
			WithHint("keyctl verifies a chart only under its own name: verify oci://HOST/PATH/" + ar.Name + ", or copy the chart to a repository named after it (docs/verify.md)")
	}
	if ref.Tag != "" && !oci.TagHoldsVersion(ref.Tag, ar.Version) {
		if oci.TagForVersion(ar.Version) == ref.Tag {
			// ar.Version holds '_', which a tag reads as '+'.
			return fail.Untrustedf("%s holds %s version %s, but the tag names version %s: Helm reads a tag's '_' as SemVer's '+', so no tag names a version with '_'", ref, ar.Name, ar.Version, oci.VersionForTag(ref.Tag)).
				WithHint("a chart version must be SemVer (helm package refuses '_'): re-package and sign it with a SemVer version, or verify these bytes pinned by digest: " + ref.Namespace() + "/" + ar.Name + "@" + digest)
		}
		return fail.Untrustedf("%s holds %s version %s, not %s: a tag moved to another version (re-tag)", ref, ar.Name, ar.Version, oci.VersionForTag(ref.Tag)).
			WithHint("tags are not signed: verify the version the tag holds, " + ref.Namespace() + "/" + ar.Name + ":" + oci.TagForVersion(ar.Version) + ", or pin it by digest: " + ref.Namespace() + "/" + ar.Name + "@" + digest)
	}
	return nil
}

// latestOCI is the highest released version tag of chart under namespace.
func latestOCI(ctx context.Context, reg *oci.Client, namespace, chart string) (string, error) {
	if reg == nil {
		return "", fail.Inputf("%s is an OCI registry location, and no registry client was given", namespace)
	}
	host, path, err := oci.ParseNamespace(namespace)
	if err != nil {
		return "", err
	}
	repo := chart
	if path != "" {
		repo = path + "/" + chart
	}
	tags, err := reg.Tags(ctx, host, repo)
	if err != nil {
		return "", err
	}
	v := oci.Latest(tags)
	if v == "" {
		return "", fail.Inputf("%s/%s has no tag that is a released version (%d tags)", strings.TrimSuffix(namespace, "/"), chart, len(tags)).
			WithHint("name the version with --version")
	}
	return v, nil
}
