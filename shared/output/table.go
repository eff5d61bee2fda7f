package output

import (
	"io"

	"github.com/piyasa/kubectl-piyasa/shared/table"
)

// TablePrinter is the suite's table printer (package table).
type TablePrinter = table.Printer

// NewTable returns a table writing to w with the given headers (table.New).
func NewTable(w io.Writer, headers ...string) *TablePrinter { return table.New(w, headers...) }
