package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// The OCI image-spec types this package reads and writes, declared here
// rather than imported: github.com/opencontainers/image-spec's descriptor
// carries go-digest, whose package-level regular expressions cost start-up
// time in every keyctl command (docs/performance.md). Only the fields
// keyctl uses are kept; unknown fields of a manifest are ignored.

// OCI media types and annotations (image-spec v1.1).
const (
	MediaTypeImageManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeImageIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeEmptyJSON     = "application/vnd.oci.empty.v1+json"
	// AnnotationTitle names a layer (a file name).
	AnnotationTitle = "org.opencontainers.image.title"
)

// Descriptor points at content by digest (image-spec descriptor.md).
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Data         []byte            `json:"data,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
}

// Manifest is an OCI image manifest (image-spec manifest.md).
type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType,omitempty"`
	ArtifactType  string            `json:"artifactType,omitempty"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Subject       *Descriptor       `json:"subject,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// emptyJSON is the empty config ("{}") of an artifact without one.
func emptyJSON() Descriptor {
	return Descriptor{MediaType: MediaTypeEmptyJSON,
		Digest: "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
		Size:   2, Data: []byte("{}")}
}

// DescriptorFor describes data of media type mt.
func DescriptorFor(mt string, data []byte) Descriptor {
	return Descriptor{MediaType: mt, Digest: DigestOf(data), Size: int64(len(data))}
}

// DigestOf is data's sha256:HEX digest.
func DigestOf(data []byte) string {
	h := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(h[:])
}

// ValidDigest reports whether d is sha256: and 64 lower-case hex digits,
// the only digest keyctl accepts.
func ValidDigest(d string) bool {
	hexPart, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hexPart) != 64 {
		return false
	}
	for i := 0; i < len(hexPart); i++ {
		if c := hexPart[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// encoded is the hex part of a valid digest.
func encoded(d string) string { return strings.TrimPrefix(d, "sha256:") }
