package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/keyctl/keyctl/internal/termsafe"
)

// Registry authentication (the distribution token protocol, and Basic).
//
// A request goes out anonymously, or with what the registry host asked for
// last time. On 401 the client reads WWW-Authenticate:
//
//   - Basic: the stored user name and password of that host;
//   - Bearer realm=R,service=S[,scope=X]: a token from R for the scope the
//     request needs (repository:NAME:pull, or pull,push to write;
//     registry:catalog:* to list), fetched with GET R?service=S&scope=...
//     and Basic credentials (or none: an anonymous token), or, when the
//     store holds an identity token, with POST R (grant_type=refresh_token,
//     OAuth 2). A stored registry token is sent as the token itself.
//
// Tokens are cached per host and scope for the life of the Client. The
// realm must be HTTPS unless the registry itself is reached over plain
// HTTP (--plain-http, or a repository added with it): credentials never
// travel over plain HTTP unless the user asked for plain HTTP to that
// registry. Only the registry host's own 401 is a challenge: a 401 from a
// host the registry redirected to (its storage) is an error
// (RedirectAuthError), never answered with the registry's credentials.

// Limits on what an authentication exchange reads.
const (
	// MaxTokenResponse caps a token endpoint's answer.
	MaxTokenResponse = 1 << 20
	// maxChallenge caps a WWW-Authenticate header that is parsed.
	maxChallenge = 8 << 10
)

// errNoCredentials: the registry asks for a login and none is stored.
var errNoCredentials = errors.New("the registry asks for a login and no credentials are stored for it")

// challenge is a parsed WWW-Authenticate header.
type challenge struct {
	scheme string // "basic" or "bearer"
	params map[string]string
}

// parseChallenge reads the first challenge of a WWW-Authenticate value
// (a registry lists the one it prefers first):
// a scheme, then comma-separated name=value or name="quoted value"
// parameters (RFC 9110 §11.2). The scheme is returned in lower case, and
// parameter names too.
func parseChallenge(h string) (challenge, error) {
	if len(h) > maxChallenge {
		return challenge{}, fmt.Errorf("the WWW-Authenticate header is longer than %d bytes", maxChallenge)
	}
	h = strings.TrimSpace(h)
	scheme, rest, _ := strings.Cut(h, " ")
	if scheme == "" || !isToken(scheme) {
		return challenge{}, fmt.Errorf("the WWW-Authenticate header names no authentication scheme")
	}
	ch := challenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
	rest = strings.TrimSpace(rest)
	for rest != "" {
		i := strings.IndexByte(rest, '=')
		if i <= 0 {
			return challenge{}, fmt.Errorf("the WWW-Authenticate header has a malformed parameter")
		}
		name := strings.ToLower(strings.TrimSpace(rest[:i]))
		if f := strings.Fields(name); len(f) == 2 && isToken(f[0]) && isToken(f[1]) {
			break // the next challenge ("Basic realm=..."): only the first is read
		}
		if !isToken(name) {
			return challenge{}, fmt.Errorf("the WWW-Authenticate header has a malformed parameter name")
		}
		rest = strings.TrimLeft(rest[i+1:], " \t")
		var value string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			j, closed := 1, false
			for ; j < len(rest); j++ {
				c := rest[j]
				if c == '\\' && j+1 < len(rest) {
					j++
					b.WriteByte(rest[j])
					continue
				}
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return challenge{}, fmt.Errorf("the WWW-Authenticate header has an unterminated quoted value")
			}
			value, rest = b.String(), rest[j+1:]
		} else {
			j := strings.IndexByte(rest, ',')
			if j < 0 {
				j = len(rest)
			}
			value, rest = strings.TrimSpace(rest[:j]), rest[j:]
		}
		if _, dup := ch.params[name]; !dup {
			ch.params[name] = value
		}
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return challenge{}, fmt.Errorf("the WWW-Authenticate header has a malformed parameter list")
		}
		rest = strings.TrimLeft(rest[1:], " \t,")
	}
	return ch, nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// scopeFor is the token scope a request needs.
func scopeFor(repo string, write bool) string {
	if repo == "" {
		return "registry:catalog:*"
	}
	if write {
		return "repository:" + repo + ":pull,push"
	}
	return "repository:" + repo + ":pull"
}

// credentialFor returns host's stored credential, looked up once.
func (c *Client) credentialFor(ctx context.Context, host string) (credential, error) {
	c.mu.Lock()
	cred, ok := c.hostCreds[host]
	c.mu.Unlock()
	if ok {
		return cred, nil
	}
	cred, err := c.creds.get(ctx, host)
	if err != nil {
		return credential{}, err
	}
	c.mu.Lock()
	c.hostCreds[host] = cred
	c.mu.Unlock()
	return cred, nil
}

