// Package provenance reads, writes and checks Helm chart provenance files
// (CHART.tgz.prov) and reads chart archives (CHART.tgz).
//
// # The .prov format (Helm 3 and 4, helm.sh/helm/v*/pkg/provenance)
//
// A .prov is one OpenPGP clearsigned message (RFC 9580 §7), normally with
// "Hash: SHA512". Its text is:
//
//	<the chart's metadata: Chart.yaml parsed into Helm's Metadata struct and
//	 rendered by sigs.k8s.io/yaml, keys sorted, empty fields left out>
//
//	...
//	files:
//	  NAME-VERSION.tgz: sha256:<64 lower-case hex digits of the archive>
//
// ("..." is YAML's document end marker; "---" cannot start a line of a
// clearsigned text.) Helm checks the files: entry under the archive's base
// name and the signature with go-crypto; it ignores the metadata. keyctl
// also requires the metadata's name and version to equal the archive's own
// Chart.yaml (CheckChart), the signing key to be valid for signing at the
// signature's time (a certify-only primary is refused), and a hash stronger
// than SHA-1.
//
// Verify accepts the first signature that verifies; VerifyEach checks every
// signature packet on its own, for callers (keyctl verify and audit, through
// client.Decide) that trust a .prov only when all of its signatures are
// trusted (docs/verify.md).
//
// Parse is strict: at most MaxProvSize bytes, one clearsigned block with
// only white space around it, one to MaxSignatures signature packets and no
// other packet, exactly one "..." line, a non-empty files: map of base names
// to sha256 sums. Sign writes what Helm writes, byte for byte in the text
// (Message), and adds the armor checksum line that GnuPG 2.2 needs.
//
// # Chart archives
//
// ReadArchive streams a .tgz once under Limits (Helm's 100 MiB decompressed
// and 5 MiB per file by default), hashing the raw bytes, and refuses
// anything `helm package` never writes: paths that are absolute, unclean,
// with "..", a backslash, or outside the single top-level directory; links
// and special files; duplicates; data after the archive. It inflates with
// klauspost/compress and reads gzip members as Go's compress/gzip (Helm's
// reader) does: whatever it reads, compress/gzip reads byte for byte
// (FuzzGzipMatchesHelm). LoadSource and
// CompareSource reproduce what `helm package DIR` puts in an archive, for
// the CI check that a published archive was built from its source.
package provenance
