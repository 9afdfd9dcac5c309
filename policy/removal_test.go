package policy

import (
	"strings"
	"testing"
	"time"
)

func TestJudgeRemoval(t *testing.T) {
	eff := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	before, after := eff.Add(-48*time.Hour), eff.Add(48*time.Hour)
	for _, tc := range []struct {
		name      string
		reason    string
		signedAt  time.Time
		firstSeen *time.Time
		trusted   bool
		source    TimeSource
		detail    string
	}{
		{"compromised, ledger before", ReasonCompromised, before, &before, false, "", "compromised"},
		{"unknown reason is hard", "lost", before, &before, false, "", "treated as compromised"},
		{"retired, ledger before", ReasonRetired, before, &before, true, TimeLedger, "before that"},
		{"superseded, ledger before", ReasonSuperseded, before, &before, true, TimeLedger, "before that"},
		{"retired, ledger after", ReasonRetired, before, &after, false, TimeLedger, "not before that"},
		{"retired, signed after, ledger before", ReasonRetired, after, &before, false, TimeLedger, "after the removal"},
		{"retired, no ledger, signed before", ReasonRetired, before, nil, false, TimeSignature, "no ledger record"},
		{"retired, no ledger, signed after", ReasonRetired, after, nil, false, TimeSignature, "not before that"},
		{"retired, ledger exactly at effective", ReasonRetired, before, &eff, false, TimeLedger, "not before"},
		{"expired, ledger before", ReasonExpired, before, &before, true, TimeLedger, "before that"},
		{"expired, no ledger", ReasonExpired, before, nil, false, TimeSignature, "no ledger record"},
	} {
		j := JudgeRemoval(tc.reason, eff, tc.signedAt, tc.firstSeen)
		if j.Trusted != tc.trusted || j.TimeSource != tc.source || !strings.Contains(j.Detail, tc.detail) {
			t.Errorf("%s: %+v", tc.name, j)
		}
	}
}

func TestInScope(t *testing.T) {
	for _, tc := range []struct {
		scopes []string
		chart  string
		want   bool
	}{
		{nil, "anything", true},
		{[]string{"nginx-*"}, "nginx-ingress", true},
		{[]string{"nginx-*"}, "redis", false},
		{[]string{"redis", "nginx-*"}, "redis", true},
		{[]string{"[bad"}, "x", false},
	} {
		if got := InScope(tc.scopes, tc.chart); got != tc.want {
			t.Errorf("InScope(%v, %q) = %v", tc.scopes, tc.chart, got)
		}
	}
}

// A signed index's first-seen time backs a soft removal like the ledger,
// and says where it came from.
func TestJudgeRemovalBySignedIndex(t *testing.T) {
	eff := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	before := eff.Add(-time.Hour)
	j := JudgeRemovalBy(ReasonRetired, eff, before, &before, TimeIndex)
	if !j.Trusted || j.TimeSource != TimeIndex || !strings.Contains(j.Detail, "the signed index (keyctl-index.json) saw this release's .prov first at") {
		t.Fatalf("%+v", j)
	}
	after := eff.Add(time.Hour)
	if j := JudgeRemovalBy(ReasonRetired, eff, before, &after, TimeIndex); j.Trusted || j.TimeSource != TimeIndex {
		t.Fatalf("index time after the removal: %+v", j)
	}
	if j := JudgeRemovalBy(ReasonCompromised, eff, before, &before, TimeIndex); j.Trusted {
		t.Fatalf("compromised: %+v", j)
	}
	if j := JudgeRemovalBy(ReasonRetired, eff, before, nil, TimeIndex); j.Trusted || j.TimeSource != TimeSignature {
		t.Fatalf("no time: %+v", j)
	}
	if TimeIndex.Describe() != "signed index first-seen time" {
		t.Fatalf("description %q", TimeIndex.Describe())
	}
}
