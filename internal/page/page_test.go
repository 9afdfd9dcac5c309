package page

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"
	"golang.org/x/net/html"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
)

func parse(tb testing.TB, page string) *html.Node {
	tb.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// find returns every element below n for which match holds.
func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(c *html.Node) {
		if c.Type == html.ElementNode && match(c) {
			out = append(out, c)
		}
		for k := c.FirstChild; k != nil; k = k.NextSibling {
			walk(k)
		}
	}
	walk(n)
	return out
}

func byID(tb testing.TB, doc *html.Node, id string) *html.Node {
	tb.Helper()
	got := find(doc, func(n *html.Node) bool { v, ok := attr(n, "id"); return ok && v == id })
	if len(got) != 1 {
		tb.Fatalf("%d elements with id %q, want 1", len(got), id)
	}
	return got[0]
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
		for k := c.FirstChild; k != nil; k = k.NextSibling {
			walk(k)
		}
	}
	walk(n)
	return b.String()
}

func hasAttr(key, val string) func(*html.Node) bool {
	return func(n *html.Node) bool { v, ok := attr(n, key); return ok && v == val }
}

// field returns the cell data-field=name of row.
func field(tb testing.TB, row *html.Node, name string) *html.Node {
	tb.Helper()
	got := find(row, hasAttr("data-field", name))
	if len(got) != 1 {
		tb.Fatalf("row %v: %d cells data-field=%q", row.Attr, len(got), name)
	}
	return got[0]
}

func timeOf(tb testing.TB, n *html.Node) string {
	tb.Helper()
	ts := find(n, func(c *html.Node) bool { return c.Data == "time" })
	if len(ts) != 1 {
		tb.Fatalf("%d <time> in %v", len(ts), n.Attr)
	}
	dt, _ := attr(ts[0], "datetime")
	if strings.TrimSpace(text(ts[0])) != dt {
		tb.Fatalf("time shows %q, datetime %q", text(ts[0]), dt)
	}
	return dt
}

