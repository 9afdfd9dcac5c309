package termsafe

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"nginx", "nginx"},
		{"Alice <alice@example.org>", "Alice <alice@example.org>"},
		{"é日本", "é日本"},
		{`C:\path`, `C:\path`},
		{"a\x1b[2Kb", `a\x1b[2Kb`},
		{"x\ry", `x\ry`},
		{"x\ny\tz", `x\ny\tz`},
		{"\x7f\x00", `\x7f\x00`},
		{"\u0085\u009b", `\u0085\u009b`},
		{"evil\u202egnp.exe", `evil\u202egnp.exe`},
		{"a\u200bb\u2066c\ufeff", `a\u200bb\u2066c\ufeff`},
		{"l\u2028p\u2029", `l\u2028p\u2029`},
		{"tag\U000E0041", `tag\U000e0041`},
		{"bad\xff\xc3", `bad\xff\xc3`},
		{"\x1b[8mhidden\x1b[0m", `\x1b[8mhidden\x1b[0m`},
	} {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTextKeepsLayout(t *testing.T) {
	if got := Text("a\tb\nc\x1b[2K\r"); got != "a\tb\nc\\x1b[2K\\r" {
		t.Errorf("Text = %q", got)
	}
}

func TestArgs(t *testing.T) {
	got := fmt.Sprintf("%s %s %v %d %s", Args([]any{"a\x1b", errors.New("e\r"), []string{"x\n"}, 7, bytes.NewBufferString("s\u202e")})...)
	if want := `a\x1b e\r [x\n] 7 s\u202e`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestWriter(t *testing.T) {
	var b bytes.Buffer
	fmt.Fprintf(NewWriter(&b), "ok\t%s\n", "x\x1b]0;title\x07")
	if want := "ok\tx\\x1b]0;title\\x07\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// check holds the property for any input: the result is valid UTF-8 and
// holds no character a terminal interprets (layout ones aside).
func check(t *testing.T, in, out string, layout bool) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("escape(%q) = %q: not UTF-8", in, out)
	}
	for _, r := range out {
		if layout && (r == '\n' || r == '\t') {
			continue
		}
		if unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			t.Fatalf("escape(%q) = %q: holds %U", in, out, r)
		}
	}
	if !layout && strings.ContainsAny(out, "\n\r\t") {
		t.Fatalf("String(%q) = %q spans lines or columns", in, out)
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "nginx", "\x1b[2K\rtrusted", "\u202e", "\xff", "a\nb\tc", "\U000E0041"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		check(t, s, out, false)
		check(t, s, Text(s), true)
		if b, err := json.Marshal(s); err == nil {
			j := JSON(b)
			check(t, string(b), string(j), false)
			var x, y string
			if json.Unmarshal(b, &x) != nil || json.Unmarshal(j, &y) != nil || x != y {
				t.Fatalf("JSON changed %q: %q vs %q", s, b, j)
			}
		}
		if String(out) != out {
			t.Fatalf("String is not idempotent on %q", s)
		}
		clean := utf8.ValidString(s)
		for _, r := range s {
			if unsafe(r) {
				clean = false
			}
		}
		if clean && out != s {
			t.Fatalf("String changed clean text %q to %q", s, out)
		}
	})
}

func TestJSON(t *testing.T) {
	in := map[string]string{"v": "a\x1b\u202e\u0085\U000E0041\u2028é"}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	got := JSON(b)
	check(t, string(b), string(got), false)
	var back map[string]string
	if err := json.Unmarshal(got, &back); err != nil || back["v"] != in["v"] {
		t.Fatalf("JSON changed the value: %q (%v)", back["v"], err)
	}
}
