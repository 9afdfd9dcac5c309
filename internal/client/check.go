package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/policy"
)

// Status of a chart release (docs/verify.md).
const (
	StatusTrusted            = "trusted"
	StatusRemovedCompromised = "removed-compromised"
	StatusRemovedRetired     = "removed-retired"
	StatusRemovedSuperseded  = "removed-superseded"
	StatusUnknownSigner      = "unknown-signer"
	StatusOutOfScope         = "out-of-scope"
	StatusBadSignature       = "bad-signature"
	StatusHashMismatch       = "hash-mismatch"
	StatusNameMismatch       = "name-mismatch"
	StatusUnsigned           = "unsigned"
	// StatusKeyExpired: signed by a key still listed active that has
	// expired since; judged like a soft removal at the expiry time.
	StatusKeyExpired = "key-expired"
	// StatusWrongRole: signed by an index key, which signs the repository's
	// keyctl-index.json and never makes a chart trusted.
	StatusWrongRole = "wrong-role"
)

// Where a signing time comes from.
const (
	TimeLedger       = string(policy.TimeLedger)
	TimeSelfAsserted = string(policy.TimeSignature)
	TimeSignedIndex  = string(policy.TimeIndex)
)

// Decision is the verdict on one chart release.
type Decision struct {
	Status  string `json:"status"`
	Trusted bool   `json:"trusted"`
	Chart   string `json:"chart,omitempty"`   // name in the .prov
	Version string `json:"version,omitempty"` // version in the .prov
	// Signer is the primary fingerprint of the certificate that made a
	// valid signature (empty when none did); SigningKey the (sub)key.
	Signer        string   `json:"signer,omitempty"`
	SignerUID     string   `json:"signer_user_id,omitempty"`
	SigningKey    string   `json:"signing_key,omitempty"`
	Subkey        bool     `json:"subkey,omitempty"`
	KeyStatus     string   `json:"key_status,omitempty"`    // active, removed
	KeyReason     string   `json:"key_reason,omitempty"`    // compromised, retired, superseded
	Effective     string   `json:"key_effective,omitempty"` // RFC 3339, removed keys
	KeyExpires    string   `json:"key_expires,omitempty"`   // RFC 3339, expired keys
	SignedAt      string   `json:"signed_at,omitempty"`     // RFC 3339, the signature's own time
	FirstSeen     string   `json:"first_seen,omitempty"`    // RFC 3339, from the ledger
	TimeSource    string   `json:"time_source,omitempty"`
	Issuers       []string `json:"issuers,omitempty"` // claimed issuers, when no key matched
	Reason        string   `json:"reason"`            // one line, lower case
	Detail        string   `json:"detail,omitempty"`
	ArchiveSHA256 string   `json:"archive_sha256,omitempty"`
	// ArchiveChecked is false when only the .prov was checked.
	ArchiveChecked bool `json:"archive_checked"`
}

// KeySet is what a chart decision is made against: the keys a
// repository publishes (a *Trusted, for verify) or the team lead's store
// (internal/revoke's KeySet, for audit). Both commands decide through
// Decide, so they give the same verdict on the same bytes.
type KeySet interface {
	// Certificates returns the parsed certificates with this status that
	// hold one of ids (fingerprints or key IDs of a primary key or
	// subkey); ids nil: every certificate with this status.
	Certificates(status root.Status, ids []string) (openpgp.EntityList, error)
	// KeyEntry returns the entry (status, reason, effective time, scopes)
	// of the key with this primary fingerprint.
	KeyEntry(fpr string) (root.KeyEntry, bool)
	// Entity returns the certificate with this primary fingerprint (nil
	// when there is none).
	Entity(fpr string) *openpgp.Entity
}

// Certificates implements KeySet.
func (t *Trusted) Certificates(status root.Status, ids []string) (openpgp.EntityList, error) {
	return t.keys(status, ids)
}

// KeyEntry implements KeySet: the manifest's entry.
func (t *Trusted) KeyEntry(fpr string) (root.KeyEntry, bool) { return t.Manifest.Key(fpr) }