func TestRenderShowsTheManifest(t *testing.T) {
	f := newFixture(t, "charts.example.org")
	m := f.in.Manifest
	doc := parse(t, render(t, f.in))

	for id, want := range map[string]string{
		"repository":       m.Repository,
		"manifest-version": "7",
		"root-set-version": "1",
		"root-threshold":   "1",
		"root-set-pin":     root.PinOf(f.in.RootSet),
	} {
		if got := text(byID(t, doc, id)); got != want {
			t.Errorf("#%s = %q, want %q", id, got, want)
		}
	}
	for id, want := range map[string]time.Time{"manifest-issued": m.Issued, "manifest-expires": m.Expires} {
		if got, _ := attr(byID(t, doc, id), "datetime"); got != want.Format(time.RFC3339) {
			t.Errorf("#%s datetime = %q, want %s", id, got, want.Format(time.RFC3339))
		}
	}
	rootRows := find(byID(t, doc, "root-keys"), func(n *html.Node) bool { _, ok := attr(n, "data-fingerprint"); return ok && n.Data == "tr" })
	if len(rootRows) != 1 || strings.ReplaceAll(text(rootRows[0]), " ", "") != f.rootFpr {
		t.Errorf("root keys table shows %d rows, want %s", len(rootRows), f.rootFpr)
	}

	tables := map[root.Status]*html.Node{root.Active: byID(t, doc, "active-keys"), root.Removed: byID(t, doc, "removed-keys")}
	for st, tbl := range tables {
		rows := find(tbl, func(n *html.Node) bool {
			return n.Data == "tr" && len(find(n, func(c *html.Node) bool { return c.Data == "th" })) == 0
		})
		want := 0
		for _, k := range m.Keys {
			if k.Status == st {
				want++
			}
		}
		if len(rows) != want {
			t.Errorf("%s table has %d rows, manifest %d keys", st, len(rows), want)
		}
		if ths := find(tbl, func(n *html.Node) bool { v, _ := attr(n, "scope"); return n.Data == "th" && v == "col" }); len(ths) != 6 {
			t.Errorf("%s table has %d column headers, want 6", st, len(ths))
		}
	}
	certs := map[string][]string{}
	for _, e := range append(append([]*openpgp.Entity{}, f.active...), f.removed...) {
		certs[pgpkey.Fingerprint(e)] = pgpkey.UserIDs(e)
	}
	for _, k := range m.Keys {
		rows := find(tables[k.Status], func(n *html.Node) bool {
			v, _ := attr(n, "data-fingerprint")
			return n.Data == "tr" && v == k.Fingerprint
		})
		if len(rows) != 1 {
			t.Fatalf("key %s: %d rows in the %s table", k.Fingerprint, len(rows), k.Status)
		}
		row := rows[0]
		if st, _ := attr(row, "data-status"); st != string(k.Status) {
			t.Errorf("key %s: data-status %q, want %s", k.Fingerprint, st, k.Status)
		}
		fc := field(t, row, "fingerprint")
		if got := strings.ReplaceAll(text(fc), " ", ""); got != k.Fingerprint {
			t.Errorf("fingerprint cell shows %q, want %s", got, k.Fingerprint)
		}
		gs := find(fc, func(n *html.Node) bool { v, _ := attr(n, "class"); return v == "g" })
		if len(gs) != len(k.Fingerprint)/4 {
			t.Errorf("fingerprint %s in %d groups", k.Fingerprint, len(gs))
		}
		for _, g := range gs {
			if len(text(g)) != 4 {
				t.Errorf("fingerprint group %q is not four digits", text(g))
			}
		}
		if got := timeOf(t, field(t, row, "added")); got != k.Added.Format(time.RFC3339) {
			t.Errorf("key %s added %s, want %s", k.Fingerprint, got, k.Added.Format(time.RFC3339))
		}
		sc := field(t, row, "scopes")
		var scopes []string
		for _, li := range find(sc, func(n *html.Node) bool { _, ok := attr(n, "data-scope"); return ok }) {
			v, _ := attr(li, "data-scope")
			if text(li) != v {
				t.Errorf("scope shows %q, data-scope %q", text(li), v)
			}
			scopes = append(scopes, v)
		}
		_, all := attr(sc, "data-all-charts")
		if strings.Join(scopes, "\n") != strings.Join(k.Scopes, "\n") || all != (len(k.Scopes) == 0) {
			t.Errorf("key %s scopes %q (all charts %v), want %q", k.Fingerprint, scopes, all, k.Scopes)
		}
		if k.Status == root.Active {
			if got := text(field(t, row, "algorithm")); got != "Ed25519" {
				t.Errorf("key %s algorithm %q", k.Fingerprint, got)
			}
			if got := timeOf(t, field(t, row, "expires")); got != now.Add(-30*24*time.Hour+365*24*time.Hour).Format(time.RFC3339) {
				t.Errorf("key %s expires %q", k.Fingerprint, got)
			}
		}
		var uids []string
		for _, b := range find(field(t, row, "user-ids"), func(n *html.Node) bool { return n.Data == "bdi" }) {
			uids = append(uids, text(b))
		}
		if len(uids) != len(certs[k.Fingerprint]) {
			t.Errorf("key %s shows %d user IDs, its certificate has %d", k.Fingerprint, len(uids), len(certs[k.Fingerprint]))
		}
		if k.Status == root.Removed {
			if r, _ := attr(row, "data-reason"); r != string(k.Reason) {
				t.Errorf("key %s data-reason %q, want %s", k.Fingerprint, r, k.Reason)
			}
			rc := text(field(t, row, "reason"))
			if !strings.HasPrefix(rc, string(k.Reason)) || strings.Contains(rc, "every signature untrusted") != (k.Reason == root.Compromised) {
				t.Errorf("key %s reason cell %q", k.Fingerprint, rc)
			}
			if got := timeOf(t, field(t, row, "effective")); got != k.Effective.Format(time.RFC3339) {
				t.Errorf("key %s effective %s, want %s", k.Fingerprint, got, k.Effective.Format(time.RFC3339))
			}
		}
	}
	if w := find(doc, hasAttr("id", "expiry-warning")); len(w) != 0 {
		t.Errorf("a manifest valid for 60 more days shows an expiry warning: %q", text(w[0]))
	}
}

