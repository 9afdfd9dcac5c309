package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/root"
)

// keyringView is what the monitor keeps of the keyrings one logged
// manifest binds: the files' hashes and, per listed key, a summary of the
// certificate a client would judge it by. It holds no keyring bytes, so a
// walk keeps at most two views (the manifest before and this one).
type keyringView struct {
	files map[string]string       // bound file name → sha256
	keys  map[string]keyFiling    // listed fingerprint → what picks its copy
	certs map[string]*certSummary // listed primary fingerprint → its certificate
}

// keyFiling is what, besides the bound files, decides which copy of a
// key's certificate a client judges it by (addKeyring): its status and
// role in the manifest.
type keyFiling struct {
	status root.Status
	role   root.Role
}

// certSummary is one certificate: its hash, its valid key revocations and
// its subkeys (those with a valid binding) with their valid revocations.
type certSummary struct {
	sum     [sha256.Size]byte
	revs    []revocation
	subkeys map[string][]revocation // subkey fingerprint → revocations
	bad     string                  // why the certificate does not parse
}

// revocation is one valid revocation signature, named by the hash of its
// packet.
type revocation struct {
	id     string
	reason string
	at     time.Time
}

func (r revocation) describe() string {
	return fmt.Sprintf("revocation %s, reason %s, made %s", r.id, r.reason, fmtTime(r.at))
}

// monitorKeyring fetches a keyring a logged manifest binds, by its content
// hash (an old manifest's fixed-name copy has been replaced since), or at
// its fixed name when that copy is the one bound.
func monitorKeyring(ctx context.Context, b *publish.Bucket, m *root.Manifest, name string) ([]byte, error) {
	ref, ok := m.File(name)
	if !ok {
		return nil, fail.Untrustedf("manifest version %d does not bind %s", m.Version, name)
	}
	if ref.Length > pgpkey.MaxKeyringSize {
		return nil, fail.Untrustedf("manifest version %d says %s is %d bytes, more than the %d-byte limit", m.Version, name, ref.Length, pgpkey.MaxKeyringSize)
	}
	if ref.Length == 0 && m.CheckFile(name, nil) == nil {
		return nil, nil
	}
	var first error
	for _, p := range []string{root.ContentPath(ref.SHA256), name} {
		data, err := b.Get(ctx, p, ref.Length)
		if err == nil {
			if err = m.CheckFile(name, data); err == nil {
				return data, nil
			}
		} else if tl := (*publish.TooLargeError)(nil); !errors.Is(err, fs.ErrNotExist) && !errors.As(err, &tl) {
			return nil, err // I/O
		}
		if first == nil {
			first = err
		}
	}
	return nil, fail.Untrustedf("the %s that logged manifest version %d binds (sha256 %.12s) is not published", name, m.Version, ref.SHA256).Wrap(first).
		WithHint("every logged manifest's keyrings must stay at keyctl/sha256/HASH; see docs/runbook.md, section monitor raised an alarm")
}

