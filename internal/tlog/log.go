package tlog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"filippo.io/torchwood"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/keyctl/keyctl/internal/fail"
)

// Lookahead is how far past index V-S a reader looks for the entry of
// manifest version V (doc.go, Entries): a version is logged again only
// after a publish that failed before its manifest went live.
const Lookahead = 64

// ReadHead fetches and verifies the newest checkpoint. It returns (nil,
// nil) when the bucket has no log yet.
func ReadHead(ctx context.Context, r Reader, log note.Verifier, witnesses []*WitnessVerifier) (*Head, error) {
	b, err := r.Get(ctx, CheckpointPath, MaxCheckpointSize)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	return OpenCheckpoint(b, log, witnesses)
}

// Appended is what an append adds to the bucket.
type Appended struct {
	// Tiles are new hash tiles and entry bundles: immutable objects,
	// uploaded before the checkpoint.
	Tiles []Object
	// Checkpoint is the new signed checkpoint.
	Checkpoint []byte
	Tree       tlog.Tree
}

// mapReader serves hashes of an old tree from its tiles and newer hashes
// from memory.
type mapReader struct {
	old    tlog.HashReader
	oldN   int64 // stored hash count of the old tree
	hashes map[int64]tlog.Hash
}

func (m *mapReader) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	var oldIdx []int64
	var oldPos []int
	for i, x := range idx {
		if x < m.oldN {
			oldIdx = append(oldIdx, x)
			oldPos = append(oldPos, i)
			continue
		}
		h, ok := m.hashes[x]
		if !ok {
			return nil, fmt.Errorf("hash %d not computed", x)
		}
		out[i] = h
	}
	if len(oldIdx) > 0 {
		hs, err := m.old.ReadHashes(oldIdx)
		if err != nil {
			return nil, err
		}
		for j, p := range oldPos {
			out[p] = hs[j]
		}
	}
	return out, nil
}

// Append extends the log in r (whose newest checkpoint, verified, is prev,
// nil for an empty log) with entries, and returns the objects to upload
// and the new checkpoint signed by s. Nothing is written.
func Append(ctx context.Context, r Reader, prev *Head, entries [][]byte, s note.Signer) (*Appended, error) {
	var old tlog.Tree
	if prev != nil {
		if prev.Origin != s.Name() {
			return nil, fail.Inputf("the log key is named %q, the published log %q", s.Name(), prev.Origin).
				WithHint("publish with the log key named in the root set")
		}
		old = prev.Tree()
	}
	for _, e := range entries {
		if _, err := ParseEntry(e); err != nil {
			return nil, err
		}
	}
	m := &mapReader{old: HashReader(ctx, r, old), oldN: tlog.StoredHashCount(old.N), hashes: map[int64]tlog.Hash{}}
	n := old.N
	for _, e := range entries {
		hs, err := tlog.StoredHashes(n, e, m)
		if err != nil {
			return nil, logReadError(err)
		}
		base := tlog.StoredHashCount(n)
		for i, h := range hs {
			m.hashes[base+int64(i)] = h
		}
		n++
	}
	root, err := tlog.TreeHash(n, m)
	if err != nil {
		return nil, logReadError(err)
	}
	out := &Appended{Tree: tlog.Tree{N: n, Hash: root}}
	for _, t := range tlog.NewTiles(height, old.N, n) {
		data, err := tlog.ReadTileData(t, m)
		if err != nil {
			return nil, logReadError(err)
		}
		out.Tiles = append(out.Tiles, Object{Name: TilePath(t), Data: data})
		if t.L != 0 {
			continue
		}
		// The entry bundle with the same coordinates.
		dt := t
		dt.L = -1
		start := t.N * torchwood.TileWidth
		var bundle []byte
		if start < old.N {
			// Entries of the old partial bundle.
			ot := dt
			ot.W = int(old.N - start)
			b, err := r.Get(ctx, TilePath(ot), MaxBundleSize)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil, &MissingError{What: "entry bundle " + torchwood.TilePath(ot), Err: err}
				}
				return nil, err
			}
			es, err := ParseBundle(ot, b)
			if err != nil {
				return nil, err
			}
			idx := make([]int64, len(es))
			for i := range es {
				idx[i] = tlog.StoredHashIndex(0, start+int64(i))
			}
			leaves, err := m.ReadHashes(idx)
			if err != nil {
				return nil, logReadError(err)
			}
			for i, e := range es {
				if tlog.RecordHash(e) != leaves[i] {
					return nil, fail.Untrustedf("entry bundle %s does not match the log's hashes", torchwood.TilePath(ot))
				}
			}
			bundle = append([]byte(nil), b...)
		}
		for i := max(start, old.N); i < start+int64(t.W); i++ {
			bundle, err = torchwood.AppendTileEntry(bundle, entries[i-old.N])
			if err != nil {
				return nil, err
			}
		}
		out.Tiles = append(out.Tiles, Object{Name: TilePath(dt), Data: bundle})
	}
	out.Checkpoint, err = SignCheckpoint(out.Tree, s)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// logReadError explains a failure to read the log's tiles.
