package cli

import (
	"context"
	"errors"
	goflag "flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/suite"
	"github.com/piyasa/kubectl-piyasa/shared/version"
)

// NewRoot returns the root command of the binary kubectl-piyasa-<sub> with
// the shared flags bound to g, --version, a version subcommand and completion
// for --env and -n. A feature package's NewCmd adds its flags and subcommands.
func NewRoot(sub string, g *Global) *cobra.Command {
	streams := g.IOStreams
	info := version.Get(suite.Binary(sub))
	s, _ := suite.Lookup(sub)
	cmd := &cobra.Command{
		Use:           suite.Binary(sub),
		Short:         s.Short,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: suite.DisplayName(sub)},
	}
	// kubectl's hooks: klog's output per -v, and --profile. Hooks of
	// subcommands run too, after these.
	cobra.EnableTraverseRunHooks = true
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		setupLogging(streams.ErrOut)
		return g.startProfiling()
	}
	// --version as cobra's, without cobra's version template: a text/template
	// makes the linker keep every method of every type (about 19 MiB).
	cmd.Flags().Bool("version", false, "version for "+suite.DisplayName(sub))
	cmd.PreRunE = func(c *cobra.Command, _ []string) error {
		if v, _ := c.Flags().GetBool("version"); v {
			fmt.Fprintln(c.OutOrStdout(), info.String())
			return ExitCode(ExitOK)
		}
		return nil
	}
	cmd.SetIn(streams.In)
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	g.AddFlags(cmd.PersistentFlags())
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return Usagef("%v", err).WithHint("see '%s --help'", c.CommandPath())
	})
	registerCompletions(cmd, g)
	cmd.AddCommand(newVersionCmd(sub, streams))
	cmd.AddCommand(newServerVersionCmd(g))
	return cmd
}

// newVersionCmd prints the binary's version; `-o json|yaml` gives a document.
func newVersionCmd(sub string, streams genericiooptions.IOStreams) *cobra.Command {
	pf := output.NewFlags()
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of " + suite.Binary(sub),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pf.Validate(); err != nil {
				return Usagef("%v", err)
			}
			info := version.Get(suite.Binary(sub))
			if pf.Structured() {
				return pf.PrintDocument(streams.Out, "Version", info)
			}
			fmt.Fprintln(streams.Out, info.String())
			return nil
		},
	}
	pf.AddFlags(cmd)
	return cmd
}

func registerCompletions(cmd *cobra.Command, g *Global) {
	_ = cmd.RegisterFlagCompletionFunc("env", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return app.EnvironmentNames(), cobra.ShellCompDirectiveNoFileComp
	})
	_ = cmd.RegisterFlagCompletionFunc("namespace", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return g.namespaceNames(), cobra.ShellCompDirectiveNoFileComp
	})
}

// namespaceNames lists the cluster's namespaces for completion; errors give none.
func (g *Global) namespaceNames() []string {
	cs, err := g.Clientset()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(list.Items))
	for _, ns := range list.Items {
		names = append(names, ns.Name)
	}
	return names
}

// Main is the whole main function of a subcommand binary: it builds the root
// with newCmd on the process's streams, runs it with a context that Ctrl-C and
// SIGTERM cancel, prints any error as one or two lines and exits with the
// suite's exit code.
func Main(newCmd func(*Global) *cobra.Command) {
	g := NewGlobal(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	os.Exit(Execute(newCmd(g), g, os.Args[1:]))
}

// Execute runs cmd with args and returns the exit code; errors are printed to
// g.ErrOut as "error: <message>" and, when there is one, "hint: <hint>".
// Ctrl-C and SIGTERM cancel the context the command runs with.
func Execute(cmd *cobra.Command, g *Global, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once
	}()
	return ExecuteContext(ctx, cmd, g, args)
}

// ExecuteContext is Execute with the context the command runs with.
func ExecuteContext(ctx context.Context, cmd *cobra.Command, g *Global, args []string) int {
	QuietKlog()
	wrapArgs(cmd)
	if cmd.Run == nil && cmd.RunE == nil {
		// A root that only groups subcommands prints its help; being runnable,
		// it also honours --version (see NewRoot).
		cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	}
	cmd.SetArgs(args)
	c, err := cmd.ExecuteContextC(ctx)
	if perr := g.finishProfiling(); err == nil && perr != nil {
		err = perr
	}
	if err == nil {
		err = g.warningsError()
	}
	if err == nil {
		return ExitOK
	}
	if ctx.Err() != nil && !errors.As(err, new(*Error)) {
		err = context.Canceled
	}
	e := classifyCobra(err, c)
	if e == nil {
		e = Classify(err, g.Server())
	}
	return PrintError(g.ErrOut, e)
}

// QuietKlog (the default, without -v) stops client-go's internal klog lines (e.g. about cancelled
// requests) from reaching the user's terminal: the suite reports errors itself.
func QuietKlog() {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	// Error lines (a reflector's "Failed to watch" while the API server is
	// away) would still go to stderr above klog's -stderrthreshold (ERROR).
	fs := goflag.NewFlagSet("klog-quiet", goflag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("stderrthreshold", "FATAL")
}

var unknownCommandRE = regexp.MustCompile(`^unknown command "([^"]*)" for "([^"]*)"`)

// classifyCobra recognises cobra's own usage errors (unknown command, wrong
// argument count) and makes them exit-2 errors. An unknown subcommand of c
// gets cobra's suggestions as the hint ("did you mean "status"?"): cobra
// makes none itself for a command with Args and RunE.
func classifyCobra(err error, c *cobra.Command) *Error {
	msg := err.Error()
	if m := unknownCommandRE.FindStringSubmatch(msg); m != nil {
		e := Usagef("%s", m[0])
		if c != nil && c.HasAvailableSubCommands() {
			if c.SuggestionsMinimumDistance <= 0 {
				c.SuggestionsMinimumDistance = 2 // cobra's default
			}
			if s := c.SuggestionsFor(m[1]); len(s) > 0 {
				return e.WithHint("did you mean %q?", s[0])
			}
			return e.WithHint("see '%s --help' for the commands", c.CommandPath())
		}
		var ue *Error
		if errors.As(err, &ue) && ue.Hint != "" {
			e.Hint = ue.Hint
		}
		return e
	}
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "invalid argument", "flag needs an argument", "required flag"} {
		if strings.HasPrefix(msg, p) {
			e := Usagef("%s", output.FirstLine(msg))
			var ue *Error
			if errors.As(err, &ue) && ue.Hint != "" {
				e.Hint = ue.Hint
			}
			return e
		}
	}
	return nil
}

// wrapArgs makes every argument-count error of the command tree an exit-2 usage error.
func wrapArgs(cmd *cobra.Command) {
	if v := cmd.Args; v != nil {
		c := cmd
		cmd.Args = func(cc *cobra.Command, args []string) error {
			if err := v(cc, args); err != nil {
				var e *Error
				if errors.As(err, &e) {
					return e
				}
				return Usagef("%v", err).WithHint("see '%s --help'", c.CommandPath())
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		wrapArgs(c)
	}
}
