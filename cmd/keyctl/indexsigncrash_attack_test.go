package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/indexsig"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/testutil/charts"
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
	dir := t.TempDir()
	pages := filepath.Join(dir, "pages")
	if err := os.MkdirAll(pages, 0o755); err != nil {
		t.Fatal(err)
	}
	key := newMaintainer(t, dir, "Index")
	sec := secretKeyFile(t, key, dir)
	signer := newMaintainer(t, dir, "Maint")
	archive, err := charts.Archive(charts.Spec{Name: "alpha", Version: "1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	prov, err := charts.SignBytes(signer.entity, "alpha-1.0.0.tgz", archive, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, pages, "alpha-1.0.0.tgz.prov", prov)
	writeFile(t, pages, "index.yaml", []byte("apiVersion: v1\nentries:\n  alpha:\n  - name: alpha\n    version: 1.0.0\n    urls: [alpha-1.0.0.tgz]\n"))
	stmtPath := filepath.Join(pages, indexsig.Name)
	sign := func() *indexsig.Statement {
		t.Helper()
		time.Sleep(1100 * time.Millisecond) // issue times only grow, to the second
		out, errs, code := runIn("index", "sign", pages, "--key", sec, "--id", "charts.example.org")
		if code != 0 {
			t.Fatalf("index sign: exit %d\n%s%s", code, out, errs)
		}
		data, _ := os.ReadFile(stmtPath)
		s, err := indexsig.Parse(data)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := sign().FirstSeen("alpha", "1.0.0", indexsig.Hash(prov))
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
	sign()
	if err := os.WriteFile(stmtPath, old, 0o644); err != nil {
		t.Fatal(err)
	}
	// The next run: same index.yaml, same .prov bytes. It must not
	// silently restart the first-seen times: it either keeps them, or
	// refuses (exit 1) and leaves the statement in place as it was, and
	// once the published pair is restored it keeps them.
	time.Sleep(1100 * time.Millisecond)
	out, errs, code := runIn("index", "sign", pages, "--key", sec, "--id", "charts.example.org")
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
	again := sign().FirstSeen("alpha", "1.0.0", indexsig.Hash(prov))
	if again == nil || !again.Equal(*first) {
		t.Errorf("the unchanged .prov of alpha 1.0.0, first seen %s by this index key, is now dated %v: one index sign run interrupted between its two writes erased every release's trusted time for good",
			first.Format(time.RFC3339), again)
	}
}
