package cli

import (
	"bufio"
	"fmt"
	"strings"
)

// ConfirmNamespace asks the user to type the namespace name after what; any
// other answer is exit 2 with nothing changed.
func ConfirmNamespace(g *Global, what string) error {
	fmt.Fprintf(g.ErrOut, "%s\nType the namespace name to confirm: ", what)
	line, _ := bufio.NewReader(g.In).ReadString('\n')
	if strings.TrimSpace(line) != g.Namespace {
		return Usagef("confirmation did not match %q: nothing deleted", g.Namespace)
	}
	return nil
}
