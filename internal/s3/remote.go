package s3

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Credentials from the network: the container credentials endpoint (ECS,
// EKS Pod Identity), STS AssumeRoleWithWebIdentity (EKS IRSA, CI OIDC)
// and the EC2 instance metadata service (IMDSv2).

// maxCredentialBody caps a credentials endpoint's answer.
const maxCredentialBody = 64 << 10

// maxTokenFile caps a web identity or container authorization token file.
const maxTokenFile = 64 << 10

// localClient talks to link-local and loopback credential endpoints:
// never through a proxy.
var localClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// stsClient talks to STS, through the environment's proxy.
var stsClient = &http.Client{
	Timeout:   30 * time.Second,
	Transport: &http.Transport{Proxy: http.ProxyFromEnvironment},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// transportError strips the URL net/http puts in its errors: a credentials
// URL may carry a token.
func transportError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// containerCreds is the container endpoint's answer (and IMDS's).
type containerCreds struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	Token           string
	Expiration      string
	Code            string
	Message         string
}

func (c containerCreds) credentials(source string) (Credentials, error) {
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		msg := fmt.Sprintf("%s answered without AccessKeyId or SecretAccessKey", source)
		if c.Code != "" {
			msg += " (" + clean(c.Code, 64) + ")"
		}
		return Credentials{}, errors.New(msg)
	}
	cr := Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, SessionToken: c.Token, Source: source}
	if c.Expiration != "" {
		t, err := time.Parse(time.RFC3339, c.Expiration)
		if err != nil {
			return Credentials{}, fmt.Errorf("%s answered an Expiration that is not an RFC 3339 time", source)
		}
		cr.Expires = t
	}
	return cr, nil
}

// allowedContainerHost reports whether an http:// full URI may be used:
// loopback, or the ECS and EKS Pod Identity agent addresses.
func allowedContainerHost(host string) bool {
	switch host {
	case "localhost", "169.254.170.2", "169.254.170.23", "fd00:ec2::23":
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (ch *chain) fromContainer(ctx context.Context) (Credentials, error) {
	var endpoint string
	if rel := ch.getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"); rel != "" {
		endpoint = "http://169.254.170.2" + rel
	} else if full := ch.getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"); full != "" {
		u, err := url.Parse(full)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return Credentials{}, errors.New("AWS_CONTAINER_CREDENTIALS_FULL_URI is not an http(s) URL")
		}
		if u.Scheme == "http" && !allowedContainerHost(u.Hostname()) {
			return Credentials{}, errors.New("AWS_CONTAINER_CREDENTIALS_FULL_URI uses http:// to a host that is neither loopback nor the ECS or EKS agent: use https://")
		}
		endpoint = full
	} else {
		return Credentials{}, errNone
	}
	const source = "container credentials endpoint"
	token := ch.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
	if file := ch.getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); file != "" {
		b, err := readTokenFile(file)
		if err != nil {
			return Credentials{}, fmt.Errorf("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %w", err)
		}
		token = b
	}
	if strings.ContainsAny(token, "\r\n") {
		return Credentials{}, errors.New("the container authorization token holds a line break")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return Credentials{}, errors.New("AWS_CONTAINER_CREDENTIALS_*_URI is not a usable URL")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	status, body, err := askCredentials(localClient, req, source)
	if err != nil {
		return Credentials{}, err
	}
	var cc containerCreds
	jerr := json.Unmarshal(body, &cc)
	if status != http.StatusOK {
		msg := fmt.Sprintf("%s answered HTTP %d", source, status)
		if jerr == nil && cc.Message != "" {
			msg += ": " + clean(cc.Message, 200)
		}
		return Credentials{}, errors.New(msg)
	}
	if jerr != nil {
		return Credentials{}, fmt.Errorf("%s answered something other than a JSON object", source)
	}
	return cc.credentials(source)
}

func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", err
	}
	if len(b) > maxTokenFile {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxTokenFile)
	}
	return strings.TrimSpace(string(b)), nil
}

