package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/keyctl/keyctl/internal/fail"
	"github.com/keyctl/keyctl/internal/s3"
)

// Options tunes retries, timeouts and logging. The zero value of a field
// means its default.
type Options struct {
	// MaxAttempts bounds the attempts of one bucket operation, the first
	// included. Default 6.
	MaxAttempts int
	// InitialBackoff is the wait after the first failure; it doubles after
	// each further failure (with ±50 % jitter) up to 16 × InitialBackoff.
	// Default 500 ms.
	InitialBackoff time.Duration
	// MaxElapsed bounds the time spent on one operation, waits included.
	// Default 2 minutes.
	MaxElapsed time.Duration
	// AttemptTimeout bounds one attempt, so a hung connection becomes a
	// retryable failure. Default 60 s.
	AttemptTimeout time.Duration
	// HTTPClient is used for http(s) locations; default: a client with
	// AttemptTimeout as its timeout. Its CheckRedirect is replaced by
	// Redirects.
	HTTPClient *http.Client
	// Redirects is which redirects reads follow; the zero value keeps
	// them on the location's scheme and host (see RedirectPolicy).
	Redirects RedirectPolicy
	// Log, when set, receives one line per object written (name, size and
	// what happened, never the content) and per retry.
	Log func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 6
	}
	if o.InitialBackoff <= 0 {
		o.InitialBackoff = 500 * time.Millisecond
	}
	if o.MaxElapsed <= 0 {
		o.MaxElapsed = 2 * time.Minute
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 60 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: o.AttemptTimeout}
	}
	o.HTTPClient = o.Redirects.Client(o.HTTPClient)
	return o
}

func (b *Bucket) logf(format string, args ...any) {
	if b.opts.Log != nil {
		b.opts.Log(format, args...)
	}
}

// statusError is an HTTP answer from an http(s) location.
type statusError struct {
	Code int
	URL  string
	// RetryAfter is the Retry-After of a 429 or 503 (parseRetryAfter), 0
	// if none.
	RetryAfter time.Duration
}

func (e *statusError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d %s", e.URL, e.Code, http.StatusText(e.Code))
}

// retryableStatus: 501 Not Implemented is final (the service lacks a
// feature, and will lack it on the next attempt too).
func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || (code >= 500 && code != http.StatusNotImplemented)
}

// transient reports whether err is worth another attempt: the service said
// "later" (HTTP 5xx but 501, 429, 408) or the connection broke.
// Precondition failures, not-found, permission and argument errors are
// final.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var nf *NotFoundError
	var tl *TooLargeError
	if errors.As(err, &nf) || errors.As(err, &tl) {
		return false
	}
	if _, ok := AsRedirectError(err); ok {
		return false
	}
	var se *storageError
	if errors.As(err, &se) && (se.Code != codeUnknown || se.Status != 0) {
		return se.Code == codeTransient
	}
	var serr *statusError
	if errors.As(err, &serr) {
		return retryableStatus(serr.Code)
	}
	return brokenConnection(err)
}

func brokenConnection(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var uerr *url.Error
	if errors.As(err, &uerr) && errors.Is(uerr.Err, io.EOF) {
		// net/http's "server closed the connection before answering".
		return true
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		var dns *net.DNSError
		if errors.As(err, &dns) {
			return dns.IsTemporary || dns.IsTimeout
		}
		return true
	}
	return false
}

// Throttling. A 429 or 503 answer (S3's SlowDown too) with a Retry-After
// is the service asking for less: the wait it names (seconds or an HTTP
// date, capped at MaxRetryAfter) is waited out and does not use up an
// attempt, so a rate-limit storm slows an operation down instead of
// failing it, within MaxElapsed, which stays the hard bound. These are
// the audit's rules for its own http(s) fetches (internal/revoke/fetch.go,
// docs/performance.md "Audit over the network"). A 429 without one is
// backed off without using up an attempt; a 503 without one may be an
// outage, and is an ordinary transient failure: an attempt, then the
// backoff (throttleDelay).

// MaxRetryAfter caps a service's Retry-After: a hostile or broken service
// cannot park an operation for hours; past the cap keyctl retries anyway.
// The audit's own fetches (internal/revoke) keep the same cap.
const MaxRetryAfter = 60 * time.Second