// authorize sets req's Authorization for host as ch asks. With fresh, a
// cached token is not used (the registry just refused it).
func (c *Client) authorize(ctx context.Context, req *http.Request, host string, ch challenge, scope string, fresh bool) error {
	cred, err := c.credentialFor(ctx, host)
	if err != nil {
		return err
	}
	switch ch.scheme {
	case "basic":
		if cred.Username == "" && cred.Password == "" {
			return errNoCredentials
		}
		if err := c.mayCarryCredentials(req.URL); err != nil {
			return err
		}
		req.SetBasicAuth(cred.Username, cred.Password)
		return nil
	case "bearer":
		tok, err := c.token(ctx, host, ch, scope, cred, fresh)
		if err != nil {
			return err
		}
		if err := c.mayCarryCredentials(req.URL); err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
	return fmt.Errorf("the registry asks for %q authentication, which keyctl does not speak (Basic or Bearer)", trunc(ch.scheme))
}

// mayCarryCredentials refuses to send a secret over plain HTTP unless the
// user asked for plain HTTP to that host.
func (c *Client) mayCarryCredentials(u *url.URL) error {
	if u.Scheme == "https" || (u.Scheme == "http" && c.plainHTTP(u.Host)) {
		return nil
	}
	return fmt.Errorf("refused to send credentials to %s://%s over plain HTTP (only with --plain-http)", termsafe.String(u.Scheme), termsafe.String(u.Host))
}

// token returns a bearer token for host and scope: the cached one, else a
// new one from the challenge's realm.
func (c *Client) token(ctx context.Context, host string, ch challenge, scope string, cred credential, fresh bool) (string, error) {
	if cred.AccessToken != "" {
		return cred.AccessToken, nil
	}
	scopes := []string{scope}
	if s := ch.params["scope"]; s != "" && s != scope {
		for _, x := range strings.Fields(s) {
			if x != scope {
				scopes = append(scopes, x)
			}
		}
	}
	sort.Strings(scopes)
	key := host + " " + strings.Join(scopes, " ")
	if !fresh {
		c.mu.Lock()
		tok, ok := c.tokens[key]
		c.mu.Unlock()
		if ok {
			return tok, nil
		}
	}
	realm, err := c.checkRealm(ch.params["realm"], host)
	if err != nil {
		return "", err
	}
	var req *http.Request
	if cred.IdentityToken != "" {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {cred.IdentityToken}, "client_id": {"keyctl"}}
		if s := ch.params["service"]; s != "" {
			form.Set("service", s)
		}
		form.Set("scope", strings.Join(scopes, " "))
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, realm.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return "", err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		q := realm.Query()
		if s := ch.params["service"]; s != "" {
			q.Set("service", s)
		}
		for _, s := range scopes {
			q.Add("scope", s)
		}
		realm.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
		if err != nil {
			return "", err
		}
		if cred.Username != "" || cred.Password != "" {
			req.SetBasicAuth(cred.Username, cred.Password)
		}
	}
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.send(req)
	if err != nil {
		return "", fmt.Errorf("token service %s: %w", redact(realm), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", responseError(resp)
	}
	tok, err := parseTokenResponse(resp.Body)
	if err != nil {
		return "", fmt.Errorf("token service %s: %w", redact(realm), err)
	}
	c.mu.Lock()
	c.tokens[key] = tok
	c.mu.Unlock()
	return tok, nil
}

// checkRealm parses a Bearer realm that registry host named: an absolute
// http(s) URL, HTTPS unless the user asked for plain HTTP to that
// registry.
func (c *Client) checkRealm(realm, host string) (*url.URL, error) {
	u, err := url.Parse(realm)
	if err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("the registry names a token service that is not an http(s) URL")
	}
	if u.Scheme == "http" && !c.plainHTTP(host) {
		return nil, fmt.Errorf("refused the registry's token service %s: plain HTTP, while the registry is reached over HTTPS", redact(u))
	}
	return u, nil
}

// redact is u without its query (a realm's query is the registry's, but
// keep messages short and free of anything a token service echoes).
func redact(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// parseTokenResponse reads {"token": T} or {"access_token": T}.
func parseTokenResponse(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxTokenResponse+1))
	if err != nil {
		return "", err
	}
	if len(data) > MaxTokenResponse {
		return "", fmt.Errorf("the answer is larger than %d bytes", MaxTokenResponse)
	}
	var t struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(data, &t); err != nil {
		return "", fmt.Errorf("the answer is not JSON: %s", jsonErr(err))
	}
	tok := t.Token
	if tok == "" {
		tok = t.AccessToken
	}
	if tok == "" {
		return "", errors.New("the answer holds no token")
	}
	if strings.ContainsAny(tok, "\r\n") {
		return "", errors.New("the answer holds a token that cannot go in a header")
	}
	return tok, nil
}
