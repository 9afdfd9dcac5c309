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
	b = append(b, "{\n"...)
	field("  ", "format")
	str(j.Format)
	b = append(b, ",\n"...)
	field("  ", "repository")
	str(j.Repository)
	b = append(b, ",\n"...)
	field("  ", "version")
	b = strconv.AppendUint(b, j.Version, 10)
	b = append(b, ",\n"...)
	field("  ", "issued")
	str(j.Issued)
	b = append(b, ",\n"...)
	field("  ", "expires")
	str(j.Expires)
	b = append(b, ",\n"...)
	field("  ", "previous")
	str(j.Previous)
	b = append(b, ",\n"...)
	field("  ", "root")
	b = append(b, "{\n"...)
	field("    ", "version")
	b = strconv.AppendUint(b, j.Root.Version, 10)
	b = append(b, ",\n"...)
	field("    ", "sha256")
	str(j.Root.SHA256)
	b = append(b, "\n  },\n"...)
	field("  ", "files")
	switch {
	case j.Files == nil:
		b = append(b, "null"...)
	case len(j.Files) == 0:
		b = append(b, "[]"...)
	default:
		b = append(b, "[\n"...)
		for i, f := range j.Files {
			if i > 0 {
				b = append(b, ",\n"...)
			}
			b = append(b, "    {\n"...)
			field("      ", "name")
			str(f.Name)
			b = append(b, ",\n"...)
			field("      ", "sha256")
			str(f.SHA256)
			b = append(b, ",\n"...)
			field("      ", "length")
			b = strconv.AppendInt(b, f.Length, 10)
			b = append(b, "\n    }"...)
		}
		b = append(b, "\n  ]"...)
	}
	b = append(b, ",\n"...)
	field("  ", "keys")
	switch {
	case j.Keys == nil:
		b = append(b, "null"...)
	case len(j.Keys) == 0:
		b = append(b, "[]"...)
	default:
		b = append(b, "[\n"...)
		for i, k := range j.Keys {
			if i > 0 {
				b = append(b, ",\n"...)
			}
			b = append(b, "    {\n"...)
			field("      ", "fingerprint")
			str(k.Fingerprint)
			b = append(b, ",\n"...)
			field("      ", "status")
			str(k.Status)
			if k.Reason != "" {
				b = append(b, ",\n"...)
				field("      ", "reason")
				str(k.Reason)
			}
			b = append(b, ",\n"...)
			field("      ", "added")
			str(k.Added)
			if k.Effective != "" {
				b = append(b, ",\n"...)
				field("      ", "effective")
				str(k.Effective)
			}
			if len(k.Scopes) > 0 {
				b = append(b, ",\n"...)
				field("      ", "scopes")
				b = append(b, "[\n"...)
				for n, s := range k.Scopes {
					if n > 0 {
						b = append(b, ",\n"...)
					}
					b = append(b, "        "...)
					str(s)
				}
				b = append(b, "\n      ]"...)
			}
			if k.Role != "" {
				b = append(b, ",\n"...)
				field("      ", "role")
				str(k.Role)
			}
			b = append(b, "\n    }"...)
		}
		b = append(b, "\n  ]"...)
	}
	b = append(b, "\n}\n"...)
	return b, ok
}
