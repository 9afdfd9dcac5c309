package provenance

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"sigs.k8s.io/yaml"
)

// Plugin is a Helm plugin archive (the .tgz `helm plugin package` writes:
// one top directory holding plugin.yaml) as ReadPlugin read it.
type Plugin struct {
	Name, Version string
	Dir           string
	PluginYAML    []byte
	SHA256        [32]byte
	Size          int64
}

// ReadPlugin reads a Helm plugin archive with every check ReadArchive makes
// of a chart (size caps, no path tricks, no links, nothing after the
// archive) and requires <Dir>/plugin.yaml with a name and a version.
func ReadPlugin(r io.Reader, lim Limits) (*Plugin, error) {
	a, err := readTar(r, lim, nil)
	if err != nil {
		return nil, input(err, "a plugin archive is the .tgz that `helm plugin package` writes")
	}
	if a.pluginYAML == nil {
		return nil, input(&ArchiveError{Reason: fmt.Sprintf("no %s/plugin.yaml", a.Dir)}, "a plugin archive is the .tgz that `helm plugin package` writes")
	}
	var md struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	if err := yaml.Unmarshal(a.pluginYAML, &md); err != nil {
		return nil, input(&ArchiveError{Entry: a.Dir + "/plugin.yaml", Reason: err.Error()})
	}
	if md.Name == "" || md.Version == "" {
		return nil, input(&ArchiveError{Entry: a.Dir + "/plugin.yaml", Reason: "no name or version"})
	}
	return &Plugin{Name: md.Name, Version: md.Version, Dir: a.Dir, PluginYAML: a.pluginYAML, SHA256: a.SHA256, Size: a.Size}, nil
}

// SignPlugin writes the .prov of a plugin archive stored as archiveName, in
// the format Helm 4's `helm plugin install --verify` checks: the same
// clearsigned message as a chart's, with the plugin's plugin.yaml as the
// metadata (Helm 4 checks the signature and the files: digest, not the
// metadata), then "...", then files: with the archive's SHA-256.
func SignPlugin(signer *openpgp.Entity, p *Plugin, archiveName string, now time.Time) ([]byte, error) {
	if archiveName == "" || bytes.ContainsAny([]byte(archiveName), "/\\") {
		return nil, input(fmt.Errorf("archive name %q is not a file base name", archiveName))
	}
	sums, err := yaml.Marshal(sumCollection{Files: map[string]string{archiveName: sha256Prefix + hex.EncodeToString(p.SHA256[:])}})
	if err != nil {
		return nil, err
	}
	md := bytes.TrimRight(p.PluginYAML, "\n")
	var msg bytes.Buffer
	msg.Write(md)
	msg.WriteString("\n")
	msg.WriteString(metadataBreak)
	msg.Write(sums)
	return signMessage(signer, msg.Bytes(), now)
}
