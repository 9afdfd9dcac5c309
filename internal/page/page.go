// Package page renders the trust page of a repository: keyctl/index.html,
// written next to every publish and by keyctl page (docs/manifest.md).
//
// # What it shows
//
// The repository's identity, its root fingerprints, the threshold and the
// root set hash to pin; the manifest's version, issue time and expiry, with
// a warning when the manifest expires within WarnWindow of rendering or has
// expired; every active key (user IDs, fingerprint, algorithm, expiry,
// scopes, when it was added); every removed key (reason, effective time; a
// compromised key's signatures are all untrusted); and how to verify a
// chart with keyctl, helm and Artifact Hub, with the real values filled in.
//
// # Where the values come from
//
// Only from signed objects: the manifest (which the caller verified under
// its pinned root set), the root set it names (checked here against the
// manifest's hash of it) and the published keyrings (checked here against
// the manifest's hashes and lengths), from which the user IDs, algorithm
// and expiry are read. Render refuses anything else. The page itself is
// not root-signed: it is a view for people; clients trust the manifest.
// What the manifest does not carry (a key's role, the reason it was added,
// kept in the team lead's store) is not shown.
//
// # How it is built
//
// One HTML5 file, html/template's contextual escaping for every value:
//
//   - self-contained: the only CSS is one inline <style> element, there is
//     no script, and a Content-Security-Policy meta element
//     (default-src 'none', the style allowed by its SHA-256 hash, no base,
//     no forms) forbids loading anything. Its only link is to the
//     repository's own pubkeys.pgp.
//   - attacker-influenced text (user IDs; the repository identity and
//     scopes are printable ASCII but may hold < or ") is escaped twice
//     over: control and format characters (bidi overrides, zero-width
//     characters) are shown as visible escapes (internal/termsafe), and
//     each user ID sits in its own <bdi> element, so right-to-left text
//     cannot reorder what is around it. A user ID longer than
//     MaxUserIDShown characters is cut there, with the count of the rest.
//   - semantic: sections with headings, tables with <th scope="col">
//     headers and a caption; at widths below 40em each key row is drawn as
//     a card with its labels (data-label).
//   - light and dark schemes follow prefers-color-scheme.
//   - fingerprints are monospace in groups of four (<span class="g">),
//     breaking only between groups.
//
// # Stable hooks for tests and scripts
//
//	#repository, #manifest-version, #manifest-issued, #manifest-expires
//	    text content; <time> elements carry datetime="RFC 3339"
//	#root-threshold, #root-set-version, #root-set-pin
//	#expiry-warning                 present only when warning; data-state
//	                                "expired" or "expires-soon"
//	table#root-keys, table#active-keys, table#removed-keys
//	    <tr data-fingerprint="FPR" data-status="active|removed"
//	        data-reason="compromised|retired|superseded">
//	    <td data-field="fingerprint|user-ids|algorithm|expires|scopes|added|reason|effective">
//	    scopes: <li data-scope="GLOB">, or data-all-charts on the cell
//	    user IDs: <bdi data-user-id>
//	#verify-keyctl, #verify-helm, #artifacthub-annotation   the commands
//	#pubkeys-link                   the link to pubkeys.pgp
//
// A fingerprint's text content, with spaces removed, equals its
// data-fingerprint.
package page

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	openpgp "github.com/ProtonMail/go-crypto/openpgp/v2"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/termsafe"
)

// Name is the page's object name in the published layout.
const Name = "keyctl/index.html"

// ContentType is the page's media type.
const ContentType = "text/html; charset=utf-8"

// WarnWindow is how long before the manifest expires the page warns.
const WarnWindow = 14 * 24 * time.Hour

// Input is what the page is built from: the signed objects of one publish.
type Input struct {
	// Manifest is the manifest, verified by the caller under the pinned
	// root set (or just checked by the publish that signs it).
	Manifest *root.Manifest
	// RootSet is the canonical bytes of the root set the manifest names.
	RootSet []byte
	// Pubkeys and Revoked are the published keyrings, as bound by the
	// manifest.
	Pubkeys, Revoked []byte
	// IndexKeys is indexkeys.pgp as bound by the manifest (nil when the
	// manifest names no active index key).
	IndexKeys []byte
	// URL is where people read the set ("" when unknown). An http(s),
	// gs:// or s3:// location is filled into the verify commands; for
	// anything else (a directory on the publisher's machine) the page
	// shows a placeholder.
	URL string
	// Now is the render time.
	Now time.Time
}

type fpr struct {
	Full   string
	Groups []string
}

func groups(f string) fpr {
	out := fpr{Full: f}
	for i := 0; i < len(f); i += 4 {
		out.Groups = append(out.Groups, f[i:min(i+4, len(f))])
	}
	return out
}

