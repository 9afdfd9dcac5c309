package oci

import (
	"net/url"
	"strings"

	"github.com/keyctl/keyctl/internal/fail"
)

// Scheme is the prefix of every location this package serves.
const Scheme = "oci://"

// SetRepository is the last path element of the OCI repository that holds
// a namespace's published set: oci://HOST/PATH's set is HOST/PATH/keyctl.
const SetRepository = "keyctl"

// IsLocation reports whether s is an oci:// location.
func IsLocation(s string) bool { return strings.HasPrefix(strings.ToLower(s), Scheme) }

// Ref is a parsed oci://HOST/PATH/NAME[:TAG|@sha256:HEX].
type Ref struct {
	Host       string // registry host[:port]
	Repository string // PATH/NAME, without the host
	Tag        string // "" when Digest is set or none was given
	Digest     string // sha256:HEX, or ""
}

// Name is the repository's last path element: the chart name Helm pushed
// the chart under.
func (r Ref) Name() string { return r.Repository[strings.LastIndex(r.Repository, "/")+1:] }

// Namespace is oci://HOST/PATH, the repository's parent: where a chart's
// published set lives by default.
func (r Ref) Namespace() string {
	i := strings.LastIndex(r.Repository, "/")
	if i < 0 {
		return Scheme + r.Host
	}
	return Scheme + r.Host + "/" + r.Repository[:i]
}

// Reference is the tag or digest, as the registry API takes it.
func (r Ref) Reference() string {
	if r.Digest != "" {
		return r.Digest
	}
	return r.Tag
}

// String is the reference as the user writes it.
func (r Ref) String() string {
	s := Scheme + r.Host + "/" + r.Repository
	switch {
	case r.Digest != "":
		s += "@" + r.Digest
	case r.Tag != "":
		s += ":" + r.Tag
	}
	return s
}

// ParseRef parses a chart reference oci://HOST/PATH/NAME:TAG or
// oci://HOST/PATH/NAME@sha256:HEX. With tagOptional, a reference with
// neither is accepted (audit, --version).
func ParseRef(s string, tagOptional bool) (Ref, error) {
	bad := func(why string) (Ref, error) {
		return Ref{}, fail.Inputf("%s is not an OCI chart reference: %s", s, why).
			WithHint("write oci://HOST/PATH/NAME:VERSION or oci://HOST/PATH/NAME@sha256:HEX")
	}
	if !IsLocation(s) {
		return bad("it does not start with oci://")
	}
	rest := s[len(Scheme):]
	if strings.ContainsAny(rest, "?#\\ \t\r\n") || strings.Contains(rest, "//") {
		return bad("it holds a character a reference cannot hold")
	}
	var r Ref
	if i := strings.Index(rest, "@"); i >= 0 {
		r.Digest = rest[i+1:]
		rest = rest[:i]
		if !ValidDigest(r.Digest) {
			return bad("the digest is not sha256:HEX (64 lower-case hex digits)")
		}
	}
	slash := strings.Index(rest, "/")
	if slash <= 0 {
		return bad("it names no repository after the host")
	}
	r.Host, rest = rest[:slash], rest[slash+1:]
	if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i:], "/") {
		if r.Digest != "" {
			return bad("give a tag or a digest, not both")
		}
		r.Tag, rest = rest[i+1:], rest[:i]
	}
	r.Repository = rest
	if !validHost(r.Host) {
		return bad("the host is not a registry host[:port]")
	}
	if !validRepository(r.Repository) {
		return bad("the repository path is not a valid OCI repository name (lower case, digits, . _ - and /)")
	}
	if r.Tag != "" {
		if !validTag(r.Tag) {
			return bad("the tag is not a valid OCI tag")
		}
	}
	if !tagOptional && r.Reference() == "" {
		return bad("it names no version (:VERSION) or digest (@sha256:HEX)")
	}
	return r, nil
}

// ParseNamespace parses oci://HOST/PATH (a namespace: the repository root
// of the charts under it; PATH may be empty).
func ParseNamespace(s string) (host, path string, err error) {
	bad := func(why string) (string, string, error) {
		return "", "", fail.Inputf("%s is not an OCI namespace: %s", s, why).
			WithHint("write oci://HOST/PATH, the prefix the charts were pushed under (helm push CHART.tgz oci://HOST/PATH)")
	}
	if !IsLocation(s) {
		return bad("it does not start with oci://")
	}
	rest := strings.TrimSuffix(s[len(Scheme):], "/")
	host, path, _ = strings.Cut(rest, "/")
	if host == "" || strings.ContainsAny(host, "@?#\\ \t\r\n") || strings.Count(host, ":") > 1 {
		return bad("the host is not a registry host[:port]")
	}
	if !validHost(host) {
		return bad("the host is not a registry host[:port]")
	}
	if path != "" {
		if strings.ContainsAny(path, "@:?#\\ \t\r\n") {
			return bad("it holds a tag, a digest or a character a namespace cannot hold")
		}
		if !validRepository(path + "/" + SetRepository) {
			return bad("the path is not a valid OCI repository prefix (lower case, digits, . _ - and /)")
		}
	}
	return host, path, nil
}

// join builds a repository name under a namespace path.
func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "/" + name
}

// The checks below are the distribution reference grammar
// (github.com/distribution/reference), written out by hand: a
// package-level regular expression would be compiled at every keyctl
// start-up.

// validHost reports whether h is a registry host[:port] as it appears in a
// URL's authority, with no user information, path or query: a DNS name,
// an IPv4 address or a bracketed IPv6 address, and an optional port.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	u, err := url.ParseRequestURI("dummy://" + h)
	return err == nil && u.Host == h && u.User == nil
}

// validRepository reports whether name is path-component ("/"
// path-component)*, each component lower-case alphanumerics joined by
// one '.', one or two '_', or any number of '-'.
func validRepository(name string) bool {
	if name == "" || len(name) > 255 {
		return false
	}
	for _, comp := range strings.Split(name, "/") {
		if !validComponent(comp) {
			return false
		}
	}
	return true
}

func validComponent(c string) bool {
	isAlnum := func(b byte) bool { return 'a' <= b && b <= 'z' || '0' <= b && b <= '9' }
	if c == "" || !isAlnum(c[0]) || !isAlnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); {
		if isAlnum(c[i]) {
			i++
			continue
		}
		// A separator run, then an alphanumeric (the last byte is one).
		j := i
		for j < len(c) && !isAlnum(c[j]) {
			j++
		}
		switch sep := c[i:j]; {
		case sep == ".", sep == "_", sep == "__":
		case strings.Trim(sep, "-") == "":
		default:
			return false
		}
		i = j
	}
	return true
}

// validTag reports whether t is a tag: a word character, then at most 127
// word characters, '.' or '-'.
func validTag(t string) bool {
	if t == "" || len(t) > 128 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		word := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
		if !word && (i == 0 || (c != '.' && c != '-')) {
			return false
		}
	}
	return true
}
