package page

// The trust page in a real headless Chromium (Debian's chromium, a peer:
// scripts/peers.sh installs it; a missing browser skips these tests, or
// fails them under KEYCTL_REQUIRE_PEERS=1). One browser per test binary,
// one tab per test.
//
// Screenshots at 390 px (a phone) and 1280 px (a desktop), light and dark,
// go to $KEYCTL_ARTIFACTS/page/ when KEYCTL_ARTIFACTS is set, else to a
// temporary folder that the test log names and removes afterwards.

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/keyctl/keyctl/internal/pgpkey"
	"github.com/keyctl/keyctl/internal/root"
	"github.com/keyctl/keyctl/internal/testutil/peers"
)

var (
	browserOnce sync.Once
	browserCtx  context.Context
	browserErr  error
	browserStop = func() {}
)

func TestMain(m *testing.M) {
	code := m.Run()
	browserStop()
	os.Exit(code)
}

// tab opens a new tab of the shared browser, started on first use.
func tab(t *testing.T) context.Context {
	t.Helper()
	bin := peers.Chromium(t)
	browserOnce.Do(func() {
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(bin),
			chromedp.NoSandbox, // tests may run as root, where Chromium's sandbox refuses to start
			chromedp.DisableGPU,
			chromedp.Flag("lang", "en-US"),
		)
		actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
		bctx, bcancel := chromedp.NewContext(actx)
		browserStop = func() { bcancel(); acancel() }
		// The first run starts the browser, bound to bctx (a shorter-lived
		// context would take the browser down with it).
		if browserErr = chromedp.Do(bctx); browserErr == nil {
			browserCtx = bctx
		}
	})
	if browserErr != nil {
		t.Fatalf("starting %s: %v", bin, browserErr)
	}
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// watch records what a tab does that the page must never do: requests,
// console errors, exceptions, dialogs.
type watch struct {
	mu       sync.Mutex
	requests []string
	errors   []string
}

