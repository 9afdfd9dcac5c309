package publish

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseGCSObject(t *testing.T) {
	a, err := parseGCSObject(strings.NewReader(`{"size":"12","generation":"1700000000000001","contentType":"application/json","cacheControl":"no-cache","md5Hash":"XUFAKrxLKna5cZ2REBfFkg=="}`))
	if err != nil {
		t.Fatal(err)
	}
	var gi gcsInfo
	if a.Size != 12 || a.ContentType != "application/json" || a.CacheControl != "no-cache" || len(a.MD5) != 16 || !a.AsFunc(&gi) || gi.Generation != 1700000000000001 {
		t.Fatalf("attrs %+v, generation %d", a, gi.Generation)
	}
	// Over the cap: refused, not read on.
	big := `{"contentType":"` + strings.Repeat("x", maxMetadata) + `"}`
	if _, err := parseGCSObject(strings.NewReader(big)); err == nil {
		t.Fatal("metadata over the cap accepted")
	}
	for in, want := range map[string]int64{"": 7, "bytes 0-9/1234": 1234, "bytes */-5": 7, "bytes 0-9/x": 7} {
		if got := contentRangeSize(in, 7); got != want {
			t.Errorf("contentRangeSize(%q) = %d, want %d", in, got, want)
		}
	}
}

// FuzzGCSObject: the gs:// driver's parsing of what the service answers.
func FuzzGCSObject(f *testing.F) {
	f.Add([]byte(`{"size":"12","generation":"3","md5Hash":"XUFAKrxLKna5cZ2REBfFkg=="}`), "bytes 0-9/1234")
	f.Add([]byte(`{"metadata":{"a":"b"}}`), "")
	f.Fuzz(func(t *testing.T, data []byte, cr string) {
		if a, err := parseGCSObject(bytes.NewReader(data)); err == nil {
			var gi gcsInfo
			a.AsFunc(&gi)
		}
		if n := contentRangeSize(cr, 0); n < 0 {
			t.Fatalf("negative size %d", n)
		}
	})
}
