package s3

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Secrets of the fixtures below: no error string may contain any of them.
var fixtureSecrets = []string{"fileSECRETdefault", "fileSECRETci", "envSECRET", "envTOKEN", "procSECRET", "procTOKEN",
	"ctrSECRET", "ctrTOKEN", "ctrAUTH", "stsSECRET", "stsTOKEN", "JWT.web.identity", "imdsSECRET", "imdsTOKEN", "--secret-arg"}

func noSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range fixtureSecrets {
		if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v", err), s) {
			t.Fatalf("error shows secret %q: %v", s, err)
		}
	}
}

func retrieve(t *testing.T, profile string) (Credentials, error) {
	t.Helper()
	c, err := DefaultChain(profile, "us-east-1").Retrieve(context.Background())
	noSecret(t, err)
	return c, err
}

func mustRetrieve(t *testing.T, profile, wantID, wantSecret string) Credentials {
	t.Helper()
	c, err := retrieve(t, profile)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != wantID || c.SecretAccessKey != wantSecret {
		t.Fatalf("got %s (secret match %v), want %s", c, c.SecretAccessKey == wantSecret, wantID)
	}
	return c
}

const sharedCreds = `# comment
[default]
aws_access_key_id = AKIDFILEDEFAULT
aws_secret_access_key = fileSECRETdefault

[ci]
aws_access_key_id=AKIDFILECI
aws_secret_access_key=fileSECRETci
aws_session_token = fileTOKENci
`

func TestChainSharedFiles(t *testing.T) {
	home := isolate(t)
	writeFile(t, filepath.Join(home, ".aws", "credentials"), sharedCreds)
	c := mustRetrieve(t, "", "AKIDFILEDEFAULT", "fileSECRETdefault")
	if !strings.Contains(c.Source, filepath.Join(home, ".aws", "credentials")) || !c.Expires.IsZero() {
		t.Fatalf("source %q, expires %v", c.Source, c.Expires)
	}
	c = mustRetrieve(t, "ci", "AKIDFILECI", "fileSECRETci")
	if c.SessionToken != "fileTOKENci" {
		t.Fatal("session token not read")
	}
	t.Setenv("AWS_PROFILE", "ci")
	mustRetrieve(t, "", "AKIDFILECI", "fileSECRETci")

	// "[profile x]" in the config file; the credentials file wins a key
	// both define; "[x]" without "profile " is not a config-file profile.
	writeFile(t, filepath.Join(home, ".aws", "config"), "[profile cfg]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = cfgSECRET\nregion = eu-west-3\ns3 =\n  addressing_style = path\n[profile ci]\naws_access_key_id = AKIDSHADOWED\n[bare]\naws_access_key_id = AKIDBARE\naws_secret_access_key = bareSECRET\n")
	mustRetrieve(t, "cfg", "AKIDCONFIG", "cfgSECRET")
	mustRetrieve(t, "ci", "AKIDFILECI", "fileSECRETci")
	if _, err := retrieve(t, "bare"); err == nil || !strings.Contains(err.Error(), `profile "bare" not found`) {
		t.Fatalf("[bare] in config: %v", err)
	}

	// Other file locations.
	other := t.TempDir()
	writeFile(t, filepath.Join(other, "c"), "[ci]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = otherSECRET\n")
	writeFile(t, filepath.Join(other, "k"), "[profile x]\nregion = ca-central-1\n")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(other, "c"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(other, "k"))
	mustRetrieve(t, "", "AKIDOTHER", "otherSECRET")
	if r := regionFromProfile("x", os.Getenv); r != "ca-central-1" {
		t.Fatalf("region from AWS_CONFIG_FILE: %q", r)
	}
}

