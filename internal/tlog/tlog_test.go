package tlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/keyctl/keyctl/internal/fail"
)

// memBucket is an in-memory Reader that counts reads.
type memBucket struct {
	objs  map[string][]byte
	reads int
}

func (m *memBucket) Get(_ context.Context, name string, limit int64) ([]byte, error) {
	m.reads++
	b, ok := m.objs[name]
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s too large", name)
	}
	return b, nil
}

func (m *memBucket) put(t *testing.T, a *Appended) {
	t.Helper()
	for _, o := range a.Tiles {
		if old, ok := m.objs[o.Name]; ok && !bytes.Equal(old, o.Data) {
			t.Fatalf("immutable %s rewritten", o.Name)
		}
		m.objs[o.Name] = o.Data
	}
	m.objs[CheckpointPath] = a.Checkpoint
}

func newLog(t *testing.T) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := GenerateLogKey("charts.example.org/keyctl-log")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewLogSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewLogVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func entry(v uint64, tag string) Entry {
	return Entry{Version: v, SHA256: fmt.Sprintf("%064x", []byte(fmt.Sprintf("%d-%s", v, tag)))[:64]}
}

func publishN(t *testing.T, b *memBucket, s note.Signer, v note.Verifier, from, to uint64, tag string) *Head {
	t.Helper()
	ctx := context.Background()
	var h *Head
	for i := from; i <= to; i++ {
		prev, err := ReadHead(ctx, b, v, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err := Append(ctx, b, prev, [][]byte{entry(i, tag).Marshal()}, s)
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		b.put(t, a)
		if h, err = ReadHead(ctx, b, v, nil); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func TestEntryRoundTrip(t *testing.T) {
	e := entry(7, "x")
	got, err := ParseEntry(e.Marshal())
	if err != nil || got != e {
		t.Fatalf("ParseEntry = %v, %v", got, err)
	}
	for _, bad := range []string{
		"keyctl-manifest 07 " + e.SHA256 + "\n",
		"keyctl-manifest 0 " + e.SHA256 + "\n",
		"keyctl-manifest 7 " + strings.ToUpper(e.SHA256) + "\n",
		"keyctl-manifest 7 " + e.SHA256,
		"keyctl-manifest 7 " + e.SHA256[:62] + "\n",
	} {
		if _, err := ParseEntry([]byte(bad)); err == nil {
			t.Errorf("ParseEntry(%q) accepted", bad)
		}
	}
}

// TestThousandAppends publishes 1,000 manifests one by one and checks
// that every entry is included, that every earlier checkpoint is
// consistent with the last, and that proofs stay logarithmic.
func TestThousandAppends(t *testing.T) {
	ctx := context.Background()
	s, v := newLog(t)
	b := &memBucket{objs: map[string][]byte{}}
	var heads []*Head
	for i := uint64(1); i <= 1000; i++ {
		heads = append(heads, publishN(t, b, s, v, i, i, "a"))
	}
	last := heads[len(heads)-1]
	if last.N != 1000 {
		t.Fatalf("size %d", last.N)
	}
	for _, i := range []uint64{1, 2, 255, 256, 257, 513, 999, 1000} {
		b.reads = 0
		idx, err := Include(ctx, b, last, entry(i, "a"))
		if err != nil || idx != int64(i)-1 {
			t.Fatalf("Include(%d) = %d, %v", i, idx, err)
		}
		if b.reads > 6 {
			t.Errorf("inclusion of %d read %d tiles", i, b.reads)
		}
		p, err := tlog.ProveRecord(last.N, idx, HashReader(ctx, b, last.Tree()))
		if err != nil || len(p) > 10 { // ceil(log2(1000)) = 10
			t.Errorf("record proof for %d: %d hashes, %v", i, len(p), err)
		}
	}
	maxTree, maxRecord := 0, 0
	for _, h := range heads[:len(heads)-1] {
		if err := CheckConsistent(ctx, b, h.Tree(), h.Note, last); err != nil {
			t.Fatalf("size %d: %v", h.N, err)
		}
		p, err := tlog.ProveTree(last.N, h.N, HashReader(ctx, b, last.Tree()))
		if err != nil || len(p) > 20 { // 2*ceil(log2(1000))
			t.Fatalf("tree proof %d: %d hashes, %v", h.N, len(p), err)
		}
		maxTree = max(maxTree, len(p))
		rp, err := tlog.ProveRecord(last.N, h.N-1, HashReader(ctx, b, last.Tree()))
		if err != nil {
			t.Fatal(err)
		}
		maxRecord = max(maxRecord, len(rp))
	}
	objs, size := 0, 0
	for n, o := range b.objs {
		if strings.HasPrefix(n, Prefix+"tile/") {
			objs++
			size += len(o)
		}
	}
	t.Logf("1,000 appends: largest record proof %d hashes, largest consistency proof %d hashes; %d tile objects, %d bytes", maxRecord, maxTree, objs, size)
	// The other direction: a reader whose state is ahead of the checkpoint.
	if err := CheckConsistent(ctx, b, last.Tree(), last.Note, heads[500]); err != nil {
		t.Fatal(err)
	}
	es, err := ReadEntries(ctx, b, last, 250, 520)
	if err != nil || len(es) != 270 {
		t.Fatalf("ReadEntries: %d, %v", len(es), err)
	}
	if string(es[0]) != string(entry(251, "a").Marshal()) {
		t.Fatalf("entry 250 = %q", es[0])
	}
	if _, err := Include(ctx, b, last, entry(1001, "a")); !isNotIncluded(err) {
		t.Fatalf("future entry: %v", err)
	}
	if _, err := Include(ctx, b, last, entry(5, "other")); !isNotIncluded(err) {
		t.Fatalf("foreign entry: %v", err)
	}
}

func isNotIncluded(err error) bool {
	var ne *NotIncludedError
	return errors.As(err, &ne) && fail.ExitCode(err) == 1
}

// TestForkInconsistent: two copies of a bucket extended with different
// manifests at the same version are caught by a reader that kept the
// first one's checkpoint.
func TestForkInconsistent(t *testing.T) {
	ctx := context.Background()
	s, v := newLog(t)
	a := &memBucket{objs: map[string][]byte{}}
	publishN(t, a, s, v, 1, 3, "a")
	b := &memBucket{objs: maps.Clone(a.objs)}
	ha := publishN(t, a, s, v, 4, 4, "a")
	hb := publishN(t, b, s, v, 4, 4, "evil")
	err := CheckConsistent(ctx, b, ha.Tree(), ha.Note, hb)
	var ie *InconsistentError
	if !errors.As(err, &ie) || fail.KindOf(err) != fail.Security || !bytes.Equal(ie.Old, ha.Note) || !bytes.Equal(ie.New, hb.Note) {
		t.Fatalf("same-size fork: %v", err)
	}
	hb2 := publishN(t, b, s, v, 5, 6, "evil")
	if err := CheckConsistent(ctx, b, ha.Tree(), ha.Note, hb2); !errors.As(err, &ie) {
		t.Fatalf("larger fork: %v", err)
	}
	// The honest history stays consistent.
	ha2 := publishN(t, a, s, v, 5, 6, "a")
	if err := CheckConsistent(ctx, a, ha.Tree(), ha.Note, ha2); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedTileRefused(t *testing.T) {
	ctx := context.Background()
	s, v := newLog(t)
	b := &memBucket{objs: map[string][]byte{}}
	h := publishN(t, b, s, v, 1, 5, "a")
	name := TilePath(tlog.Tile{H: 8, L: 0, N: 0, W: 5})
	tile := bytes.Clone(b.objs[name])
	tile[0] ^= 1
	b.objs[name] = tile
	if _, err := Include(ctx, b, h, entry(3, "a")); err == nil || fail.ExitCode(err) != 1 {
		t.Fatalf("tampered tile: %v", err)
	}
	if _, err := Append(ctx, b, h, [][]byte{entry(6, "a").Marshal()}, s); err == nil {
		t.Fatal("append over a tampered tile succeeded")
	}
}

func TestWitnessCosignatures(t *testing.T) {
	ctx := context.Background()
	s, v := newLog(t)
	b := &memBucket{objs: map[string][]byte{}}
	h := publishN(t, b, s, v, 1, 3, "a")
	var ws []*WitnessVerifier
	var notes [][]byte
	for _, name := range []string{"w1.example", "w2.example"} {
		skey, vkey, err := GenerateWitnessKey(name)
		if err != nil {
			t.Fatal(err)
		}
		ws_, err := NewWitnessSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		wv, err := NewWitnessVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		if ws_.Verifier().String() != vkey {
			t.Fatalf("vkey %q, torchwood says %q", vkey, ws_.Verifier().String())
		}
		ws = append(ws, wv)
		n, err := Cosign(h.Note, ws_, v)
		if err != nil {
			t.Fatal(err)
		}
		notes = append(notes, n)
	}
	got, err := OpenCheckpoint(h.Note, v, ws)
	if err != nil {
		t.Fatal(err)
	}
	if err := RequireWitnesses(got, 1); err == nil || !strings.Contains(err.Error(), "too few witnesses") || fail.ExitCode(err) != 1 {
		t.Fatalf("uncosigned: %v", err)
	}
	merged, err := MergeCosignatures(h.Note, notes...)
	if err != nil {
		t.Fatal(err)
	}
	got, err = OpenCheckpoint(merged, v, ws)
	if err != nil {
		t.Fatal(err)
	}
	if err := RequireWitnesses(got, 2); err != nil {
		t.Fatal(err)
	}
	// A witness alone cannot make a checkpoint.
	if _, err := OpenCheckpoint(merged, ws[0], nil); err == nil {
		t.Fatal("checkpoint trusted on a witness key as log key")
	}
	// A cosignature over another tree is refused by the merge.
	h2 := publishN(t, b, s, v, 4, 4, "a")
	if _, err := MergeCosignatures(h2.Note, notes[0]); err == nil {
		t.Fatal("merged a cosignature for another tree")
	}
	// A forged cosignature line is not counted (it counts as absent: one
	// bad witness must not fail the checkpoint, rt7 finding 8).
	forged := bytes.Replace(merged, []byte("— w1.example "), []byte("— w1.example "), 1)
	i := bytes.Index(forged, []byte("— w1.example "))
	line := forged[i : i+bytes.IndexByte(forged[i:], '\n')]
	flip := func(b []byte) { // another valid base64 character
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
	}
	flip(line[len(line)-10:])
	got, err = OpenCheckpoint(forged, v, ws)
	if err != nil {
		t.Fatalf("one forged cosignature failed the checkpoint: %v", err)
	}
	if len(got.Witnesses) != 1 || got.Witnesses[0] != ws[1].String() || RequireWitnesses(got, 2) == nil {
		t.Fatalf("forged cosignature counted: %v", got.Witnesses)
	}
	// A forged log signature still fails the checkpoint.
	badLog := bytes.Clone(merged)
	j := bytes.Index(badLog, []byte("— "+v.Name()+" "))
	lline := badLog[j : j+bytes.IndexByte(badLog[j:], '\n')]
	flip(lline[len(lline)-10:])
	if _, err := OpenCheckpoint(badLog, v, ws); err == nil {
		t.Fatal("forged log signature accepted")
	}
	// CheckedCosignatures keeps the valid cosignatures only.
	checked, kept, err := CheckedCosignatures(forged, v, ws)
	if err != nil || len(kept) != 1 || bytes.Contains(checked, []byte("— w1.example ")) || !bytes.Contains(checked, []byte("— w2.example ")) {
		t.Fatalf("CheckedCosignatures: %v %v\n%s", kept, err, checked)
	}
	if _, _, err := CheckedCosignatures(forged, v, ws[:1]); err == nil {
		t.Fatal("a note without a valid cosignature by the witnesses given was accepted")
	}
	_ = ctx
}

func FuzzCheckpoint(f *testing.F) {
	s, v := newLogF(f)
	b := &memBucket{objs: map[string][]byte{}}
	ctx := context.Background()
	a, err := Append(ctx, b, nil, [][]byte{entry(1, "a").Marshal()}, s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(a.Checkpoint)
	f.Add([]byte("origin\n1\nAAAA\n\n— x y\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 2*MaxCheckpointSize {
			return
		}
		c, err := ParseCheckpoint(data)
		if err == nil && (c.N < 0 || c.N > MaxTreeSize) {
			t.Fatalf("size %d accepted", c.N)
		}
		h, err := OpenCheckpoint(data, v, nil)
		if err == nil && h.Origin != v.Name() {
			t.Fatal("origin not checked")
		}
		_, _ = MergeCosignatures(a.Checkpoint, data)
	})
}

func newLogF(f *testing.F) (note.Signer, note.Verifier) {
	skey, vkey, err := GenerateLogKey("fuzz.example/log")
	if err != nil {
		f.Fatal(err)
	}
	s, _ := NewLogSigner(skey)
	v, _ := NewLogVerifier(vkey)
	return s, v
}

func FuzzTile(f *testing.F) {
	f.Add(int8(0), 3, bytes.Repeat([]byte{1}, 96))
	f.Add(int8(-1), 1, append([]byte{0, byte(len(entry(1, "a").Marshal()))}, entry(1, "a").Marshal()...))
	f.Fuzz(func(t *testing.T, l int8, w int, data []byte) {
		if w < 1 || w > 256 || l < -1 || l > 5 {
			return
		}
		tile := tlog.Tile{H: 8, L: int(l), N: 0, W: w}
		if l >= 0 {
			hs, err := ParseTile(tile, data)
			if err == nil && len(hs) != w {
				t.Fatalf("%d hashes for width %d", len(hs), w)
			}
			return
		}
		es, err := ParseBundle(tile, data)
		if err == nil {
			if len(es) != w {
				t.Fatalf("%d entries for width %d", len(es), w)
			}
			for _, e := range es {
				if _, err := ParseEntry(e); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func FuzzEntry(f *testing.F) {
	f.Add(entry(3, "a").Marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEntry(data)
		if err == nil && !bytes.Equal(e.Marshal(), data) {
			t.Fatalf("non-canonical entry accepted: %q", data)
		}
	})
}

// benchLog is a log of 1,000 entries in memory.
func benchLog(b *testing.B) (*memBucket, *Head, note.Signer, note.Verifier) {
	b.Helper()
	skey, vkey, _ := GenerateLogKey("bench.example/log")
	s, _ := NewLogSigner(skey)
	v, _ := NewLogVerifier(vkey)
	mb := &memBucket{objs: map[string][]byte{}}
	ctx := context.Background()
	var h *Head
	for i := uint64(1); i <= 1000; i++ {
		a, err := Append(ctx, mb, h, [][]byte{entry(i, "a").Marshal()}, s)
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range a.Tiles {
			mb.objs[o.Name] = o.Data
		}
		mb.objs[CheckpointPath] = a.Checkpoint
		if h, err = OpenCheckpoint(a.Checkpoint, v, nil); err != nil {
			b.Fatal(err)
		}
	}
	return mb, h, s, v
}

// BenchmarkAppendAt1000 is one publish's log work on a log of 1,000.
func BenchmarkAppendAt1000(b *testing.B) {
	mb, h, s, _ := benchLog(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		mb.reads = 0
		if _, err := Append(ctx, mb, h, [][]byte{entry(1001, "a").Marshal()}, s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(mb.reads), "tiles-read/op")
}

// BenchmarkClientCheckAt1000 is a client's log work: open the checkpoint,
// prove consistency with size 500 and the inclusion of entry 700.
func BenchmarkClientCheckAt1000(b *testing.B) {
	mb, h, _, v := benchLog(b)
	ctx := context.Background()
	old := tlog.Tree{N: 500}
	var err error
	if old.Hash, err = tlog.TreeHash(500, HashReader(ctx, mb, h.Tree())); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		mb.reads = 0
		cur, err := OpenCheckpoint(h.Note, v, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := CheckConsistent(ctx, mb, old, nil, cur); err != nil {
			b.Fatal(err)
		}
		if _, err := Include(ctx, mb, cur, entry(700, "a")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(mb.reads), "tiles-read/op")
}

// TestLogStartsLater: a repository that named its log key after version 4
// logs version 5 at index 0.
func TestLogStartsLater(t *testing.T) {
	ctx := context.Background()
	s, v := newLog(t)
	b := &memBucket{objs: map[string][]byte{}}
	h := publishN(t, b, s, v, 5, 9, "a")
	for i := uint64(5); i <= 9; i++ {
		idx, err := Include(ctx, b, h, entry(i, "a"))
		if err != nil || idx != int64(i-5) {
			t.Fatalf("Include(%d) = %d, %v", i, idx, err)
		}
	}
	if _, err := Include(ctx, b, h, entry(4, "a")); !isNotIncluded(err) {
		t.Fatalf("version before the log: %v", err)
	}
	// A version logged twice (a publish that did not go live, run again).
	a, err := Append(ctx, b, h, [][]byte{entry(10, "lost").Marshal(), entry(10, "a").Marshal()}, s)
	if err != nil {
		t.Fatal(err)
	}
	b.put(t, a)
	h2, err := ReadHead(ctx, b, v, nil)
	if err != nil {
		t.Fatal(err)
	}
	if idx, err := Include(ctx, b, h2, entry(10, "a")); err != nil || idx != 6 {
		t.Fatalf("relogged version: %d, %v", idx, err)
	}
}
