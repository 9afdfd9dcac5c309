package revoke

import (
	"net/url"
	"strings"
	"testing"
)

func TestParseIndex(t *testing.T) {
	good := "apiVersion: v1\nentries:\n  b:\n  - name: b\n    version: 2.0.0\n    urls: [b-2.0.0.tgz]\n    digest: abc\n    extra: kept out\n  a:\n  - name: a\n    version: 1.0.0\n    urls: [https://example.org/a-1.0.0.tgz]\ngenerated: now\n"
	rels, err := ParseIndex([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || rels[0].Chart != "a" || rels[1].Chart != "b" || rels[1].Digest != "abc" {
		t.Fatalf("%+v", rels)
	}
	for name, bad := range map[string]string{
		"duplicate key":   "apiVersion: v1\napiVersion: v1\nentries: {}\n",
		"api version":     "apiVersion: v2\nentries: {}\n",
		"no entries":      "apiVersion: v1\n",
		"name differs":    "apiVersion: v1\nentries:\n  a:\n  - name: b\n    version: 1.0.0\n    urls: [x]\n",
		"no version":      "apiVersion: v1\nentries:\n  a:\n  - name: a\n    urls: [x]\n",
		"no urls":         "apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n",
		"twice":           "apiVersion: v1\nentries:\n  a:\n  - {name: a, version: '1', urls: [x]}\n  - {name: a, version: '1', urls: [y]}\n",
		"path chart name": "apiVersion: v1\nentries:\n  ../a:\n  - {name: ../a, version: '1', urls: [x]}\n",
		"not yaml":        "apiVersion: v1\nentries: [\n",
		"too large":       "apiVersion: v1\n" + strings.Repeat("#", MaxIndexSize),
	} {
		if _, err := ParseIndex([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), "index.yaml: ") {
			t.Errorf("%s: message %q", name, err)
		}
	}
}

func TestResolveURL(t *testing.T) {
	for _, c := range []struct{ base, ref, want string }{
		{"https://charts.example.org/", "a-1.tgz", "https://charts.example.org/a-1.tgz"},
		{"https://charts.example.org/stable", "a-1.tgz", "https://charts.example.org/stable/a-1.tgz"},
		{"https://charts.example.org/stable/", "charts/a-1.tgz", "https://charts.example.org/stable/charts/a-1.tgz"},
		{"https://charts.example.org/stable/", "/abs/a-1.tgz", "https://charts.example.org/abs/a-1.tgz"},
		{"https://charts.example.org/stable/", "https://cdn.example.net/a-1.tgz", "https://cdn.example.net/a-1.tgz"},
		{"https://charts.example.org/s/?token=x", "a-1.tgz", "https://charts.example.org/s/a-1.tgz?token=x"},
		{"file:///srv/repo/", "../evil.tgz", "file:///srv/evil.tgz"},
	} {
		b, _ := url.Parse(c.base)
		u, err := ResolveURL(b, c.ref)
		if err != nil || u.String() != c.want {
			t.Errorf("ResolveURL(%s, %s) = %v %v, want %s", c.base, c.ref, u, err, c.want)
		}
	}
}
