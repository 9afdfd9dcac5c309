package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/keyctl/keyctl/internal/fail"
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

// retry runs op until it succeeds, fails with a final error, or the attempt
// or time budget is spent. Final errors are returned as they are, so the
// caller can look at them (precondition, not found); a spent budget becomes
// a *fail.Error that says the bucket kept failing.
func (b *Bucket) retry(ctx context.Context, what string, op func(context.Context) error) error {
	o := b.opts
	eb := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(o.InitialBackoff),
		backoff.WithMaxInterval(16*o.InitialBackoff),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMaxElapsedTime(o.MaxElapsed),
	)
	policy := backoff.WithContext(backoff.WithMaxRetries(eb, uint64(o.MaxAttempts-1)), ctx)
	start := time.Now()
	attempts := 0
	final := false
	err := backoff.RetryNotify(func() error {
		attempts++
		actx, cancel := context.WithTimeout(ctx, o.AttemptTimeout)
		err := op(actx)
		timedOut := actx.Err() != nil && ctx.Err() == nil
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || (!timedOut && !transient(err)) {
			final = true
			return backoff.Permanent(err)
		}
		return err
	}, policy, func(err error, wait time.Duration) {
		b.logf("%s: attempt %d failed (%v), retrying in %s", what, attempts, err, wait.Round(time.Millisecond))
	})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fail.Inputf("%s at %s: interrupted", what, b.loc.display).Wrap(ctx.Err())
	}
	if !final {
		return fail.Inputf("%s kept failing: %s failed %d times in %s", b.loc.display, what, attempts, time.Since(start).Round(time.Millisecond)).
			Wrap(err).
			WithHint(
				"the bucket answered with transient errors (HTTP 5xx or 429, timeouts, dropped connections); check the service's status and your network",
				"then run the command again: publishing is safe to repeat, clients never see a half-published state",
			)
	}
	return err
}