// Candidate is one chart release to decide on.
type Candidate struct {
	// Prov is the parsed .prov; nil: the release is unsigned.
	Prov *provenance.Prov
	// ArchiveName is the archive's file name, as the .prov's files: lists it.
	ArchiveName string
	// Archive is the archive read with provenance.ReadArchive; nil when it
	// was not read. Its SHA-256 is used when SHA256 is nil.
	Archive *provenance.Archive
	// SHA256 is the archive's digest when only that is known; nil with
	// Archive nil: the .prov alone is checked (audit --prov-only).
	SHA256 []byte
	// FirstSeen returns the ledger's first-seen time of this release's
	// bytes that may back a signature by a key removed (or expired) at
	// effective; nil (or a nil result): no ledger record.
	FirstSeen func(effective time.Time) *time.Time
	// Index is the verified signed index statement the release came
	// through (nil: none), and ProvSHA256 the lower-case hex SHA-256 of
	// the exact .prov bytes Prov was parsed from. When the statement lists
	// the .prov's chart and version with that digest, its first-seen time
	// backs soft removals and expiry like the ledger's (the earlier of the
	// two counts); a .prov with other bytes gets no time from it.
	Index      *indexsig.Statement
	ProvSHA256 string
}

// Check decides whether the release in archive (read with
// provenance.ReadArchive from a file named archiveName) is trusted with
// .prov p. firstSeen is the release's first-seen time from the team
// lead's ledger, nil when unknown. p nil means the release is unsigned.
func (t *Trusted) Check(p *provenance.Prov, archiveName string, archive *provenance.Archive, firstSeen *time.Time) *Decision {
	return Decide(t, t.Now, Candidate{Prov: p, ArchiveName: archiveName, Archive: archive, FirstSeen: fixedTime(firstSeen)})
}

// CheckDigest is Check when only the archive's SHA-256 is known (sum) or
// nothing of it (sum nil: the .prov alone, as audit --prov-only does). The
// chart name and version inside the archive are not compared.
func (t *Trusted) CheckDigest(p *provenance.Prov, archiveName string, sum []byte, firstSeen *time.Time) *Decision {
	return Decide(t, t.Now, Candidate{Prov: p, ArchiveName: archiveName, SHA256: sum, FirstSeen: fixedTime(firstSeen)})
}

func fixedTime(t *time.Time) func(time.Time) *time.Time {
	if t == nil {
		return nil
	}
	return func(time.Time) *time.Time { return t }
}

// Decide is the one chart decision of keyctl (verify and audit):
//
//  1. Every signature packet of the .prov is verified on its own (hash
//     policy: policy.DefaultVerify) with the active and removed keys of ks.
//     The .prov is trusted only when every one of them is: one signature
//     that does not verify, names an unknown key, or is by a compromised
//     key makes the whole .prov untrusted, whatever the others say.
//  2. The archive's SHA-256 must be the files: entry of ArchiveName, and the
//     .prov's chart name and version those of the archive's Chart.yaml.
//  3. Each signer's scopes must cover the chart; a signature by a retired
//     or superseded key, or by a (sub)key of an active key that has expired
//     or been revoked as retired or superseded since it signed (a soft
//     removal at that time, as the certificate dates it), stays trusted
//     only when the ledger's first-seen time, or the first-seen time a
//     verified signed index gives these exact .prov bytes (Candidate.Index;
//     the earlier of the two), precedes the removal
//     (policy.JudgeRemovalBy). A subkey revoked as compromised never signs.
//
// An index key's signature is never trusted (wrong role), whatever its
// status. When several checks fail, the verdict reported is the first of:
// bad signature, compromised key (whether or not its signature verifies),
// unknown signer, wrong role, hash mismatch, name mismatch, then the first signature's
// scope or removal verdict in .prov order.
func Decide(ks KeySet, now time.Time, r Candidate) *Decision {
	p := r.Prov
	sum := r.SHA256
	if sum == nil && r.Archive != nil {
		sum = r.Archive.SHA256[:]
	}
	d := &Decision{ArchiveChecked: sum != nil}
	if sum != nil {
		d.ArchiveSHA256 = fmt.Sprintf("%x", sum)
	}
	if p == nil {
		d.Status, d.Reason = StatusUnsigned, "no provenance file"
		return d
	}
	d.Chart, d.Version = p.Name, p.Version
	cfg := policy.DefaultVerify().PacketConfig(now)

	// Only the certificates the signatures name are parsed.
	var ids []string
	for _, is := range p.Issuers() {
		for _, id := range []string{is.Fingerprint, is.KeyID} {
			if id != "" {
				ids = append(ids, id)
			}
		}
	}
	var certs openpgp.EntityList
	if len(ids) > 0 {
		for _, st := range []root.Status{root.Active, root.Removed} {
			es, err := ks.Certificates(st, ids)
			if err != nil {
				return badSignature(ks, now, d, err)
			}
			certs = append(certs, es...)
		}
	}
	results := p.VerifyEach(certs, cfg)
	verdicts := make([]*judged, len(results))
	for i, res := range results {
		res, note := softRevoked(ks, p, i, res, certs, cfg)
		verdicts[i] = judgeSignature(ks, now, *d, res, p.Name, r.FirstSeen, r.Index.FirstSeen(p.Name, p.Version, r.ProvSHA256))
		if note != "" {
			verdicts[i].d.Detail = joinDetail(verdicts[i].d.Detail, note)
		}
	}
	pick := func(match func(j *judged) bool) *Decision {
		for _, j := range verdicts {
			if match(j) {
				return withCount(j.d, len(verdicts))
			}
		}
		return nil
	}
	for _, st := range []string{StatusBadSignature, StatusRemovedCompromised, StatusUnknownSigner, StatusWrongRole} {
		if out := pick(func(j *judged) bool { return j.sigFailed && j.d.Status == st }); out != nil {
			return out
		}
	}
	first := verdicts[0].d
	if sum != nil {
		if err := p.CheckArchive(r.ArchiveName, sum); err != nil {
			out := *first
			out.Status, out.Trusted, out.Reason, out.Detail = StatusHashMismatch, false, reasonOf(err), ""
			return withCount(&out, len(verdicts))
		}
	}
	if r.Archive != nil {
		if err := p.CheckChart(r.Archive); err != nil {
			out := *first
			out.Status, out.Trusted, out.Reason, out.Detail = StatusNameMismatch, false, reasonOf(err), ""
			return withCount(&out, len(verdicts))
		}
	}
	if out := pick(func(j *judged) bool { return !j.d.Trusted }); out != nil {
		return out
	}
	out := withCount(first, len(verdicts))
	if out.Status == StatusTrusted && !out.ArchiveChecked {
		out.Reason += " (provenance file only; the archive was not checked)"
	}
	return out
}

