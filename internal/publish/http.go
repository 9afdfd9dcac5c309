package publish

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Reading from http(s) locations. A published directory or bucket is
// usually served over plain HTTP (a chart repository is), so clients fetch
// with the same Get. Retries use the same loop as the bucket operations
// (cenkalti/backoff) rather than hashicorp/go-retryablehttp: one policy,
// one set of Options, one "kept failing" error, and no second module with
// its own logger and defaults.

func (b *Bucket) objectURL(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return b.loc.url + "/" + strings.Join(segs, "/")
}

func (b *Bucket) httpGet(ctx context.Context, name string, limit int64) ([]byte, error) {
	u := b.objectURL(name)
	var data []byte
	err := b.retry(ctx, "read "+name, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return err
		}
		resp, err := b.opts.HTTPClient.Do(req)
		if re, ok := AsRedirectError(err); ok {
			return re // net/http's wrapping repeats the URL
		}
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := b.checkStatus(resp, name); err != nil {
			return err
		}
		d, err := readLimited(resp.Body, resp.ContentLength, limit)
		if errors.Is(err, errTooLarge) {
			return &TooLargeError{Name: name, Location: b.loc.display, Limit: limit}
		}
		data = d
		return err
	})
	if err != nil {
		return nil, b.opError("read", name, err)
	}
	return data, nil
}

func (b *Bucket) httpExists(ctx context.Context, name string) (bool, error) {
	u := b.objectURL(name)
	var ok bool
	err := b.retry(ctx, "check "+name, func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, u, nil)
		if err != nil {
			return err
		}
		resp, err := b.opts.HTTPClient.Do(req)
		if re, ok := AsRedirectError(err); ok {
			return re // net/http's wrapping repeats the URL
		}
		if err != nil {
			return err
		}
		resp.Body.Close()
		err = b.checkStatus(resp, name)
		if _, nf := err.(*NotFoundError); nf {
			ok = false
			return nil
		}
		ok = err == nil
		return err
	})
	if err != nil {
		return false, b.opError("check", name, err)
	}
	return ok, nil
}

func (b *Bucket) checkStatus(resp *http.Response, name string) error {
	switch {
	case resp.StatusCode == http.StatusOK:
		return nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return &NotFoundError{Name: name, Location: b.loc.display}
	}
	// The URL without userinfo: it names the object and the location.
	ru := *resp.Request.URL
	e := &statusError{Code: resp.StatusCode, URL: ru.Redacted()}
	if throttleStatus(resp.StatusCode) {
		e.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return e
}