func (w *watch) listen(t *testing.T, ctx context.Context) {
	t.Helper()
	err := chromedp.Listen(ctx, func(ev any) {
		w.mu.Lock()
		defer w.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			w.requests = append(w.requests, e.Request.URL)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				w.errors = append(w.errors, fmt.Sprintf("console.%s", e.Type))
			}
		case *runtime.EventExceptionThrown:
			w.errors = append(w.errors, "exception: "+e.ExceptionDetails.Text)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError || e.Entry.Level == cdplog.EntryLevelWarning {
				w.errors = append(w.errors, fmt.Sprintf("log %s: %s", e.Entry.Level, e.Entry.Text))
			}
		case *cdppage.EventJavascriptDialogOpening:
			w.errors = append(w.errors, "dialog: "+e.Message)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// problems lists console errors, exceptions, dialogs and requests to
// another origin than origin.
func (w *watch) problems(origin string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := append([]string(nil), w.errors...)
	if len(w.requests) == 0 {
		out = append(out, "the browser made no request at all: the request log does not work")
	}
	for _, u := range w.requests {
		if !strings.HasPrefix(u, origin+"/") {
			out = append(out, "request outside the page's origin "+origin+": "+u)
		}
	}
	return out
}

// check fails the test on any problem.
func (w *watch) check(t *testing.T, origin string) {
	t.Helper()
	for _, p := range w.problems(origin) {
		t.Errorf("browser: %s", p)
	}
}

func artifactDir(t *testing.T) string {
	if d := os.Getenv("KEYCTL_ARTIFACTS"); d != "" {
		d = filepath.Join(d, "page")
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// serve serves the page as it is published: keyctl/index.html next to the set.
func serve(t *testing.T, in Input) (*httptest.Server, Input) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	in.URL = srv.URL
	html := render(t, in)
	mux.HandleFunc("/"+Name, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		w.Write([]byte(html))
	})
	mux.HandleFunc("/"+root.PubkeysFile, func(w http.ResponseWriter, r *http.Request) { w.Write(in.Pubkeys) })
	return srv, in
}

type shownRow struct {
	Table      string   `json:"table"`
	Fpr        string   `json:"fpr"`
	Status     string   `json:"status"`
	Reason     string   `json:"reason"`
	ShownFpr   string   `json:"shownFpr"`
	GroupsOK   bool     `json:"groupsOK"`
	Mono       bool     `json:"mono"`
	Scopes     []string `json:"scopes"`
	AllCharts  bool     `json:"allCharts"`
	Added      string   `json:"added"`
	Effective  string   `json:"effective"`
	Expires    string   `json:"expires"`
	ReasonText string   `json:"reasonText"`
	UserIDs    []string `json:"uids"`
}

type shown struct {
	Rows        []shownRow `json:"rows"`
	Repository  string     `json:"repository"`
	Version     string     `json:"version"`
	Issued      string     `json:"issued"`
	Expires     string     `json:"expires"`
	Pin         string     `json:"pin"`
	Threshold   string     `json:"threshold"`
	Scripts     int        `json:"scripts"`
	Elements    []string   `json:"elements"`
	BrokenTimes []string   `json:"brokenTimes"`
	ScrollWidth int        `json:"scrollWidth"`
	InnerWidth  int        `json:"innerWidth"`
	Background  string     `json:"background"`
	Verify      string     `json:"verify"`
}

// readPage reads what the browser renders, as a person sees it (innerText).
const readPage = `(() => {
  const txt = (el) => el ? el.innerText.trim() : "";
  const rows = [...document.querySelectorAll("tr[data-fingerprint]")].map(tr => {
    const f = (n) => tr.querySelector('[data-field="' + n + '"]');
    const fc = f("fingerprint");
    const sc = f("scopes");
    return {
      table: tr.closest("table").id,
      fpr: tr.dataset.fingerprint,
      status: tr.dataset.status || "",
      reason: tr.dataset.reason || "",
      shownFpr: txt(fc),
      groupsOK: [...fc.querySelectorAll(".g")].every(g => g.getClientRects().length === 1),
      mono: /mono/i.test(getComputedStyle(fc.querySelector("code")).fontFamily),
      scopes: sc ? [...sc.querySelectorAll("[data-scope]")].map(txt) : [],
      allCharts: sc ? sc.hasAttribute("data-all-charts") : false,
      added: txt(f("added")),
      effective: txt(f("effective")),
      expires: txt(f("expires")),
      reasonText: txt(f("reason")),
      uids: [...tr.querySelectorAll("bdi")].map(b => b.innerText),
    };
  });
  return {
    rows,
    repository: txt(document.getElementById("repository")),
    version: txt(document.getElementById("manifest-version")),
    issued: txt(document.getElementById("manifest-issued")),
    expires: txt(document.getElementById("manifest-expires")),
    pin: txt(document.getElementById("root-set-pin")),
    threshold: txt(document.getElementById("root-threshold")),
    scripts: document.scripts.length,
    brokenTimes: [...document.querySelectorAll("time")].filter(e => e.getClientRects().length !== 1 || e.getBoundingClientRect().height > 1.6 * parseFloat(getComputedStyle(e).lineHeight || "20")).map(e => e.innerText),
    elements: [...new Set([...document.querySelectorAll("*")].map(e => e.localName))],
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    background: getComputedStyle(document.body).backgroundColor,
    verify: txt(document.getElementById("verify-keyctl")),
  };
})()`

func TestBrowserPageShowsTheManifest(t *testing.T) {
	f := newFixture(t, hostileRepo)
	srv, in := serve(t, f.in)
	m := in.Manifest
	dir := artifactDir(t)
	certs := map[string]string{} // fingerprint -> expected expiry shown
	for _, e := range append(append(keys[:0:0], f.active...), f.removed...) {
		exp, _ := pgpkey.Expiry(e, now, nil)
		certs[pgpkey.Fingerprint(e)] = exp.UTC().Format(time.RFC3339)
	}

	for _, vp := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{
		{"390", 390, 844, true},
		{"1280", 1280, 900, false},
	} {
		t.Run(vp.name, func(t *testing.T) {
			ctx := tab(t)
			var w watch
			w.listen(t, ctx)
			opts := []chromedp.EmulateViewportOption{}
			if vp.mobile {
				opts = append(opts, chromedp.EmulateMobile, chromedp.EmulatePortrait)
			}
			err := chromedp.Do(ctx,
				chromedp.EmulateViewport(vp.width, vp.height, opts...),
				chromedp.Navigate(srv.URL+"/"+Name),
			)
			if err != nil {
				t.Fatal(err)
			}
			got, err := chromedp.Run(ctx, chromedp.Evaluate[shown](readPage))
			if err != nil {
				t.Fatal(err)
			}

			// Exactly what the signed manifest says.
			if got.Repository != m.Repository {
				t.Errorf("repository shown as %q, want the text %q", got.Repository, m.Repository)
			}
			for what, pair := range map[string][2]string{
				"version":   {got.Version, fmt.Sprint(m.Version)},
				"issued":    {got.Issued, m.Issued.Format(time.RFC3339)},
				"expires":   {got.Expires, m.Expires.Format(time.RFC3339)},
				"pin":       {got.Pin, root.PinOf(in.RootSet)},
				"threshold": {got.Threshold, "1"},
			} {
				if pair[0] != pair[1] {
					t.Errorf("%s shown as %q, want %q", what, pair[0], pair[1])
				}
			}
			byFpr := map[string]shownRow{}
			for _, r := range got.Rows {
				if r.Table == "root-keys" {
					if strings.Join(strings.Fields(r.ShownFpr), "") != f.rootFpr || r.Fpr != f.rootFpr {
						t.Errorf("root key shown as %q", r.ShownFpr)
					}
					continue
				}
				byFpr[r.Fpr] = r
			}
			if len(byFpr) != len(m.Keys) {
				t.Errorf("the page shows %d maintainer keys, the manifest has %d", len(byFpr), len(m.Keys))
			}
			for _, k := range m.Keys {
				r, ok := byFpr[k.Fingerprint]
				if !ok {
					t.Errorf("key %s is not shown", k.Fingerprint)
					continue
				}
				wantTable := map[root.Status]string{root.Active: "active-keys", root.Removed: "removed-keys"}[k.Status]
				if r.Table != wantTable || r.Status != string(k.Status) {
					t.Errorf("key %s shown in %s as %q, want %s in %s", k.Fingerprint, r.Table, r.Status, k.Status, wantTable)
				}
				groups := strings.Fields(r.ShownFpr)
				if strings.Join(groups, "") != k.Fingerprint || len(groups) != len(k.Fingerprint)/4 {
					t.Errorf("key %s shown as %q, want groups of four", k.Fingerprint, r.ShownFpr)
				}
				if !r.GroupsOK {
					t.Errorf("key %s: a group of four breaks across lines at %s px", k.Fingerprint, vp.name)
				}
				if !r.Mono {
					t.Errorf("key %s: fingerprint not in a monospace font", k.Fingerprint)
				}
				if strings.Join(r.Scopes, ",") != strings.Join(k.Scopes, ",") || r.AllCharts != (len(k.Scopes) == 0) {
					t.Errorf("key %s scopes shown %q (all %v), want %q", k.Fingerprint, r.Scopes, r.AllCharts, k.Scopes)
				}
				if r.Added != k.Added.Format(time.RFC3339) {
					t.Errorf("key %s added shown %q, want %s", k.Fingerprint, r.Added, k.Added.Format(time.RFC3339))
				}
				if k.Status == root.Active && r.Expires != certs[k.Fingerprint] {
					t.Errorf("key %s expiry shown %q, its certificate says %s", k.Fingerprint, r.Expires, certs[k.Fingerprint])
				}
				if k.Status == root.Removed {
					if r.Reason != string(k.Reason) || !strings.HasPrefix(r.ReasonText, string(k.Reason)) {
						t.Errorf("key %s reason shown %q/%q, want %s", k.Fingerprint, r.Reason, r.ReasonText, k.Reason)
					}
					if strings.Contains(r.ReasonText, "every signature untrusted") != (k.Reason == root.Compromised) {
						t.Errorf("key %s reason text %q", k.Fingerprint, r.ReasonText)
					}
					if r.Effective != k.Effective.Format(time.RFC3339) {
						t.Errorf("key %s effective shown %q, want %s", k.Fingerprint, r.Effective, k.Effective.Format(time.RFC3339))
					}
				}
			}

			// Hostile text stays text: no script ran or exists.
			if got.Scripts != 0 {
				t.Errorf("the page holds %d script elements", got.Scripts)
			}
			for _, el := range got.Elements {
				switch el {
				case "script", "img", "iframe", "object", "embed", "svg":
					t.Errorf("hostile text made a <%s> element", el)
				}
			}
			var uids []string
			for _, r := range got.Rows {
				uids = append(uids, r.UserIDs...)
			}
			for _, want := range []string{uidScript, uidAttr, uidRTL, uidLongShown, `\u202ecilA\u202c <alice@example.org>`} {
				found := false
				for _, u := range uids {
					found = found || u == want
				}
				if !found {
					t.Errorf("user ID %.60q is not shown as text", want)
				}
			}
			if !strings.Contains(got.Verify, "--repo "+srv.URL+" --root-set "+root.PinOf(in.RootSet)) {
				t.Errorf("verify command shown as %q", got.Verify)
			}

			// Readable at this width: nothing wider than the viewport.
			if got.InnerWidth != int(vp.width) {
				t.Errorf("layout viewport %d px, want %d (viewport meta element)", got.InnerWidth, vp.width)
			}
			if got.ScrollWidth > got.InnerWidth {
				t.Errorf("the page is %d px wide in a %d px viewport", got.ScrollWidth, got.InnerWidth)
			}
			if len(got.BrokenTimes) > 0 {
				t.Errorf("dates broken across lines at %s px: %q", vp.name, got.BrokenTimes)
			}
			shot(t, ctx, filepath.Join(dir, "trust-page-"+vp.name+".png"))

			// Dark scheme: another background, and a screenshot.
			if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
				return err
			})); err != nil {
				t.Fatal(err)
			}
			bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
			if err != nil {
				t.Fatal(err)
			}
			if bg == got.Background {
				t.Errorf("dark scheme keeps the light background %s", bg)
			}
			shot(t, ctx, filepath.Join(dir, "trust-page-"+vp.name+"-dark.png"))

			w.check(t, srv.URL)
		})
	}
}

func shot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 1000 {
		t.Fatalf("screenshot of %d bytes", len(png))
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// TestBrowserWatchCatches shows that the watch can fail: a page whose CSP
// blocks an image and a style logs errors, and a page without CSP that
// loads an image from another origin makes a request there.
func TestBrowserWatchCatches(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	mux.HandleFunc("/csp.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		fmt.Fprintf(w, `<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="%s"><p>x</p><img src="%s/x.png"><style>p{}</style>`, csp(), other.URL)
	})
	mux.HandleFunc("/open.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		fmt.Fprintf(w, `<!DOCTYPE html><title>x</title><img src="%s/x.png">`, other.URL)
	})
	for _, tc := range []struct{ path, want string }{
		{"/csp.html", "Content Security Policy"},
		{"/open.html", "request outside the page's origin " + srv.URL + ": " + other.URL + "/x.png"},
	} {
		ctx := tab(t)
		var w watch
		w.listen(t, ctx)
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+tc.path)); err != nil {
			t.Fatal(err)
		}
		got := strings.Join(w.problems(srv.URL), "\n")
		if !strings.Contains(got, tc.want) {
			t.Errorf("%s: problems %q, want one containing %q", tc.path, got, tc.want)
		}
	}
}
