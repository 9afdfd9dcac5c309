package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

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

func witnessStatePath(dir, origin string) string {
	h := sha256.Sum256([]byte(origin))
	return filepath.Join(dir, "witness-"+hex.EncodeToString(h[:10])+".checkpoint")
}

// Witness checks that the log's newest checkpoint is consistent with the
// last one this witness cosigned (never a smaller tree, never another
// tree of the same size), cosigns it, and records it. On an inconsistent
// log it saves both checkpoints as evidence and cosigns nothing.
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
	head, err := tlog.ReadHead(ctx, o.Bucket, lv, nil)
	if err != nil {
		return nil, err
	}
	if head == nil {
		return nil, fail.Inputf("%s publishes no log checkpoint", RedactURL(o.Bucket.Location()))
	}
	res := &WitnessResult{Origin: lv.Name(), Size: head.N}
	path := witnessStatePath(o.StateDir, lv.Name())
	old, err := readSmall(path, tlog.MaxCheckpointSize)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fail.Inputf("cannot read the witness state %s", path).Wrap(err)
	}
	if err == nil {
		oc, perr := tlog.OpenCheckpoint(old, lv, nil)
		if perr != nil {
			return nil, fail.Inputf("the witness state %s is damaged", path).Wrap(perr).
				WithHint("restore it from a backup; a witness that forgets what it cosigned can be made to cosign a fork")
		}
		res.From = oc.N
		var cerr error
		if oc.N > head.N {
			cerr = tlog.CheckConsistent(ctx, o.Bucket, oc.Tree(), old, head)
			if cerr == nil {
				cerr = &tlog.InconsistentError{Old: old, New: head.Note, Why: fmt.Sprintf("the log shrank from %d to %d entries (rollback)", oc.N, head.N)}
			}
		} else {
			cerr = tlog.CheckConsistent(ctx, o.Bucket, oc.Tree(), old, head)
		}
		if cerr != nil {
			var ie *tlog.InconsistentError
			if errors.As(cerr, &ie) {
				ev, err := SaveEvidence(o.StateDir, ie, now())
				if err != nil {
					return nil, err
				}
				res.Evidence = ev
			}
			return res, cerr
		}
	}
	cos, err := tlog.Cosign(head.Note, signer, lv)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(path, head.Note); err != nil {
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
func AddCosignatures(ctx context.Context, b *publish.Bucket, logKey string, cosigned [][]byte) (*tlog.Head, error) {
	lv, err := tlog.NewLogVerifier(logKey)
	if err != nil {
		return nil, err
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
	h, err := tlog.OpenCheckpoint(merged, lv, nil)
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
