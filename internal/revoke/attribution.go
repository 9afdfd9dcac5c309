package revoke

import (
	"fmt"
	"sort"
	"time"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/ring"
)

// Attribution and completeness: what the repository serves is not the
// only witness of who signed what. The store's ledger (keyctl ledger
// record) saw each release with its signer; whoever controls the
// repository can delete or replace a .prov, or leave a release out of
// index.yaml, but cannot change that record. The signature verdicts stay
// client.Decide's; this only decides whom a release is attributed to and
// whether the listing is complete.

// attributeFromLedger attributes a release that no known key verifies to
// the signer its ledger record names: a release recorded signed whose
// .prov is now missing is prov-missing, one whose .prov is now another
// that no known key verifies (unknown signer, unreadable) is prov-changed.
// Either way --key for the recorded signer lists it.
func attributeFromLedger(r *Result, opts Options) {
	if r.SignerVerified || r.Status == Trusted {
		return
	}
	le, ok := opts.Ledger[[2]string{r.Chart, r.Version}]
	if !ok {
		return
	}
	rec := le.Current()
	if rec.Signer == "" {
		// First seen unsigned: the ledger names no signer. The same
		// archive, still unsigned, is attributed to nobody: no key
		// signed it.
		r.ledgerUnsigned = r.Status == Unsigned && rec.ProvSHA256 == "" && r.ArchiveSHA256 != "" && r.ArchiveSHA256 == rec.ArchiveSHA256
		return
	}
	r.LedgerSigner, r.Ledger = rec.Signer, &le
	attributeTo(r, rec.Signer, opts.Keys)
	who := fmt.Sprintf("the ledger recorded it signed by %s (first seen %s)", describeKey(rec.Signer, opts.Keys), rec.FirstSeen.UTC().Format(time.RFC3339))
	switch {
	case r.Status == Unsigned:
		r.Status = ProvMissing
		r.Detail = joinDetail(who, r.Detail) // "no .prov file next to the archive"
	case (r.Status == UnknownSigner || r.Status == Invalid) && r.ProvSHA256 != rec.ProvSHA256:
		r.Detail = joinDetail(fmt.Sprintf("%s; the .prov served now (sha256 %s) is another one that no known key verifies", who, short(r.ProvSHA256)), r.Detail)
		r.Status = ProvChanged
	default:
		r.Detail = joinDetail(r.Detail, who)
	}
	if r.ArchiveSHA256 != "" && rec.ArchiveSHA256 != "" && r.ArchiveSHA256 != rec.ArchiveSHA256 {
		r.Detail = joinDetail(r.Detail, fmt.Sprintf("the archive differs from the ledger's record too (sha256 %s; recorded %s)", short(r.ArchiveSHA256), short(rec.ArchiveSHA256)))
	}
}

// attributeTo links r to signer (a fingerprint or key ID from the ledger)
// for --key, and to its removal for --removed.
func attributeTo(r *Result, signer string, ks *KeySet) {
	if k := ks.Lookup(signer); k != nil {
		r.ids = append(r.ids, certIDs(k)...)
		if !k.Active && !r.Removed {
			r.Removed, r.Reason = true, string(k.Reason)
		}
		return
	}
	r.ids = append(r.ids, signer)
	if id := pgpkey.KeyIDOfFingerprint(signer); id != "" {
		r.ids = append(r.ids, id)
	}
}

// signerUnknown reports whether nothing tells who signed r: no known key
// verifies it, and neither a removed key's claim nor the ledger names a
// signer, nor does it record the same archive unsigned. Under --key or --removed such a release cannot be excluded.
func signerUnknown(r *Result) bool {
	if r.SignerVerified || r.LedgerSigner != "" || r.ledgerUnsigned {
		return false
	}
	switch r.Status {
	case Trusted, Compromised, RemovedKey, KeyExpired:
		return false
	}
	return true
}

// missingFromIndex is a result for every ledger record of a chart in scope
// (nil: every chart) that the listing did not have.
func missingFromIndex(listed map[[2]string]bool, opts Options, scope map[string]bool) []Result {
	var keys [][2]string
	for k := range opts.Ledger {
		if !listed[k] && (scope == nil || scope[k[0]]) {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	out := make([]Result, 0, len(keys))
	for _, k := range keys {
		le := opts.Ledger[k]
		rec := le.Current()
		first := le.FirstSeen.UTC()
		r := Result{Chart: le.Chart, Version: le.Version, Status: MissingFromIndex, LedgerSigner: rec.Signer, Ledger: &le, FirstSeen: &first}
		signed := "unsigned"
		if rec.Signer != "" {
			attributeTo(&r, rec.Signer, opts.Keys)
			signed = "signed by " + describeKey(rec.Signer, opts.Keys)
		}
		src := ""
		if le.Source != "" {
			src = " from " + le.Source
		}
		r.Detail = fmt.Sprintf("the ledger recorded it (first seen %s%s, %s, archive sha256 %s) but the listing no longer has it", first.Format(time.RFC3339), src, signed, short(le.ArchiveSHA256))
		out = append(out, r)
	}
	return out
}

// describeKey names a recorded signer and its state in the key set.
func describeKey(signer string, ks *KeySet) string {
	k := ks.Lookup(signer)
	switch {
	case k == nil:
		return "unknown key " + signer
	case k.Active:
		return "active key " + k.Fingerprint
	}
	return string(k.Reason) + " key " + k.Fingerprint
}

// ledgerWhy is the worklist entry of a release attributed by the ledger.
func ledgerWhy(r *Result) string {
	rec := ring.LedgerEntry{}
	if r.Ledger != nil {
		rec = r.Ledger.Current()
	}
	sum := short(rec.ArchiveSHA256)
	switch r.Status {
	case ProvMissing:
		return fmt.Sprintf("recorded signed by %s, its .prov is no longer served: check the archive against its source and the ledger's sha256 %s, then re-sign with an active key", orNone(r.LedgerSigner), sum)
	case ProvChanged:
		return fmt.Sprintf("recorded signed by %s, its .prov was replaced by one no known key verifies: check the archive against its source and the ledger's sha256 %s, then re-sign with an active key", orNone(r.LedgerSigner), sum)
	}
	signed := "unsigned"
	if r.LedgerSigner != "" {
		signed = "signed by " + r.LedgerSigner
	}
	return fmt.Sprintf("recorded in the ledger (first seen %s, %s, archive sha256 %s) but missing from the listing: find out why the host stopped listing it; where the archive is still served, check it against the ledger's sha256, then re-sign with an active key and restore its index entry",
		rec.FirstSeen.UTC().Format(time.RFC3339), signed, sum)
}
