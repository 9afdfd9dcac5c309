// Command keyctl governs who may sign Helm charts for a chart repository.
// This package is only the command line: cobra wiring, flags and
// configuration, output formatting and exit codes. The work is done by the
// packages under internal/ and by policy.
package main

import (
	"os"
	"runtime/debug"
)

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// tuneGC trades memory for time in a short-lived command: with Go's
// default GOGC=100 the collector ran several times while keyctl verify
// parsed a 1,000-key manifest, and took about half the process time
// (measured with hyperfine: 95 ms at GOGC=100, 48 ms at 400, 46 ms with the
// collector off, the same 40 MB peak RSS). 400 keeps the heap bounded by
// what is live (so audit's memory still follows its concurrency). A GOGC
// set in the environment wins.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(400)
	}
}
