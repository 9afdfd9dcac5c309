package publish

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Redirects. Go's http.Client follows up to 10 redirects anywhere,
// file:// aside: an index.yaml on charts.example.org could send a chart
// download, or the keyring, to any other host, after the same-host rule
// for chart URLs had been checked on the URL in index.yaml only. Every
// read keyctl makes over http(s) (publish.Bucket, the audit's fetches)
// follows redirects by one RedirectPolicy.

// DefaultMaxRedirects is the number of redirects a read follows at most.
const DefaultMaxRedirects = 5

// RedirectPolicy is which redirects a read over http(s) follows.
//
// By default a redirect stays on the scheme and host (host and port) of the
// first request. CrossHost lets it go to another host, for a caller that
// checks what it reads against a signed index; even then a redirect never
// goes from https to http or to a scheme other than http(s), and
// credentials (URL userinfo, Authorization and Cookie headers) are not sent
// to a host other than the first.
type RedirectPolicy struct {
	CrossHost bool
	// Max is the number of redirects followed; 0 means DefaultMaxRedirects,
	// a negative number none.
	Max int
}

// RedirectError is a redirect the policy refused. Retrying does not help.
type RedirectError struct {
	From, To string // redacted URLs
	Why      string
}

func (e *RedirectError) Error() string {
	return fmt.Sprintf("redirect from %s to %s refused: %s", e.From, e.To, e.Why)
}

// Check is an http.Client CheckRedirect function.
func (p RedirectPolicy) Check(req *http.Request, via []*http.Request) error {
	if len(via) == 0 {
		return nil
	}
	first, prev := via[0].URL, via[len(via)-1].URL
	refuse := func(why string) error {
		return &RedirectError{From: redactURL(prev), To: redactURL(req.URL), Why: why}
	}
	limit := p.Max
	if limit == 0 {
		limit = DefaultMaxRedirects
	}
	if len(via) > max(limit, 0) {
		return refuse(fmt.Sprintf("more than %d redirects", max(limit, 0)))
	}
	to := strings.ToLower(req.URL.Scheme)
	if to != "http" && to != "https" {
		return refuse("keyctl follows redirects only to http(s) URLs")
	}
	for _, u := range []*url.URL{first, prev} {
		if strings.EqualFold(u.Scheme, "https") && to != "https" {
			return refuse("a redirect may not leave https")
		}
	}
	if sameOrigin(first, req.URL) {
		return nil
	}
	if !p.CrossHost {
		return refuse("a redirect must stay on " + strings.ToLower(first.Scheme) + "://" + first.Host + " (the repository's scheme and host)")
	}
	// Another host: no credentials go with it.
	req.URL.User = nil
	for _, h := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
		req.Header.Del(h)
	}
	return nil
}

// Client returns a copy of c (a new client when c is nil) that follows
// redirects by p.
func (p RedirectPolicy) Client(c *http.Client) *http.Client {
	var n http.Client
	if c != nil {
		n = *c
	}
	n.CheckRedirect = p.Check
	return &n
}

// AsRedirectError returns the *RedirectError in err's chain, if any.
func AsRedirectError(err error) (*RedirectError, bool) {
	var re *RedirectError
	ok := errors.As(err, &re)
	return re, ok
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// redactURL is a URL as messages show it: without userinfo and query.
func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	c.RawQuery = ""
	c.ForceQuery = false
	return c.String()
}
