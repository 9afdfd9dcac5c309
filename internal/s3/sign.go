package s3

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// AWS Signature Version 4 for one request whose payload is sent in a single
// chunk ("Signature Calculations for the Authorization Header: Transferring
// Payload in a Single Chunk" in the Amazon S3 API reference). The payload's
// SHA-256 is signed (x-amz-content-sha256), not UNSIGNED-PAYLOAD: some
// S3-compatible services refuse conditional writes without it.

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	timeFormat   = "20060102T150405Z"
	dateFormat   = "20060102"
	// emptySHA256 is the SHA-256 of an empty payload.
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// payloadHash is the hex SHA-256 of data.
func payloadHash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// sign adds X-Amz-Date, X-Amz-Content-Sha256 (for service "s3"),
// X-Amz-Security-Token (with a session token) and Authorization to req.
// Every header already in req.Header is signed, and the host. hash is the
// hex SHA-256 of the payload.
func sign(req *http.Request, c Credentials, region, service, hash string, now time.Time) {
	now = now.UTC()
	amzDate := now.Format(timeFormat)
	req.Header.Set("X-Amz-Date", amzDate)
	if service == "s3" {
		req.Header.Set("X-Amz-Content-Sha256", hash)
	}
	if c.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", c.SessionToken)
	}
	signed, canonHeaders := canonicalHeaders(req)
	canon := strings.Join([]string{
		req.Method,
		canonicalURI(req.URL),
		canonicalQuery(req.URL.Query()),
		canonHeaders,
		signed,
		hash,
	}, "\n")
	scope := now.Format(dateFormat) + "/" + region + "/" + service + "/aws4_request"
	key := signingKey(c.SecretAccessKey, now.Format(dateFormat), region, service)
	sig := signature(key, amzDate, scope, canon)
	req.Header.Set("Authorization", sigAlgorithm+" Credential="+c.AccessKeyID+"/"+scope+
		",SignedHeaders="+signed+",Signature="+sig)
}

// canonicalHeaders returns the signed header list and the canonical
// headers block (each "name:value\n").
func canonicalHeaders(req *http.Request) (signed, block string) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	vals := map[string]string{"host": host}
	for k, vs := range req.Header {
		lk := strings.ToLower(k)
		if lk == "authorization" || lk == "user-agent" {
			continue
		}
		trimmed := make([]string, len(vs))
		for i, v := range vs {
			trimmed[i] = strings.Join(strings.Fields(v), " ")
		}
		vals[lk] = strings.Join(trimmed, ",")
	}
	names := make([]string, 0, len(vals))
	for k := range vals {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte(':')
		b.WriteString(vals[k])
		b.WriteByte('\n')
	}
	return strings.Join(names, ";"), b.String()
}

// canonicalURI is the URI-encoded path, each segment encoded once (S3 does
// not double-encode), "/" for an empty path.
func canonicalURI(u *url.URL) string {
	if u.Path == "" {
		return "/"
	}
	return uriEncode(u.Path, false)
}

// canonicalQuery sorts parameters by name, then value, each URI-encoded.
func canonicalQuery(q url.Values) string {
	if len(q) == 0 {
		return ""
	}
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// uriEncode encodes every byte but the RFC 3986 unreserved characters;
// "/" too when encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

func signature(key []byte, amzDate, scope, canonicalRequest string) string {
	sum := sha256.Sum256([]byte(canonicalRequest))
	sts := sigAlgorithm + "\n" + amzDate + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(hmacSHA256(key, sts))
}