// softRevoked re-checks signature i of p when it did not verify with the
// certificate of a retired or superseded key whose primary key carries
// revocation signatures (the key's own, e.g. the maintainer's revocation
// certificate attached by keyctl remove --revocation): the signature is
// checked again with the certificate without its primary key's
// revocations, so that the soft-removal rule decides (the manifest's
// effective time and the ledger), not the revocation's date. Subkey
// revocations are kept: a subkey revoked as compromised (or with no
// reason) stays untrusted for every signature, whatever the key's later
// removal. It never applies to a compromised key, nor to a signature that
// is bad for another cause: only a signature that verifies once the
// primary key's revocations are gone is taken. note is non-empty when it
// did.
func softRevoked(ks KeySet, p *provenance.Prov, i int, res provenance.SignatureResult, certs openpgp.EntityList, cfg *packet.Config) (provenance.SignatureResult, string) {
	var se *provenance.SignatureError
	if res.Err == nil || !errors.As(res.Err, &se) {
		return res, ""
	}
	entry, ok := ks.KeyEntry(se.PrimaryFingerprint)
	if !ok || entry.Status != root.Removed || (entry.Reason != root.Retired && entry.Reason != root.Superseded) {
		return res, ""
	}
	var stripped openpgp.EntityList
	originals := map[*openpgp.Entity]*openpgp.Entity{}
	for _, e := range certs {
		if pgpkey.Fingerprint(e) == se.PrimaryFingerprint && provenance.HasKeyRevocations(e) {
			c := provenance.WithoutKeyRevocations(e)
			originals[c] = e
			stripped = append(stripped, c)
		}
	}
	if len(stripped) == 0 {
		return res, ""
	}
	again := p.VerifyOne(i, stripped, cfg)
	if again.Sig == nil {
		return res, ""
	}
	again.Sig.Entity = originals[again.Sig.Entity]
	return again, "the key's own revocation signature is ignored: it was removed as " + string(entry.Reason) +
		", which the effective time and the ledger judge (docs/verify.md)"
}

// judged is the verdict on one signature of a .prov.
type judged struct {
	d         *Decision
	sigFailed bool // it did not verify, or its key is compromised
}

func withCount(d *Decision, n int) *Decision {
	if n > 1 {
		d.Detail = joinDetail(d.Detail, fmt.Sprintf("the .prov holds %d signatures; every one must be trusted (docs/verify.md)", n))
	}
	return d
}

