package s3

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Config says which bucket to talk to, where, and how.
type Config struct {
	Bucket string
	Region string
	// Endpoint replaces AWS's: "https://minio.example:9000" (a bare
	// host[:port] gets https://, or http:// with DisableHTTPS).
	Endpoint     string
	PathStyle    bool // https://host/bucket/key instead of https://bucket.host/key
	DisableHTTPS bool
	Accelerate   bool // bucket.s3-accelerate.amazonaws.com
	DualStack    bool // s3.dualstack.REGION.amazonaws.com
	FIPS         bool // s3-fips.REGION.amazonaws.com
	// SSEType is x-amz-server-side-encryption for writes (AES256,
	// aws:kms, aws:kms:dsse); KMSKeyID the KMS key for aws:kms.
	SSEType, KMSKeyID string
	Credentials       Provider
	// CABundle is a PEM file of extra CA certificates to trust
	// (AWS_CA_BUNDLE, or the profile's ca_bundle): HTTPClient applies it.
	CABundle string
}

// ConfigFromURL reads an s3://BUCKET[/PREFIX][?PARAMS] URL; the prefix is
// left to the caller. PARAMS are those keyctl has always accepted (the
// gocloud.dev s3blob ones): region, endpoint, use_path_style (or
// s3ForcePathStyle), disable_https, accelerate, dualstack, fips,
// hostname_immutable, ssetype, kmskeyid, profile, anonymous, awssdk (v2),
// request_checksum_calculation and response_checksum_validation (accepted,
// no effect: keyctl always sends Content-MD5 and a signed SHA-256). Any
// other parameter, role and rate_limiter_capacity included, is refused.
//
// Without ?endpoint=, AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL, else the
// profile's endpoint_url names the endpoint, as in the AWS SDKs (unless
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true); without ?fips= or
// ?dualstack=, AWS_USE_FIPS_ENDPOINT=true and AWS_USE_DUALSTACK_ENDPOINT=true
// turn them on for AWS's endpoints.
//
// AWS_CA_BUNDLE, else the profile's ca_bundle, sets CABundle (see
// HTTPClient).
//
// The region is ?region=, else AWS_REGION, else AWS_DEFAULT_REGION, else the
// profile's region. Credentials are DefaultChain's, or Anonymous with
// ?anonymous=true.
func ConfigFromURL(u *url.URL) (Config, error) {
	var c Config
	if u.Scheme != "s3" {
		return c, fmt.Errorf("not an s3:// URL (scheme %q)", u.Scheme)
	}
	if u.User != nil {
		return c, errors.New("s3:// URL carries user information: credentials come from the environment, the AWS shared files or the platform, never the URL")
	}
	c.Bucket = u.Host
	if err := validBucket(c.Bucket); err != nil {
		return c, err
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, fmt.Errorf("s3://%s: query string: %w", c.Bucket, err)
	}
	var profile string
	anonymous := false
	for k, vs := range q {
		v := vs[0]
		if len(vs) > 1 {
			return c, fmt.Errorf("s3://%s: query parameter %q given %d times", c.Bucket, k, len(vs))
		}
		boolParam := func(dst *bool) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("s3://%s: invalid value for %q: %q is not true or false", c.Bucket, k, v)
			}
			*dst = b
			return nil
		}
		var err error
		switch k {
		case "region":
			c.Region = v
		case "endpoint":
			c.Endpoint = v
		case "use_path_style", "s3ForcePathStyle", "hostname_immutable":
			err = boolParam(&c.PathStyle)
		case "disable_https":
			err = boolParam(&c.DisableHTTPS)
		case "accelerate":
			err = boolParam(&c.Accelerate)
		case "dualstack":
			err = boolParam(&c.DualStack)
		case "fips":
			err = boolParam(&c.FIPS)
		case "ssetype":
			c.SSEType = v
		case "kmskeyid":
			c.KMSKeyID = v
		case "profile":
			profile = v
		case "anonymous":
			err = boolParam(&anonymous)
		case "awssdk":
			if v != "v2" && v != "V2" {
				err = fmt.Errorf("s3://%s: awssdk=%q: keyctl's S3 client speaks only what AWS SDK v2 did; drop the parameter", c.Bucket, v)
			}
		case "request_checksum_calculation", "response_checksum_validation":
			if v != "when_supported" && v != "when_required" {
				err = fmt.Errorf("s3://%s: invalid value for %q: want when_supported or when_required", c.Bucket, k)
			}
		case "role":
			err = fmt.Errorf("s3://%s: ?role= (assume role) is not supported; %s", c.Bucket, unsupportedHint("YOUR-PROFILE"))
		case "rate_limiter_capacity":
			err = fmt.Errorf("s3://%s: ?rate_limiter_capacity= is not supported: keyctl makes one request per attempt and retries itself", c.Bucket)
		default:
			err = fmt.Errorf("s3://%s: unknown query parameter %q (accepted: %s)", c.Bucket, k, acceptedParams)
		}
		if err != nil {
			return c, err
		}
	}
	if c.Endpoint == "" && !strings.EqualFold(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		// The AWS SDKs' service-specific endpoint variables.
		c.Endpoint = firstNonEmpty(os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL"),
			profileSetting(profile, "endpoint_url", os.Getenv))
	}
	c.CABundle = firstNonEmpty(os.Getenv("AWS_CA_BUNDLE"), profileSetting(profile, "ca_bundle", os.Getenv))
	for _, v := range []struct {
		param, env string
		dst        *bool
	}{{"fips", "AWS_USE_FIPS_ENDPOINT", &c.FIPS}, {"dualstack", "AWS_USE_DUALSTACK_ENDPOINT", &c.DualStack}} {
		if _, set := q[v.param]; !set && c.Endpoint == "" && strings.EqualFold(os.Getenv(v.env), "true") {
			*v.dst = true
		}
	}
	if c.Region == "" {
		c.Region = firstNonEmpty(os.Getenv("AWS_REGION"), os.Getenv("AWS_DEFAULT_REGION"), regionFromProfile(profile, os.Getenv))
	}
	if c.Region == "" {
		return c, fmt.Errorf("s3://%s: no AWS region: add ?region=REGION to the URL, or set AWS_REGION, or region in the AWS profile (%s)", c.Bucket, profileName(profile, os.Getenv))
	}
	if anonymous {
		c.Credentials = Anonymous
	} else {
		c.Credentials = DefaultChain(profile, c.Region)
	}
	if _, err := c.objectURL("k"); err != nil {
		return c, err
	}
	return c, nil
}

