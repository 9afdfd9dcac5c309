package publish

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseGCSObject(t *testing.T) {
	a, err := parseGCSObject(strings.NewReader(`{"size":"12","generation":"1700000000000001","contentType":"application/json","cacheControl":"no-cache","md5Hash":"XUFAKrxLKna5cZ2REBfFkg=="}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Size != 12 || a.ContentType != "application/json" || a.CacheControl != "no-cache" || a.Version.gen != 1700000000000001 {
		t.Fatalf("attrs %+v", a)
	}
	// Over the cap: refused, not read on.
	big := `{"contentType":"` + strings.Repeat("x", maxMetadata) + `"}`
	if _, err := parseGCSObject(strings.NewReader(big)); err == nil {
		t.Fatal("metadata over the cap accepted")
	}
}

func TestParseGCSError(t *testing.T) {
	for in, want := range map[string]string{
		`{"error":{"code":403,"message":"caller does not have storage.objects.create access"}}`:                      "caller does not have storage.objects.create access",
		`{"error":{"code":412,"message":"At least one of the pre-conditions you specified did not hold.\u001b[2J"}}`: "At least one of the pre-conditions you specified did not hold.[2J",
		`<html>Service Unavailable</html>`: "",
		``:                                 "",
	} {
		if got := parseGCSError(strings.NewReader(in)); got != want {
			t.Errorf("parseGCSError(%q) = %q, want %q", in, got, want)
		}
	}
	long := parseGCSError(strings.NewReader(`{"error":{"message":"` + strings.Repeat("é", 1000) + `"}}`))
	if len(long) > 310 || !utf8.ValidString(long) || !strings.HasSuffix(long, "...") {
		t.Fatalf("long message kept as %d bytes: %q", len(long), long)
	}
}

// FuzzGCSObject: the gs:// driver's parsing of what the service answers.
func FuzzGCSObject(f *testing.F) {
	f.Add([]byte(`{"size":"12","generation":"3","md5Hash":"XUFAKrxLKna5cZ2REBfFkg=="}`))
	f.Add([]byte(`{"error":{"code":403,"message":"denied"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		parseGCSObject(bytes.NewReader(data))
		msg := parseGCSError(bytes.NewReader(data))
		if len(msg) > 310 || !utf8.ValidString(msg) {
			t.Fatalf("error message of %d bytes, valid UTF-8 %v", len(msg), utf8.ValidString(msg))
		}
		for _, r := range msg {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character in %q", msg)
			}
		}
	})
}
