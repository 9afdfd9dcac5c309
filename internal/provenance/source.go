package provenance

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// CompareOptions are the `helm package` flags that change what it writes.
type CompareOptions struct {
	Version    string // --version: replaces the chart version
	AppVersion string // --app-version: replaces the app version
	Limits     Limits // caps on the source tree (MaxFileSize, MaxFiles, MaxUncompressed)
}

// SourceFile is one file of a packaged chart: its path relative to the chart
// directory inside the archive, and its content.
type SourceFile struct {
	Path string
	Data []byte
}

// Source is what `helm package DIR` would put in the archive, in the order
// Helm writes it (Chart.yaml, Chart.lock, values.yaml, values.schema.json,
// templates, other files, then subcharts under charts/NAME/).
type Source struct {
	Name, Version string
	Files         []SourceFile
}

// DiffKind says how a file differs between the chart source and the archive.
type DiffKind string

const (
	Missing DiffKind = "missing" // helm package would include it; the archive lacks it
	Extra   DiffKind = "extra"   // in the archive; not from the source
	Changed DiffKind = "changed" // in both, with different content
)

// Difference is one file that differs.
type Difference struct {
	Path   string // relative to the chart directory ("" for the archive's layout)
	Kind   DiffKind
	Detail string
}

func (d Difference) String() string {
	s := string(d.Kind) + ": " + d.Path
	if d.Detail != "" {
		s += " (" + d.Detail + ")"
	}
	return s
}

// maxSubchartDepth bounds nesting of charts/ (and symlink loops).
const maxSubchartDepth = 16

type bufFile struct {
	name string
	data []byte
}

// LoadSource reads chart directory dir as `helm package` (Helm 3.22 and 4.3)
// does: .helmignore of the top directory plus Helm's default rule,
// symbolic links followed, UTF-8 BOMs dropped, Chart.yaml and the lock file
// re-rendered from their parsed form, requirements.* handled by apiVersion,
// subchart directories and archives under charts/ expanded to
// charts/NAME/ (names starting with "_" or "." skipped), and the
// --version/--app-version overrides applied.
func LoadSource(dir string, opts CompareOptions) (*Source, error) {
	lim := opts.Limits.WithDefaults()
	files, err := readSourceDir(dir, lim)
	if err != nil {
		return nil, input(err)
	}
	c, err := buildChart(files, lim, 0)
	if err != nil {
		return nil, input(fmt.Errorf("chart source %s: %w", dir, err))
	}
	if opts.Version != "" {
		c.md.Version = opts.Version
	}
	if opts.AppVersion != "" {
		c.md.AppVersion = opts.AppVersion
	}
	src := &Source{Name: c.md.Name, Version: c.md.Version}
	seen := map[string]bool{}
	if err := c.render("", func(p string, data []byte) error {
		if seen[p] {
			return fmt.Errorf("helm package would write %s twice (two subcharts with one name?)", p)
		}
		seen[p] = true
		src.Files = append(src.Files, SourceFile{Path: p, Data: data})
		return nil
	}); err != nil {
		return nil, input(fmt.Errorf("chart source %s: %w", dir, err))
	}
	return src, nil
}

// CompareSource checks that archive a holds exactly what `helm package dir`
// (with opts) would write: it returns the files missing from the archive,
// the extra ones and the changed ones, sorted by path; none means a match.
// Chart.yaml is compared by its parsed metadata, as Helm re-renders it.
func CompareSource(a *Archive, dir string, opts CompareOptions) ([]Difference, error) {
	src, err := LoadSource(dir, opts)
	if err != nil {
		return nil, err
	}
	var diffs []Difference
	if a.Dir != src.Name {
		diffs = append(diffs, Difference{Path: a.Dir + "/", Kind: Changed, Detail: fmt.Sprintf("the archive's top directory is %q; helm package writes the chart name %q", a.Dir, src.Name)})
	}
	want := map[string]bool{}
	for _, f := range src.Files {
		want[f.Path] = true
		got, ok := a.Files[f.Path]
		if !ok {
			diffs = append(diffs, Difference{Path: f.Path, Kind: Missing})
			continue
		}
		if got == sha256.Sum256(f.Data) {
			continue
		}
		d := Difference{Path: f.Path, Kind: Changed}
		if f.Path == "Chart.yaml" {
			same, detail := sameChartYAML(a, f.Data)
			if same {
				continue
			}
			d.Detail = detail
		}
		diffs = append(diffs, d)
	}
	for p := range a.Files {
		if !want[p] {
			diffs = append(diffs, Difference{Path: p, Kind: Extra})
		}
	}
	sort.Slice(diffs, func(i, j int) bool { return diffs[i].Path < diffs[j].Path })
	return diffs, nil
}

