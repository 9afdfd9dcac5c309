package publish

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyctl/keyctl/internal/s3"
)

// Retry-After is read as seconds or an HTTP date and capped, as the
// audit's fetcher reads it (internal/revoke/fetch.go).
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                     0,
		"0":                    0,
		"1":                    time.Second,
		" 30 ":                 30 * time.Second,
		"60":                   60 * time.Second,
		"61":                   MaxRetryAfter,
		"86400":                MaxRetryAfter,
		"99999999999999999999": 0, // not a number keyctl reads
		"-5":                   0,
		"soon":                 0,
		now.Add(10 * time.Second).Format(http.TimeFormat): 10 * time.Second,
		now.Add(2 * time.Hour).Format(http.TimeFormat):    MaxRetryAfter,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
		strings.Repeat("1", 65):                           0,
	} {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

// A throttling answer (429, 503, S3 SlowDown) that names a wait is waited
// out, never longer than MaxRetryAfter, whoever parsed it; a 429 that names
// none is backed off without using up an attempt.
func TestThrottleDelay(t *testing.T) {
	wrapS3 := func(e *s3.Error) error { return s3Error(e) }
	for _, tt := range []struct {
		err  error
		want time.Duration
		ok   bool
	}{
		{&statusError{Code: 429, RetryAfter: 2 * time.Second}, 2 * time.Second, true},
		{&statusError{Code: 503, RetryAfter: 2 * time.Second}, 2 * time.Second, true},
		{&statusError{Code: 429}, 0, true}, // asked to slow down, no time named: back off
		{&statusError{Code: 503}, 0, false},
		{&statusError{Code: 500, RetryAfter: 2 * time.Second}, 0, false},
		{fmt.Errorf("wrapped: %w", &storageError{Code: codeTransient, Status: 429, RetryAfter: time.Second, Err: errors.New("x")}), time.Second, true},
		{&storageError{Code: codeTransient, Status: 502, RetryAfter: time.Second, Err: errors.New("x")}, 0, false},
		{wrapS3(&s3.Error{StatusCode: 503, Code: "SlowDown", RetryAfter: 5 * time.Minute}), MaxRetryAfter, true},
		{wrapS3(&s3.Error{StatusCode: 400, Code: "SlowDown", RetryAfter: 3 * time.Second}), 3 * time.Second, true},
		{wrapS3(&s3.Error{StatusCode: 500, Code: "InternalError", RetryAfter: 3 * time.Second}), 0, false},
		{errors.New("connection reset"), 0, false},
	} {
		got, ok := throttleDelay(tt.err)
		if got != tt.want || ok != tt.ok {
			t.Errorf("throttleDelay(%v) = %s, %v; want %s, %v", tt.err, got, ok, tt.want, tt.ok)
		}
	}
}

// Waits a service asked for do not use up attempts: one attempt is enough
// for a read that is throttled twice first.
func TestRetryAfterDoesNotUseUpAttempts(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 2 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("keyring"))
	}))
	defer srv.Close()
	b, err := Open(context.Background(), srv.URL, &Options{MaxAttempts: 1, InitialBackoff: time.Millisecond, MaxElapsed: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	data, err := b.Get(context.Background(), "pubkeys.pgp", 1<<20)
	if err != nil || string(data) != "keyring" {
		t.Fatalf("%q, %v", data, err)
	}
	if el := time.Since(start); el < 2*time.Second {
		t.Fatalf("read took %s: Retry-After: 1 was not waited out twice", el)
	}
}

// MaxElapsed stays the hard bound: a wait past it is not waited, and the
// error says the service asked for more than the time limit allows; a
// Retry-After of a day is capped, not obeyed.
func TestRetryAfterBoundedByMaxElapsed(t *testing.T) {
	for _, after := range []string{"86400", "30"} {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.Header().Set("Retry-After", after)
			w.WriteHeader(http.StatusTooManyRequests)
		}))
		b, err := Open(context.Background(), srv.URL, &Options{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxElapsed: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = b.Get(context.Background(), "pubkeys.pgp", 1<<20)
		srv.Close()
		if el := time.Since(start); el > time.Second {
			t.Fatalf("Retry-After %s: the read waited %s past its 2 s budget's reach", after, el)
		}
		if err == nil || !strings.Contains(err.Error(), "kept failing") || !strings.Contains(err.Error(), "past the operation's time limit of 2s") {
			t.Fatalf("Retry-After %s: %v", after, err)
		}
		if n.Load() != 1 {
			t.Fatalf("Retry-After %s: %d requests", after, n.Load())
		}
	}
}

// Without a Retry-After, a 429 is an ordinary transient failure: it uses
// up an attempt.
// A 503 without Retry-After may be an outage: it uses up attempts.
func TestThrottleWithoutRetryAfterUsesAttempts(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	b, err := Open(context.Background(), srv.URL, &Options{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxElapsed: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(context.Background(), "pubkeys.pgp", 1<<20); err == nil || !strings.Contains(err.Error(), "failed 3 times") {
		t.Fatalf("%v", err)
	}
	if n.Load() != 3 {
		t.Fatalf("%d requests, want 3", n.Load())
	}
}

// A 429 without Retry-After is still the service asking for less: it is
// backed off without using up an attempt, so a storm of them slows a read
// down instead of failing it.
func TestTooManyRequestsWithoutRetryAfterSlowsDown(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) <= 6 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte("keys"))
	}))
	defer srv.Close()
	b, err := Open(context.Background(), srv.URL, &Options{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxElapsed: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	data, err := b.Get(context.Background(), "pubkeys.pgp", 1<<20)
	if err != nil || string(data) != "keys" {
		t.Fatalf("after 6 answers of 429 with 3 attempts: %q, %v", data, err)
	}
	if n.Load() != 7 {
		t.Fatalf("%d requests, want 7", n.Load())
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Add("120")
	f.Add("Thu, 01 Jan 2026 00:00:05 GMT")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := ParseRetryAfter(v, now); d < 0 || d > MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %s", v, d)
		}
	})
}
