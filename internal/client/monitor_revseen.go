package client

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/keyctl/keyctl/internal/fail"
)

// MaxMonitorRevocations is how many revocations (key or subkey
// fingerprint and revocation id pairs) the monitor remembers across runs.
// An honest repository revokes a key or subkey now and then; a walk that
// finds more fails rather than forget one.
const MaxMonitorRevocations = 20_000

// revSeen remembers every valid revocation the monitor saw in a logged
// manifest's keyrings, by the fingerprint of the key or subkey it revokes,
// so that a later certificate of that key or subkey without it is an
// alarm however many manifests lie between (left out of one, bound again
// without the revocation in the next: diffKeyrings compares neighbours
// only). It holds revocation ids, not certificates, and at most
// MaxMonitorRevocations of them.
type revSeen struct {
	ids map[string][]string // key or subkey fingerprint → sorted revocation ids
	n   int
}

var (
	revSeenFprRE = regexp.MustCompile(`^([0-9A-F]{40}|[0-9A-F]{64})$`)
	revSeenIDRE  = regexp.MustCompile(`^([0-9a-f]{12}|t-?[0-9]{1,20})$`)
)

// newRevSeen takes the revocations a monitor state file kept (nil for a
// state written before they were kept) and checks them.
func newRevSeen(kept map[string][]string) (*revSeen, error) {
	r := &revSeen{ids: map[string][]string{}}
	for fpr, ids := range kept {
		if !revSeenFprRE.MatchString(fpr) {
			return nil, fmt.Errorf("revocations: %q is not a fingerprint", fpr)
		}
		if len(ids) == 0 {
			continue
		}
		for _, id := range ids {
			if !revSeenIDRE.MatchString(id) {
				return nil, fmt.Errorf("revocations of %s: %q is not a revocation id", fpr, id)
			}
		}
		r.n += len(ids)
		if r.n > MaxMonitorRevocations {
			return nil, fmt.Errorf("more than %d revocations", MaxMonitorRevocations)
		}
		s := slices.Clone(ids)
		slices.Sort(s)
		r.ids[fpr] = slices.Compact(s)
	}
	return r, nil
}

// state returns what the monitor state file keeps (nil when empty).
func (r *revSeen) state() map[string][]string {
	if r == nil || len(r.ids) == 0 {
		return nil
	}
	return r.ids
}

// check compares the certificates of view (the keyrings of log entry idx,
// manifest version) with every revocation seen before, and returns a
// *-revocation-removed event for each one a certificate of its key or
// subkey no longer carries, unless reported (already an event of this
// entry, from diffKeyrings). A revocation found missing is forgotten
// (reported once; bound again, it is reported as added and remembered
// again). Then it remembers the revocations view carries.
func (r *revSeen) check(idx int64, version uint64, view *keyringView, reported []Event) ([]Event, error) {
	var out []Event
	done := func(fpr, sub, id string) bool {
		for _, e := range reported {
			if e.Index == idx && strings.HasSuffix(e.Kind, revocationRemovedKindsSuffix) && e.Fingerprint == fpr && e.Subkey == sub && strings.HasPrefix(e.Detail, "revocation "+id+",") {
				return true
			}
		}
		return false
	}
	one := func(fpr, sub string, revs []revocation) {
		key := fpr
		if sub != "" {
			key = sub
		}
		seen := r.ids[key]
		if len(seen) == 0 {
			return
		}
		keep := seen[:0:0]
		for _, id := range seen {
			if slices.ContainsFunc(revs, func(x revocation) bool { return x.id == id }) {
				keep = append(keep, id)
				continue
			}
			r.n--
			if done(fpr, sub, id) {
				continue
			}
			x := Event{Index: idx, Version: version, Kind: kindKeyRevocationRemoved, Fingerprint: fpr,
				Detail: "revocation " + id + ", seen in an earlier logged manifest's keyrings, no longer in the certificate"}
			if sub != "" {
				x.Kind, x.Subkey = kindSubkeyRevocationRemoved, sub
			}
			out = append(out, x)
		}
		if len(keep) == 0 {
			delete(r.ids, key)
		} else {
			r.ids[key] = keep
		}
	}
	for _, fpr := range sortedKeys(view.certs) {
		c := view.certs[fpr]
		if c.bad != "" {
			continue // certificate-unreadable: no client judges by it
		}
		one(fpr, "", c.revs)
		for _, sk := range sortedKeys(c.subkeys) {
			one(fpr, sk, c.subkeys[sk])
		}
	}
	return out, r.remember(view)
}

// remember adds the revocations the certificates of view carry.
func (r *revSeen) remember(view *keyringView) error {
	for _, fpr := range sortedKeys(view.certs) {
		c := view.certs[fpr]
		if c.bad != "" {
			continue
		}
		if err := r.add(fpr, c.revs); err != nil {
			return err
		}
		for _, sk := range sortedKeys(c.subkeys) {
			if err := r.add(sk, c.subkeys[sk]); err != nil {
				return err
			}
		}
	}
	return nil
}

// add remembers revs as revocations of key (a key or subkey fingerprint).
func (r *revSeen) add(key string, revs []revocation) error {
	for _, x := range revs {
		ids := r.ids[key]
		i, found := slices.BinarySearch(ids, x.id)
		if found {
			continue
		}
		if r.n >= MaxMonitorRevocations {
			return fail.Untrustedf("the logged keyrings carry more than %d revocations (key or subkey, revocation) for this monitor to remember", MaxMonitorRevocations).
				WithHint("an honest repository revokes far fewer keys: root keys signing keyrings padded with revocations (of keys they made) may be hiding a removed one; see docs/runbook.md, section monitor raised an alarm")
		}
		r.ids[key] = slices.Insert(ids, i, x.id)
		r.n++
	}
	return nil
}
