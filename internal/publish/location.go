package publish

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/keyctl/keyctl/internal/fail"
)

type kind int

const (
	kindDir  kind = iota // file:// URL or plain directory path
	kindMem              // mem://, process-local
	kindGCS              // gs://bucket/prefix
	kindS3               // s3://bucket/prefix?region=...
	kindHTTP             // http(s)://host/path, read-only
)

// location is a parsed location string.
type location struct {
	kind    kind
	display string // what messages show: absolute directory, or the URL without userinfo
	dir     string // kindDir: absolute directory
	url     string // bucket URL for blob.OpenBucket without the prefix, or the HTTP base without a trailing slash
	prefix  string // "" or a cleaned prefix ending in "/"
}

const acceptedHint = "accepted locations: a directory path, file:///abs/dir, gs://bucket/prefix, s3://bucket/prefix?region=REGION, mem:// (tests), and http(s)://host/path for reading"

func badLocation(s, why string) error {
	return fail.Inputf("location %q: %s", s, why).WithHint(acceptedHint)
}

// parseLocation parses the location strings Open accepts.
func parseLocation(s string) (location, error) {
	if strings.TrimSpace(s) == "" {
		return location{}, badLocation(s, "empty")
	}
	if !strings.Contains(s, "://") {
		abs, err := filepath.Abs(s)
		if err != nil {
			return location{}, badLocation(s, err.Error())
		}
		return location{kind: kindDir, display: abs, dir: abs}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		// url.Parse errors quote the input, which is the location itself.
		return location{}, badLocation(s, "not a valid URL")
	}
	if u.Fragment != "" {
		return location{}, badLocation(s, "a fragment (#...) means nothing here")
	}
	switch strings.ToLower(u.Scheme) {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return location{}, badLocation(s, "file URLs name a local directory: use file:///abs/dir (three slashes)")
		}
		if u.RawQuery != "" {
			return location{}, badLocation(s, "file URLs take no query parameters")
		}
		if u.Path == "" || !strings.HasPrefix(u.Path, "/") {
			return location{}, badLocation(s, "file URLs need an absolute path")
		}
		dir := filepath.Clean(filepath.FromSlash(u.Path))
		return location{kind: kindDir, display: dir, dir: dir}, nil
	case "gs", "s3":
		k := kindGCS
		if strings.ToLower(u.Scheme) == "s3" {
			k = kindS3
		}
		if u.Host == "" {
			return location{}, badLocation(s, "no bucket name")
		}
		if u.User != nil {
			return location{}, badLocation(s, "credentials do not belong in the URL; use the provider's usual environment or files")
		}
		q := u.Query()
		if q.Has("prefix") {
			return location{}, badLocation(s, "put the prefix in the path (gs://bucket/prefix), not in ?prefix=")
		}
		prefix, err := cleanPrefix(u.Path)
		if err != nil {
			return location{}, badLocation(s, err.Error())
		}
		bu := url.URL{Scheme: strings.ToLower(u.Scheme), Host: u.Host, RawQuery: u.RawQuery}
		disp := bu.Scheme + "://" + u.Host
		if prefix != "" {
			disp += "/" + strings.TrimSuffix(prefix, "/")
		}
		if u.RawQuery != "" {
			disp += "?" + u.RawQuery
		}
		return location{kind: k, display: disp, url: bu.String(), prefix: prefix}, nil
	case "mem":
		if u.RawQuery != "" {
			return location{}, badLocation(s, "mem URLs take no query parameters")
		}
		prefix, err := cleanPrefix(u.Host + "/" + u.Path)
		if err != nil {
			return location{}, badLocation(s, err.Error())
		}
		disp := "mem://" + strings.TrimSuffix(prefix, "/")
		return location{kind: kindMem, display: disp, url: "mem://", prefix: prefix}, nil
	case "http", "https":
		if u.Host == "" {
			return location{}, badLocation(s, "no host")
		}
		if u.RawQuery != "" {
			return location{}, badLocation(s, "an HTTP repository location is a base URL; object names are appended to its path, so it takes no query")
		}
		if _, err := cleanPrefix(u.Path); err != nil {
			return location{}, badLocation(s, err.Error())
		}
		base := *u
		base.Scheme = strings.ToLower(u.Scheme)
		base.Path = strings.TrimSuffix(u.Path, "/")
		base.RawPath = ""
		display := base.Redacted()
		if _, hasPass := base.User.Password(); base.User != nil && !hasPass {
			// Redacted hides a password but shows a lone user name,
			// which is often a token (https://TOKEN@host/charts).
			shown := base
			shown.User = url.User("xxxxx")
			display = shown.String()
		}
		return location{kind: kindHTTP, display: display, url: base.String()}, nil
	}
	return location{}, badLocation(s, fmt.Sprintf("unknown scheme %q", u.Scheme))
}

// cleanPrefix turns a URL path into a bucket prefix: no leading slash, a
// trailing slash when not empty, no "." or ".." segments.
func cleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return "", fmt.Errorf("prefix %q has a %q segment", p, seg)
		}
	}
	p = path.Clean(p)
	return p + "/", nil
}

// checkName refuses object names that could escape the location or mean
// different things to different backends.
func checkName(name string) error {
	bad := func(why string) error {
		return fail.Inputf("object name %q: %s", name, why)
	}
	switch {
	case name == "":
		return fail.Inputf("empty object name")
	case len(name) > 1024:
		return fail.Inputf("object name longer than 1024 bytes")
	case strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/"):
		return bad("starts or ends with a slash")
	case strings.ContainsAny(name, "\\?#"):
		return bad(`contains \, ? or #`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fail.Inputf("object name has a control character")
		}
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return bad("has an empty, . or .. segment")
		}
	}
	return nil
}

// CheckName checks an object name as Get and Publish do: for Remote
// implementations that read names from untrusted listings.
func CheckName(name string) error { return checkName(name) }
