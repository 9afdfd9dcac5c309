// Package charts makes Helm charts for tests: chart source directories,
// archives packaged in pure Go exactly as `helm package` lays them out
// (deterministic bytes, fast enough for hundreds of releases), archives
// packaged by a real Helm binary, and .prov files signed with
// provenance.Sign.
package charts

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/testutil/peers"
)

// Spec describes a chart.
type Spec struct {
	Name       string
	Version    string
	AppVersion string            // default "1.0.0"
	APIVersion string            // default "v2"
	Files      map[string]string // extra files, by path relative to the chart directory
	// Padding adds files/padding.txt with this many bytes of poorly
	// compressible text (deterministic from Name and Version), to reach a
	// given archive size.
	Padding int
}

// ModTime is the modification time written in every tar header, so that the
// same Spec always gives the same archive bytes.
var ModTime = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// helmGzipExtra is the gzip header "extra" field Helm writes (chartutil.Save).
var helmGzipExtra = []byte("+aHR0cHM6Ly95b3V0dS5iZS96OVV6MWljandyTQo=")

// SourceFiles returns the files of the chart source, by path.
func (s Spec) SourceFiles() map[string][]byte {
	api := s.APIVersion
	if api == "" {
		api = "v2"
	}
	app := s.AppVersion
	if app == "" {
		app = "1.0.0"
	}
	files := map[string][]byte{
		"Chart.yaml":               []byte(fmt.Sprintf("apiVersion: %s\nname: %s\ndescription: A test chart for keyctl\ntype: application\nversion: %s\nappVersion: %q\n", api, s.Name, s.Version, app)),
		"values.yaml":              []byte("replicaCount: 1\nimage:\n  repository: nginx\n  tag: stable\n"),
		"templates/configmap.yaml": []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  replicas: {{ .Values.replicaCount | quote }}\n"),
		".helmignore":              []byte("# Patterns to ignore when building packages.\n.DS_Store\n*.swp\n*.bak\n"),
	}
	for p, c := range s.Files {
		files[p] = []byte(c)
	}
	if s.Padding > 0 {
		files["files/padding.txt"] = padding(s.Name+"@"+s.Version, s.Padding)
	}
	return files
}

func padding(seed string, n int) []byte {
	var h int64
	for _, c := range seed {
		h = h*31 + int64(c)
	}
	r := rand.New(rand.NewSource(h))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	b := make([]byte, n)
	for i := range b {
		if i%77 == 76 {
			b[i] = '\n'
			continue
		}
		b[i] = alphabet[r.Intn(len(alphabet))]
	}
	return b
}

// WriteSource writes the chart source into dir/NAME and returns that path.
func WriteSource(t testing.TB, dir string, s Spec) string {
	t.Helper()
	root := filepath.Join(dir, s.Name)
	for p, data := range s.SourceFiles() {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// Archive packages s in memory, without touching the disk: the files that
// `helm package` would write for the source, in a deterministic .tgz.
func Archive(s Spec) ([]byte, error) {
	src := s.SourceFiles()
	md, err := provenance.RenderMetadata(src["Chart.yaml"], nil)
	if err != nil {
		return nil, err
	}
	files := []provenance.SourceFile{{Path: "Chart.yaml", Data: md}, {Path: "values.yaml", Data: src["values.yaml"]}}
	var templates, others []string
	for p := range src {
		switch {
		case p == "Chart.yaml" || p == "values.yaml":
		case strings.HasPrefix(p, "templates/"):
			templates = append(templates, p)
		default:
			others = append(others, p)
		}
	}
	sort.Strings(templates)
	sort.Strings(others)
	for _, p := range append(templates, others...) {
		files = append(files, provenance.SourceFile{Path: p, Data: src[p]})
	}
	return WriteTgz(s.Name, files)
}

// WriteTgz writes files under top-level directory top as Helm's
// chartutil.Save does (mode 0644 regular files, Helm's gzip header), with
// ModTime in every header.
func WriteTgz(top string, files []provenance.SourceFile) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Header.Extra = helmGzipExtra
	zw.Header.Comment = "Helm"
	zw.Header.ModTime = ModTime
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: top + "/" + f.Path, Mode: 0o644, Size: int64(len(f.Data)), ModTime: ModTime, Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Package packages chart directory srcDir in pure Go (what `helm package`
// would include, per provenance.LoadSource) into outDir/NAME-VERSION.tgz and
// returns its path.
func Package(t testing.TB, srcDir, outDir string) string {
	t.Helper()
	src, err := provenance.LoadSource(srcDir, provenance.CompareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := WriteTgz(src.Name, src.Files)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(outDir, fmt.Sprintf("%s-%s.tgz", src.Name, src.Version))
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// HelmPackage runs `helm package SRC --destination OUT [args...]` with the
// given Helm binary (peers.Helm3 or peers.Helm4) and environment, and
// returns the archive's path.
func HelmPackage(t testing.TB, helm string, env []string, srcDir, outDir string, args ...string) string {
	t.Helper()
	full := append([]string{"package", srcDir, "--destination", outDir}, args...)
	out := string(peers.Run(t, append(helmEnv(t), env...), helm, full...))
	// "Successfully packaged chart and saved it to: PATH"
	i := strings.LastIndex(out, ": ")
	if i < 0 {
		t.Fatalf("helm package printed %q", out)
	}
	return strings.TrimSpace(out[i+2:])
}

// helmEnv keeps Helm's caches and config inside the test's temp dir.
func helmEnv(t testing.TB) []string {
	d := t.TempDir()
	return []string{"HELM_CACHE_HOME=" + d + "/cache", "HELM_CONFIG_HOME=" + d + "/config", "HELM_DATA_HOME=" + d + "/data"}
}

// Helm runs a Helm binary with isolated caches and returns its combined
// result without failing the test.
func Helm(t testing.TB, helm string, env []string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	return peers.RunErr(append(helmEnv(t), env...), nil, helm, args...)
}

// SignFile reads the archive at path, signs it with provenance.Sign at now and
// writes PATH.prov; it returns the .prov's path.
func SignFile(t testing.TB, signer *openpgp.Entity, path string, now time.Time) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prov, err := SignBytes(signer, filepath.Base(path), data, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".prov", prov, 0o644); err != nil {
		t.Fatal(err)
	}
	return path + ".prov"
}

// SignBytes signs archive bytes stored under file name name.
func SignBytes(signer *openpgp.Entity, name string, archive []byte, now time.Time) ([]byte, error) {
	a, err := provenance.ReadArchive(bytes.NewReader(archive), provenance.Limits{})
	if err != nil {
		return nil, err
	}
	return provenance.Sign(signer, a, name, now)
}
