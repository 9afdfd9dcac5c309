package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/mod/semver"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/publish"
)

// IndexName is a chart repository's index, at its root.
const IndexName = "index.yaml"

// MaxIndexSize caps index.yaml (the largest public indexes are tens of MiB).
const MaxIndexSize = 64 << 20

// Index is the part of a Helm repository index.yaml that keyctl reads.
type Index struct {
	APIVersion string                     `json:"apiVersion"`
	Entries    map[string][]*ChartVersion `json:"entries"`
}

// ChartVersion is one release in index.yaml.
type ChartVersion struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	URLs    []string `json:"urls"`
	Digest  string   `json:"digest,omitempty"`
}

// ParseIndex parses index.yaml with ParseReleases' strict rules and files
// the releases by chart name.
func ParseIndex(data []byte) (*Index, error) {
	rels, err := ParseReleases(data)
	if err != nil {
		return nil, err
	}
	ix := &Index{APIVersion: "v1", Entries: map[string][]*ChartVersion{}}
	for _, r := range rels {
		ix.Entries[r.Chart] = append(ix.Entries[r.Chart], &ChartVersion{Name: r.Chart, Version: r.Version, URLs: r.URLs, Digest: r.Digest})
	}
	return ix, nil
}

// Find returns the release of chart name with version (exactly, with or
// without a leading "v"), or when version is empty the highest semantic
// version that is not a pre-release, as `helm pull` picks.
func (ix *Index) Find(name, version string) (*ChartVersion, error) {
	vs := ix.Entries[name]
	if len(vs) == 0 {
		return nil, fail.Inputf("chart %q is not in the repository's index.yaml", name)
	}
	if version != "" {
		for _, cv := range vs {
			if cv.Version == version || strings.TrimPrefix(cv.Version, "v") == strings.TrimPrefix(version, "v") {
				return cv, nil
			}
		}
		return nil, fail.Inputf("chart %q has no version %s in the repository's index.yaml", name, version)
	}
	var cands []*ChartVersion
	for _, cv := range vs {
		v := "v" + strings.TrimPrefix(cv.Version, "v")
		if semver.IsValid(v) && semver.Prerelease(v) == "" {
			cands = append(cands, cv)
		}
	}
	if len(cands) == 0 {
		return nil, fail.Inputf("chart %q has no released version in index.yaml", name).WithHint("name one with --version")
	}
	sort.SliceStable(cands, func(i, j int) bool {
		return semver.Compare("v"+strings.TrimPrefix(cands[i].Version, "v"), "v"+strings.TrimPrefix(cands[j].Version, "v")) > 0
	})
	return cands[0], nil
}

// BaseURL turns a repository location into the URL that index.yaml's
// relative chart URLs resolve against: directories become file:// URLs.
func BaseURL(location string) (string, error) {
	if strings.Contains(location, "://") {
		return location, nil
	}
	abs, err := filepath.Abs(location)
	if err != nil {
		return "", fail.Inputf("location %s", location).Wrap(err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), nil
}

// ResolveURL resolves a chart URL from index.yaml against the repository's
// base URL as Helm does (repo.ResolveReferenceURL): absolute URLs stand,
// relative ones are taken relative to the base with a trailing slash.
func ResolveURL(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", fail.Inputf("repository URL is not valid")
	}
	out, err := ResolveReference(b, ref)
	if err != nil {
		return "", fail.Inputf("index.yaml: chart URL is not valid")
	}
	return out.String(), nil
}

// ResolveReference is ResolveURL on a parsed base: the one rule verify and
// audit share. The base's query (a signed-URL token, say) is kept only
// for a URL on the repository's own host: it is the repository's
// credential and never goes to another host (a protocol-relative
// //other-host/x.tgz included).
func ResolveReference(base *url.URL, ref string) (*url.URL, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return nil, err
	}
	if r.IsAbs() {
		return r, nil
	}
	b := *base
	b.Path = strings.TrimSuffix(b.Path, "/") + "/"
	if b.RawPath != "" {
		b.RawPath = strings.TrimSuffix(b.RawPath, "/") + "/"
	}
	out := b.ResolveReference(r)
	if strings.EqualFold(out.Scheme, base.Scheme) && strings.EqualFold(out.Host, base.Host) {
		out.RawQuery = base.RawQuery
	}
	return out, nil
}

