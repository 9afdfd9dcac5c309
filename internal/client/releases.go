package client

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/indexsig"
)

// Limits of a repository index (MaxIndexSize is in index.go).
const (
	// MaxReleases caps the chart versions of one index.
	MaxReleases = 200000
	// maxURLLen caps one chart URL.
	maxURLLen = 4096
)

// Release is one chart version listed by a repository index.
type Release struct {
	Chart   string
	Version string
	// URLs as the index lists them (relative or absolute); the first is used.
	URLs []string
	// Digest is the index's sha256 of the archive (hex), when listed.
	Digest string
}

type indexFile struct {
	APIVersion string                       `json:"apiVersion"`
	Entries    map[string][]json.RawMessage `json:"entries"`
}

type indexEntry struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	URLs    []string `json:"urls"`
	Digest  string   `json:"digest"`
}

// ParseReleases reads a Helm repository index (index.yaml) strictly, for
// verify's chart references and for audit alike: at most MaxIndexSize bytes, YAML without duplicate keys,
// apiVersion v1, every entry with the name it is listed under, a version and
// at least one URL, at most MaxReleases versions. Fields an audit does not
// need are ignored. Releases come sorted by chart, then version as listed.
func ParseReleases(data []byte) ([]Release, error) {
	bad := func(format string, args ...any) error {
		return fail.Inputf("index.yaml: "+format, args...).
			WithHint("the repository's index.yaml is what `helm repo index` writes")
	}
	if len(data) > MaxIndexSize {
		return nil, bad("larger than %d bytes", MaxIndexSize)
	}
	js, err := yamlToJSON(data)
	if err != nil {
		return nil, bad("not valid YAML: %s", trunc(strings.Join(strings.Fields(err.Error()), " ")))
	}
	var idx indexFile
	if err := json.Unmarshal(js, &idx); err != nil {
		return nil, bad("not an index: %v", shortJSONError(err))
	}
	if idx.APIVersion != "v1" {
		return nil, bad("apiVersion %q is not v1", trunc(idx.APIVersion))
	}
	if idx.Entries == nil {
		return nil, bad("no entries")
	}
	var out []Release
	names := make([]string, 0, len(idx.Entries))
	for n := range idx.Entries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if !validChartName(name) {
			return nil, bad("chart name %q is not valid", trunc(name))
		}
		seen := map[string]bool{}
		for i, raw := range idx.Entries[name] {
			var e indexEntry
			if err := json.Unmarshal(raw, &e); err != nil {
				return nil, bad("entry %d of %s: %v", i, name, shortJSONError(err))
			}
			if e.Name != name {
				return nil, bad("entry %d of %s names chart %q", i, name, trunc(e.Name))
			}
			if !indexsig.ValidVersion(e.Version) {
				return nil, bad("entry %d of %s has no valid version", i, name)
			}
			if seen[e.Version] {
				return nil, bad("%s %s is listed twice", name, trunc(e.Version))
			}
			seen[e.Version] = true
			if len(e.URLs) == 0 {
				return nil, bad("%s %s has no urls", name, trunc(e.Version))
			}
			for _, u := range e.URLs {
				if u == "" || len(u) > maxURLLen {
					return nil, bad("%s %s has an empty or overlong url", name, trunc(e.Version))
				}
			}
			out = append(out, Release{Chart: name, Version: e.Version, URLs: e.URLs, Digest: e.Digest})
			if len(out) > MaxReleases {
				return nil, bad("more than %d chart versions", MaxReleases)
			}
		}
	}
	return out, nil
}

// yamlToJSON converts with duplicate keys refused; the YAML library panics on
// some inputs, which becomes an error here.
func yamlToJSON(data []byte) (js []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			js, err = nil, fmt.Errorf("unreadable YAML")
		}
	}()
	return yaml.YAMLToJSONStrict(data)
}

func shortJSONError(err error) string {
	return trunc(err.Error())
}

func trunc(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// validChartName accepts what Helm accepts as a chart name, and nothing
// that could act as a path (the rule the signed index's releases follow).
func validChartName(s string) bool { return indexsig.ValidChartName(s) }
