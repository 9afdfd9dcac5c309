package provenance

import (
	"bytes"
	stdgzip "compress/gzip"
	"io"
	"testing"
)

// FuzzGzipMatchesHelm: keyctl inflates archives through gunzip
// (klauspost/compress), Helm through the standard library. Whatever keyctl
// reads, the standard library reads too, byte for byte: keyctl never
// takes as a chart archive a stream Helm refuses, or reads other content
// from it. (The converse is not held: klauspost refuses a header with the
// reserved flag bits set, which no gzip writer sets and the standard
// library ignores; such an archive is refused, not misread.) The corpus
// keeps the stream klauspost alone accepted before gunzip read members
// one by one: a second member whose header ends inside its comment.
func FuzzGzipMatchesHelm(f *testing.F) {
	var one, two bytes.Buffer
	w := stdgzip.NewWriter(&one)
	_, _ = w.Write(bytes.Repeat([]byte("apiVersion: v2\nname: web\nversion: 1.0.0\n"), 50))
	_ = w.Close()
	f.Add(one.Bytes())
	for _, s := range []string{"first member\n", "second member\n"} {
		w := stdgzip.NewWriter(&two)
		w.Name, w.Comment = "x", "y"
		_, _ = w.Write([]byte(s))
		_ = w.Close()
	}
	f.Add(two.Bytes())
	f.Add([]byte{})
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	const limit = 4 << 20
	f.Fuzz(func(t *testing.T, data []byte) {
		var want, got []byte
		zw, werr := stdgzip.NewReader(bytes.NewReader(data))
		if werr == nil {
			want, werr = io.ReadAll(io.LimitReader(zw, limit))
		}
		zg, gerr := newGunzip(bytes.NewReader(data))
		if gerr == nil {
			got, gerr = io.ReadAll(io.LimitReader(zg, limit))
		}
		if gerr != nil {
			return
		}
		if werr != nil {
			t.Fatalf("keyctl read %d bytes where compress/gzip fails: %v", len(got), werr)
		}
		if !bytes.Equal(want, got) {
			t.Fatalf("compress/gzip read %d bytes, keyctl %d, not the same", len(want), len(got))
		}
	})
}
