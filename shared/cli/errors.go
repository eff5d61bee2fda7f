package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// The exit codes and error type of shared/exit, under the names the commands use.
const (
	ExitOK          = exit.ExitOK
	ExitFailed      = exit.ExitFailed
	ExitUsage       = exit.ExitUsage
	ExitCluster     = exit.ExitCluster
	ExitInterrupted = exit.ExitInterrupted
)

// Error is an error with an exit code and an optional hint line (see exit.Error).
type Error = exit.Error

// Usagef returns an exit-2 error: bad flags, arguments or input; nothing was changed.
func Usagef(format string, args ...any) *Error { return exit.Usagef(format, args...) }

// Failedf returns an exit-1 error: the operation was tried and failed.
func Failedf(format string, args ...any) *Error { return exit.Failedf(format, args...) }

// Interruptedf returns an exit-130 error: Ctrl-C or SIGTERM stopped the
// command. Its message says what was applied and what state is left, its
// hint how to continue.
func Interruptedf(format string, args ...any) *Error {
	return &Error{Code: ExitInterrupted, Msg: fmt.Sprintf(format, args...)}
}

// ExitCode returns an exit code without a message (see exit.Code).
func ExitCode(code int) error { return exit.Code(code) }

// PrintError prints e once, in the suite's format, and returns its exit code.
func PrintError(w io.Writer, e *Error) int { return exit.Print(w, e) }

// KubeconfigError is a kubeconfig file that cannot be read, e.g. a
// --kubeconfig that does not exist (Global wraps the loader's error in it).
type KubeconfigError struct {
	Path string
	Err  error
}

func (e *KubeconfigError) Error() string { return "kubeconfig " + e.Path + ": " + e.Err.Error() }
func (e *KubeconfigError) Unwrap() error { return e.Err }

// notFoundRE matches clientcmd's errors for a --context, --cluster or --user
// that the kubeconfig does not define.
var notFoundRE = regexp.MustCompile(`(?:^|: )(context|cluster|auth info) "([^"]*)" does not exist`)

// contextNotFoundRE is clientcmd's errContextNotFound (clientcmd.IsContextNotFound).
var contextNotFoundRE = regexp.MustCompile(`context was not found for specified context: (\S*)`)

var forbiddenRE = regexp.MustCompile(`cannot (\w+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]*)")?`)

// forbiddenText tells whether msg holds the API server's message of a refused right.
func forbiddenText(msg string) bool {
	return strings.Contains(msg, " is forbidden: User ") && forbiddenRE.MatchString(msg)
}

// forbiddenHint names the right of the API server's forbidden message: verb,
// resource (with group and subresource) and namespace, and how to check it.
func forbiddenHint(msg string) string {
	m := forbiddenRE.FindStringSubmatch(msg)
	if m == nil {
		return "ask a cluster admin for that right, or check it with: kubectl auth can-i --list"
	}
	res, sub, _ := strings.Cut(m[2], "/")
	r := rbac.Right{Verb: m[1], Group: m[3], Resource: res, Subresource: sub, Cluster: m[4] == ""}
	hint := "missing RBAC right: " + r.String()
	if m[4] != "" {
		hint += " in namespace " + m[4]
	} else {
		hint += " (cluster-wide)"
	}
	return hint + " (check: " + r.CanI(m[4]) + ")"
}

