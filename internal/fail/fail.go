// Package fail carries keyctl's typed errors: what failed, why, what to do
// (hints), and which exit code the command ends with (README.md, exit codes): 1 when a
// verification, audit or policy check said no, 2 for usage, input or I/O
// errors. Library packages return these; cmd/keyctl alone prints them and
// picks the exit code.
package fail

import (
	"errors"
	"fmt"
)

// Kind classifies an error for the exit code.
type Kind int

const (
	// Input is a usage, input or I/O error: exit 2.
	Input Kind = iota
	// Untrusted means a check said no (verification, audit, policy): exit 1.
	Untrusted
	// Security is an Untrusted outcome that signals an attack (equivocation,
	// ledger conflict): exit 1, and the message says "security error".
	Security
)

// Error is an error with a kind and hints. Msg is the one-line statement,
// lower case, no final period; Hints say what to do.
type Error struct {
	Kind  Kind
	Msg   string
	Hints []string
	Err   error // optional cause, shown after Msg
}

func (e *Error) Error() string {
	if e.Err != nil && e.Msg != "" {
		return e.Msg + ": " + e.Err.Error()
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Inputf returns an Input error.
func Inputf(format string, args ...any) *Error {
	return &Error{Kind: Input, Msg: fmt.Sprintf(format, args...)}
}

// Untrustedf returns an Untrusted error.
func Untrustedf(format string, args ...any) *Error {
	return &Error{Kind: Untrusted, Msg: fmt.Sprintf(format, args...)}
}

// Securityf returns a Security error.
func Securityf(format string, args ...any) *Error {
	return &Error{Kind: Security, Msg: fmt.Sprintf(format, args...)}
}

// WithHint adds hints and returns e.
func (e *Error) WithHint(hints ...string) *Error {
	e.Hints = append(e.Hints, hints...)
	return e
}

// Wrap returns e with cause err.
func (e *Error) Wrap(err error) *Error {
	e.Err = err
	return e
}

// Hint attaches hints to any error, keeping its kind (Input when it has
// none). The error's own message and chain are kept.
func Hint(err error, hints ...string) error {
	if err == nil {
		return nil
	}
	if fe, ok := err.(*Error); ok {
		cp := *fe
		cp.Hints = append(append([]string(nil), fe.Hints...), hints...)
		return &cp
	}
	return &Error{Kind: KindOf(err), Err: err, Hints: hints}
}

// KindOf returns the kind of err: the kind of the first *Error in its chain,
// Input otherwise.
func KindOf(err error) Kind {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Kind
	}
	return Input
}

// HintsOf collects hints along err's chain, outermost first.
func HintsOf(err error) []string {
	var out []string
	for err != nil {
		if fe, ok := err.(*Error); ok {
			out = append(out, fe.Hints...)
		}
		err = errors.Unwrap(err)
	}
	return out
}

// ExitCode maps err to the process exit code documented in the README.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	switch KindOf(err) {
	case Untrusted, Security:
		return 1
	}
	return 2
}