// sameChartYAML compares the archive's Chart.yaml with the rendered source one
// by meaning, and says which of name, version, appVersion differ.
func sameChartYAML(a *Archive, rendered []byte) (bool, string) {
	am, err := loadMetadata(a.ChartYAML, nil)
	if err != nil {
		return false, err.Error()
	}
	ar, err := am.renderForArchive()
	if err != nil {
		return false, err.Error()
	}
	if bytes.Equal(ar, rendered) {
		return true, ""
	}
	sm, err := loadMetadata(rendered, nil)
	if err != nil {
		return false, err.Error()
	}
	var parts []string
	if am.Name != sm.Name {
		parts = append(parts, fmt.Sprintf("name %q, source %q", am.Name, sm.Name))
	}
	if am.Version != sm.Version {
		parts = append(parts, fmt.Sprintf("version %q, source %q (helm package --version changes it)", am.Version, sm.Version))
	}
	if am.AppVersion != sm.AppVersion {
		parts = append(parts, fmt.Sprintf("appVersion %q, source %q (helm package --app-version changes it)", am.AppVersion, sm.AppVersion))
	}
	if len(parts) == 0 {
		parts = append(parts, "other metadata fields differ")
	}
	return false, strings.Join(parts, "; ")
}

// readSourceDir walks dir as Helm's sympath.Walk does (sorted, symlinks
// followed) under the top-level .helmignore.
func readSourceDir(dir string, lim Limits) ([]bufFile, error) {
	top, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(top)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	rules := &helmIgnore{}
	if f, err := os.Open(filepath.Join(top, ".helmignore")); err == nil {
		rules, err = parseHelmIgnore(io.LimitReader(f, MaxMetadataSize))
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	rules.addDefaults()
	var files []bufFile
	var total int64
	entries := 0
	var walk func(abs, rel string, fi os.FileInfo, depth int) error
	walk = func(abs, rel string, fi os.FileInfo, depth int) error {
		entries++
		if entries > lim.MaxFiles {
			return fmt.Errorf("chart source has more than %d entries", lim.MaxFiles)
		}
		if depth > 64 {
			return fmt.Errorf("%s: directories nested too deep (symbolic link loop?)", rel)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			resolved, err := filepath.EvalSymlinks(abs)
			if err != nil {
				return fmt.Errorf("error evaluating symlink %s: %w", rel, err)
			}
			if fi, err = os.Lstat(resolved); err != nil {
				return err
			}
		}
		if fi.IsDir() {
			if rel != "" && rules.ignore(rel, true) {
				return nil
			}
			names, err := readDirNames(abs)
			if err != nil {
				return err
			}
			for _, n := range names {
				child := filepath.Join(abs, n)
				cfi, err := os.Lstat(child)
				if err != nil {
					return err
				}
				crel := n
				if rel != "" {
					crel = rel + "/" + n
				}
				if err := walk(child, crel, cfi, depth+1); err != nil {
					return err
				}
			}
			return nil
		}
		if rules.ignore(rel, false) {
			return nil
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("cannot load irregular file %s", rel)
		}
		if fi.Size() > lim.MaxFileSize {
			return fmt.Errorf("chart file %s is larger than %d bytes", rel, lim.MaxFileSize)
		}
		f, err := os.Open(abs)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(io.LimitReader(f, lim.MaxFileSize+1))
		f.Close()
		if err != nil {
			return err
		}
		if int64(len(data)) > lim.MaxFileSize {
			return fmt.Errorf("chart file %s is larger than %d bytes", rel, lim.MaxFileSize)
		}
		total += int64(len(data))
		if total > lim.MaxUncompressed {
			return fmt.Errorf("chart source is larger than %d bytes", lim.MaxUncompressed)
		}
		files = append(files, bufFile{name: rel, data: bytes.TrimPrefix(data, utf8BOM)})
		return nil
	}
	if err := walk(top, "", st, 0); err != nil {
		return nil, err
	}
	return files, nil
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// srcChart is a chart as Helm's loader classifies its files.
type srcChart struct {
	md        *Metadata
	lock      []byte // raw Chart.lock or requirements.lock (the last one read)
	values    []byte
	hasValues bool
	schema    []byte
	templates []bufFile
	files     []bufFile
	deps      []*srcChart
}

// buildChart mirrors Helm's loader.LoadFiles.
func buildChart(files []bufFile, lim Limits, depth int) (*srcChart, error) {
	if depth > maxSubchartDepth {
		return nil, fmt.Errorf("subcharts nested deeper than %d", maxSubchartDepth)
	}
	c := &srcChart{}
	var chartYAML, reqYAML []byte
	for _, f := range files {
		if f.name == "Chart.yaml" {
			chartYAML = f.data
		}
	}
	if chartYAML == nil {
		return nil, fmt.Errorf("Chart.yaml file is missing")
	}
	// The API version decides what happens to requirements.*; it comes from
	// Chart.yaml alone (Helm reads that first).
	pre, err := loadMetadata(chartYAML, nil)
	if err != nil {
		return nil, err
	}
	v1 := pre.APIVersion == apiVersionV1
	type group struct {
		name  string
		files []bufFile
	}
	var groups []*group
	byName := map[string]*group{}
	for _, f := range files {
		switch {
		case f.name == "Chart.yaml":
		case f.name == "Chart.lock":
			c.lock = f.data
		case f.name == "values.yaml":
			c.values, c.hasValues = f.data, true
		case f.name == "values.schema.json":
			c.schema = f.data
		case f.name == "requirements.yaml":
			reqYAML = f.data
			if v1 {
				c.files = append(c.files, f)
			}
		case f.name == "requirements.lock":
			c.lock = f.data
			if v1 {
				c.files = append(c.files, f)
			}
		case strings.HasPrefix(f.name, "templates/"):
			c.templates = append(c.templates, f)
		case strings.HasPrefix(f.name, "charts/"):
			if filepath.Ext(f.name) == ".prov" {
				c.files = append(c.files, f)
				continue
			}
			rest := strings.TrimPrefix(f.name, "charts/")
			cname, _, _ := strings.Cut(rest, "/")
			g := byName[cname]
			if g == nil {
				g = &group{name: cname}
				byName[cname] = g
				groups = append(groups, g)
			}
			g.files = append(g.files, bufFile{name: rest, data: f.data})
		default:
			c.files = append(c.files, f)
		}
	}
	if c.md, err = loadMetadata(chartYAML, reqYAML); err != nil {
		return nil, err
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].name < groups[j].name })
	for _, g := range groups {
		var sub *srcChart
		var err error
		switch {
		case strings.IndexAny(g.name, "_.") == 0:
			continue
		case filepath.Ext(g.name) == ".tgz":
			if g.files[0].name != g.name {
				return nil, fmt.Errorf("error unpacking subchart tar in %s: expected %s, got %s", c.md.Name, g.name, g.files[0].name)
			}
			sub, err = loadSubchartArchive(g.files[0].data, lim, depth)
		default:
			var buf []bufFile
			for _, f := range g.files {
				_, rest, ok := strings.Cut(f.name, "/")
				if !ok {
					continue
				}
				buf = append(buf, bufFile{name: rest, data: f.data})
			}
			sub, err = buildChart(buf, lim, depth+1)
		}
		if err != nil {
			return nil, fmt.Errorf("error unpacking subchart %s in %s: %w", g.name, c.md.Name, err)
		}
		c.deps = append(c.deps, sub)
	}
	return c, nil
}

