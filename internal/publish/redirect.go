package publish

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/keyctl/keyctl/internal/s3"
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

// The gs:// and s3:// drivers follow no redirect at all: the storage API
// answers an object request itself, and a redirected request would carry
// the driver's credentials (the OAuth Bearer token, which oauth2.Transport
// sets on every hop; the S3 session token and signature) wherever the
// Location points, over http too. internal/s3's client refuses them on its
// own (s3.IsRedirect); the gs:// driver with noStorageRedirect.

// noStorageRedirect is a CheckRedirect that returns the 3xx answer as it
// is, sending nothing to where it points.
func noStorageRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// storageRedirectError is a 3xx answer of a gs:// service. Retrying does
// not help.
type storageRedirectError struct {
	Scheme string // "gs"
	Status int
	Host   string // the host (and port) that answered
	To     string // redirectTarget of its Location; "" when it had none
}

func (e *storageRedirectError) Error() string {
	s := fmt.Sprintf("HTTP %d %s from %s", e.Status, http.StatusText(e.Status), e.Host)
	if e.To != "" {
		s += ", a redirect to " + e.To
	}
	return s + ", not followed: keyctl follows no redirect for " + e.Scheme + "://"
}

// redirectTarget is the scheme and host a Location header points to,
// resolved against the request's URL: path and query are left out (a
// presigned URL's credentials), and a host that is not plain ASCII is
// shown escaped, since it is the server's text.
func redirectTarget(from *url.URL, loc string) string {
	if loc == "" {
		return ""
	}
	u, err := from.Parse(loc)
	if err != nil || u.Host == "" {
		return "an unreadable Location"
	}
	t := strings.ToLower(u.Scheme) + "://" + u.Host
	for _, r := range t {
		if r <= ' ' || r >= 0x7f {
			return strconv.QuoteToASCII(t)
		}
	}
	return t
}

// isStorageRedirect reports a 3xx answer of a gs:// or s3:// service.
func isStorageRedirect(err error) bool {
	var re *storageRedirectError
	return errors.As(err, &re) || s3.IsRedirect(err)
}

// storageRedirectHint says what to do about a refused gs:// or s3://
// redirect.
func storageRedirectHint(k kind) string {
	if k == kindS3 {
		return "keyctl follows no redirect for gs:// and s3://: the storage API answers objects itself. Check ?endpoint= (or AWS_ENDPOINT_URL) and ?region=: S3 redirects a request sent to another region than the bucket's"
	}
	return "keyctl follows no redirect for gs:// and s3://: the storage API answers objects itself. Check the endpoint: STORAGE_EMULATOR_HOST, when set, must be the emulator's own URL"
}
