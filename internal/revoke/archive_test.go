package revoke

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/keyctl/keyctl/internal/provenance"
	"github.com/keyctl/keyctl/internal/testutil/charts"
)

func TestHeadArchiveAgreesWithReadArchive(t *testing.T) {
	data, err := charts.Archive(charts.Spec{Name: "nginx", Version: "1.2.3", Padding: 50000})
	if err != nil {
		t.Fatal(err)
	}
	full, err := provenance.ReadArchive(bytes.NewReader(data), provenance.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	head, err := headArchive(bytes.NewReader(data), provenance.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if head.SHA256 != full.SHA256 || head.Size != full.Size || head.Name != "nginx" || head.Version != "1.2.3" {
		t.Fatalf("head %+v, full %x %d", head, full.SHA256, full.Size)
	}
	// Chart.yaml after 60 KB of incompressible data: past the prefix tried
	// first, found by the streaming scan.
	big := make([]byte, 60000)
	rand.NewChaCha8([32]byte{1}).Read(big)
	late, _ := charts.WriteTgz("late", []provenance.SourceFile{{Path: "files/big.bin", Data: big}, {Path: "Chart.yaml", Data: []byte("apiVersion: v2\nname: late\nversion: 0.0.1\n")}})
	if len(late) < 2*headPrefix {
		t.Fatalf("the late archive is only %d bytes", len(late))
	}
	lfull, err := provenance.ReadArchive(bytes.NewReader(late), provenance.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	lhead, err := headArchive(bytes.NewReader(late), provenance.Limits{})
	if err != nil || lhead.Name != "late" || lhead.SHA256 != lfull.SHA256 || lhead.Size != int64(len(late)) {
		t.Fatalf("late Chart.yaml: %+v %v", lhead, err)
	}
	noChart, _ := charts.WriteTgz("x", []provenance.SourceFile{{Path: "values.yaml", Data: []byte("a: 1\n")}})
	badChart, _ := charts.WriteTgz("x", []provenance.SourceFile{{Path: "Chart.yaml", Data: []byte("name: [\n")}})
	for name, in := range map[string][]byte{
		"not gzip":  []byte("plain text"),
		"no chart":  noChart,
		"bad chart": badChart,
		"too large": data,
		"empty":     nil,
	} {
		lim := provenance.Limits{}
		if name == "too large" {
			lim.MaxArchive = int64(len(data) - 1)
		}
		if _, err := headArchive(bytes.NewReader(in), lim); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A truncated archive is not inflated to its end: its hash differs from
	// the signed one, which is what the audit checks.
	if h, err := headArchive(bytes.NewReader(data[:len(data)/2]), provenance.Limits{}); err == nil && h.SHA256 == full.SHA256 {
		t.Fatal("truncated archive hashed like the whole one")
	}
}