func TestRenderVerifyInstructions(t *testing.T) {
	f := newFixture(t, "charts.example.org")
	first := f.in.Manifest.Keys[0]
	for _, k := range f.in.Manifest.Keys {
		if k.Status == root.Active {
			first = k
			break
		}
	}
	pin := root.PinOf(f.in.RootSet)
	for _, tc := range []struct {
		url, repo, pubkeys, href string
	}{
		{"https://charts.example.org/", "https://charts.example.org", "https://charts.example.org/pubkeys.pgp", "https://charts.example.org/pubkeys.pgp"},
		{"https://h.example/sub/charts", "https://h.example/sub/charts", "https://h.example/sub/charts/pubkeys.pgp", "https://h.example/sub/charts/pubkeys.pgp"},
		{"gs://bucket/charts/", "gs://bucket/charts", placeholderRepo + "/pubkeys.pgp", "../pubkeys.pgp"},
		{"/srv/site", placeholderRepo, placeholderRepo + "/pubkeys.pgp", "../pubkeys.pgp"},
		{"https://user:secret@h.example/x", placeholderRepo, placeholderRepo + "/pubkeys.pgp", "../pubkeys.pgp"},
		{"", placeholderRepo, placeholderRepo + "/pubkeys.pgp", "../pubkeys.pgp"},
	} {
		in := f.in
		in.URL = tc.url
		page := render(t, in)
		doc := parse(t, page)
		kv := text(byID(t, doc, "verify-keyctl"))
		for _, want := range []string{
			"keyctl verify CHART-VERSION.tgz --repo " + tc.repo + " --root-set " + pin + "\n",
			"--repo " + tc.repo + " --root " + f.rootFpr + " --threshold 1",
		} {
			if !strings.Contains(kv, want) {
				t.Errorf("URL %q: keyctl command %q lacks %q", tc.url, kv, want)
			}
		}
		if hv := text(byID(t, doc, "verify-helm")); hv != "curl -fsSLO "+tc.pubkeys+"\nhelm verify --keyring pubkeys.pgp CHART-VERSION.tgz" {
			t.Errorf("URL %q: helm command %q", tc.url, hv)
		}
		if ah := text(byID(t, doc, "artifacthub-annotation")); ah != "annotations:\n  artifacthub.io/signKey: |\n    fingerprint: "+first.Fingerprint+"\n    url: "+tc.pubkeys {
			t.Errorf("URL %q: annotation %q", tc.url, ah)
		}
		if href, _ := attr(byID(t, doc, "pubkeys-link"), "href"); href != tc.href {
			t.Errorf("URL %q: pubkeys link %q, want %q", tc.url, href, tc.href)
		}
		if strings.Contains(page, "secret") {
			t.Errorf("URL %q: the page shows the URL's credentials", tc.url)
		}
	}
}

