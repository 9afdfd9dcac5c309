package release

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/ring"
	"github.com/keyctl/keyctl/internal/root"
)

// Adopt brings the store up to date with a publish of its own that went
// live but was never recorded (the publishing process was killed between
// the manifest upload and the store's commit). Without it every later
// publish from this store would be built on the older version and refused
// as a conflict.
//
// The live manifest is adopted only when it is the one this store recorded
// as pending before its upload began (another store sharing the root, or a
// stale copy of this one, never matches), it verifies with one of the
// store's root sets, is for this repository, has version
// Published.Version+1 and names the recorded manifest as its previous one.
// The root set signatures that publish carried are stored too. Anything
// else is left for the conflict check to report. It returns the adopted
// version (0: nothing adopted).
func Adopt(ctx context.Context, s *ring.Store, b *publish.Bucket, actor string, now time.Time) (uint64, error) {
	info, err := s.Info()
	if err != nil {
		return 0, err
	}
	var wantVersion uint64 = 1
	wantPrev := ""
	if p := info.Published; p != nil {
		if p.Location != b.Location() {
			return 0, nil
		}
		wantVersion, wantPrev = p.Version+1, p.SHA256
	}
	live, err := b.Get(ctx, root.ManifestName, root.MaxManifestSize)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	h := root.Hash(live)
	if info.Published != nil && h == info.Published.SHA256 {
		return 0, nil
	}
	if info.Pending == nil || info.Pending.SHA256 != h || info.Pending.Location != b.Location() {
		return 0, nil
	}
	m, err := root.ParseManifest(live)
	if err != nil || m.Version != wantVersion || m.Previous != wantPrev || m.Repository != info.Repository {
		return 0, nil
	}
	links, err := s.RootLinks()
	if err != nil {
		return 0, err
	}
	var set *root.RootSet
	sets := map[uint64]*root.RootSet{}
	for _, l := range links {
		rs, err := root.ParseRootSet(l.Data)
		if err != nil {
			return 0, err
		}
		sets[l.Version] = rs
		if l.Version == m.Root.Version && root.Hash(l.Data) == m.Root.SHA256 {
			set = rs
		}
	}
	if set == nil {
		return 0, nil
	}
	sigs, err := b.Get(ctx, root.ContentPath(h)+root.SigSuffix, root.MaxSigSize)
	if err != nil {
		return 0, nil
	}
	// Expiry does not matter here: the question is only whether this store
	// published it.
	if _, err := root.Verify(live, sigs, set, now); err != nil {
		return 0, nil
	}
	for _, l := range links {
		if len(l.Sigs) > 0 {
			continue
		}
		ls, err := b.Get(ctx, root.RootSetPath(l.Version)+root.SigSuffix, root.MaxSigSize)
		if err != nil {
			continue
		}
		if _, err := root.Verify(l.Data, ls, sets[l.Version], now); err != nil {
			continue
		}
		l.Sigs = ls
		if err := s.PutRootSet(l, fmt.Sprintf("root set %d signatures taken from the live publish", l.Version), actor); err != nil {
			return 0, err
		}
	}
	if err := s.SetPublished(ring.Published{Version: m.Version, SHA256: h, Manifest: live, ManifestSigs: sigs, Location: b.Location(), Expires: m.Expires}, actor); err != nil {
		return 0, err
	}
	return m.Version, nil
}