type keyView struct {
	Fingerprint fpr
	InKeyring   bool     // the published keyrings hold its certificate
	UserIDs     []string // valid now: self-certified and not revoked
	// Revocation describes a revocation of the key in its own
	// certificate, in force now ("" for none); RevokedHard: a reason under
	// which no signature of the key is trusted (compromised, none given).
	Revocation  string
	RevokedHard bool
	Algorithm   string
	Expires     string // RFC 3339, "never" or "unknown"
	ExpiresAt   string // RFC 3339 or ""
	Scopes      []string
	Added       string
	Status      string
	Reason      string
	Effective   string
	Compromised bool
}

type view struct {
	Style       template.CSS
	CSP         string
	Repository  string
	Roots       []fpr
	Threshold   int
	RootVersion uint64
	Pin         string
	Version     uint64
	Issued      string
	Expires     string
	Rendered    string
	Expired     bool
	ExpiresSoon bool
	DaysLeft    int
	Active      []keyView
	Removed     []keyView
	// Index are the active index keys: they sign keyctl-index.json,
	// never a chart.
	Index       []keyView
	RepoArg     string
	RepoKnown   bool
	PubkeysHref string // link to pubkeys.pgp: absolute, or relative to the page
	PubkeysURL  string // shown in the commands and the annotation
	FirstFpr    string
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// revocationText describes a key revocation signature for the page, and
// whether its reason leaves none of the key's signatures trusted (go-crypto
// and keyctl verify count a key revoked as compromised, or for no reason
// or an unknown one, as revoked from the start).
func revocationText(rev *packet.Signature) (string, bool) {
	why, hard := "no reason given", true
	if r := rev.RevocationReason; r != nil {
		switch *r {
		case packet.NoReason:
		case packet.KeyCompromised:
			why = "key compromised"
		case packet.KeySuperseded:
			why, hard = "key superseded", false
		case packet.KeyRetired:
			why, hard = "key retired", false
		default:
			why = "reason code " + strconv.Itoa(int(*r))
		}
	}
	return fmt.Sprintf("revoked by its holder in its certificate on %s (%s)", rev.CreationTime.UTC().Format(time.DateOnly), why), hard
}

// placeholderRepo stands for the repository's address when the page does
// not know one people can reach.
const placeholderRepo = "https://CHART-REPOSITORY-URL"

// locations returns the --repo argument, whether it is real, and the href
// and shown URL of pubkeys.pgp. The page sits in keyctl/, next to the set,
// so the link is relative unless the set is served over http(s).
func locations(loc string) (repo string, known bool, href, shown string) {
	u, err := url.Parse(loc)
	if err == nil && u.Host != "" && u.User == nil && u.RawQuery == "" && u.Fragment == "" {
		switch u.Scheme {
		case "http", "https":
			base := strings.TrimRight(loc, "/")
			return base, true, base + "/" + root.PubkeysFile, base + "/" + root.PubkeysFile
		case "gs", "s3":
			return strings.TrimRight(loc, "/"), true, "../" + root.PubkeysFile, placeholderRepo + "/" + root.PubkeysFile
		}
	}
	return placeholderRepo, false, "../" + root.PubkeysFile, placeholderRepo + "/" + root.PubkeysFile
}

// CheckPublicURL checks an address people read a repository from, as
// given to publish --public-url and keyctl page --public-url: http(s), with
// a host, and nothing a page should not show (credentials, a query, a
// fragment).
func CheckPublicURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fail.Inputf("--public-url must be the http(s) address of the chart repository, without credentials, query or fragment").
			WithHint("e.g. --public-url https://charts.example.org")
	}
	// The address goes into the page's commands, which people paste into
	// a shell (quoted there too, see shellArg).
	if i := strings.IndexAny(s, " \t\"'`$;|&<>(){}*\\!"); i >= 0 {
		return fail.Inputf("--public-url holds %q, which a chart repository's address does not need and a shell reads as syntax", s[i:i+1]).
			WithHint("percent-encode it (e.g. %20 for a space), or give the address without it")
	}
	return nil
}

// quietChars need no quoting in a POSIX shell word or a YAML plain
// scalar: a repository address made of them is shown as it is.
func quietChars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("@%+=:,./_-", c) >= 0) {
			return false
		}
	}
	return true
}

