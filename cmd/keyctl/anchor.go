package main

import (
	"github.com/spf13/cobra"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
)

// holderPins is the root set a root holder pins for root review and root
// sign: the same pins clients use (docs/verify.md).
type holderPins struct {
	rootSet   string
	roots     []string
	threshold int
}

func (p *holderPins) flags(c *cobra.Command) {
	f := c.Flags()
	f.StringVar(&p.rootSet, "root-set", "", "the root set you pin, sha256:HEX (printed by keyctl init, status and root rotate; or KEYCTL_ROOT_SET)")
	f.StringSliceVar(&p.roots, "root", nil, "pinned root fingerprint (repeatable; every key of the set, with --threshold), instead of --root-set")
	f.IntVar(&p.threshold, "threshold", 0, "the pinned root set's threshold, with --root")
}

func (p holderPins) pins() (root.Pins, error) {
	out := root.Pins{Fingerprints: p.roots, Threshold: p.threshold}
	if p.rootSet != "" {
		h, err := root.ParseRootSetPin(p.rootSet)
		if err != nil {
			return out, err
		}
		out.RootSetSHA256 = h
	}
	if out.RootSetSHA256 == "" && len(out.Fingerprints) == 0 {
		return out, nil
	}
	return out, out.Validate()
}

// reviewAnchored reviews a signing directory and authenticates it against
// the holder's pins; forSigning refuses a directory it could not
// authenticate (no pin, except for a first publish).
func (a *app) reviewAnchored(dir string, hp holderPins, forSigning bool) (*root.Review, error) {
	pins, err := hp.pins()
	if err != nil {
		return nil, err
	}
	r, err := root.ReviewDir(dir)
	if err != nil {
		return nil, err
	}
	if err := r.Authenticate(pins, a.now()); err != nil {
		return nil, err
	}
	first := r.Manifest != nil && r.Previous == nil
	if forSigning && !r.Anchor.Pinned && !first {
		return nil, fail.Untrustedf("no root set is pinned, so nothing shows that the changes in %s are against the real current root set and published manifest", dir).
			WithHint("pass the root set you pin: keyctl root sign DIR --root-set sha256:HEX --root-key FILE (or set KEYCTL_ROOT_SET; keyctl status and keyctl root rotate print it; check it with the team lead out of band)",
				"or pin every root fingerprint with --root FPR ... --threshold N; see docs/manifest.md, \"Offline signing\"")
	}
	return r, nil
}

// storeAnchor is the store's root set chain, for a signing directory.
func storeAnchor(s *ring.Store) (*root.Anchor, error) {
	links, err := s.RootLinks()
	if err != nil {
		return nil, err
	}
	an := &root.Anchor{}
	for _, l := range links {
		an.Chain = append(an.Chain, root.AnchorLink{Version: l.Version, Data: l.Data, Sigs: l.Sigs})
	}
	return an, nil
}

// pinHint is the pin of the newest root set of the anchor chain.
func pinHint(an *root.Anchor) string {
	if len(an.Chain) == 0 {
		return "sha256:HEX"
	}
	return root.PinOf(an.Chain[len(an.Chain)-1].Data)
}