func TestChainEnvPrecedence(t *testing.T) {
	home := isolate(t)
	writeFile(t, filepath.Join(home, ".aws", "credentials"), sharedCreds)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "envSECRET")
	t.Setenv("AWS_SESSION_TOKEN", "envTOKEN")
	c := mustRetrieve(t, "", "AKIDENV", "envSECRET")
	if c.SessionToken != "envTOKEN" || c.Source != "environment" {
		t.Fatalf("%v", c)
	}
	// AWS_PROFILE does not beat the environment's keys (as in the AWS
	// SDKs); ?profile= does.
	t.Setenv("AWS_PROFILE", "ci")
	mustRetrieve(t, "", "AKIDENV", "envSECRET")
	mustRetrieve(t, "ci", "AKIDFILECI", "fileSECRETci")

	// The older variable names.
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_ACCESS_KEY", "AKIDOLDENV")
	t.Setenv("AWS_SECRET_KEY", "envSECRET")
	mustRetrieve(t, "", "AKIDOLDENV", "envSECRET")
	t.Setenv("AWS_ACCESS_KEY", "")
	t.Setenv("AWS_SECRET_KEY", "")

	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
	_, err := retrieve(t, "")
	if err == nil || !strings.Contains(err.Error(), "AWS_SECRET_ACCESS_KEY is not") {
		t.Fatalf("half the env keys: %v", err)
	}
}

func TestNoCredentialsSaysWhereItLooked(t *testing.T) {
	home := isolate(t)
	_, err := retrieve(t, "")
	var nc *NoCredentialsError
	if !errors.As(err, &nc) {
		t.Fatalf("%v", err)
	}
	for _, want := range []string{"AWS_ACCESS_KEY_ID", "AWS_WEB_IDENTITY_TOKEN_FILE", filepath.Join(home, ".aws", "credentials"),
		filepath.Join(home, ".aws", "config"), "AWS_CONTAINER_CREDENTIALS_FULL_URI", "IMDSv2) (off: AWS_EC2_METADATA_DISABLED=true)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q not in %v", want, err)
		}
	}
	if _, err := retrieve(t, "nosuch"); err == nil || !strings.Contains(err.Error(), `profile "nosuch" not found`) {
		t.Fatalf("missing named profile: %v", err)
	}
}

