package s3

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestObjectURL(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"virtual hosted", Config{Bucket: "bkt", Region: "eu-west-1"}, "https://bkt.s3.eu-west-1.amazonaws.com/a/b%20c.txt"},
		{"path style", Config{Bucket: "bkt", Region: "eu-west-1", PathStyle: true}, "https://s3.eu-west-1.amazonaws.com/bkt/a/b%20c.txt"},
		{"dotted bucket over https", Config{Bucket: "my.bkt", Region: "us-east-1"}, "https://s3.us-east-1.amazonaws.com/my.bkt/a/b%20c.txt"},
		{"dotted bucket over http", Config{Bucket: "my.bkt", Region: "us-east-1", DisableHTTPS: true}, "http://my.bkt.s3.us-east-1.amazonaws.com/a/b%20c.txt"},
		{"endpoint path style", Config{Bucket: "bkt", Region: "us-east-1", Endpoint: "http://127.0.0.1:9000", PathStyle: true}, "http://127.0.0.1:9000/bkt/a/b%20c.txt"},
		{"endpoint virtual hosted", Config{Bucket: "bkt", Region: "auto", Endpoint: "https://r2.example.com"}, "https://bkt.r2.example.com/a/b%20c.txt"},
		{"bare endpoint, https off", Config{Bucket: "bkt", Region: "us-east-1", Endpoint: "minio:9000", PathStyle: true, DisableHTTPS: true}, "http://minio:9000/bkt/a/b%20c.txt"},
		{"accelerate", Config{Bucket: "bkt", Region: "us-east-1", Accelerate: true}, "https://bkt.s3-accelerate.amazonaws.com/a/b%20c.txt"},
		{"dualstack", Config{Bucket: "bkt", Region: "us-east-2", DualStack: true}, "https://bkt.s3.dualstack.us-east-2.amazonaws.com/a/b%20c.txt"},
		{"fips", Config{Bucket: "bkt", Region: "us-gov-west-1", FIPS: true}, "https://bkt.s3-fips.us-gov-west-1.amazonaws.com/a/b%20c.txt"},
		{"china", Config{Bucket: "bkt", Region: "cn-north-1"}, "https://bkt.s3.cn-north-1.amazonaws.com.cn/a/b%20c.txt"},
	} {
		u, err := tc.cfg.objectURL("a/b c.txt")
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if u.String() != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, u, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"accelerate path style", Config{Bucket: "bkt", Region: "us-east-1", Accelerate: true, PathStyle: true}, "virtual-hosted"},
		{"accelerate dotted", Config{Bucket: "a.b", Region: "us-east-1", Accelerate: true}, "without dots"},
		{"accelerate endpoint", Config{Bucket: "bkt", Region: "us-east-1", Accelerate: true, Endpoint: "https://x"}, "cannot be combined"},
		{"endpoint with path", Config{Bucket: "bkt", Region: "us-east-1", Endpoint: "https://x/y"}, "not an http(s)://HOST[:PORT] URL"},
		{"endpoint ftp", Config{Bucket: "bkt", Region: "us-east-1", Endpoint: "ftp://x"}, "not an http(s)://HOST[:PORT] URL"},
		{"bad region", Config{Bucket: "bkt", Region: "us-east-1.evil.com/"}, "not a valid region"},
	} {
		if _, err := tc.cfg.objectURL("k"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// isolate gives the test an empty HOME and no AWS environment.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY", "AWS_SECRET_KEY",
		"AWS_SESSION_TOKEN", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("HOME", home)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return home
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestConfigFromURL(t *testing.T) {
	isolate(t)
	c, err := ConfigFromURL(mustURL(t, "s3://bkt/charts?region=eu-west-1&endpoint=http://127.0.0.1:9000&use_path_style=true"+
		"&disable_https=true&ssetype=aws:kms&kmskeyid=alias/k&profile=ci&awssdk=v2&request_checksum_calculation=when_required"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Bucket != "bkt" || c.Region != "eu-west-1" || c.Endpoint != "http://127.0.0.1:9000" || !c.PathStyle || !c.DisableHTTPS ||
		c.SSEType != "aws:kms" || c.KMSKeyID != "alias/k" || c.Credentials == nil {
		t.Fatalf("%+v", c)
	}
	if c, err := ConfigFromURL(mustURL(t, "s3://bkt?region=us-east-1&s3ForcePathStyle=true&accelerate=false&anonymous=true")); err != nil || !c.PathStyle || c.Credentials != Anonymous {
		t.Fatalf("%+v, %v", c, err)
	}
	for raw, want := range map[string]string{
		"s3://bkt?region=us-east-1&bogus=1":                             `unknown query parameter "bogus"`,
		"s3://bkt?region=us-east-1&use_path_style=maybe":                `invalid value for "use_path_style"`,
		"s3://bkt?region=us-east-1&role=arn:aws:iam::1:r/x":             "assume role",
		"s3://bkt?region=us-east-1&rate_limiter_capacity=5":             "not supported",
		"s3://bkt?region=us-east-1&awssdk=v1":                           "awssdk",
		"s3://bkt?region=a&region=b":                                    "given 2 times",
		"gs://bkt?region=us-east-1":                                     "not an s3:// URL",
		"s3://b?region=us-east-1":                                       "3 to 255",
		"s3://bkt?region=us-east-1&accelerate=true&use_path_style=true": "virtual-hosted",
	} {
		if _, err := ConfigFromURL(mustURL(t, raw)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", raw, err, want)
		}
	}
	_, err = ConfigFromURL(mustURL(t, "s3://AKIDSECRETUSER:hunter2secret@bkt?region=us-east-1"))
	if err == nil || strings.Contains(err.Error(), "hunter2secret") || strings.Contains(err.Error(), "AKIDSECRETUSER") {
		t.Fatalf("user info: %v", err)
	}
}

func TestRegionPrecedence(t *testing.T) {
	home := isolate(t)
	u := mustURL(t, "s3://bkt")
	_, err := ConfigFromURL(u)
	if err == nil || !strings.Contains(err.Error(), "?region=") || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("no region: %v", err)
	}
	writeFile(t, filepath.Join(home, ".aws", "config"), "[default]\nregion = eu-north-1\n[profile ci]\nregion = ap-south-1\n")
	check := func(u *url.URL, want string) {
		t.Helper()
		c, err := ConfigFromURL(u)
		if err != nil || c.Region != want {
			t.Fatalf("%s: region %q, %v; want %s", u, c.Region, err, want)
		}
	}
	check(u, "eu-north-1")
	check(mustURL(t, "s3://bkt?profile=ci"), "ap-south-1")
	t.Setenv("AWS_PROFILE", "ci")
	check(u, "ap-south-1")
	t.Setenv("AWS_DEFAULT_REGION", "us-west-1")
	check(u, "us-west-1")
	t.Setenv("AWS_REGION", "us-west-2")
	check(u, "us-west-2")
	check(mustURL(t, "s3://bkt?region=sa-east-1"), "sa-east-1")
}

func TestEndpointFromEnvironment(t *testing.T) {
	isolate(t)
	endpoint := func(raw string) string {
		t.Helper()
		c, err := ConfigFromURL(mustURL(t, raw))
		if err != nil {
			t.Fatal(err)
		}
		return c.Endpoint
	}
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
	if got := endpoint("s3://bkt?region=us-east-1"); got != "http://127.0.0.1:9000" {
		t.Fatalf("AWS_ENDPOINT_URL: %q", got)
	}
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9001")
	if got := endpoint("s3://bkt?region=us-east-1"); got != "http://127.0.0.1:9001" {
		t.Fatalf("AWS_ENDPOINT_URL_S3: %q", got)
	}
	if got := endpoint("s3://bkt?region=us-east-1&endpoint=http://127.0.0.1:9002"); got != "http://127.0.0.1:9002" {
		t.Fatalf("?endpoint=: %q", got)
	}
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
	if got := endpoint("s3://bkt?region=us-east-1"); got != "" {
		t.Fatalf("ignored endpoints: %q", got)
	}
	t.Setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "")
	os.Unsetenv("AWS_ENDPOINT_URL")
	os.Unsetenv("AWS_ENDPOINT_URL_S3")
	writeFile(t, filepath.Join(os.Getenv("HOME"), ".aws", "config"), "[profile minio]\nendpoint_url = http://127.0.0.1:9003\n")
	if got := endpoint("s3://bkt?region=us-east-1&profile=minio"); got != "http://127.0.0.1:9003" {
		t.Fatalf("profile endpoint_url: %q", got)
	}

	t.Setenv("AWS_USE_FIPS_ENDPOINT", "true")
	t.Setenv("AWS_USE_DUALSTACK_ENDPOINT", "true")
	c, err := ConfigFromURL(mustURL(t, "s3://bkt?region=us-east-1"))
	if err != nil || !c.FIPS || !c.DualStack {
		t.Fatalf("fips/dualstack from env: %+v %v", c, err)
	}
	c, err = ConfigFromURL(mustURL(t, "s3://bkt?region=us-east-1&fips=false"))
	if err != nil || c.FIPS || !c.DualStack {
		t.Fatalf("?fips=false: %+v %v", c, err)
	}
	if _, err := ConfigFromURL(mustURL(t, "s3://data--use1-az4--x-s3?region=us-east-1")); err == nil || !strings.Contains(err.Error(), "directory bucket") {
		t.Fatalf("directory bucket: %v", err)
	}
}
