package revoke

import (
	"fmt"
	"net/url"
	"path"
	"strings"

	"github.com/keyctl/keyctl/internal/client"
)

// Release is one chart version listed by a repository index.
type Release = client.Release

// MaxIndexSize caps index.yaml.
const MaxIndexSize = client.MaxIndexSize

// ParseIndex reads a repository's index.yaml with the one strict parser
// that verify uses too (client.ParseReleases).
func ParseIndex(data []byte) ([]Release, error) { return client.ParseReleases(data) }

func trunc(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 120 {
		return s[:120] + "..."
	}
	return s
}

// ResolveURL resolves a chart URL of the index against the index's base URL
// as Helm does: client.ResolveReference, the rule verify uses too.
func ResolveURL(base *url.URL, ref string) (*url.URL, error) {
	u, err := client.ResolveReference(base, ref)
	if err != nil {
		return nil, fmt.Errorf("chart url %q is not a valid URL", trunc(ref))
	}
	return u, nil
}

// archiveName is the file name Helm stores a chart archive under: the base
// name of the URL's path.
func archiveName(u *url.URL) string {
	return path.Base(u.Path)
}
