package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"golang.org/x/mod/semver"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/provenance"
)

// Helm's media types (Helm 3.8 and later, Helm 4).
const (
	MediaTypeHelmConfig = "application/vnd.cncf.helm.config.v1+json"
	MediaTypeHelmChart  = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	MediaTypeHelmProv   = "application/vnd.cncf.helm.chart.provenance.v1.prov"
)

// Limits on what is read from a registry (all of it is untrusted).
const (
	// MaxManifestSize caps an image manifest (the registry's own limit
	// is 4 MiB in distribution).
	MaxManifestSize = 4 << 20
	// MaxConfigSize caps a Helm config blob (Chart.yaml as JSON).
	MaxConfigSize = 1 << 20
	// MaxLayers caps the layers of a chart manifest.
	MaxLayers = 16
	// MaxTags caps the tags listed for one repository, and MaxRepositories
	// the repositories listed from a catalog.
	MaxTags         = 100000
	MaxRepositories = 100000
)

// ChartManifest is a Helm chart's image manifest, checked.
type ChartManifest struct {
	Config Descriptor
	Chart  Descriptor  // the archive; its digest is the archive's SHA-256
	Prov   *Descriptor // nil: unsigned
}

// ParseChartManifest reads an image manifest as Helm writes it: one
// config of the Helm config type, exactly one chart layer and at most one
// provenance layer. Unknown extra layers are refused (a chart reader that
// ignored them could be shown other content than Helm installs).
func ParseChartManifest(data []byte) (*ChartManifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fail.Inputf("the OCI manifest is larger than %d bytes", MaxManifestSize)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fail.Inputf("the OCI manifest is not valid JSON: %s", shortErr(err))
	}
	if m.SchemaVersion != 2 {
		return nil, fail.Inputf("the OCI manifest has schemaVersion %d, want 2", m.SchemaVersion)
	}
	if m.MediaType != "" && m.MediaType != MediaTypeImageManifest {
		return nil, fail.Inputf("the OCI manifest has media type %q, want %s (an image index or a Docker manifest is not a Helm chart)", m.MediaType, MediaTypeImageManifest)
	}
	if m.Config.MediaType != MediaTypeHelmConfig {
		return nil, fail.Inputf("the OCI artifact is not a Helm chart: its config has media type %q, want %s", m.Config.MediaType, MediaTypeHelmConfig)
	}
	if len(m.Layers) > MaxLayers {
		return nil, fail.Inputf("the Helm chart manifest has %d layers, more than %d", len(m.Layers), MaxLayers)
	}
	out := &ChartManifest{Config: m.Config}
	if err := checkDescriptor(m.Config); err != nil {
		return nil, err
	}
	var chart bool
	for i := range m.Layers {
		l := m.Layers[i]
		if err := checkDescriptor(l); err != nil {
			return nil, err
		}
		switch l.MediaType {
		case MediaTypeHelmChart:
			if chart {
				return nil, fail.Inputf("the Helm chart manifest has two chart layers")
			}
			chart, out.Chart = true, l
		case MediaTypeHelmProv:
			if out.Prov != nil {
				return nil, fail.Inputf("the Helm chart manifest has two provenance layers")
			}
			out.Prov = &l
		default:
			return nil, fail.Inputf("the Helm chart manifest has a layer of unknown media type %q", l.MediaType)
		}
	}
	if !chart {
		return nil, fail.Inputf("the Helm chart manifest has no chart layer (%s)", MediaTypeHelmChart)
	}
	return out, nil
}

func checkDescriptor(d Descriptor) error {
	if !ValidDigest(d.Digest) {
		return fail.Inputf("an OCI descriptor has digest %q, want sha256:HEX", trunc(d.Digest))
	}
	if d.Size < 0 {
		return fail.Inputf("an OCI descriptor has negative size %d", d.Size)
	}
	return nil
}

// NotChartError says a manifest was read and is not a Helm chart.
type NotChartError struct{ Err error }

func (e *NotChartError) Error() string { return e.Err.Error() }
func (e *NotChartError) Unwrap() error { return e.Err }

