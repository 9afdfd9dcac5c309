// Package termsafe shows attacker-influenced text on a terminal without
// letting it control the terminal.
//
// Chart names, versions, user IDs, reasons, tickets, URLs, file names and
// error text reach keyctl from .prov files, index.yaml, keys and config
// files that anyone may have written. Printed raw, a carriage return, an
// erase-line or conceal escape sequence, or a bidi override can hide or
// rewrite what keyctl says ("trusted: ... signed by Alice" drawn over a
// refusal). termsafe replaces every such character with a visible escape:
//
//   - control characters (Unicode category Cc: C0, DEL, C1), e.g. ESC as \x1b,
//     CR as \r, NEL as \u0085;
//   - format characters (category Cf: bidi overrides and isolates, zero-width
//     characters, tag characters), e.g. U+202E as \u202e;
//   - the line and paragraph separators U+2028 and U+2029;
//   - bytes that are not UTF-8, as \xNN.
//
// Everything else, including a backslash, is kept as it is.
package termsafe

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every control, format and separator character
// escaped, newlines and tabs included: one field stays on one line and in
// one column.
func String(s string) string {
	return escape(s, false)
}

// Text is String for text that keyctl itself laid out in lines and
// columns: newlines and tabs are kept, everything else is escaped.
func Text(s string) string {
	return escape(s, true)
}

// unsafe reports whether r must be escaped.
func unsafe(r rune) bool {
	return unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029'
}

func escape(s string, layout bool) string {
	clean := true
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || (unsafe(r) && !(layout && (r == '\n' || r == '\t'))) {
			clean = false
			break
		}
		i += n
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case layout && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case unsafe(r) && r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafe(r) && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case unsafe(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Args returns args with every string, error and fmt.Stringer replaced by
// its String escape, so that fmt.Fprintf(w, format, Args(args)...) prints
// the caller's layout and nothing an argument brings. Slices of strings are
// escaped element by element; other values (numbers, times) are kept.
func Args(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = String(v)
		case []string:
			c := make([]string, len(v))
			for j, s := range v {
				c[j] = String(s)
			}
			out[i] = c
		case []byte:
			out[i] = String(string(v))
		case error:
			out[i] = String(v.Error())
		case fmt.Stringer:
			out[i] = String(v.String())
		default:
			out[i] = a
		}
	}
	return out
}

// Writer escapes, as Text does, everything written through it: the net
// under keyctl's text output, for text that did not come through Args.
type Writer struct {
	W io.Writer
}

// NewWriter returns a Writer over w.
func NewWriter(w io.Writer) *Writer { return &Writer{W: w} }

// Write writes p escaped; it reports len(p) written when the escaped text
// was written whole.
func (w *Writer) Write(p []byte) (int, error) {
	s := Text(string(p))
	if _, err := io.WriteString(w.W, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// JSON escapes, as \uXXXX (a surrogate pair above U+FFFF), every control,
// format or separator character that encoding/json leaves raw in the
// document b (it escapes C0 and U+2028/2029 but not DEL, C1 or bidi
// overrides).
// Such characters occur only inside strings, so the document stays valid
// and every value exact; printed on a terminal it controls nothing.
func JSON(b []byte) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r >= 0x7f && unsafe(r) { // encoding/json leaves DEL raw too
			if out == nil {
				out = make([]byte, 0, len(b)+16)
			}
			out = append(out, b[last:i]...)
			if r > 0xffff {
				r -= 0x10000
				out = fmt.Appendf(out, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			} else {
				out = fmt.Appendf(out, `\u%04x`, r)
			}
			last = i + n
		}
		i += n
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}
