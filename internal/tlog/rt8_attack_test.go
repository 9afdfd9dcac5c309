package tlog

import (
	"bytes"
	"encoding/base64"
	"testing"
)

// Attack (one of several witnesses a client names, whose cosigned file the
// publisher merges without --witness, as AddCosignatures allows: "clients
// count an invalid cosignature as absent"): a client requires 2 of 3
// named witnesses and all three cosign. The bad witness w3 adds to its
// file, next to its own valid line, a line under w1's name and key hash
// and one under w2's, neither of which verifies (no key is needed to write
// them), and the publisher merges w3's file first. openCheckpoint checks
// each witness with note.Open(log, w), which verifies only the first line
// by w's name and hash and fails the note when it is invalid, so w1's and w2's valid
// cosignatures now count as absent too: the checkpoint carries three
// valid cosignatures and counts one. One bad witness still defeats a
// 2-of-3 threshold, which the per-witness check was meant to stop: a bad
// line should count as absent, not cancel the valid line next to it.
func TestAttackForgedLineCancelsAnotherWitness(t *testing.T) {
	s, v := newLog(t)
	b := &memBucket{objs: map[string][]byte{}}
	h := publishN(t, b, s, v, 1, 3, "a")
	var ws []*WitnessVerifier
	var notes [][]byte
	forged := func(w *WitnessVerifier) string {
		raw := make([]byte, 4+8+64)
		copy(raw, []byte{byte(w.KeyHash() >> 24), byte(w.KeyHash() >> 16), byte(w.KeyHash() >> 8), byte(w.KeyHash())})
		raw[4+7] = 1
		return "— " + w.Name() + " " + base64.StdEncoding.EncodeToString(raw) + "\n"
	}
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
			if !bytes.HasSuffix(n, []byte("\n")) {
				t.Fatal("setup: note without final newline")
			}
			n = append(n, forged(ws[0])+forged(ws[1])...)
		}
		notes = append(notes, n)
	}
	// w3's file is merged first (it answered first; or the publisher
	// merges each witness's file as it arrives).
	merged, err := MergeCosignatures(h.Note, notes[2], notes[0], notes[1])
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenCheckpoint(merged, v, ws)
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if len(got.Witnesses) < 3 || RequireWitnesses(got, 2) != nil {
		t.Fatalf("a checkpoint carrying valid cosignatures by all 3 named witnesses counts %d (%v): forged lines by one witness under the others' names cancel their valid cosignatures", len(got.Witnesses), got.Witnesses)
	}
}
