package revoke

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/client"
	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/policy"
)

// Key is a maintainer key as the audit sees it: the certificate, whether it
// is active, its chart scopes and, for a removed key, why and from when.
type Key struct {
	Entity      *openpgp.Entity
	Fingerprint string
	Active      bool
	Scopes      []string
	Reason      ring.Reason // removed keys only
	Effective   time.Time   // removed keys only
	// Index marks an index key: it signs keyctl-index.json, never a
	// chart (client.Decide reports a chart it signed as wrong-role).
	Index bool

	warm sync.Once // warmEntity, before the certificate is first handed out

	named sync.Mutex // guards uid and uidAt
	uid   string     // the holder's name shown in the report, at uidAt
	uidAt time.Time  // zero: not worked out yet
}

// cert returns the key's certificate, every signature on it checked once
// (warmEntity) before any caller sees it.
func (k *Key) cert() *openpgp.Entity {
	k.warm.Do(func() { warmEntity(k.Entity, policy.DefaultVerify().PacketConfig(time.Now())) })
	return k.Entity
}

// warmEntity checks every self-signature, direct signature, binding and
// revocation of e, under the verify policy (cfg) and with no date, so that
// go-crypto's cached validity (VerifiableSignature.Valid) is written, and
// holds nothing time-dependent, before the audit's workers read it
// concurrently. go-crypto's own lookups stop at the newest signature that
// holds (an older self-signature, a later revocation stayed unchecked, and
// the first release to need it cached an answer for its own, possibly
// forged, date), so each signature is checked alone, through a copy of its
// owner that holds only it: the same go-crypto code, on the same shared
// VerifiableSignature.
func warmEntity(e *openpgp.Entity, cfg *packet.Config) {
	var undated time.Time
	alone := func(v *packet.VerifiableSignature) []*packet.VerifiableSignature {
		return []*packet.VerifiableSignature{v}
	}
	for _, v := range e.DirectSignatures {
		c := *e
		c.DirectSignatures = alone(v)
		_, _ = c.LatestValidDirectSignature(undated, cfg)
	}
	for _, v := range e.Revocations {
		c := *e
		c.Revocations = alone(v)
		c.Revoked(undated)
	}
	for _, id := range e.Identities {
		for _, v := range id.SelfCertifications {
			c := *id
			c.SelfCertifications = alone(v)
			_, _ = c.LatestValidSelfCertification(undated, cfg)
		}
		for _, v := range id.Revocations {
			c := *id
			c.Revocations = alone(v)
			c.Revoked(nil, undated, cfg)
		}
	}
	for i := range e.Subkeys {
		for _, v := range e.Subkeys[i].Bindings {
			c := e.Subkeys[i]
			c.Bindings = alone(v)
			_, _ = c.LatestValidBindingSignature(undated, cfg)
		}
		for _, v := range e.Subkeys[i].Revocations {
			c := e.Subkeys[i]
			c.Revocations = alone(v)
			c.Revoked(nil, undated)
		}
	}
}

// KeySet is the set of keys an audit judges signatures with: active and
// removed, from the team lead's store or from a verified published set.
type KeySet struct {
	keys  map[string]*Key // by primary fingerprint
	byID  map[string]*Key // by 16-hex key ID of the primary and every subkey
	order []string
}

// NewKeySet builds a key set. Two keys may not share a key ID (the store
// refuses that already; a published set could hold it).
func NewKeySet(keys []*Key) (*KeySet, error) {
	ks := &KeySet{keys: map[string]*Key{}, byID: map[string]*Key{}}
	for _, k := range keys {
		if k.Entity == nil {
			return nil, fmt.Errorf("key %s has no certificate", k.Fingerprint)
		}
		k.Fingerprint = pgpkey.Fingerprint(k.Entity)
		if _, dup := ks.keys[k.Fingerprint]; dup {
			continue
		}
		for _, id := range pgpkey.AllKeyIDs(k.Entity) {
			h := fmt.Sprintf("%016X", id)
			if other, ok := ks.byID[h]; ok && other != k {
				return nil, fail.Untrustedf("key ID %s is held by two keys, %s and %s", h, other.Fingerprint, k.Fingerprint)
			}
			ks.byID[h] = k
		}
		ks.keys[k.Fingerprint] = k
		ks.order = append(ks.order, k.Fingerprint)
	}
	return ks, nil
}

// FromStore builds the key set of the store's keys, active and removed.
func FromStore(keys []*ring.Key) (*KeySet, error) {
	out := make([]*Key, 0, len(keys))
	for _, rk := range keys {
		e, err := rk.Entity()
		if err != nil {
			return nil, err
		}
		k := &Key{Entity: e, Active: rk.Status == ring.Active, Scopes: rk.Scopes, Index: rk.RoleOf() == ring.Index}
		if rk.Status == ring.Removed {
			if rk.Removal == nil {
				return nil, fmt.Errorf("removed key %s has no removal record", rk.Fingerprint)
			}
			k.Reason, k.Effective = rk.Removal.Reason, rk.Removal.Effective
		}
		out = append(out, k)
	}
	return NewKeySet(out)
}