// CheckChartURL refuses a resolved chart URL u that leaves the repository
// whose base URL is base (see BaseURL): index.yaml is not signed, so
// whoever serves it must not steer the client to other schemes, hosts,
// buckets or local files.
//
//   - http(s) repositories: http or https on the same host and port (an
//     https repository only https). Helm also follows chart URLs on other
//     hosts (CDNs); keyctl does not, because the index is unauthenticated
//     and such URLs make the client fetch arbitrary addresses (cloud
//     metadata services, intranet hosts). Mirror the archives on the
//     repository's host, or verify the downloaded file with --repo.
//   - gs:// and s3:// repositories: the same scheme and bucket.
//   - directories and file:// repositories: file URLs whose cleaned path
//     stays inside the repository's root folder (checked lexically).
//
// Userinfo in u is refused unless it is the repository's own.
func CheckChartURL(base, u string) error {
	b, err := url.Parse(base)
	if err != nil {
		return errors.New("the repository URL is not valid")
	}
	c, err := url.Parse(u)
	if err != nil {
		return errors.New("it is not a valid URL")
	}
	bs, cs := strings.ToLower(b.Scheme), strings.ToLower(c.Scheme)
	if c.User != nil && (b.User == nil || c.User.String() != b.User.String()) {
		return errors.New("it carries credentials of its own")
	}
	switch bs {
	case "http", "https":
		if cs != "https" && (cs != "http" || bs == "https") {
			return fmt.Errorf("scheme %q is not allowed for a %s repository", c.Scheme, bs)
		}
		if !strings.EqualFold(c.Host, b.Host) {
			return fmt.Errorf("host %q is not the repository's host %q", c.Host, b.Host)
		}
	case "gs", "s3", "mem":
		if cs != bs {
			return fmt.Errorf("scheme %q is not allowed for a %s repository", c.Scheme, bs)
		}
		if c.Host != b.Host {
			return fmt.Errorf("bucket %q is not the repository's bucket %q", c.Host, b.Host)
		}
	case "file":
		if cs != "file" {
			return fmt.Errorf("scheme %q is not allowed for a local repository", c.Scheme)
		}
		if c.Host != "" && c.Host != "localhost" {
			return errors.New("file URLs with a host are not allowed")
		}
		rootDir := path.Clean("/" + b.Path)
		p := path.Clean("/" + c.Path)
		if rootDir != "/" && !strings.HasPrefix(p, rootDir+"/") {
			return fmt.Errorf("it is outside the repository folder %s", rootDir)
		}
	default:
		return fmt.Errorf("repository scheme %q serves no chart URLs", b.Scheme)
	}
	return nil
}

// RedactURL returns u for output: a password is replaced by url.Redacted's
// "xxxxx", and so is a user name given alone (often a token). A string
// that does not parse as a URL with userinfo is returned unchanged.
func RedactURL(u string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.User == nil {
		if err != nil && strings.Contains(u, "@") && strings.Contains(u, "://") {
			return "(URL not shown: it does not parse and may hold credentials)"
		}
		return u
	}
	if _, ok := pu.User.Password(); !ok {
		pu.User = url.User("xxxxx")
		return pu.String()
	}
	return pu.Redacted()
}

// CheckArchive refuses an archive whose Chart.yaml is not the release d
// stands for: the index is not signed, so a release entry may point at
// another chart's archive, or another version's, signed by the same
// maintainer. name and version are what the user asked for (version may be
// empty: the release index.yaml picked).
func (d *Download) CheckArchive(name, version string, ar *provenance.Archive) error {
	want := d.Release
	trim := func(v string) string { return strings.TrimPrefix(v, "v") }
	switch {
	case ar.Name != name || want.Name != name:
		return fail.Untrustedf("%s: index.yaml lists it as chart %s, but its Chart.yaml names chart %q (a substituted archive)", d.Name, want, ar.Name).
			WithHint("the repository's index.yaml points at another chart: do not use it; report it to the repository's owner")
	case ar.Version != want.Version || (version != "" && trim(ar.Version) != trim(version)):
		return fail.Untrustedf("%s: index.yaml lists it as %s, but its Chart.yaml says version %q (a substituted archive)", d.Name, want, ar.Version).
			WithHint("the repository's index.yaml points at another release: do not use it; report it to the repository's owner")
	}
	return nil
}

