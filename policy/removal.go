package policy

import (
	"fmt"
	"path"
	"time"
)

// Removal reasons (docs/verify.md).
const (
	ReasonCompromised = "compromised" // hard: every signature untrusted
	ReasonRetired     = "retired"     // soft
	ReasonSuperseded  = "superseded"  // soft
	// ReasonExpired is not a removal a team lead records: a key still
	// listed active that has expired since it signed is judged like a soft
	// removal effective at its expiry time.
	ReasonExpired = "expired"
)

// TimeSource says what a judgement about a signature's time rests on.
type TimeSource string

const (
	// TimeLedger is the team lead's first-seen record of the release,
	// which a signer cannot forge.
	TimeLedger TimeSource = "ledger"
	// TimeSignature is the signature's own creation time: the signer sets
	// it, so on its own it never keeps a removed key's signature trusted.
	TimeSignature TimeSource = "signature"
	// TimeIndex is the first-seen time a verified signed index statement
	// (keyctl-index.json) gives the release for exactly the .prov bytes
	// judged: signed by an index key, which a chart signer does not hold,
	// and bound to the .prov, so a signature made later gets none.
	TimeIndex TimeSource = "signed-index"
)

// Describe is how text output names a time source.
func (t TimeSource) Describe() string {
	switch t {
	case TimeLedger:
		return "ledger first-seen time"
	case TimeSignature:
		return "signature time, self-asserted, not verified"
	case TimeIndex:
		return "signed index first-seen time"
	}
	return ""
}

// Judgement is the removal rule's answer for one signature by a removed key.
type Judgement struct {
	Trusted    bool
	TimeSource TimeSource // empty for compromised keys: time does not matter
	Detail     string
}

// JudgeRemoval applies the removal rule of docs/verify.md to a signature made (by its own claim) at
// signedAt with a key removed for reason, effective at effective, for a
// release whose first-seen record matching its bytes is firstSeen (nil
// when the ledger has none).
//
// Compromised — and any reason this code does not know — is hard: never
// trusted. Retired, superseded and expired are soft: the signature stays trusted
// only when the first-seen time and the signature time both precede the
// effective time. The signature time alone never suffices.
func JudgeRemoval(reason string, effective, signedAt time.Time, firstSeen *time.Time) Judgement {
	return JudgeRemovalBy(reason, effective, signedAt, firstSeen, TimeLedger)
}

// JudgeRemovalBy is JudgeRemoval with firstSeen taken from source:
// TimeLedger (the store's first-seen record) or TimeIndex (the first-seen
// time a signed index statement gives these exact .prov bytes). Both are
// times the signer cannot forge.
func JudgeRemovalBy(reason string, effective, signedAt time.Time, firstSeen *time.Time, source TimeSource) Judgement {
	saw := "the ledger saw this release first at"
	if source == TimeIndex {
		saw = "the signed index (keyctl-index.json) saw this release's .prov first at"
	} else {
		source = TimeLedger
	}
	eff := effective.UTC().Format(time.RFC3339)
	if reason != ReasonRetired && reason != ReasonSuperseded && reason != ReasonExpired {
		why := "compromised"
		if reason != ReasonCompromised {
			why = fmt.Sprintf("for unknown reason %q, treated as compromised", reason)
		}
		return Judgement{Detail: fmt.Sprintf("key removed %s (effective %s): every signature by a compromised key is untrusted", why, eff)}
	}
	signed := signedAt.UTC().Format(time.RFC3339)
	if firstSeen != nil {
		fs := firstSeen.UTC().Format(time.RFC3339)
		switch {
		case !signedAt.Before(effective):
			return Judgement{TimeSource: source, Detail: fmt.Sprintf("key %s since %s; signed at %s, after the removal", reason, eff, signed)}
		case firstSeen.Before(effective):
			return Judgement{Trusted: true, TimeSource: source,
				Detail: fmt.Sprintf("key %s since %s; %s %s, before that", reason, eff, saw, fs)}
		}
		return Judgement{TimeSource: source, Detail: fmt.Sprintf("key %s since %s; %s %s, not before that", reason, eff, saw, fs)}
	}
	when := "before"
	if !signedAt.Before(effective) {
		when = "not before"
	}
	return Judgement{TimeSource: TimeSignature,
		Detail: fmt.Sprintf("key %s since %s; the signature is dated %s, %s that, but the signer sets that date: unverified, no ledger record or signed index entry for this .prov backs it", reason, eff, signed, when)}
}

// InScope reports whether a chart name matches one of a key's scope globs
// (path.Match syntax); no scopes means every chart.
func InScope(scopes []string, chart string) bool {
	if len(scopes) == 0 {
		return true
	}
	for _, s := range scopes {
		if ok, _ := path.Match(s, chart); ok {
			return true
		}
	}
	return false
}