// IsNotChart reports whether err says a reference is not a Helm chart
// (as opposed to a failure to reach it).
func IsNotChart(err error) bool {
	var nc *NotChartError
	return errors.As(err, &nc)
}

// ChartConfig is the part of Helm's config blob (Chart.yaml as JSON) that
// names the release. It is unsigned: use it to find, never to trust.
type ChartConfig struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Chart is a resolved chart reference.
type Chart struct {
	Ref            Ref
	ManifestDigest string // sha256:HEX of the image manifest
	Manifest       *ChartManifest
}

// ArchiveSHA256 is the hex SHA-256 of the chart archive (the chart layer's
// digest).
func (ch *Chart) ArchiveSHA256() string { return encoded(ch.Manifest.Chart.Digest) }

// ResolveChart resolves a chart reference (tag or digest) and reads its
// manifest, checked against Helm's layout.
func (c *Client) ResolveChart(ctx context.Context, ref Ref) (*Chart, error) {
	r, err := c.repository(ref.Host, ref.Repository)
	if err != nil {
		return nil, err
	}
	desc, data, err := r.fetchManifest(ctx, ref.Reference())
	if err != nil {
		if isNotFound(err) {
			return nil, fail.Inputf("%s: no such chart in the registry", ref).Wrap(err).
				WithHint("check the name and version (helm show chart " + ref.String() + ")")
		}
		var de *DigestError
		if errors.As(err, &de) {
			return nil, fail.Untrustedf("%s: the registry answered with manifest %s", ref, de.Got).Wrap(err)
		}
		return nil, c.wrap(err, ref.Host, "resolve "+ref.String())
	}
	m, err := ParseChartManifest(data)
	if err != nil {
		return nil, &fail.Error{Kind: fail.Input, Msg: ref.String() + " is not a Helm chart as helm push writes it", Err: &NotChartError{Err: err}}
	}
	return &Chart{Ref: ref, ManifestDigest: desc.Digest, Manifest: m}, nil
}

// fetch reads one blob of the chart's repository, refusing it unread when
// its descriptor is larger than limit, and checking size and digest.
func (c *Client) fetch(ctx context.Context, host, repo string, d Descriptor, limit int64, what string) ([]byte, error) {
	if d.Size > limit {
		return nil, fail.Inputf("%s is %d bytes, more than the %d-byte limit", what, d.Size, limit).
			WithHint("nothing was downloaded; a chart that large is not something keyctl reads")
	}
	r, err := c.repository(host, repo)
	if err != nil {
		return nil, err
	}
	data, err := r.fetchBlob(ctx, d, limit)
	if err != nil {
		var de *DigestError
		if errors.As(err, &de) {
			return nil, fail.Untrustedf("%s does not match its digest %s", what, d.Digest).Wrap(err).
				WithHint("the registry served other bytes than the manifest names: do not use this chart")
		}
		return nil, c.wrap(err, host, "fetch "+what)
	}
	return data, nil
}

// FetchArchive downloads the chart archive into memory (never to disk),
// capped at provenance.DefaultLimits.MaxArchive.
func (c *Client) FetchArchive(ctx context.Context, ch *Chart) ([]byte, error) {
	return c.fetch(ctx, ch.Ref.Host, ch.Ref.Repository, ch.Manifest.Chart, provenance.DefaultLimits.MaxArchive, ch.Ref.String()+" chart layer")
}

// FetchProv downloads the provenance layer; nil, nil when the chart has
// none (unsigned).
func (c *Client) FetchProv(ctx context.Context, ch *Chart) ([]byte, error) {
	if ch.Manifest.Prov == nil {
		return nil, nil
	}
	return c.fetch(ctx, ch.Ref.Host, ch.Ref.Repository, *ch.Manifest.Prov, provenance.MaxProvSize, ch.Ref.String()+" provenance layer")
}