func joinDetail(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func judgeSignature(ks KeySet, now time.Time, base Decision, res provenance.SignatureResult, chart string, firstSeen func(time.Time) *time.Time, indexSeen *time.Time) *judged {
	d := &base
	if res.Err != nil {
		if issuers, unknown := provenance.IsUnknownSigner(res.Err); unknown {
			d.Status = StatusUnknownSigner
			for _, is := range issuers {
				d.Issuers = append(d.Issuers, is.String())
			}
			d.Reason = "signed by a key that is not in the repository's keyring: " + joinOr(d.Issuers, "(no issuer)")
			return &judged{d: d, sigFailed: true}
		}
		var se *provenance.SignatureError
		if errors.As(res.Err, &se) {
			// The certificate of a removed key matched but the signature
			// is not valid with it (often: the key carries its own
			// revocation). It is still the removed key's signature claim.
			// For a compromised key that is reported as such; for a
			// retired or superseded key it is a bad signature (anyone can
			// write a .prov that names a removed key).
			if entry, ok := ks.KeyEntry(se.PrimaryFingerprint); ok && entry.Status == root.Removed && removedStatus(entry.Reason) == StatusRemovedCompromised {
				describeSigner(ks, now, d, se.PrimaryFingerprint, "", entry)
				d.Status = StatusRemovedCompromised
				d.Reason = fmt.Sprintf("names compromised key %s (signature not checked)", se.PrimaryFingerprint)
				d.Detail = "the signature does not verify with the removed key: " + se.Err.Error()
				return &judged{d: d, sigFailed: true}
			}
		}
		return &judged{d: badSignature(ks, now, d, res.Err), sigFailed: true}
	}
	sig := res.Sig
	entry, ok := ks.KeyEntry(sig.PrimaryFingerprint)
	if !ok {
		d.Status, d.Reason = StatusUnknownSigner, "signed by "+sig.PrimaryFingerprint+", which the manifest does not list"
		return &judged{d: d, sigFailed: true}
	}
	describeSigner(ks, now, d, sig.PrimaryFingerprint, sig.KeyFingerprint, entry)
	d.SignedAt = sig.Created.UTC().Format(time.RFC3339)
	if entry.Role == root.RoleIndex {
		d.Status = StatusWrongRole
		d.Reason = fmt.Sprintf("wrong role: signed by index key %s, which signs the repository's keyctl-index.json and never a chart", sig.PrimaryFingerprint)
		return &judged{d: d, sigFailed: true}
	}
	removed := entry.Status == root.Removed
	if removed && entry.Reason != root.Retired && entry.Reason != root.Superseded {
		d.Status = StatusRemovedCompromised
		d.Reason = fmt.Sprintf("signed by removed key %s (compromised since %s): every signature by a compromised key is untrusted",
			sig.PrimaryFingerprint, entry.Effective.UTC().Format(time.RFC3339))
		return &judged{d: d, sigFailed: true}
	}
	if !InScope(entry.Scopes, chart) {
		d.Status = StatusOutOfScope
		d.Reason = fmt.Sprintf("key %s may sign only charts matching %s, not %q", sig.PrimaryFingerprint, joinOr(entry.Scopes, ""), chart)
		return &judged{d: d}
	}
	if !removed && sig.ValidNow {
		d.Status, d.Trusted = StatusTrusted, true
		d.Reason = "signed by active key " + sig.PrimaryFingerprint
		return &judged{d: d}
	}
	// A (sub)key no longer valid today (expired, or revoked by its own
	// certificate) is judged like a soft removal effective when it stopped
	// being valid: the signature's date is the signer's, so only a ledger
	// time from before then keeps it trusted. For a removed key the earlier
	// of that time and the removal's effective time counts.
	reason, effective, status := string(entry.Reason), entry.Effective, removedStatus(entry.Reason)
	expired, what := false, "removed key"
	if !sig.ValidNow && (!removed || sig.InvalidSince.Before(effective)) {
		effective = sig.InvalidSince
		if !removed {
			switch sig.InvalidReason {
			case provenance.InvalidExpired:
				expired, reason, status = true, policy.ReasonExpired, StatusKeyExpired
				d.KeyExpires = sig.InvalidSince.UTC().Format(time.RFC3339)
			case provenance.InvalidSuperseded, provenance.InvalidRetired:
				reason, status = sig.InvalidReason, removedStatus(root.Reason(sig.InvalidReason))
				what = "key " + sig.KeyFingerprint + ", revoked as " + sig.InvalidReason + " by its certificate, of active key"
			default:
				// A hard revocation fails verification; what is left is
				// a cause keyctl cannot date: never trusted.
				d.Status = StatusBadSignature
				d.Reason = fmt.Sprintf("signed by key %s, which is no longer valid (%s since %s): keyctl cannot tell it was valid when it signed",
					sig.KeyFingerprint, sig.InvalidReason, sig.InvalidSince.UTC().Format(time.RFC3339))
				return &judged{d: d}
			}
		}
	}
	var fs *time.Time
	if firstSeen != nil {
		fs = firstSeen(effective)
	}
	source := policy.TimeLedger
	if indexSeen != nil && (fs == nil || indexSeen.Before(*fs)) {
		fs, source = indexSeen, policy.TimeIndex
	}
	if fs != nil {
		d.FirstSeen = fs.UTC().Format(time.RFC3339)
	}
	d.Status = status
	j := policy.JudgeRemovalBy(reason, effective, sig.Created, fs, source)
	d.Trusted, d.TimeSource = j.Trusted, string(j.TimeSource)
	switch {
	case j.Trusted:
		d.Reason = fmt.Sprintf("signed by key %s, %s", sig.PrimaryFingerprint, j.Detail)
	case expired:
		d.Reason = fmt.Sprintf("signed by expired key %s: %s", sig.PrimaryFingerprint, j.Detail)
	default:
		d.Reason = fmt.Sprintf("signed by %s %s: %s", what, sig.PrimaryFingerprint, j.Detail)
	}
	return &judged{d: d}
}

func badSignature(ks KeySet, now time.Time, d *Decision, err error) *Decision {
	d.Status, d.Trusted = StatusBadSignature, false
	d.Reason = reasonOf(err)
	var se *provenance.SignatureError
	if errors.As(err, &se) {
		if entry, ok := ks.KeyEntry(se.PrimaryFingerprint); ok {
			describeSigner(ks, now, d, se.PrimaryFingerprint, "", entry)
		}
	}
	return d
}

func describeSigner(ks KeySet, now time.Time, d *Decision, primary, key string, entry root.KeyEntry) {
	d.Signer, d.SigningKey = primary, key
	d.Subkey = key != "" && key != primary
	if n, ok := ks.(signerNamer); ok {
		d.SignerUID = n.SignerUID(primary, now)
	} else if e := ks.Entity(primary); e != nil {
		d.SignerUID = SignerUID(e, now)
	}
	d.KeyStatus, d.KeyReason = string(entry.Status), string(entry.Reason)
	if !entry.Effective.IsZero() {
		d.Effective = entry.Effective.UTC().Format(time.RFC3339)
	}
}

// SignerUID is the user ID shown for a signer: the first, in sorted
// order, of the user IDs its certificate certifies and has not revoked at
// now (pgpkey.ValidUserIDs), "" when there is none. A user ID the key's
// holder revoked, or one attached without a valid self-signature, is not
// shown as theirs.
func SignerUID(e *openpgp.Entity, now time.Time) string {
	if uids := pgpkey.ValidUserIDs(e, now, nil); len(uids) > 0 {
		return uids[0]
	}
	return ""
}

// signerNamer is a KeySet that names a key's holder itself: an audit's key
// set answers once per key, not once per release.
type signerNamer interface {
	SignerUID(fpr string, now time.Time) string
}

// removedStatus is the status of a removal reason; a reason this code does
// not know is hard, as policy.JudgeRemoval treats it.
func removedStatus(r root.Reason) string {
	switch r {
	case root.Retired:
		return StatusRemovedRetired
	case root.Superseded:
		return StatusRemovedSuperseded
	}
	return StatusRemovedCompromised
}

// reasonOf is the one-line message of a provenance error, without hints.
func reasonOf(err error) string { return err.Error() }

func joinOr(items []string, empty string) string {
	if len(items) == 0 {
		return empty
	}
	out := items[0]
	for _, s := range items[1:] {
		out += ", " + s
	}
	return out
}

// InScope reports whether chart matches one of the scope globs; it is
// policy.InScope, the one rule that the store, the client and the audit
// share.
func InScope(scopes []string, chart string) bool { return policy.InScope(scopes, chart) }