// loadKeyringView reads the keyrings m binds and summarises the
// certificate of each key m lists, as a client files them (addKeyring):
// active maintainer keys from pubkeys.pgp, active index keys from
// indexkeys.pgp, removed keys from the first bound file that carries them.
// Certificates whose bytes did not change since prev are not parsed again;
// when no bound file changed and every listed key keeps its status and
// role (which pick the file a key's certificate is read from: a removed
// key comes from the first bound file carrying it), prev itself is
// returned.
func loadKeyringView(ctx context.Context, b *publish.Bucket, m *root.Manifest, prev *keyringView) (*keyringView, error) {
	v := &keyringView{files: map[string]string{}, keys: make(map[string]keyFiling, len(m.Keys)), certs: map[string]*certSummary{}}
	for _, name := range m.FileNames() {
		ref, _ := m.File(name)
		v.files[name] = ref.SHA256
	}
	for _, k := range m.Keys {
		v.keys[k.Fingerprint] = keyFiling{status: k.Status, role: k.Role}
	}
	if prev != nil && maps.Equal(prev.files, v.files) && maps.Equal(prev.keys, v.keys) {
		return prev, nil
	}
	for _, name := range m.FileNames() {
		data, err := monitorKeyring(ctx, b, m, name)
		if err != nil {
			return nil, err
		}
		if len(data) == 0 {
			continue
		}
		spans, err := pgpkey.IndexKeyring(data, pgpkey.MaxKeyringSize)
		if err != nil {
			return nil, fail.Untrustedf("the %s that manifest version %d binds is not a valid keyring", name, m.Version).Wrap(err).
				WithHint("clients refuse this manifest; see docs/runbook.md, section monitor raised an alarm")
		}
		for _, sp := range spans {
			fpr := sp.Fingerprint()
			entry, ok := m.Key(fpr)
			if !ok || v.certs[fpr] != nil {
				continue
			}
			if !filedFrom(entry, name) {
				continue
			}
			sum := sha256.Sum256(data[sp.Start:sp.End])
			if prev != nil {
				if old := prev.certs[fpr]; old != nil && old.sum == sum {
					v.certs[fpr] = old
					continue
				}
			}
			v.certs[fpr] = summarizeCert(data, sp, sum)
		}
	}
	return v, nil
}

func summarizeCert(data []byte, sp pgpkey.CertSpan, sum [sha256.Size]byte) *certSummary {
	c := &certSummary{sum: sum, subkeys: map[string][]revocation{}}
	e, err := pgpkey.ParseSpan(data, sp)
	if err != nil {
		c.bad = err.Error()
		return c
	}
	// Only what the key itself signed counts, as for a client.
	pgpkey.Clean(e)
	c.revs = revocations(e.Revocations)
	for _, sk := range e.Subkeys {
		c.subkeys[pgpkey.FormatFingerprint(sk.PublicKey.Fingerprint)] = revocations(sk.Revocations)
	}
	return c
}

func revocations(sigs []*packet.VerifiableSignature) []revocation {
	var out []revocation
	for _, s := range sigs {
		var buf bytes.Buffer
		id := ""
		if err := s.Packet.Serialize(&buf); err == nil {
			h := sha256.Sum256(buf.Bytes())
			id = hex.EncodeToString(h[:6])
		} else {
			id = fmt.Sprintf("t%d", s.Packet.CreationTime.Unix())
		}
		reason := "unspecified"
		if s.Packet.RevocationReason != nil {
			switch *s.Packet.RevocationReason {
			case packet.KeyCompromised:
				reason = "compromised"
			case packet.KeySuperseded:
				reason = "superseded"
			case packet.KeyRetired:
				reason = "retired"
			case packet.NoReason:
			default:
				reason = fmt.Sprintf("code %d", *s.Packet.RevocationReason)
			}
		}
		out = append(out, revocation{id: id, reason: reason, at: s.Packet.CreationTime})
	}
	slices.SortFunc(out, func(a, b revocation) int { return strings.Compare(a.id, b.id) })
	return slices.CompactFunc(out, func(a, b revocation) bool { return a.id == b.id })
}

// Kinds of the certificate events; revocationRemoved marks the ones the
// store never makes (it merges certificates and drops no revocation).
const (
	kindKeyRevoked               = "key-revoked"
	kindKeyRevocationRemoved     = "key-revocation-removed"
	kindSubkeyAdded              = "subkey-added"
	kindSubkeyRemoved            = "subkey-removed"
	kindSubkeyRevoked            = "subkey-revoked"
	kindSubkeyRevocationRemoved  = "subkey-revocation-removed"
	kindCertificateAdded         = "certificate-added"
	kindCertificateRemoved       = "certificate-removed"
	kindCertificateUnparseable   = "certificate-unreadable"
	revocationRemovedKindsSuffix = "-revocation-removed"
)

