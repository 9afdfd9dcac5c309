package client

import (
	"strings"
	"testing"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/tlog"
)

func fpr(c byte) string { return strings.Repeat(string(c), 40) }

func hash(c byte) string { return strings.Repeat(string(c), 64) }

func TestDiffManifests(t *testing.T) {
	a, b, c, d := fpr('A'), fpr('B'), fpr('C'), fpr('D')
	old := &root.Manifest{Version: 4, Root: root.RootRef{Version: 1, SHA256: hash('1')}, Keys: []root.KeyEntry{
		{Fingerprint: a, Status: root.Active, Scopes: []string{"web-*"}},
		{Fingerprint: b, Status: root.Active},
		{Fingerprint: c, Status: root.Removed, Reason: root.Retired},
		{Fingerprint: d, Status: root.Active},
	}}
	m := &root.Manifest{Version: 5, Root: root.RootRef{Version: 2, SHA256: hash('2')}, Keys: []root.KeyEntry{
		{Fingerprint: a, Status: root.Active, Scopes: []string{"api", "web-*"}},
		{Fingerprint: b, Status: root.Removed, Reason: root.Compromised},
		{Fingerprint: c, Status: root.Active},
		{Fingerprint: fpr('E'), Status: root.Active, Scopes: []string{"db"}},
	}}
	last := &tlog.Entry{Version: 4, SHA256: hash('4')}
	got := diffManifests(7, last, old, tlog.Entry{Version: 5, SHA256: hash('5')}, m)
	var kinds []string
	for _, e := range got {
		if e.Index != 7 || e.Version != 5 {
			t.Fatalf("event %+v: wrong index or version", e)
		}
		kinds = append(kinds, e.Kind+":"+e.Fingerprint[:min(1, len(e.Fingerprint))]+":"+e.Reason)
	}
	want := "root-rotated::,scope-changed:A:,key-removed:B:compromised,key-restored:C:,key-added:E:,key-dropped:D:"
	if strings.Join(kinds, ",") != want {
		t.Fatalf("events\n got %s\nwant %s", strings.Join(kinds, ","), want)
	}
	// The first manifest seen: every key is new.
	first := diffManifests(0, nil, nil, tlog.Entry{Version: 1, SHA256: hash('1')}, old)
	if len(first) != 4 || first[0].Kind != "key-added" || first[2].Kind != "key-removed" || first[2].Reason != "retired" {
		t.Fatalf("first manifest: %+v", first)
	}
	// The same version logged twice.
	again := diffManifests(8, &tlog.Entry{Version: 5, SHA256: hash('5')}, m, tlog.Entry{Version: 5, SHA256: hash('6')}, m)
	if len(again) != 1 || again[0].Kind != "version-relogged" {
		t.Fatalf("relogged: %+v", again)
	}
}

func TestCheckLogOrder(t *testing.T) {
	last := &tlog.Entry{Version: 4, SHA256: hash('4')}
	lastM := &root.Manifest{Version: 4, Previous: hash('3')}
	ok := &root.Manifest{Version: 5, Previous: hash('4')}
	if err := checkLogOrder(last, lastM, tlog.Entry{Version: 5}, ok, 4); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		e tlog.Entry
		m *root.Manifest
	}{
		"broken previous":          {tlog.Entry{Version: 5}, &root.Manifest{Version: 5, Previous: hash('9')}},
		"gap":                      {tlog.Entry{Version: 7}, &root.Manifest{Version: 7, Previous: hash('6')}},
		"backwards":                {tlog.Entry{Version: 3}, &root.Manifest{Version: 3, Previous: hash('2')}},
		"relog, other predecessor": {tlog.Entry{Version: 4}, &root.Manifest{Version: 4, Previous: hash('8')}},
	} {
		err := checkLogOrder(last, lastM, c.e, c.m, 4)
		if err == nil || fail.KindOf(err) != fail.Security {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := checkLogOrder(last, lastM, tlog.Entry{Version: 4}, &root.Manifest{Version: 4, Previous: hash('3')}, 4); err != nil {
		t.Errorf("relog with the same predecessor: %v", err)
	}
}

func TestStateLog(t *testing.T) {
	ckpt := "example.org/log\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— example.org/log AAAA\n"
	s := State{Location: "/srv", Repository: "r", Version: 2, ManifestSHA256: strings.Repeat("0f", 32), Issued: t0, RootVersion: 1, Log: ckpt}
	data, err := MarshalState(s)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseState(data)
	if err != nil || got.Log != ckpt {
		t.Fatalf("round trip: %v %q", err, got.Log)
	}
	s.Log = "example.org/log\nnot a size\n"
	if _, err := MarshalState(s); err == nil {
		t.Fatal("a damaged checkpoint in the state was accepted")
	}
	bigger := strings.Replace(ckpt, "\n2\n", "\n3\n", 1)
	if largerLog(ckpt, bigger) != bigger || largerLog(bigger, ckpt) != bigger || largerLog("", ckpt) != ckpt {
		t.Fatal("largerLog does not keep the larger tree")
	}
}

// TestLogNotDropped: a client that checked a log refuses a root set that
// names none, before reading anything.
func TestLogNotDropped(t *testing.T) {
	ckpt := "example.org/log\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— example.org/log AAAA\n"
	set := &root.RootSet{Version: 2}
	_, _, err := checkLog(t.Context(), nil, set, &root.Manifest{Version: 3}, hash('3'), ckpt, Options{})
	if err == nil || fail.KindOf(err) != fail.Security || !strings.Contains(err.Error(), "names no transparency log, but this client checked the log example.org/log") {
		t.Fatalf("dropped log: %v", err)
	}
	if _, _, err := checkLog(t.Context(), nil, set, &root.Manifest{Version: 3}, hash('3'), "", Options{}); err != nil {
		t.Fatalf("no log, none before: %v", err)
	}
}
