package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/publish"
	"github.com/keyctl/keyctl/internal/tlog"
)

// WitnessOptions configure Witness.
type WitnessOptions struct {
	Bucket *publish.Bucket
	// Log is the log's public key (vkey), taken from the repository's root
	// set out of band: a witness pins the log it watches.
	Log string
	// Key is the witness's secret key (tlog.GenerateWitnessKey).
	Key string
	// StateDir keeps the last checkpoint cosigned, per log.
	StateDir string
	Now      func() time.Time
}

// WitnessResult is one cosigning.
type WitnessResult struct {
	Origin   string `json:"log"`
	Size     int64  `json:"size"`
	From     int64  `json:"from"` // size of the last checkpoint cosigned (0: first)
	Cosigned []byte `json:"-"`    // the checkpoint with the witness's cosignature
	Evidence string `json:"evidence,omitempty"`
}

// witnessStatePath is the state file of the log whose key is vkey: keyed
// by the whole key (name, key hash and public key), not by the log's name,
// which anyone can give their own log.
func witnessStatePath(dir, vkey string) string {
	h := sha256.Sum256([]byte(vkey))
	return filepath.Join(dir, "witness-key-"+hex.EncodeToString(h[:10])+".checkpoint")
}

// legacyWitnessStatePath is where keyctl kept a log's state before it was
// keyed by the log's key: by the log's name alone.
func legacyWitnessStatePath(dir, origin string) string {
	h := sha256.Sum256([]byte(origin))
	return filepath.Join(dir, "witness-"+hex.EncodeToString(h[:10])+".checkpoint")
}

// canonicalVKey returns vkey (already parsed by tlog.NewLogVerifier) with
// its key re-encoded, so that two spellings of one key share one state.
func canonicalVKey(vkey string) string {
	vkey = strings.TrimSpace(vkey)
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return vkey
	}
	key, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil {
		return vkey
	}
	return parts[0] + "+" + strings.ToLower(parts[1]) + "+" + base64.StdEncoding.EncodeToString(key)
}

// readWitnessState returns the checkpoint last cosigned for the log lv
// (nil when none). When the state file keyed by the log's key does not
// exist yet, a state file of the old, name-keyed layout is taken over,
// but only when the log key signed it: a file another log of the same
// name wrote there is not this log's state and is left alone.
func readWitnessState(dir, path string, lv note.Verifier) ([]byte, error) {
	damaged := func(p string, err error) error {
		return fail.Inputf("the witness state %s is damaged", p).Wrap(err).
			WithHint("restore it from a backup; a witness that forgets what it cosigned can be made to cosign a fork")
	}
	b, err := readSmall(path, tlog.MaxCheckpointSize)
	if err == nil {
		if _, perr := tlog.OpenCheckpoint(b, lv, nil); perr != nil {
			return nil, damaged(path, perr)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fail.Inputf("cannot read the witness state %s", path).Wrap(err)
	}
	legacy := legacyWitnessStatePath(dir, lv.Name())
	b, err = readSmall(legacy, tlog.MaxCheckpointSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fail.Inputf("cannot read the witness state %s", legacy).Wrap(err)
	}
	if _, err := note.Open(b, note.VerifierList(lv)); err != nil {
		var un *note.UnverifiedNoteError
		if errors.As(err, &un) {
			// Signed by another key of the same name: another log's.
			return nil, nil
		}
		return nil, fail.Inputf("the witness state %s is damaged", legacy).Wrap(err).
			WithHint("restore it from a backup; a witness that forgets what it cosigned can be made to cosign a fork",
				"if it holds the state of another log of the same name, move it away")
	}
	if _, perr := tlog.OpenCheckpoint(b, lv, nil); perr != nil {
		return nil, damaged(legacy, perr)
	}
	return b, nil
}

// Witness checks that the log's newest checkpoint is consistent with the
// last one this witness cosigned (never a smaller tree, never another
// tree of the same size), cosigns it, and records it. On an inconsistent
// log it saves both checkpoints as evidence and cosigns nothing. A
// smaller checkpoint that the one cosigned extends is a stale read, not a
// fork: it is refused (untrusted, retry) without evidence.
//
// A run holds an exclusive lock on the log's state file from before it
// reads the state until after it recorded the checkpoint it cosigns, and
// checks the checkpoint again against the state re-read just before it
// writes: two overlapping runs (cron and a publisher's CI job) cannot each
// cosign one side of a fork.
func Witness(ctx context.Context, o WitnessOptions) (*WitnessResult, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if o.StateDir == "" {
		return nil, fail.Inputf("a witness needs a state folder").WithHint("give --state DIR; it keeps the last checkpoint cosigned")
	}
	lv, err := tlog.NewLogVerifier(o.Log)
	if err != nil {
		return nil, err
	}
	signer, err := tlog.NewWitnessSigner(o.Key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fail.Inputf("cannot create the witness state folder %s", o.StateDir).Wrap(errors.Unwrap(err))
	}
	path := witnessStatePath(o.StateDir, canonicalVKey(o.Log))
	unlock, err := (&stateFile{dir: o.StateDir, path: path}).lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	old, err := readWitnessState(o.StateDir, path, lv)
	if err != nil {
		return nil, err
	}
	head, err := tlog.ReadHead(ctx, o.Bucket, lv, nil)
	if err != nil {
		return nil, err
	}
	if head == nil {
		return nil, fail.Inputf("%s publishes no log checkpoint", RedactURL(o.Bucket.Location()))
	}
	res := &WitnessResult{Origin: lv.Name(), Size: head.N}
	check := func(old []byte) error {
		if old == nil {
			return nil
		}
		oc, err := tlog.OpenCheckpoint(old, lv, nil)
		if err != nil {
			return err // readWitnessState opened it already
		}
		res.From = oc.N
		cerr := tlog.CheckConsistent(ctx, o.Bucket, oc.Tree(), old, head)
		if cerr == nil && oc.N > head.N {
			// A smaller checkpoint that the one cosigned extends is a
			// stale read (a cache or replica behind, or a host replaying
			// what the log key signed before), which anyone can serve:
			// not a fork, but never cosigned, since this witness vouches
			// only for checkpoints that extend what it cosigned.
			return fail.Untrustedf("stale checkpoint: %s serves the checkpoint of size %d, but this witness cosigned size %d, which extends it (a consistency proof joins them); a witness cosigns no smaller tree", RedactURL(o.Bucket.Location()), head.N, oc.N).
				WithHint("nothing was cosigned: an old copy of the checkpoint is being served (a cache or a replica behind); retry in a few minutes",
					"if it persists, the host keeps serving an old checkpoint: tell the repository's team lead")
		}
		if cerr != nil {
			var ie *tlog.InconsistentError
			if errors.As(cerr, &ie) {
				ev, err := SaveEvidence(o.StateDir, ie, now())
				if err != nil {
					return err
				}
				res.Evidence = ev
			}
			return cerr
		}
		return nil
	}
	if err := check(old); err != nil {
		return res, err
	}
	cos, err := tlog.Cosign(head.Note, signer, lv)
	if err != nil {
		return nil, err
	}
	// Under the lock still: the state read again (a writer that does not
	// lock, such as an older keyctl, may have recorded another checkpoint
	// meanwhile) must be one this checkpoint extends too.
	again, err := readWitnessState(o.StateDir, path, lv)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, old) {
		if err := check(again); err != nil {
			return res, err
		}
	}
	if err := writeAtomic(o.StateDir, path, head.Note); err != nil {
		return nil, err
	}
	res.Cosigned = cos
	return res, nil
}

