package s3

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The examples of "Signature Calculations for the Authorization Header:
// Transferring Payload in a Single Chunk (AWS Signature Version 4)" in the
// Amazon S3 API reference: bucket examplebucket, us-east-1, 2013-05-24.
var (
	exampleCreds = Credentials{
		AccessKeyID:     "AKIAIOSFODNN7EXAMPLE",
		SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	}
	exampleTime   = time.Date(2013, 5, 24, 0, 0, 0, 0, time.UTC)
	exampleConfig = Config{Bucket: "examplebucket", Region: "us-east-1", Endpoint: "https://s3.amazonaws.com"}
)

func exampleRequest(t *testing.T, method, key, query string) *http.Request {
	t.Helper()
	u, err := exampleConfig.objectURL(key)
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "examplebucket.s3.amazonaws.com" {
		t.Fatalf("host %s, want examplebucket.s3.amazonaws.com", u.Host)
	}
	u.RawQuery = query
	req, err := http.NewRequest(method, "https://example.invalid/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL, req.Host = u, u.Host
	return req
}

func checkAuthorization(t *testing.T, req *http.Request, wantSigned, wantSig string) {
	t.Helper()
	want := "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request," +
		"SignedHeaders=" + wantSigned + ",Signature=" + wantSig
	if got := req.Header.Get("Authorization"); got != want {
		t.Fatalf("Authorization\n got %s\nwant %s", got, want)
	}
}

func TestSignAWSExampleGetObject(t *testing.T) {
	req := exampleRequest(t, http.MethodGet, "test.txt", "")
	req.Header.Set("Range", "bytes=0-9")
	sign(req, exampleCreds, "us-east-1", "s3", emptySHA256, exampleTime)
	checkAuthorization(t, req, "host;range;x-amz-content-sha256;x-amz-date",
		"f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
	if req.Header.Get("X-Amz-Date") != "20130524T000000Z" || req.Header.Get("X-Amz-Content-Sha256") != emptySHA256 {
		t.Fatalf("headers %v", req.Header)
	}
}

func TestSignAWSExamplePutObject(t *testing.T) {
	// The key "test$file.text" is sent and signed as test%24file.text.
	req := exampleRequest(t, http.MethodPut, "test$file.text", "")
	if got := req.URL.EscapedPath(); got != "/test%24file.text" {
		t.Fatalf("path on the wire %s", got)
	}
	req.Header.Set("Date", "Fri, 24 May 2013 00:00:00 GMT")
	req.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
	sign(req, exampleCreds, "us-east-1", "s3", payloadHash([]byte("Welcome to Amazon S3.")), exampleTime)
	checkAuthorization(t, req, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
		"98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
	if got := req.Header.Get("X-Amz-Content-Sha256"); got != "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072" {
		t.Fatalf("payload hash %s", got)
	}
}

func TestSignAWSExampleListObjects(t *testing.T) {
	req := exampleRequest(t, http.MethodGet, "", "max-keys=2&prefix=J")
	sign(req, exampleCreds, "us-east-1", "s3", emptySHA256, exampleTime)
	checkAuthorization(t, req, "host;x-amz-content-sha256;x-amz-date",
		"34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
}

func TestSignSessionToken(t *testing.T) {
	req := exampleRequest(t, http.MethodGet, "test.txt", "")
	c := exampleCreds
	c.SessionToken = "FwoGZXIvYXdzEXAMPLETOKEN"
	sign(req, c, "us-east-1", "s3", emptySHA256, exampleTime)
	if req.Header.Get("X-Amz-Security-Token") != c.SessionToken {
		t.Fatal("no X-Amz-Security-Token")
	}
	if !strings.Contains(req.Header.Get("Authorization"), "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,") {
		t.Fatalf("token not signed: %s", req.Header.Get("Authorization"))
	}
}

func TestURIEncode(t *testing.T) {
	for in, want := range map[string]string{
		"a b/ü.txt":   "a%20b/%C3%BC.txt",
		"A-Z_a.z~0-9": "A-Z_a.z~0-9",
		"x+y=z&w?#%":  "x%2By%3Dz%26w%3F%23%25",
		"$!*'()":      "%24%21%2A%27%28%29",
	} {
		if got := uriEncode(in, false); got != want {
			t.Errorf("uriEncode(%q) = %s, want %s", in, got, want)
		}
	}
	if got := uriEncode("a/b", true); got != "a%2Fb" {
		t.Errorf("uriEncode(a/b, true) = %s", got)
	}
}
