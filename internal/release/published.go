package release

import (
	"fmt"
	"time"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
)

// CheckPublished refuses a store whose keys contradict the manifest it
// last published, as far as that manifest's root signatures prove it: a
// key that manifest lists must still be in the store, with the same role,
// and a key it lists as removed as compromised must still be removed as
// compromised (a retired key may be restored; a compromised one never).
// The change log (VerifyLog) is anchored only in the store file, so
// someone who rewrites it consistently passes that check; the root-signed
// manifest is the anchor they cannot forge without a threshold of root
// keys. A store with no published manifest, or one from a keyctl that did
// not keep its signatures, is not checked. keys lists the store's keys
// (ring.Store.List(true)); it is called only when there is a manifest to
// compare them with.
func CheckPublished(s *ring.Store, keys func() ([]*ring.Key, error), now time.Time) error {
	p, err := s.LastPublished()
	if err != nil {
		return err
	}
	if p == nil || len(p.Manifest) == 0 || len(p.ManifestSigs) == 0 {
		return nil
	}
	refuse := func(format string, args ...any) error {
		return fail.Untrustedf("the store contradicts the manifest it last published (version %d, root-signed): %s", p.Version, fmt.Sprintf(format, args...)).
			WithHint("the store was changed outside keyctl; restore it from a backup and investigate, or audit against the published set with --root-set (docs/manifest.md, section Store integrity)")
	}
	m, err := root.ParseManifest(p.Manifest)
	if err != nil {
		return refuse("%v", err)
	}
	links, err := s.RootLinks()
	if err != nil {
		return err
	}
	var set *root.RootSet
	for _, l := range links {
		if l.Version == m.Root.Version {
			if set, err = root.ParseRootSet(l.Data); err != nil {
				return refuse("root set %d: %v", l.Version, err)
			}
		}
	}
	if set == nil {
		return refuse("the store holds no root set %d", m.Root.Version)
	}
	// The signatures as they were when made: the manifest may have expired
	// since, which is no reason to doubt what it said.
	if _, err := root.VerifyHistoric(p.Manifest, p.ManifestSigs, set, now); err != nil {
		return refuse("its root signatures do not verify: %v", err)
	}
	list, err := keys()
	if err != nil {
		return err
	}
	byFpr := make(map[string]*ring.Key, len(list))
	for _, k := range list {
		byFpr[k.Fingerprint] = k
	}
	for _, e := range m.Keys {
		k, ok := byFpr[e.Fingerprint]
		switch {
		case !ok:
			return refuse("key %s is missing from the store", e.Fingerprint)
		case string(k.RoleOf()) != string(e.Role.Or()):
			return refuse("key %s has role %s in the store, %s in the manifest", e.Fingerprint, k.RoleOf(), e.Role.Or())
		case e.Status == root.Removed && e.Reason == root.Compromised &&
			(k.Status != ring.Removed || k.Removal == nil || k.Removal.Reason != ring.Compromised):
			has := string(k.Status)
			if k.Removal != nil {
				has += " as " + string(k.Removal.Reason)
			}
			return refuse("key %s was removed as compromised, and the store has it %s", e.Fingerprint, has)
		}
	}
	return nil
}
