package ring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"go.etcd.io/bbolt"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/policy"
)

// Status of a stored key.
type Status string

const (
	Active  Status = "active"
	Removed Status = "removed"
)

// Reason a key was removed (docs/verify.md).
type Reason string

const (
	// Compromised is hard: every signature by the key is untrusted.
	Compromised Reason = "compromised"
	// Retired and Superseded are soft: signatures first seen before the
	// effective time stay trusted.
	Retired    Reason = "retired"
	Superseded Reason = "superseded"
)

// ParseReason checks a --reason value for remove.
func ParseReason(s string) (Reason, error) {
	switch r := Reason(strings.ToLower(strings.TrimSpace(s))); r {
	case Compromised, Retired, Superseded:
		return r, nil
	}
	return "", fail.Inputf("unknown removal reason %q", s).
		WithHint("use --reason compromised (every signature untrusted), retired or superseded (earlier signatures stay trusted)")
}

// Role of a stored key: what it may sign.
type Role string

const (
	// Maintainer keys sign charts (the default).
	Maintainer Role = "maintainer"
	// Index keys sign keyctl-index.json statements over index.yaml, never
	// charts; they are published in indexkeys.pgp, not pubkeys.pgp.
	Index Role = "index"
)

// ParseRole checks a --role value: "" or maintainer, or index.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case "", Maintainer:
		return Maintainer, nil
	case Index:
		return Index, nil
	}
	return "", fail.Inputf("unknown key role %q", s).
		WithHint("use --role maintainer (signs charts, the default) or --role index (signs keyctl-index.json, see docs/verify.md)")
}

// RoleOf is a key's role; records written before roles existed have none
// and are maintainer keys.
func (k *Key) RoleOf() Role {
	if k.Role == "" {
		return Maintainer
	}
	return k.Role
}

// SubkeyInfo describes a signing-capable (sub)key of a stored certificate.
type SubkeyInfo struct {
	Fingerprint string     `json:"fingerprint"`
	KeyID       string     `json:"key_id"`
	Algorithm   string     `json:"algorithm"`
	Primary     bool       `json:"primary"`
	Expires     *time.Time `json:"expires,omitempty"`
}

// Removal records why and when a key left the active set.
type Removal struct {
	Reason    Reason    `json:"reason"`
	Effective time.Time `json:"effective"`
	Time      time.Time `json:"time"`
	By        string    `json:"by"`
	Ticket    string    `json:"ticket,omitempty"`
	Note      string    `json:"note,omitempty"`
}

// Key is one stored maintainer certificate and what the store knows of it.
// The JSON form (without Cert) is the `keyctl list/show -o json` schema.
type Key struct {
	Fingerprint string       `json:"fingerprint"`
	KeyID       string       `json:"key_id"`
	UserIDs     []string     `json:"user_ids"`
	Algorithm   string       `json:"algorithm"`
	Created     time.Time    `json:"created"`
	Expires     *time.Time   `json:"expires,omitempty"`
	SigningKeys []SubkeyInfo `json:"signing_keys"`
	SubkeyIDs   []string     `json:"subkey_ids,omitempty"`
	Status      Status       `json:"status"`
	Scopes      []string     `json:"scopes,omitempty"`
	// Role is maintainer or index; records written before roles existed
	// have none (maintainer). List and Get fill it in.
	Role        Role       `json:"role,omitempty"`
	Reason      string     `json:"reason"`
	Ticket      string     `json:"ticket,omitempty"`
	RequestedBy string     `json:"requested_by,omitempty"`
	AddedBy     string     `json:"added_by"`
	Added       time.Time  `json:"added"`
	Updated     *time.Time `json:"updated,omitempty"`
	Removal     *Removal   `json:"removal,omitempty"`
	// Cert is the minimized public certificate (binary OpenPGP).
	Cert []byte `json:"cert,omitempty"`
}

// Entity parses the stored certificate.
func (k *Key) Entity() (*openpgp.Entity, error) {
	e, err := pgpkey.ReadCert(k.Cert)
	if err != nil {
		return nil, fmt.Errorf("stored certificate of %s: %w", k.Fingerprint, err)
	}
	return e, nil
}

// KeyIDLookup answers which stored certificate holds a 64-bit key ID. It has
// the shape of policy.KnownKeys.
type KeyIDLookup interface {
	FingerprintByKeyID(id uint64) (fpr string, ok bool)
}

