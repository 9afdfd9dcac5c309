// Package revoke holds what keyctl knows about removed keys: the removal
// removal rules of docs/verify.md as audit reports them, the audit of a whole chart repository
// after a compromise (Audit), and the first-seen ledger of releases that
// backs soft removals (LedgerEntries, Record).
//
// An audit reads index.yaml (ParseIndex: capped, duplicate keys refused),
// resolves each chart URL as Helm does (ResolveURL), and for every chart
// version fetches the .prov and streams the archive once through
// provenance.ReadArchive, the reader keyctl verify uses (an archive it
// refuses is Invalid), with bounded concurrency and retries. A Result holds
// digests and names, never content, so memory grows with the concurrency,
// not with the repository.
//
// The decision is not made here: each release is judged by client.Decide,
// the one decision keyctl verify makes too, against the audit's KeySet (the
// team lead's store, FromStore, or a published set verified under pinned
// roots, FromManifest/FromTrusted), with the ledger's first-seen time; the
// client's status is mapped to audit's (AuditStatus). The only checks of
// audit's own are that the .prov is the release index.yaml lists
// (ChartMismatch) and the fetch itself (Unreachable). Under ProvOnly no
// archive is read: hash, Chart.yaml and archive structure are not checked.
//
// Removal rules (client.Decide, policy.JudgeRemoval): compromised is hard
// (every signature untrusted). Retired and superseded are soft, and so is
// the expiry of a key still listed active (at its expiry time): a release
// stays trusted when the ledger's first-seen time of exactly its bytes
// precedes the removal's effective time; without such a record the
// signature's own time is reported as "signature time, self-asserted, not
// verified" and the release is not trusted.
package revoke
