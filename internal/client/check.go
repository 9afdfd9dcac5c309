package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/policy"
)

// Status of a chart release (SPEC §3.4-3.5, §4 audit).
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
)

// Where a signing time comes from.
const (
	TimeLedger       = string(policy.TimeLedger)
	TimeSelfAsserted = string(policy.TimeSignature)
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

// Check decides whether the release in archive (read with
// provenance.ReadArchive from a file named archiveName) is trusted with
// .prov p. firstSeen is the release's first-seen time from the team
// lead's ledger, nil when unknown. p nil means the release is unsigned.
func (t *Trusted) Check(p *provenance.Prov, archiveName string, archive *provenance.Archive, firstSeen *time.Time) *Decision {
	var sum []byte
	if archive != nil {
		sum = archive.SHA256[:]
	}
	return t.check(p, archiveName, sum, archive, firstSeen)
}

// CheckDigest is Check when only the archive's SHA-256 is known (sum) or
// nothing of it (sum nil: the .prov alone, as audit --prov-only does). The
// chart name and version inside the archive are not compared.
func (t *Trusted) CheckDigest(p *provenance.Prov, archiveName string, sum []byte, firstSeen *time.Time) *Decision {
	return t.check(p, archiveName, sum, nil, firstSeen)
}

func (t *Trusted) verifyConfig() *policy.VerifyPolicy {
	v := policy.DefaultVerify()
	return &v
}

func (t *Trusted) check(p *provenance.Prov, archiveName string, sum []byte, archive *provenance.Archive, firstSeen *time.Time) *Decision {
	d := &Decision{ArchiveChecked: sum != nil}
	if sum != nil {
		d.ArchiveSHA256 = fmt.Sprintf("%x", sum)
	}
	if firstSeen != nil {
		d.FirstSeen = firstSeen.UTC().Format(time.RFC3339)
	}
	if p == nil {
		d.Status, d.Reason = StatusUnsigned, "no provenance file"
		return d
	}
	d.Chart, d.Version = p.Name, p.Version
	cfg := t.verifyConfig().PacketConfig(t.Now)

	// Only the certificates the signature names are parsed; a signature
	// that names none is checked against every key.
	var ids []string
	for _, is := range p.Issuers() {
		for _, id := range []string{is.Fingerprint, is.KeyID} {
			if id != "" {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		ids = nil
	}
	active, err := t.keys(root.Active, ids)
	if err != nil {
		return t.badSignature(d, err)
	}
	sig, err := p.Verify(active, cfg)
	removed := false
	if err != nil {
		if _, unknown := provenance.IsUnknownSigner(err); !unknown {
			return t.badSignature(d, err)
		}
		// Not an active key: perhaps a removed one, to name it.
		removedKeys, kerr := t.keys(root.Removed, ids)
		if kerr != nil {
			return t.badSignature(d, kerr)
		}
		rsig, rerr := p.Verify(removedKeys, cfg)
		switch {
		case rerr == nil:
			sig, removed = rsig, true
		default:
			if issuers, unknown := provenance.IsUnknownSigner(rerr); unknown {
				d.Status = StatusUnknownSigner
				for _, is := range issuers {
					d.Issuers = append(d.Issuers, is.String())
				}
				d.Reason = "signed by a key that is not in the repository's keyring: " + joinOr(d.Issuers, "(no issuer)")
				return d
			}
			var se *provenance.SignatureError
			if errors.As(rerr, &se) {
				// The certificate of a removed key matched but the signature
				// is not valid with it (often: the key carries its own
				// revocation). It is still the removed key's signature claim.
				if entry, ok := t.Manifest.Key(se.PrimaryFingerprint); ok && entry.Status == root.Removed {
					t.describeSigner(d, se.PrimaryFingerprint, "", entry)
					d.Status = removedStatus(entry.Reason)
					d.Reason = fmt.Sprintf("signed by removed key %s (%s)", se.PrimaryFingerprint, entry.Reason)
					d.Detail = "the signature does not verify with the removed key either: " + se.Err.Error()
					return d
				}
			}
			return t.badSignature(d, rerr)
		}
	}
	entry, ok := t.Manifest.Key(sig.PrimaryFingerprint)
	if !ok {
		d.Status, d.Reason = StatusUnknownSigner, "signed by "+sig.PrimaryFingerprint+", which the manifest does not list"
		return d
	}
	t.describeSigner(d, sig.PrimaryFingerprint, sig.KeyFingerprint, entry)
	d.SignedAt = sig.Created.UTC().Format(time.RFC3339)
	if !sig.ValidNow && !removed {
		d.Detail = "the signing key is no longer valid today (expired or revoked since it signed); the signature was made while it was valid"
	}

	if removed && entry.Reason == root.Compromised {
		d.Status = StatusRemovedCompromised
		d.Reason = fmt.Sprintf("signed by removed key %s (compromised since %s): every signature by a compromised key is untrusted",
			sig.PrimaryFingerprint, entry.Effective.UTC().Format(time.RFC3339))
		return d
	}
	if sum != nil {
		if err := p.CheckArchive(archiveName, sum); err != nil {
			d.Status, d.Reason = StatusHashMismatch, reasonOf(err)
			return d
		}
	}
	if archive != nil {
		if err := p.CheckChart(archive); err != nil {
			d.Status, d.Reason = StatusNameMismatch, reasonOf(err)
			return d
		}
	}
	if !InScope(entry.Scopes, p.Name) {
		d.Status = StatusOutOfScope
		d.Reason = fmt.Sprintf("key %s may sign only charts matching %s, not %q", sig.PrimaryFingerprint, joinOr(entry.Scopes, ""), p.Name)
		return d
	}
	if !removed {
		d.Status, d.Trusted = StatusTrusted, true
		d.Reason = "signed by active key " + sig.PrimaryFingerprint
		if !d.ArchiveChecked {
			d.Reason += " (provenance file only; the archive was not checked)"
		}
		return d
	}

	// Soft removal: trusted only when the ledger proves the release existed
	// before the removal took effect (policy.JudgeRemoval, shared with audit).
	d.Status = removedStatus(entry.Reason)
	j := policy.JudgeRemoval(string(entry.Reason), entry.Effective, sig.Created, firstSeen)
	d.Trusted, d.TimeSource = j.Trusted, string(j.TimeSource)
	if j.Trusted {
		d.Reason = fmt.Sprintf("signed by key %s, %s", sig.PrimaryFingerprint, j.Detail)
	} else {
		d.Reason = fmt.Sprintf("signed by removed key %s: %s", sig.PrimaryFingerprint, j.Detail)
	}
	return d
}

func (t *Trusted) badSignature(d *Decision, err error) *Decision {
	d.Status = StatusBadSignature
	d.Reason = reasonOf(err)
	var se *provenance.SignatureError
	if errors.As(err, &se) {
		if entry, ok := t.Manifest.Key(se.PrimaryFingerprint); ok {
			t.describeSigner(d, se.PrimaryFingerprint, "", entry)
		}
	}
	return d
}

func (t *Trusted) describeSigner(d *Decision, primary, key string, entry root.KeyEntry) {
	d.Signer, d.SigningKey = primary, key
	d.Subkey = key != "" && key != primary
	if e := t.Entity(primary); e != nil {
		if uids := pgpkey.UserIDs(e); len(uids) > 0 {
			d.SignerUID = uids[0]
		}
	}
	d.KeyStatus, d.KeyReason = string(entry.Status), string(entry.Reason)
	if !entry.Effective.IsZero() {
		d.Effective = entry.Effective.UTC().Format(time.RFC3339)
	}
}

func removedStatus(r root.Reason) string {
	switch r {
	case root.Compromised:
		return StatusRemovedCompromised
	case root.Retired:
		return StatusRemovedRetired
	}
	return StatusRemovedSuperseded
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