// ParseRetryAfter reads a Retry-After header: delay-seconds or an
// HTTP-date, capped at MaxRetryAfter. Anything else is 0 (no delay asked).
// The audit's fetches read the header with it too.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 64 {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d < 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}

func throttleStatus(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable
}

// throttleDelay reports whether err's chain holds an answer asking to slow
// down, and the wait it named (capped at MaxRetryAfter): a 429, 503 or S3
// SlowDown with Retry-After, or a 429 without one (wait 0: the caller backs
// off). A 503 (S3's SlowDown included) without Retry-After is not one: it
// may be an outage, and counts as a failed attempt.
func throttleDelay(err error) (time.Duration, bool) {
	var d time.Duration
	slow := false // 429 "too many requests": the service is up and asks for less
	var s3e *s3.Error
	var se *storageError
	var he *statusError
	switch {
	case errors.As(err, &s3e):
		if throttleStatus(s3e.StatusCode) || s3e.Code == "SlowDown" {
			d = s3e.RetryAfter
		}
		slow = s3e.StatusCode == http.StatusTooManyRequests
	case errors.As(err, &se):
		if throttleStatus(se.Status) {
			d = se.RetryAfter
		}
		slow = se.Status == http.StatusTooManyRequests
	case errors.As(err, &he):
		if throttleStatus(he.Code) {
			d = he.RetryAfter
		}
		slow = he.Code == http.StatusTooManyRequests
	}
	if d > 0 {
		return min(d, MaxRetryAfter), true
	}
	return 0, slow
}

// retry runs op until it succeeds, fails with a final error, or the attempt
// or time budget is spent. Final errors are returned as they are, so the
// caller can look at them (precondition, not found); a spent budget becomes
// a *fail.Error that says the bucket kept failing. A wait a throttling
// answer asked for (throttleDelay) does not count as an attempt.
func (b *Bucket) retry(ctx context.Context, what string, op func(context.Context) error) error {
	o := b.opts
	eb := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(o.InitialBackoff),
		backoff.WithMaxInterval(16*o.InitialBackoff),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMaxElapsedTime(o.MaxElapsed),
	)
	start := time.Now()
	tries, failures, throttled := 0, 0, 0
	var err error
	var pastBudget time.Duration // a wait asked for that did not fit in MaxElapsed
	for {
		tries++
		actx, cancel := context.WithTimeout(ctx, o.AttemptTimeout)
		err = op(actx)
		timedOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fail.Inputf("%s at %s: interrupted", what, b.loc.display).Wrap(ctx.Err())
		}
		if !timedOut && !transient(err) {
			return err
		}
		wait, asked := throttleDelay(err)
		named := asked && wait > 0
		if asked {
			throttled++
			if wait == 0 {
				// Asked to slow down without a time: back off as after
				// a failure, without using up an attempt.
				if wait = eb.NextBackOff(); wait == backoff.Stop {
					break
				}
			}
		} else {
			failures++
			if failures >= o.MaxAttempts {
				break
			}
			if wait = eb.NextBackOff(); wait == backoff.Stop {
				break
			}
		}
		if time.Since(start)+wait > o.MaxElapsed {
			if named {
				pastBudget = wait
			}
			break
		}
		if named {
			b.logf("%s: attempt %d failed (%v), the service asked to wait %s", what, tries, err, wait.Round(time.Millisecond))
		} else {
			b.logf("%s: attempt %d failed (%v), retrying in %s", what, tries, err, wait.Round(time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fail.Inputf("%s at %s: interrupted", what, b.loc.display).Wrap(ctx.Err())
		}
	}
	msg := fmt.Sprintf("%s kept failing: %s failed %d times in %s", b.loc.display, what, tries, time.Since(start).Round(time.Millisecond))
	if throttled > 0 {
		msg += fmt.Sprintf(" (%d of them answers asking to slow down, waited out)", throttled)
	}
	if pastBudget > 0 {
		msg += fmt.Sprintf("; the service asked to wait %s more, past the operation's time limit of %s", pastBudget.Round(time.Second), o.MaxElapsed)
	}
	return fail.Inputf("%s", msg).
		Wrap(err).
		WithHint(
			"the bucket answered with transient errors (HTTP 5xx or 429, timeouts, dropped connections); check the service's status and your network",
			"then run the command again: publishing is safe to repeat, clients never see a half-published state",
		)
}
