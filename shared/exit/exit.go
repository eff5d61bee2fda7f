// Package exit holds the suite's exit codes and its error type: an error with
// an exit code, a one-line message and a hint, and the one printer of it. It
// imports nothing from Kubernetes, so the dispatcher stays small.
package exit

import (
	"fmt"
	"io"
)

// Exit codes shared by every binary of the suite.
const (
	// ExitOK: the command did what was asked, or found nothing at or above --fail-on.
	ExitOK = 0
	// ExitFailed: the operation failed (a rollout failed, diagnose found problems, diff found changes).
	ExitFailed = 1
	// ExitUsage: a usage error or bad input (flags, arguments, .env files); nothing was changed.
	ExitUsage = 2
	// ExitCluster: the cluster could not be reached, or refused the credentials or the rights.
	ExitCluster = 3
	// ExitInterrupted: Ctrl-C or SIGTERM stopped the command (128 + SIGINT, as shells report it).
	ExitInterrupted = 130
)

// Error is an error with an exit code and an optional hint line. Its message
// is one line; the hint says what to do. Neither may contain a secret value.
type Error struct {
	Code int
	Msg  string
	Hint string
	// Silent errors print nothing: the command already reported (e.g. diff output).
	Silent bool
}

func (e *Error) Error() string { return e.Msg }

// Usagef returns an exit-2 error: bad flags, arguments or input; nothing was changed.
func Usagef(format string, args ...any) *Error {
	return &Error{Code: ExitUsage, Msg: fmt.Sprintf(format, args...)}
}

// Failedf returns an exit-1 error: the operation was tried and failed.
func Failedf(format string, args ...any) *Error {
	return &Error{Code: ExitFailed, Msg: fmt.Sprintf(format, args...)}
}

// WithHint returns e with a hint line.
func (e *Error) WithHint(format string, args ...any) *Error {
	e.Hint = fmt.Sprintf(format, args...)
	return e
}

// Code returns an exit code without a message: for results such as
// "diagnose found problems" that the command has already printed.
func Code(code int) error { return &Error{Code: code, Silent: true} }

// Print prints e as "error: <message>" and, when there is one,
// "hint: <hint>" (nothing for a silent error), and returns its exit code. It
// is the one error printer of every binary.
func Print(w io.Writer, e *Error) int {
	if !e.Silent && e.Msg != "" {
		fmt.Fprintf(w, "error: %s\n", e.Msg)
		if e.Hint != "" {
			fmt.Fprintf(w, "hint: %s\n", e.Hint)
		}
	}
	return e.Code
}