func TestUnsupportedProfilesSayWhatToDo(t *testing.T) {
	home := isolate(t)
	writeFile(t, filepath.Join(home, ".aws", "config"), `[profile sso]
sso_session = corp
sso_account_id = 1
[profile role]
role_arn = arn:aws:iam::1:role/r
source_profile = sso
[profile keyed-role]
aws_access_key_id = AKID
aws_secret_access_key = fileSECRETci
role_arn = arn:aws:iam::1:role/r
`)
	for _, p := range []string{"sso", "role", "keyed-role"} {
		_, err := retrieve(t, p)
		if err == nil || !strings.Contains(err.Error(), "aws configure export-credentials --profile "+p+" --format process") {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// processScript writes an executable script printing out (and stderr),
// exiting with code.
func processScript(t *testing.T, out, stderr string, code int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "creds.sh")
	script := fmt.Sprintf("#!/bin/sh\ncat <<'EOF'\n%s\nEOF\necho '%s' >&2\nexit %d\n", out, stderr, code)
	if err := os.WriteFile(p, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCredentialProcess(t *testing.T) {
	home := isolate(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	ok := processScript(t, `{"Version": 1, "AccessKeyId": "AKIDPROC", "SecretAccessKey": "procSECRET", "SessionToken": "procTOKEN", "Expiration": "`+exp.Format(time.RFC3339)+`"}`, "", 0)
	writeFile(t, filepath.Join(home, ".aws", "config"), "[profile sso]\nregion = eu-west-1\ncredential_process = "+ok+" --secret-arg\n")
	c := mustRetrieve(t, "sso", "AKIDPROC", "procSECRET")
	if c.SessionToken != "procTOKEN" || !c.Expires.Equal(exp) || !strings.Contains(c.Source, `credential_process of profile "sso"`) {
		t.Fatalf("%v, expires %v", c, c.Expires)
	}

	for name, tc := range map[string]struct {
		out, stderr string
		code        int
		want        string
	}{
		"exit":        {`{"SecretAccessKey": "procSECRET"}`, "The SSO session has expired: run aws sso login", 3, "exit status 3: The SSO session has expired: run aws sso login"},
		"not json":    {`SecretAccessKey=procSECRET`, "", 0, "did not print a JSON object"},
		"version":     {`{"Version": 2, "AccessKeyId": "A", "SecretAccessKey": "procSECRET"}`, "", 0, "Version 2"},
		"no secret":   {`{"Version": 1, "AccessKeyId": "A"}`, "", 0, "no SecretAccessKey"},
		"bad expires": {`{"Version": 1, "AccessKeyId": "A", "SecretAccessKey": "procSECRET", "Expiration": "procSECRET"}`, "", 0, "not an RFC 3339 time"},
	} {
		s := processScript(t, tc.out, tc.stderr, tc.code)
		writeFile(t, filepath.Join(home, ".aws", "config"), "[profile p]\ncredential_process = "+s+" --secret-arg\n")
		_, err := retrieve(t, "p")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// A process that leaves a helper running with its stdout open.
	bg := processScript(t, `{"Version": 1, "AccessKeyId": "AKIDBG", "SecretAccessKey": "procSECRET"}`, "", 0)
	writeFile(t, filepath.Join(home, ".aws", "config"), "[profile bg]\ncredential_process = sleep 15 & "+bg+"\n")
	start := time.Now()
	mustRetrieve(t, "bg", "AKIDBG", "procSECRET")
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("waited %v for a background helper's output pipe", d)
	}

	writeFile(t, filepath.Join(home, ".aws", "config"), "[profile p]\ncredential_process = /nonexistent/bin/x --secret-arg\n")
	if _, err := retrieve(t, "p"); err == nil || !strings.Contains(err.Error(), "credential_process") {
		t.Fatalf("missing program: %v", err)
	}
}

func TestContainerCredentials(t *testing.T) {
	isolate(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	var auth atomic.Value
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		if r.URL.Path != "/v2/credentials" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"code": "Unauthorized", "message": "bad token"}`)
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"AccessKeyId": "AKIDCTR", "SecretAccessKey": "ctrSECRET", "Token": "ctrTOKEN", "Expiration": exp.Format(time.RFC3339)})
	}))
	defer ts.Close()
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", ts.URL+"/v2/credentials")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ctrAUTH-env")
	c := mustRetrieve(t, "", "AKIDCTR", "ctrSECRET")
	if c.SessionToken != "ctrTOKEN" || !c.Expires.Equal(exp) || auth.Load() != "ctrAUTH-env" {
		t.Fatalf("%v expires %v auth %v", c, c.Expires, auth.Load())
	}
	tokFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokFile, "ctrAUTH-file\n")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tokFile)
	mustRetrieve(t, "", "AKIDCTR", "ctrSECRET")
	if auth.Load() != "ctrAUTH-file" {
		t.Fatalf("token file not used: %v", auth.Load())
	}

	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", ts.URL+"/wrong?x=ctrAUTH")
	if _, err := retrieve(t, ""); err == nil || !strings.Contains(err.Error(), "HTTP 401: bad token") {
		t.Fatalf("401: %v", err)
	}
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://169.254.169.254/creds")
	if _, err := retrieve(t, ""); err == nil || !strings.Contains(err.Error(), "use https://") {
		t.Fatalf("http to a foreign host: %v", err)
	}
	// A dead endpoint: the error does not quote the URL (it may hold a token).
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", dead.URL+"/c?token=ctrAUTH")
	if _, err := retrieve(t, ""); err == nil || strings.Contains(err.Error(), "/c?token") {
		t.Fatalf("dead endpoint: %v", err)
	}
}

func TestWebIdentity(t *testing.T) {
	isolate(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	var form url.Values
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Authorization") != "" {
			t.Errorf("%s with Authorization %q", r.Method, r.Header.Get("Authorization"))
		}
		r.ParseForm()
		form = r.PostForm
		if r.URL.RawQuery != "" {
			t.Errorf("query %q: the token must travel in the body", r.URL.RawQuery)
		}
		if form.Get("RoleArn") == "arn:aws:iam::1:role/denied" {
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error></ErrorResponse>`)
			return
		}
		fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>
<Credentials><AccessKeyId>ASIASTS</AccessKeyId><SecretAccessKey>stsSECRET</SecretAccessKey><SessionToken>stsTOKEN</SessionToken><Expiration>%s</Expiration></Credentials>
</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`, exp.Format(time.RFC3339))
	}))
	defer ts.Close()
	tok := filepath.Join(t.TempDir(), "token")
	writeFile(t, tok, "JWT.web.identity\n")
	t.Setenv("AWS_ENDPOINT_URL_STS", ts.URL)
	t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tok)
	_, err := retrieve(t, "")
	if err == nil || !strings.Contains(err.Error(), "no role ARN") {
		t.Fatalf("no role: %v", err)
	}
	t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/ci")
	t.Setenv("AWS_ROLE_SESSION_NAME", "build-7")
	c := mustRetrieve(t, "", "ASIASTS", "stsSECRET")
	if c.SessionToken != "stsTOKEN" || !c.Expires.Equal(exp) {
		t.Fatalf("%v", c)
	}
	if form.Get("Action") != "AssumeRoleWithWebIdentity" || form.Get("WebIdentityToken") != "JWT.web.identity" ||
		form.Get("RoleSessionName") != "build-7" || form.Get("RoleArn") != "arn:aws:iam::1:role/ci" {
		t.Fatalf("form %v", form)
	}
	t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/denied")
	if _, err := retrieve(t, ""); err == nil || !strings.Contains(err.Error(), "HTTP 403 AccessDenied: Not authorized") {
		t.Fatalf("denied: %v", err)
	}
	ch := &chain{getenv: func(string) string { return "" }, region: "eu-west-1"}
	if ep, _ := ch.stsEndpoint(); ep != "https://sts.eu-west-1.amazonaws.com" {
		t.Fatalf("regional endpoint %s", ep)
	}
}

func TestIMDSv2(t *testing.T) {
	isolate(t)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" && r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") != "":
			io.WriteString(w, "imds-session")
		case r.Header.Get("X-Aws-Ec2-Metadata-Token") != "imds-session":
			w.WriteHeader(http.StatusUnauthorized)
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
			io.WriteString(w, "web-role\n")
		case r.URL.Path == "/latest/meta-data/iam/security-credentials/web-role":
			json.NewEncoder(w).Encode(map[string]string{"Code": "Success", "AccessKeyId": "ASIAIMDS", "SecretAccessKey": "imdsSECRET", "Token": "imdsTOKEN", "Expiration": exp.Format(time.RFC3339)})
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer ts.Close()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ts.URL)
	c := mustRetrieve(t, "", "ASIAIMDS", "imdsSECRET")
	if c.SessionToken != "imdsTOKEN" || !strings.Contains(c.Source, "web-role") {
		t.Fatalf("%v", c)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	if _, err := retrieve(t, ""); err == nil {
		t.Fatal("IMDS used although disabled")
	}
}

type countingProvider struct {
	n   int
	exp time.Time
}

func (p *countingProvider) Retrieve(context.Context) (Credentials, error) {
	p.n++
	return Credentials{AccessKeyID: fmt.Sprint("AKID", p.n), SecretAccessKey: "s", Expires: p.exp}, nil
}

func TestCacheRefreshesBeforeExpiry(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	p := &countingProvider{exp: t0.Add(time.Hour)}
	c := &cache{p: p, now: func() time.Time { return now }}
	get := func() string {
		cr, err := c.Retrieve(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return cr.AccessKeyID
	}
	if get() != "AKID1" {
		t.Fatal("first")
	}
	now = t0.Add(50 * time.Minute)
	if get() != "AKID1" || p.n != 1 {
		t.Fatal("refetched although still valid")
	}
	now = t0.Add(56 * time.Minute) // within refreshBefore of the expiry
	p.exp = t0.Add(2 * time.Hour)
	if get() != "AKID2" || p.n != 2 {
		t.Fatal("not refreshed before expiry")
	}
	now = t0.Add(90 * time.Minute)
	if get() != "AKID2" {
		t.Fatal("refreshed credentials not cached")
	}
	// Long-term keys are kept for ever.
	q := &countingProvider{}
	lc := &cache{p: q, now: func() time.Time { return now }}
	lc.Retrieve(context.Background())
	now = now.Add(1000 * time.Hour)
	lc.Retrieve(context.Background())
	if q.n != 1 {
		t.Fatalf("long-term keys fetched %d times", q.n)
	}
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	c := Credentials{AccessKeyID: "AKIDPRINT", SecretAccessKey: "envSECRET", SessionToken: "envTOKEN", Source: "environment"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		s := fmt.Sprintf(f, c)
		if strings.Contains(s, "envSECRET") || strings.Contains(s, "envTOKEN") || !strings.Contains(s, "AKIDPRINT") {
			t.Errorf("%s: %s", f, s)
		}
		s = fmt.Sprintf(f, &c)
		if strings.Contains(s, "envSECRET") || strings.Contains(s, "envTOKEN") {
			t.Errorf("%s of a pointer: %s", f, s)
		}
	}
}

func TestParseINI(t *testing.T) {
	m, err := parseINI("f", []byte("; c\n[ profile  a ]\nk = v = w\nnested =\n  sub = 1\nafter = 2\n"))
	if err != nil || m["profile a"]["k"] != "v = w" || m["profile a"]["after"] != "2" || m["profile a"]["sub"] != "" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"aws_secret_access_key = fileSECRETci\n", "[a\n", "[a]\nfileSECRETci\n"} {
		_, err := parseINI("f", []byte(bad))
		if err == nil || !strings.Contains(err.Error(), "f line 1") && !strings.Contains(err.Error(), "f line 2") {
			t.Errorf("%q: %v", bad, err)
		}
		noSecret(t, err)
	}
}

func FuzzParseINI(f *testing.F) {
	f.Add([]byte(sharedCreds))
	f.Add([]byte("[profile x]\ns3 =\n  a = b\nregion=r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxSharedFile {
			return
		}
		_, _ = parseINI("f", data)
	})
}

// FuzzCredentialAnswers feeds the parsers of credential_process, container,
// IMDS and STS answers: none panics, and no error repeats the secret.
func FuzzCredentialAnswers(f *testing.F) {
	f.Add([]byte(`{"Version":1,"AccessKeyId":"A","SecretAccessKey":"SECRETSECRET","Expiration":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"AccessKeyId":"A","SecretAccessKey":"SECRETSECRET","Token":"t","Expiration":"SECRETSECRET"}`))
	f.Add([]byte(`<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>A</AccessKeyId><SecretAccessKey>SECRETSECRET</SecretAccessKey></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > maxCredentialBody {
			return
		}
		check := func(secret string, err error) {
			if err != nil && len(secret) >= 8 && strings.Contains(err.Error(), secret) {
				t.Fatalf("error repeats the secret: %v", err)
			}
		}
		var p processOutput
		_ = json.Unmarshal(body, &p)
		_, err := parseProcessOutput(body, "process")
		check(p.SecretAccessKey, err)
		var cc containerCreds
		if json.Unmarshal(body, &cc) == nil {
			_, err := cc.credentials("container")
			check(cc.SecretAccessKey, err)
		}
		var r stsResponse
		if xml.Unmarshal(body, &r) == nil {
			c := r.Result.Credentials
			_, err := containerCreds{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, Token: c.SessionToken, Expiration: c.Expiration}.credentials("sts")
			check(c.SecretAccessKey, err)
		}
	})
}

// The container credentials endpoint's client follows no redirect: its
// Authorization token stays with the endpoint, and a 3xx is an error.
func TestContainerCredentialsRedirectNotFollowed(t *testing.T) {
	isolate(t)
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		json.NewEncoder(w).Encode(map[string]string{"AccessKeyId": "AKIDOTHER", "SecretAccessKey": "otherSECRET"})
	}))
	defer other.Close()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer ts.Close()
	t.Setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", ts.URL+"/v2/credentials")
	t.Setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ctrAUTH-env")
	if _, err := retrieve(t, ""); err == nil || !strings.Contains(err.Error(), "HTTP 307") {
		t.Fatalf("307 from the container endpoint: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("%d request(s) reached the redirect's target", hits.Load())
	}
}
