package oci

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"
)

// Retries of one registry request: on a timeout or reset connection, and
// on 408, 429 and 5xx answers, at most retryMax times, waiting 250 ms
// doubling (±10%, between retryMinWait and retryMaxWait), or what the
// registry's Retry-After says when it says at most maxRetryAfter (a
// registry that asks for a longer pause gets its answer returned).
const (
	retryMax      = 5
	retryMinWait  = 200 * time.Millisecond
	retryMaxWait  = 3 * time.Second
	maxRetryAfter = 10 * time.Second
)

// retryTransport retries requests as above. A request with a body is
// retried only when it can be replayed (GetBody).
type retryTransport struct {
	base http.RoundTripper
	// sleep waits (tests); nil: a timer bound to the request's context.
	sleep func(req *http.Request, d time.Duration) error
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	for attempt := 0; ; attempt++ {
		resp, err := base.RoundTrip(req)
		wait, retry := retryAfter(attempt, resp, err)
		if !retry || (req.Body != nil && req.GetBody == nil) {
			return resp, err
		}
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return resp, err
			}
			req.Body = body
		}
		if resp != nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
		}
		if serr := t.wait(req, wait); serr != nil {
			return nil, serr
		}
	}
}

func (t *retryTransport) wait(req *http.Request, d time.Duration) error {
	if t.sleep != nil {
		return t.sleep(req, d)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-req.Context().Done():
		return req.Context().Err()
	case <-timer.C:
		return nil
	}
}

// retryAfter says whether attempt (0-based) is retried, and after how
// long.
func retryAfter(attempt int, resp *http.Response, err error) (time.Duration, bool) {
	if attempt >= retryMax {
		return 0, false
	}
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
			return backoff(attempt), true
		}
		return 0, false
	}
	switch s := resp.StatusCode; {
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
	default:
		return 0, false
	}
	if v := resp.Header.Get("Retry-After"); v != "" {
		d, ok := parseRetryAfter(v, time.Now())
		if ok {
			if d > maxRetryAfter {
				return 0, false
			}
			return max(d, retryMinWait), true
		}
	}
	return backoff(attempt), true
}

func backoff(attempt int) time.Duration {
	d := float64(250*time.Millisecond) * float64(uint(1)<<attempt)
	d *= 0.9 + 0.2*rand.Float64()
	return min(max(time.Duration(d), retryMinWait), retryMaxWait)
}

// parseRetryAfter reads Retry-After: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > int64(maxRetryAfter/time.Second)+1 {
			return maxRetryAfter + time.Second, true
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}
