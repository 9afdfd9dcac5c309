package s3

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestParseErrorBody(t *testing.T) {
	x := parseErrorBody([]byte(`<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match.</Message>
<AWSAccessKeyId>AKID</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256 x</StringToSign>
<CanonicalRequest>GET /k x-amz-security-token:SECRET-TOKEN-ECHOED</CanonicalRequest><RequestId>R1</RequestId></Error>`))
	if x.Code != "SignatureDoesNotMatch" || x.RequestID != "R1" || !strings.HasPrefix(x.Message, "The request signature") {
		t.Fatalf("%+v", x)
	}
	e := &Error{Op: "get", Key: "k", StatusCode: 403, Code: x.Code, Message: x.Message, RequestID: x.RequestID}
	if strings.Contains(e.Error(), "SECRET-TOKEN-ECHOED") || strings.Contains(fmt.Sprintf("%+v", *e), "SECRET-TOKEN-ECHOED") {
		t.Fatal("the echoed canonical request is kept")
	}
	if !IsAccessDenied(e) {
		t.Fatal("SignatureDoesNotMatch is not access denied")
	}
	for _, body := range []string{"", "not xml", "<Other><Code>X</Code></Other>", "<Error><Code>X</Code>"} {
		if x := parseErrorBody([]byte(body)); x != (xmlError{}) {
			t.Errorf("%q parsed as %+v", body, x)
		}
	}
	long := "<Error><Code>C</Code><Message>" + strings.Repeat("é\n\x1b[31m", 1000) + "</Message></Error>"
	x = parseErrorBody([]byte(long))
	if len(x.Message) > maxMessage+len("…") || strings.ContainsAny(x.Message, "\n\x1b") || !utf8.ValidString(x.Message) {
		t.Fatalf("message not cleaned: %d bytes %q", len(x.Message), x.Message[:40])
	}
}

func TestClassifiers(t *testing.T) {
	for _, tc := range []struct {
		e                                                  *Error
		notFound, precondition, notImpl, transient, denied bool
	}{
		{e: &Error{StatusCode: 404, Code: "NoSuchKey"}, notFound: true},
		{e: &Error{StatusCode: 404, Code: "NotFound"}, notFound: true},
		{e: &Error{StatusCode: 404, Code: "NoSuchBucket"}},
		{e: &Error{StatusCode: 412, Code: "PreconditionFailed"}, precondition: true},
		{e: &Error{StatusCode: 409, Code: "ConditionalRequestConflict"}, precondition: true},
		{e: &Error{StatusCode: 409, Code: "BucketNotEmpty"}},
		{e: &Error{StatusCode: 501, Code: "NotImplemented"}, notImpl: true},
		{e: &Error{StatusCode: 500, Code: "InternalError"}, transient: true},
		{e: &Error{StatusCode: 503, Code: "SlowDown"}, transient: true},
		{e: &Error{StatusCode: 429}, transient: true},
		{e: &Error{StatusCode: 400, Code: "RequestTimeout"}, transient: true},
		{e: &Error{StatusCode: 403, Code: "AccessDenied"}, denied: true},
		{e: &Error{StatusCode: 400, Code: "ExpiredToken"}, denied: true},
		{e: &Error{StatusCode: 400, Code: "InvalidArgument"}},
	} {
		err := fmt.Errorf("wrapped: %w", tc.e)
		got := [5]bool{IsNotFound(err), IsPreconditionFailed(err), IsNotImplemented(err), IsTransient(err), IsAccessDenied(err)}
		want := [5]bool{tc.notFound, tc.precondition, tc.notImpl, tc.transient, tc.denied}
		if got != want {
			t.Errorf("%d %s: got %v, want %v", tc.e.StatusCode, tc.e.Code, got, want)
		}
	}
	if IsTransient(fmt.Errorf("plain")) || IsNotFound(nil) {
		t.Fatal("a non-*Error classified")
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":          0,
		"3":         3 * time.Second,
		"-1":        0,
		"999999999": maxRetryAfter,
		"soon":      0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("%q: %v, want %v", v, got, want)
		}
	}
}

func TestBucketRegionHint(t *testing.T) {
	e := &Error{Op: "get", Key: "k", StatusCode: 301, Code: "PermanentRedirect", BucketRegion: "eu-central-1"}
	if !strings.Contains(e.Error(), "use ?region=eu-central-1") {
		t.Fatal(e.Error())
	}
}

func FuzzParseErrorBody(f *testing.F) {
	f.Add([]byte(`<Error><Code>NoSuchKey</Code><Message>m</Message><RequestId>r</RequestId></Error>`))
	f.Add([]byte(`<?xml version="1.0"?><Error><Code>A&amp;B</Code></Error>`))
	f.Add([]byte(`<Error><Message><![CDATA[x]]></Message></Error>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		x := parseErrorBody(body)
		for _, s := range []string{x.Code, x.Message, x.RequestID} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\x00\x1b") || len(s) > maxMessage+len("…") {
				t.Fatalf("unclean field %q", s)
			}
		}
	})
}