func logReadError(err error) error {
	// A missing tile first: the bucket's not-found error it wraps may be
	// a *fail.Error of another kind.
	var me *MissingError
	if errors.As(err, &me) {
		return fail.Untrustedf("the log is incomplete: %s", me.Error()).
			WithHint("the bucket lost part of the log or a cache serves an old copy; see docs/runbook.md, section monitor raised an alarm")
	}
	var fe *fail.Error
	if errors.As(err, &fe) {
		return err
	}
	return fail.Untrustedf("the log's tiles do not match its checkpoint").Wrap(err).
		WithHint("the bucket is serving a damaged or forged log; see docs/runbook.md, section monitor raised an alarm")
}

// InconsistentError reports two checkpoints of one log that no append-only
// history joins: a fork (split view) or a rewritten log. It is reserved
// for evidence: a consistency proof, read from tiles that hash to the
// larger signed tree, that fails, or two signed trees of one size. Tiles
// that are missing or do not hash to their signed tree are a read error.
type InconsistentError struct {
	Old, New []byte // the two checkpoint notes (evidence)
	Why      string
}

func (e *InconsistentError) Error() string {
	return "inconsistent log: the checkpoint is not an append-only extension of the one seen before (" + e.Why + ")"
}

// Unwrap makes the error a Security *fail.Error with its hints.
func (e *InconsistentError) Unwrap() error {
	return &fail.Error{Kind: fail.Security, Hints: []string{"someone is showing different keyrings to different readers, or the log was rewritten; keep both checkpoints as evidence and follow docs/runbook.md, section monitor raised an alarm"}}
}

// CheckConsistent proves that the trees of old (a checkpoint kept
// earlier, its note in oldNote) and cur lie on one append-only history,
// whichever is larger, reading the proof from r's tiles.
func CheckConsistent(ctx context.Context, r Reader, old tlog.Tree, oldNote []byte, cur *Head) error {
	incons := func(why string) error {
		return &InconsistentError{Old: oldNote, New: cur.Note, Why: why}
	}
	big, small := cur.Tree(), old
	if old.N > big.N {
		big, small = old, cur.Tree()
	}
	if big.N == small.N {
		if big.Hash != small.Hash {
			return incons(fmt.Sprintf("two different trees of size %d", big.N))
		}
		return nil
	}
	if small.N == 0 {
		return nil
	}
	p, err := tlog.ProveTree(big.N, small.N, HashReader(ctx, r, big))
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		// Missing tiles, or tiles that do not hash to the larger signed
		// tree: nothing is proven either way, and a host without any key
		// can serve them. A damaged or forged log (untrusted), not a fork:
		// that takes a proof that fails (below) or two signed trees of one
		// size (above).
		return logReadError(err)
	}
	if err := tlog.CheckTree(p, big.N, big.Hash, small.N, small.Hash); err != nil {
		return incons(fmt.Sprintf("size %d is not a prefix of size %d", small.N, big.N))
	}
	return nil
}

// NotIncludedError is a manifest that the log does not hold.
type NotIncludedError struct {
	Entry Entry
	Size  int64
	Why   string
}

func (e *NotIncludedError) Error() string {
	return fmt.Sprintf("missing inclusion proof: manifest version %d (sha256 %s) is not in the log of %d entries (%s)", e.Entry.Version, e.Entry.SHA256, e.Size, e.Why)
}

// Unwrap makes the error an Untrusted *fail.Error with its hints.
func (e *NotIncludedError) Unwrap() error {
	return &fail.Error{Kind: fail.Untrusted, Hints: []string{"a manifest that was never logged may have been shown to this client alone; retry in a minute (a publish may be in progress), then follow docs/runbook.md, section monitor raised an alarm"}}
}