// errIMDSDisabled is errNone when AWS_EC2_METADATA_DISABLED=true.
var errIMDSDisabled = fmt.Errorf("%w: disabled by AWS_EC2_METADATA_DISABLED", errNone)

// imdsTimeout bounds the whole instance metadata attempt: off EC2 the
// address does not answer, and a missing credential must fail fast.
const imdsTimeout = 3 * time.Second

func (ch *chain) fromIMDS(ctx context.Context) (Credentials, error) {
	if strings.EqualFold(ch.getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		return Credentials{}, errIMDSDisabled
	}
	base := ch.getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT")
	if base == "" {
		base = "http://169.254.169.254"
	}
	base = strings.TrimSuffix(base, "/")
	ctx, cancel := context.WithTimeout(ctx, imdsTimeout)
	defer cancel()
	do := func(method, path string, hdr map[string]string) (int, []byte, error) {
		req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
		if err != nil {
			return 0, nil, err
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return readCredentialAnswer(localClient, req)
	}
	status, token, err := do(http.MethodPut, "/latest/api/token", map[string]string{"X-Aws-Ec2-Metadata-Token-Ttl-Seconds": "21600"})
	if err != nil || status != http.StatusOK {
		return Credentials{}, errNone // not on EC2, or IMDSv2 unavailable
	}
	tok := map[string]string{"X-Aws-Ec2-Metadata-Token": strings.TrimSpace(string(token))}
	status, role, err := do(http.MethodGet, "/latest/meta-data/iam/security-credentials/", tok)
	if err != nil {
		return Credentials{}, fmt.Errorf("EC2 instance metadata: %v", err)
	}
	if status == http.StatusNotFound {
		return Credentials{}, errNone // no instance profile
	}
	if status != http.StatusOK {
		return Credentials{}, fmt.Errorf("EC2 instance metadata answered HTTP %d for the role name", status)
	}
	name := strings.TrimSpace(strings.SplitN(string(role), "\n", 2)[0])
	if name == "" || strings.ContainsAny(name, "/?#") {
		return Credentials{}, errors.New("EC2 instance metadata answered no usable role name")
	}
	status, body, err := do(http.MethodGet, "/latest/meta-data/iam/security-credentials/"+url.PathEscape(name), tok)
	if err != nil {
		return Credentials{}, fmt.Errorf("EC2 instance metadata: %v", err)
	}
	if status != http.StatusOK {
		return Credentials{}, fmt.Errorf("EC2 instance metadata answered HTTP %d for the role's credentials", status)
	}
	var cc containerCreds
	if err := json.Unmarshal(body, &cc); err != nil {
		return Credentials{}, errors.New("EC2 instance metadata answered something other than a JSON object")
	}
	if cc.Code != "" && cc.Code != "Success" {
		return Credentials{}, fmt.Errorf("EC2 instance metadata: %s", clean(cc.Code, 64))
	}
	return cc.credentials("EC2 instance metadata (role " + clean(name, 128) + ")")
}

func (ch *chain) fromWebIdentityEnv(ctx context.Context) (Credentials, error) {
	file := ch.getenv("AWS_WEB_IDENTITY_TOKEN_FILE")
	if file == "" {
		return Credentials{}, errNone
	}
	return ch.webIdentity(ctx, file, ch.getenv("AWS_ROLE_ARN"), ch.getenv("AWS_ROLE_SESSION_NAME"), "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)")
}

// stsResponse is AssumeRoleWithWebIdentity's answer, or an STS error.
type stsResponse struct {
	Result struct {
		Credentials struct {
			AccessKeyID     string `xml:"AccessKeyId"`
			SecretAccessKey string `xml:"SecretAccessKey"`
			SessionToken    string `xml:"SessionToken"`
			Expiration      string `xml:"Expiration"`
		} `xml:"Credentials"`
	} `xml:"AssumeRoleWithWebIdentityResult"`
	Error struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
}

// stsEndpoint is AWS_ENDPOINT_URL_STS, or the regional STS endpoint.
func (ch *chain) stsEndpoint() (string, error) {
	if e := ch.getenv("AWS_ENDPOINT_URL_STS"); e != "" {
		return strings.TrimSuffix(e, "/"), nil
	}
	if ch.region == "" {
		return "", errors.New("web identity needs a region for STS: set ?region= or AWS_REGION")
	}
	if !validRegion(ch.region) {
		return "", fmt.Errorf("region %q is not a valid AWS region name", ch.region)
	}
	return "https://sts." + ch.region + "." + dnsSuffix(ch.region), nil
}

// webIdentity calls STS AssumeRoleWithWebIdentity (unsigned) with the
// token in file.
func (ch *chain) webIdentity(ctx context.Context, file, roleARN, session, source string) (Credentials, error) {
	if roleARN == "" {
		return Credentials{}, fmt.Errorf("%s: a web identity token file is set but no role ARN (AWS_ROLE_ARN or role_arn)", source)
	}
	token, err := readTokenFile(file)
	if err != nil {
		return Credentials{}, fmt.Errorf("%s: read the token file: %w", source, err)
	}
	if session == "" {
		session = "keyctl-" + strconv.FormatInt(ch.now().UnixNano(), 10)
	}
	endpoint, err := ch.stsEndpoint()
	if err != nil {
		return Credentials{}, fmt.Errorf("%s: %w", source, err)
	}
	form := url.Values{
		"Action":           {"AssumeRoleWithWebIdentity"},
		"Version":          {"2011-06-15"},
		"RoleArn":          {roleARN},
		"RoleSessionName":  {session},
		"WebIdentityToken": {token},
	}
	// The token goes in the body, never the URL: net/http errors quote URLs.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/", strings.NewReader(form.Encode()))
	if err != nil {
		return Credentials{}, fmt.Errorf("%s: the STS endpoint is not a usable URL", source)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, body, err := askCredentials(stsClient, req, source+": STS")
	if err != nil {
		return Credentials{}, err
	}
	var r stsResponse
	xerr := xml.Unmarshal(body, &r)
	if status != http.StatusOK {
		msg := fmt.Sprintf("%s: STS AssumeRoleWithWebIdentity answered HTTP %d", source, status)
		if xerr == nil && r.Error.Code != "" {
			msg += " " + clean(r.Error.Code, 64) + ": " + clean(r.Error.Message, 300)
		}
		return Credentials{}, errors.New(msg)
	}
	if xerr != nil {
		return Credentials{}, fmt.Errorf("%s: STS answered something other than the expected XML", source)
	}
	c := r.Result.Credentials
	return containerCreds{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, Token: c.SessionToken, Expiration: c.Expiration}.
		credentials(source + " via STS for " + roleARN)
}

// askCredentials sends a credentials request with c and returns the
// answer's status and body (readCredentialAnswer); what names the
// endpoint in errors.
func askCredentials(c *http.Client, req *http.Request, what string) (int, []byte, error) {
	status, body, err := readCredentialAnswer(c, req)
	switch {
	case err == errCredentialTooLarge:
		return 0, nil, fmt.Errorf("%s answered more than %d bytes", what, maxCredentialBody)
	case err != nil:
		return 0, nil, fmt.Errorf("%s: %v", what, err)
	}
	return status, body, nil
}

var errCredentialTooLarge = fmt.Errorf("answer larger than %d bytes", maxCredentialBody)

// readCredentialAnswer sends req with c and returns the answer's status
// and at most maxCredentialBody bytes of its body (more is
// errCredentialTooLarge); transport errors lose their URL.
func readCredentialAnswer(c *http.Client, req *http.Request) (int, []byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, transportError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCredentialBody+1))
	if err != nil {
		return 0, nil, transportError(err)
	}
	if len(body) > maxCredentialBody {
		return 0, nil, errCredentialTooLarge
	}
	return resp.StatusCode, body, nil
}