// diffKeyrings lists the certificate changes, from the keyrings of lastM
// (old) to those of m (cur), of the keys both manifests list.
func diffKeyrings(idx int64, version uint64, lastM *root.Manifest, old *keyringView, m *root.Manifest, cur *keyringView) []Event {
	if lastM == nil || old == nil || cur == nil || old == cur {
		return nil
	}
	var out []Event
	ev := func(x Event) { x.Index, x.Version = idx, version; out = append(out, x) }
	for _, k := range m.Keys {
		fpr := k.Fingerprint
		if _, ok := lastM.Key(fpr); !ok {
			continue
		}
		o, c := old.certs[fpr], cur.certs[fpr]
		switch {
		case o == nil && c == nil:
			continue
		case o == nil:
			ev(Event{Kind: kindCertificateAdded, Fingerprint: fpr, Detail: "a certificate for the listed key is now published"})
			continue
		case c == nil:
			ev(Event{Kind: kindCertificateRemoved, Fingerprint: fpr, Detail: "the listed key's certificate is no longer published"})
			continue
		case o.sum == c.sum:
			continue
		case c.bad != "" && o.bad == "":
			ev(Event{Kind: kindCertificateUnparseable, Fingerprint: fpr, Detail: "the certificate no longer parses"})
			continue
		}
		diffRevs(o.revs, c.revs, func(r revocation, added bool) {
			if added {
				ev(Event{Kind: kindKeyRevoked, Fingerprint: fpr, Detail: r.describe()})
			} else {
				ev(Event{Kind: kindKeyRevocationRemoved, Fingerprint: fpr, Detail: r.describe() + ", no longer in the certificate"})
			}
		})
		for _, sk := range sortedKeys(c.subkeys) {
			if _, had := o.subkeys[sk]; !had {
				ev(Event{Kind: kindSubkeyAdded, Fingerprint: fpr, Subkey: sk})
			}
		}
		for _, sk := range sortedKeys(o.subkeys) {
			revs, has := c.subkeys[sk]
			if !has {
				ev(Event{Kind: kindSubkeyRemoved, Fingerprint: fpr, Subkey: sk})
				continue
			}
			diffRevs(o.subkeys[sk], revs, func(r revocation, added bool) {
				if added {
					ev(Event{Kind: kindSubkeyRevoked, Fingerprint: fpr, Subkey: sk, Detail: r.describe()})
				} else {
					ev(Event{Kind: kindSubkeyRevocationRemoved, Fingerprint: fpr, Subkey: sk, Detail: r.describe() + ", no longer in the certificate"})
				}
			})
		}
	}
	return out
}

// diffRevs calls f for each revocation in cur but not old (added) and in
// old but not cur (removed); both are sorted by id.
func diffRevs(old, cur []revocation, f func(r revocation, added bool)) {
	has := func(rs []revocation, id string) bool {
		_, ok := slices.BinarySearchFunc(rs, id, func(r revocation, id string) int { return strings.Compare(r.id, id) })
		return ok
	}
	for _, r := range old {
		if !has(cur, r.id) {
			f(r, false)
		}
	}
	for _, r := range cur {
		if !has(old, r.id) {
			f(r, true)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := slices.Collect(maps.Keys(m))
	slices.Sort(out)
	return out
}

// revocationRemoved returns a Security error for the first event that
// shows a revocation leaving a certificate (nil when none does): the store
// merges certificates and never drops a revocation, so only root keys
// signing keyrings outside the store do it, and a revoked (sub)key, perhaps
// stolen, signs again.
func revocationRemoved(events []Event) error {
	n := 0
	var first Event
	for _, e := range events {
		if strings.HasSuffix(e.Kind, revocationRemovedKindsSuffix) {
			if n == 0 {
				first = e
			}
			n++
		}
	}
	if n == 0 {
		return nil
	}
	what := "key " + first.Fingerprint
	if first.Subkey != "" {
		what = "subkey " + first.Subkey + " of key " + first.Fingerprint
	}
	return fail.Securityf("log entry %d (manifest version %d): the certificate of %s lost a revocation an earlier logged manifest carried (%d revocation(s) removed in this run; see the %s events)", first.Index, first.Version, what, n, first.Kind).
		WithHint("the store never drops a revocation: the root keys signed keyrings made outside it, and the revoked key signs again for every client; see docs/runbook.md, section monitor raised an alarm")
}