func TestRenderHostileText(t *testing.T) {
	f := newFixture(t, hostileRepo)
	page := render(t, f.in)
	doc := parse(t, page)
	for _, tag := range []string{"script", "img", "iframe", "object", "embed", "link", "form", "base", "svg", "math"} {
		if n := find(doc, func(n *html.Node) bool { return n.Data == tag }); len(n) != 0 {
			t.Errorf("hostile text made a <%s> element", tag)
		}
	}
	for _, n := range find(doc, func(*html.Node) bool { return true }) {
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") || a.Key == "src" || a.Key == "style" {
				t.Errorf("<%s> has attribute %s=%q", n.Data, a.Key, a.Val)
			}
		}
	}
	if got := text(byID(t, doc, "repository")); got != hostileRepo {
		t.Errorf("#repository = %q, want the identity as text", got)
	}
	titles := find(doc, func(n *html.Node) bool { return n.Data == "title" })
	if len(titles) != 1 || text(titles[0]) != "Signing keys of "+hostileRepo {
		t.Errorf("title %q", text(titles[0]))
	}
	var shown []string
	for _, b := range find(doc, func(n *html.Node) bool { return n.Data == "bdi" }) {
		shown = append(shown, text(b))
	}
	all := strings.Join(shown, "\n")
	// Markup and right-to-left letters are shown as they are; a bidi
	// override is shown as a visible escape and never reaches the page raw.
	for _, want := range []string{uidScript, uidAttr, uidRTL, uidLongShown, `\u202ecilA\u202c <alice@example.org>`} {
		if !strings.Contains("\n"+all+"\n", "\n"+want+"\n") {
			t.Errorf("user ID %.60q is not shown as text", want)
		}
	}
	if strings.ContainsAny(page, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069") {
		t.Error("a bidi control character reached the page")
	}
	// Scopes are printable ASCII but may hold markup characters.
	if n := find(doc, hasAttr("data-scope", `a<b>"c`)); len(n) != 1 || text(n[0]) != `a<b>"c` {
		t.Error(`scope a<b>"c is not shown as text`)
	}
}

func TestRenderSelfContained(t *testing.T) {
	f := newFixture(t, "charts.example.org")
	doc := parse(t, render(t, f.in))
	metas := find(doc, hasAttr("http-equiv", "Content-Security-Policy"))
	if len(metas) != 1 {
		t.Fatalf("%d CSP meta elements", len(metas))
	}
	policy, _ := attr(metas[0], "content")
	styles := find(doc, func(n *html.Node) bool { return n.Data == "style" })
	if len(styles) != 1 {
		t.Fatalf("%d style elements, want 1", len(styles))
	}
	sum := sha256.Sum256([]byte(text(styles[0])))
	for _, want := range []string{"default-src 'none'", "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'", "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(policy, want) {
			t.Errorf("CSP %q lacks %q", policy, want)
		}
	}
	if strings.Contains(policy, "unsafe") || strings.Contains(policy, "script-src") {
		t.Errorf("CSP %q allows more than the one style", policy)
	}
	var links []string
	for _, n := range find(doc, func(n *html.Node) bool { _, ok := attr(n, "href"); return ok }) {
		v, _ := attr(n, "href")
		links = append(links, v)
	}
	if len(links) != 1 || links[0] != "https://charts.example.org/pubkeys.pgp" {
		t.Errorf("links %q, want only pubkeys.pgp", links)
	}
	for _, n := range find(doc, func(n *html.Node) bool { return n.Data == "meta" }) {
		if v, _ := attr(n, "name"); v == "viewport" {
			return
		}
	}
	t.Error("no viewport meta element: phones would render the desktop width")
}

func TestRenderExpiryWarning(t *testing.T) {
	f := newFixture(t, "charts.example.org")
	exp := f.in.Manifest.Expires
	for _, tc := range []struct {
		at    time.Time
		state string
		text  string
	}{
		{exp.Add(-WarnWindow - time.Hour), "", ""},
		{exp.Add(-WarnWindow + time.Hour), "expires-soon", "in 13 days"},
		{exp.Add(-36 * time.Hour), "expires-soon", "in 1 day"},
		{exp.Add(-time.Hour), "expires-soon", "in less than a day"},
		{exp, "expired", "has expired"},
		{exp.Add(30 * 24 * time.Hour), "expired", "has expired"},
	} {
		in := f.in
		in.Now = tc.at
		doc := parse(t, render(t, in))
		w := find(doc, hasAttr("id", "expiry-warning"))
		if tc.state == "" {
			if len(w) != 0 {
				t.Errorf("at %s: warning %q", tc.at, text(w[0]))
			}
			continue
		}
		if len(w) != 1 {
			t.Errorf("at %s: no expiry warning", tc.at)
			continue
		}
		if st, _ := attr(w[0], "data-state"); st != tc.state || !strings.Contains(text(w[0]), tc.text) {
			t.Errorf("at %s: warning %s %q, want %s containing %q", tc.at, st, text(w[0]), tc.state, tc.text)
		}
	}
}

