package tlog

import (
	"bytes"
	"encoding/base64"
	"testing"
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