func loadSubchartArchive(data []byte, lim Limits, depth int) (*srcChart, error) {
	var files []bufFile
	if _, err := readArchive(bytes.NewReader(data), lim, func(name string, d []byte) {
		files = append(files, bufFile{name: name, data: bytes.TrimPrefix(d, utf8BOM)})
	}); err != nil {
		return nil, err
	}
	return buildChart(files, lim, depth+1)
}

// render mirrors Helm's chartutil writeTarContents.
func (c *srcChart) render(prefix string, emit func(string, []byte) error) error {
	if c.md.Name != filepath.Base(c.md.Name) {
		return fmt.Errorf("chart name %q is not valid", c.md.Name)
	}
	cdata, err := c.md.renderForArchive()
	if err != nil {
		return err
	}
	if err := emit(path.Join(prefix, "Chart.yaml"), cdata); err != nil {
		return err
	}
	if c.md.APIVersion == apiVersionV2 && c.lock != nil {
		l, err := renderLock(c.lock)
		if err != nil {
			return err
		}
		if err := emit(path.Join(prefix, "Chart.lock"), l); err != nil {
			return err
		}
	}
	if c.hasValues {
		if err := emit(path.Join(prefix, "values.yaml"), c.values); err != nil {
			return err
		}
	}
	if c.schema != nil {
		if !json.Valid(c.schema) {
			return fmt.Errorf("invalid JSON in values.schema.json")
		}
		if err := emit(path.Join(prefix, "values.schema.json"), c.schema); err != nil {
			return err
		}
	}
	for _, fs := range [][]bufFile{c.templates, c.files} {
		for _, f := range fs {
			if err := emit(path.Join(prefix, f.name), f.data); err != nil {
				return err
			}
		}
	}
	for _, d := range c.deps {
		if err := d.render(path.Join(prefix, "charts", d.md.Name), emit); err != nil {
			return err
		}
	}
	return nil
}
