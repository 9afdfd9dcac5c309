package client

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/tlog"
)

// rt7Remote is an in-memory publish.Remote: one view of a bucket as a
// hostile host serves it to one reader.
type rt7Remote struct {
	mu   sync.Mutex
	objs map[string][]byte
	// onTile, when set, runs before the first tile read.
	onTile   func()
	tileSeen bool
}

func (r *rt7Remote) Get(_ context.Context, name string, limit int64) ([]byte, error) {
	r.mu.Lock()
	first := strings.HasPrefix(name, tlog.Prefix+"tile/") && !r.tileSeen
	if first {
		r.tileSeen = true
	}
	hook := r.onTile
	b, ok := r.objs[name]
	r.mu.Unlock()
	if first && hook != nil {
		hook()
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s too large", name)
	}
	return b, nil
}
func (r *rt7Remote) Exists(ctx context.Context, name string) (bool, error) {
	_, err := r.Get(ctx, name, 1<<30)
	return err == nil, nil
}
func (r *rt7Remote) Publish(context.Context, publish.Plan) error { return fmt.Errorf("read-only") }
func (r *rt7Remote) Location() string                            { return "mem://rt7" }
func (r *rt7Remote) Close() error                                { return nil }

// rt7Append appends one entry per version to the log held in objs.
func rt7Append(t *testing.T, objs map[string][]byte, s note.Signer, v note.Verifier, from, to uint64, tag string) *tlog.Head {
	t.Helper()
	ctx := context.Background()
	r := &rt7Remote{objs: objs}
	var h *tlog.Head
	for i := from; i <= to; i++ {
		prev, err := tlog.ReadHead(ctx, r, v, nil)
		if err != nil {
			t.Fatal(err)
		}
		e := tlog.Entry{Version: i, SHA256: fmt.Sprintf("%064x", []byte(fmt.Sprintf("%d-%s", i, tag)))[:64]}
		a, err := tlog.Append(ctx, r, prev, [][]byte{e.Marshal()}, s)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range a.Tiles {
			objs[o.Name] = o.Data
		}
		objs[tlog.CheckpointPath] = a.Checkpoint
		if h, err = tlog.ReadHead(ctx, r, v, nil); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// Attack (someone feeding a witness: the repository host, who serves each
// reader what it likes): two `keyctl witness cosign` runs of one witness
// overlap (cron and the publisher's CI job, as docs/verify.md suggests
// both). Witness reads the state file, checks consistency and cosigns
// without any lock and without re-reading the state before it writes it,
// so the host serves the honest checkpoint of size 4 to one run and a fork
// of size 4 to the other: both are consistent with the size-3 checkpoint
// in the state, and the witness cosigns two trees of the same size. A
// split view collects the witness's cosignature on both sides, which is
// exactly what the witness exists to prevent ("never another tree of the
// same size").
func TestAttackWitnessConcurrentRunsCosignFork(t *testing.T) {
	skey, vkey, err := tlog.GenerateLogKey("charts.example.org/keyctl-log")
	if err != nil {
		t.Fatal(err)
	}
	s, err := tlog.NewLogSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tlog.NewLogVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	wkey, _, err := tlog.GenerateWitnessKey("witness.example.com")
	if err != nil {
		t.Fatal(err)
	}
	base := map[string][]byte{}
	rt7Append(t, base, s, v, 1, 3, "a")
	state := t.TempDir()
	ctx := context.Background()
	// The witness cosigns size 3 first.
	if _, err := Witness(ctx, WitnessOptions{Bucket: publish.OpenRemote(&rt7Remote{objs: base}), Log: vkey, Key: wkey, StateDir: state}); err != nil {
		t.Fatal(err)
	}
	honest, fork := maps.Clone(base), maps.Clone(base)
	hh := rt7Append(t, honest, s, v, 4, 4, "a")
	fh := rt7Append(t, fork, s, v, 4, 4, "evil")
	if hh.N != fh.N || hh.Hash == fh.Hash {
		t.Fatal("setup: the fork is not a second tree of the same size")
	}

	// Both runs reach their consistency proof before either records its
	// cosigning (bounded wait: a fixed witness that serialises runs must
	// not deadlock this test).
	var arrived sync.WaitGroup
	arrived.Add(2)
	release := make(chan struct{})
	go func() { arrived.Wait(); close(release) }()
	barrier := func() {
		arrived.Done()
		select {
		case <-release:
		case <-time.After(2 * time.Second):
		}
	}
	views := []*rt7Remote{{objs: honest, onTile: barrier}, {objs: fork, onTile: barrier}}
	res := make([]*WitnessResult, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range views {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = Witness(ctx, WitnessOptions{Bucket: publish.OpenRemote(views[i]), Log: vkey, Key: wkey, StateDir: state})
		}()
	}
	wg.Wait()
	if errs[0] == nil && errs[1] == nil && res[0].Cosigned != nil && res[1].Cosigned != nil {
		t.Fatalf("the witness cosigned two different trees of size %d (honest and fork) in overlapping runs:\n%s\n%s", hh.N, res[0].Cosigned, res[1].Cosigned)
	}
}

// Attack (someone feeding a witness: the operator of another repository
// the same witness watches): log origins are names anyone picks, and the
// witness keys its state by origin alone (witnessStatePath). A second log
// whose key carries the victim log's name shares the victim's state file
// in the witness's one --state folder (docs/verify.md runs every log
// from /var/lib/keyctl-witness): the run for one log reports the other's
// state as "damaged" and cosigns nothing, and the hint ("restore it from a
// backup"; moving it away) leads the operator to drop what the witness
// cosigned for the victim log, after which it cosigns a fork of it. The
// state of a log should be keyed by its key (vkey), not its name.
func TestAttackWitnessStateSharedByOriginName(t *testing.T) {
	ctx := context.Background()
	wkey, _, err := tlog.GenerateWitnessKey("witness.example.com")
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	var vkeys []string
	var buckets []*publish.Bucket
	for range 2 {
		skey, vkey, err := tlog.GenerateLogKey("charts.example.org/keyctl-log")
		if err != nil {
			t.Fatal(err)
		}
		s, _ := tlog.NewLogSigner(skey)
		v, _ := tlog.NewLogVerifier(vkey)
		objs := map[string][]byte{}
		rt7Append(t, objs, s, v, 1, 2, "x")
		vkeys = append(vkeys, vkey)
		buckets = append(buckets, publish.OpenRemote(&rt7Remote{objs: objs}))
	}
	// The victim log is witnessed first; then the other log of the same name.
	if _, err := Witness(ctx, WitnessOptions{Bucket: buckets[0], Log: vkeys[0], Key: wkey, StateDir: state}); err != nil {
		t.Fatal(err)
	}
	if _, err := Witness(ctx, WitnessOptions{Bucket: buckets[1], Log: vkeys[1], Key: wkey, StateDir: state}); err != nil {
		t.Fatalf("a second log (another key) named like the first cannot be witnessed from the same state folder: %v", err)
	}
}
