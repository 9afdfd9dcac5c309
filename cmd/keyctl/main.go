// Command keyctl governs who may sign Helm charts for a chart repository.
// This package is only the command line: cobra wiring, flags and
// configuration, output formatting and exit codes. The work is done by the
// packages under internal/ and by policy.
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