// shellArg is s as one word of a POSIX shell: as it is when it needs no
// quoting, else in single quotes. The page's commands are meant to be
// copied into a shell, and the repository address in them comes from
// --public-url or the publish location: pasted, it must run as shown and
// nothing else.
func shellArg(s string) string {
	if quietChars(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// yamlScalar is s as a YAML scalar: plain when it needs no quoting, else
// single-quoted, each ' in it doubled.
func yamlScalar(s string) string {
	if quietChars(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// MaxUserIDShown is how many characters of a user ID the page shows; the
// rest is cut and counted, so that one hostile user ID cannot bury the page.
const MaxUserIDShown = 200

func shortUserID(s string) string {
	r := []rune(s)
	if len(r) <= MaxUserIDShown {
		return s
	}
	return fmt.Sprintf("%s… (%d more characters)", string(r[:MaxUserIDShown]), len(r)-MaxUserIDShown)
}

// Render builds the page. It refuses a root set or keyrings that are not
// the ones the manifest binds.
func Render(in Input) ([]byte, error) {
	m := in.Manifest
	if m == nil {
		return nil, fmt.Errorf("the trust page needs the signed manifest")
	}
	if root.Hash(in.RootSet) != m.Root.SHA256 {
		return nil, fail.Inputf("the trust page: the root set given is not root set %d that manifest version %d names", m.Root.Version, m.Version)
	}
	rs, err := root.ParseRootSet(in.RootSet)
	if err != nil {
		return nil, err
	}
	if rs.Version != m.Root.Version || rs.Repository != m.Repository {
		return nil, fail.Inputf("the trust page: root set %d of %q is not the one manifest version %d names", rs.Version, rs.Repository, m.Version)
	}
	if err := m.CheckFile(root.PubkeysFile, in.Pubkeys); err != nil {
		return nil, err
	}
	if err := m.CheckFile(root.RevokedFile, in.Revoked); err != nil {
		return nil, err
	}
	if _, bound := m.File(root.IndexKeysFile); bound {
		if err := m.CheckFile(root.IndexKeysFile, in.IndexKeys); err != nil {
			return nil, err
		}
	}
	now := in.Now.UTC()
	certs := map[string]*openpgp.Entity{}
	for _, ring := range [][]byte{in.Pubkeys, in.Revoked, in.IndexKeys} {
		if len(ring) == 0 {
			continue
		}
		el, err := pgpkey.ReadKeyring(ring, pgpkey.MaxKeyringSize)
		if err != nil {
			return nil, fmt.Errorf("the trust page: reading a published keyring: %w", err)
		}
		for _, e := range el {
			certs[pgpkey.Fingerprint(e)] = e
		}
	}
	v := view{
		Style:       template.CSS(styleCSS),
		CSP:         csp(),
		Repository:  m.Repository,
		Threshold:   rs.Threshold,
		RootVersion: rs.Version,
		Pin:         root.PinOf(in.RootSet),
		Version:     m.Version,
		Issued:      ts(m.Issued),
		Expires:     ts(m.Expires),
		Rendered:    ts(now),
		Expired:     !now.Before(m.Expires),
	}
	v.ExpiresSoon = !v.Expired && m.Expires.Sub(now) <= WarnWindow
	v.DaysLeft = int(m.Expires.Sub(now).Hours() / 24)
	v.RepoArg, v.RepoKnown, v.PubkeysHref, v.PubkeysURL = locations(in.URL)
	for _, f := range rs.Fingerprints() {
		v.Roots = append(v.Roots, groups(f))
	}
	for _, k := range m.Keys {
		kv := keyView{Fingerprint: groups(k.Fingerprint), Scopes: k.Scopes, Added: ts(k.Added), Status: string(k.Status), Expires: "unknown", Algorithm: "unknown"}
		if e := certs[k.Fingerprint]; e != nil {
			kv.InKeyring = true
			// What the key says about its holder now: a user ID that no
			// valid self-signature certifies, or that is revoked, is not.
			for _, id := range pgpkey.ValidUserIDs(e, now, nil) {
				kv.UserIDs = append(kv.UserIDs, shortUserID(termsafe.String(id)))
			}
			if rev := pgpkey.KeyRevoked(e, now); rev != nil {
				kv.Revocation, kv.RevokedHard = revocationText(rev)
			}
			kv.Algorithm = pgpkey.Algorithm(e.PrimaryKey)
			if exp, ok := pgpkey.Expiry(e, now, nil); ok {
				kv.Expires = "never"
				if !exp.IsZero() {
					kv.Expires, kv.ExpiresAt = ts(exp), ts(exp)
				}
			}
		}
		if k.Status == root.Removed {
			kv.Reason, kv.Effective = string(k.Reason), ts(k.Effective)
			kv.Compromised = k.Reason == root.Compromised
			v.Removed = append(v.Removed, kv)
			continue
		}
		if k.Role == root.RoleIndex {
			v.Index = append(v.Index, kv)
			continue
		}
		if v.FirstFpr == "" {
			v.FirstFpr = k.Fingerprint
		}
		v.Active = append(v.Active, kv)
	}
	if v.FirstFpr == "" {
		v.FirstFpr = "FINGERPRINT-OF-YOUR-KEY"
	}
	var buf bytes.Buffer
	if err := tmpl().Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("the trust page: %w", err)
	}
	return buf.Bytes(), nil
}

var (
	//go:embed page.html.tmpl
	pageHTML string
	//go:embed style.css
	styleCSS string
)

// csp allows nothing but the one inline style, by its hash.
var csp = sync.OnceValue(func() string {
	sum := sha256.Sum256([]byte(styleCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src 'none'; base-uri 'none'; form-action 'none'"
})

// tmpl is parsed on first use, not at start-up: every keyctl command
// would otherwise pay for it.
var tmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Funcs(template.FuncMap{"sh": shellArg, "yq": yamlScalar}).Parse(pageHTML))
})
