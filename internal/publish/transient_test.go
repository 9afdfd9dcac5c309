package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"testing"
)

func TestTransient(t *testing.T) {
	urlErr := func(err error) error { return &url.Error{Op: "Post", URL: "http://127.0.0.1/x", Err: err} }
	tests := []struct {
		err  error
		want bool
	}{
		{httpStatusError(503, ""), true},
		{httpStatusError(429, ""), true},
		{httpStatusError(500, ""), true},
		{httpStatusError(408, ""), true},
		{httpStatusError(412, ""), false},
		{httpStatusError(404, ""), false},
		{httpStatusError(403, ""), false},
		{fmt.Errorf("wrapped: %w", httpStatusError(502, "")), true},
		{&statusError{Code: 503}, true},
		{&statusError{Code: 401}, false},
		{urlErr(io.EOF), true},
		{io.ErrUnexpectedEOF, true},
		{urlErr(&net.OpError{Op: "read", Err: syscall.ECONNRESET}), true},
		{urlErr(syscall.ECONNREFUSED), true},
		{urlErr(&net.DNSError{Err: "no such host", IsNotFound: true}), false},
		{urlErr(&net.DNSError{Err: "timeout", IsTimeout: true}), true},
		{context.Canceled, false},
		{&NotFoundError{}, false},
		{&TooLargeError{}, false},
		{errors.New("x509: certificate signed by unknown authority"), false},
		{io.EOF, false}, // a bare EOF is not a broken connection
	}
	for _, tt := range tests {
		if got := transient(tt.err); got != tt.want {
			t.Errorf("transient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
