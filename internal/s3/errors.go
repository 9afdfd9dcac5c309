package s3

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxErrorBody caps how much of an error response is read and parsed.
const maxErrorBody = 64 << 10

// maxMessage caps the service's message kept in an *Error.
const maxMessage = 512

// Error is an S3 error response: the HTTP status and, when the service sent
// an XML error document, its Code, Message and RequestId. Nothing else of
// the document is kept: a SignatureDoesNotMatch answer echoes the canonical
// request, which holds the session token.
type Error struct {
	Op         string // "get", "head", "put", "delete"
	Key        string // the object's key
	StatusCode int
	Code       string // e.g. NoSuchKey, PreconditionFailed; from the status when there was no body
	Message    string
	RequestID  string
	// RetryAfter is the Retry-After delay the service asked for, 0 if none.
	RetryAfter time.Duration
	// BucketRegion is the x-amz-bucket-region header of the answer: where
	// the bucket really is, when a request went to the wrong region.
	BucketRegion string
	// Host is the host (and port) that answered.
	Host string
	// RedirectTo is, for a 3xx answer with a Location header, the scheme
	// and host it pointed to (cleaned: it is the server's text). The
	// redirect was not followed.
	RedirectTo string
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "s3 %s %s: HTTP %d", e.Op, e.Key, e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if IsRedirect(e) {
		b.WriteString(" (a redirect")
		if e.Host != "" {
			b.WriteString(" from " + e.Host)
		}
		if e.RedirectTo != "" {
			b.WriteString(" to " + e.RedirectTo)
		}
		b.WriteString(", not followed: keyctl follows no redirect for s3://)")
	}
	if e.BucketRegion != "" && (e.StatusCode == http.StatusMovedPermanently || e.Code == "AuthorizationHeaderMalformed" || e.Code == "PermanentRedirect") {
		b.WriteString(" (the bucket is in region " + e.BucketRegion + ": use ?region=" + e.BucketRegion + ")")
	}
	if e.RequestID != "" {
		b.WriteString(" (request id " + e.RequestID + ")")
	}
	return b.String()
}

// xmlError is the S3 error document.
type xmlError struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
	Region    string   `xml:"Region"` // AuthorizationHeaderMalformed, PermanentRedirect
}

// parseErrorBody parses an S3 XML error document (at most maxErrorBody
// bytes are looked at). It returns the zero value for anything else.
func parseErrorBody(body []byte) xmlError {
	if len(body) > maxErrorBody {
		body = body[:maxErrorBody]
	}
	var x xmlError
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	if err := d.Decode(&x); err != nil {
		return xmlError{}
	}
	x.Code = clean(x.Code, 64)
	x.Message = clean(x.Message, maxMessage)
	x.RequestID = clean(x.RequestID, 128)
	x.Region = clean(x.Region, 64)
	return x
}

// clean keeps printable text on one line, at most n bytes.
func clean(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError, r < 0x20, r == 0x7f:
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// responseError builds the *Error of a non-2xx answer, reading (and
// capping) its body.
func responseError(op, key string, resp *http.Response, now time.Time) *Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	x := parseErrorBody(body)
	e := &Error{
		Op: op, Key: key, StatusCode: resp.StatusCode,
		Code: x.Code, Message: x.Message, RequestID: x.RequestID,
		BucketRegion: clean(resp.Header.Get("X-Amz-Bucket-Region"), 64),
	}
	if e.RequestID == "" {
		e.RequestID = clean(resp.Header.Get("X-Amz-Request-Id"), 128)
	}
	if e.BucketRegion == "" {
		e.BucketRegion = x.Region
	}
	if e.Code == "" {
		e.Code = codeForStatus(resp.StatusCode)
	}
	e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	if resp.Request != nil && resp.Request.URL != nil {
		e.Host = clean(resp.Request.URL.Host, 256)
		if resp.StatusCode/100 == 3 {
			e.RedirectTo = redirectTarget(resp.Request.URL, resp.Header.Get("Location"))
		}
	}
	return e
}

// redirectTarget is the scheme and host a Location header points to,
// resolved against the request's URL and cleaned; "" when there is none.
// Path and query are left out: they may carry a presigned URL's
// credentials.
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
			// Not plain ASCII (bidi controls, look-alikes): escaped.
			t = strconv.QuoteToASCII(t)
			break
		}
	}
	return clean(t, 256)
}

// codeForStatus names the error of an answer without a body (HEAD).
func codeForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return "NotFound"
	case http.StatusPreconditionFailed:
		return "PreconditionFailed"
	case http.StatusForbidden:
		return "Forbidden"
	case http.StatusNotModified:
		return "NotModified"
	case http.StatusMovedPermanently:
		return "PermanentRedirect"
	}
	return ""
}

// maxRetryAfter caps the delay a service may ask for.
const maxRetryAfter = 5 * time.Minute

// parseRetryAfter reads delay-seconds or an HTTP date; 0 if absent or
// invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

func asError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsNotFound reports whether err says the object does not exist (404). A
// missing bucket (NoSuchBucket) is not "not found": it is a wrong location.
func IsNotFound(err error) bool {
	e, ok := asError(err)
	return ok && e.StatusCode == http.StatusNotFound && e.Code != "NoSuchBucket"
}

// IsPreconditionFailed reports whether a conditional write lost: 412, or
// 409 ConditionalRequestConflict (a concurrent conditional write was in
// progress).
func IsPreconditionFailed(err error) bool {
	e, ok := asError(err)
	return ok && (e.StatusCode == http.StatusPreconditionFailed ||
		(e.StatusCode == http.StatusConflict && e.Code == "ConditionalRequestConflict"))
}

// IsRedirect reports a 3xx answer: the client follows no redirect (see
// New), so it is a wrong endpoint or region, not an object.
func IsRedirect(err error) bool {
	e, ok := asError(err)
	return ok && e.StatusCode/100 == 3
}

// IsNotImplemented reports a 501: the service does not implement what the
// request asked for (If-Match, on some S3-compatible services).
func IsNotImplemented(err error) bool {
	e, ok := asError(err)
	return ok && e.StatusCode == http.StatusNotImplemented
}

// IsTransient reports an answer worth retrying: 5xx other than 501, 429,
// SlowDown, RequestTimeout.
func IsTransient(err error) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	switch {
	case e.StatusCode >= 500 && e.StatusCode != http.StatusNotImplemented:
		return true
	case e.StatusCode == http.StatusTooManyRequests:
		return true
	}
	switch e.Code {
	case "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable":
		return true
	}
	return false
}

// IsAccessDenied reports a refusal of the credentials: 401, 403, or a code
// that says the key or token is wrong or expired.
func IsAccessDenied(err error) bool {
	e, ok := asError(err)
	if !ok {
		return false
	}
	if e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden {
		return true
	}
	switch e.Code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired":
		return true
	}
	return false
}

// TooLargeError is returned by Get for an object larger than its limit.
type TooLargeError struct {
	Key   string
	Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("s3 get %s: object is larger than %d bytes", e.Key, e.Limit)
}