// Linter checks a certificate before it is stored (the key policy). It runs
// inside the write transaction, so the key-ID collision check sees exactly
// what the store holds.
type Linter func(e *openpgp.Entity, known KeyIDLookup) error

// AddRequest carries the who/why of an add.
type AddRequest struct {
	// Role is Maintainer (also when empty) or Index.
	Role        Role
	Reason      string
	Scopes      []string
	Ticket      string
	RequestedBy string
	Actor       string
}

type txLookup struct{ b *bbolt.Bucket }

func (l txLookup) FingerprintByKeyID(id uint64) (string, bool) {
	v := l.b.Get([]byte(fmt.Sprintf("%016X", id)))
	if v == nil {
		return "", false
	}
	return string(v), true
}

// ValidateScopes checks chart-name globs (path.Match syntax).
func ValidateScopes(scopes []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, s := range scopes {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			return nil, fail.Inputf("scope %q contains '/': scopes are chart-name globs", s).
				WithHint("use a chart name or a glob such as 'nginx-*'")
		}
		if _, err := path.Match(s, "x"); err != nil {
			return nil, fail.Inputf("scope %q is not a valid glob", s).Wrap(err)
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out, nil
}

// InScope reports whether chart name is inside scopes (no scopes: any
// chart); it is policy.InScope.
func InScope(scopes []string, chart string) bool { return policy.InScope(scopes, chart) }

func describe(e *openpgp.Entity, now time.Time) (Key, error) {
	cert, err := pgpkey.SerializePublic(e, true)
	if err != nil {
		return Key{}, err
	}
	k := Key{
		Fingerprint: pgpkey.Fingerprint(e),
		KeyID:       pgpkey.KeyID(e.PrimaryKey),
		UserIDs:     pgpkey.ValidUserIDs(e, now, nil), // what the key says of its holder now
		Algorithm:   pgpkey.Algorithm(e.PrimaryKey),
		Created:     e.PrimaryKey.CreationTime.UTC(),
		Cert:        cert,
	}
	if exp, ok := pgpkey.Expiry(e, now, nil); ok && !exp.IsZero() {
		exp = exp.UTC()
		k.Expires = &exp
	}
	for _, sk := range pgpkey.SigningKeys(e, now, nil) {
		info := SubkeyInfo{Fingerprint: sk.Fingerprint, KeyID: pgpkey.KeyID(sk.PublicKey), Algorithm: pgpkey.Algorithm(sk.PublicKey), Primary: sk.IsPrimary}
		if !sk.Expires.IsZero() {
			t := sk.Expires.UTC()
			info.Expires = &t
		}
		k.SigningKeys = append(k.SigningKeys, info)
	}
	for _, s := range e.Subkeys {
		k.SubkeyIDs = append(k.SubkeyIDs, pgpkey.KeyID(s.PublicKey))
	}
	return k, nil
}

func getKey(tx *bbolt.Tx, fpr string) (*Key, error) {
	v := tx.Bucket(bKeys).Get([]byte(fpr))
	if v == nil {
		return nil, nil
	}
	var k Key
	if err := json.Unmarshal(v, &k); err != nil {
		return nil, fmt.Errorf("store record for %s is damaged: %w", fpr, err)
	}
	return &k, nil
}

func putKey(tx *bbolt.Tx, k *Key) error {
	v, err := json.Marshal(k)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bKeys).Put([]byte(k.Fingerprint), v); err != nil {
		return err
	}
	ids := tx.Bucket(bKeyIDs)
	for _, id := range append([]string{k.KeyID}, k.SubkeyIDs...) {
		if err := ids.Put([]byte(id), []byte(k.Fingerprint)); err != nil {
			return err
		}
	}
	return nil
}

func requireInit(tx *bbolt.Tx) error {
	if tx.Bucket(bMeta).Get(kRepository) == nil {
		return fail.Inputf("store is not initialized").Wrap(ErrNotInitialized).
			WithHint("run keyctl init --repository ID --root-key ROOT.pub first")
	}
	return nil
}

