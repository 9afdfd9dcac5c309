// Command interleave times whole commands round robin, so that a slow
// minute of a virtual machine slows every command alike, and prints each
// command's median with its ratio to the last one (docs/performance.md,
// "Start-up"). hyperfine runs one command after another, and on a machine
// whose speed drifts by 20 % from one minute to the next that drift shows
// up as a difference between commands.
//
//	go run ./scripts/interleave -n 60 'keyctl=./keyctl verify ...' 'helm4=helm verify ...'
//
// A command is LABEL=ARGS, split on spaces (no shell); its output is
// discarded. The first three rounds are warm-up and not counted. With
// -json FILE the results are also written as hyperfine --export-json
// writes them (command, median, mean and times, in seconds), which
// scripts/bench.sh reads.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 40, "timed rounds")
	out := flag.String("json", "", "also write the results to this file, as hyperfine --export-json does (command, median, mean, times in seconds)")
	flag.Parse()
	type command struct {
		label string
		argv  []string
		times []time.Duration
	}
	var cmds []*command
	for _, a := range flag.Args() {
		label, line, ok := strings.Cut(a, "=")
		argv := strings.Fields(line)
		if !ok || len(argv) == 0 {
			fmt.Fprintf(os.Stderr, "interleave: %q is not LABEL=COMMAND\n", a)
			os.Exit(2)
		}
		cmds = append(cmds, &command{label: label, argv: argv})
	}
	if len(cmds) == 0 {
		fmt.Fprintln(os.Stderr, "usage: interleave [-n rounds] LABEL=COMMAND ...")
		os.Exit(2)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "interleave:", err)
		os.Exit(1)
	}
	// syscall.ForkExec and Wait4 rather than os/exec or os.StartProcess:
	// no pipes, no copying goroutines, no pidfd, so that the parent adds
	// as little to each run as hyperfine -N does.
	fd := devnull.Fd()
	attr := &syscall.ProcAttr{Env: os.Environ(), Files: []uintptr{fd, fd, fd}}
	for _, c := range cmds {
		if c.argv[0], err = exec.LookPath(c.argv[0]); err != nil {
			fmt.Fprintf(os.Stderr, "interleave: %s: %v\n", c.label, err)
			os.Exit(1)
		}
	}
	const warmup = 3
	for round := 0; round < warmup+*n; round++ {
		for _, c := range cmds {
			start := time.Now()
			pid, err := syscall.ForkExec(c.argv[0], c.argv, attr)
			if err != nil {
				fmt.Fprintf(os.Stderr, "interleave: %s: %v\n", c.label, err)
				os.Exit(1)
			}
			var st syscall.WaitStatus
			for {
				_, err = syscall.Wait4(pid, &st, 0, nil)
				if err != syscall.EINTR {
					break
				}
			}
			if err != nil || st.ExitStatus() != 0 {
				fmt.Fprintf(os.Stderr, "interleave: %s: exit status %d %v\n", c.label, st.ExitStatus(), err)
				os.Exit(1)
			}
			if round >= warmup {
				c.times = append(c.times, time.Since(start))
			}
		}
	}
	quantile := func(ts []time.Duration, q float64) float64 {
		s := slices.Clone(ts)
		slices.Sort(s)
		return float64(s[int(q*float64(len(s)-1)+0.5)].Microseconds()) / 1000
	}
	if *out != "" {
		type result struct {
			Command string    `json:"command"`
			Median  float64   `json:"median"`
			Mean    float64   `json:"mean"`
			Times   []float64 `json:"times"`
		}
		var doc struct {
			Results []result `json:"results"`
		}
		for _, c := range cmds {
			r := result{Command: strings.Join(c.argv, " "), Median: quantile(c.times, 0.5) / 1000}
			for _, t := range c.times {
				r.Times = append(r.Times, t.Seconds())
				r.Mean += t.Seconds() / float64(len(c.times))
			}
			doc.Results = append(doc.Results, r)
		}
		data, err := json.MarshalIndent(doc, "", "  ")
		if err == nil {
			err = os.WriteFile(*out, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "interleave:", err)
			os.Exit(1)
		}
	}
	base := quantile(cmds[len(cmds)-1].times, 0.5)
	for _, c := range cmds {
		m := quantile(c.times, 0.5)
		fmt.Printf("%-16s median %7.2f ms (p25 %7.2f, p75 %7.2f)  %.3f x %s\n", c.label, m, quantile(c.times, 0.25), quantile(c.times, 0.75), m/base, cmds[len(cmds)-1].label)
	}
}
