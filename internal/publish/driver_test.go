package publish

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/s3"
	"github.com/keyctl/keyctl/internal/testutil/s3emu"
)

// A create-only write to a directory is atomic between writers that do not
// share a lock (two processes, two Opens): exactly one of many racing
// writers lands, the others get a precondition failure, and the file holds
// the winner's bytes whole.
func TestDirCreateOnlyRace(t *testing.T) {
	for round := range 30 {
		dirCreateOnlyRace(t, round)
	}
}

func dirCreateOnlyRace(t *testing.T, round int) {
	dir := t.TempDir()
	ctx := context.Background()
	const n = 24
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	content := func(i int) []byte { return []byte(strings.Repeat(fmt.Sprintf("writer %02d\n", i), 10)) }
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &dirDriver{dir: dir} // one driver per writer: no shared mutex
			<-start
			_, errs[i] = d.Write(ctx, "blobs/x.pgp", content(i), writeOptions{Cond: condIfNotExist})
		}()
	}
	close(start)
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("round %d: writers %d and %d both created the object", round, won, i)
		case err == nil:
			won = i
		case errorCode(err) != codePreconditionFailed:
			t.Fatalf("round %d: writer %d: %v, want a precondition failure", round, i, err)
		}
	}
	if won < 0 {
		t.Fatalf("round %d: no writer created the object", round)
	}
	got, err := os.ReadFile(filepath.Join(dir, "blobs", "x.pgp"))
	if err != nil || string(got) != string(content(won)) {
		t.Fatalf("round %d: object is not the winner's bytes (%v)", round, err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, "blobs", "*.tmp"))
	if len(left) != 0 {
		t.Fatalf("round %d: temporary files left: %v", round, left)
	}
}