// Download is a chart archive and its .prov fetched through index.yaml.
type Download struct {
	URL      string // the archive's resolved URL, redacted (RedactURL) for output
	Name     string // the archive's file name
	Archive  []byte
	Prov     []byte // nil when the repository has no .prov for it
	Release  *ChartVersion
	Location string
	// Signed is the verified keyctl-index.json the release was found
	// through (FetchRelease; nil: index.yaml was not signed).
	Signed *indexsig.Statement
	// DigestChecked: the signed index.yaml gives the release a digest and
	// the archive has it. Its issue time is not trusted time for the
	// signature: the statement binds the archive, not the .prov, so a
	// removed key's holder could sign a listed archive later and backdate
	// the signature.
	DigestChecked bool
}

// FetchChart reads index.yaml at the repository location b (whose base
// URL is base, see BaseURL), finds chart name at version, and downloads
// the archive and ARCHIVE.prov as `helm pull --verify` would. Sizes are
// capped at provenance's archive and .prov limits.
//
// A directory (or file://) repository is read as audit reads it: through
// an os.Root opened at the repository folder, so that no symbolic link
// leads out of it, and regular files only (a FIFO would block).
func FetchChart(ctx context.Context, b *publish.Bucket, base, name, version string) (*Download, error) {
	if dir, ok := localDir(base); ok {
		return fetchLocal(dir, base, name, version)
	}
	data, err := b.Get(ctx, IndexName, MaxIndexSize)
	if err != nil {
		return nil, err
	}
	cv, u, err := findInRepository(data, base, name, version)
	if err != nil {
		return nil, err
	}
	dir, file, err := splitURL(u)
	if err != nil {
		return nil, err
	}
	cb, err := publish.Open(ctx, dir, nil)
	if err != nil {
		return nil, err
	}
	defer cb.Close()
	d := &Download{URL: RedactURL(u), Name: file, Release: cv, Location: RedactURL(cb.Location())}
	if d.Archive, err = cb.Get(ctx, file, provenance.DefaultLimits.MaxArchive); err != nil {
		return nil, err
	}
	prov, err := cb.Get(ctx, file+".prov", provenance.MaxProvSize)
	if err != nil && !isNotFound(err) {
		return nil, err
	}
	d.Prov = prov
	return d, nil
}

// findInRepository finds chart name at version in index.yaml's bytes and
// resolves its first URL against base, refusing a URL that leaves the
// repository (an unsigned index may not send the client elsewhere).
func findInRepository(index []byte, base, name, version string) (*ChartVersion, string, error) {
	ix, err := ParseIndex(index)
	if err != nil {
		return nil, "", err
	}
	cv, err := ix.Find(name, version)
	if err != nil {
		return nil, "", err
	}
	u, err := ResolveURL(base, cv.URLs[0])
	if err != nil {
		return nil, "", fail.Inputf("index.yaml: chart %s", cv).Wrap(err)
	}
	if err := CheckChartURL(base, u); err != nil {
		return nil, "", hintIndexKeys(fail.Inputf("index.yaml: chart %s: URL %s is refused: %v", cv, RedactURL(u), err).
			WithHint("a chart URL must stay in the repository: same scheme and host or bucket, or inside the repository folder"))
	}
	return cv, u, nil
}

// localDir is the folder of a file:// base URL.
func localDir(base string) (string, bool) {
	u, err := url.Parse(base)
	if err != nil || !strings.EqualFold(u.Scheme, "file") || (u.Host != "" && u.Host != "localhost") {
		return "", false
	}
	return filepath.FromSlash(path.Clean("/" + u.Path)), true
}

