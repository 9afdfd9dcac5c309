// Package tlog is keyctl's transparency log of published manifests: an
// append-only Merkle log that every publish extends, so that a keyring
// shown to only some clients (a split view made with a stolen or coerced
// root key) is visible to monitors and witnesses. It is built on
// golang.org/x/mod/sumdb/tlog (RFC 6962 hashing, tiles) and
// golang.org/x/mod/sumdb/note (signed notes), with filippo.io/torchwood for
// the C2SP checkpoint, tile path and cosignature formats.
//
// # Layout
//
// The log is published with the set, under keyctl/log/ next to the
// manifest (docs/manifest.md), in the C2SP tlog-tiles layout
// (https://c2sp.org/tlog-tiles):
//
//	keyctl/log/checkpoint              the newest checkpoint (mutable)
//	keyctl/log/tile/L/N[.p/W]          hash tiles, height 8 (immutable)
//	keyctl/log/tile/entries/N[.p/W]    entry bundles (immutable)
//
// N is the tile index in the x001/x234/067 form. Partial tiles (.p/W) are
// written for every size the log has had and never deleted, so a reader
// can prove against any checkpoint it kept. Tiles hold exactly W*32 bytes;
// an entry bundle holds W entries, each a big-endian uint16 length and the
// entry bytes.
//
// # Entries
//
// Entry i of the log is the manifest published at some version V, written
// as one line of ASCII (at most MaxEntrySize bytes):
//
//	keyctl-manifest V SHA256HEX\n
//
// where SHA256HEX is the lower-case hex SHA-256 of the manifest's bytes, the
// name of its content-addressed copy keyctl/sha256/SHA256HEX. The leaf hash
// is RFC 6962's SHA-256(0x00 || entry). Versions never go down along the
// log and go up by one at a time. Entry 0 is version S: 1, or the version
// published when the root set first named the log key. Version V is first
// logged at index V-S; a publish at version V that failed before its
// manifest went live and was then signed again with other bytes leaves two
// entries for V (the log cannot be rewritten), so a reader looks for its
// entry from index V-S onward (at most 64 entries on).
//
// # Checkpoint
//
// A checkpoint is a C2SP signed note (https://c2sp.org/signed-note) whose
// text is a C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint):
//
//	ORIGIN
//	TREE SIZE (decimal)
//	ROOT HASH (base64)
//
//	— ORIGIN KEYHASH+SIG
//	— WITNESS KEYHASH+COSIG ...
//
// ORIGIN is the name of the log key, an Ed25519 note key (signature type
// 0x01) named in the root set (field "log", docs/manifest.md); it is held
// online by the publisher, because every publish signs a new checkpoint.
// Witnesses add C2SP tlog-cosignature/v1 lines (signature type 0x04:
// a 4-byte key hash, an 8-byte big-endian timestamp and an Ed25519
// signature over "cosignature/v1\ntime T\n" followed by the checkpoint
// text). A checkpoint is at most MaxCheckpointSize bytes.
//
// # What a reader checks
//
// The log key's signature and the origin; for witnesses, that the
// required number of named witness keys cosigned this very checkpoint;
// that the checkpoint is consistent with the last one the reader kept
// (a consistency proof, in either direction); that the manifest's entry is
// included (a record proof). Tiles are checked against the checkpoint's
// root hash as they are read, so a hostile bucket cannot feed wrong hashes.
//
// Each named witness's cosignature is verified on its own: one that does
// not verify counts as absent and does not fail the checkpoint, while an
// invalid log signature, or a malformed note, does. A witness counts when
// any line by its name and key hash verifies: the lines are merged from
// files the publisher does not check, so an invalid line under a
// witness's name (which anyone can write) never cancels its valid one.
// Witnesses count toward a threshold by distinct public key: one key
// named under two names is one witness.
//
// Only two signed checkpoints that no append-only history joins are a
// fork (InconsistentError, a security error): a consistency proof, read
// from tiles that hash to the larger signed tree, that fails, or two
// different trees of one size. Tiles that are missing or do not hash to
// their signed tree prove nothing either way: they are a damaged or forged
// log (an untrusted read error).
package tlog
