package main

import (
	"fmt"
	"io"

	"github.com/keyctl/keyctl/internal/termsafe"
)

// keyctl's text output passes termsafe in two places, so that no command
// can print attacker-influenced text raw (chart names and versions from
// .prov files and index.yaml, user IDs, reasons, tickets, URLs, file
// names, error text):
//
//   - tprintf and tprintln, which every command prints with, escape each
//     argument whole (termsafe.Args): a newline or tab inside a chart name
//     cannot start a line or a column of its own;
//   - a.stdout and a.stderr are termsafe.Writers, which escape any control
//     character other than the layout's newlines and tabs in whatever is
//     written through them (cobra's help, a tabwriter's cells).
//
// JSON output (printJSON) keeps exact values and is written unfiltered.

// tprintf is fmt.Fprintf with every argument escaped by termsafe.String.
func tprintf(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, format, termsafe.Args(args)...)
}

// tprintln is fmt.Fprintln with every argument escaped by termsafe.String.
func tprintln(w io.Writer, args ...any) {
	fmt.Fprintln(w, termsafe.Args(args)...)
}