// Include finds e in the tree of cur and checks its record proof. It
// returns the index. A log whose entry 0 is version S (1, or the version
// published when the log key was named) holds version V first at index
// V-S, later ones after a publish that did not go live.
func Include(ctx context.Context, r Reader, cur *Head, e Entry) (int64, error) {
	t := cur.Tree()
	if t.N == 0 {
		return 0, &NotIncludedError{Entry: e, Size: t.N, Why: "the log is empty"}
	}
	hr := HashReader(ctx, r, t)
	first, err := readEntries(ctx, r, hr, t, 0, 1)
	if err != nil {
		return 0, err
	}
	e0, err := ParseEntry(first[0])
	if err != nil {
		return 0, err
	}
	if e.Version < e0.Version {
		return 0, &NotIncludedError{Entry: e, Size: t.N, Why: fmt.Sprintf("the log starts at version %d", e0.Version)}
	}
	start := int64(e.Version - e0.Version)
	if start >= t.N {
		return 0, &NotIncludedError{Entry: e, Size: t.N, Why: "the checkpoint is older than the manifest"}
	}
	want := tlog.RecordHash(e.Marshal())
	// Versions only repeat after a publish that did not go live; look a
	// bounded distance ahead.
	for i := start; i < t.N && i < start+Lookahead; i++ {
		hs, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, i)})
		if err != nil {
			return 0, logReadError(err)
		}
		if hs[0] != want {
			continue
		}
		p, err := tlog.ProveRecord(t.N, i, hr)
		if err != nil {
			return 0, logReadError(err)
		}
		if err := tlog.CheckRecord(p, t.N, t.Hash, i, want); err != nil {
			return 0, &NotIncludedError{Entry: e, Size: t.N, Why: "the record proof does not verify"}
		}
		return i, nil
	}
	return 0, &NotIncludedError{Entry: e, Size: t.N, Why: "no entry holds it"}
}

// ReadEntries returns entries [from, to) of the tree of cur, each checked
// against the tree's leaf hashes.
func ReadEntries(ctx context.Context, r Reader, cur *Head, from, to int64) ([][]byte, error) {
	return readEntries(ctx, r, HashReader(ctx, r, cur.Tree()), cur.Tree(), from, to)
}

func readEntries(ctx context.Context, r Reader, hr tlog.HashReader, t tlog.Tree, from, to int64) ([][]byte, error) {
	if from < 0 || to > t.N || from > to {
		return nil, fail.Inputf("entries %d to %d are outside the log of %d", from, to, t.N)
	}
	var out [][]byte
	for i := from; i < to; {
		bt := tlog.Tile{H: height, L: -1, N: i / torchwood.TileWidth, W: torchwood.TileWidth}
		if end := (bt.N + 1) * torchwood.TileWidth; end > t.N {
			bt.W = int(t.N - bt.N*torchwood.TileWidth)
		}
		b, err := r.Get(ctx, TilePath(bt), MaxBundleSize)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, logReadError(&MissingError{What: "entry bundle " + torchwood.TilePath(bt), Err: err})
			}
			return nil, err
		}
		es, err := ParseBundle(bt, b)
		if err != nil {
			return nil, err
		}
		end := min(to, bt.N*torchwood.TileWidth+int64(bt.W))
		var idx []int64
		for j := i; j < end; j++ {
			idx = append(idx, tlog.StoredHashIndex(0, j))
		}
		leaves, err := hr.ReadHashes(idx)
		if err != nil {
			return nil, logReadError(err)
		}
		for ; i < end; i++ {
			e := es[i-bt.N*torchwood.TileWidth]
			if tlog.RecordHash(e) != leaves[len(leaves)-int(end-i)] {
				return nil, fail.Untrustedf("log entry %d does not match the log's hashes", i).
					WithHint("the bucket is serving a damaged or forged entry bundle; see docs/runbook.md, section monitor raised an alarm")
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// TooFewWitnessesError is a checkpoint without enough cosignatures.
type TooFewWitnessesError struct {
	Have, Need int
	Size       int64
	Why        string // when set, replaces the count in the message
}

// Refusal returns e with why as its explanation.
func (e *TooFewWitnessesError) Refusal(why string) *TooFewWitnessesError {
	e.Why = why
	return e
}

func (e *TooFewWitnessesError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("too few witnesses: %d required, but %s", e.Need, e.Why)
	}
	return fmt.Sprintf("too few witnesses: the log checkpoint (size %d) carries %d valid cosignature(s) of the named witnesses, %d required", e.Size, e.Have, e.Need)
}

// Unwrap makes the error an Untrusted *fail.Error with its hints.
func (e *TooFewWitnessesError) Unwrap() error {
	return &fail.Error{Kind: fail.Untrusted, Hints: []string{"the witnesses have not cosigned the newest checkpoint yet, or refused to; retry later, or ask the publisher (docs/verify.md, section Witnesses)"}}
}

// RequireWitnesses refuses a head with fewer than need cosignatures.
func RequireWitnesses(h *Head, need int) error {
	if len(h.Witnesses) < need {
		return &TooFewWitnessesError{Have: len(h.Witnesses), Need: need, Size: h.N}
	}
	return nil
}
