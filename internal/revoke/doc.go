// Package revoke holds what keyctl knows about removed keys: the removal
// rules of SPEC §3.5 (JudgeRemoval), the audit of a whole chart repository
// after a compromise (Audit), and the first-seen ledger of releases that
// backs soft removals (LedgerEntries, Record).
//
// An audit reads index.yaml (ParseIndex: capped, duplicate keys refused),
// resolves each chart URL as Helm does (ResolveURL), and for every chart
// version fetches the .prov and streams the archive once through
// provenance.ReadArchive (SHA-256 and Chart.yaml), with bounded concurrency
// and retries. Each release gets one Status; a Result holds digests and
// names, never content, so memory grows with the concurrency, not with the
// repository.
//
// Keys come from a KeySet: the team lead's store (FromStore) or a published
// set verified under pinned roots (FromManifest). Signatures are checked
// against active and removed keys alike, so that a release signed by a
// removed key is named as such, and a subkey signature maps to its primary.
//
// Removal rules: compromised is hard (every signature untrusted). Retired
// and superseded are soft: a release stays trusted when the ledger's
// first-seen time of exactly its bytes precedes the removal's effective
// time; without such a record the signature's own time is reported as
// "signature time, self-asserted, not verified" and the release is not trusted.
package revoke
