package migrate

import (
	"bufio"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// confirm asks the user to type word (the namespace) unless yes; anything
// else, or no input, aborts with exit 2 (not confirmed, as everywhere in the
// suite) and nothing changed.
func confirm(g *cli.Global, what, word string, yes bool) error {
	if yes {
		return nil
	}
	g.Infof("%s\nType the namespace name (%s) to confirm: ", what, word)
	line, _ := bufio.NewReader(g.In).ReadString('\n')
	if strings.TrimSpace(line) != word {
		g.Infof("\n")
		return cli.Usagef("not confirmed: nothing was changed").WithHint("type %s at the prompt, or pass --yes", word)
	}
	return nil
}
