// Package root holds keyctl's root of trust: root keys, detached signatures
// counted against a threshold, the root set and its rotation chain, the
// signed manifest, and the offline signing directory. It is pure: no bucket
// I/O (internal/publish moves bytes), no store; callers inject fetching.
//
// The package documentation is the specification of the two signed formats.
// docs/manifest.md describes the published layout and the client algorithm
// around them.
//
// # Signatures
//
// Every signed object X is published with X.sig: one or more OpenPGP
// signature packets (RFC 4880 version 4, binary document type 0x00)
// concatenated, binary, each a detached signature over the exact bytes of X.
// Armored signatures, and several armored blocks one after another, are
// accepted on input (Merge, LoadDir) and written binary. At most
// MaxSignatures packets and MaxSigSize bytes.
//
// A signature counts when it verifies with a key of the root set whose
// primary key or signing subkey made it (a subkey counts for its primary),
// the key's self-signatures are valid, its hash is SHA-256 or stronger (SHA-1,
// MD5, RIPEMD-160 and SHA-224 never count), it is dated at most ClockSkew
// after now and, for what a client trusts today (the manifest and the
// files), the key is valid at now. Signatures are counted per distinct
// primary key: a holder who signed twice counts once, and signatures by
// unknown keys are ignored. Fewer than the threshold is a *ThresholdError.
//
// Keyctl signs with SHA-512 (Sign). GnuPG signatures made with
// `gpg --detach-sign --digest-algo SHA512` (binary or --armor) count the same.
//
// # Root set
//
// A root set is UTF-8 JSON written by RootSet.Marshal: two-space indent,
// fields in this order, one final newline, no other form accepted (ParseRootSet
// re-encodes and compares, so one set has one encoding and one hash):
//
//		{
//		  "format": "keyctl-rootset/1",
//		  "repository": "charts.example.org",
//		  "version": 1,
//		  "threshold": 2,
//		  "log": "charts.example.org/keyctl-log+1c5d2e3f+AW...",
//		  "keys": [
//		    {
//		      "fingerprint": "<40 or 64 upper-case hex digits>",
//		      "public": "<standard base64 of the binary public certificate>"
//		    }
//		  ]
//		}
//
//	  - format: the format line; another value is refused.
//	  - repository: the repository identity, 1 to MaxRepositoryLen printable
//	    ASCII bytes without spaces. Every manifest names it.
//	  - version: 1 for the set pinned at init, +1 per rotation.
//	  - threshold: distinct root keys that must sign, 1 to len(keys).
//	  - log: optional (absent: the repository keeps no transparency log).
//	    The log key, a signed-note verifier key NAME+HASH+BASE64 of type
//	    Ed25519, at most 512 bytes (ValidLogKey); its name is the log's
//	    origin. Rotate carries it to the next set. See internal/tlog.
//	  - keys: 1 to MaxRootKeys, sorted by fingerprint, unique. "public" is the
//	    key's public certificate (primary key, user IDs with self-signatures,
//	    subkeys with bindings; certifications by other keys stripped), never
//	    secret material, at most MaxRootKeySize bytes; its primary fingerprint
//	    must be "fingerprint". Every subkey must have a binding signature,
//	    and every binding must verify against the primary key. No 64-bit key
//	    ID (primary or subkey) may appear in two keys of the set: signatures
//	    name their issuer by key ID, and a key carrying a copy of another's
//	    must not stand in its way.
//
// Root set N is published with signatures by a threshold of set N's keys
// (N = 1) or by a threshold of set N-1 and a threshold of set N (N > 1: a
// rotation link; VerifyLink). Link signatures are judged at their creation
// time, so a link stays valid after the old keys expire. A client holds
// Pins that name one root set exactly: its hash (ParseRootSetPin), or all
// of its fingerprints and its threshold. A client without history
// (Resolve) checks root set 1 against its own threshold and every link
// from there, trusts the set its pins name, and walks forward from it; pins
// with fewer keys or a lower threshold than the set are refused
// (PinError), since one key of an M-of-N set must not vouch for a set of
// its own. A client that recorded a root set walks forward from that one
// only (WalkChain), bounded.
//
// Limitation: link signatures are judged at their creation time, and the
// signer chooses that time. A root key that merely expired, and whose
// secret is later stolen or leaked, can therefore still sign a link
// backdated to when it was valid; a threshold of such keys can make a
// rotation link from the set they belong to that VerifyLink accepts.
// Expiry does not retire a root key. The mitigation: retire a root key by
// rotating it out (a new root set without it, signed while it is still
// valid), not by letting it expire, and revoke it, so that anything which
// sees the revocation stops trusting it. Clients keep the root set they
// have seen (version and hash; the newest trusted manifest names it) and
// walk forward from it (WalkChain) rather than from their pins, so that a
// forged link from a set they have moved past does not reach them.
//
// # Manifest
//
// The manifest is UTF-8 JSON written by Manifest.Marshal, with the same
// canonical rules (ParseManifest refuses any other encoding of the same
// data), at most MaxManifestSize bytes:
//
//	{
//	  "format": "keyctl-manifest/1",
//	  "repository": "charts.example.org",
//	  "version": 7,
//	  "issued": "2026-03-01T12:00:00Z",
//	  "expires": "2026-05-30T12:00:00Z",
//	  "previous": "<hex SHA-256 of manifest version 6>",
//	  "root": {"version": 2, "sha256": "<hex SHA-256 of root set 2>"},
//	  "files": [
//	    {"name": "pubkeys.pgp", "sha256": "<hex>", "length": 123456},
//	    {"name": "revoked.pgp", "sha256": "<hex>", "length": 2345}
//	  ],
//	  "keys": [
//	    {"fingerprint": "<hex>", "status": "active", "added": "<time>", "scopes": ["web-*"]},
//	    {"fingerprint": "<hex>", "status": "removed", "reason": "retired",
//	     "added": "<time>", "effective": "<time>"}
//	  ]
//	}
//
// (ExampleManifest shows the exact layout.) Fields:
//
//   - format: the format line; another value is refused.
//   - repository: the identity of the root set's repository (replay).
//   - version: 1 at the first publish, +1 at each publish.
//   - issued, expires: UTC, to the second, "2006-01-02T15:04:05Z";
//     issued < expires <= issued + MaxManifestValidity (default validity
//     DefaultManifestValidity, 90 days). A manifest is refused at or after
//     expires (*ExpiredError) and when issued lies more than ClockSkew ahead.
//   - previous: lower-case hex SHA-256 of the previous manifest's bytes;
//     empty exactly for version 1.
//   - root: the version and SHA-256 of the root set that signs this
//     manifest; it must be the client's current root set.
//   - files: exactly pubkeys.pgp and revoked.pgp, in that order or, when
//     keys lists an active index key, exactly indexkeys.pgp, pubkeys.pgp,
//     revoked.pgp (FileNames), with the lower-case hex SHA-256 and the
//     length of their bytes (mix-and-match).
//   - keys: at most MaxManifestKeys, sorted by fingerprint (upper-case hex,
//     40 or 64 digits), unique; status "active" or "removed"; a removed key
//     has reason "compromised", "retired" or "superseded" and an effective
//     time, an active key neither; added is when the key entered the store;
//     added and effective are not after issued; scopes are chart-name globs
//     in path.Match syntax, sorted, unique, at most MaxScopes of at most
//     MaxScopeLen printable ASCII bytes; no scopes means every chart;
//     role is "index" for an index key (no scopes; it signs
//     keyctl-index.json, never a chart) and absent for a maintainer key
//     ("maintainer" is never written: not canonical).
//
// Keys absent from the manifest are unknown, whatever pubkeys.pgp holds.
//
// # Offline signing directory
//
// WriteDir writes each file to be signed and prepare.json:
//
//	{
//	  "format": "keyctl-prepare/1",
//	  "files": [
//	    {"name": "keyctl-manifest.json", "sha256": "<hex>", "length": 1234}
//	  ]
//	}
//
// Signatures for file NAME are NAME.sig (written by SignDir) and any files
// in NAME.sigs/ (dropped there by gpg users); LoadDir merges them all.
package root
