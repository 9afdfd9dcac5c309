package main

import (
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	var b strings.Builder
	clock := time.Unix(0, 0)
	p := newProgressLine(&b, 100*time.Millisecond)
	p.now = func() time.Time { return clock }
	p.update(0, 10)
	p.update(1, 10) // within the interval: not drawn
	clock = clock.Add(150 * time.Millisecond)
	p.update(2, 10)
	p.update(10, 10) // the last one is always drawn
	p.finish()
	want := "\rkeyctl: audit 0/10 (0%)\x1b[K" + "\rkeyctl: audit 2/10 (20%)\x1b[K" + "\rkeyctl: audit 10/10 (100%)\x1b[K" + "\r\x1b[K"
	if b.String() != want {
		t.Fatalf("got %q\nwant %q", b.String(), want)
	}
	b.Reset()
	p.finish() // nothing drawn since: nothing to erase
	if b.Len() != 0 {
		t.Fatalf("finish wrote %q twice", b.String())
	}
}
