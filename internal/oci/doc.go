// Package oci reads Helm charts from OCI registries and reads and
// publishes a repository's published set there (docs/verify.md,
// docs/manifest.md "OCI registries"), with a small client of the OCI
// distribution API of its own over net/http (registry.go, auth.go,
// creds.go, retry.go). It knows nothing about OpenPGP or the manifest: it
// finds and moves bytes, checked against their digests and capped in
// size, and leaves every trust decision to internal/client.
//
// The client is hand-written rather than oras.land/oras-go/v2 because
// every keyctl command paid for oras-go, go-digest and image-spec at
// start-up (package-level regular expressions: about 2 ms of a 15 ms
// package initialisation, docs/performance.md) for the few calls below.
//
// # References
//
// A namespace oci://HOST/PATH plays the role of a chart repository's root.
// Its charts are the OCI repositories HOST/PATH/NAME, one tag per version
// (Helm writes SemVer build metadata's '+' as '_': TagForVersion, and
// reads a tag's '_' as '+': VersionForTag; a tag names that one version,
// TagHoldsVersion, the rule of verify and audit alike); a chart is named
// oci://HOST/PATH/NAME:TAG or, immutably,
// oci://HOST/PATH/NAME@sha256:HEX (ParseRef).
//
// # Charts as Helm pushes them
//
// One OCI image manifest (at most MaxManifestSize bytes) with the config
// application/vnd.cncf.helm.config.v1+json (Chart.yaml as JSON: unsigned,
// used only to list), exactly one layer
// application/vnd.cncf.helm.chart.content.v1.tar+gzip (the archive: its
// digest is the archive's SHA-256) and at most one layer
// application/vnd.cncf.helm.chart.provenance.v1.prov (the .prov that
// helm push attaches when CHART.tgz.prov lies next to the archive). Any
// other layer, or a second chart or provenance layer, is refused
// (ParseChartManifest). Layers are fetched into memory only, refused
// unread when their descriptor is over the cap (the archive cap of
// internal/provenance, MaxProvSize for the .prov) and checked against
// their digest: nothing unverified is ever written to disk.
//
// # The published set
//
// The published set of oci://HOST/PATH is one artifact in the repository
// HOST/PATH/keyctl: an OCI image manifest with artifactType
// application/vnd.keyctl.published-set.v1, the empty config
// (application/vnd.oci.empty.v1+json, "{}"), and one layer per published
// object, named by its org.opencontainers.image.title annotation exactly
// as the object is named in a bucket (keyctl-manifest.json, pubkeys.pgp,
// keyctl/sha256/HEX, ...), its media type the object's content type. The
// annotation dev.keyctl.manifest.version carries the keyctl manifest
// version (unsigned; the publisher uses it to protect version tags). The
// artifact is tagged `current` (the live set) and VersionTag(N) = "vN".
// Each artifact holds the whole bucket as it would be after the publish:
// the content-addressed objects of the previous set (old manifests, root
// sets: what a client walks back through) plus this publish's objects, so
// that one artifact is a complete, self-consistent set. A reader (Set)
// resolves `current` once and reads every object from that one artifact.
//
// # Publishing
//
// Set.Publish writes a publish.Plan:
//
//  1. read `current` and its pointer object (keyctl-manifest.json); unless
//     its SHA-256 is Plan.ExpectPrevious (none: no set yet), another
//     publish went live since this one was built: a publish.ConflictError
//     and nothing is written. If it already holds Plan.Pointer, the publish
//     is complete (an artifact goes live whole);
//  2. push every new object as a blob, then the artifact's manifest (by
//     digest, untagged: invisible to readers). A content-addressed object
//     of the live set that the plan names with other bytes is a security
//     error;
//  3. tag "vN". A version tag that names another artifact is a conflict
//     when the set `current` names now is that artifact or at version N or
//     later (a version never changes once it went live); a tag left by a
//     publish that never went live is replaced. The publisher that wins
//     step 4 tags "vN" again, so that it names the live set;
//  4. read `current` again: if it moved since step 1, a conflict; else tag
//     `current`, and read it once more: if it does not name this artifact,
//     another publisher wrote in between and won, and this publish says so.
//
// Registries offer no conditional tag update (no compare-and-swap): two
// publishers whose steps 4 interleave within the time between the reads
// can both pass the first read; the last write wins and the other
// publisher is told by the final read. keyctl cannot make that window
// zero; docs/manifest.md says what a team does about it.
//
// # Registry access
//
// The distribution API calls used: GET /v2/NAME/manifests/REF (Accept: the
// OCI manifest and index types; at most MaxManifestSize bytes; the digest
// is computed from the bytes and must equal the one asked for and any
// Docker-Content-Digest), PUT of a manifest by digest and by tag (a tag is
// moved by PUTting the same bytes under it), GET and HEAD
// /v2/NAME/blobs/DIGEST (read up to the descriptor's size, which is capped
// before the request, and checked against the digest), monolithic upload
// (POST /v2/NAME/blobs/uploads/, then PUT LOCATION?digest=, the Location
// on the registry's own scheme and host), and /v2/NAME/tags/list and
// /v2/_catalog, following Link rel="next" on the same host (MaxListPage
// per page, MaxTags, MaxRepositories). Requests are retried on timeouts,
// 408, 429 and 5xx (retry.go) and each is bounded by Options.Timeout.
// Redirects are followed (a layer served from object storage: every byte
// is checked against its digest), never from HTTPS to plain HTTP, and
// without the Authorization header once they leave the registry's
// host[:port].
//
// Options.PlainHTTP is Helm's --plain-http: every registry over plain
// HTTP. Options.PlainHTTPHosts names single registry hosts to reach over
// plain HTTP (a repository added with keyctl repo add --plain-http); every
// other host is HTTPS. Credentials come from Helm's registry config (helm
// registry login) and then Docker's config.json (docker login): "auths"
// entries, or the credential helper docker-credential-NAME of
// "credHelpers" or "credsStore" (creds.go), per registry host, only when
// that registry host itself asks (a 401 with WWW-Authenticate: Basic, or
// Bearer and the token protocol: auth.go). A 401 from a host the
// registry redirected to is an error (RedirectAuthError), not a
// challenge: the registry's credentials never go to its storage host or
// that host's token service. Credentials are never printed, logged or
// stored, and never sent over plain HTTP to a host that is not plain
// HTTP by PlainHTTP or PlainHTTPHosts.
package oci