func TestRenderRefusesUnboundInput(t *testing.T) {
	f := newFixture(t, "charts.example.org")
	other := newFixture(t, "other.example.org")
	for name, mutate := range map[string]func(*Input){
		"root set of another repository": func(in *Input) { in.RootSet = other.in.RootSet },
		"pubkeys.pgp with a key added":   func(in *Input) { in.Pubkeys = append(append([]byte{}, in.Pubkeys...), keyring(t, f.removed[0])...) },
		"revoked.pgp emptied":            func(in *Input) { in.Revoked = nil },
		"no manifest":                    func(in *Input) { in.Manifest = nil },
	} {
		in := f.in
		mutate(&in)
		out, err := Render(in)
		if err == nil {
			t.Errorf("%s: rendered %d bytes", name, len(out))
		}
	}
	in := f.in
	in.Pubkeys = append([]byte{}, in.Pubkeys...)
	in.Pubkeys[len(in.Pubkeys)-1] ^= 1
	var me *root.MismatchError
	if _, err := Render(in); !errors.As(err, &me) {
		t.Errorf("tampered pubkeys.pgp: %v, want a *root.MismatchError", err)
	}
}

func TestRenderNoKeys(t *testing.T) {
	f := newFixture(t, "charts.example.org")
	m := *f.in.Manifest
	m.Keys = nil
	in := f.in
	in.Manifest = &m
	doc := parse(t, render(t, in))
	byID(t, doc, "no-active-keys")
	byID(t, doc, "no-removed-keys")
	if ah := text(byID(t, doc, "artifacthub-annotation")); !strings.Contains(ah, "fingerprint: FINGERPRINT-OF-YOUR-KEY") {
		t.Errorf("annotation without keys: %q", ah)
	}
}

func TestRenderDeterministic(t *testing.T) {
	f := newFixture(t, "charts.example.org")
	a, b := render(t, f.in), render(t, f.in)
	if a != b {
		t.Error("two renders of the same input differ")
	}
	if !regexp.MustCompile(`(?s)^<!DOCTYPE html>\n<html lang="en">`).MatchString(a) {
		t.Errorf("page starts %.60q", a)
	}
}

func TestShortUserID(t *testing.T) {
	if got := shortUserID("Alice <a@example.org>"); got != "Alice <a@example.org>" {
		t.Errorf("short user ID changed: %q", got)
	}
	exact := strings.Repeat("ש", MaxUserIDShown)
	if got := shortUserID(exact); got != exact {
		t.Error("a user ID of exactly the limit was cut")
	}
	got := shortUserID(strings.Repeat("ש", MaxUserIDShown+5))
	if got != exact+"… (5 more characters)" || !utf8.ValidString(got) {
		t.Errorf("cut user ID %q", got)
	}
}

func TestCheckPublicURL(t *testing.T) {
	for _, ok := range []string{"https://charts.example.org", "http://h.example/sub/charts/"} {
		if err := CheckPublicURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "charts.example.org", "gs://bucket/x", "/srv/site", "https://u:p@h.example", "https://h.example/?a=b", "https://h.example/#x", "https://"} {
		if err := CheckPublicURL(bad); err == nil {
			t.Errorf("%q accepted as a public URL", bad)
		}
	}
}
