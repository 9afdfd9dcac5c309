package main

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progressLine is audit's progress on a terminal: one line, "keyctl:
// audit 120/1300 (9%)", redrawn at most every interval and erased at the
// end. It replaces schollz/progressbar, whose colour table
// (mitchellh/colorstring) cost 0.5 ms of package initialisation in every
// keyctl command, verify included (GODEBUG=inittrace=1); vbauerster/mpb
// costs the same (stripansi's regexp, go-runewidth). A counter needs
// neither. Safe for concurrent use.
type progressLine struct {
	w        io.Writer
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	total int
	last  time.Time
	drawn bool
}

func newProgressLine(w io.Writer, interval time.Duration) *progressLine {
	return &progressLine{w: w, interval: interval, now: time.Now}
}

// update records done of total and redraws when the interval has passed,
// and always for the last one.
func (p *progressLine) update(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = total
	t := p.now()
	if p.drawn && done < total && t.Sub(p.last) < p.interval {
		return
	}
	p.last, p.drawn = t, true
	pct := 0
	if total > 0 {
		pct = done * 100 / total
	}
	fmt.Fprintf(p.w, "\rkeyctl: audit %d/%d (%d%%)\x1b[K", done, total, pct)
}

// finish erases the line, so the report starts on a clean one.
func (p *progressLine) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}
