package cli

import (
	"encoding/json"

	"github.com/spf13/cobra"
)

// ServerVersionCmd is the hidden command of every subcommand binary that
// prints the version of the API server the kubectl flags select, as one JSON
// document: {"server": {"host", "gitVersion", "platform"}} or, when the server
// cannot be asked, {"error": {"code", "message", "hint"}} with the exit code,
// message and hint this binary would have printed. The dispatcher runs it for
// `kubectl piyasa version`, so that it links no Kubernetes client itself
// (shared/dispatch reads the document; its tests keep the two in step).
// The name is short on purpose: cobra pads the command list of --help to the
// longest name, hidden commands included ("completion" is the longest).
const ServerVersionCmd = "__server"

// ServerVersionDoc is the output of ServerVersionCmd.
type ServerVersionDoc struct {
	Server *ServerVersionInfo `json:"server,omitempty"`
	Error  *ServerVersionErr  `json:"error,omitempty"`
}

// ServerVersionInfo is the API server's address and version.
type ServerVersionInfo struct {
	Host       string `json:"host"`
	GitVersion string `json:"gitVersion"`
	Platform   string `json:"platform"`
}

// ServerVersionErr is an *Error in a ServerVersionDoc.
type ServerVersionErr struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

// ServerVersion asks the API server that g's flags select for its version.
func ServerVersion(g *Global) ServerVersionDoc {
	dc, err := g.Discovery()
	if err == nil {
		v, verr := dc.ServerVersion()
		if verr == nil {
			return ServerVersionDoc{Server: &ServerVersionInfo{Host: g.Server(), GitVersion: v.GitVersion, Platform: v.Platform}}
		}
		err = verr
	}
	e := Classify(err, g.Server())
	return ServerVersionDoc{Error: &ServerVersionErr{Code: e.Code, Message: e.Msg, Hint: e.Hint}}
}

// newServerVersionCmd returns the hidden ServerVersionCmd.
func newServerVersionCmd(g *Global) *cobra.Command {
	return &cobra.Command{
		Use:    ServerVersionCmd,
		Short:  "Print the API server's version as JSON (for kubectl piyasa version)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return json.NewEncoder(g.Out).Encode(ServerVersion(g))
		},
	}
}
