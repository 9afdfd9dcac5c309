package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/root"
)

// Role: none (a CI run killed or out of disk mid-write), or whoever edits
// the CI folder the statement is signed from.
//
// index sign writes keyctl-index.json.sig first and keyctl-index.json
// last, and carries first-seen times only from a statement in place whose
// signature file verifies. A run interrupted between the two writes leaves
// the new signature next to the old statement; the next run finds that
// pair does not verify and starts every first-seen time afresh (now),
// though the old statement is this very key's, and its issue time and
// entries are intact. Clients keep the later of their recorded and the new
// time, so every release signed by a key retired before that run loses its
// signed-index time on every client for good (fail-closed, but permanent),
// with no key change and no edit of index.yaml. The same follows from
// truncating or swapping the .sig in a persistent CI folder.
//
// Fixed: index sign now refuses a pair in place that does not verify
// with its key (exit 1: restore the published pair, or --fresh on
// purpose); the final assertion accepts that refusal, then restores the
// pair as the operator would.
func TestAttackInterruptedIndexSignLosesFirstSeen(t *testing.T) {
	f := newIndexFixture(t, map[string]maintainer{"alpha": newMaintainer(t, t.TempDir(), "Maint")})
	prov := f.provs["alpha"]
	stmtPath := filepath.Join(f.pages, indexsig.Name)
	first := f.mustSign(t).FirstSeen("alpha", "1.0.0", indexsig.Hash(prov))
	if first == nil {
		t.Fatal("fixture: alpha not bound")
	}
	// A run that dies after writing the signature, before the statement.
	old, err := os.ReadFile(stmtPath)
	if err != nil {
		t.Fatal(err)
	}
	oldSig, err := os.ReadFile(stmtPath + root.SigSuffix)
	if err != nil {
		t.Fatal(err)
	}
	f.mustSign(t)
	if err := os.WriteFile(stmtPath, old, 0o644); err != nil {
		t.Fatal(err)
	}
	// The next run: same index.yaml, same .prov bytes. It must not
	// silently restart the first-seen times: it either keeps them, or
	// refuses (exit 1) and leaves the statement in place as it was, and
	// once the published pair is restored it keeps them.
	time.Sleep(1100 * time.Millisecond)
	out, errs, code := runIn("index", "sign", f.pages, "--key", f.sec, "--id", "charts.example.org")
	if code != 0 {
		if code != 1 || !strings.Contains(errs, "--fresh") {
			t.Fatalf("index sign after an interrupted run: exit %d, want 0, or 1 naming the way out\n%s%s", code, out, errs)
		}
		if now, _ := os.ReadFile(stmtPath); string(now) != string(old) {
			t.Fatal("the refused run changed the statement in place")
		}
		// The operator restores the published pair (git checkout).
		if err := os.WriteFile(stmtPath+root.SigSuffix, oldSig, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	again := f.mustSign(t).FirstSeen("alpha", "1.0.0", indexsig.Hash(prov))
	if again == nil || !again.Equal(*first) {
		t.Errorf("the unchanged .prov of alpha 1.0.0, first seen %s by this index key, is now dated %v: one index sign run interrupted between its two writes erased every release's trusted time for good",
			first.Format(time.RFC3339), again)
	}
}