const acceptedParams = "region, endpoint, use_path_style, disable_https, accelerate, dualstack, fips, ssetype, kmskeyid, profile, anonymous; docs/manifest.md, s3://"

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// validBucket accepts S3 bucket names (and the looser names S3-compatible
// services allow: upper case, underscores), refusing what cannot be a host
// or a path segment.
func validBucket(b string) error {
	if strings.HasSuffix(b, "--x-s3") {
		return fmt.Errorf("s3 bucket %q is an S3 Express One Zone directory bucket, which keyctl does not support: publish to a general purpose bucket", b)
	}
	if len(b) < 3 || len(b) > 255 {
		return fmt.Errorf("s3 bucket name %q: want 3 to 255 characters", b)
	}
	for _, r := range b {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '.', r == '_':
		default:
			return fmt.Errorf("s3 bucket name %q: only letters, digits, '-', '.' and '_'", b)
		}
	}
	return nil
}

// validRegion accepts AWS region names (and S3-compatible ones such as
// "garage" or "nyc3"): letters, digits and '-'.
func validRegion(r string) bool {
	if r == "" || len(r) > 64 {
		return false
	}
	for _, c := range r {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// dnsSuffix is the AWS partition's domain for region.
func dnsSuffix(region string) string {
	if strings.HasPrefix(region, "cn-") {
		return "amazonaws.com.cn"
	}
	return "amazonaws.com"
}

// virtualHostable reports whether bucket can be a DNS label under
// https without breaking the certificate's wildcard: no dots, lower case.
func virtualHostable(bucket string, https bool) bool {
	if strings.ToLower(bucket) != bucket || strings.Contains(bucket, "_") {
		return false
	}
	return !https || !strings.Contains(bucket, ".")
}

// objectURL is the URL of key in the configured bucket.
func (c Config) objectURL(key string) (*url.URL, error) {
	if !validRegion(c.Region) {
		return nil, fmt.Errorf("s3://%s: region %q is not a valid region name", c.Bucket, c.Region)
	}
	scheme := "https"
	if c.DisableHTTPS {
		scheme = "http"
	}
	var host string
	pathStyle := c.PathStyle
	switch {
	case c.Endpoint != "":
		if c.Accelerate || c.DualStack || c.FIPS {
			return nil, fmt.Errorf("s3://%s: accelerate, dualstack and fips choose an AWS endpoint; they cannot be combined with endpoint=", c.Bucket)
		}
		ep := c.Endpoint
		if !strings.Contains(ep, "://") {
			ep = scheme + "://" + ep
		}
		u, err := url.Parse(ep)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("s3://%s: endpoint %q is not an http(s)://HOST[:PORT] URL", c.Bucket, c.Endpoint)
		}
		scheme, host = u.Scheme, u.Host
	case c.Accelerate:
		if pathStyle {
			return nil, fmt.Errorf("s3://%s: accelerate needs virtual-hosted addressing: drop use_path_style", c.Bucket)
		}
		if c.FIPS {
			return nil, fmt.Errorf("s3://%s: accelerate cannot be combined with fips", c.Bucket)
		}
		if strings.Contains(c.Bucket, ".") {
			return nil, fmt.Errorf("s3://%s: accelerate needs a bucket name without dots", c.Bucket)
		}
		host = "s3-accelerate." + dnsSuffix(c.Region)
		if c.DualStack {
			host = "s3-accelerate.dualstack." + dnsSuffix(c.Region)
		}
	default:
		svc := "s3"
		if c.FIPS {
			svc = "s3-fips"
		}
		if c.DualStack {
			svc += ".dualstack"
		}
		host = svc + "." + c.Region + "." + dnsSuffix(c.Region)
	}
	if !pathStyle && c.Endpoint == "" && !virtualHostable(c.Bucket, scheme == "https") {
		pathStyle = true // as the AWS SDKs do for bucket names with dots
	}
	u := &url.URL{Scheme: scheme, Host: host}
	p := "/" + key
	if pathStyle {
		p = "/" + c.Bucket + "/" + key
	} else {
		u.Host = c.Bucket + "." + host
	}
	u.Path = p
	u.RawPath = uriEncode(p, false)
	return u, nil
}