// Classify turns any error into an *Error with the right exit code, a one-line
// message and a hint. server names the API server for connection errors.
func Classify(err error, server string) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		// A command that wrapped a refused request in its own failure
		// ("the backup failed: ... is forbidden: ..."): still a missing right.
		if e.Code == ExitFailed && !e.Silent && forbiddenText(e.Msg) {
			return &Error{Code: ExitCluster, Msg: e.Msg, Hint: forbiddenHint(e.Msg)}
		}
		return e
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Code: ExitInterrupted, Msg: "interrupted"}
	}
	// Forbidden, also as text: an exec or port-forward whose upgrade the API
	// server refused ("unable to upgrade streaming request: ... is forbidden").
	if apierrors.IsForbidden(err) || forbiddenText(err.Error()) {
		msg := output.FirstLine(err.Error())
		return &Error{Code: ExitCluster, Msg: msg, Hint: forbiddenHint(msg)}
	}
	if apierrors.IsUnauthorized(err) {
		return &Error{Code: ExitCluster, Msg: "unauthorized: the cluster" + at(server) + " rejected the credentials",
			Hint: "check --kubeconfig, --context, --user or --token, or log in again"}
	}
	var kc *KubeconfigError
	if errors.As(err, &kc) {
		msg := "cannot read the kubeconfig " + kc.Path
		switch {
		case errors.Is(kc.Err, fs.ErrNotExist):
			msg = "kubeconfig " + kc.Path + " does not exist"
		case errors.Is(kc.Err, fs.ErrPermission):
			msg = "kubeconfig " + kc.Path + ": permission denied"
		}
		return &Error{Code: ExitCluster, Msg: msg,
			Hint: "check --kubeconfig and $KUBECONFIG (kubectl config view shows the merged configuration)"}
	}
	if m := notFoundRE.FindStringSubmatch(err.Error()); m != nil || contextNotFoundRE.MatchString(err.Error()) {
		what, name, flag := "context", "", "--context"
		if m != nil {
			what, name = m[1], m[2]
		} else {
			name = contextNotFoundRE.FindStringSubmatch(err.Error())[1]
		}
		list := "kubectl config get-contexts"
		switch what {
		case "cluster":
			flag, list = "--cluster", "kubectl config get-clusters"
		case "auth info":
			what, flag, list = "user", "--user", "kubectl config get-users"
		}
		return &Error{Code: ExitCluster, Msg: fmt.Sprintf("the kubeconfig has no %s %q", what, name),
			Hint: fmt.Sprintf("check %s and --kubeconfig; list them with: %s", flag, list)}
	}
	if clientcmd.IsEmptyConfig(err) {
		return &Error{Code: ExitCluster, Msg: "no cluster configured: no kubeconfig was found",
			Hint: "set KUBECONFIG or pass --kubeconfig, --context or --server"}
	}
	if clientcmd.IsConfigurationInvalid(err) {
		return &Error{Code: ExitUsage, Msg: "invalid kubeconfig: " + output.FirstLine(err.Error()),
			Hint: "check --kubeconfig, --context and --cluster (kubectl config get-contexts)"}
	}
	if isUnreachable(err) {
		return &Error{Code: ExitCluster, Msg: "cannot reach the cluster" + at(server) + " (" + rootCause(err) +
			"): is it up, and do --context, --server and --kubeconfig point at it?"}
	}
	if apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsTooManyRequests(err) {
		return &Error{Code: ExitCluster, Msg: "the cluster" + at(server) + " did not answer in time: " + output.FirstLine(err.Error()),
			Hint: "retry, or raise --request-timeout"}
	}
	return &Error{Code: ExitFailed, Msg: output.FirstLine(err.Error())}
}

func at(server string) string {
	if server == "" {
		return ""
	}
	return " at " + server
}

func isUnreachable(err error) bool {
	var ue *url.Error
	var ne net.Error
	var op *net.OpError
	var dns *net.DNSError
	var cert *x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	switch {
	case errors.As(err, &op), errors.As(err, &dns), errors.As(err, &cert), errors.As(err, &host), errors.As(err, &inv):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	case errors.As(err, &ue):
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "no such host", "i/o timeout", "Client.Timeout exceeded",
		"context deadline exceeded", "TLS handshake timeout", "certificate signed by unknown authority", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// rootCause returns the innermost error's text, which for network errors is
// the useful part ("connect: connection refused").
func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	msg := output.FirstLine(err.Error())
	if errors.Is(err, context.DeadlineExceeded) || strings.Contains(msg, "Client.Timeout") {
		return "timed out"
	}
	return msg
}
