package main

import (
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/testutil/charts"
)

// TestAttackStoreEditTurnsCompromisedReleaseTrustedInAudit: someone who
// can write the team lead's store file edits bob's key record behind
// keyctl's back after bob was removed as compromised. keyctl publish and
// keyctl log --verify refuse such a store (the change log removed bob as
// compromised), but keyctl audit builds its trust from the store without
// checking the change log: a release signed by the compromised key is
// reported trusted and drops off the re-sign worklist.
func TestAttackStoreEditTurnsCompromisedReleaseTrustedInAudit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(k map[string]any)
	}{
		{"compromised key reactivated", func(k map[string]any) {
			k["status"] = "active"
			delete(k, "removal")
		}},
		{"compromised relabelled retired", func(k map[string]any) {
			r := k["removal"].(map[string]any)
			r["reason"] = "retired"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newAttackStore(t)
			k, mustRun, made, alice, repo := st.args, st.mustRun, st.made, st.alice, st.repo
			bob := st.addKey("bob", "--reason", "maintainer")
			publishRelease(t, repo, charts.Spec{Name: "app", Version: "1.0.0"}, alice, made.Add(time.Hour))
			publishRelease(t, repo, charts.Spec{Name: "app", Version: "1.1.0"}, bob, made.Add(2*time.Hour))
			writeIndex(t, repo)
			mustRun("ledger", "record", "--repo", repo)
			mustRun("remove", bob.fpr, "--reason", "compromised")

			d := auditJSONRun(t, 1, k("audit", "--repo", repo)...)
			if d.Summary.Trusted != 1 {
				t.Fatalf("before the edit: %+v", d.Summary)
			}

			editStoredKey(t, st.store, bob.fpr, tc.tamper)
			if _, _, code := keyctlRun(t, k("log", "--verify")...); code != 1 {
				t.Fatalf("log --verify accepts the edited store: exit %d", code)
			}
			got, out, errs, code := st.auditJSON()
			for _, r := range got.Releases {
				if r.Version == "1.1.0" && r.Status == "trusted" {
					t.Errorf("audit on an edited store reports bob's compromised release trusted (exit %d): %+v", code, r)
				}
			}
			if code == 0 {
				t.Errorf("audit on a store its change log does not explain exits 0\n%s%s", out, errs)
			}
		})
	}
}