func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// AddCosignatures merges witness cosignatures (cosigned checkpoints from
// keyctl witness cosign) into the checkpoint published at b, replacing it
// only if it did not change meanwhile. The log signature is checked; the
// result must still open under the log key.
//
// With witnesses (their vkeys), each cosigned checkpoint must carry a
// valid cosignature by one of them, and only those cosignatures are
// merged: a bad or unknown line is not published. Without, the lines are
// merged unchecked (clients count an invalid cosignature as absent).
func AddCosignatures(ctx context.Context, b *publish.Bucket, logKey string, witnesses []string, cosigned [][]byte) (*tlog.Head, error) {
	lv, err := tlog.NewLogVerifier(logKey)
	if err != nil {
		return nil, err
	}
	var ws []*tlog.WitnessVerifier
	for _, k := range witnesses {
		w, err := tlog.NewWitnessVerifier(k)
		if err != nil {
			return nil, fail.Hint(err, "check --witness")
		}
		ws = append(ws, w)
	}
	if len(ws) > 0 {
		checked := make([][]byte, len(cosigned))
		for i, c := range cosigned {
			if checked[i], _, err = tlog.CheckedCosignatures(c, lv, ws); err != nil {
				return nil, fail.Hint(err, fmt.Sprintf("in cosigned checkpoint %d of %d given: nothing was published", i+1, len(cosigned)))
			}
		}
		cosigned = checked
	}
	cur, err := b.Get(ctx, tlog.CheckpointPath, tlog.MaxCheckpointSize)
	if err != nil {
		return nil, err
	}
	if _, err := tlog.OpenCheckpoint(cur, lv, nil); err != nil {
		return nil, err
	}
	merged, err := tlog.MergeCosignatures(cur, cosigned...)
	if err != nil {
		return nil, fail.Hint(err, "a new publish replaced the checkpoint since the witness cosigned it: run the witness again")
	}
	h, err := tlog.OpenCheckpoint(merged, lv, ws)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(cur)
	plan := publish.Plan{Pointer: publish.Object{Name: tlog.CheckpointPath, Data: merged, ContentType: "text/plain; charset=utf-8"}, ExpectPrevious: sum[:]}
	if err := b.Publish(ctx, plan); err != nil {
		return nil, err
	}
	return h, nil
}
