package provenance

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode"

	"sigs.k8s.io/yaml"
)

// Metadata mirrors Helm's chart metadata (helm.sh/helm/v3/pkg/chart.Metadata,
// identical in Helm 4's pkg/chart/v2): the same fields, order and JSON tags,
// so that sigs.k8s.io/yaml renders it byte for byte as Helm does in a .prov
// and in a packaged Chart.yaml. Helm's package is not imported: it pulls in
// most of Helm.
type Metadata struct {
	Name         string            `json:"name,omitempty"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Version      string            `json:"version,omitempty"`
	Description  string            `json:"description,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Maintainers  []*Maintainer     `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	APIVersion   string            `json:"apiVersion,omitempty"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Dependencies []*Dependency     `json:"dependencies,omitempty"`
	Type         string            `json:"type,omitempty"`
}

// Maintainer mirrors Helm's chart.Maintainer.
type Maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

// Dependency mirrors Helm's chart.Dependency.
type Dependency struct {
	Name         string   `json:"name" yaml:"name"`
	Version      string   `json:"version,omitempty" yaml:"version,omitempty"`
	Repository   string   `json:"repository" yaml:"repository"`
	Condition    string   `json:"condition,omitempty" yaml:"condition,omitempty"`
	Tags         []string `json:"tags,omitempty" yaml:"tags,omitempty"`
	Enabled      bool     `json:"enabled,omitempty" yaml:"enabled,omitempty"`
	ImportValues []any    `json:"import-values,omitempty" yaml:"import-values,omitempty"`
	Alias        string   `json:"alias,omitempty" yaml:"alias,omitempty"`
}

// lock mirrors Helm's chart.Lock (Chart.lock, requirements.lock).
type lock struct {
	Generated    time.Time     `json:"generated"`
	Digest       string        `json:"digest"`
	Dependencies []*Dependency `json:"dependencies"`
}

const (
	apiVersionV1 = "v1"
	apiVersionV2 = "v2"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// MaxMetadataSize caps a Chart.yaml (and requirements.yaml) that is parsed.
const MaxMetadataSize = 1 << 20

// loadMetadata reads Chart.yaml (and, when present, the deprecated
// requirements.yaml, which Helm's loader unmarshals into the same struct) as
// Helm's loader does: UTF-8 BOM dropped, apiVersion v1 when unset, then the
// sanitizing and checks of Metadata.Validate that matter here.
func loadMetadata(chartYAML, requirementsYAML []byte) (*Metadata, error) {
	if len(chartYAML) > MaxMetadataSize || len(requirementsYAML) > MaxMetadataSize {
		return nil, fmt.Errorf("Chart.yaml is larger than %d bytes", MaxMetadataSize)
	}
	md := new(Metadata)
	if err := yaml.Unmarshal(bytes.TrimPrefix(chartYAML, utf8BOM), md); err != nil {
		return nil, fmt.Errorf("cannot parse Chart.yaml: %w", err)
	}
	if md.APIVersion == "" {
		md.APIVersion = apiVersionV1
	}
	if requirementsYAML != nil {
		if err := yaml.Unmarshal(bytes.TrimPrefix(requirementsYAML, utf8BOM), md); err != nil {
			return nil, fmt.Errorf("cannot parse requirements.yaml: %w", err)
		}
	}
	if err := md.validate(); err != nil {
		return nil, err
	}
	return md, nil
}

// validate is Helm's Metadata.Validate without the SemVer check (Helm 4
// relaxed it too): strings are sanitized in place exactly as Helm does,
// because the sanitized form is what Helm writes.
func (md *Metadata) validate() error {
	for _, p := range []*string{&md.Name, &md.Description, &md.Home, &md.Icon, &md.Condition, &md.Tags, &md.AppVersion, &md.KubeVersion} {
		*p = sanitizeString(*p)
	}
	for i := range md.Sources {
		md.Sources[i] = sanitizeString(md.Sources[i])
	}
	for i := range md.Keywords {
		md.Keywords[i] = sanitizeString(md.Keywords[i])
	}
	if md.APIVersion == "" {
		return fmt.Errorf("chart metadata: apiVersion is required")
	}
	if md.Name == "" {
		return fmt.Errorf("chart metadata: name is required")
	}
	if md.Name == "." || md.Name == ".." || strings.ContainsAny(md.Name, `/\`) {
		return fmt.Errorf("chart metadata: name %q is not allowed", md.Name)
	}
	if md.Version == "" {
		return fmt.Errorf("chart metadata: version is required")
	}
	if strings.ContainsAny(md.Version, `/\`) || strings.TrimSpace(md.Version) != md.Version {
		return fmt.Errorf("chart metadata: version %q is not allowed", md.Version)
	}
	switch md.Type {
	case "", "application", "library":
	default:
		return fmt.Errorf("chart metadata: type must be application or library")
	}
	for _, m := range md.Maintainers {
		if m == nil {
			return fmt.Errorf("chart metadata: maintainers must not contain empty or null nodes")
		}
		m.Name, m.Email, m.URL = sanitizeString(m.Name), sanitizeString(m.Email), sanitizeString(m.URL)
	}
	seen := map[string]bool{}
	for _, d := range md.Dependencies {
		if d == nil {
			return fmt.Errorf("chart metadata: dependencies must not contain empty or null nodes")
		}
		d.Name, d.Version, d.Repository, d.Condition = sanitizeString(d.Name), sanitizeString(d.Version), sanitizeString(d.Repository), sanitizeString(d.Condition)
		for i := range d.Tags {
			d.Tags[i] = sanitizeString(d.Tags[i])
		}
		key := d.Name
		if d.Alias != "" {
			key = d.Alias
		}
		if seen[key] {
			return fmt.Errorf("chart metadata: more than one dependency with name or alias %q", key)
		}
		seen[key] = true
	}
	return nil
}

func sanitizeString(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
}

// render marshals metadata as Helm does (yaml.Marshal(chart.Metadata)).
func (md *Metadata) render() ([]byte, error) {
	return yaml.Marshal(md)
}

// renderForArchive is the Chart.yaml that `helm package` writes: apiVersion
// v1 charts keep their dependencies in requirements.yaml, not Chart.yaml.
func (md *Metadata) renderForArchive() ([]byte, error) {
	if md.APIVersion != apiVersionV1 {
		return md.render()
	}
	cp := *md
	cp.Dependencies = nil
	return cp.render()
}

// RenderMetadata returns the metadata block that Helm writes at the top of a
// .prov for a chart whose archive holds chartYAML (and, for old apiVersion v1
// charts, requirementsYAML; nil when absent).
func RenderMetadata(chartYAML, requirementsYAML []byte) ([]byte, error) {
	md, err := loadMetadata(chartYAML, requirementsYAML)
	if err != nil {
		return nil, err
	}
	return md.render()
}

func renderLock(data []byte) ([]byte, error) {
	l := new(lock)
	if err := yaml.Unmarshal(bytes.TrimPrefix(data, utf8BOM), l); err != nil {
		return nil, fmt.Errorf("cannot parse lock file: %w", err)
	}
	return yaml.Marshal(l)
}