// fetchLocal is FetchChart for a repository folder.
func fetchLocal(dir, base, name, version string) (*Download, error) {
	rt, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fail.Inputf("repository %s is not a readable folder", dir).Wrap(err).
			WithHint("give the folder that holds index.yaml")
	}
	defer rt.Close()
	data, err := readRegular(rt, dir, IndexName, MaxIndexSize)
	if err != nil {
		return nil, err
	}
	cv, u, err := findInRepository(data, base, name, version)
	if err != nil {
		return nil, err
	}
	return fetchLocalRelease(rt, dir, u, cv)
}

// fetchLocalRelease reads release cv, at URL u inside the repository
// folder dir (opened as rt), and its .prov.
func fetchLocalRelease(rt *os.Root, dir, u string, cv *ChartVersion) (*Download, error) {
	pu, err := url.Parse(u)
	if err != nil || pu.RawQuery != "" || pu.Fragment != "" {
		return nil, fail.Inputf("chart URL %s has a query or fragment, which keyctl does not follow", RedactURL(u))
	}
	root := path.Clean("/" + filepath.ToSlash(dir))
	rel := strings.TrimPrefix(strings.TrimPrefix(path.Clean("/"+pu.Path), root), "/")
	d := &Download{URL: RedactURL(u), Name: path.Base(rel), Release: cv, Location: path.Dir(path.Join(root, rel))}
	if d.Archive, err = readRegular(rt, dir, rel, provenance.DefaultLimits.MaxArchive); err != nil {
		return nil, err
	}
	prov, err := readRegular(rt, dir, rel+".prov", provenance.MaxProvSize)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	d.Prov = prov
	return d, nil
}

// readRegular reads rel, a regular file of at most limit bytes, through rt:
// a symbolic link may not lead out of the folder, and anything but a
// regular file is refused without blocking on it (O_NONBLOCK: a FIFO).
func readRegular(rt *os.Root, dir, rel string, limit int64) ([]byte, error) {
	where := filepath.Join(dir, filepath.FromSlash(rel))
	f, err := rt.OpenFile(filepath.FromSlash(rel), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fail.Inputf("no file %s", where).Wrap(&publish.NotFoundError{Name: rel, Location: dir})
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fail.Inputf("cannot read %s: %v", where, err).
			WithHint("a repository folder's files must stay inside it: no symbolic link may lead out")
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fail.Inputf("cannot read %s", where).Wrap(err)
	}
	if !st.Mode().IsRegular() {
		return nil, fail.Inputf("%s is not a regular file", where).WithHint("a chart repository holds regular files only")
	}
	if st.Size() > limit {
		return nil, fail.Inputf("%s is larger than %d bytes", where, limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fail.Inputf("cannot read %s", where).Wrap(err)
	}
	if int64(len(data)) > limit {
		return nil, fail.Inputf("%s is larger than %d bytes", where, limit)
	}
	return data, nil
}

// splitURL splits a chart URL into the location of its folder and its
// file name.
func splitURL(u string) (dir, file string, err error) {
	pu, err := url.Parse(u)
	if err != nil {
		return "", "", fail.Inputf("chart URL is not valid")
	}
	if pu.RawQuery != "" || pu.Fragment != "" {
		return "", "", fail.Inputf("chart URL %s has a query or fragment, which keyctl does not follow", RedactURL(u))
	}
	i := strings.LastIndex(pu.Path, "/")
	if i < 0 || i == len(pu.Path)-1 {
		return "", "", fail.Inputf("chart URL %s names no file", RedactURL(u))
	}
	file = pu.Path[i+1:]
	pu.Path = pu.Path[:i]
	pu.RawPath = ""
	if pu.Scheme == "file" && pu.Path == "" {
		pu.Path = "/"
	}
	return pu.String(), file, nil
}

func isNotFound(err error) bool {
	var nf *publish.NotFoundError
	return errors.As(err, &nf)
}

// String describes a release for messages.
func (cv *ChartVersion) String() string { return fmt.Sprintf("%s %s", cv.Name, cv.Version) }