// Add lints and stores a maintainer certificate and logs the change.
func (s *Store) Add(e *openpgp.Entity, req AddRequest, lint Linter) (*Key, error) {
	if pgpkey.HasSecret(e) {
		return nil, fail.Untrustedf("the file holds secret key material (rule secret-key-material)").
			WithHint("export the public key only: gpg --armor --export FPR > maintainer.asc")
	}
	if strings.TrimSpace(req.Reason) == "" {
		return nil, fail.Inputf("--reason is required").WithHint("say why this key may sign, e.g. --reason 'new maintainer, approved in #123'")
	}
	scopes, err := ValidateScopes(req.Scopes)
	if err != nil {
		return nil, err
	}
	role, err := ParseRole(string(req.Role))
	if err != nil {
		return nil, err
	}
	if role == Index && len(scopes) > 0 {
		return nil, fail.Inputf("--scope applies to maintainer keys: an index key signs no chart").
			WithHint("add the index key without --scope")
	}
	now := s.Now()
	var out *Key
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if err := requireInit(tx); err != nil {
			return err
		}
		fpr := pgpkey.Fingerprint(e)
		old, err := getKey(tx, fpr)
		if err != nil {
			return err
		}
		if old != nil {
			if old.Status == Active {
				return fail.Inputf("key %s is already active (added %s by %s)", fpr, old.Added.Format(time.RFC3339), old.AddedBy).
					WithHint("to take in a newer copy (new expiry, subkey or user ID) use: keyctl update KEYFILE --reason TEXT")
			}
			return fail.Untrustedf("key %s was removed (%s) on %s and cannot come back", fpr, old.Removal.Reason, old.Removal.Time.Format(time.RFC3339)).
				WithHint("a removed key stays removed so that audits stay true; the maintainer should make a new key")
		}
		if lint != nil {
			if err := lint(e, txLookup{tx.Bucket(bKeyIDs)}); err != nil {
				return err
			}
		}
		// Even without a linter, two certificates must never share a key ID:
		// the keyids index maps each ID to one certificate.
		lookup := txLookup{tx.Bucket(bKeyIDs)}
		for _, id := range pgpkey.AllKeyIDs(e) {
			if other, ok := lookup.FingerprintByKeyID(id); ok && other != fpr {
				return fail.Untrustedf("key ID %016X collides with stored key %s (rule keyid-collision)", id, other).
					WithHint("64-bit key IDs must be unique in the store; the maintainer should make a new key")
			}
		}
		clean := *e
		pgpkey.Clean(&clean)
		k, err := describe(&clean, now)
		if err != nil {
			return err
		}
		k.Status = Active
		k.Scopes = scopes
		if role == Index {
			k.Role = Index // maintainer records keep their pre-role form
		}
		k.Reason = req.Reason
		k.Ticket = req.Ticket
		k.RequestedBy = req.RequestedBy
		k.AddedBy = req.Actor
		k.Added = now
		if err := putKey(tx, &k); err != nil {
			return err
		}
		detail := ""
		if len(scopes) > 0 {
			detail = "scopes " + strings.Join(scopes, ",")
		}
		if req.RequestedBy != "" {
			detail = strings.TrimSpace(detail + " requested-by " + req.RequestedBy)
		}
		rec := LogRecord{Time: now, Action: "add", Fingerprint: fpr, Reason: req.Reason, Ticket: req.Ticket, Actor: req.Actor, Detail: detail, Role: k.Role}
		bind(tx, &rec, bKeys, []byte(fpr))
		if err := appendLog(tx, rec); err != nil {
			return err
		}
		out = &k
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateResult says what an update changed.
type UpdateResult struct {
	Key     *Key
	Changes []string
}

// Update takes in a newer copy of a stored certificate: same primary key,
// new self-signatures verified, merged with what the store had (nothing the
// store knew is dropped, so a revocation cannot be lost), linted again.
func (s *Store) Update(e *openpgp.Entity, reason, ticket, actor string, lint Linter) (*UpdateResult, error) {
	if pgpkey.HasSecret(e) {
		return nil, fail.Untrustedf("the file holds secret key material (rule secret-key-material)").
			WithHint("export the public key only: gpg --armor --export FPR > maintainer.asc")
	}
	if strings.TrimSpace(reason) == "" {
		return nil, fail.Inputf("--reason is required").WithHint("say why, e.g. --reason 'expiry extended to 2028'")
	}
	now := s.Now()
	var res *UpdateResult
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := requireInit(tx); err != nil {
			return err
		}
		fpr := pgpkey.Fingerprint(e)
		old, err := getKey(tx, fpr)
		if err != nil {
			return err
		}
		if old == nil {
			hint := "add it first with: keyctl add KEYFILE --reason TEXT"
			for _, uid := range pgpkey.UserIDs(e) {
				if other := findByUserID(tx, uid); other != "" {
					hint = fmt.Sprintf("stored key %s has the same user ID %q but a different primary key; a new key is added, not updated: keyctl add", other, uid)
					break
				}
			}
			return fail.Untrustedf("key %s is not in the store: update takes a newer copy of a stored key", fpr).WithHint(hint)
		}
		if old.Status != Active {
			return fail.Inputf("key %s was removed (%s); a removed key is not updated", fpr, old.Removal.Reason)
		}
		oldE, err := old.Entity()
		if err != nil {
			return err
		}
		merged := mergeCerts(oldE, e)
		pgpkey.Clean(merged)
		if lint != nil {
			if err := lint(merged, txLookup{tx.Bucket(bKeyIDs)}); err != nil {
				return err
			}
		}
		lookup := txLookup{tx.Bucket(bKeyIDs)}
		for _, id := range pgpkey.AllKeyIDs(merged) {
			if other, ok := lookup.FingerprintByKeyID(id); ok && other != fpr {
				return fail.Untrustedf("key ID %016X collides with stored key %s (rule keyid-collision)", id, other)
			}
		}
		k, err := describe(merged, now)
		if err != nil {
			return err
		}
		changes := diffKeys(old, &k)
		if len(changes) == 0 && bytes.Equal(k.Cert, old.Cert) {
			return fail.Inputf("key %s is unchanged: the file holds nothing the store does not have", fpr).
				WithHint("export the newer copy after changing it, e.g. gpg --quick-set-expire FPR 2y && gpg --armor --export FPR")
		}
		if len(changes) == 0 {
			changes = []string{"signatures refreshed"}
		}
		k.Status, k.Scopes, k.Reason, k.Ticket, k.RequestedBy, k.AddedBy, k.Added = old.Status, old.Scopes, old.Reason, old.Ticket, old.RequestedBy, old.AddedBy, old.Added
		k.Role = old.Role
		k.Updated = &now
		if err := putKey(tx, &k); err != nil {
			return err
		}
		rec := LogRecord{Time: now, Action: "update", Fingerprint: fpr, Reason: reason, Ticket: ticket, Actor: actor, Detail: strings.Join(changes, "; ")}
		bind(tx, &rec, bKeys, []byte(fpr))
		if err := appendLog(tx, rec); err != nil {
			return err
		}
		res = &UpdateResult{Key: &k, Changes: changes}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func findByUserID(tx *bbolt.Tx, uid string) string {
	found := ""
	_ = tx.Bucket(bKeys).ForEach(func(k, v []byte) error {
		var key Key
		if json.Unmarshal(v, &key) == nil {
			for _, u := range key.UserIDs {
				if u == uid {
					found = key.Fingerprint
					return errStop
				}
			}
		}
		return nil
	})
	return found
}

var errStop = errors.New("stop")

// mergeCerts returns the stored certificate with everything the incoming
// copy adds: revocations, direct signatures, user IDs, subkeys and their
// signatures. Nothing the store had is dropped, and a copy that adds
// nothing yields the stored bytes again.
func mergeCerts(stored, incoming *openpgp.Entity) *openpgp.Entity {
	m := *stored
	m.Identities = map[string]*openpgp.Identity{}
	for n, id := range stored.Identities {
		cp := *id
		m.Identities[n] = &cp
	}
	m.Revocations = mergeSigs(stored.Revocations, incoming.Revocations)
	m.DirectSignatures = mergeSigs(stored.DirectSignatures, incoming.DirectSignatures)
	for n, nid := range incoming.Identities {
		if id, ok := m.Identities[n]; ok {
			id.SelfCertifications = mergeSigs(id.SelfCertifications, nid.SelfCertifications)
			id.Revocations = mergeSigs(id.Revocations, nid.Revocations)
		} else {
			cp := *nid
			cp.Primary = &m
			cp.OtherCertifications = nil
			m.Identities[n] = &cp
		}
	}
	m.Subkeys = append([]openpgp.Subkey(nil), stored.Subkeys...)
	for _, ns := range incoming.Subkeys {
		found := false
		for i := range m.Subkeys {
			if bytes.Equal(m.Subkeys[i].PublicKey.Fingerprint, ns.PublicKey.Fingerprint) {
				m.Subkeys[i].Bindings = mergeSigs(m.Subkeys[i].Bindings, ns.Bindings)
				m.Subkeys[i].Revocations = mergeSigs(m.Subkeys[i].Revocations, ns.Revocations)
				found = true
			}
		}
		if !found {
			ns.Primary = &m
			m.Subkeys = append(m.Subkeys, ns)
		}
	}
	return &m
}

func sigBytes(s *packet.Signature) []byte {
	var b bytes.Buffer
	if err := s.Serialize(&b); err != nil {
		return nil
	}
	return b.Bytes()
}

func mergeSigs(a, b []*packet.VerifiableSignature) []*packet.VerifiableSignature {
	out := append([]*packet.VerifiableSignature(nil), a...)
	seen := map[string]bool{}
	for _, s := range a {
		seen[string(sigBytes(s.Packet))] = true
	}
	for _, s := range b {
		k := string(sigBytes(s.Packet))
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}

func fmtExp(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.Format("2006-01-02")
}

func diffKeys(old, new *Key) []string {
	var ch []string
	if fmtExp(old.Expires) != fmtExp(new.Expires) {
		ch = append(ch, fmt.Sprintf("expiry %s -> %s", fmtExp(old.Expires), fmtExp(new.Expires)))
	}
	has := func(list []string, x string) bool {
		for _, y := range list {
			if y == x {
				return true
			}
		}
		return false
	}
	for _, u := range new.UserIDs {
		if !has(old.UserIDs, u) {
			ch = append(ch, "user ID added: "+u)
		}
	}
	for _, id := range new.SubkeyIDs {
		if !has(old.SubkeyIDs, id) {
			ch = append(ch, "subkey added: "+id)
		}
	}
	oldSign, newSign := map[string]bool{}, map[string]bool{}
	for _, s := range old.SigningKeys {
		oldSign[s.KeyID] = true
	}
	for _, s := range new.SigningKeys {
		newSign[s.KeyID] = true
		if !oldSign[s.KeyID] && has(old.SubkeyIDs, s.KeyID) {
			ch = append(ch, "signing key now valid: "+s.KeyID)
		}
	}
	for id := range oldSign {
		if !newSign[id] {
			ch = append(ch, "signing key no longer valid (revoked or expired): "+id)
		}
	}
	return ch
}

// Resolve maps a user-typed fingerprint (full, spaced, or 16-hex key ID of
// the primary or a subkey) to a stored fingerprint.
func (s *Store) Resolve(query string) (string, error) {
	q, err := pgpkey.ParseFingerprint(query)
	if err != nil {
		return "", fail.Inputf("%v", err).WithHint("list stored keys with: keyctl list --all")
	}
	var fpr string
	err = s.db.View(func(tx *bbolt.Tx) error {
		if len(q) == 16 {
			if v := tx.Bucket(bKeyIDs).Get([]byte(q)); v != nil {
				fpr = string(v)
			}
			return nil
		}
		if tx.Bucket(bKeys).Get([]byte(q)) != nil {
			fpr = q
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if fpr == "" {
		return "", fail.Inputf("no stored key matches %s", q).WithHint("list stored keys with: keyctl list --all")
	}
	return fpr, nil
}

// Get returns one stored key by fingerprint or key ID.
func (s *Store) Get(query string) (*Key, error) {
	fpr, err := s.Resolve(query)
	if err != nil {
		return nil, err
	}
	var k *Key
	err = s.db.View(func(tx *bbolt.Tx) error {
		k, err = getKey(tx, fpr)
		return err
	})
	if k != nil {
		k.Role = k.RoleOf()
	}
	return k, err
}

// List returns the stored keys sorted by fingerprint: active ones, or all
// with all set.
func (s *Store) List(all bool) ([]*Key, error) {
	var out []*Key
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bKeys).ForEach(func(_, v []byte) error {
			var k Key
			if err := json.Unmarshal(v, &k); err != nil {
				return fmt.Errorf("a store record is damaged: %w", err)
			}
			if all || k.Status == Active {
				k.Role = k.RoleOf()
				out = append(out, &k)
			}
			return nil
		})
	})
	return out, err
}

// FingerprintByKeyID implements KeyIDLookup on a committed snapshot.
func (s *Store) FingerprintByKeyID(id uint64) (string, bool) {
	var fpr string
	_ = s.db.View(func(tx *bbolt.Tx) error {
		fpr, _ = txLookup{tx.Bucket(bKeyIDs)}.FingerprintByKeyID(id)
		return nil
	})
	return fpr, fpr != ""
}

// RemoveRequest carries the who/why of a removal.
type RemoveRequest struct {
	Reason    Reason
	Effective time.Time // zero: now; ignored (set to removal time) for compromised
	Ticket    string
	Note      string
	Actor     string
	// Revocation, when set, is the key's own revocation signature (e.g.
	// from GnuPG's openpgp-revocs.d); it is verified and kept with the key
	// so that `gpg --import revoked.pgp` marks it revoked.
	Revocation []byte
}

// Remove moves a key to the removed set. Nothing is deleted.
func (s *Store) Remove(query string, req RemoveRequest) (*Key, error) {
	fpr, err := s.Resolve(query)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	eff := req.Effective.UTC()
	if req.Reason == Compromised || eff.IsZero() {
		eff = now
	}
	if eff.After(now.Add(time.Minute)) {
		return nil, fail.Inputf("effective time %s is in the future", eff.Format(time.RFC3339)).
			WithHint("remove the key when the change takes effect; --effective may only name a past time")
	}
	var out *Key
	err = s.db.Update(func(tx *bbolt.Tx) error {
		k, err := getKey(tx, fpr)
		if err != nil {
			return err
		}
		if k.Status == Removed {
			return fail.Inputf("key %s is already removed (%s on %s)", fpr, k.Removal.Reason, k.Removal.Time.Format(time.RFC3339))
		}
		if len(req.Revocation) > 0 {
			cert, err := attachRevocation(k, req.Revocation)
			if err != nil {
				return err
			}
			k.Cert = cert
		}
		k.Status = Removed
		k.Removal = &Removal{Reason: req.Reason, Effective: eff, Time: now, By: req.Actor, Ticket: req.Ticket, Note: req.Note}
		if err := putKey(tx, k); err != nil {
			return err
		}
		detail := "effective " + eff.Format(time.RFC3339)
		if req.Reason == Compromised {
			detail = "hard: every signature untrusted"
		}
		if len(req.Revocation) > 0 {
			detail += "; own revocation signature attached"
		}
		rec := LogRecord{Time: now, Action: "remove", Fingerprint: fpr, Reason: string(req.Reason), Ticket: req.Ticket, Actor: req.Actor, Detail: detail}
		bind(tx, &rec, bKeys, []byte(fpr))
		if err := appendLog(tx, rec); err != nil {
			return err
		}
		out = k
		return nil
	})
	return out, err
}

func attachRevocation(k *Key, data []byte) ([]byte, error) {
	e, err := k.Entity()
	if err != nil {
		return nil, err
	}
	bin, err := pgpkey.Dearmor(data)
	if err != nil {
		return nil, fail.Inputf("cannot read the revocation certificate").Wrap(err)
	}
	r := packet.NewReader(bytes.NewReader(bin))
	added := 0
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		sig, ok := p.(*packet.Signature)
		if !ok || sig.SigType != packet.SigTypeKeyRevocation {
			continue
		}
		if err := e.PrimaryKey.VerifyRevocationSignature(sig); err != nil {
			return nil, fail.Untrustedf("the revocation signature does not verify against key %s", k.Fingerprint).Wrap(err)
		}
		e.Revocations = append(e.Revocations, packet.NewVerifiableSig(sig))
		added++
	}
	if added == 0 {
		return nil, fail.Inputf("the file holds no key revocation signature").
			WithHint("GnuPG keeps one per key in ~/.gnupg/openpgp-revocs.d/FPR.rev (remove the ':' before the armor line)")
	}
	return pgpkey.SerializePublic(e, true)
}

// Keyring returns the binary keyring of the keys (as List returns them,
// sorted by fingerprint) with the given status: pubkeys.pgp (Active: the
// active maintainer keys only, so that `helm verify --keyring pubkeys.pgp`
// never accepts a chart signed by an index key) or revoked.pgp (Removed:
// every removed key, whatever its role).
func Keyring(keys []*Key, status Status) []byte {
	var buf bytes.Buffer
	for _, k := range keys {
		if k.Status == status && (status != Active || k.RoleOf() == Maintainer) {
			buf.Write(k.Cert)
		}
	}
	return buf.Bytes()
}

// IndexKeyring returns the binary keyring of the active index keys
// (indexkeys.pgp), nil when there are none.
func IndexKeyring(keys []*Key) []byte {
	var buf bytes.Buffer
	for _, k := range keys {
		if k.Status == Active && k.RoleOf() == Index {
			buf.Write(k.Cert)
		}
	}
	return buf.Bytes()
}
