package root

import "strconv"

// Object names of the published layout (docs/manifest.md), relative to the
// chart repository's root.
const (
	// ManifestName is the manifest: the one object a client reads first.
	ManifestName = "keyctl-manifest.json"
	// SigSuffix is appended to an object's name for its detached signatures.
	SigSuffix = ".sig"
	// ContentDir holds content-addressed copies: ContentPath(sha256).
	ContentDir = "keyctl/sha256/"
	// RootsDir holds the root history: RootSetPath(version).
	RootsDir = "keyctl/roots/"
)

// RootSetPath is the object name of root set version v; its signatures are
// RootSetPath(v)+SigSuffix.
func RootSetPath(v uint64) string { return RootsDir + strconv.FormatUint(v, 10) + ".json" }

// ContentPath is the object name of the content-addressed copy of bytes
// whose hex SHA-256 is sum. The manifest's own signatures are published at
// ContentPath(Hash(manifest)) + SigSuffix, so that a client always gets the
// signatures that belong to the manifest bytes it read.
func ContentPath(sum string) string { return ContentDir + sum }
