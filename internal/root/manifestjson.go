package root

import "strconv"

// appendManifest appends the canonical encoding of j to b: exactly what
// encodeCanonical (encoding/json, two-space indent, no HTML escaping, one
// final newline) writes for it, built in one buffer. ParseManifest
// re-encodes every manifest it reads to check that it is canonical, and
// with encoding/json that took about five times the manifest's size in
// fresh memory (its buffer, the indented copy, the result: 1.2 MB for a
// 1,000-key manifest), which a one-chart verify paid in page faults.
//
// It handles printable ASCII strings only, which Validate guarantees for
// every field; ok is false for any other byte, and the caller then uses
// encodeCanonical. TestAppendManifestMatchesJSON holds the two encodings
// equal.
func appendManifest(b []byte, j *manifestJSON) (_ []byte, ok bool) {
	ok = true
	str := func(s string) {
		b = append(b, '"')
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c > 0x7e:
				ok = false
				return
			default:
				b = append(b, c)
			}
		}
		b = append(b, '"')
	}
	field := func(indent, name string) {
		b = append(b, indent...)
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':', ' ')
	}
	// list writes a JSON array of n elements whose closing bracket sits at
	// indent, as encoding/json indents it: null for a nil slice, [] for an
	// empty one.
	list := func(indent string, n int, isNil bool, elem func(i int)) {
		switch {
		case isNil:
			b = append(b, "null"...)
		case n == 0:
			b = append(b, "[]"...)
		default:
			b = append(b, "[\n"...)
			for i := 0; i < n; i++ {
				if i > 0 {
					b = append(b, ",\n"...)
				}
				elem(i)
			}
			b = append(b, '\n')
			b = append(b, indent...)
			b = append(b, ']')
		}
	}
	next := func() { b = append(b, ",\n"...) }
	b = append(b, "{\n"...)
	field("  ", "format")
	str(j.Format)
	next()
	field("  ", "repository")
	str(j.Repository)
	next()
	field("  ", "version")
	b = strconv.AppendUint(b, j.Version, 10)
	next()
	field("  ", "issued")
	str(j.Issued)
	next()
	field("  ", "expires")
	str(j.Expires)
	next()
	field("  ", "previous")
	str(j.Previous)
	next()
	field("  ", "root")
	b = append(b, "{\n"...)
	field("    ", "version")
	b = strconv.AppendUint(b, j.Root.Version, 10)
	next()
	field("    ", "sha256")
	str(j.Root.SHA256)
	b = append(b, "\n  },\n"...)
	field("  ", "files")
	list("  ", len(j.Files), j.Files == nil, func(i int) {
		f := j.Files[i]
		b = append(b, "    {\n"...)
		field("      ", "name")
		str(f.Name)
		next()
		field("      ", "sha256")
		str(f.SHA256)
		next()
		field("      ", "length")
		b = strconv.AppendInt(b, f.Length, 10)
		b = append(b, "\n    }"...)
	})
	next()
	field("  ", "keys")
	list("  ", len(j.Keys), j.Keys == nil, func(i int) {
		k := j.Keys[i]
		b = append(b, "    {\n"...)
		field("      ", "fingerprint")
		str(k.Fingerprint)
		next()
		field("      ", "status")
		str(k.Status)
		if k.Reason != "" {
			next()
			field("      ", "reason")
			str(k.Reason)
		}
		next()
		field("      ", "added")
		str(k.Added)
		if k.Effective != "" {
			next()
			field("      ", "effective")
			str(k.Effective)
		}
		if len(k.Scopes) > 0 { // omitempty: a nil or empty list is left out
			next()
			field("      ", "scopes")
			list("      ", len(k.Scopes), false, func(n int) {
				b = append(b, "        "...)
				str(k.Scopes[n])
			})
		}
		if k.Role != "" {
			next()
			field("      ", "role")
			str(k.Role)
		}
		b = append(b, "\n    }"...)
	})
	b = append(b, "\n}\n"...)
	return b, ok
}
