package tlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/keyctl/keyctl/internal/fail"
)

// Attack (one of several witnesses a client names, or anyone whose
// cosignature line the publisher merges: MergeCosignatures and
// AddCosignatures check no cosignature): a client requires 2 of 3 named
// witnesses. Two honest witnesses cosign; the third adds a cosignature line
// under its own name and key hash that does not verify. OpenCheckpoint
// hands every named witness to note.Open, which fails the whole note on one
// invalid signature by a known key, so every client naming the third
// witness refuses the checkpoint although two valid cosignatures are
// there: a k-of-n threshold is meant to survive n-k bad witnesses, and one
// bad witness here stops every client (and pushes operators to drop the
// witness requirement). A bad cosignature should count as absent.
func TestAttackOneBadCosignatureDefeatsThreshold(t *testing.T) {
	s, v := newLog(t)
	b := &memBucket{objs: map[string][]byte{}}
	h := publishN(t, b, s, v, 1, 3, "a")
	var ws []*WitnessVerifier
	var notes [][]byte
	for _, name := range []string{"w1.example", "w2.example", "w3.example"} {
		skey, vkey, err := GenerateWitnessKey(name)
		if err != nil {
			t.Fatal(err)
		}
		signer, err := NewWitnessSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		wv, err := NewWitnessVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, wv)
		n, err := Cosign(h.Note, signer, v)
		if err != nil {
			t.Fatal(err)
		}
		if name == "w3.example" {
			// The bad witness: its key hash, a timestamp, a signature
			// that does not verify.
			i := bytes.Index(n, []byte("— w3.example "))
			j := i + bytes.IndexByte(n[i:], '\n')
			raw := make([]byte, 4+8+64)
			copy(raw, []byte{byte(wv.KeyHash() >> 24), byte(wv.KeyHash() >> 16), byte(wv.KeyHash() >> 8), byte(wv.KeyHash())})
			n = append(append(append([]byte(nil), n[:i]...), "— w3.example "+base64.StdEncoding.EncodeToString(raw)...), n[j:]...)
		}
		notes = append(notes, n)
	}
	merged, err := MergeCosignatures(h.Note, notes...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenCheckpoint(merged, v, ws)
	if err != nil {
		t.Fatalf("a checkpoint with 2 valid cosignatures of 3 named witnesses is refused because the third witness's line is bad: %v", err)
	}
	if err := RequireWitnesses(got, 2); err != nil {
		t.Fatal(err)
	}
}

// Attack (the repository host alone, no key): the log is honest and
// append-only, but the host serves one damaged hash tile. CheckConsistent
// turns "the tiles do not hash to the signed tree" (nothing proven either
// way) into an *InconsistentError, a Security error that the witness, the
// monitor and clients report as a split view: they save both (consistent)
// checkpoints as "evidence" and docs/runbook.md tells the team to treat
// the root keys and the log key as compromised and rotate them. A host
// without any key can raise that alarm at will (crying wolf until real
// alarms are ignored); a tile that does not match its signed tree should
// be the untrusted "damaged or forged log" read error, as Include and
// Append report it.
func TestAttackDamagedTileReportedAsFork(t *testing.T) {
	ctx := context.Background()
	s, v := newLog(t)
	b := &memBucket{objs: map[string][]byte{}}
	old := publishN(t, b, s, v, 1, 3, "a")
	cur := publishN(t, b, s, v, 4, 5, "a")
	if err := CheckConsistent(ctx, b, old.Tree(), old.Note, cur); err != nil {
		t.Fatalf("setup: honest log: %v", err)
	}
	name := TilePath(tlog.Tile{H: 8, L: 0, N: 0, W: 5})
	tile := bytes.Clone(b.objs[name])
	tile[len(tile)-1] ^= 1
	b.objs[name] = tile
	err := CheckConsistent(ctx, b, old.Tree(), old.Note, cur)
	if err == nil {
		t.Fatal("damaged tile accepted")
	}
	var ie *InconsistentError
	if errors.As(err, &ie) || fail.KindOf(err) == fail.Security {
		t.Fatalf("an honest append-only log with one damaged tile is reported as a fork (security error, evidence saved): %v", err)
	}
}

// Attack (one witness operator): a client requires 2 witnesses and names
// two vkeys it takes for two independent witnesses; both carry the same
// Ed25519 key under two names (the key hash covers the name, so the
// hashes differ). One operator, one key, one view of the log: its two
// cosignatures count as two toward the threshold. Witnesses should be
// counted by distinct public key.
func TestAttackSameWitnessKeyUnderTwoNamesCountsTwice(t *testing.T) {
	s, v := newLog(t)
	b := &memBucket{objs: map[string][]byte{}}
	h := publishN(t, b, s, v, 1, 2, "a")
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	raw := append([]byte{algCosignatureV1}, pub...)
	var ws []*WitnessVerifier
	var notes [][]byte
	for _, name := range []string{"witness-a.example", "witness-b.example"} {
		kh := keyHash(name, raw)
		skey := fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", name, kh, base64.StdEncoding.EncodeToString(append([]byte{algCosignatureV1}, seed...)))
		vkey := fmt.Sprintf("%s+%08x+%s", name, kh, base64.StdEncoding.EncodeToString(raw))
		signer, err := NewWitnessSigner(skey)
		if err != nil {
			t.Fatal(err)
		}
		wv, err := NewWitnessVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		ws = append(ws, wv)
		n, err := Cosign(h.Note, signer, v)
		if err != nil {
			t.Fatal(err)
		}
		notes = append(notes, n)
	}
	merged, err := MergeCosignatures(h.Note, notes...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenCheckpoint(merged, v, ws)
	if err != nil {
		return // refused: fine
	}
	if RequireWitnesses(got, 2) == nil {
		t.Fatalf("one witness key under two names met a threshold of 2 witnesses: %v", got.Witnesses)
	}
}