// An overwrite replaces the file by rename; an interrupted write changes
// nothing and leaves no temporary file.
func TestDirWrite(t *testing.T) {
	dir := t.TempDir()
	d := &dirDriver{dir: dir}
	ctx := context.Background()
	for _, s := range []string{"one", "two"} {
		if _, err := d.Write(ctx, "a/b.json", []byte(s), writeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.Write(cancelled, "a/b.json", []byte("three"), writeOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted write: %v", err)
	}
	data, _, err := d.Read(ctx, "a/b.json", 100)
	if err != nil || string(data) != "two" {
		t.Fatalf("Read = %q, %v; want two", data, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "a", "*.tmp")); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
	if _, _, err := d.Read(ctx, "a/b.json", 2); !errors.Is(err, errTooLarge) {
		t.Fatalf("Read over the limit: %v", err)
	}
	// A directory is not an object.
	if _, _, err := d.Read(ctx, "a", 100); errorCode(err) != codeNotFound {
		t.Fatalf("Read(a directory): %v", err)
	}
	if _, err := d.Attributes(ctx, "a"); errorCode(err) != codeNotFound {
		t.Fatalf("Attributes(a directory): %v", err)
	}
	if err := d.Delete(ctx, "a/b.json"); err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, "a/b.json"); errorCode(err) != codeNotFound {
		t.Fatalf("Delete(missing): %v", err)
	}
	if _, err := d.Write(ctx, "a/c", []byte("x"), writeOptions{Cond: condIfMatch, Version: version{gen: 1}}); errorCode(err) != codeUnimplemented {
		t.Fatalf("versioned write to a directory: %v", err)
	}
}

// A refusal from the gs:// service keeps its meaning (no retry, the
// credentials hint) and its explanation, made printable.
func TestGCSPermissionDenied(t *testing.T) {
	var calls int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"error":{"code":403,"message":"ci@example.iam.gserviceaccount.com does not have storage.objects.get access\u001b[31m"}}`)
	}))
	defer srv.Close()
	t.Setenv("STORAGE_EMULATOR_HOST", srv.URL)
	b := open(t, "gs://bkt/charts", nil)
	_, err := b.Get(context.Background(), "pubkeys.pgp", 100)
	if err == nil || calls != 1 {
		t.Fatalf("err %v after %d requests, want one refused request", err, calls)
	}
	msg := err.Error()
	if !strings.Contains(msg, "HTTP 403") || !strings.Contains(msg, "does not have storage.objects.get access") || strings.ContainsRune(msg, 0x1b) {
		t.Fatalf("message %q", msg)
	}
	hints := strings.Join(fail.HintsOf(err), "\n")
	if !strings.Contains(hints, "check that your credentials may read") || !strings.Contains(hints, "Application Default Credentials") {
		t.Fatalf("hints %q", hints)
	}
}

// S3 answers map to the same meanings as the JSON API's.
func TestS3ErrorCodes(t *testing.T) {
	api := func(status int, code string) error {
		return fmt.Errorf("wrapped: %w", &s3.Error{Op: "put", Key: "k", StatusCode: status, Code: code})
	}
	for _, tt := range []struct {
		err  error
		want code
	}{
		{api(404, "NoSuchKey"), codeNotFound},
		{api(404, "NotFound"), codeNotFound},
		{api(412, "PreconditionFailed"), codePreconditionFailed},
		{api(409, "ConditionalRequestConflict"), codePreconditionFailed},
		{api(409, "OperationAborted"), codeUnknown},
		{api(403, "AccessDenied"), codePermissionDenied},
		{api(400, "ExpiredToken"), codePermissionDenied},
		{api(501, "NotImplemented"), codeUnimplemented},
		{api(503, "SlowDown"), codeTransient},
		{api(500, "InternalError"), codeTransient},
		{api(429, "TooManyRequests"), codeTransient},
		{api(400, "RequestTimeout"), codeTransient},
		{api(408, ""), codeTransient},
		{api(400, "InvalidArgument"), codeUnknown},
		{api(404, "NoSuchBucket"), codeUnknown}, // a wrong location, not a missing object
	} {
		if got := errorCode(s3Error(tt.err)); got != tt.want {
			t.Errorf("%v: %v, want %v", tt.err, got, tt.want)
		}
	}
	if err := s3Error(api(404, "NoSuchBucket")); !errors.Is(err, errNoSuchBucket) || transient(err) {
		t.Errorf("NoSuchBucket: %v (transient %v)", err, transient(err))
	}
	if err := s3Error(&s3.TooLargeError{Key: "k", Limit: 1}); !errors.Is(err, errTooLarge) {
		t.Errorf("TooLargeError: %v", err)
	}
	// A connection failure is left for retry.go to judge.
	conn := fmt.Errorf("s3 get k: %w", errors.New("connection reset"))
	if got := s3Error(conn); got != conn {
		t.Fatalf("s3Error(connection failure) = %v", got)
	}
}

// A missing bucket is a final error with a hint, not "not published".
func TestS3NoSuchBucket(t *testing.T) {
	srv := s3emu.Start(t, "bkt")
	b := open(t, srv.Location("nobkt", "charts"), nil)
	ctx := context.Background()
	_, err := b.Get(ctx, "index.json", 1<<20)
	var nf *NotFoundError
	if err == nil || errors.As(err, &nf) || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Fatalf("err = %v, want a NoSuchBucket error", err)
	}
	if hints := strings.Join(fail.HintsOf(err), "\n"); !strings.Contains(hints, "check the bucket name") {
		t.Fatalf("hints %q", hints)
	}
	if n := len(srv.Requests()); n != 1 {
		t.Fatalf("%d requests: NoSuchBucket was retried", n)
	}
}

func TestOpenS3Query(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx := context.Background()
	for q, errHas := range map[string]string{
		"private_key=x":                        `unknown query parameter "private_key"`,
		"use_path_style=maybe":                 `invalid value for "use_path_style"`,
		"role=arn:aws:iam::1:role/r":           `?role= (assume role) is not supported`,
		"request_checksum_calculation=always":  `invalid value for "request_checksum_calculation"`,
		"response_checksum_validation=never":   `invalid value for "response_checksum_validation"`,
		"rate_limiter_capacity=lots":           `invalid value for "rate_limiter_capacity"`,
		"anonymous=yes&region=eu-west-1":       `invalid value for "anonymous"`,
		"region=eu-west-1&disable_https=maybe": `invalid value for "disable_https"`,
	} {
		_, err := Open(ctx, "s3://bkt/charts?"+q, nil)
		if err == nil || !strings.Contains(err.Error(), errHas) {
			t.Errorf("?%s: %v, want %s", q, err, errHas)
		}
	}
	// s3blob's own parameters, given empty, are unset (as s3blob read them).
	b, err := Open(ctx, "s3://bkt/charts?region=eu-west-1&use_path_style=&accelerate=&ssetype=", nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	b, err = Open(ctx, "s3://bkt/charts?region=eu-west-1&endpoint=http://127.0.0.1:1&use_path_style=true&s3ForcePathStyle=true&disable_https=true&anonymous=true&ssetype=aws:kms&kmskeyid=k&dualstack=false&fips=false&hostname_immutable=true&awssdk=v2&rate_limiter_capacity=10&request_checksum_calculation=when_required&response_checksum_validation=when_supported", nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
}

// readLimited trusts no announced size: a lie in either direction is
// caught by the bytes actually read.
func TestReadLimited(t *testing.T) {
	for _, tt := range []struct {
		data      string
		size      int64
		limit     int64
		tooLarge  bool
		wantBytes string
	}{
		{"abcd", 4, 4, false, "abcd"},
		{"abcd", -1, 4, false, "abcd"},
		{"abcde", -1, 4, true, ""},
		{"abcde", 2, 4, true, ""}, // announced small, sent more
		{"ab", 9, 4, true, ""},    // announced over the limit: not read
		{"ab", 9, 10, false, "ab"},
		{"", 0, 1, false, ""},
	} {
		got, err := readLimited(strings.NewReader(tt.data), tt.size, tt.limit)
		if tt.tooLarge != errors.Is(err, errTooLarge) || (!tt.tooLarge && (err != nil || string(got) != tt.wantBytes)) {
			t.Errorf("readLimited(%q, size %d, limit %d) = %q, %v", tt.data, tt.size, tt.limit, got, err)
		}
	}
}