// FetchConfig reads Helm's config blob (unsigned metadata).
func (c *Client) FetchConfig(ctx context.Context, ch *Chart) (*ChartConfig, error) {
	data, err := c.fetch(ctx, ch.Ref.Host, ch.Ref.Repository, ch.Manifest.Config, MaxConfigSize, ch.Ref.String()+" config")
	if err != nil {
		return nil, err
	}
	var cfg ChartConfig
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&cfg); err != nil {
		return nil, fail.Inputf("%s: the Helm config is not valid JSON: %s", ch.Ref, shortErr(err))
	}
	return &cfg, nil
}

// Tags lists a repository's tags, sorted.
func (c *Client) Tags(ctx context.Context, host, repo string) ([]string, error) {
	r, err := c.repository(host, repo)
	if err != nil {
		return nil, err
	}
	var tags []string
	err = r.tags(ctx, func(page []string) error {
		tags = append(tags, page...)
		if len(tags) > MaxTags {
			return fail.Inputf("%s%s/%s has more than %d tags", Scheme, host, repo, MaxTags)
		}
		return nil
	})
	if err != nil {
		if isNotFound(err) {
			return nil, fail.Inputf("%s%s/%s: no such repository in the registry", Scheme, host, repo).Wrap(err)
		}
		return nil, c.wrap(err, host, "list the tags of "+Scheme+host+"/"+repo)
	}
	sort.Strings(tags)
	return tags, nil
}

// Charts lists the repositories directly under oci://HOST/PATH from the
// registry's catalog, without the published set's own repository. ok is
// false when the registry does not answer the catalog (most hosted
// registries); the caller then needs the chart names from the user.
func (c *Client) Charts(ctx context.Context, host, path string) (names []string, ok bool, err error) {
	if !validHost(host) {
		return nil, false, fail.Inputf("%s is not a valid registry host", host)
	}
	prefix := ""
	if path != "" {
		prefix = path + "/"
	}
	n := 0
	err = c.repositories(ctx, host, func(page []string) error {
		for _, r := range page {
			n++
			if n > MaxRepositories {
				return fail.Inputf("the catalog of %s lists more than %d repositories", host, MaxRepositories)
			}
			rest, found := strings.CutPrefix(r, prefix)
			if !found || rest == "" || strings.Contains(rest, "/") || rest == SetRepository {
				continue
			}
			names = append(names, rest)
		}
		return nil
	})
	if err != nil {
		var fe *fail.Error
		if errorsAs(err, &fe) {
			return nil, false, err
		}
		return nil, false, nil // no catalog: ask for --chart
	}
	sort.Strings(names)
	return names, true, nil
}

func shortErr(err error) string { return trunc(err.Error()) }

func trunc(s string) string {
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// TagForVersion is the tag Helm pushes a chart version under: SemVer build
// metadata's '+' is not allowed in a tag, so Helm writes '_'.
func TagForVersion(v string) string { return strings.ReplaceAll(v, "+", "_") }

// VersionForTag is the one chart version a tag names, read as Helm reads
// it (its registry client turns a tag's '_' back into '+' before parsing
// the tag as a SemVer version): it reverses TagForVersion. A version that
// holds '_' itself is not SemVer (helm package and helm push refuse it)
// and is named by no tag: "1.0.0_1" names version 1.0.0+1.
func VersionForTag(t string) string { return strings.ReplaceAll(t, "_", "+") }

// TagHoldsVersion reports whether a chart archive of version v may be
// served under tag t: v must be the version t names (VersionForTag). It
// is the one tag rule of verify (internal/client CheckOCIArchive) and of
// audit (internal/revoke), so that both judge a tag alike.
func TagHoldsVersion(t, v string) bool { return VersionForTag(t) == v }

// Latest is the version of the highest tag that is a semantic version and
// not a pre-release (Helm's '_' read as '+'), as helm pull picks without
// --version; "" when none is. Tags are unsigned: the archive fetched must
// still be that version (internal/client checks it).
func Latest(tags []string) string {
	best := ""
	for _, t := range tags {
		v := "v" + strings.TrimPrefix(VersionForTag(t), "v")
		if !semver.IsValid(v) || semver.Prerelease(v) != "" {
			continue
		}
		if best == "" || semver.Compare(v, "v"+strings.TrimPrefix(best, "v")) > 0 {
			best = VersionForTag(t)
		}
	}
	return best
}