// FromManifest builds the key set of a verified published set: the
// manifest's key entries (status, reason, effective time, scopes) joined
// with the certificates of pubkeys.pgp and revoked.pgp. A certificate the
// manifest does not list, or lists with the other status, is refused.
func FromManifest(m *root.Manifest, active, removed openpgp.EntityList) (*KeySet, error) {
	entries := map[string]root.KeyEntry{}
	for _, e := range m.Keys {
		entries[e.Fingerprint] = e
	}
	var out []*Key
	add := func(list openpgp.EntityList, want root.Status) error {
		for _, e := range list {
			fpr := pgpkey.Fingerprint(e)
			me, ok := entries[fpr]
			if !ok || me.Status != want {
				return fail.Untrustedf("published keyring holds key %s that the manifest does not list as %s", fpr, want)
			}
			k := &Key{Entity: e, Active: want == root.Active, Scopes: me.Scopes, Index: me.Role == root.RoleIndex}
			if want == root.Removed {
				k.Reason, k.Effective = ring.Reason(me.Reason), me.Effective
			}
			out = append(out, k)
		}
		return nil
	}
	if err := add(active, root.Active); err != nil {
		return nil, err
	}
	if err := add(removed, root.Removed); err != nil {
		return nil, err
	}
	return NewKeySet(out)
}

// FromTrusted is FromManifest over a published set that internal/client
// loaded and checked.
func FromTrusted(t *client.Trusted) (*KeySet, error) {
	active, err := t.Active()
	if err != nil {
		return nil, err
	}
	removed, err := t.Removed()
	if err != nil {
		return nil, err
	}
	return FromManifest(t.Manifest, active, removed)
}

// Get returns the key with this primary fingerprint, or nil.
func (ks *KeySet) Get(fpr string) *Key { return ks.keys[fpr] }

// Lookup finds the key holding a primary or subkey with this fingerprint or
// 16-hex key ID.
func (ks *KeySet) Lookup(q string) *Key {
	q = strings.ToUpper(q)
	if k, ok := ks.keys[q]; ok {
		return k
	}
	if len(q) == 16 {
		return ks.byID[q]
	}
	if id := pgpkey.KeyIDOfFingerprint(q); id != "" {
		if k := ks.byID[id]; k != nil && hasFingerprint(k.Entity, q) {
			return k
		}
	}
	return nil
}

func hasFingerprint(e *openpgp.Entity, fpr string) bool {
	if pgpkey.Fingerprint(e) == fpr {
		return true
	}
	for _, s := range e.Subkeys {
		if pgpkey.FormatFingerprint(s.PublicKey.Fingerprint) == fpr {
			return true
		}
	}
	return false
}

// TimeSource says what a judgement about time rests on (policy.TimeSource).
type TimeSource = policy.TimeSource

const (
	// TimeLedger: the store's first-seen record, which a signer cannot forge.
	TimeLedger = policy.TimeLedger
	// TimeSignature: the signature's own creation time, set by the signer:
	// not enough to keep a signature trusted (docs/verify.md).
	TimeSignature = policy.TimeSignature
	// TimeIndex: the first-seen time a verified signed index gives these
	// exact .prov bytes.
	TimeIndex = policy.TimeIndex
)

// Certificates implements client.KeySet: the certificates of the active
// (or removed) keys holding one of ids; ids nil: all of them.
func (ks *KeySet) Certificates(status root.Status, ids []string) (openpgp.EntityList, error) {
	want := status == root.Active
	var out openpgp.EntityList
	seen := map[*Key]bool{}
	add := func(k *Key) {
		if k != nil && k.Active == want && !seen[k] {
			seen[k] = true
			out = append(out, k.cert())
		}
	}
	if ids == nil {
		for _, fpr := range ks.order {
			add(ks.keys[fpr])
		}
		return out, nil
	}
	for _, id := range ids {
		add(ks.Lookup(id))
	}
	return out, nil
}

// KeyEntry implements client.KeySet: the key's status, removal and scopes
// as a manifest entry.
func (ks *KeySet) KeyEntry(fpr string) (root.KeyEntry, bool) {
	k := ks.keys[fpr]
	if k == nil {
		return root.KeyEntry{}, false
	}
	e := root.KeyEntry{Fingerprint: k.Fingerprint, Status: root.Active, Scopes: k.Scopes}
	if k.Index {
		e.Role = root.RoleIndex
	}
	if !k.Active {
		e.Status, e.Reason, e.Effective = root.Removed, root.Reason(k.Reason), k.Effective
	}
	return e, true
}

// Entity implements client.KeySet.
func (ks *KeySet) Entity(fpr string) *openpgp.Entity {
	if k := ks.keys[fpr]; k != nil {
		return k.cert()
	}
	return nil
}

// SignerUID implements client's signer naming: the key's user ID shown in
// the report (client.SignerUID) at now, worked out once per key and time
// (one audit asks at one time) rather than with a self-signature check per
// release.
func (ks *KeySet) SignerUID(fpr string, now time.Time) string {
	k := ks.keys[fpr]
	if k == nil {
		return ""
	}
	e := k.cert()
	k.named.Lock()
	defer k.named.Unlock()
	if k.uidAt.IsZero() || !k.uidAt.Equal(now) {
		k.uid, k.uidAt = client.SignerUID(e, now), now
	}
	return k.uid
}

var _ client.KeySet = (*KeySet)(nil)
