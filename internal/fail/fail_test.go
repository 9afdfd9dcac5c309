package fail

import (
	"errors"
	"fmt"
	"testing"
)

func TestExitCodesAndHints(t *testing.T) {
	base := errors.New("disk on fire")
	for _, tc := range []struct {
		err  error
		code int
	}{
		{nil, 0},
		{base, 2},
		{Inputf("bad flag"), 2},
		{Untrustedf("signature does not verify"), 1},
		{Securityf("equivocation"), 1},
		{fmt.Errorf("wrapped: %w", Untrustedf("x")), 1},
		{Hint(Securityf("y"), "do z"), 1},
	} {
		if got := ExitCode(tc.err); got != tc.code {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.code)
		}
	}

	// Hint keeps the message and the chain of an error it wraps, and
	// collects hints outermost first.
	inner := Untrustedf("key %s is revoked", "ABCD").WithHint("ask for a new key")
	typed := fmt.Errorf("checking: %w", inner)
	h := Hint(typed, "see docs")
	if h.Error() != "checking: key ABCD is revoked" {
		t.Errorf("message: %q", h.Error())
	}
	if !errors.Is(h, inner) || KindOf(h) != Untrusted {
		t.Errorf("chain or kind lost: %v", h)
	}
	hints := HintsOf(h)
	if len(hints) != 2 || hints[0] != "see docs" || hints[1] != "ask for a new key" {
		t.Errorf("hints: %q", hints)
	}
	// Hint on a *Error copies it rather than changing the original.
	orig := Inputf("x").WithHint("one")
	_ = Hint(orig, "two")
	if len(orig.Hints) != 1 {
		t.Errorf("Hint changed its argument: %q", orig.Hints)
	}
	if Hint(nil, "x") != nil {
		t.Error("Hint(nil) is not nil")
	}
	if e := Inputf("read %s", "f").Wrap(base); e.Error() != "read f: disk on fire" || !errors.Is(e, base) {
		t.Errorf("Wrap: %v", e)
	}
}
