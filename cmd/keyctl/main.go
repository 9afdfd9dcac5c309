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
	growStack()
	tuneGC()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// growStack grows the main goroutine's stack once, while it is shallow, to
// the 32 KiB that keyctl verify ends up needing. Go starts a goroutine on
// a small stack and doubles it by copying whenever a call runs out of
// room; a copy walks every frame on the stack and looks up each
// function's tables in the binary, so the copies that happened deep inside
// go-crypto and the archive reader cost a process that runs once far more
// than this one, made with three frames on the stack. One chart, two keys,
// 300 rounds run in turn (scripts/interleave), twice: 16.5 ms before,
// 16.0 ms after.
//
//go:noinline
func growStack() byte {
	var frame [24 << 10]byte // with what is already used, a 32 KiB stack
	return lastByte(frame[:])
}

//go:noinline
func lastByte(b []byte) byte { return b[len(b)-1] }

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
