package migrate

import (
	"errors"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// TestNotConfirmedIsExit2: a wrong answer at the prompt is exit 2, as the
// other confirmations of the suite (backup restore, deploy delete).
func TestNotConfirmedIsExit2(t *testing.T) {
	tg := clitest.New("piyasa-chatbot-dev")
	tg.Global.In = strings.NewReader("wrong\n")
	err := confirm(tg.Global, "Downgrade", "piyasa-chatbot-dev", false)
	var e *cli.Error
	if !errors.As(err, &e) || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, "not confirmed") {
		t.Fatalf("err %v", err)
	}
}
